"""Safe, line-aware YAML loading for everything the bot reads from a repository.

Every YAML document the bot reads (policies, the exceptions file, repo config, manifests in a pull
request) comes from people who may be hostile. This module turns YAML text into plain JSON-like
Python values (dict, list, str, int, float, bool, None) while

- remembering the line of every mapping key and sequence item, so findings and errors can name it;
- refusing duplicate mapping keys (YAML says they are an error; PyYAML silently keeps the last),
  or, for a validator that must report every problem in one run, recording each with its lines;
- refusing custom tags (``!foo``, ``!!python/object``) and, in strict mode, anchors and aliases;
- bounding input size, nesting depth and the number of values an alias may expand to, so the
  "billion laughs" and deep-nesting attacks fail fast instead of eating memory or the stack.

It builds values straight from the parser's event stream (libyaml when available), so no
recursion happens in Python or C and nothing is constructed twice. It must not do I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events as ev

try:  # libyaml's parser is about 10x faster; the pure-Python one is the fallback
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML wheels ship libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_resolver = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"
_ALLOWED_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:binary",
    "tag:yaml.org,2002:merge",
}
_INT_PREFIX = re.compile(r"^[-+]?0(?P<base>[box])", re.IGNORECASE)
# (the event classes, looked up once: ``feed`` compares each event's type with them)
_ScalarEvent, _MappingStartEvent, _MappingEndEvent = (
    ev.ScalarEvent, ev.MappingStartEvent, ev.MappingEndEvent
)  # fmt: skip
_SequenceStartEvent, _SequenceEndEvent = ev.SequenceStartEvent, ev.SequenceEndEvent


@dataclass(frozen=True)
class Limits:
    """Bounds on what one text may cost to load."""

    max_bytes: int = 1_000_000
    max_depth: int = 64
    max_values: int = 200_000  # scalars + containers, counting alias expansions
    allow_aliases: bool = False


STRICT = Limits()
"""For the bot's own files (policies, exceptions, config): small, no anchors or aliases."""

MANIFEST = Limits(max_bytes=5_000_000, max_depth=100, max_values=2_000_000, allow_aliases=True)
"""For files under review: bigger, and anchors allowed as long as they don't explode."""


