"""Property tests for surgical edits (DESIGN §3): only the touched entries' lines change.

Hypothesis writes exceptions files the way people do: header comments, blank lines, comments
between and inside entries, trailing comments, 0/2/4-column lists, ``- id:`` or a lone ``-``,
keys in any order, plain, single- and double-quoted values, flow and block lists, folded and
literal reasons, LF or CRLF, with or without a final newline. The generator knows which lines
belong to which entry. After ``add_entry``, ``change_entry`` or ``remove_entries``:

(a) the result parses, without problems, to exactly the expected entries (raw values and
    canonical model);
(b) every line outside the touched entries is byte-identical and in place: for add and change,
    the lines before and after the touched region are the original ones; for remove, the result
    is exactly the original minus the removed entries (and one blank separator each).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import safeyaml
from bot.exemptions import add_entry, change_entry, parse, remove_entries
from bot.exemptions.model import FIELDS, ExemptionEntry, format_timestamp

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
OPTIONAL = ("resources", "ticket", "requested_by")

# -- values --------------------------------------------------------------------------------------

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,9}", fullmatch=True)
policies = st.sampled_from(["k8s.privileged", "k8s.host-network", "docker.root-user", "x.y"])
segment = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,6}", fullmatch=True)
paths = st.one_of(
    st.builds(
        lambda segs, tail: "/".join(segs) + tail,
        st.lists(segment, min_size=1, max_size=3),
        st.sampled_from(["", "/**", "/*.yaml"]),
    ),
    st.sampled_from(["**/x.yaml", "*.yaml", "deploy/[ab].yaml", "a b/c", "x: y/z", "#x/y", "@a"]),
)
resources = st.builds(
    lambda kind, ns, name: f"{kind}/{ns}/{name}" if ns else f"{kind}/{name}",
    st.sampled_from(["Pod", "DaemonSet", "Deployment"]),
    st.one_of(st.none(), segment),
    segment,
)
reasons = st.text(alphabet="abcdefghij klmnop:#'\"-,.é!?", min_size=20, max_size=50)
tickets = st.one_of(
    st.from_regex(r"[A-Z]{2,4}-[0-9]{1,4}", fullmatch=True),
    st.integers(1, 99_999),
    st.sampled_from(["1234", "yes", "null"]),
)
logins = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), st.sampled_from(["no", "on", "y"])
)
OFFSETS = ["Z", "+02:00", "-05:30"]
expiry_texts = st.one_of(
    st.dates(date(2025, 1, 1), date(2030, 12, 31)).map(date.isoformat),
    st.builds(
        lambda d, h, off: f"{d.isoformat()}T{h:02d}:30:00{off}",
        st.dates(date(2025, 1, 1), date(2030, 12, 31)),
        st.integers(0, 23),
        st.sampled_from(OFFSETS),
    ),
)
expiry_values = st.one_of(  # what a caller may pass to add/change
    expiry_texts,
    st.dates(date(2025, 1, 1), date(2030, 12, 31)),
    st.builds(
        lambda d, h, off: datetime(
            d.year, d.month, d.day, h, tzinfo=timezone(timedelta(hours=off))
        ),
        st.dates(date(2025, 1, 1), date(2030, 12, 31)),
        st.integers(0, 23),
        st.sampled_from([0, 2, -5]),
    ),
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "policy": policies,
    "paths": st.lists(paths, min_size=1, max_size=3),
    "resources": st.lists(resources, min_size=1, max_size=2),
    "reason": reasons,
    "ticket": tickets,
    "requested_by": logins,
    "expires": expiry_texts,
}


@st.composite
def entry_values(draw: st.DrawFn, entry_id: str) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": entry_id}
    for key in ("policy", "paths", "reason", "expires"):
        raw[key] = draw(VALUES[key])
    for key in OPTIONAL:
        if draw(st.booleans()):
            raw[key] = draw(VALUES[key])
    return raw


def loaded(value: Any) -> Any:
    """A caller's value as it reads back from YAML."""
    if isinstance(value, datetime):
        return format_timestamp(value.astimezone(UTC))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


# -- writing YAML the way people do --------------------------------------------------------------


def _reads_back(snippet: str, expected: Any) -> bool:
    try:
        return safeyaml.load(snippet).value == expected
    except safeyaml.YAMLError:
        return False


def scalar(draw: st.DrawFn, value: Any, *, flow: bool = False) -> str:
    if isinstance(value, int):
        return str(value)
    styles = ["double", "single"]
    plain_ok = (
        _reads_back(f"k: [{value}]", {"k": [value]})
        if flow
        else _reads_back(f"k: {value}", {"k": value})
    )
    if plain_ok:
        styles += ["plain", "plain"]
    style = draw(st.sampled_from(styles))
    if style == "double":
        return json.dumps(value, ensure_ascii=False)
    if style == "single":
        return "'" + value.replace("'", "''") + "'"
    return value


