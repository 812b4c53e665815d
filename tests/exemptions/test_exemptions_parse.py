"""Parsing the exceptions file: whole-file refusals, per-entry schema problems, lines, hashes."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from bot.exemptions import ExemptionsFile, parse

# -- the schema itself ---------------------------------------------------------------------------


def test_schema_is_valid_json_schema_2020_12():
    schema = json.loads(
        resources.files("bot.schemas").joinpath("exceptions.schema.json").read_text("utf-8")
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    entry = schema["$defs"]["exception"]
    assert set(entry["required"]) == {"id", "policy", "paths", "reason", "expires"}
    assert all("description" in spec for spec in entry["properties"].values())


def test_design_example_parses(exceptions_file):
    text = """version: 1
exceptions:
  - id: EXC-7                        # unique in the file
    policy: k8s.privileged           # one existing policy id, no wildcards
    paths: ["deploy/node-exporter/**"]
    resources: ["DaemonSet/monitoring/node-exporter"]
    reason: node-exporter reads host metrics through hostPID
    ticket: SEC-1234
    requested_by: alice
    expires: 2026-12-31
"""
    parsed, problems = parse(text)
    assert problems == []
    assert parsed is not None
    (entry,) = parsed.entries
    assert entry.id == "EXC-7"
    assert entry.paths == ("deploy/node-exporter/**",)
    assert entry.resources == ("DaemonSet/monitoring/node-exporter",)
    assert entry.ticket == "SEC-1234" and entry.requested_by == "alice"
    assert entry.expires_text == "2026-12-31"
    assert (entry.line, entry.end_line) == (3, 10)
    assert entry.line_of("resources[0]") == 6 and entry.line_of("expires") == 10


# -- the whole file is unusable ------------------------------------------------------------------

UNUSABLE = [
    ("syntax", "version: 1\nexceptions:\n  - id: [unclosed\n", 4, "invalid YAML"),
    ("tab indent", "version: 1\nexceptions:\n\t- id: x\n", 3, "invalid YAML"),
    ("duplicate key", "version: 1\nexceptions: []\nversion: 1\n", 3, "duplicate key 'version'"),
    (
        "exceptions twice",
        "version: 1\nexceptions: []\nexceptions: []\n",
        3,
        "duplicate key 'exceptions' (first defined on line 2)",
    ),
    ("anchor", "version: 1\nexceptions: &x []\n", 2, "anchors (&x) are not allowed"),
    ("custom tag", "version: 1\nexceptions: !!python/tuple []\n", 2, "custom tag"),
    ("local tag", "version: 1\nexceptions:\n  - !entry {id: a}\n", 3, "custom tag !entry"),
    ("top-level list", "- version: 1\n", 1, "must be a mapping"),
    ("top-level text", "hello\n", 1, "must be a mapping"),
    ("version 2", "version: 2\nexceptions: []\n", 1, "version must be 1 (got 2)"),
    ("version text", "version: '1'\nexceptions: []\n", 1, "version must be 1"),
    ("version bool", "version: true\nexceptions: []\n", 1, "version must be 1"),
    ("no version", "exceptions: []\n", 1, "missing 'version'"),
    ("no list", "version: 1\n", 1, "missing 'exceptions'"),
    ("list is a map", "version: 1\nexceptions:\n  a: 1\n", 2, "exceptions must be a list"),
    ("unknown key", "version: 1\nexceptions: []\nexception: []\n", 3, "unknown top-level field"),
    ("two documents", "version: 1\nexceptions: []\n---\nversion: 1\n", 4, "found several"),
]


@pytest.mark.parametrize(
    ("text", "line", "fragment"), [c[1:] for c in UNUSABLE], ids=[c[0] for c in UNUSABLE]
)
def test_unusable_file_grants_nothing(text, line, fragment):
    parsed, problems = parse(text, "x/exceptions.yaml")
    assert parsed is None
    assert problems, "an unusable file always says why"
    assert problems[0].line == line
    assert fragment in problems[0].message
    assert str(problems[0]).startswith(f"x/exceptions.yaml:{line}: ")
    assert problems[0].code in ("yaml", "file")


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing yet\n", "---\n"])
def test_empty_file_is_valid_and_grants_nothing(text):
    parsed, problems = parse(text)
    assert problems == []
    assert parsed == ExemptionsFile(1, (), ".compliance/exceptions.yaml")


@pytest.mark.parametrize("value", ["[]", "", "~", "null"])
def test_empty_list_spellings(value):
    parsed, problems = parse(f"version: 1\nexceptions: {value}\n")
    assert problems == [] and parsed is not None and parsed.entries == ()


# -- one entry breaks the schema: it is dropped, the rest stays ----------------------------------

SCHEMA_CASES = [
    # (name, overrides, line, field, fragment)
    ("missing reason", {"reason": None}, 3, "reason", "missing required field 'reason'"),
    ("missing expires", {"expires": None}, 3, "expires", "missing required field 'expires'"),
    ("missing paths", {"paths": None}, 3, "paths", "missing required field 'paths'"),
    ("missing id", {"id": None}, 3, "id", "missing required field 'id'"),
    ("short reason", {"reason": "because"}, 6, "reason", "at least 20 characters"),
    ("id with space", {"id": "'EXC 1'"}, 3, "id", "letters, digits"),
    ("id too long", {"id": "A" * 65}, 3, "id", "at most 64"),
    ("id with newline", {"id": '"EXC-1\\n"'}, 3, "id", "letters, digits"),
    ("id a number", {"id": "7"}, 3, "id", "id must be text, not a number"),
    ("policy wildcard", {"policy": "'k8s.*'"}, 4, "policy", "without wildcards"),
    ("policy list", {"policy": "[a, b]"}, 4, "policy", "must be text, not a list"),
    ("paths empty", {"paths": "[]"}, 5, "paths", "at least one glob"),
    ("paths text", {"paths": "deploy/**"}, 5, "paths", "paths must be a list, not text"),
    ("paths item empty", {"paths": '[""]'}, 5, "paths", "paths[0] must not be empty"),
    ("paths item number", {"paths": "[1]"}, 5, "paths", "paths[0] must be text, not a number"),
    ("resources no slash", {"resources": "[Pod]"}, 8, "resources", "not Kind/name"),
    ("resources 4 parts", {"resources": "[a/b/c/d]"}, 8, "resources", "not Kind/name"),
    ("resources empty", {"resources": "[]"}, 8, "resources", "at least one item"),
    ("expires words", {"expires": "next week"}, 7, "expires", "not a date (YYYY-MM-DD)"),
    ("expires naive", {"expires": "2026-03-01T10:00:00"}, 7, "expires", "with an offset"),
    ("expires number", {"expires": "20260301"}, 7, "expires", "not a date"),
    ("expires 30 Feb", {"expires": "2026-02-30"}, 7, "expires", "not a real date or time"),
    ("expires 13th month", {"expires": "2026-13-01"}, 7, "expires", "not a real date"),
    ("expires 25 h", {"expires": "2026-03-01T25:00:00Z"}, 7, "expires", "not a real date"),
    ("expires bad offset", {"expires": "2026-03-01T10:00:00+24:00"}, 7, "expires", "not a real"),
    ("ticket bool", {"ticket": "yes"}, 9, "ticket", "text or a whole number, not true/false"),
    ("ticket empty", {"ticket": "''"}, 9, "ticket", "ticket must not be empty"),
]


@pytest.mark.parametrize(
    ("overrides", "line", "field", "fragment"),
    [c[1:] for c in SCHEMA_CASES],
    ids=[c[0] for c in SCHEMA_CASES],
)
def test_schema_problem_drops_the_entry(exceptions_file, overrides, line, field, fragment):
    parsed, problems = parse(exceptions_file(**overrides))
    assert parsed is not None, "one bad entry leaves the file usable"
    assert parsed.entries == ()
    assert len(parsed.dropped) == 1
    assert [p.line for p in problems] == [line], problems
    assert fragment in problems[0].message
    assert problems[0].field == field
    assert problems[0].code in ("schema", "expires-malformed")


def test_unknown_field_names_its_own_line():
    text = "version: 1\nexceptions:\n  - id: a\n    expiry: 2026-03-01\n    polcy: x\n"
    parsed, problems = parse(text)
    assert parsed is not None and parsed.entries == ()
    found = {(p.line, p.field): p.message for p in problems}
    assert "unknown field 'expiry' (did you mean 'expires'?)" in found[(4, "expiry")]
    assert "unknown field 'polcy' (did you mean 'policy'?)" in found[(5, "polcy")]
    assert "missing required field 'policy'" in found[(3, "policy")]


def test_entry_that_is_not_a_mapping():
    parsed, problems = parse("version: 1\nexceptions:\n  - just text\n  - 42\n")
    assert parsed is not None and parsed.entries == ()
    assert [(p.line, "must be a mapping" in p.message) for p in problems] == [
        (3, True),
        (4, True),
    ]
    assert parsed.dropped == ("entry 1 (line 3)", "entry 2 (line 4)")


def test_bad_entry_does_not_affect_the_others():
    text = """version: 1