class YAMLError(ValueError):
    """A document could not be loaded; ``line`` is 1-based, ``None`` when not known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.reason = message
        self.line = line


@dataclass(frozen=True)
class DuplicateKey:
    """A key written again in the same mapping, recorded instead of refused (``record_duplicates``).

    The mapping keeps the first value; the repeated one is only kept here, so that a validator
    can still look into it.
    """

    key: Any
    line: int  # 1-based line of the repeated key
    first_line: int  # line where the mapping first has the key
    mapping: dict[Any, Any] = field(compare=False, repr=False)  # the mapping that repeats it
    value: Any = field(compare=False, repr=False)  # the repeated key's value, left out of it


@dataclass
class Document:
    """One loaded YAML document: its value and where each part of it came from."""

    value: Any
    line: int  # 1-based line where the document's content starts
    end_line: int
    lines: dict[int, dict[Any, int]] = field(default_factory=dict, repr=False)
    # id(container) -> {key or index: 1-based line}; containers are kept alive by ``value``
    # (or, for a repeated key's value, by ``duplicates``)
    duplicates: list[DuplicateKey] = field(default_factory=list)
    # in the order their values ended; always empty unless loaded with ``record_duplicates``

    def line_of(self, path: str | list[Any] | tuple[Any, ...] | None) -> int | None:
        """The line of a field given as ``a.b[0].c`` (or as a list of keys); ``None`` if absent."""
        if path is None:
            return None
        parts = split_path(path) if isinstance(path, str) else path
        node, found = self.value, self.line
        lines = self.lines
        for part in parts:
            table = lines.get(id(node))
            line = table.get(part) if table is not None else None
            if line is None:
                return found if found else None
            found = line
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
        return found


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")


def split_path(path: str) -> list[Any]:
    """``spec.containers[0]["a.b"]`` -> ``["spec", "containers", 0, "a.b"]``."""
    parts: list[Any] = []
    for name, index, dq, sq in _PATH_TOKEN.findall(path):
        if index:
            parts.append(int(index))
        else:
            parts.append(name or dq or sq)
    return parts


def load_all(
    text: str | bytes, limits: Limits = STRICT, *, record_duplicates: bool = False
) -> list[Document]:
    """Load every document of a YAML stream. Raises :class:`YAMLError` naming the line.

    A duplicate mapping key is an error, unless ``record_duplicates``: then each is listed in
    its document's ``duplicates`` (the mapping keeping the first value) and loading goes on.
    """
    return list(iter_documents(text, limits, record_duplicates=record_duplicates))


def load(
    text: str | bytes, limits: Limits = STRICT, *, record_duplicates: bool = False
) -> Document:
    """Load a stream that must hold exactly one document (an empty stream is ``None``)."""
    docs = load_all(text, limits, record_duplicates=record_duplicates)
    if len(docs) > 1:
        raise YAMLError("expected one YAML document, found several", docs[1].line)
    if not docs:
        return Document(value=None, line=1, end_line=1)
    return docs[0]


def iter_documents(
    text: str | bytes, limits: Limits = STRICT, *, record_duplicates: bool = False
) -> Iterator[Document]:
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > limits.max_bytes:
        raise YAMLError(f"document is {size:,} bytes, more than the {limits.max_bytes:,} allowed")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YAMLError(f"not UTF-8 text (byte {exc.start})") from None
    builder = _Builder(limits, record_duplicates)
    parser = None
    try:
        # yaml.parse's loop without its generator: one call into libyaml per event, not two
        parser = _Loader(text)
        event = parser.get_event()
        while event is not None:
            doc = builder.feed(event)
            if doc is not None:
                yield doc
            event = parser.get_event()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YAMLError(f"invalid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise YAMLError(f"invalid YAML: {exc}") from None
    finally:
        if parser is not None:
            parser.dispose()


class _Frame:
    __slots__ = ("anchor", "container", "key", "key_line", "line", "merged", "start", "table")

    def __init__(self, container: Any, line: int, anchor: str | None, start: int) -> None:
        self.container = container
        self.line = line
        self.anchor = anchor
        self.start = start  # value count when the container opened, to price its anchor
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.table: dict[Any, int] = {}
        # keys that came from a << merge, which explicit keys override (made by the first merge)
        self.merged: set[Any] | None = None


_NO_KEY = object()


class _Builder:
    """Turns parser events into values; one instance per stream."""

    def __init__(self, limits: Limits, record_duplicates: bool = False) -> None:
        self.limits = limits
        self.record_duplicates = record_duplicates
        self.duplicates: list[DuplicateKey] = []
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # name -> (value, value count)
        self.lines: dict[int, dict[Any, int]] = {}
        self.values = 0
        self.root: Any = None
        self.doc_line = 1

    # -- events ------------------------------------------------------------------------------
    def feed(self, event: ev.Event) -> Document | None:
        # The parser makes exactly these classes; testing the type once, most frequent first,
        # costs less than a chain of isinstance calls on every one of a file's events. The
        # usual scalar (plain, short, no anchor, in a list or as a mapping's key) is handled
        # here whole: a file is mostly those, and each call saved is one per scalar.
        kind = type(event)
        if kind is _ScalarEvent:
            line = event.start_mark.line + 1
            anchor = event.anchor
            if anchor is not None:
                self._anchor_check(event, line)
            value: Any = event.value
            if event.tag is None and event.implicit[0] and len(value) <= _PLAIN_CACHED:
                value = _plain(value)
                if value is _SLOW:
                    value = self._scalar(event, line)
            else:
                value = self._scalar(event, line)
            self.values += 1
            if self.values > self.limits.max_values:
                self._count(0, line)  # (raises, naming the line)
            stack = self.stack
            if stack and anchor is None:
                frame = stack[-1]
                container = frame.container
                if type(container) is list:
                    frame.table[len(container)] = line
                    container.append(value)
                    return None
                if frame.key is _NO_KEY:
                    frame.key, frame.key_line = value, line
                    return None
            self._add(value, line, anchor, 1)
        elif kind is _MappingEndEvent or kind is _SequenceEndEvent:
            stack = self.stack
            frame = stack.pop()
            done = frame.container
            self.lines[id(done)] = frame.table
            if stack and frame.anchor is None:  # (as for a scalar above: the usual case here)
                parent = stack[-1]
                if type(parent.container) is list:
                    parent.table[len(parent.container)] = frame.line
                    parent.container.append(done)
                    return None
                if parent.key is not _NO_KEY:
                    key = parent.key
                    if type(key) is str and key != "<<" and key not in parent.table:
                        parent.key = _NO_KEY
                        parent.table[key] = parent.key_line
                        parent.container[key] = done
                        return None
            self._add(done, frame.line, frame.anchor, self.values - frame.start + 1)
        elif kind is _MappingStartEvent or kind is _SequenceStartEvent:
            line = event.start_mark.line + 1
            self._anchor_check(event, line)
            self._tag_check(event, line)
            if len(self.stack) >= self.limits.max_depth:
                raise YAMLError(f"nesting deeper than {self.limits.max_depth} levels", line)
            self._count(1, line)
            made: dict[Any, Any] | list[Any] = {} if kind is _MappingStartEvent else []
            self.stack.append(_Frame(made, line, event.anchor, self.values))
        elif kind is ev.DocumentStartEvent:
            self.anchors.clear()
            self.lines = {}
            self.duplicates = []
            self.root = None
            self.doc_line = event.start_mark.line + 1
        elif kind is ev.DocumentEndEvent:
            line = event.start_mark.line + 1
            end = event.end_mark.line + 1 if event.end_mark is not None else line
            return Document(self.root, self.doc_line, end, self.lines, self.duplicates)
        elif kind is ev.AliasEvent:
            line = event.start_mark.line + 1
            if not self.limits.allow_aliases:
                raise YAMLError(f"aliases (*{event.anchor}) are not allowed in this file", line)
            if event.anchor not in self.anchors:
                raise YAMLError(f"unknown alias *{event.anchor}", line)
            value, cost = self.anchors[event.anchor]
            # An alias costs what its anchored value cost: this is what defuses billion laughs.
            self._count(cost, line)
            self._add(value, line, None, cost)
        return None

    # -- helpers -----------------------------------------------------------------------------
    def _count(self, n: int, line: int) -> None:
        self.values += n
        if self.values > self.limits.max_values:
            raise YAMLError(
                f"document expands to more than {self.limits.max_values:,} values", line
            )

    def _anchor_check(self, event: Any, line: int) -> None:
        if event.anchor is not None and not self.limits.allow_aliases:
            raise YAMLError(f"anchors (&{event.anchor}) are not allowed in this file", line)

    def _tag_check(self, event: Any, line: int) -> None:
        tag = event.tag
        if tag is not None and tag not in ("!", *_ALLOWED_TAGS):
            raise YAMLError(f"custom tag {tag} is not allowed", line)

    def _scalar(self, event: ev.ScalarEvent, line: int) -> Any:
        tag = event.tag
        value = event.value
        if tag is None or tag == "!":
            tag = _resolver.resolve(yaml.ScalarNode, value, event.implicit)
        elif tag not in _ALLOWED_TAGS:
            raise YAMLError(f"custom tag {tag} is not allowed", line)
        return _value(tag, value, line)

    def _add(self, value: Any, line: int, anchor: str | None, cost: int) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, cost)
        if not self.stack:
            self.root = value
            self.doc_line = line
            return
        frame = self.stack[-1]
        container = frame.container
        if isinstance(container, list):
            frame.table[len(container)] = line
            container.append(value)
            return
        if frame.key is _NO_KEY:
            if isinstance(value, (dict, list)):
                raise YAMLError("mapping keys must be scalars", line)
            frame.key, frame.key_line = value, line
            return
        key = frame.key
        frame.key = _NO_KEY
        if key == "<<" and self.limits.allow_aliases and isinstance(value, (dict, list)):
            self._merge(frame, value, line)
            return
        if key in frame.table and (frame.merged is None or key not in frame.merged):
            if self.record_duplicates:
                first = frame.table[key]
                self.duplicates.append(DuplicateKey(key, frame.key_line, first, container, value))
                return
            raise YAMLError(
                f"duplicate key {key!r} (first defined on line {frame.table[key]})", frame.key_line
            )
        if frame.merged is not None:
            frame.merged.discard(key)
        frame.table[key] = frame.key_line
        container[key] = value

    def _merge(self, frame: _Frame, value: Any, line: int) -> None:
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, dict):
                raise YAMLError("merge key << needs a mapping or a list of mappings", line)
            for k, v in source.items():
                if k not in frame.table:
                    frame.table[k] = line
                    if frame.merged is None:
                        frame.merged = set()
                    frame.merged.add(k)
                    frame.container[k] = v


_PLAIN_CACHED = 64  # longer plain scalars are rarely repeated, and must not pin memory
_SLOW = object()  # what ``_plain`` gives for a scalar whose error must name its line


@functools.lru_cache(maxsize=4096)
def _plain(value: str) -> Any:
    """The value of a short untagged plain scalar (the same for every occurrence), or ``_SLOW``.

    Manifests repeat the same few words (``true``, ``TCP``, ``80``, ``IfNotPresent``) all over;
    resolving and converting each once instead of running the resolver's regexes every time
    saves about a fifth of the loader's time. A value is immutable, so one object can stand for
    every occurrence.
    """
    try:
        return _value(_resolver.resolve(yaml.ScalarNode, value, (True, False)), value, 0)
    except YAMLError:
        return _SLOW  # (a bad integer: ``_scalar`` raises, naming the line)


def _value(tag: str, value: str, line: int) -> Any:
    """A scalar's value by its (allowed) tag."""
    if tag == _STR or tag == "tag:yaml.org,2002:binary":
        return value
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return value.lower() in ("yes", "true", "on", "y")
    if tag == "tag:yaml.org,2002:int":
        return _to_int(value, line)
    if tag == "tag:yaml.org,2002:float":
        return _to_float(value)
    # timestamps stay text: JSON has no dates, and policies compare them as strings
    return value


def _to_int(value: str, line: int) -> int:
    text = value.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    try:
        if ":" in text:  # YAML 1.1 sexagesimal, e.g. 1:30
            total = 0
            for part in text.split(":"):
                total = total * 60 + int(part)
            return sign * total
        match = _INT_PREFIX.match(text)
        if match:
            base = {"b": 2, "o": 8, "x": 16}[match.group("base").lower()]
            return sign * int(text[2:], base)
        if len(text) > 1 and text.startswith("0"):
            return sign * int(text, 8)
        return sign * int(text)
    except ValueError:
        raise YAMLError(f"bad integer {value!r}", line) from None


def _to_float(value: str) -> float:
    text = value.replace("_", "").lower()
    if text in (".inf", "+.inf"):
        return float("inf")
    if text == "-.inf":
        return float("-inf")
    if text == ".nan":
        return float("nan")
    if ":" in text:
        sign = -1.0 if text.startswith("-") else 1.0
        total = 0.0
        for part in text.lstrip("+-").split(":"):
            total = total * 60 + float(part)
        return sign * total
    return float(text)
