"""Globs (``bot.engine.globs``): what the command line keeps of a set of globs matches exactly
what pathspec matches (that a scan which reads them back does not import pathspec:
``tests/test_startup_imports.py``)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bot import usercache
from bot.engine import globs

PATTERNS = [
    ("**/*.yaml", "**/*.yml"),
    (".compliance/**",),
    ("apps/**", "!apps/legacy/**", "apps/legacy/keep.yaml"),
    ("*.md", "docs/", "/charts/*/values.yaml"),
    ("**/kustomization.yaml", "base/**/deploy-?.yaml", "[ab]*/x.yaml"),
    ("**",),
]
PATHS = [
    "a.yaml", "x/a.yaml", "x.yaml/inner.txt", ".yaml", "a.yml", "a.yaml.bak", "README.md",
    "docs/README.md", "docs", "docs/deep/x", "/apps/a.yaml", "./apps/a.yaml",
    "apps/legacy/old.yaml",
    "apps/legacy/keep.yaml", "charts/web/values.yaml", "charts/web/sub/values.yaml",
    ".compliance/config.yaml", "x/.compliance/config.yaml", "base/one/two/deploy-1.yaml",
    "base/deploy-x.yaml", "ax/x.yaml", "cx/x.yaml", "kustomization.yaml", "a/kustomization.yaml",
    "sp ace/é.yaml", "",
]  # fmt: skip


@pytest.fixture
def kept(tmp_path: Path):
    usercache.use(tmp_path / "cache")
    globs._compile.cache_clear()
    yield tmp_path / "cache"
    usercache.use(None)
    globs._compile.cache_clear()


@pytest.mark.parametrize("patterns", PATTERNS, ids=lambda p: " ".join(p))
def test_a_kept_set_matches_what_pathspec_matches(patterns: tuple[str, ...], kept: Path):
    fresh = globs.GlobSet(patterns)  # pathspec's matcher; what it made is kept
    assert not isinstance(fresh._matches, globs._Kept)
    globs._compile.cache_clear()
    again = globs.GlobSet(patterns)  # read back
    assert isinstance(again._matches, globs._Kept)
    for path in PATHS:
        assert again.matches(path) == fresh.matches(path), path
    assert any(fresh.matches(p) for p in PATHS)


def test_without_a_cache_nothing_is_kept(tmp_path: Path):
    globs._compile.cache_clear()
    for patterns in PATTERNS:
        assert not isinstance(globs.GlobSet(patterns)._matches, globs._Kept)
    globs._compile.cache_clear()
    assert not isinstance(globs.GlobSet(PATTERNS[0])._matches, globs._Kept)


def test_a_damaged_kept_set_is_asked_of_pathspec_again(kept: Path):
    globs.GlobSet(PATTERNS[2])
    [file] = (kept / globs.FOLDER).iterdir() if (kept / globs.FOLDER).is_dir() else [None]
    assert file is not None
    data = file.read_bytes()
    file.write_bytes(data[:-3] + b"xyz")  # (its checksum no longer holds)
    globs._compile.cache_clear()
    assert not isinstance(globs.GlobSet(PATTERNS[2])._matches, globs._Kept)


def test_every_bundled_policys_globs_read_back_the_same(kept: Path):
    from bot.engine.loader import load_bundled
    from bot.engine.targets import TARGETS

    sets = {tuple(p.files) for p in load_bundled()} | {tuple(p.exclude) for p in load_bundled()}
    sets |= {t.default_files for t in TARGETS.values()} | {
        t.default_exclude for t in TARGETS.values()
    }
    sets.discard(())
    paths = PATHS + [f"{d}/{n}" for d, n in itertools.product(
        ["", "src", "deploy/prod", ".github/workflows", "node_modules/x"],
        ["a.yaml", "id_rsa", "app.env", "x.pem", "main.py", "values.yml"],
    )]  # fmt: skip
    for patterns in sets:
        fresh = globs.GlobSet(patterns)
        globs._compile.cache_clear()
        again = globs.GlobSet(patterns)
        assert isinstance(again._matches, globs._Kept), patterns
        assert [again.matches(p) for p in paths] == [fresh.matches(p) for p in paths], patterns
