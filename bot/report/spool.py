"""Spools: where a streamed rendering keeps what it has written until the header is known.

A report's header (its verdict, the rules SARIF lists) depends on every finding, so writers put
each rendered finding in a spool and copy it out after the header. A spool stays in memory up to
``SPOOL_MEMORY`` and moves to a temporary file past it, so a scan's memory does not grow with its
findings. Nothing here knows about reports.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import IO, TextIO

SPOOL_MEMORY = 4 * 1024 * 1024  # characters kept in memory before the spool goes to disk
COPY_CHUNK = 1024 * 1024

# A string no report holds: what a writer puts where its spool's contents go in a rendered
# header (JSON encodes it as ``"\u0000..."``, so it can't be written by a repository either).
MARKER = "\x00compliance-bot:spool\x00"


def new_spool() -> IO[str]:
    return tempfile.SpooledTemporaryFile(SPOOL_MEMORY, mode="w+", encoding="utf-8", newline="")


def copy_spool(spool: IO[str], out: TextIO) -> None:
    spool.seek(0)
    shutil.copyfileobj(spool, out, COPY_CHUNK)
    spool.close()
