"""Semantic rules (DESIGN §5 items 8 and 16): each refused with its line and a clear message.

The base entry (``exceptions_file`` in conftest) is valid on 2026-01-15 12:00 UTC; each case
changes one field and names the line, the problem code and a fragment of the message.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.exemptions import parse, valid_entries, validate
from bot.exemptions.validation import describe_char, scope_tricks


def _problems(text, policies, now, **kwargs):
    parsed, problems = parse(text)
    assert problems == [], "these cases are schema-valid; only validate() may object"
    assert parsed is not None and len(parsed.entries) == 1
    return validate(parsed, policies, now, **kwargs)


def test_base_entry_is_valid(exceptions_file, policies, now):
    assert _problems(exceptions_file(), policies, now) == []


RULES = [
    # (name, overrides, line, code, fragment)
    ("unknown policy, close", {"policy": "k8s.privilegd"}, 4, "unknown-policy",
     "unknown policy 'k8s.privilegd' (did you mean 'k8s.privileged'?)"),
    ("unknown policy, far", {"policy": "zzz"}, 4, "unknown-policy", "unknown policy 'zzz'"),
    ("unknown policy, case", {"policy": "K8S.Privileged"}, 4, "unknown-policy", "did you mean"),
    ("policy forbids", {"policy": "k8s.no-exceptions"}, 4, "not-allowed",
     "policy k8s.no-exceptions does not allow exceptions"),
    ("expired yesterday", {"expires": "2026-01-14"}, 7, "expired",
     "expired on 2026-01-14 (end of day, UTC)"),
    ("expired an hour ago", {"expires": "2026-01-15T11:00:00Z"}, 7, "expired", "expired on"),
    ("expired, offset", {"expires": "2026-01-15T13:30:00+02:00"}, 7, "expired", "expired on"),
    ("91 days", {"expires": "2026-04-16"}, 7, "too-long",
     "is 91 days away; at most 90 are allowed (latest 2026-04-15)"),
    ("a year", {"expires": "2027-01-15"}, 7, "too-long", "(policy k8s.privileged)"),
    ("90 days and a second", {"expires": "2026-04-15T12:00:01Z"}, 7, "too-long",
     "at most 90 are allowed (latest 2026-04-15T12:00:00Z)"),
    ("policy's own max", {"policy": "k8s.host-network", "expires": "2026-02-15"}, 7, "too-long",
     "at most 30 are allowed (latest 2026-02-14)"),
    ("reason of spaces", {"reason": '"           too short           "'}, 6, "reason",
     "at least 20 characters saying why (got 9)"),
    ("reason of newlines", {"reason": '"' + "\\n" * 20 + 'x"'},
     6, "reason", "(got 1)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "line", "code", "fragment"),
    [c[1:] for c in RULES],
    ids=[c[0] for c in RULES],
)
def test_rule(exceptions_file, policies, now, overrides, line, code, fragment):
    problems = _problems(exceptions_file(**overrides), policies, now)
    assert [(p.line, p.code) for p in problems] == [(line, code)], problems
    assert fragment in problems[0].message
    assert problems[0].message.startswith("exception EXC-1: ")
    assert problems[0].entry_id == "EXC-1"
    assert str(problems[0]).startswith(f".compliance/exceptions.yaml:{line}: exception EXC-1")


ALLOWED = [
    ("until end of today", {"expires": "2026-01-15"}),
    ("exactly 90 days, date", {"expires": "2026-04-15"}),
    ("exactly 90 days, timestamp", {"expires": "2026-04-15T12:00:00Z"}),
    ("90 days in another offset", {"expires": "2026-04-15T14:00:00+02:00"}),
    ("30 days on a 30-day policy", {"policy": "k8s.host-network", "expires": "2026-02-14"}),
    ("one second left", {"expires": "2026-01-15T12:00:01Z"}),
    ("reason of exactly 20", {"reason": "'  12345678901234567890  '"}),
]


@pytest.mark.parametrize("overrides", [c[1] for c in ALLOWED], ids=[c[0] for c in ALLOWED])
def test_allowed_edges(exceptions_file, policies, now, overrides):
    assert _problems(exceptions_file(**overrides), policies, now) == []


def test_max_days_counts_whole_days_for_dates(exceptions_file, policies):
    # late in the day, the 90th day is still allowed in full
    late = datetime(2026, 1, 15, 23, 59, 59, tzinfo=UTC)
    assert _problems(exceptions_file(expires="2026-04-15"), policies, late) == []
    assert _problems(exceptions_file(expires="2026-04-16"), policies, late) != []


def test_unknown_policy_still_checks_everything_else(exceptions_file, policies, now):
    text = exceptions_file(policy="nope", paths='["../x"]', expires="2020-01-01")
    codes = [(p.line, p.code) for p in _problems(text, policies, now)]
    assert codes == [(4, "unknown-policy"), (5, "scope"), (7, "expired")]


def test_an_entry_the_schema_refused_is_still_checked_for_everything_else(
    exceptions_file, policies, now
):
    text = exceptions_file(policy="nope", paths='["../x"]', reason="short", expires="2020-01-01")
    parsed, schema = parse(text)
    assert parsed is not None and parsed.entries == ()  # refused: it never applies
    assert [(p.line, p.code) for p in schema] == [(6, "schema")]  # the reason
    codes = [(p.line, p.code) for p in validate(parsed, policies, now)]
    assert codes == [(4, "unknown-policy"), (5, "scope"), (7, "expired")]  # no second reason


# -- ticket --------------------------------------------------------------------------------------


def test_ticket_required_by_config(exceptions_file, policies, now):
    problems = _problems(exceptions_file(), policies, now, require_ticket=True)
    assert [(p.line, p.code, p.field) for p in problems] == [(3, "ticket", "ticket")]
    assert "a ticket is required" in problems[0].message
    assert _problems(exceptions_file(ticket="SEC-1"), policies, now, require_ticket=True) == []
    assert _problems(exceptions_file(ticket="1234"), policies, now, require_ticket=True) == []
    blank = _problems(exceptions_file(ticket="'  '"), policies, now, require_ticket=True)
    assert [(p.line, p.code) for p in blank] == [(9, "ticket")]


# -- scope tricks (item 16) and over-broad scope (item 8) ------------------------------------------

PATH_TRICKS = [
    # (name, YAML flow list, fragment)
    ("dot-dot first", '["../secrets/**"]', "contains a '..' segment"),
    ("dot-dot inside", '["deploy/../secrets/x.yaml"]', "contains a '..' segment"),
    ("dot-dot last", '["deploy/.."]', "contains a '..' segment"),
    ("dot segment", '["./deploy/**"]', "contains a '.' segment"),
    ("absolute", '["/deploy/**"]', "is absolute"),
    ("absolute root", '["/etc/passwd"]', "without a leading '/'"),
    ("drive letter", '["C:/deploy/**"]', "starts with a drive letter"),
    ("drive letter, lower", '["c:deploy"]', "starts with a drive letter"),
    ("backslash", '["deploy\\\\app\\\\**"]', "contains a backslash"),
    ("escaped glob", '["deploy/\\\\*"]', "contains a backslash"),
    ("negation", '["!deploy/app/**"]', "starts with '!' (negation)"),
    ("double slash", '["deploy//app/**"]', "has an empty segment"),
    ("trailing slash", '["deploy/app/"]', "write 'folder/**' for everything in a folder"),
    ("leading space", '[" deploy/app/**"]', "has leading or trailing spaces"),
    ("trailing space", '["deploy/app/** "]', "has leading or trailing spaces"),
    ("cyrillic e", '["d\\u0435ploy/app/**"]', "U+0435 CYRILLIC SMALL LETTER IE"),
    ("cyrillic a", '["deploy/\\u0430pp/**"]', "U+0430 CYRILLIC SMALL LETTER A"),
    ("greek omicron", '["deploy/n\\u03bfde/**"]', "U+03BF GREEK SMALL LETTER OMICRON"),
    ("fullwidth solidus", '["deploy\\uff0fapp/**"]', "U+FF0F FULLWIDTH SOLIDUS"),
    ("fullwidth dots", '["\\uff0e\\uff0e/x"]', "U+FF0E FULLWIDTH FULL STOP"),
    ("nfc composed", '["caf\\u00e9/**"]', "U+00E9 LATIN SMALL LETTER E WITH ACUTE"),
    ("not nfc", '["cafe\\u0301/**"]', "is not in Unicode normal form NFC"),
    ("combining mark named", '["cafe\\u0301/**"]', "U+0301 COMBINING ACUTE ACCENT"),
    ("right-to-left override", '["deploy/\\u202eyaml.x"]', "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("zero width space", '["deploy/app\\u200b/**"]', "U+200B ZERO WIDTH SPACE"),
    ("nul", '["deploy/\\x00/**"]', "U+0000 (control character)"),
    ("tab", '["deploy/\\tapp"]', "U+0009 (control character)"),
    ("newline", '["deploy/app\\n"]', "control or invisible characters: U+000A"),
    ("escape", '["deploy/\\e[31m"]', "U+001B"),
    ("line separator", '["deploy/\\Lx"]', "U+2028 LINE SEPARATOR"),
]


@pytest.mark.parametrize(
    ("paths", "fragment"), [c[1:] for c in PATH_TRICKS], ids=[c[0] for c in PATH_TRICKS]
)
def test_path_trick(exceptions_file, policies, now, paths, fragment):
    problems = _problems(exceptions_file(paths=paths), policies, now)
    scope = [p for p in problems if p.code == "scope"]
    assert scope, problems
    assert all(p.line == 5 and p.field == "paths" for p in scope)
    assert any(fragment in p.message for p in scope), [p.message for p in scope]
    assert all("paths[0]" in p.message for p in scope)


def test_every_item_of_a_block_list_gets_its_own_line(exceptions_file, policies, now):
    paths = '\n      - deploy/app/**\n      - "../x"\n      - deploy/ok/**\n      - "/abs"'
    text = exceptions_file(paths=paths)
    parsed, _ = parse(text)
    assert parsed is not None
    problems = validate(parsed, policies, now)
    assert [(p.line, "paths[1]" in p.message or "paths[3]" in p.message) for p in problems] == [
        (7, True),
        (9, True),
    ]


BROAD = [
    ("double star", '["**"]'),
    ("any depth", '["**/secrets.yaml"]'),
    ("root glob", '["*.yaml"]'),
    ("star folder", '["*/deploy/**"]'),
    ("partial star", '["de*/app/**"]'),
    ("question mark", '["?eploy/app/**"]'),
    ("character class", '["[d]eploy/app/**"]'),
]


@pytest.mark.parametrize("paths", [c[1] for c in BROAD], ids=[c[0] for c in BROAD])
def test_broad_scope_refused_unless_policy_allows(exceptions_file, policies, now, paths):
    problems = _problems(exceptions_file(paths=paths), policies, now)
    assert [(p.line, p.code) for p in problems] == [(5, "broad-scope")]
    assert "starts with a wildcard" in problems[0].message
    assert "policy k8s.privileged does not allow broad exceptions" in problems[0].message
    assert _problems(exceptions_file(paths=paths, policy="repo.broad"), policies, now) == []


@pytest.mark.parametrize(
    "paths", ['["deploy/**"]', '["deploy/*.yaml"]', '["deploy/app/[ab].yaml"]', '["Dockerfile"]']
)
def test_narrow_globs_are_fine(exceptions_file, policies, now, paths):
    assert _problems(exceptions_file(paths=paths), policies, now) == []


RESOURCE_TRICKS = [
    ("dot-dot", '["Pod/../x"]', "'..' segment"),
    ("cyrillic", '["Pod/ns/n\\u0430me"]', "U+0430 CYRILLIC SMALL LETTER A"),
    ("wildcard name", '["Pod/ns/*"]', "contains a wildcard"),
    ("wildcard kind", '["P?d/x"]', "contains a wildcard"),
    ("backslash", '["Pod/ns\\\\x"]', "contains a backslash"),
    ("negation", '["!Pod/x"]', "starts with '!'"),
    ("control", '["Pod/x\\u0007"]', "U+0007"),
    ("drive", '["C:/x"]', "drive letter"),
]


@pytest.mark.parametrize(
    ("resources", "fragment"),
    [c[1:] for c in RESOURCE_TRICKS],
    ids=[c[0] for c in RESOURCE_TRICKS],
)
def test_resource_trick(exceptions_file, policies, now, resources, fragment):
    problems = _problems(exceptions_file(resources=resources), policies, now)
    assert problems and all((p.line, p.code) == (8, "scope") for p in problems), problems
    assert any(fragment in p.message and "resources[0]" in p.message for p in problems)


def test_plain_resources_are_fine(exceptions_file, policies, now):
    text = exceptions_file(resources='["DaemonSet/monitoring/node-exporter", "Namespace/kube"]')
    assert _problems(text, policies, now) == []


def test_scope_tricks_accepts_ordinary_paths():
    for path in ("deploy/app/**", "a/b/c.yaml", "charts/x-1.2_3/values.yaml", ".github/x.yml"):
        assert scope_tricks(path) == [], path


def test_describe_char():
    assert describe_char("\u0430") == "U+0430 CYRILLIC SMALL LETTER A"
    assert describe_char("\x00") == "U+0000 (control character)"


# -- valid_entries -------------------------------------------------------------------------------

THREE = """version: 1
exceptions:
  - id: GOOD
    policy: k8s.privileged
    paths: [a/**]
    reason: a reason that is long enough
    expires: 2026-03-01
  - id: OLD
    policy: k8s.privileged
    paths: [b/**]
    reason: a reason that is long enough
    expires: 2026-01-01
  - id: BAD
    policy: k8s.privileged
    paths: [../c]
    reason: a reason that is long enough
    expires: 2026-03-01
"""


def test_valid_entries(policies, now):
    parsed, problems = parse(THREE)
    assert parsed is not None and problems == []
    problems = validate(parsed, policies, now)
    assert [(p.entry_id, p.code) for p in problems] == [("OLD", "expired"), ("BAD", "scope")]
    assert [e.id for e in valid_entries(parsed, problems)] == ["GOOD"]
    assert [e.id for e in valid_entries(parsed, problems, keep_expired=True)] == ["GOOD", "OLD"]


def test_validate_needs_an_aware_now(exceptions_file, policies):
    parsed, _ = parse(exceptions_file())
    assert parsed is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        validate(parsed, policies, datetime(2026, 1, 15))