exceptions:
  - id: EXC-1
    policy: k8s.privileged
    paths: [a/**]
    reason: a reason that is long enough
    expires: 2026-03-01
  - id: EXC-2
    policy: k8s.privileged
    paths: [b/**]
    reason: short
    expires: 2026-03-01
  - id: EXC-3
    policy: k8s.privileged
    paths: [c/**]
    reason: a reason that is long enough
    expires: 2026-03-01
"""
    parsed, problems = parse(text)
    assert parsed is not None
    assert [e.id for e in parsed.entries] == ["EXC-1", "EXC-3"]
    assert parsed.dropped == ("EXC-2",)
    assert [(p.line, p.entry_id) for p in problems] == [(11, "EXC-2")]
    assert [(e.line, e.end_line) for e in parsed.entries] == [(3, 7), (13, 17)]


def test_several_problems_in_one_entry_are_all_reported(exceptions_file):
    parsed, problems = parse(exceptions_file(reason="short", expires="soon", ticket="[]"))
    assert parsed is not None and parsed.entries == ()
    assert [p.line for p in problems] == [6, 7, 9]


def test_file_level_problems_do_not_hide_the_entries_problems():
    text = """version: 2
extra: 1
exceptions:
  - id: EXC-1
    policy: k8s.privileged
    paths: ["deploy/**"]
    reason: short
    expires: 2026-12-31
  - 5
  - id: EXC-1
"""
    parsed, problems = parse(text)
    assert parsed is None  # still unusable: nothing in it applies
    assert [p.line for p in problems] == [1, 2, 4, 7, 9, 10, 10, 10, 10, 10]
    assert "reason must be at least 20 characters" in problems[3].message


# -- duplicate ids -------------------------------------------------------------------------------

DUPLICATES = """version: 1
exceptions:
  - id: EXC-1
    policy: k8s.privileged
    paths: [a/**]
    reason: a reason that is long enough
    expires: 2026-03-01
  - id: EXC-2
    policy: k8s.privileged
    paths: [b/**]
    reason: a reason that is long enough
    expires: 2026-03-01
  -
    id: EXC-1
    policy: k8s.privileged
    paths: [c/**]
    reason: a reason that is long enough
    expires: 2026-03-01
"""


def test_duplicate_ids_are_both_reported_and_neither_applies():
    parsed, problems = parse(DUPLICATES)
    assert parsed is not None
    assert [e.id for e in parsed.entries] == ["EXC-2"]
    assert parsed.dropped == ("EXC-1", "EXC-1")
    assert [(p.line, p.code, p.entry_id) for p in problems] == [
        (3, "duplicate-id", "EXC-1"),
        (14, "duplicate-id", "EXC-1"),
    ]
    assert "used again on line 13" in problems[0].message
    assert "first used on line 3" in problems[1].message


def test_duplicate_id_of_a_broken_entry_still_blocks_the_good_one():
    text = DUPLICATES.replace("paths: [c/**]", "paths: []")
    parsed, problems = parse(text)
    assert parsed is not None
    assert [e.id for e in parsed.entries] == ["EXC-2"]
    assert {p.code for p in problems} == {"duplicate-id", "schema"}


# -- lines ---------------------------------------------------------------------------------------


def test_field_and_item_lines_in_block_lists():
    text = """version: 1
exceptions:
  - id: EXC-1
    policy: k8s.privileged
    paths:
      - a/**
      # comment between items
      - b/**
    resources:
    - Pod/x
    - Pod/ns/y
    reason: >-
      folded reason text that is long enough
      # and this line belongs to it
    expires: 2026-03-01

# trailing comment
"""
    parsed, problems = parse(text)
    assert problems == [] and parsed is not None
    (entry,) = parsed.entries
    assert entry.line_of("paths[0]") == 6
    assert entry.line_of("paths[1]") == 8
    assert entry.line_of("resources[1]") == 11
    assert entry.line_of("expires") == 15
    assert entry.line_of("ticket") == 3, "an absent field points at the entry"
    assert (entry.line, entry.end_line) == (3, 15)
    assert entry.reason.endswith("# and this line belongs to it")


def test_crlf_lines_count_like_lf(exceptions_file):
    text = exceptions_file(reason="short").replace("\n", "\r\n")
    parsed, problems = parse(text)
    assert parsed is not None and [p.line for p in problems] == [6]


def test_entry_lines_with_dash_on_its_own_line():
    parsed, _ = parse(
        DUPLICATES.replace(
            "EXC-1\n    policy: k8s.privileged\n    paths: [c",
            "EXC-3\n    policy: k8s.privileged\n    paths: [c",
        )
    )
    assert parsed is not None
    assert [(e.id, e.line, e.end_line) for e in parsed.entries][-1] == ("EXC-3", 13, 18)


# -- canonical form and content hash -------------------------------------------------------------

BLOCK = """version: 1
exceptions:
  - id: EXC-1
    policy: k8s.privileged
    paths:
      - deploy/app/**
      - 'deploy/other/*.yaml'
    reason: >
      the app needs host access
      for its metrics
    ticket: SEC-1
    expires: 2026-03-01T12:00:00+02:00   # two o'clock in Paris
"""
FLOW = """# same entry, other formatting
version: 1
exceptions:
- {id: "EXC-1", expires: "2026-03-01T10:00:00Z", ticket: 'SEC-1', policy: k8s.privileged,
   paths: [deploy/app/**, "deploy/other/*.yaml"],
   reason: "the app needs host access for its metrics"}
"""


def _only(text: str):
    parsed, problems = parse(text)
    assert problems == [] and parsed is not None
    (entry,) = parsed.entries
    return entry


def test_hash_is_stable_across_formatting():
    block, flow = _only(BLOCK), _only(FLOW)
    assert block.canonical() == flow.canonical()
    assert block.content_hash() == flow.content_hash()
    assert block.canonical()["expires"] == "2026-03-01T10:00:00Z"
    assert len(block.content_hash()) == 64


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("EXC-1", "EXC-2"),
        ("k8s.privileged", "k8s.host-network"),
        ("- deploy/app/**", "- deploy/app2/**"),
        ("for its metrics", "for its logs"),
        ("SEC-1", "SEC-2"),
        ("T12:00:00+02:00", "T12:00:01+02:00"),
        ("    ticket: SEC-1\n", "    ticket: SEC-1\n    requested_by: bob\n"),
        (
            "- deploy/app/**\n      - 'deploy/other/*.yaml'",
            "- 'deploy/other/*.yaml'\n      - deploy/app/**",
        ),
    ],
)
def test_hash_changes_with_content(old, new):
    assert old in BLOCK
    assert _only(BLOCK).content_hash() != _only(BLOCK.replace(old, new)).content_hash()


def test_date_and_midnight_timestamp_hash_differently():
    # "2026-03-01" means until the end of that day; a timestamp means that instant
    date_form = _only(BLOCK.replace("2026-03-01T12:00:00+02:00", "2026-03-01"))
    stamp = _only(BLOCK.replace("2026-03-01T12:00:00+02:00", "2026-03-02T00:00:00Z"))
    assert date_form.expires == stamp.expires
    assert date_form.content_hash() != stamp.content_hash()
