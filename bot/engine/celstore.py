"""Compiled CEL kept between command-line runs: a condition compiled once is read back after.

The fast interpreter (``cel-expr-python``) takes about a millisecond to compile a bundled
condition, and 23 ms for the Kubernetes pack at every ``compliance-bot`` start; reading its
compiled form back takes 3 ms. The list that evaluates a set of conditions together
(``bot.engine.cel.run_all``) costs as much again, and a scan only compiles it once the set has
judged a few hundred resources: read back, it is used from the first.

A compiled form depends on nothing but the condition's text and the interpreter that compiled
it, so it is kept in the user's cache folder (``bot.usercache``, which says when it is used, how
a damaged file is told, and why it can be trusted) under the SHA-256 of the text and of the
interpreter's library file (its path, size and time: a new version is another file). A file that
can't be read back is as good as none: the condition is compiled again and the file written
afresh.
"""

from __future__ import annotations

import os
from typing import Any

from cel_expr_python import cel as google_cel  # type: ignore[import-untyped]

from bot import usercache

FOLDER = "cel-programs"


def _library() -> str:
    info = os.stat(google_cel.__file__)
    return f"{google_cel.__file__}\0{info.st_size}\0{info.st_mtime_ns}"


_LIBRARY = _library()


def load(environment: Any, source: str) -> Any:
    """``source``'s compiled form as kept before, read back in ``environment``; None when none
    is kept (or the one kept can't be read)."""
    payload = usercache.read(FOLDER, usercache.key(_LIBRARY, source))
    if payload is None:
        return None
    try:
        return environment.deserialize(payload)
    except (ValueError, RuntimeError):
        return None


def save(source: str, expression: Any) -> None:
    """Keep ``expression``, the compiled form of ``source``."""
    usercache.write(FOLDER, usercache.key(_LIBRARY, source), expression.serialize())
