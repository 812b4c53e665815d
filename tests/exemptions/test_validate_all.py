"""One run of the validator reports every problem of the exceptions file (issue 11 item 5).

A key written twice used to stop the reading of the whole file, and a malformed ``expires`` the
checking of its entry. Now each is one problem among the others, and still grants nothing: an
entry with a repeated key or a malformed deadline never applies, a repeated top-level key makes
the whole file unusable, and every other reader of YAML still refuses repeated keys outright.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import safeyaml
from bot.cli import main
from bot.config import ConfigError
from bot.engine.loader import PolicyLoadError, load_policy_text
from bot.exemptions import EditError, parse, remove_entries, valid_entries, validate
from bot.notify.destinations import load as load_destinations
from bot.repoconfig import parse_config

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
# where the ``exceptions_file`` fixture (conftest) writes each field
LINES = {"id": 3, "policy": 4, "paths": 5, "reason": 6, "expires": 7, "resources": 8, "ticket": 9}


def _all_problems(text, policies, *, require_ticket=False):
    """What ``compliance-bot exceptions validate`` reports: parse, then validate what parsed."""
    parsed, problems = parse(text)
    if parsed is not None:
        problems = problems + validate(parsed, policies, NOW, require_ticket=require_ticket)
    return parsed, sorted(problems, key=lambda p: (p.line, p.message))


# -- a key written twice -------------------------------------------------------------------------

REPEATED_IN_AN_ENTRY = """\
version: 1
exceptions:
  - id: EXC-1
    policy: k8s.privilegd
    paths: [deploy/a/**]
    reason: the web pod needs raw sockets for a probe
    expires: 2026-03-01
    reason: a second reason, which one did the reviewer read?
  - id: EXC-2
    policy: k8s.privileged
    paths: [deploy/../secrets/**]
    reason: a reason that is long enough
    expires: 2026-03-01
  - id: EXC-3
    policy: k8s.privileged
    paths: [deploy/c/**]
    reason: a reason that is long enough
    expires: 2026-03-01
"""


def test_a_repeated_key_in_an_entry_is_reported_with_the_rest(policies):
    parsed, problems = _all_problems(REPEATED_IN_AN_ENTRY, policies)
    assert [(p.line, p.code, p.entry_id) for p in problems] == [
        (4, "unknown-policy", "EXC-1"),  # the entry's other fields are still checked
        (8, "duplicate-key", "EXC-1"),
        (11, "scope", "EXC-2"),  # and so are the other entries
    ]
    assert problems[1].message == (
        "exception EXC-1: duplicate key 'reason' (first defined on line 6);"
        " it does not apply until each key is written once"
    )
    assert str(problems[1]).startswith(".compliance/exceptions.yaml:8: ")
    assert parsed is not None, "one entry's repeated key leaves the rest of the file usable"
    assert [e.id for e in parsed.entries] == ["EXC-2", "EXC-3"]
    assert [e.id for e in valid_entries(parsed, problems)] == ["EXC-3"]


def test_a_repeated_field_is_not_judged_on_either_value(policies):
    # which of the two reasons is meant is unknowable: the duplicate is the one problem to fix
    text = REPEATED_IN_AN_ENTRY.replace(
        "a second reason, which one did the reviewer read?", "too short"
    )
    _, problems = _all_problems(text, policies)
    assert [(p.line, p.field) for p in problems if p.entry_id == "EXC-1"] == [
        (4, "policy"),
        (8, "reason"),
    ]


TWO_LISTS = """\
version: 1
exceptions:
  - id: EXC-1
    policy: k8s.privileged
    paths: [a/**]
    reason: short
    expires: 2026-03-01
exceptions:
  - id: EXC-2
    policy: k8s.privileged
    paths: [b/**]
    reason: a reason that is long enough
    expires: 2026-02-30
    paths: [c/**]
  - id: EXC-1
    policy: k8s.privileged
    paths: [d/**]
    reason: a reason that is long enough
    expires: 2026-03-01
"""


def test_exceptions_written_twice_grants_nothing_but_both_lists_are_checked():
    parsed, problems = parse(TWO_LISTS)
    assert parsed is None, "a repeated top-level key makes the whole file unusable"
    assert [(p.line, p.code) for p in problems] == [
        (3, "duplicate-id"),  # the ids of both lists are compared
        (6, "schema"),
        (8, "yaml"),
        (13, "expires-malformed"),
        (14, "duplicate-key"),
        (15, "duplicate-id"),
    ]
    assert problems[2].message == "duplicate key 'exceptions' (first defined on line 2)"
    assert problems[4].message.startswith(
        "exception EXC-2: duplicate key 'paths' (first defined on line 11)"
    )


def test_keys_repeated_inside_a_repeated_value_belong_to_its_entry(policies):
    text = (
        "version: 1\nexceptions:\n"
        "  - id: EXC-1\n    policy: k8s.privileged\n    paths: [a/**]\n"
        "    reason: a reason that is long enough\n    expires: 2026-03-01\n"
        "    paths:\n      x: 1\n      x: 2\n"
    )
    parsed, problems = _all_problems(text, policies)
    assert parsed is not None and parsed.entries == () and parsed.dropped == ("EXC-1",)
    assert [(p.line, p.code, p.entry_id, p.field) for p in problems] == [
        (8, "duplicate-key", "EXC-1", "paths"),
        (10, "duplicate-key", "EXC-1", "paths"),
    ]
    assert "duplicate key 'x' (first defined on line 9)" in problems[1].message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("version: 1\nexceptions: []\nversion: 1\n", 3, "duplicate key 'version'"),
        ("version: 1\nexceptions: []\nx:\n  a: 1\n  a: 2\n", 5, "duplicate key 'a'"),
        ("- {a: 1, a: 2}\n", 1, "duplicate key 'a'"),
    ],
    ids=["top level", "outside the entries", "not a mapping"],
)
def test_a_repeated_key_outside_the_entries_makes_the_file_unusable(text, line, fragment):
    parsed, problems = parse(text)
    assert parsed is None
    [repeated] = [p for p in problems if "duplicate key" in p.message]
    assert (repeated.line, repeated.code) == (line, "yaml")
    assert fragment in repeated.message


SOUND_ENTRY = {
    "id": "EXC-1",
    "policy": "k8s.privileged",
    "paths": '["deploy/app/**"]',
    "reason": "the app needs host access for its metrics",
    "expires": "2026-03-01",
}


@given(
    field=st.sampled_from(sorted(SOUND_ENTRY)),
    same=st.booleans(),
    other=st.sampled_from(["x", "'**'", "[]", "2099-12-31", "~", "[a/**, b/**]"]),
)
def test_an_entry_with_a_repeated_key_never_applies(field, same, other):
    # whatever the field and whichever value it repeats, even the very same one
    value = SOUND_ENTRY[field] if same else other
    lines = [f"{'  - ' if k == 'id' else '    '}{k}: {v}" for k, v in SOUND_ENTRY.items()]
    text = "version: 1\nexceptions:\n" + "\n".join(lines) + f"\n    {field}: {value}\n"
    parsed, problems = parse(text)
    assert parsed is not None and parsed.entries == ()
    assert (8, "duplicate-key") in [(p.line, p.code) for p in problems]


# -- every other reader still refuses repeated keys ----------------------------------------------


def test_only_the_exceptions_parser_records_repeated_keys():
    bot = Path(__file__).resolve().parents[2] / "bot"
    users = sorted(
        str(path.relative_to(bot))
        for path in bot.rglob("*.py")
        if "record_duplicates=True" in path.read_text("utf-8")
    )
    assert users == ["exemptions/parsing.py"]


POLICY = """\
id: my.policy
title: A policy
severity: high
target: kubernetes
match: {kinds: [Pod]}
condition: "false"
message: m
"""


def _policy_loader(text: str) -> None:
    with pytest.raises(PolicyLoadError, match="duplicate key 'title'"):
        load_policy_text(text, "p.yaml")


def _config(text: str) -> None:
    errors = parse_config(text).errors
    assert [(e.line, "duplicate key 'title'" in e.message) for e in errors] == [(8, True)]


def _destinations(text: str, tmp_path: Path) -> None:
    path = tmp_path / "destinations.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match="line 8: not valid YAML"):
        load_destinations(str(path), None)


def test_policy_config_and_destination_loaders_still_refuse_repeated_keys(tmp_path: Path):
    text = POLICY + "title: Another title\n"
    _policy_loader(text)
    _config(text)
    _destinations(text, tmp_path)
    with pytest.raises(safeyaml.YAMLError, match="duplicate key 'title'"):
        safeyaml.load(text, safeyaml.MANIFEST)


def test_editing_still_refuses_a_file_with_a_repeated_key():
    with pytest.raises(EditError, match="duplicate key 'reason'"):
        remove_entries(REPEATED_IN_AN_ENTRY, ["EXC-3"])


# -- a malformed deadline does not hide the entry's other problems -------------------------------

BAD_EXPIRES = [
    # (name, expires as written or None to leave it out, line of the expires problem, code)
    ("words", "next tuesday", LINES["expires"], "schema"),
    ("30 February", "2026-02-30", LINES["expires"], "expires-malformed"),
    ("a number", "20260301", LINES["expires"], "schema"),
    ("a list", "[2026-03-01]", LINES["expires"], "schema"),
    ("missing", None, LINES["id"], "schema"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("expires", "line", "code"), [c[1:] for c in BAD_EXPIRES], ids=[c[0] for c in BAD_EXPIRES]
)
def test_a_malformed_expires_is_reported_with_the_entrys_other_problems(
    exceptions_file, policies, expires, line, code
):
    text = exceptions_file(
        expires=expires, policy="k8s.privilegd", paths='["/etc/**", "../x/**"]', reason=None
    )
    parsed, problems = _all_problems(text, policies, require_ticket=True)
    assert parsed is not None and parsed.entries == () and parsed.dropped == ("EXC-1",)
    found = sorted((p.line, p.field, p.code) for p in problems)
    expected = [
        (LINES["id"], "reason", "schema"),  # missing reason
        (LINES["id"], "ticket", "ticket"),  # required by the configuration
        (LINES["policy"], "policy", "unknown-policy"),
        (LINES["paths"], "paths", "scope"),  # absolute
        (LINES["paths"], "paths", "scope"),  # ..
        (line, "expires", code),
    ]
    assert found == sorted(expected), problems
    assert all(p.entry_id == "EXC-1" for p in problems)


def test_a_real_date_check_runs_beside_other_schema_problems(exceptions_file, policies):
    parsed, problems = _all_problems(
        exceptions_file(expires="2026-02-30", reason="short"), policies
    )
    assert parsed is not None and parsed.entries == ()
    assert [(p.line, p.code) for p in problems] == [
        (LINES["reason"], "schema"),
        (LINES["expires"], "expires-malformed"),
    ]


def test_a_refused_deadline_is_never_counted_from(exceptions_file, policies):
    # a refused deadline stands in as "never": validate must not call it too far away
    parsed, problems = _all_problems(exceptions_file(expires="2026-02-30"), policies)
    assert [p.code for p in problems] == ["expires-malformed"]
    assert parsed is not None
    [(entry, flagged)] = parsed.broken
    assert "expires" in flagged and entry.expires_text == "2026-02-30"


# -- the command ---------------------------------------------------------------------------------


def test_exceptions_validate_prints_a_repeated_key_and_the_other_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    (tmp_path / ".compliance").mkdir()
    (tmp_path / ".compliance/exceptions.yaml").write_text(REPEATED_IN_AN_ENTRY, "utf-8")
    code = main(
        ["exceptions", "validate", "--repo", str(tmp_path), "--now", "2026-01-15T12:00:00Z"]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    shown = [line for line in err.splitlines() if line.startswith(".compliance/exceptions.yaml:")]
    assert [line.split(": ", 1)[0] for line in shown] == [
        ".compliance/exceptions.yaml:4",
        ".compliance/exceptions.yaml:8",
        ".compliance/exceptions.yaml:11",
    ]
    assert "exception EXC-1: unknown policy 'k8s.privilegd'" in shown[0]
    assert "exception EXC-1: duplicate key 'reason' (first defined on line 6)" in shown[1]
    assert "exception EXC-2: paths[0] 'deploy/../secrets/**' contains a '..' segment" in shown[2]
    assert "3 problems" in err


def test_a_repeated_policy_does_not_decide_the_other_rules(policies):
    # broad paths are allowed by one of the two policies: which one is meant is unknowable
    text = (
        "version: 1\nexceptions:\n"
        "  - id: EXC-1\n    policy: k8s.privileged\n    paths: ['**']\n"
        "    reason: a reason that is long enough\n    expires: 2027-03-01\n"
        "    policy: repo.broad\n"
    )
    _, problems = _all_problems(text, policies)
    assert [(p.line, p.code) for p in problems] == [(8, "duplicate-key")]


# -- the words: no Python reprs of lists ---------------------------------------------------------

WORDS = [
    # (name, overrides, line, message after "exception EXC-1: ")
    ("expires a list", {"expires": "[2026-03-01]"}, 7,
     "expires must be a date (YYYY-MM-DD) or an RFC 3339 timestamp with an offset"
     " (2026-12-31T18:00:00Z), not a list"),
    ("expires true", {"expires": "true"}, 7, "not true/false"),
    ("too many paths", {"paths": "[" + ", ".join(f"p{i}/**" for i in range(101)) + "]"}, 5,
     "paths is too long: at most 100 items (got 101)"),
    ("reason too long", {"reason": "x" * 4001}, 6,
     "reason is too long: at most 4000 characters (got 4001)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "line", "message"), [c[1:] for c in WORDS], ids=[c[0] for c in WORDS]
)
def test_schema_messages_name_kinds_and_counts_not_python_values(
    exceptions_file, overrides, line, message
):
    _, problems = parse(exceptions_file(**overrides))
    [problem] = problems
    assert problem.line == line
    assert problem.message.startswith("exception EXC-1: ") and message in problem.message
    assert "[" not in problem.message.replace("[0]", "")


def test_a_version_that_is_a_list_is_named_by_its_kind():
    _, problems = parse("version: [1]\nexceptions: []\n")
    assert [p.message for p in problems] == [
        "version must be 1 (got a list); this bot reads version 1 files"
    ]
