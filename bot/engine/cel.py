"""CEL: compiling policy conditions once and turning their results into violations.

Two interpreters. Google's C++ CEL (``cel-expr-python``), the reference implementation of the
CEL specification, evaluates a condition when it can, several times faster than the Rust ``cel``
interpreter (``common-expression-language``) that the engine used alone until issue 14
(DESIGN.md, "CEL"). The Rust one stays behind it: its compile errors are the ones users read; a
condition that calls one of its extension functions (``join``, ``flatten``, ``min`` ...) runs on
it alone; and when the C++ evaluation errs, or gives something that is not plain data (a CEL
type, bytes), the Rust one evaluates the condition again and its result or error stands, worded
as it always was. Where both answer, the C++ answer counts; the two differ there only in corners
that DESIGN.md lists (string sizes in code points, number and duration formatting, errors
absorbed by ``exists`` and ``all``), and ``tests/test_cel_paths.py`` holds them to the same
result on every bundled policy over its fixtures, generated manifests and the labelled corpus.

CEL always terminates and can't reach the host, which is why policies from a repository may be
loaded at all. Nothing here knows about targets.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
import types
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from cel_expr_python import cel as google_cel

from bot.engine import celstore

if TYPE_CHECKING:
    import cel


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


@functools.cache
def _reference_cel() -> types.ModuleType:
    """The reference interpreter's package, imported when first needed: a scan whose conditions
    all run on the fast one never needs it (nor ``logging``, which its stdlib imports)."""
    with _without_repl():
        import cel
        import cel.stdlib  # (the extension functions: ``_extension_functions``)
    return cel


class CELCompileError(ValueError):
    pass


class CELEvalError(RuntimeError):
    pass


class Program:
    """One condition, compiled by the fast interpreter where it can, and by the reference."""

    __slots__ = ("_reference", "fast", "source")

    def __init__(self, source: str, fast: Any, reference: cel.Program | None = None) -> None:
        self.source = source
        self.fast = fast  # a google_cel.Expression, or None: the reference alone
        self._reference = reference

    @property
    def reference(self) -> cel.Program:
        """The reference's compiled form, compiled when first needed (CELCompileError)."""
        if self._reference is None:
            self._reference = _compile_reference(self.source)
        return self._reference


@functools.lru_cache(maxsize=4096)
def compile_expression(source: str) -> Program:
    """Compile once per distinct expression; CELCompileError carries the parser's words.

    Where the fast interpreter compiles a condition, the reference compiles it when first
    needed, which on most scans is never, so that a command on a few files does not pay for it
    at every start. The loader has it compiled at once for a policy from a repository
    (:func:`check_compiles`), whose errors must show when it is loaded.
    """
    fast = _compile_fast(source)
    if fast is None:  # the reference alone evaluates it: compiled now
        return Program(source, None, _compile_reference(source))
    return Program(source, fast)


def check_compiles(program: Program) -> None:
    """Raise CELCompileError unless the reference, whose errors users read, compiles it."""
    program.reference  # noqa: B018 (compiled here, or the error)


def _compile_reference(source: str) -> cel.Program:
    try:
        return _reference_cel().compile(source)
    except (ValueError, RuntimeError) as exc:
        raise CELCompileError(_readable(str(exc))) from None


# ``contains`` is also core CEL on strings; on a list (an extension of the reference's) the fast
# interpreter errs and the reference answers, so it need not keep a condition off the fast path.
_ALSO_CORE_CEL = frozenset({"contains"})


def _compile_fast(source: str) -> Any:
    """Google's compiled form of ``source``, or None where the reference must answer alone."""
    if set(_extensions_called(source)) - _ALSO_CORE_CEL:
        return None  # its extension functions are the reference's own (Python) implementations
    environment = _fast_environment()
    kept = celstore.load(environment, source)  # (compiled by an earlier command-line run)
    if kept is not None:
        return kept
    try:
        # the type checker off: variables are dynamic values read from YAML
        compiled = environment.compile(source, disable_check=True)
    except (ValueError, RuntimeError):
        return None  # a form only the reference reads: it evaluates this condition alone
    celstore.save(source, compiled)
    return compiled


@functools.cache
def _fast_environment() -> Any:
    return google_cel.NewEnv()


def _readable(message: str) -> str:
    """The parser's errors on one line, without the echoed expression and the caret drawings
    (their line breaks would show as ``\\x0a`` in reports, which escape control characters)."""
    message = message.replace("<input>", "condition")
    errors = re.findall(r"ERROR: (.*?)(?=\n\| |\nERROR: |\Z)", message, re.S)
    return "; ".join(" ".join(e.split()) for e in errors or [message])


