"""Durable jobs on Huey: process a recorded webhook delivery, exactly once in effect.

The life of a delivery (its ``status``):

- ``received``: the web edge recorded it (and audited it) and then put it on the queue. If the
  queue was down, it stays ``received`` and the workers' upkeep (:class:`Upkeep`) queues it, so a
  recorded delivery always runs with ``web`` and ``worker`` alone.
- ``queued``: on the queue (or waiting for a retry), once per attempt. A queued delivery that is
  on neither the queue nor its schedule (a process died between the two) is queued again.
- ``running``: claimed by one process with a conditional UPDATE, so a duplicate job does nothing.
  Taken over only when that process is dead (``bot.liveness``), never because it is slow.
- ``done`` or ``failed``: a failure for good runs the event's failure handler (a command gets a
  reply saying what went wrong) and is audited.

Transient forge errors are retried after the delay the forge asked for, or with exponential
back-off; the queue waits, not a web request. Every handler reconciles rather than reacts, so a
job run again after a crash is safe.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from huey import Huey
from huey.exceptions import RetryTask
from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError

from bot import audit, liveness, logs, metrics
from bot.events import Event, PayloadError, parse_github, parse_gitlab
from bot.forge.base import ForgeError, TransientForgeError
from bot.handlers import on_failure, route
from bot.handlers.context import Context
from bot.locks import LockTimeout
from bot.report.text import count
from bot.store import Store
from bot.store.db import rows_changed
from bot.store.tables import Delivery

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_MAX = 120.0  # seconds between attempts at most, when the forge names no delay
PUMP_GRACE = timedelta(seconds=10)  # the web edge queues a delivery itself within this
LOST_AFTER = timedelta(seconds=60)  # queued this long and on no queue: lost, queue it again


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
        self.send_notification = huey.task(name="send_notification")(self._send_notification)
        # set by Services; the first argument is a GitHub installation id, or "gitlab"
        self.sweeper: Callable[[int | str, str], Any] | None = None
        # one attempt at one notification: seconds until the next, or None (bot.notify.outbox)
        self.notifier: Callable[[int], float | None] | None = None  # set by Services
        self.lister: Callable[[], list[tuple[int | str, str]]] | None = None
        self._registered: str | None = None
        self.max_attempts = MAX_ATTEMPTS

    # -- putting deliveries on the queue ---------------------------------------------------
    def enqueue_recorded(self, delivery_id: str) -> bool:
        """Queue a delivery the web edge recorded; False (never an exception) when the queue is
        unreachable: the delivery stays ``received`` and the workers' upkeep queues it."""
        with self.store.session() as session:
            row = session.get(Delivery, delivery_id)
            if row is None or row.status != "received":
                return row is not None  # already queued, running or finished
        try:
            self.process_delivery(delivery_id)
        except Exception as exc:
            log.warning("queue unreachable, delivery %s will be queued later: %s", delivery_id, exc)
            return False
        self._mark_queued(delivery_id, "received")
        return True

    def _mark_queued(self, delivery_id: str, was: str) -> bool:
        with self.store.session() as session:
            changed = rows_changed(
                session,
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == was)
                .values(status="queued", queued_at=self.clock()),
            )
            return changed == 1

    def _requeue(self, delivery_id: str, was: str) -> bool:
        """Take a delivery in state ``was`` and put it on the queue; False if another process
        took it first or the queue is unreachable (then it is left as it was)."""
        if not self._mark_queued(delivery_id, was):
            return False
        try:
            self.process_delivery(delivery_id)
        except Exception:
            with self.store.session() as session:
                session.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery_id, Delivery.status == "queued")
                    .values(status=was)
                )
            raise
        return True

    # -- the job ------------------------------------------------------------------------------
    def _process_delivery(self, delivery_id: str) -> None:
        """The job: timed and counted by outcome, its log lines carrying the delivery."""
        job = "process_delivery"
        with logs.bound(delivery=delivery_id, job=job), metrics.measured_job(job) as outcome:
            outcome.value = self._deliver(delivery_id)

    def _deliver(self, delivery_id: str) -> str:
        """Run the delivery's handlers: ``done``, ``failed`` or ``skipped``, or RetryTask."""
        claimed = self._claim(delivery_id)
        if claimed is None:
            log.info("delivery %s: skipped (finished, or running elsewhere)", delivery_id)
            return "skipped"
        name, payload, attempts = claimed
        started = time.monotonic()
        event: Event | None = None
        try:
            if payload is None:
                raise PayloadError("payload pruned by retention before it ran")
            event = _parse(delivery_id, name, json.loads(payload))
            logs.bind_event(event)
            handlers = route(event)
            if handlers:
                context = self.context_for(event)
                for handler in handlers:
                    handler(event, context)
        except (TransientForgeError, LockTimeout) as exc:
            if attempts >= self.max_attempts:
                self._give_up(delivery_id, event, f"gave up after {attempts} attempts: {exc}")
                return "failed"
            # never sooner than the forge asked, nor than the back-off: a string of one-second
            # Retry-After answers must not spend every attempt in half a minute
            backoff = min(BACKOFF_MAX, 2.0 ** (attempts - 1)) + random.uniform(0, 0.5)
            delay = max(getattr(exc, "retry_after", None) or 0.0, backoff)
            self._finish(delivery_id, "queued", str(exc))
            log.info(
                "delivery %s attempt %d: %s; retrying in %.1fs", delivery_id, attempts, exc, delay
            )
            raise RetryTask(delay=delay) from None
        except (PayloadError, ForgeError, ValueError) as exc:
            self._give_up(delivery_id, event, str(exc))
            return "failed"
        except Exception as exc:  # a bug: record it, never lose the delivery silently
            log.exception("delivery %s failed", delivery_id)
            self._give_up(delivery_id, event, f"{type(exc).__name__}: {exc}")
            return "failed"
        self._finish(delivery_id, "done", None)
        log.info(
            "delivery %s attempt %d: done in %.2fs",
            delivery_id,
            attempts,
            time.monotonic() - started,
        )
        return "done"

    def _claim(self, delivery_id: str) -> tuple[str, str | None, int] | None:
        """Take the delivery for this process: (event, payload, attempt), or None when it is
        finished or running in a live process."""
        now = self.clock()
        me = liveness.process_id()
        if self._registered != me:  # a process runs no job before it is known to be alive
            liveness.beat(self.store, "worker", now)
            self._registered = me
        with self.store.session() as session:
            changed = rows_changed(
                session,
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    or_(
                        Delivery.status.in_(("received", "queued")),
                        (Delivery.status == "running")
                        & (
                            Delivery.worker.is_(None)
                            | Delivery.worker.not_in(liveness.live_ids(now))
                        ),
                    ),
                )
                .values(
                    status="running", started_at=now, worker=me, attempts=Delivery.attempts + 1
                ),
            )
            if changed != 1:
                return None
            row = session.get(Delivery, delivery_id)
            assert row is not None
            return row.event, row.payload, row.attempts

    def _give_up(self, delivery_id: str, event: Event | None, error: str) -> None:
        """A failure for good: the event's failure handler tells people, then it is recorded."""
        log.warning("delivery %s failed: %s", delivery_id, error)
        if event is not None:
            for handler in on_failure(event):
                try:
                    handler(event, self.context_for(event), error)
                except Exception as exc:  # telling people failed too; the audit event remains
                    log.warning("delivery %s: failure handler failed: %s", delivery_id, exc)
        self._finish(delivery_id, "failed", error)

    def _finish(self, delivery_id: str, status: str, error: str | None) -> None:
        with self.store.session() as session:
            row = session.get(Delivery, delivery_id)
            if row is None:
                return
            row.status = status
            row.error = error
            row.finished_at = self.clock() if status in ("done", "failed") else None
            if status == "queued":
                row.queued_at = self.clock()  # waiting on the schedule for its retry
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
        with logs.bound(job="sweep_all"), metrics.measured_job("sweep_all"):
            repos = self.lister()
            for installation_id, full_name in repos:
                self.sweep_repository(installation_id, full_name)
            return len(repos)

    def _sweep_repository(self, installation_id: int | str, full_name: str) -> Any:
        assert self.sweeper is not None
        job = "sweep_repository"
        with logs.bound(repository=full_name, job=job), metrics.measured_job(job):
            try:
                return self.sweeper(installation_id, full_name)
            except TransientForgeError as exc:
                raise RetryTask(delay=exc.retry_after or 60.0) from None

    # -- notifications ------------------------------------------------------------------------
    def _send_notification(self, notification_id: int) -> None:
        assert self.notifier is not None
        with metrics.measured_job("send_notification"):
            delay = self.notifier(notification_id)
            if delay is not None:
                raise RetryTask(delay=delay)

    # -- recovery -----------------------------------------------------------------------------
    def pump(self) -> int:
        """Queue deliveries the web edge recorded but could not queue (queue down, crash)."""
        cutoff = self.clock() - PUMP_GRACE
        with self.store.session() as session:
            ids = list(
                session.scalars(
                    select(Delivery.id)
                    .where(Delivery.status == "received", Delivery.received_at < cutoff)
                    .order_by(Delivery.received_at)
                    .limit(500)
                )
            )
        return sum(1 for delivery_id in ids if self._requeue(delivery_id, "received"))

    def recover(self) -> list[str]:
        """Queue again what dead processes were running, and queued deliveries the queue lost.

        Safe with any number of live workers: a running delivery is taken only from a process
        found dead, and a queued one only when it is on neither the queue nor its schedule.
        """
        now = self.clock()
        liveness.reap(self.store, now)
        with self.store.session() as session:
            orphans = list(
                session.scalars(
                    select(Delivery.id).where(
                        Delivery.status == "running",
                        Delivery.worker.is_(None) | Delivery.worker.not_in(liveness.live_ids(now)),
                    )
                )
            )
            waiting = list(
                session.scalars(
                    select(Delivery.id).where(
                        Delivery.status == "queued",
                        Delivery.queued_at.is_(None) | (Delivery.queued_at < now - LOST_AFTER),
                    )
                )
            )
        recovered = [d for d in orphans if self._requeue(d, "running")]
        if waiting:
            on_queue = self._on_queue()
            recovered += [d for d in waiting if d not in on_queue and self._requeue(d, "queued")]
        return recovered

    def _on_queue(self) -> set[str]:
        """Ids of the deliveries on the queue or waiting on its schedule (for a retry)."""
        tasks = [*self.huey.pending(), *self.huey.scheduled()]
        return {str(t.args[0]) for t in tasks if t.name.endswith("process_delivery") and t.args}