def comment(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", "", "", "  # note", " #x"]))


def field_lines(draw: st.DrawFn, key: str, value: Any, column: int) -> list[str]:
    pad = " " * column
    if key in ("paths", "resources"):
        style = draw(st.sampled_from(["flow", "block0", "block2"]))
        if style == "flow":
            items = ", ".join(scalar(draw, v, flow=True) for v in value)
            return [f"{pad}{key}: [{items}]{comment(draw)}"]
        indent = " " * (column + (0 if style == "block0" else 2))
        return [f"{pad}{key}:{comment(draw)}"] + [
            f"{indent}- {scalar(draw, v)}{comment(draw)}" for v in value
        ]
    if key == "reason":
        blocks = [b for b in (">-", "|-") if _reads_back(f"r: {b}\n  {value}\n", {"r": value})]
        if blocks and draw(st.booleans()):
            return [f"{pad}{key}: {draw(st.sampled_from(blocks))}", f"{pad}  {value}"]
    return [f"{pad}{key}: {scalar(draw, value)}{comment(draw)}"]


def entry_lines(draw: st.DrawFn, raw: dict[str, Any], dash: int, offset: int) -> list[str]:
    column = dash + offset
    out: list[str] = []
    for n, key in enumerate(draw(st.permutations(list(raw)))):
        if n > 0 and draw(st.integers(0, 4)) == 0:
            out.append(" " * column + f"# about {key}")
        out += field_lines(draw, key, raw[key], column)
    if draw(st.integers(0, 3)) == 0:
        out.insert(0, " " * dash + "-" + draw(st.sampled_from(["", "  # entry"])))
    else:
        out[0] = " " * dash + "-" + " " * (offset - 1) + out[0][column:]
    return out


@dataclass
class GenFile:
    lines: list[str]
    eol: str
    final_newline: bool
    entries: list[tuple[int, int, dict[str, Any]]]  # (first, last) line index, raw values
    key_index: int
    key_comment: str

    @property
    def text(self) -> str:
        return self.eol.join(self.lines) + (self.eol if self.final_newline else "")

    @property
    def ids(self) -> list[str]:
        return [raw["id"] for _, _, raw in self.entries]


@st.composite
def files(draw: st.DrawFn, min_entries: int = 0) -> GenFile:
    dash = draw(st.sampled_from([0, 2, 4]))
    offset = draw(st.sampled_from([2, 2, 4]))
    entry_ids = draw(st.lists(ids, min_size=min_entries, max_size=4, unique=True))
    lines: list[str] = []
    if draw(st.booleans()):
        lines += ["# Exceptions for this repository.", "# Reviewed by @org/security."]
    version_last = draw(st.integers(0, 4)) == 0
    if not version_last:
        lines.append("version: 1" + draw(st.sampled_from(["", "  # format"])))
        if draw(st.booleans()):
            lines.append("")
    key_comment = draw(st.sampled_from(["", "  # opt-outs"]))
    key_index = len(lines)
    if entry_ids:
        lines.append("exceptions:" + key_comment)
    else:
        empty = draw(st.sampled_from([" []", "", " [ ]"]))
        lines.append("exceptions:" + empty + key_comment)
    entries = []
    all_blank = draw(st.booleans())
    for n, entry_id in enumerate(entry_ids):
        if n > 0:
            sep = "blank" if all_blank else draw(st.sampled_from(["", "blank", "comment", "both"]))
            if sep in ("blank", "both"):
                lines.append("")
            if sep in ("comment", "both"):
                lines.append(" " * draw(st.sampled_from([0, dash])) + "# next")
        raw = draw(entry_values(entry_id))
        block = entry_lines(draw, raw, dash, offset)
        entries.append((len(lines), len(lines) + len(block) - 1, raw))
        lines += block
    trailer = draw(st.sampled_from(["", "", "blank", "comment", "both"]))
    if trailer in ("blank", "both"):
        lines.append("")
    if trailer in ("comment", "both"):
        lines.append("# end of exceptions")
    if version_last:
        lines.append("version: 1")
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    final_newline = draw(st.booleans()) or not lines[-1]  # a last blank line needs its break
    return GenFile(lines, eol, final_newline, entries, key_index, key_comment)


# -- checks --------------------------------------------------------------------------------------


def content_lines(text: str) -> list[str]:
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if text.endswith("\n") else lines


def check_model(result: str, expected: list[dict[str, Any]]) -> None:
    """(a): the result parses cleanly to exactly the expected entries."""
    assert (safeyaml.load(result).value["exceptions"] or []) == expected
    parsed, problems = parse(result)
    assert problems == [], problems
    assert parsed is not None
    assert [e.canonical() for e in parsed.entries] == [
        ExemptionEntry.from_mapping(raw).canonical() for raw in expected
    ]


def check_form(gen: GenFile, result: str) -> None:
    """Line endings and the final newline follow the original file."""
    if gen.eol == "\r\n":
        assert result.count("\n") == result.count("\r\n")
    else:
        assert "\r" not in result
    assert result.endswith("\n") == gen.final_newline


def check_outside(gen: GenFile, result: str, first: int, last: int) -> None:
    """(b) for add and change: lines before ``first`` and after ``last`` are the originals."""
    before, after = gen.lines[:first], gen.lines[last + 1 :]
    got = content_lines(result)
    assert got[: len(before)] == before
    assert got[len(got) - len(after) :] == after if after else True
    assert len(got) >= len(before) + len(after)


# -- properties ----------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_generated_files_parse_as_generated(data):
    gen = data.draw(files())
    check_model(gen.text, [raw for _, _, raw in gen.entries])
    parsed, _ = parse(gen.text)
    assert parsed is not None
    assert [(e.line, e.end_line) for e in parsed.entries] == [
        (first + 1, last + 1) for first, last, _ in gen.entries
    ]


@SETTINGS
@given(data=st.data())
def test_add_entry(data):
    gen = data.draw(files())
    new_id = data.draw(ids.filter(lambda i: i not in gen.ids))
    new = data.draw(entry_values(new_id))
    new["expires"] = data.draw(st.one_of(st.just(new["expires"]), expiry_values))
    result = add_entry(gen.text, new)

    expected = [raw for _, _, raw in gen.entries] + [{k: loaded(v) for k, v in new.items()}]
    check_model(result, expected)
    check_form(gen, result)
    if gen.entries:
        last = gen.entries[-1][1]
        check_outside(gen, result, last + 1, last)  # only insertions after the last entry
    else:
        check_outside(gen, result, gen.key_index, gen.key_index)  # and the key line


@SETTINGS
@given(data=st.data())
def test_change_entry(data):
    gen = data.draw(files(min_entries=1))
    index = data.draw(st.integers(0, len(gen.entries) - 1))
    first, last, raw = gen.entries[index]
    keys = data.draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4, unique=True))
    changes: dict[str, Any] = {}
    for key in keys:
        if key in OPTIONAL and data.draw(st.booleans()):
            changes[key] = None
        elif key == "id":
            others = set(gen.ids) - {raw["id"]}
            changes[key] = data.draw(ids.filter(lambda i, o=others: i not in o))
        elif key == "expires":
            changes[key] = data.draw(expiry_values)
        else:
            changes[key] = data.draw(VALUES[key])
    result = change_entry(gen.text, raw["id"], changes)

    new = {**raw, **{k: loaded(v) for k, v in changes.items() if v is not None}}
    for key in [k for k, v in changes.items() if v is None]:
        new.pop(key, None)
    expected = [new if n == index else r for n, (_, _, r) in enumerate(gen.entries)]
    check_model(result, expected)
    check_form(gen, result)
    check_outside(gen, result, first, last)
    if new == raw:
        assert result == gen.text


