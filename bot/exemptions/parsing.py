"""Reading ``.compliance/exceptions.yaml`` into an ``ExemptionsFile`` and line-precise problems.

The file comes from a repository and may be hostile or broken. Parsing fails closed at two levels:

- the file as a whole is unusable (invalid YAML, a top-level key written twice, anchors or aliases,
  custom tags, too big or too deep, not ``version: 1`` with an ``exceptions`` list): ``parse``
  returns ``None`` and the problems; no exception in it applies;
- one entry breaks the schema, writes a key twice, or shares its id with another: that entry
  (both, for a shared id) is reported and left out, and the rest of the file stays usable.

Either way the whole file is still read, so that one run reports every problem: a repeated key is
recorded rather than fatal, and an entry that is left out is still handed to ``validate`` (as
``ExemptionsFile.broken``) for the problems of its other fields.

Rules that need the policies or the clock (unknown policy, deadlines, scope tricks) belong to
``validate``. This module does no I/O and never looks at the time.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml

from bot import safeyaml, schemas
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
        doc = safeyaml.load(text, limits, record_duplicates=True)
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
        shape = Problem(doc.line, FILE_SHAPE, code="file", source=source)
        repeated = [_repeated_key(d, source) for d in doc.duplicates]
        return None, sorted([shape, *repeated], key=_order)

    _join_exception_lists(doc)
    errors = schemas.errors(SCHEMA, doc.value, text)
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
    owners = _owners(doc, items)
    for dup in doc.duplicates:
        owner = owners.get(id(dup.mapping))
        if owner is None:  # at the top level, or outside the entries: the file is unusable
            file_errors.append(_repeated_key(dup, source))
            continue
        index, name = owner
        entry_errors.setdefault(index, []).append(
            _repeated_key(dup, source, _label(items, index), _str_id(items[index]), name)
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
        if not isinstance(item, dict) or any(
            p.field == "expires" for p in entry_errors.get(index, ())
        ):
            continue
        expires = item.get("expires")
        if isinstance(expires, str) and parse_expires(expires) is None:
            line = doc.line_of(["exceptions", index, "expires"]) or doc.line
            message = (
                f"{_label(items, index)}: expires {expires!r} is not a real date or time"
                " (YYYY-MM-DD, or an RFC 3339 timestamp such as 2026-12-31T18:00:00Z)"
            )
            entry_errors.setdefault(index, []).append(
                Problem(line, message, _str_id(item), "expires", "expires-malformed", source)
            )

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
            if index not in duplicates and isinstance(item, dict):
                refused = frozenset(p.field or "" for p in entry_errors[index])
                lines = _field_lines(doc, index, item)
                readable = _broken_entry(item, line=start, end_line=end, field_lines=lines)
                if readable is not None:
                    broken.append((readable[0], refused | readable[1]))
            continue
        lines = _field_lines(doc, index, item)
        entries.append(
            ExemptionEntry.from_mapping(item, line=start, end_line=end, field_lines=lines)
        )
    if file_errors:
        return None, sorted(set(file_errors) | set(problems), key=_order)
    file = ExemptionsFile(1, tuple(entries), source, tuple(dropped), tuple(broken))
    return file, sorted(problems, key=_order)


_NEVER = datetime.max.replace(tzinfo=UTC)


def _broken_entry(
    item: Any, *, line: int, end_line: int, field_lines: tuple[tuple[str, int], ...]
) -> tuple[ExemptionEntry, frozenset[str]] | None:
    """An entry that was left out, as far as it reads, and the fields that had to stand in.

    Only ``validate`` sees it, for the problems of the fields that do read. A field that is
    missing or of the wrong type stands in as empty, an unreadable deadline as never; the rules
    of those fields are not run. ``None`` for an entry without an id to name its problems by.
    """
    if not isinstance(item, dict) or _str_id(item) is None:
        return None
    data = dict(item)
    stand_ins: set[str] = set()
    for name in ("policy", "reason"):
        if not isinstance(data.get(name), str):
            data[name] = ""
            stand_ins.add(name)
    for name in ("paths", "resources"):
        value = data.get(name)
        if value is None and name == "resources":  # optional
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            data[name] = []
            stand_ins.add(name)
    for name in ("ticket", "requested_by"):
        if not isinstance(data.get(name), str | None):
            data[name] = None
            stand_ins.add(name)
    expires = data.get("expires")
    if isinstance(expires, str) and parse_expires(expires) is not None:
        entry = ExemptionEntry.from_mapping(
            data, line=line, end_line=end_line, field_lines=field_lines
        )
        return entry, frozenset(stand_ins)
    data["expires"] = "2000-01-01"  # replaced just below: from_mapping needs a real deadline
    entry = ExemptionEntry.from_mapping(data, line=line, end_line=end_line, field_lines=field_lines)
    text = expires if isinstance(expires, str) else ""
    entry = dataclasses.replace(entry, expires=_NEVER, expires_text=text)
    return entry, frozenset({*stand_ins, "expires"})


def _join_exception_lists(doc: safeyaml.Document) -> None:
    """Read ``exceptions`` written twice (two lists, say after a merge) as one list.

    The repeated key makes the file unusable either way; joining the lists only lets every
    entry, in both, be checked in the same run.
    """
    repeats = [d for d in doc.duplicates if d.mapping is doc.value and d.key == "exceptions"]
    parts = [doc.value.get("exceptions"), *(d.value for d in repeats)]
    if not repeats or not all(part is None or isinstance(part, list) for part in parts):
        return
    joined: list[Any] = []
    table: dict[Any, int] = {}
    for part in parts:
        lines = doc.lines.get(id(part), {}) if part is not None else {}
        for i, item in enumerate(part or ()):
            if i in lines:
                table[len(joined)] = lines[i]
            joined.append(item)
    doc.value["exceptions"] = joined
    doc.lines[id(joined)] = table


def _owners(doc: safeyaml.Document, items: list[Any]) -> dict[int, tuple[int, str | None]]:
    """For each mapping a repeated key was written in, when it lies in an entry: ``id(mapping)``
    -> (the entry's index, the entry's field that holds it, or ``None`` for the entry itself)."""
    if not doc.duplicates:
        return {}
    owners: dict[int, tuple[int, str | None]] = {}
    for index, item in enumerate(items):
        if isinstance(item, dict):
            owners[id(item)] = (index, None)
            for key, value in item.items():
                owners.update((id(m), (index, str(key))) for m in _mappings(value))
    # a repeated key's value is not in the document, so the keys repeated inside it belong to
    # whatever holds the repeated key; they were recorded before it, hence the reverse order
    for dup in reversed(doc.duplicates):
        owner = owners.get(id(dup.mapping))
        if owner is not None:
            index, name = owner
            held = (index, name or str(dup.key))
            owners.update((id(m), held) for m in _mappings(dup.value))
    return owners


def _mappings(value: Any) -> Iterator[dict[Any, Any]]:
    """Every mapping in ``value``, itself included (depth is bounded by ``LIMITS``)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _repeated_key(
    dup: safeyaml.DuplicateKey,
    source: str,
    label: str | None = None,
    entry_id: str | None = None,
    name: str | None = None,
) -> Problem:
    """A key written twice: in an entry (``label``) the entry is left out, else the file is."""
    message = f"duplicate key {dup.key!r} (first defined on line {dup.first_line})"
    if label is None:
        return Problem(dup.line, message, code="yaml", source=source)
    message = f"{label}: {message}; it does not apply until each key is written once"
    return Problem(dup.line, message, entry_id, name or str(dup.key), "duplicate-key", source)


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
    if len(found.entries) != count:  # ``exceptions`` written twice: see _join_exception_lists
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


