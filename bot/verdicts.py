"""Schema verdicts kept between command-line runs: a text that passed its schema passes again.

Checking a document against one of ``bot/schemas`` takes jsonschema, whose import (referencing,
attrs, rpds and its format checkers) is about a third of what a ``compliance-bot`` command
spends before its first file (docs/benchmarks.md, issue 14): a pre-commit hook would pay it at
every commit for a config that has not changed. Whether a text is valid depends on nothing but
the text, the schema and the code that reads them, so a valid one is remembered by an empty
file named by the SHA-256 of all three, under the user's cache folder. Only "valid" is kept: a
text with problems is checked again every time, so its messages are always worked out afresh.

Nothing is read out of the cache, only whether a name exists in it, and a name can't be made to
stand for another text. Whoever can write to the user's cache folder can make a check of theirs
be skipped; they could equally change the user's shell start-up, so that is no new exposure, and
a folder that another user owns or can write to is not used at all.
The cache is off until the command line turns it on (:func:`use`): the bot service validates in
a process that stays up, where the import is paid once, and keeps nothing on disk for it.

The folder is ``$COMPLIANCE_BOT_CACHE_DIR``, else ``$XDG_CACHE_HOME/compliance-bot``, else
``~/.cache/compliance-bot``; ``COMPLIANCE_BOT_CACHE_DIR`` set to nothing turns the cache off.
A folder that can't be made or written to just means no cache.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from bot import __version__

_FOLDER = "schema-verdicts"
_where: Path | None = None


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
    """Keep verdicts under ``root`` from now on in this process (None: keep none).

    A folder that is someone else's, or that others may write to, is not used: whoever can
    create a name in it could have a check of the user's skipped.
    """
    global _where
    _where = root / _FOLDER if root is not None and _private(root / _FOLDER) else None


def _private(folder: Path) -> bool:
    """Whether ``folder`` and every folder above it that exists belong to this user or to root,
    and none can be written by others (but for a sticky one above it, such as ``/tmp``, where
    others can't move what is ours); a folder not made yet will be made private."""
    if not hasattr(os, "getuid"):  # Windows: a user's profile is private by its ACLs
        return True
    uid = os.getuid()
    for where in (folder, *folder.parents):
        try:
            info = where.lstat()
        except FileNotFoundError:
            continue
        except OSError:
            return False
        if info.st_uid not in (uid, 0):
            return False
        if stat.S_ISLNK(info.st_mode):  # (a link's own mode bits mean nothing)
            continue
        shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if shared and not (info.st_mode & stat.S_ISVTX and where != folder):
            return False
    return True


def _name(schema: str, text: str) -> str:
    digest = hashlib.sha256()
    for part in (__version__, schema, text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def known_valid(schema: str, text: str) -> bool:
    """Whether ``text`` was found valid against ``schema`` (the schema's own text) before."""
    return _where is not None and (_where / _name(schema, text)).exists()


def remember_valid(schema: str, text: str) -> None:
    """Record that ``text`` is valid against ``schema``; a cache that can't be written is none."""
    if _where is None:
        return
    try:
        _where.mkdir(mode=0o700, parents=True, exist_ok=True)
        (_where / _name(schema, text)).touch()
    except OSError:
        pass
