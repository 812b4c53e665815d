"""Hostile YAML in the exceptions file (DESIGN §5 items 13 and 15): refused, fast and cheaply.

Each case is refused as a whole (``parse`` returns ``None``: the file grants nothing) with the
line and a clear message. Time and memory are printed (``pytest -s``), not asserted on time;
the Python-heap peak is asserted loosely, because it is deterministic and a regression there
(building the expansion before refusing it) is exactly the attack. ``benchmarks/hostile_yaml.py``
measures the same in fresh processes.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from bot.exemptions import parse
from bot.exemptions.parsing import LIMITS


def _laughs() -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _merge_bomb() -> str:
    return "version: 1\nbase: &b {a: 1}\nexceptions:\n  - <<: *b\n    id: x\n"


HOSTILE = [
    # (name, builder, line, fragment)
    ("billion laughs", _laughs, 1, "anchors (&a) are not allowed"),
    ("alias", lambda: "version: 1\nexceptions: *x\n", 2, "aliases (*x) are not allowed"),
    ("merge key", _merge_bomb, 2, "anchors (&b) are not allowed"),
    ("python apply", lambda: 'version: 1\nexceptions: !!python/object/apply:os.system ["id"]\n',
     2, "custom tag tag:yaml.org,2002:python/object/apply:os.system is not allowed"),
    ("python name", lambda: "version: 1\nexceptions: !!python/name:os.system ''\n",
     2, "custom tag tag:yaml.org,2002:python/name:os.system"),
    ("python new", lambda: "version: 1\nx: !!python/object/new:subprocess.Popen [[id]]\n",
     2, "custom tag"),
    ("verbatim tag", lambda: "version: 1\nx: !<tag:yaml.org,2002:python/object/apply:os.system> [id]\n",  # noqa: E501
     2, "custom tag"),
    ("local tag in an entry", lambda: "version: 1\nexceptions:\n  - id: !shell x\n",
     3, "custom tag !shell"),
    ("10,000-deep lists", lambda: "[" * 10_000 + "]" * 10_000, 1, "nesting depth"),
    ("10,000-deep maps", lambda: "{a: " * 10_000 + "1" + "}" * 10_000, 1,
     f"nesting deeper than {LIMITS.max_depth} levels"),
    ("1,000-deep block maps", lambda: "".join(" " * i + "a:\n" for i in range(1000)) + "  1\n",
     LIMITS.max_depth + 1, "nesting deeper than"),
    ("50 MB", lambda: "# " + "x" * (50 * 1024 * 1024) + "\n", 1,
     "more than the 1,000,000 allowed"),
    ("1 MB plus one", lambda: "#" * 1_000_000 + "\n", 1, "more than the 1,000,000 allowed"),
    ("multibyte over the limit", lambda: "# " + "\u00e9" * 600_000 + "\n", 1,
     "bytes, more than the 1,000,000 allowed"),
    ("450,000 values", lambda: "version: 1\nexceptions: [" + "1," * 450_000 + "1]\n", 2,
     "expands to more than 25,000 values"),
    ("duplicate key", lambda: "version: 1\nexceptions: []\nversion: 1\n", 3,
     "duplicate key 'version' (first defined on line 1)"),
    ("duplicate key, quoted", lambda: "version: 1\nexceptions: []\n'version': 1\n", 3,
     "duplicate key 'version'"),
    ("NUL byte", lambda: "version: 1\nexceptions: []\x00\n", 2, "control characters"),
    ("NUL after multibyte", lambda: "# \u00e9\u00e9\u00e9\nversion: 1\n\x00", 3, "#x0000"),
    ("lone surrogate", lambda: "version: 1\nexceptions: ['\ud800']\n", 2, "lone surrogate"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "line", "fragment"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
def test_hostile_input_is_refused_fast_and_cheaply(build, line, fragment):
    text = build()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        parsed, problems = parse(text)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(
        f"\n  {len(text):>11,} chars: refused in {elapsed * 1000:.2f} ms, peak {peak / 1e6:.2f} MB"
    )
    assert parsed is None, "a hostile file grants nothing"
    assert [p.line for p in problems] == [line], problems
    assert fragment in problems[0].message
    assert problems[0].code == "yaml"
    assert peak < 8_000_000, f"refusing took {peak / 1e6:.1f} MB of Python heap"


def test_python_tags_never_run(tmp_path: Path):
    marker = tmp_path / "pwned"
    text = f'version: 1\nexceptions: !!python/object/apply:os.system ["touch {marker}"]\n'
    parsed, _ = parse(text)
    assert parsed is None
    assert not marker.exists()


def test_duplicate_key_inside_an_entry_makes_that_entry_grant_nothing():
    # A duplicate key is ambiguous (which value did the reviewer read?), so the entry never
    # applies, whichever value it is; the rest of the file is still read.
    text = (
        "version: 1\nexceptions:\n"
        "  - id: EXC-1\n    policy: k8s.privileged\n    paths: [a/**]\n"
        "    reason: a reason that is long enough\n    expires: 2026-03-01\n"
        "    paths: ['**']\n"
        "  - id: EXC-2\n    policy: k8s.privileged\n    paths: [b/**]\n"
        "    reason: a reason that is long enough\n    expires: 2026-03-01\n"
    )
    parsed, problems = parse(text)
    assert parsed is not None
    assert [e.id for e in parsed.entries] == ["EXC-2"] and parsed.dropped == ("EXC-1",)
    assert [(p.line, p.code, p.field, p.message) for p in problems] == [
        (
            8,
            "duplicate-key",
            "paths",
            "exception EXC-1: duplicate key 'paths' (first defined on line 5);"
            " it does not apply until each key is written once",
        )
    ]


def test_limits_leave_room_for_a_large_honest_file():
    entries = "".join(
        f"  - id: EXC-{i}\n    policy: k8s.privileged\n    paths: [a/{i}/**]\n"
        f"    reason: a reason that is long enough\n    expires: 2026-03-01\n"
        for i in range(1000)
    )
    parsed, problems = parse("version: 1\nexceptions:\n" + entries)
    assert problems == [] and parsed is not None and len(parsed.entries) == 1000
    assert parsed.entries[-1].line == 2 + 999 * 5 + 1