@dataclass(frozen=True)
class Periodic:
    """Work every job-running process does now and then beside its jobs (retention, ...).

    Each must be safe to run in several processes at once (idempotent, or guarded in the store).
    """

    name: str
    seconds: float
    run: Callable[[datetime], Any]


class Upkeep(threading.Thread):
    """What every job-running process does beside its jobs: a heartbeat, queueing deliveries
    the web recorded but couldn't queue, recovering the work of dead processes, retention.

    Failures here (a database restarting) are logged as one line each and retried with
    back-off; they never stop the process.
    """

    def __init__(
        self,
        jobs: Jobs,
        role: str,
        *,
        tasks: Sequence[Periodic] = (),
        tick: float = liveness.HEARTBEAT_SECONDS,
    ) -> None:
        super().__init__(name=f"compliance-bot-upkeep-{role}", daemon=True)
        self.jobs = jobs
        self.role = role
        self.tasks = list(tasks)
        self.tick = tick
        self.stopping = threading.Event()
        self._failing = False

    def start_up(self) -> list[str]:
        """Register, then recover at once what dead processes left (before taking new work)."""
        liveness.beat(self.jobs.store, self.role, self.jobs.clock())
        recovered = self.jobs.recover()
        if recovered:
            log.info("queued again %s", count(len(recovered), "unfinished delivery", "deliveries"))
        return recovered

    def run(self) -> None:
        delay = self.tick
        last_recover = time.monotonic()
        last_run = [0.0] * len(self.tasks)  # every task runs at the first tick
        while not self.stopping.wait(delay):
            try:
                liveness.beat(self.jobs.store, self.role, self.jobs.clock())
                self.jobs.pump()
                if time.monotonic() - last_recover >= 30:
                    last_recover = time.monotonic()
                    self.jobs.recover()
                for i, task in enumerate(self.tasks):
                    if time.monotonic() - last_run[i] >= task.seconds:
                        last_run[i] = time.monotonic()
                        task.run(self.jobs.clock())
            except (DBAPIError, OSError, ConnectionError) as exc:
                if not self._failing:
                    log.warning("upkeep: the store or queue is unreachable: %s", _first_line(exc))
                self._failing = True
                delay = min(60.0, delay * 2)
                continue
            except Exception:
                log.exception("upkeep failed")
                delay = min(60.0, delay * 2)
                continue
            if self._failing:
                log.info("upkeep: the store and queue are reachable again")
            self._failing = False
            delay = self.tick

    def stop(self) -> None:
        self.stopping.set()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


