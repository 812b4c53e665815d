"""Work spread over processes forked for it, this one among them: a large scan on the command line.

The work is a number of chunks. Each process, this one included, claims the next chunk from a
pipe that holds their numbers, and evaluates it. (A read takes one whole number: every write
to the pipe and every read from it is a whole number of them, and Linux and macOS read a pipe
under its lock.)
The forked processes leave each result, pickled, in a file of their own in a private folder,
and say where it is in one small record on a second pipe: they never wait on this process,
however busy it is with a chunk of its own. This process hands the results on in chunk order,
its own from memory, the others' read from their files when their turn comes.

The forked processes start with what this one holds (the policies, the files, the function
that evaluates a chunk): nothing is pickled to them. Against a ``ProcessPoolExecutor`` of two
forked processes (benchmarks/engine.py's corpora, interleaved runs), a scan of the
finding-heavy 100 files went from 222 to 205 ms (21 runs each) and from 330 to 307 ms of CPU,
the finding-heavy 1,000 from 1,200 to 1,173 ms (9), the realistic 1,000 from 351 to 332 ms
(11): ``concurrent.futures`` is not imported, one process fewer is forked, this one works from
the start instead of waiting for the others to start, and its own chunks pay neither the
copy-on-write page faults of a forked process nor pickling.

Only for a process without threads, such as the command line: a thread holding a lock when
the process forks would leave that lock held for ever in the forked one. (The bot's workers
evaluate with their own long-lived processes, ``Services.evaluation_pool``.)
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

from bot.report.spool import write_all

T = TypeVar("T")

_CHUNK = struct.Struct("=I")  # a chunk's number, as the pipe of work holds it
# A forked process's report of one chunk: its number, the process, where the pickle is in the
# process's file (offset, size), and whether it is the result (1) or what was raised (0).
_DONE = struct.Struct("=IIqqI")


PIPE_ROOM = 4096  # bytes that a pipe takes without a reader: POSIX's PIPE_BUF, at the least


class ProcessEnded(ChildProcessError):
    """A forked process ended (killed, out of memory) before the chunk it had claimed was done.
    (An ``OSError``: the command line reports it in one line, as it does a file it can't read.)"""


def spread(
    evaluate: Callable[[int], T], chunks: int, processes: int, ahead: int = 2
) -> Generator[T, None, None]:
    """``evaluate(k)`` of every chunk ``k`` in ``range(chunks)``, in that order, the chunks
    evaluated by ``processes`` processes: this one and ``processes - 1`` forked for them.

    This process holds at most ``ahead`` results of its own that wait for an earlier chunk;
    the forked processes' wait in their files. An exception that evaluating a chunk raised
    in a forked process is raised here, in the chunk's turn (as ``ProcessEnded`` if it could
    not be pickled). When the iterator is closed or fails, the forked processes are stopped
    and waited for, and the folder is removed.
    """
    if processes <= 1 or chunks <= 1 or not hasattr(os, "fork"):  # (Windows: this one alone)
        for k in range(chunks):
            yield evaluate(k)
        return
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="compliance-bot-")
    work_read, work_write = os.pipe()
    done_read, done_write = os.pipe()
    # Every number goes in before any process reads, so that a read finds one or the end; as
    # many as a pipe surely holds before the processes are forked, the rest (a scan of some
    # thousands of chunks) once they are there to make room.
    numbers = b"".join(_CHUNK.pack(k) for k in range(chunks))
    write_all(work_write, numbers[:PIPE_ROOM])
    children: list[int] = []
    try:
        for _ in range(min(processes, chunks) - 1):
            pid = os.fork()
            if pid == 0:  # (never returns)
                _forked(evaluate, work_read, work_write, done_read, done_write, folder)
            children.append(pid)
        write_all(work_write, numbers[PIPE_ROOM:])
        for fd in (work_write, done_write):  # (the others' ends: the pipes end with them)
            os.close(fd)
        work_write = done_write = -1
        yield from _gather(evaluate, chunks, work_read, done_read, folder, ahead)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):  # (one that is done has exited)
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        for fd in (work_read, work_write, done_read, done_write):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)


