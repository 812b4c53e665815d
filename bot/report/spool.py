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


class Spool:
    """A spooled temporary file whose writes are gathered into chunks first.

    A streamed report writes once per finding, and each write to a ``SpooledTemporaryFile``
    costs about a microsecond of Python (its roll-over check) against a tenth of that for a
    list append: on a scan of 650,000 findings that was most of a second of the process that
    writes the report. So writes are kept in a list and handed to the file ``CHUNK`` characters
    at a time, which keeps memory bounded as before.
    """

    CHUNK = 256 * 1024  # characters gathered before they go to the file

    def __init__(self) -> None:
        self._file = _spooled_file()
        self._parts: list[str] = []
        self._size = 0

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= self.CHUNK:
            self._drain()

    def _drain(self) -> None:
        self._file.write("".join(self._parts))
        self._parts.clear()
        self._size = 0

    def rewound(self) -> IO[str]:
        """Everything written, to be read from the start."""
        self._drain()
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        self._file.close()


def _spooled_file() -> IO[str]:
    return tempfile.SpooledTemporaryFile(SPOOL_MEMORY, mode="w+", encoding="utf-8", newline="")


def new_spool() -> Spool:
    return Spool()


def copy_spool(spool: Spool, out: TextIO) -> None:
    shutil.copyfileobj(spool.rewound(), out, COPY_CHUNK)
    spool.close()
