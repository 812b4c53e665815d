"""Surgical edits of the exceptions file, by example: exact output for the cases people meet."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.exemptions import EditError, add_entry, change_entry, parse, remove_entries

NEW = {
    "id": "EXC-9",
    "policy": "k8s.privileged",
    "paths": ["deploy/new/**"],
    "reason": "the new agent reads host metrics",
    "requested_by": "alice",
    "expires": date(2026, 3, 1),
}

FOUR_SPACES = """# Exceptions: reviewed by @org/security.
version: 1
exceptions:
    - id: EXC-1   # node exporter
      policy: k8s.privileged
      paths:
        - deploy/node-exporter/**
      reason: node-exporter reads host metrics through hostPID
      expires: 2026-12-31  # end of year

    - id: EXC-2
      policy: k8s.host-network
      paths:
        - "deploy/cni/**"
      reason: >-
        the CNI plugin must run on the host network
      expires: 2026-06-30
"""


def _ids(text: str) -> list[str]:
    parsed, problems = parse(text)
    assert parsed is not None and problems == [], problems
    return [e.id for e in parsed.entries]


# -- add -----------------------------------------------------------------------------------------


def test_add_follows_the_files_style():
    out = add_entry(FOUR_SPACES, NEW)
    assert out == FOUR_SPACES + (
        "\n"
        "    - id: EXC-9\n"
        "      policy: k8s.privileged\n"
        "      paths:\n"
        "        - deploy/new/**\n"
        "      reason: the new agent reads host metrics\n"
        "      requested_by: alice\n"
        "      expires: 2026-03-01\n"
    )
    assert _ids(out) == ["EXC-1", "EXC-2", "EXC-9"]


def test_add_with_flow_lists_and_column_zero_items():
    text = (
        "version: 1\nexceptions:\n"
        "- id: A\n  policy: p\n  paths: [a/**]\n  reason: a reason that is long enough\n"
        "  expires: 2026-03-01\n"
    )
    out = add_entry(text, {**NEW, "resources": ["Pod/ns/x"], "ticket": "SEC-1"})
    assert out == text + (
        "- id: EXC-9\n"
        "  policy: k8s.privileged\n"
        '  paths: ["deploy/new/**"]\n'
        '  resources: ["Pod/ns/x"]\n'
        "  reason: the new agent reads host metrics\n"
        "  ticket: SEC-1\n"
        "  requested_by: alice\n"
        "  expires: 2026-03-01\n"
    )


EMPTY_LISTS = [
    ("version: 1\nexceptions: []\n", "version: 1\nexceptions:\n"),
    ("version: 1\nexceptions: []  # none yet\n", "version: 1\nexceptions:  # none yet\n"),
    ("version: 1\nexceptions: [ ]\n", "version: 1\nexceptions:\n"),
    ("version: 1\nexceptions:\n", "version: 1\nexceptions:\n"),
    ("version: 1\nexceptions: ~\n", "version: 1\nexceptions:\n"),
    ("version: 1\nexceptions: null # x\n", "version: 1\nexceptions: # x\n"),
    ("exceptions: []\nversion: 1\n", "exceptions:\n"),
]


@pytest.mark.parametrize(("text", "head"), EMPTY_LISTS)
def test_add_to_an_empty_list(text, head):
    out = add_entry(text, NEW)
    assert out.startswith(head + "  - id: EXC-9\n    policy: k8s.privileged\n")
    assert '    paths: ["deploy/new/**"]\n' in out
    assert _ids(out) == ["EXC-9"]
    if text.startswith("exceptions"):
        assert out.endswith("    expires: 2026-03-01\nversion: 1\n")


@pytest.mark.parametrize("text", ["", "\n", "# exceptions go here\n", "---\n"])
def test_add_to_an_empty_file(text):
    out = add_entry(text, NEW)
    assert out.startswith(text + "version: 1\nexceptions:\n  - id: EXC-9\n")
    assert _ids(out) == ["EXC-9"]


def test_add_when_the_list_is_missing():
    out = add_entry("# header\nversion: 1\n", NEW)
    assert out.startswith("# header\nversion: 1\nexceptions:\n  - id: EXC-9\n")
    assert _ids(out) == ["EXC-9"]


def test_add_keeps_a_missing_final_newline():
    text = FOUR_SPACES.rstrip("\n")
    out = add_entry(text, NEW)
    assert not out.endswith("\n")
    assert out.startswith(text + "\n")
    assert _ids(out) == ["EXC-1", "EXC-2", "EXC-9"]


def test_add_keeps_crlf():
    text = FOUR_SPACES.replace("\n", "\r\n")
    out = add_entry(text, NEW)
    assert out.startswith(text)
    assert out.count("\n") == out.count("\r\n")
    assert _ids(out) == ["EXC-1", "EXC-2", "EXC-9"]


def test_add_keeps_a_byte_order_mark():
    out = add_entry("\ufeffversion: 1\nexceptions: []\n", NEW)
    assert out.startswith("\ufeffversion: 1\nexceptions:\n  - id: EXC-9\n")
    assert _ids(out.removeprefix("\ufeff")) == ["EXC-9"]


def test_add_before_a_trailing_comment_block():
    text = FOUR_SPACES + "\n# - id: OLD (kept for reference)\n"
    out = add_entry(text, NEW)
    assert out.endswith("expires: 2026-03-01\n\n# - id: OLD (kept for reference)\n")


def test_add_refuses_an_existing_id():
    with pytest.raises(EditError, match="'EXC-1' already exists"):
        add_entry(FOUR_SPACES, {**NEW, "id": "EXC-1"})


QUOTING = [
    # a value that must read back exactly, and how it is written
    ("reason", "because: reasons # and a hash", "reason: 'because: reasons # and a hash'"),
    ("reason", "it's the 'agent' \"x\" here", "reason: it's the 'agent' \"x\" here"),
    ("reason", "José needs the café metrics", "reason: José needs the café metrics"),
    ("reason", "two\nlines of reason text here", 'reason: "two\\nlines of reason text here"'),
    ("reason", "  padded reason text here  ", "reason: '  padded reason text here  '"),
    ("reason", "hidden \u202e override text", 'reason: "hidden \\u202E override text"'),
    ("reason", "- looks like a list item!", "reason: '- looks like a list item!'"),
    ("ticket", "1234", "ticket: '1234'"),
    ("ticket", "yes", "ticket: 'yes'"),
    ("ticket", 1234, "ticket: 1234"),
    ("requested_by", "null", "requested_by: 'null'"),
    ("requested_by", "@bob", "requested_by: '@bob'"),
    ("id", "1e3", "id: 1e3"),  # YAML 1.1 floats need a dot: this one is text
    ("id", "1.5", "id: '1.5'"),
    ("id", "0x10", "id: '0x10'"),
    ("expires", datetime(2026, 3, 1, 18, tzinfo=UTC), "expires: 2026-03-01T18:00:00Z"),
    ("expires", "2026-03-01T18:00:00+02:00", "expires: 2026-03-01T18:00:00+02:00"),
]


@pytest.mark.parametrize(("field", "value", "written"), QUOTING)
def test_values_are_written_safely(field, value, written):
    out = add_entry("version: 1\nexceptions: []\n", {**NEW, field: value})
    assert f"\n    {written}\n" in out or f"  - {written}\n" in out, out
    parsed, problems = parse(out)
    assert parsed is not None and len(parsed.entries) == 1, problems
    got = getattr(parsed.entries[0], field)
    if field == "expires":
        assert parsed.entries[0].expires_text == written.split(": ", 1)[1]
    elif field == "reason":
        assert got == value.strip()
    else:
        assert got == str(value)


def test_paths_that_need_quotes_in_flow_lists():
    out = add_entry("version: 1\nexceptions: []\n", {**NEW, "paths": ["*.yaml", "a, b/[x]"]})
    assert '    paths: ["*.yaml", "a, b/[x]"]\n' in out
    parsed, _ = parse(out)
    assert parsed is not None and parsed.entries[0].paths == ("*.yaml", "a, b/[x]")


# -- change --------------------------------------------------------------------------------------


def test_change_rewrites_only_the_changed_line_and_keeps_its_comment():
    out = change_entry(FOUR_SPACES, "EXC-1", {"expires": date(2027, 1, 31)})
    assert out == FOUR_SPACES.replace(
        "expires: 2026-12-31  # end of year", "expires: 2027-01-31  # end of year"
    )


def test_change_inserts_a_new_field_after_its_usual_predecessor():
    out = change_entry(FOUR_SPACES, "EXC-1", {"ticket": "SEC-7"})
    assert out == FOUR_SPACES.replace(
        "through hostPID\n", "through hostPID\n      ticket: SEC-7\n", 1
    )


def test_change_removes_an_optional_field():
    text = FOUR_SPACES.replace(
        "      paths:\n        - deploy/node",
        "      ticket: X\n      paths:\n        - deploy/node",
    )
    out = change_entry(text, "EXC-1", {"ticket": None})
    assert out == FOUR_SPACES


def test_change_a_block_list_stays_a_block_list():
    out = change_entry(FOUR_SPACES, "EXC-2", {"paths": ["deploy/cni/**", "deploy/cni2/**"]})
    assert out == FOUR_SPACES.replace(
        '        - "deploy/cni/**"\n', "        - deploy/cni/**\n        - deploy/cni2/**\n"
    )


def test_change_a_block_scalar():
    out = change_entry(FOUR_SPACES, "EXC-2", {"reason": "the CNI plugin runs on the host"})
    assert out == FOUR_SPACES.replace(
        "reason: >-\n        the CNI plugin must run on the host network\n",
        "reason: the CNI plugin runs on the host\n",
    )


def test_change_the_id_on_the_dash_line():
    out = change_entry(FOUR_SPACES, "EXC-1", {"id": "EXC-100"})
    assert out == FOUR_SPACES.replace(
        "- id: EXC-1   # node exporter", "- id: EXC-100   # node exporter"
    )


def test_change_a_flow_entry_rewrites_just_that_entry():
    text = (
        "version: 1\nexceptions:\n"
        "  - {id: A, policy: p, paths: [a/**], reason: a reason that is long enough,\n"
        "     expires: 2026-03-01}\n"
        "  # after A\n"
    )
    out = change_entry(text, "A", {"expires": "2026-04-01"})
    assert out == (
        "version: 1\nexceptions:\n"
        "  - id: A\n    policy: p\n    paths: [a/**]\n"
        "    reason: a reason that is long enough\n    expires: 2026-04-01\n"
        "  # after A\n"
    ).replace("[a/**]", '["a/**"]')


def test_change_that_changes_nothing_returns_the_text_untouched():
    assert change_entry(FOUR_SPACES, "EXC-1", {"expires": "2026-12-31"}) is FOUR_SPACES


@pytest.mark.parametrize(
    ("entry_id", "changes", "message"),
    [
        ("EXC-3", {"ticket": "x"}, "no exception with id 'EXC-3' \\(did you mean"),
        ("EXC-1", {"reason": None}, "reason is required"),
        ("EXC-1", {"expiry": "2026-01-01"}, "unknown exception field 'expiry'"),
        ("EXC-1", {"id": "EXC-2"}, "'EXC-2' already exists"),
        ("EXC-1", {"paths": "deploy/**"}, "paths must be a list"),
        ("EXC-1", {"expires": datetime(2026, 1, 1)}, "timezone-aware"),
        ("EXC-1", {"reason": 42}, "reason must be text"),
    ],
)
def test_change_errors(entry_id, changes, message):
    with pytest.raises(EditError, match=message):
        change_entry(FOUR_SPACES, entry_id, changes)


def test_change_refuses_a_duplicated_id():
    text = FOUR_SPACES.replace("id: EXC-2", "id: EXC-1")
    with pytest.raises(EditError, match="used by 2 entries"):
        change_entry(text, "EXC-1", {"ticket": "x"})


# -- remove --------------------------------------------------------------------------------------


def test_remove_takes_its_blank_separator_with_it():
    out = remove_entries(FOUR_SPACES, ["EXC-2"])
    assert out == FOUR_SPACES.split("\n\n")[0] + "\n"
    out = remove_entries(FOUR_SPACES, ["EXC-1"])
    assert out == (
        "# Exceptions: reviewed by @org/security.\nversion: 1\nexceptions:\n"
        + FOUR_SPACES.split("\n\n")[1]
    )


def test_remove_everything_leaves_an_empty_list():
    text = FOUR_SPACES.replace("exceptions:\n", "exceptions:  # see SECURITY.md\n")
    out = remove_entries(text, ["EXC-1", "EXC-2"])
    assert out == (
        "# Exceptions: reviewed by @org/security.\nversion: 1\nexceptions: []  # see SECURITY.md\n"
    )
    assert _ids(out) == []


def test_remove_takes_its_leading_comment_and_keeps_other_comments():
    text = FOUR_SPACES.replace("\n\n    - id: EXC-2", "\n    # about EXC-2\n    - id: EXC-2")
    out = remove_entries(text, ["EXC-2"])
    assert out.endswith("end of year\n")  # the comment right above EXC-2 went with it
    assert "about EXC-2" not in out
    apart = FOUR_SPACES.replace("\n\n    - id: EXC-2", "\n    # a note\n\n    - id: EXC-2")
    out = remove_entries(apart, ["EXC-2"])
    assert out.endswith("end of year\n    # a note\n")  # not touching the entry: it stays


def test_remove_keeps_a_missing_final_newline():
    text = FOUR_SPACES.rstrip("\n")
    out = remove_entries(text, ["EXC-2"])
    assert out == FOUR_SPACES.split("\n\n")[0]


def test_remove_both_entries_of_a_duplicated_id():
    text = FOUR_SPACES.replace("id: EXC-2", "id: EXC-1")
    out = remove_entries(text, ["EXC-1"])
    assert _ids(out) == []


def test_remove_unknown_id():
    with pytest.raises(EditError, match="no exception with id 'EXC-7'"):
        remove_entries(FOUR_SPACES, ["EXC-1", "EXC-7"])


def test_remove_nothing():
    assert remove_entries(FOUR_SPACES, []) is FOUR_SPACES


# -- inputs that cannot be edited ----------------------------------------------------------------

BAD_INPUTS = [
    ("version: 1\nexceptions: [unclosed\n", "does not load"),
    ("version: 1\nexceptions: &a []\n", "anchors"),
    ("- a\n", "must be a mapping"),
    ("{version: 1, exceptions: []}\n", "one {...} mapping"),
    ("version: 1\nexceptions: 5\n", "'exceptions' must be a list"),
    ("version: 1\nexceptions: [{id: A}]\n", "flow style"),
    ("version: 1\rexceptions: []\r", "unusual line breaks"),
    ("version: 1\nexceptions: []\n# \u2028\n", "unusual line breaks"),
]


@pytest.mark.parametrize(("text", "message"), BAD_INPUTS)
def test_unusable_input_is_refused_with_a_reason(text, message):
    for edit in (
        lambda: add_entry(text, NEW),
        lambda: change_entry(text, "A", {"ticket": "x"}),
        lambda: remove_entries(text, ["A"]),
    ):
        with pytest.raises(EditError, match=message):
            edit()


def test_schema_invalid_file_can_still_be_edited():
    # the cleanup job must be able to remove an entry even when another one is broken
    text = FOUR_SPACES.replace(
        "reason: node-exporter reads host metrics through hostPID", "reason: short"
    )
    out = remove_entries(text, ["EXC-2"])
    assert "EXC-2" not in out and "reason: short" in out