@SETTINGS
@given(data=st.data())
def test_remove_entries(data):
    gen = data.draw(files(min_entries=1))
    gone = data.draw(st.lists(st.sampled_from(gen.ids), min_size=1, unique=True))
    result = remove_entries(gen.text, gone)

    drop: set[int] = set()
    content = {n for first, last, _ in gen.entries for n in range(first, last + 1)}

    def with_comment(first: int) -> int:  # the comment lines right above an entry go with it
        indent = len(gen.lines[first]) - len(gen.lines[first].lstrip())
        while first - 1 >= 0 and first - 1 not in content:
            above = gen.lines[first - 1]
            if not above.lstrip().startswith("#") or len(above) - len(above.lstrip()) < indent:
                break
            first -= 1
        return first

    removed = [(with_comment(first), last) for first, last, raw in gen.entries if raw["id"] in gone]
    for first, last in removed:
        drop.update(range(first, last + 1))
    final = gen.entries[-1][1]
    for first, last in removed:  # one blank separator each: above, else below unless last
        for n in (first - 1, last + 1 if last != final else -1):
            if 0 <= n < len(gen.lines) and n not in drop and not gen.lines[n].strip():
                drop.add(n)
                break
    expected_lines = [line for n, line in enumerate(gen.lines) if n not in drop]
    remaining = [raw for _, _, raw in gen.entries if raw["id"] not in gone]
    if not remaining:
        key_at = gen.key_index - sum(1 for n in drop if n < gen.key_index)
        expected_lines[key_at] = "exceptions: []" + gen.key_comment
    assert content_lines(result) == expected_lines
    check_model(result, remaining)
    check_form(gen, result)


@SETTINGS
@given(data=st.data())
def test_add_then_remove_restores_the_file(data):
    gen = data.draw(files(min_entries=1))
    new_id = data.draw(ids.filter(lambda i: i not in gen.ids))
    added = add_entry(gen.text, data.draw(entry_values(new_id)))
    restored = remove_entries(added, [new_id])
    assert restored == gen.text
