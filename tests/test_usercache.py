"""The user's cache folder (``bot.usercache``): kept files read back whole or not at all, a
bounded folder, and policy files read once from their YAML, then from what was kept."""

from __future__ import annotations

import marshal
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import usercache
from bot.engine import loader

POLICY = Path(__file__).resolve().parents[1] / "policies" / "kubernetes" / "privileged.yaml"


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    usercache.use(tmp_path)
    yield tmp_path
    usercache.use(None)


def test_what_is_written_is_read_back_and_a_damaged_file_is_not(root: Path):
    usercache.write("things", "a", b"payload")
    assert usercache.read("things", "a") == b"payload"
    assert usercache.read("things", "b") is None
    path = root / "things" / "a"
    data = path.read_bytes()
    for damaged in (data[:-1], data[:10], data[:40] + b"X" + data[41:], b""):
        path.write_bytes(damaged)
        assert usercache.read("things", "a") is None
    assert [p.name for p in (root / "things").iterdir()] == ["a"]  # no partial files left


def test_nothing_is_written_or_read_when_off(tmp_path: Path):
    usercache.use(None)
    usercache.write("things", "a", b"payload")
    assert usercache.read("things", "a") is None
    assert list(tmp_path.iterdir()) == []


def test_past_max_kept_the_older_half_goes(root: Path, monkeypatch):
    monkeypatch.setattr(usercache, "MAX_KEPT", 4)
    folder = root / "things"
    folder.mkdir()
    for i in range(6):
        (folder / f"old-{i}").write_bytes(b"x")
        os.utime(folder / f"old-{i}", ns=(i * 10**9, i * 10**9))
    usercache.prune(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["old-4", "old-5"]


def _load(text: str, source: str = "policies/kubernetes/privileged.yaml") -> loader.Policy:
    loader.load_policy_text.cache_clear()  # (the per-process cache: not what is tested here)
    return loader.load_policy_text(text, source, "kubernetes", trusted=True)


def test_a_policy_file_is_read_from_yaml_once_then_from_what_was_kept(root: Path, monkeypatch):
    text = POLICY.read_text("utf-8")
    fresh = _load(text)
    assert len(list((root / "policies").iterdir())) == 1
    read = []
    monkeypatch.setattr(loader, "_read", lambda *a: read.append(a) or pytest.fail("read again"))
    again = _load(text)
    assert again == fresh and read == []
    assert [f.line for f in again.fixtures] == [f.line for f in fresh.fixtures]
    monkeypatch.undo()
    usercache.use(None)
    assert _load(text) == fresh  # and as the service reads it, with nothing kept


def test_a_kept_policy_that_fails_later_still_names_its_line(root: Path, monkeypatch):
    text = POLICY.read_text("utf-8")
    _load(text)
    # the same text, now under a version of the bot whose targets do not include its own
    monkeypatch.setattr(loader, "TARGETS", {})
    with pytest.raises(loader.PolicyLoadError) as caught:
        _load(text)
    target_line = 1 + text.splitlines().index("target: kubernetes")
    assert caught.value.line == target_line


def test_a_kept_policy_not_of_this_versions_shape_is_read_from_its_yaml(root: Path):
    text = POLICY.read_text("utf-8")
    fresh = _load(text)
    (kept,) = (root / "policies").iterdir()
    data, line, fixture_lines = marshal.loads(usercache.read("policies", kept.name))
    assert fixture_lines  # (the policy has fixtures)
    usercache.write("policies", kept.name, marshal.dumps((data, line, [])))
    assert _load(text) == fresh
    assert [f.line for f in _load(text).fixtures] == [f.line for f in fresh.fixtures]