def _forked(
    evaluate: Callable[[int], Any],
    work: int,
    work_write: int,
    done_read: int,
    done: int,
    folder: str,
) -> None:
    """A forked process: claim chunks until none is left, leave each result in this process's
    file, report where. It ends with ``os._exit``: nothing of this process's parent (buffered
    output, exit handlers, temporary folders' finalizers) runs twice."""
    code = 0
    try:
        os.close(work_write)  # (or the pipe of work would never end for anyone)
        os.close(done_read)
        fd = os.open(os.path.join(folder, str(os.getpid())), os.O_WRONLY | os.O_CREAT, 0o600)
        offset = 0
        while True:
            claimed = os.read(work, _CHUNK.size)
            if len(claimed) < _CHUNK.size:  # (the end: every chunk claimed)
                break
            (k,) = _CHUNK.unpack(claimed)
            try:
                data, ok = pickle.dumps(evaluate(k), pickle.HIGHEST_PROTOCOL), 1
            except Exception as exc:
                data, ok = _pickled_error(exc), 0
            write_all(fd, data)
            os.write(done, _DONE.pack(k, os.getpid(), offset, len(data), ok))  # (atomic)
            offset += len(data)
    except BaseException:  # (^C, a full disk: this process just ends; its parent sees it)
        code = 1
    finally:
        os._exit(code)


def _pickled_error(exc: Exception) -> bytes:
    try:
        return pickle.dumps(exc, pickle.HIGHEST_PROTOCOL)
    except Exception:  # (an exception that can't be pickled: its text, then)
        return pickle.dumps(ProcessEnded(f"{type(exc).__name__}: {exc}"))


def _gather(
    evaluate: Callable[[int], T],
    chunks: int,
    work: int,
    done: int,
    folder: str,
    ahead: int,
) -> Iterator[T]:
    """This process's part: results in chunk order, evaluating chunks of its own whenever the
    next result is not in yet."""
    mine: dict[int, T] = {}  # chunks evaluated here, waiting for their turn
    theirs: dict[int, tuple[int, int, int, int]] = {}  # chunk -> (process, offset, size, ok)
    pending = b""
    ended = False

    def read_reports(wait: bool) -> None:
        nonlocal pending, ended
        if not wait and not select.select([done], [], [], 0)[0]:
            return
        data = os.read(done, 64 * 1024)
        if not data:
            ended = True
            return
        pending += data
        whole = len(pending) - len(pending) % _DONE.size
        for start in range(0, whole, _DONE.size):
            k, pid, offset, size, ok = _DONE.unpack_from(pending, start)
            theirs[k] = (pid, offset, size, ok)
        pending = pending[whole:]

    for turn in range(chunks):
        while turn not in mine and turn not in theirs:
            read_reports(wait=False)
            if turn in theirs:
                break
            if len(mine) < ahead:
                claimed = os.read(work, _CHUNK.size)
                if len(claimed) == _CHUNK.size:
                    (k,) = _CHUNK.unpack(claimed)
                    mine[k] = evaluate(k)
                    continue
            if ended:
                raise ProcessEnded(
                    f"an evaluation process ended before finishing its work (chunk {turn})"
                )
            read_reports(wait=True)
        if turn in mine:
            yield mine.pop(turn)
            continue
        pid, offset, size, ok = theirs.pop(turn)
        source = os.open(os.path.join(folder, str(pid)), os.O_RDONLY)
        try:
            data = os.pread(source, size, offset)
        finally:
            os.close(source)
        if len(data) != size:
            raise ProcessEnded(f"the result of chunk {turn} was cut short")
        result = pickle.loads(data)
        if not ok:
            raise result
        yield result
