"""Compare the two Python CEL implementations on the bundled pack, to choose one (see DESIGN.md).

    pip install cel-python   # the candidate we compare against; not a dependency of the bot
    python benchmarks/cel_choice.py [--rounds 20]

For every bundled policy, its condition is compiled by both ``common-expression-language``
(Rust interpreter, module ``cel``) and ``cel-python`` (pure Python, module ``celpy``), then
evaluated on the subjects of every fixture of that policy. Reports compile time, evaluation
time per (policy, subject), and whether the two agree on every result.
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
        print("cel-python is not installed: pip install cel-python", file=sys.stderr)
        return 2
    work = list(cases())
    conditions = sorted({p.condition for p, _ in work})

    t = time.perf_counter()
    rust = {c: cel.compile(c) for c in conditions}
    rust_compile = time.perf_counter() - t
    env = celpy.Environment()
    t = time.perf_counter()
    py = {}
    py_failed = []
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

    rust_time, rust_results = timed(run_rust)
    py_time, py_results = timed(run_py)
    agree = 0
    for a, b in zip(rust_results, py_results, strict=True):
        if isinstance(b, Exception) or b is None:
            continue
        if _plain(a) == _plain(b):
            agree += 1
    n = len(work)
    print(f"{len(conditions)} conditions, {n} (policy, subject) evaluations per round")
    print("| implementation | compile all | evaluate all (median) | per evaluation | failures |")
    print("|---|---|---|---|---|")
    print(
        f"| common-expression-language {_version('common-expression-language')} | "
        f"{rust_compile * 1e3:.1f} ms | {rust_time * 1e3:.1f} ms | "
        f"{rust_time / n * 1e6:.1f} µs | 0 |"
    )
    errors = sum(1 for r in py_results if isinstance(r, Exception) or r is None)
    print(
        f"| cel-python {_version('cel-python')} | {py_compile * 1e3:.1f} ms | "
        f"{py_time * 1e3:.1f} ms | {py_time / n * 1e6:.1f} µs | "
        f"{len(py_failed)} compile, {errors} eval |"
    )
    print(
        f"results agree on {agree}/{n} evaluations "
        f"(excluding cel-python failures); speed-up {py_time / rust_time:.1f}x"
    )
    return 0


def _plain(value):
    """cel-python returns its own CEL types; compare through plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
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
