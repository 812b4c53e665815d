"""Spools: where a streamed rendering keeps what it has written until the header is known.

A report's header (its verdict, the rules SARIF lists) depends on every finding, so writers put
each rendered finding in a spool and copy it out after the header. A spool stays in memory up to
``SPOOL_MEMORY`` characters and moves to a temporary file past it, so a scan's memory does not
grow with its findings. Nothing here knows about reports.

A large scan lays out its findings in the processes that evaluate them (``Rendering``). A
large piece of that text is not sent back to the process that writes the report: the process
that laid it out leaves it in its own file of the scan's spill folder (``kept``) and sends
back where it is (a ``Segment``), and the spool copies those bytes to the output at the end
(``os.sendfile`` where it can), so that the writing process never reads them. On the
finding-heavy 100 files of benchmarks/engine.py (a 6.6 MB report, then evaluated by a pool of
two processes), that took 15 ms off a scan of 232 ms, and 23 ms of CPU.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
from typing import IO, TYPE_CHECKING, NamedTuple, TextIO

if TYPE_CHECKING:
    from tempfile import TemporaryDirectory

SPOOL_MEMORY = 4 * 1024 * 1024  # characters kept in memory before the spool goes to disk
COPY_CHUNK = 1024 * 1024

# A string no report holds: what a writer puts where its spool's contents go in a rendered
# header (JSON encodes it as ``"\u0000..."``, so it can't be written by a repository either).
MARKER = "\x00compliance-bot:spool\x00"

# Pieces shorter than this cross back as text: a segment costs a write there and a copy here,
# which only a piece of some size pays back.
SPILL_MIN = 8 * 1024  # characters
SEGMENT_COST = 64  # what a segment counts for in a spool's memory, in characters


class Segment(NamedTuple):
    """Text that an evaluating process left in its file of a scan's spill folder (``kept``)."""

    path: str
    offset: int
    size: int  # bytes of UTF-8

    def after(self, prefix: str) -> Segment:
        """The segment without ``prefix``, ASCII text that it is known to start with."""
        return Segment(self.path, self.offset + len(prefix), self.size - len(prefix))


Part = str | Segment


def after(part: Part, prefix: str) -> Part:
    """``part`` without ``prefix``, ASCII text that it is known to start with."""
    return part[len(prefix) :] if isinstance(part, str) else part.after(prefix)


class Spool:
    """Text written a piece at a time: a list of the pieces up to ``SPOOL_MEMORY`` characters,
    then a temporary file that they go to ``CHUNK`` characters at a time.

    A streamed report writes once per finding, and a list append costs a tenth of a write to a
    file object (on a scan of 650,000 findings that was most of a second of the process that
    writes the report). The file, and the ``tempfile`` module, are only needed by a report past
    ``SPOOL_MEMORY``: most scans never open one, and start without importing it.

    A piece may also be a ``Segment``, bytes in a file of a spill folder: it is copied when
    the spool is, and the spool holds only its place (two that follow on in one file, one).
    """

    CHUNK = 256 * 1024  # characters gathered before they go to the file, once there is one

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None  # unbuffered: segments are copied in by descriptor
        self._reading: IO[str] | None = None  # what ``rewound`` gave, closed with the spool
        self._parts: list[Part] = []
        self._size = 0  # characters in ``_parts``, a segment counting SEGMENT_COST
        self._limit = SPOOL_MEMORY  # the size at which ``_parts`` go to the file

    def write(self, part: Part) -> None:
        if isinstance(part, str):
            self._parts.append(part)
            self._size += len(part)
        else:
            parts = self._parts
            last = parts[-1] if parts else None
            if (
                isinstance(last, Segment)
                and last.path == part.path
                and last.offset + last.size == part.offset
            ):
                parts[-1] = Segment(last.path, last.offset, last.size + part.size)
                return
            parts.append(part)
            self._size += SEGMENT_COST
        if self._size >= self._limit:
            self._drain()

    def _drain(self) -> None:
        if self._file is None:
            import tempfile

            # (closed by ``close``: a spool outlives any ``with`` here)
            self._file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115
            self._limit = self.CHUNK
        fd = self._file.fileno()
        with _Sources() as sources:
            for run in _runs(self._parts):
                if isinstance(run, str):
                    write_all(fd, run.encode("utf-8"))
                else:
                    _send(sources.fd(run.path), run.offset, run.size, fd)
        self._parts.clear()
        self._size = 0

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def rewound(self) -> IO[str]:
        """Everything written, to be read from the start (line by line, say)."""
        if self._file is None:
            text = io.StringIO(newline="")
            self._copy_parts(text)
            text.seek(0)
            return text
        self._drain()
        fd = os.dup(self._file.fileno())
        os.lseek(fd, 0, os.SEEK_SET)
        self._reading = open(fd, encoding="utf-8", newline="")  # noqa: SIM115
        return self._reading

    def copy_to(self, out: TextIO) -> None:
        """Write everything written to ``out``, and close the spool."""
        if self._file is None:
            self._copy_parts(out)
        else:
            self._drain()
            fd = self._file.fileno()
            copy_bytes(fd, 0, os.fstat(fd).st_size, out)
        self.close()

    def _copy_parts(self, out: TextIO) -> None:
        with _Sources() as sources:
            for run in _runs(self._parts):
                if isinstance(run, str):
                    out.write(run)
                else:
                    copy_bytes(sources.fd(run.path), run.offset, run.size, out)

    def close(self) -> None:
        self._parts.clear()
        self._size = 0
        if self._reading is not None:
            self._reading.close()
        if self._file is not None:
            self._file.close()


