"""The git mirror cache: fetches into bare mirrors, keeps tokens out of config, stays bounded."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bot.forge.git import MirrorCache


def make_origin(root: Path, name: str, size: int) -> str:
    work = root / f"{name}-work"
    work.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "blob.bin").write_bytes(os.urandom(size))  # incompressible, so packs keep the size
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "x"],
        check=True,
    )
    return f"file://{work}"


def test_fetch_evicts_the_least_recently_used_and_keeps_the_token_out(tmp_path: Path):
    cache = MirrorCache(tmp_path / "mirrors", max_bytes=300_000)
    first = make_origin(tmp_path, "a", 200_000)
    second = make_origin(tmp_path, "b", 200_000)
    repo_a = cache.fetch("host", "o/a", first, "secret-token", ["refs/heads/main"])
    assert repo_a.resolve("refs/heads/main")
    config = (cache.path_for("host", "o/a") / "config").read_text()
    assert "secret-token" not in config and "extraHeader" not in config
    cache.fetch("host", "o/b", second, "secret-token", ["refs/heads/main"])
    # both together exceed the bound: the older mirror went, the one just fetched stayed
    assert not cache.path_for("host", "o/a").exists()
    assert cache.path_for("host", "o/b").exists()
    again = cache.fetch("host", "o/a", first, None, ["refs/heads/main"])
    assert again.resolve("refs/heads/main")
    assert not cache.path_for("host", "o/b").exists()
