"""Compiled CEL kept between command-line runs: a condition compiled once is read back after.

The fast interpreter (``cel-expr-python``) takes about a millisecond to compile a bundled
condition, and 23 ms for the Kubernetes pack at every ``compliance-bot`` start; reading its
compiled form back takes 3 ms. The list that evaluates a set of conditions together
(``bot.engine.cel.run_all``) costs as much again, and a scan only compiles it once the set has
judged a few hundred resources: read back, it is used from the first.

A compiled form depends on nothing but the condition's text and the interpreter that compiled
it, so it is kept in the user's cache folder (``bot.usercache``, which says when it is used and
why it can be trusted) under the SHA-256 of the text, the interpreter's library file (its path,
size and time: a new version is another file) and our version. Each file starts with the SHA-256
of the rest, so that one cut short or mangled (a full disk, a crash while writing) is not read:
the condition is compiled again and the file written afresh. Files are written whole under
another name and then renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

from cel_expr_python import cel as google_cel  # type: ignore[import-untyped]

from bot import __version__, usercache

FOLDER = "cel-programs"
MAX_KEPT = 2000  # files; past it, the first save of a process removes the older half
# (a pack's conditions and lists are a few dozen files of 2 to 80 KB: this is room for many
# packs and versions, and a folder that does not grow with every upgrade)
_pruned = False


def _library() -> bytes:
    info = os.stat(google_cel.__file__)
    return f"{google_cel.__file__}\0{info.st_size}\0{info.st_mtime_ns}".encode()


_LIBRARY = _library()


def _name(source: str) -> str:
    digest = hashlib.sha256()
    for part in (__version__.encode(), _LIBRARY, source.encode("utf-8", "surrogatepass")):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


def load(environment: Any, source: str) -> Any:
    """``source``'s compiled form as kept before, read back in ``environment``; None when none
    is kept (or the one kept can't be read)."""
    where = usercache.folder(FOLDER)
    if where is None:
        return None
    try:
        data = (where / _name(source)).read_bytes()
    except OSError:
        return None
    check, payload = data[:32], data[32:]
    if len(check) < 32 or hashlib.sha256(payload).digest() != check:
        return None
    try:
        return environment.deserialize(payload)
    except (ValueError, RuntimeError):
        return None


def save(source: str, expression: Any) -> None:
    """Keep ``expression``, the compiled form of ``source``; a cache that can't be written is
    none."""
    where = usercache.folder(FOLDER)
    if where is None or not usercache.make(where):
        return
    payload = expression.serialize()
    path = where / _name(source)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(hashlib.sha256(payload).digest() + payload)
        os.replace(partial, path)
    except OSError:
        _remove(partial)
        return
    global _pruned
    if not _pruned:
        _pruned = True
        prune(where)


def prune(where: Path) -> None:
    """Past ``MAX_KEPT`` files in ``where``, remove the older half (by when each was written)."""
    try:
        with os.scandir(where) as entries:
            kept = [(entry.stat().st_mtime_ns, entry.path) for entry in entries]
    except OSError:
        return
    if len(kept) <= MAX_KEPT:
        return
    kept.sort()
    for _, path in kept[: len(kept) - MAX_KEPT // 2]:
        _remove(Path(path))


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