def new_spool() -> Spool:
    return Spool()


def write_to(out: TextIO, part: Part) -> None:
    """Write ``part`` to ``out`` now: a segment's bytes straight from its file where ``out``
    takes bytes (``copy_bytes``)."""
    if isinstance(part, str):
        out.write(part)
        return
    with _Sources() as sources:
        copy_bytes(sources.fd(part.path), part.offset, part.size, out)


def _runs(parts: list[Part]) -> list[str | Segment]:
    """The parts with each run of texts joined into one."""
    runs: list[str | Segment] = []
    texts: list[str] = []
    for part in parts:
        if type(part) is str:
            texts.append(part)
            continue
        if texts:
            runs.append("".join(texts))
            texts.clear()
        runs.append(part)
    if texts:
        runs.append("".join(texts))
    return runs


class _Sources:
    """The spill files that segments are read from, each opened once, closed on leaving."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def fd(self, path: str) -> int:
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY)
        return fd

    def __enter__(self) -> _Sources:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds.values():
            os.close(fd)


def copy_bytes(fd: int, offset: int, size: int, out: TextIO) -> None:
    """Copy ``size`` bytes of UTF-8 text at ``offset`` of ``fd`` to ``out``: in the kernel when
    bytes written to ``out``'s file descriptor read as the same text would (a UTF-8 stream
    with no newline translation); decoded and written as text otherwise (a ``StringIO``,
    another encoding, Windows)."""
    target = _byte_target(out)
    if target is not None:
        out.flush()
        if _send(fd, offset, size, target, fall_back=False):
            return
    decoder = codecs.getincrementaldecoder("utf-8")()
    end = offset + size
    while offset < end:
        data = os.pread(fd, min(COPY_CHUNK, end - offset), offset)
        if not data:
            raise OSError(errno.EIO, "a spilled piece of the report was cut short")
        offset += len(data)
        out.write(decoder.decode(data, final=offset >= end))


def _byte_target(out: TextIO) -> int | None:
    if os.linesep != "\n" or not hasattr(os, "sendfile"):
        return None
    try:
        encoding = codecs.lookup(out.encoding).name
        fd = out.fileno()
    except (AttributeError, TypeError, LookupError, OSError, ValueError):  # (no file, no name)
        return None
    return fd if encoding == "utf-8" else None


# sendfile refuses some pairs: an O_APPEND target (Linux), anything but a socket (macOS)
_NOT_HERE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK, errno.EOPNOTSUPP, errno.EBADF}


def _send(source: int, offset: int, size: int, target: int, *, fall_back: bool = True) -> bool:
    """Copy bytes between descriptors, with ``os.sendfile`` where the pair allows it; else,
    with ``fall_back``, through this process. False when nothing was copied and it could not."""
    sent_any = False
    if hasattr(os, "sendfile"):
        try:
            while size > 0:
                sent = os.sendfile(target, source, offset, min(size, 1 << 30))
                if sent == 0:
                    raise OSError(errno.EIO, "a spilled piece of the report was cut short")
                sent_any = True
                offset += sent
                size -= sent
            return True
        except OSError as exc:
            if sent_any or exc.errno not in _NOT_HERE:
                raise
    if not fall_back:
        return False
    while size > 0:
        data = os.pread(source, min(COPY_CHUNK, size), offset)
        if not data:
            raise OSError(errno.EIO, "a spilled piece of the report was cut short")
        write_all(target, data)
        offset += len(data)
        size -= len(data)
    return True


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# -- in an evaluating process ---------------------------------------------------------------------


class _Spill:
    """This process's file in a scan's spill folder, opened when first written to (by any of
    the process's threads: one at a time)."""

    __slots__ = ("fd", "folder", "lock", "offset", "path", "pid")

    def __init__(self, folder: str) -> None:
        import threading

        self.folder = folder
        self.pid = os.getpid()
        self.path = os.path.join(folder, str(self.pid))
        self.fd = -1
        self.offset = 0
        self.lock = threading.Lock()

    def write(self, text: str) -> Segment:
        data = text.encode("utf-8")
        with self.lock:
            if self.fd < 0:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self.offset = os.fstat(self.fd).st_size
            write_all(self.fd, data)
            segment = Segment(self.path, self.offset, len(data))
            self.offset += len(data)
        return segment

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_spill: _Spill | None = None


def spill_into(folder: str | None) -> None:
    """Have ``kept`` leave large pieces in this process's file under ``folder`` (None: not)."""
    global _spill
    if _spill is not None and _spill.folder == folder and _spill.pid == os.getpid():
        return  # (a process forked from one that spilled makes its own file)
    if _spill is not None:
        _spill.close()
    _spill = _Spill(folder) if folder else None


def kept(text: str) -> Part:
    """``text`` as it should cross back to the process that writes the report: where this
    process left it (``spill_into``), when it is large; else the text. A spill folder that
    can't be written to (gone, full) just means text."""
    global _spill
    spill = _spill
    if spill is None or len(text) < SPILL_MIN:
        return text
    try:
        return spill.write(text)
    except OSError:
        spill.close()
        _spill = None
        return text


class SpillFolder:
    """A private temporary folder for evaluating processes to leave pieces in (``kept``): made
    when first asked for, and removed with everything in it by ``close`` (or at exit)."""

    def __init__(self) -> None:
        self._folder: TemporaryDirectory[str] | None = None

    def path(self) -> str:
        if self._folder is None:
            import tempfile

            self._folder = tempfile.TemporaryDirectory(prefix="compliance-bot-")
        return self._folder.name

    def close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