def _scalar(value: Any) -> bool:
    """Text or a number: what a message may quote as written (not a list's Python repr)."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    """A value as a message quotes it: text quoted, a number or boolean as written (in YAML's
    words), anything else by its kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if _scalar(value) else _kind_of(value)


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
            import difflib  # (only for a mistyped field: not at every start)

            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (fields: {', '.join(FIELDS)})"
            at = doc.line_of([*path, key]) or line
            out.append(problem(f"unknown field '{key}'{hint}", at, str(key)))
        return out
    if v == "required":
        name = _missing(err)
        return [problem(f"missing required field '{name}'", line, name)]
    if field == "expires" and v in ("anyOf", "pattern", "type"):
        wanted = "a date (YYYY-MM-DD) or an RFC 3339 timestamp with an offset"
        example = " (2026-12-31T18:00:00Z)"
        if _scalar(inst):
            return [problem(f"expires {inst!r} is not {wanted}{example}")]
        return [problem(f"expires must be {wanted}{example}, not {_kind_of(inst)}")]
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
    if v in ("maxLength", "maxItems"):  # the schema's limits are all well above one
        unit = "characters" if v == "maxLength" else "items"
        limit = err.validator_value
        return [problem(f"{where} is too long: at most {limit} {unit} (got {len(inst)})")]
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
        message = f"version must be 1 (got {_shown(inst)}); this bot reads version 1 files"
    elif path == ["exceptions"]:
        message = f"exceptions must be a list, not {_kind_of(inst)}"
    else:
        message = f"{_where(path) or '(top level)'}: {err.message}"
    return Problem(line, message, code="file", source=source)
