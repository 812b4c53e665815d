"""The user's cache folder: what one command-line run keeps for the next (issue 14).

Two things are kept, each in a folder of its own under it:

- ``schema-verdicts/``: that a text passed its schema (``bot.verdicts``);
- ``cel-programs/``: policy conditions compiled by the fast CEL interpreter
  (``bot.engine.celstore``).

Each is named by the SHA-256 of everything it depends on, so a name can't be made to stand for
another text. Whoever can write to the user's cache folder can have a check of theirs skipped or
a condition of theirs replaced; they could equally change the user's shell start-up, or the
compiled bytecode that Python runs from the ``__pycache__`` folders of the installed bot, so that
is no new exposure. A folder that another user owns or can write to is not used at all.

The cache is off until the command line turns it on (:func:`use`): the bot service works in
processes that stay up, where each cost is paid once, and keeps nothing on disk for it.

The folder is ``$COMPLIANCE_BOT_CACHE_DIR``, else ``$XDG_CACHE_HOME/compliance-bot``, else
``~/.cache/compliance-bot``; ``COMPLIANCE_BOT_CACHE_DIR`` set to nothing turns the cache off.
A folder that can't be made or written to just means no cache.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

_root: Path | None = None
_folders: dict[str, Path | None] = {}  # name -> the folder, or None when it is not private


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
