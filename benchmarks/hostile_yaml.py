"""How fast, and how cheaply, a hostile exceptions file is refused (DESIGN §5 items 13 and 15).

    python benchmarks/hostile_yaml.py [--repeat 5] [--markdown]

Each case runs in a fresh interpreter, so its memory figure is its own: the input is built first,
then ``bot.exemptions.parse`` runs ``--repeat`` times (best time reported), then once more under
``tracemalloc`` for the peak of Python allocations during parsing. ``rss+`` is the growth of the
process's peak resident size across parsing (libyaml's C allocations included), in MB; 0 means
parsing never raised the high-water mark set by building the input. Two legitimate files of the
largest accepted size are measured too, for contrast. Exit code 1 when a hostile case is accepted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _laughs() -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _entries(count: int) -> str:
    out = ["version: 1", "exceptions:"]
    for i in range(count):
        out += [
            f"  - id: EXC-{i}",
            "    policy: k8s.privileged",
            f'    paths: ["deploy/app-{i}/**"]',
            "    reason: the app needs host access for its metrics",
            "    expires: 2026-03-01",
        ]
    return "\n".join(out) + "\n"


CASES: dict[str, tuple[bool, Callable[[], str]]] = {
    # name: (hostile?, builder)
    "billion laughs (aliases)": (True, _laughs),
    "python/object/apply tag": (
        True,
        lambda: 'version: 1\nexceptions: !!python/object/apply:os.system ["id"]\n',
    ),
    "10,000-deep flow lists": (True, lambda: "[" * 10_000 + "]" * 10_000),
    "10,000-deep flow maps": (True, lambda: "{a: " * 10_000 + "1" + "}" * 10_000),
    "1,000-deep block maps": (
        True,
        lambda: "".join(" " * i + "a:\n" for i in range(1000)) + " " * 1000 + "1\n",
    ),
    "50 MB file": (True, lambda: "# " + "x" * (50 * 1024 * 1024) + "\n"),
    "450,000 values in 0.9 MB": (
        True,
        lambda: "version: 1\nexceptions: [" + "1," * 450_000 + "1]\n",
    ),
    "duplicate keys": (True, lambda: "version: 1\nexceptions: []\nversion: 1\n"),
    "legit: 1,000 entries": (False, lambda: _entries(1000)),
    "legit: 1,900 entries (limit)": (False, lambda: _entries(1900)),
}


def measure(name: str, repeat: int) -> dict[str, object]:
    from bot.exemptions import parse

    hostile, build = CASES[name]
    text = build()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        parsed, problems = parse(text)
        best = min(best, time.perf_counter() - start)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    parse(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    first = problems[0] if problems else None
    return {
        "case": name,
        "hostile": hostile,
        "bytes": len(text.encode("utf-8")),
        "refused": parsed is None,
        "entries": len(parsed.entries) if parsed else 0,
        "ms": round(best * 1000, 2),
        "peak_mb": round(peak / 1e6, 2),
        "rss_growth_mb": round((rss_after - rss_before) / 1024, 1),  # ru_maxrss is KiB on Linux
        "line": first.line if first else None,
        "message": first.message[:80] if first else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(measure(args.case, args.repeat)))
        return 0
    rows = []
    for name in CASES:
        proc = subprocess.run(
            [sys.executable, __file__, "--case", name, "--repeat", str(args.repeat)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(proc.stdout))
    if args.markdown:
        print("| case | bytes | refused | line | ms (best) | py peak MB | rss+ MB | message |")
        print("|---|---:|---|---:|---:|---:|---:|---|")
        for r in rows:
            print(
                f"| {r['case']} | {r['bytes']:,} | {r['refused']} | {r['line']} | {r['ms']} "
                f"| {r['peak_mb']} | {r['rss_growth_mb']} | {r['message']} |"
            )
    else:
        for r in rows:
            print(
                f"{r['case']:<30} {r['bytes']:>11,} B  refused={r['refused']!s:<5} "
                f"line={r['line']!s:<4} {r['ms']:>8.2f} ms  peak {r['peak_mb']:>6.2f} MB  "
                f"rss+ {r['rss_growth_mb']:>5.1f} MB  {r['message']}"
            )
    accepted = [r["case"] for r in rows if r["hostile"] and not r["refused"]]
    if accepted:
        print(f"ACCEPTED hostile input: {', '.join(accepted)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
