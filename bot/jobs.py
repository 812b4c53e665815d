"""Durable jobs on Huey: process a recorded webhook delivery, exactly once in effect.

A delivery row is written before its job is queued, so nothing accepted is lost: jobs that were
queued or running when a process died are found in the table and queued again
(:func:`Jobs.recover`). A job claims its delivery with one conditional UPDATE, so a duplicate job
(redelivery, recovery) does nothing, and every handler reconciles rather than reacts, so running
one again is safe. Transient forge errors are retried after the delay the forge asked for; the
queue waits, not a web request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.exceptions import RetryTask
from sqlalchemy import delete, or_, select, update

from bot import audit
from bot.config import Settings
from bot.events import PayloadError, parse_github
from bot.forge.base import ForgeError, TransientForgeError
from bot.handlers import route
from bot.handlers.context import Context
from bot.store import Store
from bot.store.tables import Delivery, Lock

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)  # a running job not finished by then is presumed dead
POLL_MAX_DELAY = 0.25  # seconds an idle SQLite-queue worker waits between polls, at most


class EmbeddedHuey(SqliteHuey):
    """``SqliteHuey`` whose consumers poll the queue at least every ``POLL_MAX_DELAY`` seconds.

    Redis wakes a waiting worker at once; SQLite can't, so Huey's workers poll, and by default
    back off to one poll every 10 s while the queue is empty. A webhook reaching an idle bot then
    waited seconds before a worker saw it (``benchmarks/forge.py``, delivery to check). An empty
    poll is one indexed SELECT on a local file, so polling a few times a second costs nothing.
    """

    def create_consumer(self, **options: Any) -> Any:
        options.setdefault("max_delay", POLL_MAX_DELAY)
        return super().create_consumer(**options)


def make_huey(settings: Settings, *, immediate: bool = False) -> Huey:
    if settings.redis_url:
        return RedisHuey(settings.queue_name, url=settings.redis_url, immediate=immediate)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return EmbeddedHuey(
        settings.queue_name, filename=str(settings.queue_path), immediate=immediate, timeout=30
    )


class Jobs:
    """The task table. ``context_for(event)`` builds a handler context (forge, actions...)."""

    def __init__(
        self,
        huey: Huey,
        store: Store,
        context_for: Callable[[Any], Context],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.huey = huey
        self.store = store
        self.context_for = context_for
        self.clock = clock
        self.process_delivery = huey.task(name="process_delivery")(self._process_delivery)
        self.sweep_all = huey.task(name="sweep_all")(self._sweep_all)
        self.sweep_repository = huey.task(name="sweep_repository", retries=3, retry_delay=60)(
            self._sweep_repository
        )
        self.sweeper: Callable[[int, str], Any] | None = None  # set by Services
        self.lister: Callable[[], list[tuple[int, str]]] | None = None

    def enqueue(self, delivery_id: str) -> None:
        self.process_delivery(delivery_id)

    # -- the job ------------------------------------------------------------------------------
    def _process_delivery(self, delivery_id: str) -> str:
        if not self._claim(delivery_id):
            return "skipped"
        with self.store.session() as session:
            row = session.get(Delivery, delivery_id)
            assert row is not None
            name, payload, attempts = row.event, row.payload, row.attempts
        try:
            event = parse_github(name, delivery_id.split(":", 1)[-1], json.loads(payload))
            handlers = route(event)
            if handlers:
                context = self.context_for(event)
                for handler in handlers:
                    handler(event, context)
        except TransientForgeError as exc:
            if attempts >= MAX_ATTEMPTS:
                self._finish(delivery_id, "failed", f"gave up after {attempts} attempts: {exc}")
                return "failed"
            self._finish(delivery_id, "queued", str(exc))
            log.info("delivery %s: %s; retrying in %.0fs", delivery_id, exc, exc.retry_after)
            raise RetryTask(delay=exc.retry_after) from None
        except (PayloadError, ForgeError, ValueError) as exc:
            self._finish(delivery_id, "failed", str(exc))
            return "failed"
        except Exception as exc:  # a bug: record it, never lose the delivery silently
            log.exception("delivery %s failed", delivery_id)
            self._finish(delivery_id, "failed", f"{type(exc).__name__}: {exc}")
            return "failed"
        self._finish(delivery_id, "done", None)
        return "done"

    def _claim(self, delivery_id: str) -> bool:
        now = self.clock()
        with self.store.session() as session:
            result = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    or_(
                        Delivery.status == "queued",
                        (Delivery.status == "running") & (Delivery.started_at < now - LEASE),
                    ),
                )
                .values(status="running", started_at=now, attempts=Delivery.attempts + 1)
            )
            return result.rowcount == 1

    def _finish(self, delivery_id: str, status: str, error: str | None) -> None:
        with self.store.session() as session:
            row = session.get(Delivery, delivery_id)
            if row is None:
                return
            row.status = status
            row.error = error
            row.finished_at = self.clock() if status in ("done", "failed") else None
            if status == "failed":
                audit.record(
                    session,
                    actor="compliance-bot",
                    action="delivery.failed",
                    repository=row.repository,
                    details={"delivery": delivery_id, "event": row.event, "error": error},
                )

    # -- deadlines ----------------------------------------------------------------------------
    def _sweep_all(self) -> int:
        """Queue one sweep per repository the App is installed on."""
        assert self.lister is not None
        repos = self.lister()
        for installation_id, full_name in repos:
            self.sweep_repository(installation_id, full_name)
        return len(repos)

    def _sweep_repository(self, installation_id: int, full_name: str) -> Any:
        assert self.sweeper is not None
        try:
            return self.sweeper(installation_id, full_name)
        except TransientForgeError as exc:
            raise RetryTask(delay=exc.retry_after) from None

    # -- recovery -----------------------------------------------------------------------------
    def recover(self, *, lease: timedelta = LEASE) -> list[str]:
        """Queue again every delivery that was accepted but not finished (crash, lost enqueue).

        ``lease=timedelta(0)`` is right when no other worker can be running (``serve`` at
        start); scale-out workers use the default so they don't steal each other's jobs.
        """
        now = self.clock()
        with self.store.session() as session:
            if lease == timedelta(0):
                # No other worker can be alive: what was running died, and so did its locks.
                session.execute(
                    update(Delivery).where(Delivery.status == "running").values(status="queued")
                )
                session.execute(delete(Lock))
            ids = list(
                session.scalars(
                    select(Delivery.id).where(
                        or_(
                            Delivery.status == "queued",
                            (Delivery.status == "running") & (Delivery.started_at < now - lease),
                        )
                    )
                )
            )
        for delivery_id in ids:
            self.enqueue(delivery_id)
        return ids