# The names of CEL's string, list and math extensions (join, flatten, split, ...) that the
# reference's library provides (``cel.stdlib.EXTENSIONS``, which tests/test_cel_paths.py holds
# this to): written out, so that telling which conditions call one needs no import of it. They
# are pure functions over values; registering one costs a little per context, so a context gets
# only those that some loaded condition calls.
EXTENSIONS = frozenset({
    "bool", "max", "min", "sum",
    "charAt", "indexOf", "join", "lastIndexOf", "lowerAscii", "replace", "reverse", "split",
    "strings.quote", "substring", "trim", "upperAscii",
    "math.abs", "math.bitAnd", "math.bitNot", "math.bitOr", "math.bitShiftLeft",
    "math.bitShiftRight", "math.bitXor", "math.ceil", "math.floor", "math.greatest",
    "math.isFinite", "math.isInf", "math.isNaN", "math.least", "math.round", "math.sign",
    "math.sqrt", "math.trunc",
    "sets.contains", "sets.equivalent", "sets.intersects",
    "base64.decode", "base64.encode",
    "contains", "distinct", "first", "flatten", "last", "lists.range", "slice", "sort",
})  # fmt: skip


@functools.cache
def _extension_functions() -> dict[str, Any]:
    library = _reference_cel().stdlib.EXTENSIONS
    return {name: fn for group in library.values() for name, fn in group.items()}


# (the look-behind only skips starts inside a name, where no new match can begin: without it
# the pattern retries from every letter of every name, most of Engine()'s own time)
_CALL = re.compile(r"(?<![A-Za-z_])([A-Za-z_][A-Za-z0-9_.]*)\s*\(")


def extensions_used(sources: Iterable[str]) -> tuple[str, ...]:
    """The extension functions that these conditions call (by name or as a method), by name."""
    used: dict[str, None] = {}
    for source in sources:
        used.update(dict.fromkeys(_extensions_called(source)))
    return tuple(used)


@functools.lru_cache(maxsize=4096)
def _extensions_called(source: str) -> tuple[str, ...]:
    names: list[str] = []
    for call in _CALL.findall(source):
        names.extend(n for n in (call, call.rsplit(".", 1)[-1]) if n in EXTENSIONS)
    return tuple(names)


class Context:
    """The variables of one subject, as each interpreter takes them, built when first needed.

    One per subject, shared by every policy that judges it: converting the variables is much of
    an evaluation's cost, and both interpreters keep what they converted.
    """

    __slots__ = ("_activation", "_reference", "functions", "variables")

    def __init__(self, variables: dict[str, Any], functions: Iterable[str] = ()) -> None:
        self.variables = variables
        self.functions = functions  # extension functions' names
        self._activation: Any = None
        self._reference: cel.Context | None = None

    def activation(self) -> Any:
        if self._activation is None:
            self._activation = _fast_environment().Activation(self.variables)
        return self._activation

    def reference(self) -> cel.Context:
        if self._reference is None:
            ctx = _reference_cel().Context()
            for name, value in self.variables.items():
                ctx.add_variable(name, value)
            library = _extension_functions()
            for name in self.functions:
                ctx.add_function(name, library[name])
            self._reference = ctx
        return self._reference


def new_context(variables: dict[str, Any], functions: Iterable[str] = ()) -> Context:
    """A subject's context: its variables, and the extension functions its conditions call."""
    return Context(variables, functions)


_ERROR = google_cel.Type.ERROR


def run(program: Program, context: Context) -> Any:
    if program.fast is not None:
        value = program.fast.eval(context.activation())
        if value.type() != _ERROR:
            result = value.plain_value()
            if _is_data(result):
                return result
        # an error, or a value that is not plain data (a CEL type, bytes, a timestamp): the
        # reference evaluates it again, so that errors are worded as they always were and
        # such values come as the reference gives them
    try:
        return program.reference.execute(context.reference())
    except KeyError as exc:
        raise CELEvalError(f"no such key: {exc.args[0] if exc.args else exc}") from None
    except Exception as exc:  # the interpreter raises several types; all mean "could not evaluate"
        raise CELEvalError(f"{type(exc).__name__}: {exc}") from None