class Runner:
    """Runs jobs in this process: Huey consumer threads, and the upkeep beside them.

    ``serve`` and ``worker`` use it (and the end-to-end harness): at start the process registers
    and recovers what dead processes left, before it takes new work.
    """

    def __init__(
        self,
        jobs: Jobs,
        *,
        role: str,
        workers: int,
        tasks: Sequence[Periodic] = (),
        check_worker_health: bool = True,
    ) -> None:
        self.jobs = jobs
        self.upkeep = Upkeep(jobs, role, tasks=tasks)
        self.consumer = jobs.huey.create_consumer(
            workers=workers,
            worker_type="thread",
            periodic=False,
            check_worker_health=check_worker_health,
        )

    def start(self) -> list[str]:
        """Recover, then consume on background threads; returns the deliveries recovered."""
        recovered = self.upkeep.start_up()
        self.upkeep.start()
        self.consumer.start()
        return recovered

    def run(self) -> None:
        """Recover, then consume in the foreground until a signal stops the consumer."""
        self.upkeep.start_up()
        self.upkeep.start()
        try:
            self.consumer.run()
        finally:
            self.upkeep.stop()

    def stop(self) -> None:
        self.upkeep.stop()
        self.consumer.stop(graceful=True)


def _parse(delivery_id: str, name: str, payload: Any) -> Event:
    """The recorded delivery as an event, read by the parser of the forge it came from."""
    forge, _, key = delivery_id.partition(":")
    return (parse_gitlab if forge == "gitlab" else parse_github)(name, key, payload)
