"""Short-lived named locks in the store, so two jobs never post the same check at once.

Two deliveries for one head commit (``pull_request.opened`` and ``check_suite.requested``
arrive together) would otherwise both find no check run and both create one. A lock is a row;
taking it is an INSERT, which the primary key makes atomic on SQLite and PostgreSQL alike. A lock
expires after ``ttl`` seconds, so a worker killed while holding one delays others, never blocks
them forever, and a lock whose holder process died is released when the process is found dead
(``bot.liveness.reap``). Waiting happens in a worker thread, never in a web request; a lock still
held after ``wait`` raises ``LockTimeout``, which the job queue retries later.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from bot import liveness
from bot.store import Store
from bot.store.tables import Lock


class LockTimeout(RuntimeError):
    pass


@contextmanager
def hold(store: Store, key: str, *, ttl: float = 120.0, wait: float = 90.0) -> Iterator[None]:
    owner = f"{liveness.process_id()}/{uuid.uuid4().hex[:6]}"  # at most 64 characters
    deadline = time.monotonic() + wait
    delay = 0.02
    while True:
        now = datetime.now(UTC)
        try:
            with store.session() as session:
                session.execute(delete(Lock).where(Lock.key == key, Lock.expires_at < now))
                session.add(Lock(key=key, owner=owner, expires_at=now + timedelta(seconds=ttl)))
            break
        except IntegrityError:
            if time.monotonic() > deadline:
                raise LockTimeout(f"lock {key!r} still held after {wait:.0f}s") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    try:
        yield
    finally:
        with store.session() as session:
            session.execute(delete(Lock).where(Lock.key == key, Lock.owner == owner))
