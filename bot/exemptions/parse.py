"""Reading ``.compliance/exceptions.yaml`` into an ``ExemptionsFile`` and line-precise problems.

The file comes from a repository and may be hostile or broken. Parsing fails closed at two levels:

- the file as a whole is unusable (invalid YAML, duplicate keys, anchors or aliases, custom tags,
  too big or too deep, not ``version: 1`` with an ``exceptions`` list): ``parse`` returns ``None``
  and the problems; no exception in it applies;
- one entry breaks the schema or shares its id with another: that entry (both, for a shared id)
  is reported and left out, and the rest of the file stays usable.

Rules that need the policies or the clock (unknown policy, deadlines, scope tricks) belong to
``validate``. This module does no I/O and never looks at the time.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from bot import safeyaml
from bot.exemptions import layout as layout_mod
from bot.exemptions.model import (
    DEFAULT_SOURCE,
    FIELDS,
    ID_PATTERN,
    ExemptionEntry,
    ExemptionsFile,
    Problem,
    parse_expires,
)

if TYPE_CHECKING:  # imported when a schema is first needed: it slows start-up
    import jsonschema

SCHEMA = "exceptions.schema.json"
LIMITS = safeyaml.Limits(max_bytes=1_000_000, max_depth=16, max_values=25_000)
"""What one exceptions file may cost to load: safeyaml's STRICT limits, tighter on depth and
values. The file needs a depth of 4; 25,000 values are about 2,000 entries. A hostile file is
refused within a few milliseconds and megabytes (``benchmarks/hostile_yaml.py``)."""
_READER_POSITION = re.compile(r'\s*in "<[^>]*>", position \d+$')
_SURROGATE = re.compile("[\ud800-\udfff]")
_READER_CHAR = re.compile(r"unacceptable character #x([0-9a-fA-F]+)")
FILE_SHAPE = "the exceptions file must be a mapping with 'version: 1' and an 'exceptions' list"


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    text = resources.files("bot.schemas").joinpath(SCHEMA).read_text("utf-8")
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(text))


def parse(text: str, source: str = DEFAULT_SOURCE) -> tuple[ExemptionsFile | None, list[Problem]]:
    """The usable file (or ``None``) and every problem found, sorted by line.

    An empty file (nothing but comments) is a valid file with no entries.
    """
    limits = LIMITS
    if len(text) > limits.max_bytes:  # cheap refusal before anything copies the text
        message = f"file is {len(text):,} characters, more than the {limits.max_bytes:,} allowed"
        return None, [Problem(1, message, code="yaml", source=source)]
    surrogate = _SURROGATE.search(text)
    if surrogate:  # not text that came from UTF-8; libyaml would fail to encode it
        line = text.count("\n", 0, surrogate.start()) + 1
        message = "not valid UTF-8 text (a lone surrogate)"
        return None, [Problem(line, message, code="yaml", source=source)]
    try:
        doc = safeyaml.load(text, limits)
    except safeyaml.YAMLError as exc:
        line, message = exc.line, exc.reason
        found = _READER_POSITION.search(message)
        if found:  # libyaml's reader names a byte offset, not a line: find the character
            message = message[: found.start()].rstrip()
            char = _READER_CHAR.search(message)
            where = text.find(chr(int(char[1], 16))) if char else -1
            if line is None and where >= 0:
                line = text.count("\n", 0, where) + 1
        return None, [Problem(line or 1, message, code="yaml", source=source)]
    if doc.value is None:
        return ExemptionsFile(1, (), source), []
    if not isinstance(doc.value, dict):
        return None, [Problem(doc.line, FILE_SHAPE, code="file", source=source)]

    errors = list(_validator().iter_errors(doc.value))
    file_errors = [_file_problem(e, doc, source) for e in errors if not _in_entry(e)]
    # a file-level error makes the file unusable, but its entries are still checked so that one
    # run reports every problem
    items: list[Any] = doc.value.get("exceptions") or []
    if not isinstance(items, list):
        items = []
    positions = _positions(text, len(items))
    entry_errors: dict[int, list[Problem]] = {}
    for err in filter(_in_entry, errors):
        index = err.absolute_path[1]
        start = _item_line(doc, index, positions)
        entry_errors.setdefault(index, []).extend(
            _entry_problem(err, doc, index, start, source, _label(items, index))
        )
    for index, item in enumerate(items):
        entry_id = item.get("id") if isinstance(item, dict) else None
        flagged = any(p.field == "id" for p in entry_errors.get(index, ()))
        if isinstance(entry_id, str) and not ID_PATTERN.fullmatch(entry_id) and not flagged:
            # JSON Schema's ``$`` also matches before a final newline; Python's fullmatch doesn't
            line = doc.line_of(["exceptions", index, "id"]) or doc.line
            message = f"{_label(items, index)}: {_ID_RULE} (got {entry_id!r})"
            entry_errors.setdefault(index, []).append(
                Problem(line, message, _str_id(item), "id", "schema", source)
            )

    for index, item in enumerate(items):
        if index in entry_errors or not isinstance(item, dict):
            continue
        expires = item.get("expires")
        if isinstance(expires, str) and parse_expires(expires) is None:
            line = doc.line_of(["exceptions", index, "expires"]) or doc.line
            message = (
                f"{_label(items, index)}: expires {expires!r} is not a real date or time"
                " (YYYY-MM-DD, or an RFC 3339 timestamp such as 2026-12-31T18:00:00Z)"
            )
            entry_errors[index] = [
                Problem(line, message, _str_id(item), "expires", "expires-malformed", source)
            ]

    problems, duplicates = _duplicate_ids(doc, items, positions, source)
    entries: list[ExemptionEntry] = []
    dropped: list[str] = []
    broken: list[tuple[ExemptionEntry, frozenset[str]]] = []
    for index, item in enumerate(items):
        start = _item_line(doc, index, positions)
        end = positions[index][1] if positions else start
        if index in entry_errors or index in duplicates:
            problems.extend(entry_errors.get(index, ()))
            dropped.append(_str_id(item) or f"entry {index + 1} (line {start})")
            if index not in duplicates and _reads_as_entry(item):
                refused = frozenset(p.field or "" for p in entry_errors[index])
                lines = _field_lines(doc, index, item)
                entry = ExemptionEntry.from_mapping(
                    item, line=start, end_line=end, field_lines=lines
                )
                broken.append((entry, refused))
            continue
        lines = _field_lines(doc, index, item)
        entries.append(
            ExemptionEntry.from_mapping(item, line=start, end_line=end, field_lines=lines)
        )
    if file_errors:
        return None, sorted(set(file_errors) | set(problems), key=_order)
    file = ExemptionsFile(1, tuple(entries), source, tuple(dropped), tuple(broken))
    return file, sorted(problems, key=_order)


def _reads_as_entry(item: Any) -> bool:
    """Whether an entry the schema refused still has the shape the semantic rules read."""
    if not isinstance(item, dict):
        return False
    texts = [item.get(k) for k in ("id", "policy", "reason", "expires")]
    paths, resources = item.get("paths"), item.get("resources") or []
    return (
        all(isinstance(t, str) for t in texts)
        and parse_expires(item["expires"]) is not None
        and isinstance(paths, list)
        and isinstance(resources, list)
        and all(isinstance(p, str) for p in [*paths, *resources])
    )


def _duplicate_ids(
    doc: safeyaml.Document,
    items: list[Any],
    positions: Sequence[tuple[int, int]],
    source: str,
) -> tuple[list[Problem], set[int]]:
    """Every entry whose id is shared is reported and dropped: which one was meant is unknowable."""
    by_id: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        entry_id = _str_id(item)
        if entry_id is not None:
            by_id.setdefault(entry_id, []).append(index)
    problems: list[Problem] = []
    dropped: set[int] = set()
    for entry_id, indexes in by_id.items():
        if len(indexes) < 2:
            continue
        dropped.update(indexes)
        lines = [_item_line(doc, i, positions) for i in indexes]
        id_lines = [doc.line_of(["exceptions", i, "id"]) or lines[n] for n, i in enumerate(indexes)]
        again = ", ".join(str(line) for line in lines[1:])
        problems.append(
            Problem(
                id_lines[0],
                f"exception {entry_id}: id used again on line {again};"
                " neither entry applies until the ids differ",
                entry_id,
                "id",
                "duplicate-id",
                source,
            )
        )
        for n in range(1, len(indexes)):
            problems.append(
                Problem(
                    id_lines[n],
                    f"exception {entry_id}: duplicate id, first used on line {lines[0]};"
                    " neither entry applies until the ids differ",
                    entry_id,
                    "id",
                    "duplicate-id",
                    source,
                )
            )
    return problems, dropped


# -- lines ---------------------------------------------------------------------------------------


def _positions(text: str, count: int) -> list[tuple[int, int]]:
    """(first, last) line of each entry, from the text's layout; [] if it can't be worked out."""
    try:
        found = layout_mod.layout(text)
    except yaml.YAMLError:  # pragma: no cover - safeyaml already loaded the same text
        return []
    if len(found.entries) != count:  # pragma: no cover - same sequence, same length
        return []
    return [(e.start, e.end) for e in found.entries]


def _item_line(
    doc: safeyaml.Document, index: int, positions: Sequence[tuple[int, int]] | None
) -> int:
    if positions:
        return positions[index][0]
    return doc.line_of(["exceptions", index]) or doc.line


def _field_lines(
    doc: safeyaml.Document, index: int, item: dict[str, Any]
) -> tuple[tuple[str, int], ...]:
    out: list[tuple[str, int]] = []
    for key, value in item.items():
        line = doc.line_of(["exceptions", index, key])
        if line:
            out.append((key, line))
        if isinstance(value, list):
            for i in range(len(value)):
                line = doc.line_of(["exceptions", index, key, i])
                if line:
                    out.append((f"{key}[{i}]", line))
    return tuple(out)


def _order(problem: Problem) -> tuple[int, str]:
    return (problem.line, problem.message)


# -- messages ------------------------------------------------------------------------------------

_ID_RULE = "id may use only letters, digits, '.', '_' and '-', at most 64 characters"
_TYPE_WORDS = {
    "string": "text",
    "array": "a list",
    "object": "a mapping",
    "integer": "a whole number",
    "null": "empty",
}


def _missing(err: jsonschema.ValidationError) -> str:
    """The property a ``required`` error is about (jsonschema reports one error per property)."""
    match = re.fullmatch(r"'(.+)' is a required property", err.message)
    return match.group(1) if match else str(err.validator_value)


def _str_id(item: Any) -> str | None:
    entry_id = item.get("id") if isinstance(item, dict) else None
    return entry_id if isinstance(entry_id, str) and entry_id else None


def _label(items: Any, index: int) -> str:
    item = items[index] if isinstance(items, list) and index < len(items) else None
    entry_id = _str_id(item)
    if entry_id is not None and ID_PATTERN.fullmatch(entry_id):
        return f"exception {entry_id}"
    return f"exception #{index + 1}"


def _kind_of(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _expected(types: str | Iterable[str]) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_WORDS.get(t, t) for t in names)


def _where(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _in_entry(err: jsonschema.ValidationError) -> bool:
    path = err.absolute_path
    return len(path) >= 2 and path[0] == "exceptions" and isinstance(path[1], int)


def _entry_problem(
    err: jsonschema.ValidationError,
    doc: safeyaml.Document,
    index: int,
    start: int,
    source: str,
    label: str,
) -> list[Problem]:
    path = list(err.absolute_path)
    rel = path[2:]
    field = str(rel[0]) if rel else None
    where = _where(rel)
    line = (doc.line_of(path) or doc.line) if rel else start
    entry_id = _str_id(doc.value["exceptions"][index])
    v, inst = err.validator, err.instance

    def problem(message: str, at: int = line, name: str | None = field) -> Problem:
        return Problem(at, f"{label}: {message}", entry_id, name, "schema", source)

    if v == "additionalProperties" and isinstance(inst, dict):
        out = []
        for key in inst:
            if key in FIELDS:
                continue
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (fields: {', '.join(FIELDS)})"
            at = doc.line_of([*path, key]) or line
            out.append(problem(f"unknown field '{key}'{hint}", at, str(key)))
        return out
    if v == "required":
        name = _missing(err)
        return [problem(f"missing required field '{name}'", line, name)]
    if field == "expires" and v in ("anyOf", "pattern", "type"):
        return [
            problem(
                f"expires {inst!r} is not a date (YYYY-MM-DD) or an RFC 3339 timestamp"
                " with an offset (2026-12-31T18:00:00Z)"
            )
        ]
    if v == "type":
        if not rel:
            return [problem(f"each exception must be a mapping of fields, not {_kind_of(inst)}")]
        return [problem(f"{where} must be {_expected(err.validator_value)}, not {_kind_of(inst)}")]
    if field == "id" and v == "pattern":
        return [problem(f"{_ID_RULE} (got {inst!r})")]
    if field == "policy" and v == "pattern":
        return [problem(f"policy {inst!r} must be one policy id, without wildcards or spaces")]
    if field == "resources" and v == "pattern":
        return [problem(f"{where} {inst!r} is not Kind/name or Kind/namespace/name")]
    if field == "reason" and v == "minLength":
        return [problem(f"reason must be at least 20 characters saying why (got {len(inst)})")]
    if v == "minItems":
        if field == "paths":
            return [problem("paths needs at least one glob, e.g. deploy/app/**")]
        return [problem(f"{where}, when given, needs at least one item (or leave it out)")]
    if v == "minLength":
        return [problem(f"{where} must not be empty")]
    if v in ("maxLength", "maxItems"):
        return [problem(f"{where} is too long ({err.message})")]
    return [problem(f"{where or 'entry'}: {err.message}")]


def _file_problem(err: jsonschema.ValidationError, doc: safeyaml.Document, source: str) -> Problem:
    path = list(err.absolute_path)
    line = doc.line_of(path) or doc.line
    v, inst = err.validator, err.instance
    if v == "required":
        message = f"missing '{_missing(err)}'; {FILE_SHAPE}"
    elif v == "additionalProperties":
        extra = [k for k in inst if k not in ("version", "exceptions")]
        line = doc.line_of([extra[0]]) or line if extra else line
        names = ", ".join(f"'{k}'" for k in extra)
        message = f"unknown top-level field {names}; {FILE_SHAPE}"
    elif path == ["version"]:
        message = f"version must be 1 (got {inst!r}); this bot reads version 1 files"
    elif path == ["exceptions"]:
        message = f"exceptions must be a list, not {_kind_of(inst)}"
    else:
        message = f"{_where(path) or '(top level)'}: {err.message}"
    return Problem(line, message, code="file", source=source)