def run_all(programs: tuple[Program, ...], context: Context) -> list[Any]:
    """Each program's result on one context, in order; a CELEvalError in the place of one that
    could not be evaluated.

    The conditions that run on the fast interpreter are evaluated together, as one list (from
    the 257th resource that this set of conditions judges, or from the first when an earlier
    command-line run kept the list compiled, ``bot.engine.celstore``): every policy judges the same
    resource, and one evaluation in place of one per policy saves most of what each costs
    besides the condition itself. Should that list err (one condition did), each is evaluated
    alone, so that the others still count and the error is that condition's own. Conditions
    that only the reference runs are evaluated alone in any case.
    """
    together = _kept_together(programs)
    if together is None:
        runs = _runs.get(programs, 0)
        if runs < TOGETHER_AFTER:
            if len(_runs) >= 4096:  # (a long-lived bot meets many repositories' policy sets)
                _runs.clear()
            _runs[programs] = runs + 1
        else:
            together = _together(programs)
    results: list[Any] = []
    if together is not None:
        expression, count = together
        value = expression.eval(context.activation())
        listed_values = value.plain_value() if value.type() != _ERROR else None
        # (one item per fast condition: each was compiled alone first, so none can spill out
        # of its parentheses; the count is checked all the same, since results are matched
        # to policies by position)
        if listed_values is not None and len(listed_values) == count:
            listed = iter(listed_values)
            for program in programs:
                result = next(listed) if program.fast is not None else _NOT_DATA
                results.append(result if _is_data(result) else outcome(program, context))
            return results
    return [outcome(program, context) for program in programs]


_NOT_DATA = object()
_SCALARS = frozenset({str, bool, int, float, type(None)})


def _is_data(value: Any) -> bool:
    """Whether a fast result holds nothing but what YAML and JSON hold (strings, numbers,
    booleans, null, lists and maps of them): the values findings are made of."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is list:
        for item in value:  # (loops, not all() over generators: this runs per result)
            item_kind = type(item)
            if item_kind in _SCALARS:
                continue
            if item_kind is dict:  # a violation map: looked into here, one call fewer each
                for key, field in item.items():
                    if type(key) not in _SCALARS or (
                        type(field) not in _SCALARS and not _is_data(field)
                    ):
                        return False
                continue
            if not _is_data(item):
                return False
        return True
    if kind is dict:
        for key, item in value.items():
            if type(key) not in _SCALARS or (type(item) not in _SCALARS and not _is_data(item)):
                return False
        return True
    return False


def outcome(program: Program, context: Context) -> Any:
    """``run``, with a CELEvalError as the result where it could not evaluate."""
    try:
        return run(program, context)
    except CELEvalError as exc:
        return exc


# Compiling the list costs what evaluating the conditions together saves on about 300 resources
# (24 Kubernetes conditions: 12.8 ms to compile, 265 µs a resource alone, 224 µs together; 2
# conditions: 1.5 ms, 25 µs and 20 µs): a set of conditions is evaluated alone until it has
# judged nearly that many, so that a scan of a few hundred files does not pay more than it saves,
# and a large one pays at most those few milliseconds more than if it had known from the start.
TOGETHER_AFTER = 256
_runs: dict[tuple[Program, ...], int] = {}


@functools.lru_cache(maxsize=1024)
def _together(programs: tuple[Program, ...]) -> tuple[Any, int] | None:
    """One fast expression for the list of the results of those conditions that have a fast
    form, with how many they are (None if fewer than two have one)."""
    kept = _kept_together(programs)
    if kept is not None:
        return kept
    listed = _listed(programs)
    if listed is None:
        return None
    source, count = listed
    try:
        expression = _fast_environment().compile(source, disable_check=True)
    except (ValueError, RuntimeError):  # (each compiled alone; a limit of the whole, say)
        return None
    celstore.save(source, expression)
    return expression, count


@functools.lru_cache(maxsize=1024)
def _kept_together(programs: tuple[Program, ...]) -> tuple[Any, int] | None:
    """``_together``'s expression as an earlier command-line run kept it, or None (never
    compiled here: compiling pays back only on a set that judges a few hundred resources)."""
    listed = _listed(programs)
    if listed is None:
        return None
    source, count = listed
    expression = celstore.load(_fast_environment(), source)
    return None if expression is None else (expression, count)


def _listed(programs: tuple[Program, ...]) -> tuple[str, int] | None:
    """The source of ``_together``'s list, and how many conditions it holds (None under two)."""
    fast = [p for p in programs if p.fast is not None]
    if len(fast) < 2:
        return None
    return "[" + ",\n".join(f"({p.source}\n)" for p in fast) + "]", len(fast)


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
                if type(item) is dict:
                    for key in item:
                        if type(key) is not str:  # (rare: CEL's map keys may be numbers)
                            break
                    else:  # the usual map, used as it came: a copy per finding costs
                        out.append(item)
                        continue
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
