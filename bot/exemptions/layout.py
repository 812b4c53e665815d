"""Where each exception entry, and each of its fields, sits in the text of the exceptions file.

``parse`` uses it to give every entry its first and last line; ``edit`` uses it to rewrite only
the lines of the entries it touches. It must only be given text that ``bot.safeyaml`` has already
loaded under ``parse.LIMITS``: that is what bounds its size and depth and rules out aliases and
custom tags, so composing the YAML nodes here is cheap and safe. It reads positions only, never
values (``safeyaml`` does that), and does no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML wheels ship libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

# The line breaks YAML (and libyaml's marks) count; lone CR, NEL, LS and PS included.
_YAML_BREAK = re.compile(r"\r\n|\r|\n|\x85|\u2028|\u2029")
_NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class FieldLayout:
    """``key: value`` of one entry. Lines are 1-based, columns 0-based."""

    key: str
    line: int  # line of the key
    column: int  # column of the key
    end: int  # last line of the value (trailing blank lines excluded)
    end_column: int | None  # column just after the value on ``end``, when the value ends there
    flow: bool  # the value is a flow collection or a scalar (not a block list)
    item_column: int | None = None  # block list value: column of its items' ``-``
    item_offset: int | None = None  # block list value: item text column minus ``-`` column


@dataclass(frozen=True)
class EntryLayout:
    index: int
    start: int  # line of the entry's ``-`` (or of its first character in a flow list)
    end: int  # last line holding the entry's content
    dash_column: int
    block: bool  # the entry is a block mapping (``- id: ...`` over several lines)
    key_column: int | None  # column of the entry's keys, for a block mapping
    first_key_on_dash_line: bool
    fields: tuple[FieldLayout, ...]

    def field(self, key: str) -> FieldLayout | None:
        return next((f for f in self.fields if f.key == key), None)


ListKind = Literal["block", "flow", "null", "missing", "other"]


@dataclass(frozen=True)
class Layout:
    lines: tuple[str, ...]  # the text split as YAML counts lines, without line breaks
    root_flow: bool  # the top-level mapping is written ``{...}``
    root_column: int
    kind: ListKind  # how ``exceptions`` is written
    key: FieldLayout | None  # the ``exceptions:`` key and its value
    value_start: tuple[int, int] | None  # (line, column) where the value starts
    entries: tuple[EntryLayout, ...]
    empty_document: bool


def split_lines(text: str) -> list[str]:
    return _YAML_BREAK.split(text)


def _end_of(node: yaml.Node, lines: list[str]) -> tuple[int, int | None]:
    """(last line, column after the value on that line or None) of a node's text."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        mark = node.end_mark
        if mark.column == 0 and mark.line > node.start_mark.line:
            line, column = mark.line, None  # ended with a line break (block scalars do)
        else:
            line, column = mark.line + 1, mark.column
    else:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                children += [k, v]
        else:
            children = list(node.value)
        if not children:
            return node.start_mark.line + 1, None
        line, column = max((_end_of(c, lines) for c in children), key=lambda e: e[0])
    start = node.start_mark.line + 1
    trimmed = line
    while trimmed > start and not lines[trimmed - 1].strip():
        trimmed -= 1
    return trimmed, (column if trimmed == line else None)


def _field(key: yaml.Node, value: yaml.Node, lines: list[str]) -> FieldLayout:
    end, end_column = _end_of(value, lines)
    end = max(end, key.start_mark.line + 1)
    block_list = isinstance(value, yaml.SequenceNode) and not value.flow_style and value.value
    item_column = item_offset = None
    if block_list:
        item_column = value.start_mark.column
        first = value.value[0]
        if first.start_mark.line == value.start_mark.line:
            item_offset = first.start_mark.column - item_column
    return FieldLayout(
        key=str(key.value),
        line=key.start_mark.line + 1,
        column=key.start_mark.column,
        end=end,
        end_column=end_column,
        flow=not block_list,
        item_column=item_column,
        item_offset=item_offset,
    )


def _is_dash_line(text: str, column: int) -> bool:
    if text[:column].strip() or text[column : column + 1] != "-":
        return False
    rest = text[column + 1 :]
    return not rest or rest[0] in " \t"


def _dash_line(lines: list[str], item: yaml.Node, column: int) -> int:
    """The line of the ``-`` that introduces ``item`` (it may stand alone above the item)."""
    line = item.start_mark.line
    if _is_dash_line(lines[line], column):
        return line + 1
    for candidate in range(line - 1, -1, -1):
        text = lines[candidate]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        stripped = text[column + 1 :].strip()
        if _is_dash_line(text, column) and (not stripped or stripped.startswith("#")):
            return candidate + 1
        break
    return line + 1


def _entry(index: int, item: yaml.Node, dash_column: int, lines: list[str]) -> EntryLayout:
    start = _dash_line(lines, item, dash_column)
    end, _ = _end_of(item, lines)
    block = isinstance(item, yaml.MappingNode) and not item.flow_style
    fields: list[FieldLayout] = []
    key_column = None
    on_dash_line = False
    if block:
        fields = [_field(k, v, lines) for k, v in item.value]
        key_column = item.start_mark.column
        on_dash_line = item.start_mark.line + 1 == start
    return EntryLayout(
        index=index,
        start=start,
        end=max(end, start),
        dash_column=dash_column,
        block=block,
        key_column=key_column,
        first_key_on_dash_line=on_dash_line,
        fields=tuple(fields),
    )


def layout(text: str) -> Layout:
    """Positions of the ``exceptions`` list and its entries. Raises ``yaml.YAMLError``."""
    lines = split_lines(text)
    root = yaml.compose(text, Loader=_Loader)
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG):
        return Layout(tuple(lines), False, 0, "missing", None, None, (), True)
    if not isinstance(root, yaml.MappingNode):
        return Layout(tuple(lines), False, 0, "other", None, None, (), False)
    found = next(
        (
            (k, v)
            for k, v in root.value
            if isinstance(k, yaml.ScalarNode) and k.value == "exceptions"
        ),
        None,
    )
    lines_t = tuple(lines)
    root_flow = bool(root.flow_style)
    root_column = root.start_mark.column
    if found is None:
        return Layout(lines_t, root_flow, root_column, "missing", None, None, (), False)
    key, value = found
    key_layout = _field(key, value, lines)
    value_start = (value.start_mark.line + 1, value.start_mark.column)
    kind: ListKind
    entries: tuple[EntryLayout, ...] = ()
    if isinstance(value, yaml.SequenceNode):
        kind = "flow" if value.flow_style else "block"
        column = value.start_mark.column
        entries = tuple(_entry(i, item, column, lines) for i, item in enumerate(value.value))
    elif isinstance(value, yaml.ScalarNode) and value.tag == _NULL_TAG:
        kind = "null"
    else:
        kind = "other"
    return Layout(lines_t, root_flow, root_column, kind, key_layout, value_start, entries, False)
