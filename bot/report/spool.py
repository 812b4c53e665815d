"""Spools: where a streamed rendering keeps what it has written until the header is known.

A report's header (its verdict, the rules SARIF lists) depends on every finding, so writers put
each rendered finding in a spool and copy it out after the header. A spool stays in memory up to
``SPOOL_MEMORY`` characters and moves to a temporary file past it, so a scan's memory does not
grow with its findings. Nothing here knows about reports.
"""

from __future__ import annotations

import io
from typing import IO, TextIO

SPOOL_MEMORY = 4 * 1024 * 1024  # characters kept in memory before the spool goes to disk
COPY_CHUNK = 1024 * 1024

# A string no report holds: what a writer puts where its spool's contents go in a rendered
# header (JSON encodes it as ``"\u0000..."``, so it can't be written by a repository either).
MARKER = "\x00compliance-bot:spool\x00"


class Spool:
    """Text written a piece at a time: a list of the pieces up to ``SPOOL_MEMORY`` characters,
    then a temporary file that they go to ``CHUNK`` characters at a time.

    A streamed report writes once per finding, and a list append costs a tenth of a write to a
    file object (on a scan of 650,000 findings that was most of a second of the process that
    writes the report). The file, and the ``tempfile`` module, are only needed by a report past
    ``SPOOL_MEMORY``: most scans never open one, and start without importing it.
    """

    CHUNK = 256 * 1024  # characters gathered before they go to the file, once there is one

    def __init__(self) -> None:
        self._file: IO[str] | None = None
        self._parts: list[str] = []
        self._size = 0  # characters in ``_parts``
        self._limit = SPOOL_MEMORY  # the size at which ``_parts`` go to the file

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= self._limit:
            self._drain()

    def _drain(self) -> None:
        if self._file is None:
            import tempfile

            # (closed by ``close``: a spool outlives any ``with`` here)
            self._file = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="")  # noqa: SIM115
            self._limit = self.CHUNK
        self._file.write("".join(self._parts))
        self._parts.clear()
        self._size = 0

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def rewound(self) -> IO[str]:
        """Everything written, to be read from the start (line by line, say)."""
        if self._file is None:
            return io.StringIO("".join(self._parts), newline="")
        self._drain()
        self._file.seek(0)
        return self._file

    def copy_to(self, out: TextIO) -> None:
        """Write everything written to ``out``, and close the spool."""
        if self._file is None:
            out.write("".join(self._parts))
        else:
            import shutil

            shutil.copyfileobj(self.rewound(), out, COPY_CHUNK)
        self.close()

    def close(self) -> None:
        self._parts.clear()
        self._size = 0
        if self._file is not None:
            self._file.close()


def new_spool() -> Spool:
    return Spool()
