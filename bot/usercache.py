"""The user's cache folder: what one command-line run keeps for the next (issue 14).

Four things are kept, each in a folder of its own under it:

- ``schema-verdicts/``: that a text passed its schema (``bot.verdicts``);
- ``cel-programs/``: policy conditions compiled by the fast CEL interpreter
  (``bot.engine.celstore``);
- ``policies/``: policy files as read from their YAML (``bot.engine.loader``);
- ``globs/``: the expressions pathspec made of a set of file globs (``bot.engine.globs``).

Each is named by the SHA-256 of everything it depends on (:func:`key`), so a name can't be made
to stand for another text. A kept file (:func:`read`, :func:`write`) starts with the SHA-256 of
the rest, so that one cut short or mangled (a full disk, a crash while writing) is not read, and
is written whole under another name and then renamed, so that a reader never sees half of one.

Whoever can write to the user's cache folder can have a check of theirs skipped, or a condition
(or the files a policy looks at) of theirs replaced; they could equally change the user's shell
start-up, or the compiled bytecode that Python runs from the ``__pycache__`` folders of the
installed bot, so that is no new exposure. A folder that another user owns or can write to is
not used at all.

The cache is off until the command line turns it on (:func:`use`): the bot service works in
processes that stay up, where each cost is paid once, and keeps nothing on disk for it.

The folder is ``$COMPLIANCE_BOT_CACHE_DIR``, else ``$XDG_CACHE_HOME/compliance-bot``, else
``~/.cache/compliance-bot``; ``COMPLIANCE_BOT_CACHE_DIR`` set to nothing turns the cache off.
A folder that can't be made or written to just means no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from bot import __version__

MAX_KEPT = 2000  # files in a folder; past it, the first write of a process removes the older half
# (a pack's conditions, lists and files are a few dozen files of 2 to 80 KB: this is room for
# many packs and versions, and a folder that does not grow with every upgrade)

_root: Path | None = None
_folders: dict[str, Path | None] = {}  # name -> the folder, or None when it is not private
_pruned: set[Path] = set()


def cache_root(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The user's cache folder for compliance-bot, or None when the environment turns it off."""
    if "COMPLIANCE_BOT_CACHE_DIR" in environ:
        chosen = environ["COMPLIANCE_BOT_CACHE_DIR"].strip()
        return Path(chosen).expanduser() if chosen else None
    xdg = environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():  # (the XDG rule: a relative value is ignored)
        return Path(xdg) / "compliance-bot"
    home = environ.get("HOME", "").strip()
    return Path(home) / ".cache" / "compliance-bot" if home else None


def use(root: Path | None) -> None:
    """Keep things under ``root`` from now on in this process (None: keep nothing)."""
    global _root
    _root = root
    _folders.clear()


def folder(name: str) -> Path | None:
    """``name``'s folder under the cache, or None: no cache, or one that is not private.

    A folder that is someone else's, or that others may write to, is not used: whoever can
    create a name in it could have a check of the user's skipped. (Made, private, when first
    written: see :func:`make`.)
    """
    if _root is None:
        return None
    if name not in _folders:
        where = _root / name
        _folders[name] = where if _private(where) else None
    return _folders[name]


def key(*parts: str | bytes) -> str:
    """A name for what depends on ``parts`` (and on this version of the bot)."""
    digest = hashlib.sha256()
    for part in (__version__, *parts):
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def read(name: str, kept: str) -> bytes | None:
    """What :func:`write` kept as ``kept`` in folder ``name``; None when nothing is (or what is
    there is damaged)."""
    where = folder(name)
    if where is None:
        return None
    try:
        data = (where / kept).read_bytes()
    except OSError:
        return None
    check, payload = data[:32], data[32:]
    if len(check) < 32 or hashlib.sha256(payload).digest() != check:
        return None
    return payload


def write(name: str, kept: str, payload: bytes) -> None:
    """Keep ``payload`` as ``kept`` in folder ``name``; a cache that can't be written is none."""
    where = folder(name)
    if where is None or not make(where):
        return
    path = where / kept
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(hashlib.sha256(payload).digest() + payload)
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()
        return
    if where not in _pruned:
        _pruned.add(where)
        prune(where)


def prune(where: Path) -> None:
    """Past ``MAX_KEPT`` files in ``where``, remove the older half (by when each was written)."""
    try:
        with os.scandir(where) as entries:
            files = [(entry.stat().st_mtime_ns, entry.path) for entry in entries]
    except OSError:
        return
    if len(files) <= MAX_KEPT:
        return
    files.sort()
    for _, path in files[: len(files) - MAX_KEPT // 2]:
        with contextlib.suppress(OSError):
            os.unlink(path)


def make(where: Path) -> bool:
    """Make a folder that :func:`folder` gave, if it is not there; False when it can't be."""
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    return True


def _private(where: Path) -> bool:
    """Whether ``where`` and every folder above it that exists belong to this user or to root,
    and none can be written by others (but for a sticky one above it, such as ``/tmp``, where
    others can't move what is ours); a folder not made yet will be made private."""
    if not hasattr(os, "getuid"):  # Windows: a user's profile is private by its ACLs
        return True
    uid = os.getuid()
    for each in (where, *where.parents):
        try:
            info = each.lstat()
        except FileNotFoundError:
            continue
        except OSError:
            return False
        if info.st_uid not in (uid, 0):
            return False
        if stat.S_ISLNK(info.st_mode):  # (a link's own mode bits mean nothing)
            continue
        shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if shared and not (info.st_mode & stat.S_ISVTX and each != where):
            return False
    return True
