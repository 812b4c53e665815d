"""Gitignore-style path globs anchored at the repository root, shared by policies and exceptions.

Matching is case-sensitive, like git. Every pattern is anchored at the root, so ``app.yaml``
means the file at the root, not any ``app.yaml`` anywhere (which gitignore would do).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import pathspec


class GlobSet:
    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._spec = _compile(self.patterns)

    def matches(self, path: str) -> bool:
        return self._spec.match_file(path)

    def __repr__(self) -> str:
        return f"GlobSet({list(self.patterns)!r})"


@functools.lru_cache(maxsize=1024)
def _compile(patterns: tuple[str, ...]) -> pathspec.PathSpec:
    anchored = ["/" + p.lstrip("/") if not p.startswith("**") else p for p in patterns]
    return pathspec.PathSpec.from_lines("gitignore", anchored)
