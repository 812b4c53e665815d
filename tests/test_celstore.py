"""Compiled CEL kept between command-line runs (``bot.engine.celstore``): read back, it decides
exactly what a fresh compile decides; a damaged file is compiled again; off means nothing kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import usercache
from bot.engine import cel as celx
from bot.engine import celstore

REPO = Path(__file__).resolve().parents[1]


def _scan(folder: Path, cache: str) -> tuple[int, str]:
    env = dict(os.environ, COMPLIANCE_BOT_CACHE_DIR=cache, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "scan", ".", "--format", "json", "--jobs", "1"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, done.stdout


def test_a_scan_with_conditions_read_back_reports_byte_for_byte_what_a_fresh_one_does(
    tmp_path: Path, bench_engine
):
    folder = tmp_path / "repo"
    (folder / ".compliance").mkdir(parents=True)
    (folder / ".compliance" / "config.yaml").write_text("packs: [kubernetes]\n")
    # hundreds of workloads: the lists of conditions are compiled and kept too
    make = bench_engine.HeavyWriter(bench_engine.SEED)
    for i in range(60):
        name, text = make.file(i)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    cache = tmp_path / "cache"
    first = _scan(folder, str(cache))  # compiles, and keeps what it compiled
    kept = {p.name: p.stat().st_mtime_ns for p in (cache / "cel-programs").iterdir()}
    lists = [n for n in kept if (cache / "cel-programs" / n).stat().st_size > 20_000]
    assert len(kept) > 20 and lists  # every condition, and the lists of the sets that ran
    second = _scan(folder, str(cache))  # reads them back
    assert {p.name: p.stat().st_mtime_ns for p in (cache / "cel-programs").iterdir()} == kept
    fresh = _scan(folder, "")  # no cache at all
    assert first == second == fresh
    assert first[0] == 1 and len(json.loads(first[1])["findings"]) > 1000


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[Path]:
    usercache.use(tmp_path)
    yield tmp_path / celstore.FOLDER
    usercache.use(None)


class _Spy:
    """The fast environment, counting what it compiles."""

    def __init__(self) -> None:
        self.environment = celx.google_cel.NewEnv()
        self.compiled: list[str] = []

    def compile(self, source: str, **options) -> object:
        self.compiled.append(source)
        return self.environment.compile(source, **options)

    def deserialize(self, data: bytes) -> object:
        return self.environment.deserialize(data)

    def Activation(self, variables: dict) -> object:
        return self.environment.Activation(variables)


CONDITION = 'object.kind == "Pod" && size(containers) > 1 ? [{"path": "spec"}] : []'
TWO = {"object": {"kind": "Pod"}, "containers": [{"name": "a"}, {"name": "b"}]}


def _fast_result(expression: object, variables: dict) -> object:
    context = celx.Context(variables)
    return expression.eval(context.activation()).plain_value()


def test_a_condition_is_compiled_once_then_read_back(kept: Path, monkeypatch):
    spy = _Spy()
    monkeypatch.setattr(celx, "_fast_environment", lambda: spy)
    first = celx._compile_fast(CONDITION)
    second = celx._compile_fast(CONDITION)
    assert spy.compiled == [CONDITION]
    assert len(list(kept.iterdir())) == 1 and kept.stat().st_mode & 0o077 == 0
    assert _fast_result(first, TWO) == _fast_result(second, TWO) == [{"path": "spec"}]


@pytest.mark.parametrize("damage", [b"", b"not a program", None])
def test_a_damaged_file_is_compiled_again_and_written_afresh(kept: Path, monkeypatch, damage):
    spy = _Spy()
    monkeypatch.setattr(celx, "_fast_environment", lambda: spy)
    celx._compile_fast(CONDITION)
    (path,) = kept.iterdir()
    data = path.read_bytes()
    # cut short, replaced, or one byte of the program changed under an intact checksum
    path.write_bytes(damage if damage is not None else data[:40] + b"X" + data[41:])
    again = celx._compile_fast(CONDITION)
    assert spy.compiled == [CONDITION, CONDITION]
    assert _fast_result(again, TWO) == [{"path": "spec"}]
    # written afresh (not byte for byte: the compiler's protobuf differs from one compile to
    # the next), and read back the next time
    kept_again = celx._compile_fast(CONDITION)
    assert spy.compiled == [CONDITION, CONDITION]
    assert _fast_result(kept_again, TWO) == [{"path": "spec"}]


def test_nothing_is_kept_when_the_cache_is_off(tmp_path: Path, monkeypatch):
    usercache.use(None)
    spy = _Spy()
    monkeypatch.setattr(celx, "_fast_environment", lambda: spy)
    celx._compile_fast(CONDITION)
    celx._compile_fast(CONDITION)
    assert spy.compiled == [CONDITION, CONDITION]
    assert list(tmp_path.iterdir()) == []


def test_a_kept_list_is_used_from_the_first_resource(kept: Path):
    programs = (
        celx.compile_expression('object.kind == "Pod" && "celstore-test" != ""'),
        celx.compile_expression('size(containers) > 1 && "celstore-test" != ""'),
    )
    assert celx._together.__wrapped__(programs) is not None  # compiled, and kept
    celx._kept_together.cache_clear()
    celx._runs.pop(programs, None)
    assert celx.run_all(programs, celx.Context(TWO)) == [True, True]
    assert programs not in celx._runs  # not counted towards compiling it: it was read back
