"""Which job-running processes are alive: a row per process, kept fresh by a heartbeat.

A delivery that is ``running`` names the process running it. It may be taken over only when
that process is known dead, never on a timer alone (a long job must not run twice at once):

- its heartbeat is older than ``DEAD_AFTER`` (any host), or
- it ran on this host and its process id no longer exists (``kill -9``, a crash): a restarted
  worker or ``serve`` knows this at once and recovers the delivery at start.

Named locks (``bot.locks``) carry their holder's process id too, so a dead process's locks are
released with it instead of blocking the retry of its own job until they expire.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from bot.store import Store
from bot.store.tables import Lock, Worker

HEARTBEAT_SECONDS = 5.0
DEAD_AFTER = timedelta(seconds=30)
HOST = socket.gethostname()[:200]
# One id per process: host, pid, and a nonce (a pid can be reused after a reboot).
PROCESS_ID = f"{HOST[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def process_id() -> str:
    """This process's id (recomputed after a fork, which changes the pid)."""
    global PROCESS_ID
    if PROCESS_ID.split(":")[-2] != str(os.getpid()):
        PROCESS_ID = f"{HOST[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return PROCESS_ID


def beat(store: Store, role: str, now: datetime) -> None:
    """Register this process or refresh its heartbeat."""
    pid = process_id()
    with store.session() as session:
        row = session.get(Worker, pid)
        if row is None:
            session.add(
                Worker(
                    id=pid, host=HOST, pid=os.getpid(), role=role, started_at=now, heartbeat_at=now
                )
            )
        else:
            row.heartbeat_at = now


def live_ids(now: datetime):  # type: ignore[no-untyped-def]
    """A subquery of the ids of processes whose heartbeat is fresh."""
    return select(Worker.id).where(Worker.heartbeat_at >= now - DEAD_AFTER)


def reap(store: Store, now: datetime) -> list[str]:
    """Forget dead processes (and release their locks); returns their ids."""
    with store.session() as session:
        workers = list(session.scalars(select(Worker)))
        dead = [w.id for w in workers if _dead(w, now)]
        for worker_id in dead:
            session.execute(delete(Worker).where(Worker.id == worker_id))
            session.execute(delete(Lock).where(Lock.owner.like(f"{worker_id}/%")))
    return dead


def _dead(worker: Worker, now: datetime) -> bool:
    if worker.id == process_id():
        return False
    beat_at = worker.heartbeat_at
    if beat_at.tzinfo is None:  # SQLite keeps no zone; the bot writes UTC
        beat_at = beat_at.replace(tzinfo=now.tzinfo)
    if beat_at < now - DEAD_AFTER:
        return True
    return worker.host == HOST and not _pid_alive(worker.pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
