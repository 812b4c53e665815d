"""CEL: compiling policy conditions once and turning their results into violations.

We use ``common-expression-language`` (the Rust ``cel`` interpreter with Python bindings); the
benchmark behind that choice is in DESIGN.md. CEL always terminates and can't reach the host,
which is why policies from a repository may be loaded at all. Nothing here knows about targets.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
import types
from collections.abc import Iterable, Iterator
from typing import Any


@contextlib.contextmanager
def _without_repl() -> Iterator[None]:
    """Import ``cel`` without the command-line REPL that its ``__init__`` imports.

    ``cel.cli`` pulls in typer, rich, prompt_toolkit and pygments: about 0.15 s of every
    ``compliance-bot`` start (benchmarks/engine.py), for a REPL the bot never runs. An empty
    stand-in takes its place while the package imports and is dropped afterwards, so that a
    later ``import cel.cli`` still loads the real one.
    """
    if "cel" in sys.modules:  # already imported (with its REPL): nothing to save
        yield
        return
    stand_in = types.ModuleType("cel.cli")
    sys.modules.setdefault("cel.cli", stand_in)
    try:
        yield
    finally:
        if sys.modules.get("cel.cli") is stand_in:
            del sys.modules["cel.cli"]


with _without_repl():
    import cel
    import cel.stdlib as cel_stdlib


class CELCompileError(ValueError):
    pass


class CELEvalError(RuntimeError):
    pass


@functools.lru_cache(maxsize=4096)
def compile_expression(source: str) -> cel.Program:
    """Compile once per distinct expression; CELCompileError carries the parser's words."""
    try:
        return cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        raise CELCompileError(_readable(str(exc))) from None


def _readable(message: str) -> str:
    """The parser's errors on one line, without the echoed expression and the caret drawings
    (their line breaks would show as ``\\x0a`` in reports, which escape control characters)."""
    message = message.replace("<input>", "condition")
    errors = re.findall(r"ERROR: (.*?)(?=\n\| |\nERROR: |\Z)", message, re.S)
    return "; ".join(" ".join(e.split()) for e in errors or [message])


# CEL's string, list and math extensions (join, flatten, split, ...) as the library provides
# them. They are pure functions over values; registering one costs a little per context, so a
# context gets only those that some loaded condition calls.
EXTENSIONS: dict[str, Any] = {
    name: fn for group in cel_stdlib.EXTENSIONS.values() for name, fn in group.items()
}
# (the look-behind only skips starts inside a name, where no new match can begin: without it
# the pattern retries from every letter of every name, most of Engine()'s own time)
_CALL = re.compile(r"(?<![A-Za-z_])([A-Za-z_][A-Za-z0-9_.]*)\s*\(")


def extensions_used(sources: Iterable[str]) -> dict[str, Any]:
    """The extension functions that these conditions call (by name or as a method)."""
    used: dict[str, Any] = {}
    for source in sources:
        for name in _extensions_called(source):
            used[name] = EXTENSIONS[name]
    return used


@functools.lru_cache(maxsize=4096)
def _extensions_called(source: str) -> tuple[str, ...]:
    names = []
    for call in _CALL.findall(source):
        names.extend(n for n in (call, call.rsplit(".", 1)[-1]) if n in EXTENSIONS)
    return tuple(names)


def new_context(variables: dict[str, Any], functions: dict[str, Any] | None = None) -> cel.Context:
    """One context per subject, shared by every policy that judges it (it caches conversion)."""
    ctx = cel.Context()
    for name, value in variables.items():
        ctx.add_variable(name, value)
    for name, fn in (functions or {}).items():
        ctx.add_function(name, fn)
    return ctx


def run(program: cel.Program, context: cel.Context) -> Any:
    try:
        return program.execute(context)
    except KeyError as exc:
        raise CELEvalError(f"no such key: {exc.args[0] if exc.args else exc}") from None
    except Exception as exc:  # the interpreter raises several types; all mean "could not evaluate"
        raise CELEvalError(f"{type(exc).__name__}: {exc}") from None


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MISSING = object()


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


class Message:
    """A policy's message template, split once into text and ``{name}`` placeholders.

    Rendering runs once per finding; splitting the template there (a regex substitution with a
    callback per placeholder) was most of a finding's own cost on finding-heavy repositories.
    """

    __slots__ = ("_last", "_parts", "template")

    def __init__(self, template: str) -> None:
        self.template = template
        pieces = _PLACEHOLDER.split(template)  # text, name, text, name, ..., text
        # (one text more than names: the last is kept apart)
        self._parts: tuple[tuple[str, str], ...] = tuple(
            zip(pieces[0:-1:2], pieces[1::2], strict=True)
        )
        self._last: str = pieces[-1]

    def render(self, values: Any, fallback: Any = None) -> str:
        """Fill each placeholder from ``values``, else from ``fallback`` (two mappings, so that
        callers need not merge them per finding); a missing one is an evaluation error."""
        if not self._parts:
            return self.template
        out = []
        for text, key in self._parts:
            value = values.get(key, _MISSING)
            if value is _MISSING and fallback is not None:
                value = fallback.get(key, _MISSING)
            if value is _MISSING:
                raise CELEvalError(f"message placeholder {{{key}}} has no value")
            out.append(text)
            out.append("null" if value is None else str(value))
        out.append(self._last)
        return "".join(out)


@functools.lru_cache(maxsize=4096)
def message(template: str) -> Message:
    """One :class:`Message` per distinct template, shared by every engine in the process."""
    return Message(template)


def render(template: str, values: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders; a missing one is an evaluation error, never silent."""
    return message(template).render(values)


def violations(result: Any) -> list[dict[str, Any]]:
    """Normalise a condition's result to a list of violation maps.

    ``true`` is one violation with no details; ``false``, ``null`` and ``[]`` are none; a list
    holds one violation per item, each a map (placeholders, plus an optional ``path`` naming the
    offending field) or a string (available as ``{value}``).
    """
    if result is True:
        return [{}]
    if result is False or result is None:
        return []
    if isinstance(result, list):
        out: list[dict[str, Any]] = []
        for item in result:
            if isinstance(item, dict):
                out.append({str(k): v for k, v in item.items()})
            elif isinstance(item, str):
                out.append({"value": item})
            else:
                raise CELEvalError(
                    f"condition returned a list holding {type(item).__name__}; "
                    "items must be maps or strings"
                )
        return out
    raise CELEvalError(
        f"condition returned {type(result).__name__}; it must return a bool or a list"
    )
