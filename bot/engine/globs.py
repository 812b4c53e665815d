"""Gitignore-style path globs anchored at the repository root, shared by policies and exceptions.

Matching is case-sensitive, like git. Every pattern is anchored at the root, so ``app.yaml``
means the file at the root, not any ``app.yaml`` anywhere (which gitignore would do).

pathspec turns a set of globs into regular expressions. Importing it costs 20-30 ms, an eighth
of a command-line scan of a few files, for the same few sets of globs every time; so the command
line keeps what pathspec made of a set (each expression, and whether it includes or excludes) in
the user's cache folder (``bot.usercache``) and, next time, matches with those expressions as
pathspec does (``_Kept``): the last one that matches decides. The name of what is kept includes
pathspec's own files (path, size and time: a new version is another name).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterable

from bot import usercache

FOLDER = "globs"


class GlobSet:
    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._matches = _compile(self.patterns)

    def matches(self, path: str) -> bool:
        return self._matches(path)

    def __repr__(self) -> str:
        return f"GlobSet({list(self.patterns)!r})"


@functools.lru_cache(maxsize=1024)
def _compile(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    anchored = ["/" + p.lstrip("/") if not p.startswith("**") else p for p in patterns]
    name = usercache.key(_library(), *anchored)
    kept = _Kept.read(name)
    if kept is not None:
        return kept
    import pathspec

    spec = pathspec.PathSpec.from_lines("gitignore", anchored)
    rules = [
        (p.include, p.regex.pattern, p.regex.flags)
        for p in spec.patterns
        if p.include is not None and isinstance(p, pathspec.RegexPattern) and p.regex is not None
    ]
    if len(rules) == sum(1 for p in spec.patterns if p.include is not None):
        usercache.write(FOLDER, name, json.dumps(rules).encode())
    return spec.match_file


class _Kept:
    """``PathSpec.match_file`` from the expressions pathspec made of a set of globs."""

    def __init__(self, rules: list[tuple[bool, re.Pattern[str]]]) -> None:
        self.rules = rules

    @classmethod
    def read(cls, name: str) -> _Kept | None:
        payload = usercache.read(FOLDER, name)
        if payload is None:
            return None
        try:
            return cls([(bool(i), re.compile(p, f)) for i, p, f in json.loads(payload)])
        except (ValueError, TypeError, re.error):
            return None  # (not what a run of this bot wrote: pathspec is asked again)

    def __call__(self, path: str) -> bool:
        # (pathspec's normalize_file, where "/" is the only separator)
        if path.startswith("/"):
            path = path[1:]
        elif path.startswith("./"):
            path = path[2:]
        included = False
        for include, regex in self.rules:
            if regex.search(path) is not None:
                included = include
        return included


@functools.cache
def _library() -> str:
    """Which pathspec makes the expressions: its package's file, size and time, found without
    importing it."""
    spec = importlib.util.find_spec("pathspec")
    origin = spec.origin if spec is not None and spec.origin else ""
    try:
        info = os.stat(origin)
    except OSError:
        return origin
    return f"{origin}\0{info.st_size}\0{info.st_mtime_ns}"
