"""Schema verdicts kept between command-line runs: a text that passed its schema passes again.

Checking a document against one of ``bot/schemas`` takes jsonschema, whose import (referencing,
attrs, rpds and its format checkers) is about a third of what a ``compliance-bot`` command
spends before its first file (docs/benchmarks.md, issue 14): a pre-commit hook would pay it at
every commit for a config that has not changed. Whether a text is valid depends on nothing but
the text, the schema and the code that reads them, so a valid one is remembered by an empty
file named by the SHA-256 of all three, in the user's cache folder (``bot.usercache``, which
says where it is, when it is used and why it can be trusted). Only "valid" is kept: a text with
problems is checked again every time, so its messages are always worked out afresh. Nothing is
read out of the cache, only whether a name exists in it.
"""

from __future__ import annotations

import contextlib

from bot import usercache

FOLDER = "schema-verdicts"


def known_valid(schema: str, text: str) -> bool:
    """Whether ``text`` was found valid against ``schema`` (the schema's own text) before."""
    where = usercache.folder(FOLDER)
    return where is not None and (where / usercache.key(schema, text)).exists()


def remember_valid(schema: str, text: str) -> None:
    """Record that ``text`` is valid against ``schema``; a cache that can't be written is none."""
    where = usercache.folder(FOLDER)
    if where is None or not usercache.make(where):
        return
    with contextlib.suppress(OSError):
        (where / usercache.key(schema, text)).touch()
