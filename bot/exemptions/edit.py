"""Surgical edits of the exceptions file's text: add, change and remove entries.

People review this file, so the bot's edits must read like a careful human's (DESIGN §3): only the
lines of the entries it touches change; comments, order, quoting, blank lines, indentation and
line endings of everything else stay byte-identical. New entries follow the file's own style
(indentation of the list and of keys, flow or block lists, blank lines between entries, CRLF),
and ``change_entry`` rewrites only the lines of the fields that change, keeping a trailing
comment on them. A blank line that separated a removed entry from its neighbour goes with it
(the one above it, or else the one below it unless it was the last entry).

Every edit is checked before it is returned: the result must load, and its values must be exactly
the old ones with the requested change, or ``EditError`` is raised. The functions take and return
text; they do no I/O and never judge whether an entry is *valid* (that is ``validate``'s job).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import yaml

from bot import safeyaml
from bot.exemptions.layout import EntryLayout, FieldLayout, Layout, layout
from bot.exemptions.model import (
    FIELDS,
    REQUIRED_FIELDS,
    format_timestamp,
    parse_expires,
)
from bot.exemptions.parsing import LIMITS


class EditError(ValueError):
    """The requested edit cannot be made (unknown id, unreadable file, bad value)."""


_ODD_BREAKS = re.compile(r"\r(?!\n)|\x85|\u2028|\u2029")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LISTS = ("paths", "resources")
_TRAILING_COMMENT = re.compile(r"\s+#.*")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


# -- public --------------------------------------------------------------------------------------


def add_entry(text: str, entry: Mapping[str, Any]) -> str:
    """``text`` with ``entry`` appended to the ``exceptions`` list.

    ``entry`` maps field names to values: strings, lists of strings for ``paths`` and
    ``resources``, and a ``date``, an aware ``datetime`` or text for ``expires``. An empty or
    missing file (``""``) becomes ``version: 1`` with a one-entry list.
    """
    new = _normalise(entry)
    if "id" not in new:
        raise EditError("a new exception needs an id")
    doc = _Doc(text)
    if any(_entry_id(item) == new["id"] for item in doc.items):
        raise EditError(f"an exception with id {new['id']!r} already exists")
    style = _style(doc.layout, doc.text)
    lines = _entry_lines(_ordered([], new), style.dash, style.key_offset, style)
    lay = doc.layout
    expected = doc.value_with([*doc.items, new])
    if lay.empty_document:
        doc.text.insert(len(doc.text.lines), ["version: 1", "exceptions:", *lines])
        expected = {"version": 1, "exceptions": [new]}
    elif lay.kind == "missing":
        key_line = " " * lay.root_column + "exceptions:"
        doc.text.insert(len(doc.text.lines), [key_line, *lines])
    elif lay.kind in ("flow", "null"):
        if doc.items:
            raise EditError(_FLOW_LIST)
        assert lay.key is not None and lay.value_start is not None
        after = _clear_value(doc.text, lay.key, lay.value_start)
        doc.text.insert(after, lines)
    else:
        after = lay.entries[-1].end if lay.entries else _key_end(lay)
        if lay.entries and style.blank_between:
            lines = ["", *lines]
        doc.text.insert(after, lines)
    return doc.finish(expected)


def change_entry(text: str, entry_id: str, changes: Mapping[str, Any]) -> str:
    """``text`` with the fields in ``changes`` of entry ``entry_id`` rewritten.

    A value of ``None`` removes an optional field (``resources``, ``ticket``, ``requested_by``).
    Only the lines of the changed fields change; a field that is new to the entry is inserted
    after the field that precedes it in the usual order.
    """
    updates = _normalise(changes, allow_none=True)
    doc = _Doc(text)
    index = doc.index_of(entry_id)
    old = doc.items[index]
    if not isinstance(old, dict):
        raise EditError(f"exception {entry_id} is not a mapping of fields")
    new = dict(old)
    for key, value in updates.items():
        if value is None:
            if key in REQUIRED_FIELDS:
                raise EditError(f"{key} is required and cannot be removed")
            new.pop(key, None)
        else:
            new[key] = value
    if new.get("id") != entry_id and any(_entry_id(i) == new.get("id") for i in doc.items):
        raise EditError(f"an exception with id {new.get('id')!r} already exists")
    changed = [k for k in FIELDS if k in updates and old.get(k) != new.get(k)]
    if not changed:
        return text
    expected = doc.value_with([new if i == index else it for i, it in enumerate(doc.items)])
    entry = doc.layout.entries[index]
    style = _style(doc.layout, doc.text)
    removes_dash_key = any(
        k not in new and (f := entry.field(k)) is not None and _on_dash_line(entry, f)
        for k in changed
    )
    if not entry.block or removes_dash_key:
        _rewrite_entry(doc.text, entry, old, new, style)
    else:
        _rewrite_fields(doc.text, entry, new, changed, style)
    return doc.finish(expected)


def remove_entries(text: str, ids: Iterable[str]) -> str:
    """``text`` without the entries whose id is in ``ids`` (all of them, if an id is repeated).

    When the list becomes empty it is written ``exceptions: []``. The comment lines right above a
    removed entry (no blank line between, indented like it) go with it; other comments stay.
    """
    wanted = list(dict.fromkeys(ids))
    doc = _Doc(text)
    known = {_entry_id(item) for item in doc.items}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise EditError(_unknown_ids(unknown, known))
    if not wanted:
        return text
    if doc.layout.kind == "flow":
        raise EditError(_FLOW_LIST)
    gone = [i for i, item in enumerate(doc.items) if _entry_id(item) in wanted]
    entries = [doc.layout.entries[i] for i in gone]
    content = {n for e in doc.layout.entries for n in range(e.start, e.end + 1)}
    drop: set[int] = set()
    tops: dict[int, int] = {}
    for e in entries:
        tops[e.start] = top = _leading_comment(doc.text, e.start, content)
        drop.update(range(top, e.end + 1))
    last = doc.layout.entries[-1]
    for e in entries:  # one blank separator each: above if there is one, else below (not after
        # the list's last entry: a blank line there separates the list from what follows it)
        for line in (tops[e.start] - 1, e.end + 1 if e is not last else 0):
            if 1 <= line <= len(doc.text.lines) and line not in drop and doc.text.blank(line):
                drop.add(line)
                break
    remaining = [item for i, item in enumerate(doc.items) if i not in gone]
    if not remaining:
        assert doc.layout.key is not None
        key = doc.layout.key
        line = doc.text.get(key.line)
        colon = line.index(":", key.column)
        rest = line[colon + 1 :]
        comment = rest if rest.strip().startswith("#") else ""
        doc.text.set(key.line, line[: colon + 1] + " []" + comment)
    doc.text.delete(drop)
    return doc.finish(doc.value_with(remaining))


def _leading_comment(text: _Lines, start: int, content: set[int]) -> int:
    """The first line of the comment block right above the entry starting at ``start`` (the
    entry's own line when there is none): comment lines at least as indented as its ``-``."""
    dash = text.get(start)
    indent = len(dash) - len(dash.lstrip())
    top = start
    while top > 1 and top - 1 not in content:
        line = text.get(top - 1)
        if not line.lstrip().startswith("#") or len(line) - len(line.lstrip()) < indent:
            break
        top -= 1
    return top


# -- the text, as lines --------------------------------------------------------------------------


@dataclass
class _Line:
    text: str
    end: str  # "\n", "\r\n", or "" for a last line without a line break


class _Lines:
    """Lines with their own line breaks, so untouched lines are written back byte for byte."""

    def __init__(self, text: str) -> None:
        parts = text.split("\n")
        self.lines: list[_Line] = []
        for n, part in enumerate(parts):
            if n == len(parts) - 1:
                if part:
                    self.lines.append(_Line(part, ""))
            elif part.endswith("\r"):
                self.lines.append(_Line(part[:-1], "\r\n"))
            else:
                self.lines.append(_Line(part, "\n"))
        crlf = sum(1 for line in self.lines if line.end == "\r\n")
        lf = sum(1 for line in self.lines if line.end == "\n")
        self.eol = "\r\n" if crlf > lf else "\n"

    def __str__(self) -> str:
        return "".join(line.text + line.end for line in self.lines)

    def get(self, number: int) -> str:
        return self.lines[number - 1].text

    def set(self, number: int, text: str) -> None:
        self.lines[number - 1].text = text

    def blank(self, number: int) -> bool:
        return not self.get(number).strip()

    def insert(self, after: int, texts: list[str]) -> None:
        """Insert lines after line ``after`` (0: at the top)."""
        new = [_Line(t, self.eol) for t in texts]
        if not new:
            return
        if after == len(self.lines) and self.lines and self.lines[-1].end == "":
            self.lines[-1].end = self.eol  # keep "no newline at end of file" at the end
            new[-1].end = ""
        self.lines[after:after] = new

    def replace(self, start: int, end: int, texts: list[str]) -> None:
        """Replace lines ``start``..``end`` (inclusive) with ``texts``."""
        new = [_Line(t, self.eol) for t in texts]
        last_end = self.lines[end - 1].end
        if new:
            new[-1].end = last_end
        elif end == len(self.lines) and last_end == "" and start > 1:
            self.lines[start - 2].end = ""
        self.lines[start - 1 : end] = new

    def delete(self, numbers: set[int]) -> None:
        for number in sorted(numbers, reverse=True):
            self.replace(number, number, [])


class _Doc:
    """One file being edited: its lines, loaded value and layout."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise EditError("the exceptions file must be given as text")
        if _ODD_BREAKS.search(text):
            raise EditError(
                "the exceptions file uses unusual line breaks (lone CR, NEL, U+2028 or U+2029);"
                " save it with LF or CRLF line endings first"
            )
        if _SURROGATE.search(text):
            raise EditError("the exceptions file is not valid UTF-8 text (a lone surrogate)")
        self.bom = text.startswith("\ufeff")
        body = text[1:] if self.bom else text
        try:
            loaded = safeyaml.load(body, LIMITS)
            self.layout: Layout = layout(body)
        except safeyaml.YAMLError as exc:
            raise EditError(f"cannot edit an exceptions file that does not load: {exc}") from None
        except yaml.YAMLError as exc:  # pragma: no cover - safeyaml loaded the same text
            raise EditError(f"cannot edit this exceptions file: {exc}") from None
        if loaded.value is not None and not isinstance(loaded.value, dict):
            raise EditError("the exceptions file must be a mapping with 'version' and 'exceptions'")
        if self.layout.root_flow:
            raise EditError("the exceptions file is written as one {...} mapping; use block style")
        if self.layout.kind == "other":
            raise EditError("'exceptions' must be a list")
        self.value: dict[str, Any] = loaded.value or {}
        self.items: list[Any] = list(self.value.get("exceptions") or [])
        self.text = _Lines(body)

    def index_of(self, entry_id: str) -> int:
        found = [i for i, item in enumerate(self.items) if _entry_id(item) == entry_id]
        if not found:
            raise EditError(_unknown_ids([entry_id], {_entry_id(i) for i in self.items}))
        if len(found) > 1:
            raise EditError(f"id {entry_id!r} is used by {len(found)} entries; fix that first")
        if self.layout.kind == "flow":
            raise EditError(_FLOW_LIST)
        return found[0]

    def value_with(self, items: list[Any]) -> dict[str, Any]:
        return {**self.value, "exceptions": items}

    def finish(self, expected: dict[str, Any]) -> str:
        """The edited text, after checking that it loads to exactly ``expected``."""
        out = ("\ufeff" if self.bom else "") + str(self.text)
        try:
            got = safeyaml.load(out.removeprefix("\ufeff"), LIMITS).value
        except safeyaml.YAMLError as exc:
            raise EditError(f"the edit would break the file ({exc}); nothing was changed") from None
        if _plain(got) != _plain(expected):
            raise EditError("the edit would not produce the intended file; nothing was changed")
        return out


def _plain(value: Any) -> Any:
    """Values as they compare after loading: ``exceptions: []`` and ``exceptions:`` alike."""
    if isinstance(value, dict):
        out = {k: _plain(v) for k, v in value.items()}
        if "exceptions" in out and out["exceptions"] is None:
            out["exceptions"] = []
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_FLOW_LIST = (
    "the exceptions list is written in flow style ([...]); write one '- id: ...' item per"
    " entry so that the bot can edit entries one by one"
)


def _entry_id(item: Any) -> str | None:
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def _unknown_ids(unknown: list[str], known: set[str | None]) -> str:
    names = sorted(k for k in known if k)
    parts = []
    for entry_id in unknown:
        close = difflib.get_close_matches(entry_id, names, n=1)
        parts.append(f"{entry_id!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"no exception with id {', '.join(parts)} in the file"


def _key_end(lay: Layout) -> int:
    assert lay.key is not None
    return lay.key.end


def _clear_value(text: _Lines, key: FieldLayout, value_start: tuple[int, int]) -> int:
    """Turn ``exceptions: []`` (or ``~``, ``null``, nothing) into ``exceptions:``; its line."""
    line, column = value_start
    end, end_column = key.end, key.end_column
    head = text.get(line)[:column].rstrip()
    tail = text.get(end)[end_column:] if end_column is not None else ""
    tail = tail if tail.strip().startswith("#") else ""
    if end == line and end_column == column:  # nothing written after the colon
        return line
    if not head.strip():  # the value stood on lines of its own
        text.replace(line, end, [])
        return line - 1
    text.replace(line, end, [head + tail])
    return line


# -- values and their YAML text ------------------------------------------------------------------


def _normalise(entry: Mapping[str, Any], *, allow_none: bool = False) -> dict[str, Any]:
    """Field values as they will load from YAML; unknown fields and bad types raise."""
    out: dict[str, Any] = {}
    for key, value in entry.items():
        texts = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(t, str) and _SURROGATE.search(t) for t in texts):
            raise EditError(f"{key} is not valid Unicode text (a lone surrogate)")
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise EditError(f"unknown exception field {key!r}{hint}")
        if value is None:
            if not allow_none:
                continue
            out[key] = None
        elif key in _LISTS:
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise EditError(f"{key} must be a list of text")
            out[key] = list(value)
        elif key == "expires":
            out[key] = _expires_text(value)
        elif isinstance(value, str) or (_is_int(value) and key == "ticket"):
            out[key] = value
        else:
            raise EditError(f"{key} must be text, not {type(value).__name__}")
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expires_text(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise EditError("expires must be a date or a timezone-aware datetime")
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise EditError("expires must be a date, a datetime or text")


def _printable(text: str) -> bool:
    """No control or invisible characters: those are written escaped (``"\\u202e"``)."""
    return not any(unicodedata.category(ch) in _INVISIBLE for ch in text)


def _dump(value: str, style: str | None) -> str:
    out = yaml.safe_dump(
        value,
        allow_unicode=_printable(value),
        width=1 << 30,
        default_style=style,
        default_flow_style=True,
    )
    out = out.removesuffix("\n").removesuffix("\n...")
    return out


def _loads_back(text: str, value: Any) -> bool:
    try:
        return safeyaml.load(text).value == value
    except safeyaml.YAMLError:
        return False


def scalar(value: str | int) -> str:
    """``value`` as a YAML scalar for a block mapping: plain when that reads back the same."""
    if isinstance(value, int):
        return str(value)
    if "\n" not in value and "\r" not in value and _printable(value):
        out = _dump(value, None)
        if "\n" not in out and _loads_back(f"k: {out}", {"k": value}):
            return out
    return _quoted(value)


def _quoted(value: str) -> str:
    out = _dump(value, '"')
    if "\n" in out or not _loads_back(f"k: {out}", {"k": value}):
        raise EditError(f"cannot write {value!r} safely in YAML")
    return out


def _expires_scalar(text: str) -> str:
    # a date or timestamp reads back as the same text unquoted (safeyaml keeps timestamps as text)
    if parse_expires(text) is not None and _loads_back(f"k: {text}", {"k": text}):
        return text
    return scalar(text)


# -- style and rendering -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    dash: int = 2  # column of the entries' ``-``
    key_offset: int = 2  # column of an entry's keys minus the column of its ``-``
    flow_lists: bool = True  # paths: ["a", "b"]
    list_dash_offset: int = 2  # block lists: column of the items' ``-`` minus the key's column
    list_item_offset: int = 2  # block lists: item text column minus its ``-`` column
    blank_between: bool = False  # a blank line between entries


def _style(lay: Layout, text: _Lines) -> _Style:
    """The file's own way of writing entries, read from the entries it already has."""
    base = lay.key.column if lay.key is not None else lay.root_column
    style = _Style(dash=base + 2)
    if lay.kind == "block" and lay.entries:
        style = replace(style, dash=lay.entries[0].dash_column)
    blocks = [e for e in lay.entries if e.block and e.key_column is not None]
    if blocks:
        first = blocks[0]
        assert first.key_column is not None
        style = replace(style, key_offset=max(2, first.key_column - first.dash_column))
    list_field = next((f for e in blocks for f in e.fields if f.key in _LISTS), None)
    if list_field is not None:
        style = _list_style(style, list_field)
    if len(lay.entries) >= 2:
        style = replace(style, blank_between=all(text.blank(e.start - 1) for e in lay.entries[1:]))
    return style


def _list_style(style: _Style, field: FieldLayout) -> _Style:
    if field.flow or field.item_column is None:
        return replace(style, flow_lists=True)
    return replace(
        style,
        flow_lists=False,
        list_dash_offset=max(0, field.item_column - field.column),
        list_item_offset=max(2, field.item_offset or 2),
    )


def _field_lines(key: str, value: Any, column: int, style: _Style) -> list[str]:
    pad = " " * column
    if key in _LISTS:
        if style.flow_lists or not value:
            return [f"{pad}{key}: [{', '.join(_quoted(v) for v in value)}]"]
        dash = " " * (column + style.list_dash_offset) + "-" + " " * (style.list_item_offset - 1)
        return [f"{pad}{key}:", *(dash + scalar(v) for v in value)]
    if key == "expires":
        return [f"{pad}{key}: {_expires_scalar(value)}"]
    return [f"{pad}{key}: {scalar(value)}"]


def _entry_lines(entry: Mapping[str, Any], dash: int, key_offset: int, style: _Style) -> list[str]:
    column = dash + key_offset
    out: list[str] = []
    for key in entry:
        out += _field_lines(key, entry[key], column, style)
    if out:
        out[0] = " " * dash + "-" + " " * (key_offset - 1) + out[0][column:]
    return out


def _ordered(old_keys: list[str], new: Mapping[str, Any]) -> dict[str, Any]:
    """``new``'s fields in the entry's existing order; new fields after their usual predecessor."""
    keys = [k for k in old_keys if k in new]
    for key in FIELDS:
        if key in new and key not in keys:
            before = [k for k in FIELDS[: FIELDS.index(key)] if k in keys]
            at = keys.index(before[-1]) + 1 if before else len(keys)
            keys.insert(at, key)
    keys += [k for k in new if k not in keys]
    return {k: new[k] for k in keys}


def _on_dash_line(entry: EntryLayout, field: FieldLayout) -> bool:
    return entry.first_key_on_dash_line and field.line == entry.start


def _rewrite_entry(
    text: _Lines, entry: EntryLayout, old: dict[str, Any], new: dict[str, Any], style: _Style
) -> None:
    """Rewrite all lines of one entry (flow-style entries, or when its first key goes away)."""
    key_offset = style.key_offset
    if entry.block and entry.key_column is not None:
        key_offset = max(2, entry.key_column - entry.dash_column)
    fields = _ordered(list(old), new)
    lines = _entry_lines(fields, entry.dash_column, key_offset, style)
    text.replace(entry.start, entry.end, lines)


def _rewrite_fields(
    text: _Lines, entry: EntryLayout, new: dict[str, Any], changed: list[str], style: _Style
) -> None:
    """Rewrite only the lines of the changed fields of a block-mapping entry."""
    assert entry.key_column is not None
    edits: list[tuple[float, int, int, list[str]]] = []  # (sort position, start, end, lines)
    inserts: dict[int, list[str]] = {}
    present = [f.key for f in entry.fields]
    for key in changed:
        field = entry.field(key)
        if field is None:
            before = [k for k in FIELDS[: FIELDS.index(key)] if k in present and k in new]
            anchor = entry.field(before[-1]) if before else None
            after = anchor.end if anchor is not None else entry.end
            inserts.setdefault(after, []).extend(
                _field_lines(key, new[key], entry.key_column, style)
            )
        elif key not in new:
            edits.append((field.line, field.line, field.end, []))
        else:
            field_style = _list_style(style, field) if key in _LISTS else style
            lines = _field_lines(key, new[key], field.column, field_style)
            lines[0] = text.get(field.line)[: field.column] + lines[0][field.column :]
            if field.end_column is not None:
                tail = text.get(field.end)[field.end_column :]
                if _TRAILING_COMMENT.fullmatch(tail):
                    lines[-1] += tail
            edits.append((field.line, field.line, field.end, lines))
    for after, lines in inserts.items():
        edits.append((after + 0.5, after + 1, after, lines))
    for _, start, end, lines in sorted(edits, key=lambda e: e[0], reverse=True):
        if end < start:
            text.insert(end, lines)
        else:
            text.replace(start, end, lines)
