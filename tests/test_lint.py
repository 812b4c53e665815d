"""The code base stays ruff-clean: lint is part of the suite so CI enforces it."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    proc = subprocess.run(
        [ruff, "check", "--no-cache", "bot", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- words users read ----------------------------------------------------------------------------

_PLURAL_HEDGE = re.compile(r"\w+\((?:s|es)\)")
_HEDGES_ELSEWHERE: set[tuple[str, str]] = set()  # known leftovers, each to go once fixed
_COLLECTIONS = (ast.List, ast.ListComp, ast.Tuple, ast.Set, ast.SetComp, ast.Dict, ast.DictComp)
_COLLECTION_CALLS = {"list", "tuple", "set", "frozenset", "dict", "sorted"}


def _bot_modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(ROOT).as_posix(), ast.parse(path.read_text("utf-8"), str(path)))
        for path in sorted((ROOT / "bot").rglob("*.py"))
    ]


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring constants: prose for programmers, where "(s)" harms nobody."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def test_messages_say_one_or_many_instead_of_hedging_with_s_in_brackets():
    # "1 error(s)" reads as a form; bot.report.text.count says "1 error" and "2 errors"
    found = []
    for name, tree in _bot_modules():
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if id(node) in skip:
                continue
            for match in _PLURAL_HEDGE.finditer(node.value):
                if (name, match.group()) not in _HEDGES_ELSEWHERE:
                    found.append(f"{name}:{node.lineno}: {node.value!r}")
    assert found == [], "\n".join(found)


def test_messages_do_not_show_python_reprs_of_collections():
    # f"{sorted(names)}" shows ['a', 'b']; join the items instead: ", ".join(sorted(names))
    found = []
    for name, tree in _bot_modules():
        reprs = {
            id(n)
            for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef) and f.name == "__repr__"
            for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.FormattedValue) or id(node) in reprs:
                continue
            value = node.value
            called = isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            if isinstance(value, _COLLECTIONS) or (called and value.func.id in _COLLECTION_CALLS):
                found.append(f"{name}:{node.lineno}: {{{ast.unparse(value)}}}")
    assert found == [], "\n".join(found)
