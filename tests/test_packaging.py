"""The installed package carries what it needs: the bundled packs and the JSON Schemas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    [built] = list(out.glob("compliance_bot-*.whl"))
    return built


def test_wheel_contains_packs_and_schemas(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for pack in ("kubernetes", "secrets"):
        policies = sorted(ROOT.joinpath("policies", pack).glob("*.yaml"))
        assert policies
        for policy in policies:
            assert f"bot/_policies/{pack}/{policy.name}" in names
    for schema in ("policy", "exceptions", "config"):
        assert f"bot/schemas/{schema}.schema.json" in names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


def test_installed_wheel_finds_its_packs(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import json, bot.engine.loader as l; "
        "print(json.dumps([str(l.bundled_dir()), len(l.load_bundled())]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    where, count = json.loads(proc.stdout)
    assert where == str(target / "bot" / "_policies")
    assert count == len(list(ROOT.glob("policies/*/*.yaml")))
