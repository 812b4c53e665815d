"""Compare the Python CEL implementations on the bundled pack, to choose one (see DESIGN.md).

    pip install cel-python   # a candidate we compare against; not a dependency of the bot
    python benchmarks/cel_choice.py [--rounds 20]

For every bundled policy, its condition is compiled by ``common-expression-language`` (Rust
interpreter, module ``cel``), ``cel-expr-python`` (Google's C++ CEL, module ``cel_expr_python``)
and, when installed, ``cel-python`` (pure Python, module ``celpy``), then evaluated on the
subjects of every fixture of that policy, a fresh context per evaluation. The last row is the
engine's own path (``bot.engine.cel.run``: the C++ interpreter first, the Rust one behind it).
Reports compile time, evaluation time per (policy, subject), and whether each agrees with the
Rust interpreter on every result (violations compared as a set: CEL leaves map order open).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import cel

from bot.engine.loader import load_bundled
from bot.engine.model import SourceFile
from bot.engine.targets import TARGETS, FileTarget


def cases():
    for policy in load_bundled():
        target = TARGETS[policy.target]
        if not isinstance(target, FileTarget):
            continue
        match = target.compile_match(policy.match)
        for fixture in policy.fixtures:
            try:
                subjects = target.subjects(SourceFile(fixture.path, fixture.content))
            except ValueError:
                continue
            for subject in subjects:
                for selected in target.select(match, subject):
                    yield policy, selected.variables


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    try:
        import celpy
    except ImportError:
        celpy = None
        print("cel-python is not installed (pip install cel-python): left out", file=sys.stderr)
    from cel_expr_python import cel as google_cel

    from bot.engine import cel as celx

    work = list(cases())
    conditions = sorted({p.condition for p, _ in work})

    t = time.perf_counter()
    rust = {c: cel.compile(c) for c in conditions}
    rust_compile = time.perf_counter() - t
    google_env = google_cel.NewEnv()
    t = time.perf_counter()
    google = {c: google_env.compile(c, disable_check=True) for c in conditions}
    google_compile = time.perf_counter() - t
    t = time.perf_counter()
    both = {c: celx.Program(c, rust[c], google[c]) for c in conditions}
    functions = celx.extensions_used(conditions)
    py = {}
    py_failed = []
    py_compile = 0.0
    if celpy is not None:
        env = celpy.Environment()
        t = time.perf_counter()
        for c in conditions:
            try:
                py[c] = env.program(env.compile(c))
            except Exception as exc:  # cel-python lacks some functions the pack uses
                py_failed.append((c, exc))
        py_compile = time.perf_counter() - t

    def run_rust() -> list:
        out = []
        for policy, variables in work:
            ctx = cel.Context()
            for k, v in variables.items():
                ctx.add_variable(k, v)
            out.append(rust[policy.condition].execute(ctx))
        return out

    error = google_cel.Type.ERROR

    def run_google() -> list:
        out = []
        for policy, variables in work:
            value = google[policy.condition].eval(google_env.Activation(variables))
            out.append(None if value.type() == error else value.plain_value())
        return out

    def run_engine() -> list:
        return [
            celx.run(both[policy.condition], celx.Context(variables, functions))
            for policy, variables in work
        ]

    def run_py() -> list:
        out = []
        for policy, variables in work:
            prog = py.get(policy.condition)
            if prog is None:
                out.append(None)
                continue
            activation = {k: celpy.json_to_cel(v) for k, v in variables.items()}
            try:
                out.append(prog.evaluate(activation))
            except Exception as exc:
                out.append(exc)
        return out

    def timed(fn) -> tuple[float, list]:
        samples, result = [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            result = fn()
            samples.append(time.perf_counter() - t)
        return statistics.median(samples), result

    n = len(work)
    rust_time, rust_results = timed(run_rust)
    expected = [_set(r) for r in rust_results]

    def agreeing(results: list) -> int:
        return sum(1 for a, b in zip(expected, results, strict=True) if a == _set(b))

    rows = [
        ("common-expression-language", rust_compile, rust_time, "0", n),
    ]
    google_time, google_results = timed(run_google)
    errors = sum(1 for r in google_results if r is None)
    rows.append(("cel-expr-python", google_compile, google_time, f"{errors} eval",
                 agreeing(google_results)))  # fmt: skip
    if celpy is not None:
        py_time, py_results = timed(run_py)
        errors = sum(1 for r in py_results if isinstance(r, Exception) or r is None)
        rows.append(("cel-python", py_compile, py_time,
                     f"{len(py_failed)} compile, {errors} eval", agreeing(py_results)))  # fmt: skip
    engine_time, engine_results = timed(run_engine)
    print(f"{len(conditions)} conditions, {n} (policy, subject) evaluations per round")
    print("| implementation | compile all | evaluate all (median) | per evaluation | failures "
          "| agrees with cel |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, compiled, took, failures, agree in rows:
        print(f"| {name} {_version(name)} | {compiled * 1e3:.1f} ms | {took * 1e3:.1f} ms | "
              f"{took / n * 1e6:.1f} µs | {failures} | {agree}/{n} |")  # fmt: skip
    print(f"| the engine (bot.engine.cel.run) | both | {engine_time * 1e3:.1f} ms | "
          f"{engine_time / n * 1e6:.1f} µs | 0 | {agreeing(engine_results)}/{n} |")  # fmt: skip
    print(f"cel-expr-python is {rust_time / google_time:.1f}x common-expression-language; "
          f"the engine's path {rust_time / engine_time:.1f}x")  # fmt: skip
    return 0


def _set(value):
    """A result as the engine uses it: violations become sorted findings, so order is not kept."""
    value = _plain(value)
    return sorted(value, key=repr) if isinstance(value, list) else value


def _plain(value):
    """cel-python returns its own CEL types; compare through plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)):
        return value
    if value is None:
        return None
    return str(value)


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    sys.exit(main())
