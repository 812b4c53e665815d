"""Argument values: ``--expires`` resolved against ``now``, id shapes, permissions, and the
exceptions-file entry an ``exempt`` command asks for (which the exceptions code accepts)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.commands import Exempt, Extend, Permission, parse_comment, resolve_expires
from bot.commands.values import (
    EXCEPTION_ID,
    POLICY_ID,
    check_expires,
    expires_text,
    forbidden_characters,
)
from bot.engine.model import ExceptionPolicy, Policy
from bot.exemptions import add_entry, parse, validate
from bot.exemptions.model import ExemptionEntry
from bot.exemptions.validation import entry_problems

NOW = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
SCHEMAS = Path(__file__).resolve().parents[2] / "bot" / "schemas"

RESOLVED = [
    ("1d", date(2026, 1, 16)),
    ("30d", date(2026, 2, 14)),
    ("30D", date(2026, 2, 14)),
    ("366d", date(2027, 1, 16)),
    ("2026-12-31", date(2026, 12, 31)),
    ("2026-02-28", date(2026, 2, 28)),
    ("2026-12-31T18:00:00Z", datetime(2026, 12, 31, 18, tzinfo=UTC)),
    ("2026-12-31t18:00:00z", datetime(2026, 12, 31, 18, tzinfo=UTC)),
    ("2026-12-31T18:00:00+02:00", datetime(2026, 12, 31, 16, tzinfo=UTC)),
    ("2026-12-31 18:00:00.250-01:30", datetime(2026, 12, 31, 19, 30, 0, 250000, tzinfo=UTC)),
]


@pytest.mark.parametrize("text, expected", RESOLVED)
def test_resolve_expires(text, expected):
    got = resolve_expires(text, NOW)
    assert got == expected
    assert type(got) is type(expected)
    if isinstance(got, datetime):
        assert got.tzinfo is UTC


def test_days_count_from_the_date_of_now_in_utc():
    late_in_berlin = datetime(2026, 1, 16, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert resolve_expires("1d", late_in_berlin) == date(2026, 1, 16)


@pytest.mark.parametrize(
    "text",
    ["0d", "367d", "30", "2026-02-30", "2026-12-31T18:00:00", "tomorrow", "", "30 d", "-1d"],
)
def test_resolve_expires_refuses_what_check_refuses(text):
    assert check_expires(text) is not None
    with pytest.raises(ValueError, match="--expires"):
        resolve_expires(text, NOW)


def test_resolve_expires_wants_an_aware_now():
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_expires("30d", datetime(2026, 1, 15))


def test_expires_text_is_how_the_file_writes_it():
    assert expires_text(date(2026, 3, 1)) == "2026-03-01"
    assert expires_text(datetime(2026, 3, 1, 18, tzinfo=UTC)) == "2026-03-01T18:00:00Z"


def test_policy_id_is_the_policy_schemas_pattern():
    schema = json.loads((SCHEMAS / "policy.schema.json").read_text())
    assert f"^{POLICY_ID.pattern}$" == schema["properties"]["id"]["pattern"]


def test_exception_id_is_the_exceptions_schemas_pattern():
    schema = json.loads((SCHEMAS / "exceptions.schema.json").read_text())
    pattern = schema["$defs"]["exception"]["properties"]["id"]["pattern"]
    assert f"^{EXCEPTION_ID.pattern}$" == pattern


def test_forbidden_characters():
    assert forbidden_characters("plain text, ünïcödé, 👩\u200d💻") == []
    assert forbidden_characters("a\x00b\x1b\u202e\u2066\ud800") == [
        "U+0000",
        "U+001B",
        "U+202E",
        "U+2066",
        "U+D800",
    ]


@pytest.mark.parametrize(
    "permission, is_author, can_write, allowed",
    [
        (Permission.ANYONE, False, False, True),
        (Permission.AUTHOR_OR_WRITE, True, False, True),
        (Permission.AUTHOR_OR_WRITE, False, True, True),
        (Permission.AUTHOR_OR_WRITE, False, False, False),
        (Permission.WRITE, True, False, False),
        (Permission.WRITE, False, True, True),
        (Permission.WRITE, True, True, True),
    ],
)
def test_permissions(permission, is_author, can_write, allowed):
    assert permission.allows(is_author=is_author, can_write=can_write) is allowed


# -- exempt -> exceptions-file entry --------------------------------------------------------------

COMMAND = (
    "/compliance exempt k8s.privileged --paths 'deploy/node-exporter/**'"
    " --resources DaemonSet/monitoring/node-exporter"
    ' --reason "node-exporter reads host metrics through hostPID" --expires 30d --ticket SEC-12'
)


def _exempt(text: str = COMMAND) -> Exempt:
    [command] = parse_comment(text)
    assert isinstance(command, Exempt)
    return command


def test_exempt_maps_to_an_exceptions_file_entry():
    entry = _exempt().to_entry(entry_id="EXC-8", requested_by="alice", now=NOW)
    assert entry == {
        "id": "EXC-8",
        "policy": "k8s.privileged",
        "paths": ["deploy/node-exporter/**"],
        "resources": ["DaemonSet/monitoring/node-exporter"],
        "reason": "node-exporter reads host metrics through hostPID",
        "ticket": "SEC-12",
        "requested_by": "alice",
        "expires": "2026-02-14",
    }
    assert list(entry) == [f for f in entry if f]  # fields in the file's order, none empty


def test_exempt_without_paths_takes_the_callers():
    command = _exempt(
        "/compliance exempt k8s.privileged --reason 'host metrics through hostPID'"
        " --expires 2026-03-01T12:00:00+01:00"
    )
    entry = command.to_entry(
        entry_id="EXC-9", requested_by="bob", now=NOW, paths=["deploy/a.yaml", "deploy/b.yaml"]
    )
    assert entry["paths"] == ["deploy/a.yaml", "deploy/b.yaml"]
    assert "resources" not in entry and "ticket" not in entry
    assert entry["expires"] == "2026-03-01T11:00:00Z"


def _policy(policy_id: str, max_days: int = 90) -> Policy:
    return Policy(
        id=policy_id,
        title=policy_id,
        description="",
        remediation="",
        severity="high",
        enforcement="blocking",
        target="kubernetes",
        files=(),
        exclude=(),
        match={},
        condition="false",
        message="m",
        exceptions=ExceptionPolicy(allowed=True, max_days=max_days, broad_paths=False),
        standards=(),
        pack="test",
        source="test.yaml",
        line=1,
    )


def test_the_entry_goes_into_the_file_and_validates():
    entry = _exempt().to_entry(entry_id="EXC-8", requested_by="alice", now=NOW)
    text = add_entry("", entry)
    file, problems = parse(text)
    assert problems == [] and file is not None
    assert validate(file, {"k8s.privileged": _policy("k8s.privileged")}, NOW) == []
    [written] = file.entries
    assert written.canonical() == {**entry, "resources": entry["resources"]}


def test_the_validator_judges_what_the_parser_does_not():
    """The parser checks shapes only: a short reason or a long deadline is the validator's."""
    command = _exempt("/compliance exempt k8s.privileged --reason short --expires 60d")
    entry = ExemptionEntry.from_mapping(
        command.to_entry(entry_id="EXC-1", requested_by="a", now=NOW, paths=["deploy/**"])
    )
    codes = {p.code for p in entry_problems(entry, {"k8s.privileged": _policy("x", 30)}, NOW)}
    assert codes == {"reason", "too-long"}


def test_extend_new_expires():
    [command] = parse_comment("/compliance extend EXC-7 --expires 2d --reason 'more time'")
    assert isinstance(command, Extend)
    assert command.expires_at(NOW) == date(2026, 1, 17)
    assert command.new_expires(NOW) == "2026-01-17"
