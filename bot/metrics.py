"""Prometheus metrics: what the processes measure, and the facts read from the store.

Two sources, merged at each scrape (``exposition``, served by ``bot.web.metrics``):

- What only a process can see (how long a job took and how it ended, what the forge answered and
  how much rate limit it reported, deliveries the web edge answered without recording them) is
  counted with prometheus_client. The long-running processes keep these counts in files under
  ``<data dir>/metrics/<host>`` (prometheus_client's multiprocess mode, ``configure``), so a
  scrape of any gunicorn worker sums every worker and every ``serve``, ``web``, ``worker`` and
  ``clock`` process that shares the data directory.
- Counts of recorded facts (deliveries, checks, exceptions by state, notifications, the audit
  chain, the queue) are read from the store and the queue when scraped (``StoreCollector``):
  right in every process and on every host by construction. Each is one aggregate query over an
  index, and the answer is kept a few seconds so that a scrape storm costs the database nothing.

Handlers never call this module: jobs are measured where they are run (``bot.jobs``) and forge
calls in the one requester they all pass through (``bot.forge.meter``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from huey.exceptions import RetryTask
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import func, inspect, select, text

from bot.config import Settings
from bot.standing import STATES
from bot.store import Store
from bot.store.tables import CheckRecord, Delivery, ExemptionState

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
CACHE_SECONDS = 5.0  # facts read from the store are this old at most
SWEPT_WITHIN = timedelta(days=1)  # exception counts of repositories no longer swept drop out
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


# -- what this process measures -------------------------------------------------------------


@dataclass(frozen=True)
class _Measures:
    jobs: Counter
    job_seconds: Histogram
    forge_requests: Counter
    rate_limit: Gauge
    deliveries_dropped: Counter


PROCESS = CollectorRegistry()  # what this process measured, when it keeps no files
_measures: _Measures | None = None
_lock = threading.Lock()
_directory: Path | None = None


def _get() -> _Measures:
    """The metrics, made on first use: after ``configure``, so that they go to its files."""
    global _measures
    if _measures is None:
        with _lock:
            if _measures is None:
                _measures = _Measures(
                    jobs=Counter(
                        "compliance_bot_jobs",
                        "Jobs run, by job and outcome (done, failed, retry, skipped, error).",
                        ["job", "outcome"],
                        registry=PROCESS,
                    ),
                    job_seconds=Histogram(
                        "compliance_bot_job_duration_seconds",
                        "How long jobs ran, by job.",
                        ["job"],
                        buckets=JOB_BUCKETS,
                        registry=PROCESS,
                    ),
                    forge_requests=Counter(
                        "compliance_bot_forge_requests",
                        "Forge API requests, by forge, method and response status "
                        "(error: no response).",
                        ["forge", "method", "status"],
                        registry=PROCESS,
                    ),
                    rate_limit=Gauge(
                        "compliance_bot_forge_rate_limit_remaining",
                        "Requests left in the forge's rate limit, as its last response said, by "
                        "installation.",
                        ["forge", "installation"],
                        multiprocess_mode="mostrecent",
                        registry=PROCESS,
                    ),
                    deliveries_dropped=Counter(
                        "compliance_bot_deliveries_dropped",
                        "Webhook deliveries acknowledged without being recorded (the store was "
                        "down), by forge; the sweep's reconcile catches up with them.",
                        ["forge"],
                        registry=PROCESS,
                    ),
                )
    return _measures


class Outcome:
    """How a measured job ended; the job sets ``value`` (``done`` unless it says otherwise)."""

    def __init__(self) -> None:
        self.value = "done"


@contextmanager
def measured_job(job: str) -> Iterator[Outcome]:
    """Time the block as one run of ``job`` and count it by outcome: what the block set, or
    ``retry`` when it asks the queue to retry, or ``error`` when it raises."""
    outcome = Outcome()
    started = time.monotonic()
    try:
        yield outcome
    except RetryTask:
        outcome.value = "retry"
        raise
    except BaseException:
        outcome.value = "error"
        raise
    finally:
        measures = _get()
        measures.job_seconds.labels(job).observe(time.monotonic() - started)
        measures.jobs.labels(job, outcome.value).inc()


def forge_response(
    forge: str,
    method: str,
    status: int | str,
    *,
    installation: int | str | None = None,
    remaining: int | None = None,
) -> None:
    """One answer from a forge's API (``status`` is ``error`` when none came)."""
    measures = _get()
    measures.forge_requests.labels(forge, method.upper(), str(status)).inc()
    if remaining is not None:
        measures.rate_limit.labels(forge, str(installation or "app")).set(remaining)


def delivery_dropped(forge: str) -> None:
    """A delivery was answered 2xx but not recorded (a forge that disables failing hooks)."""
    _get().deliveries_dropped.labels(forge).inc()


# -- sharing the measurements between processes ---------------------------------------------


def configure(settings: Settings) -> Path | None:
    """Keep this process's measurements in files that one scrape sums with the other processes'.

    Call once at process start, before anything is measured. Files of this host's processes
    that are gone are removed first: their counts end with them, as a process's counts do.
    Child processes inherit the setting through the environment. Returns the directory, or None
    when it can't be used (then a scrape of this process shows only its own measurements).
    """
    global _directory
    if _measures is not None and _directory is None:
        raise RuntimeError("metrics.configure must run before anything is measured")
    directory = settings.metrics_dir / _host()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path in directory.glob("*.db"):
            pid = path.stem.rsplit("_", 1)[-1]
            if pid.isdigit() and not _running(int(pid)):
                path.unlink(missing_ok=True)
    except OSError as exc:  # e.g. a read-only file system for `web`: not worth refusing to start
        log.warning(
            "metrics: %s is unusable (%s): this process reports only its own",
            directory,
            exc.strerror,
        )
        return None
    os.environ[ENV] = str(directory)
    # prometheus_client picks where values live when it is first imported, which may have been
    # before this process knew its data directory
    values.ValueClass = values.get_value_class()
    _directory = directory
    return directory


def process_gone(pid: int) -> None:
    """A child process (a gunicorn worker) ended: drop its live gauges, keep its counts."""
    if _directory is not None:
        mark_process_dead(pid, str(_directory))


def _host() -> str:
    # processes in different containers may share the data dir and a pid: their hosts differ
    return "".join(c if c.isalnum() or c in "-." else "_" for c in socket.gethostname()) or "host"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Files:
    """The measurements every process on every host sharing the data dir wrote, summed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def collect(self) -> Iterable[Metric]:
        files = [str(p) for p in self.root.glob("*/*.db")]
        return MultiProcessCollector.merge(files, accumulate=True)


class _Registry:
    """This process's own measurements (no files: tests, or a process never configured)."""

    def collect(self) -> Iterable[Metric]:
        return PROCESS.collect()


# -- facts from the store --------------------------------------------------------------------


class StoreCollector:
    """Counts of what the store recorded and the queue holds, read at scrape time.

    Every query is an aggregate over an index (``deliveries(status, event)``,
    ``check_records(name, conclusion)``, one row each for the audit chain's head and newest
    checkpoint), and the result is kept ``ttl`` seconds. Tables other parts of the bot add
    (notifications, the audit chain) are read when they exist. A source that can't be read is
    reported by ``compliance_bot_metrics_source_up`` instead of failing the scrape.
    """

    def __init__(
        self,
        store: Store,
        huey: Any,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ttl: float = CACHE_SECONDS,
    ) -> None:
        self.store = store
        self.huey = huey
        self.clock = clock
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._read_at = float("-inf")
        self._tables: set[str] = set()

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.ttl:
                self._cached = self._read()
                self._read_at = time.monotonic()
            return list(self._cached)

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily(
            "compliance_bot_metrics_source_up",
            "Whether the last read of a source of these metrics (store, queue) succeeded.",
            labels=["source"],
        )
        out: list[Metric] = []
        for source, read in (("store", self._store), ("queue", self._queue)):
            try:
                out += read()
                up.add_metric([source], 1)
            except Exception as exc:
                log.warning("metrics: cannot read the %s: %s", source, exc)
                up.add_metric([source], 0)
        return [*out, up]

    def _queue(self) -> list[Metric]:
        tasks = GaugeMetricFamily(
            "compliance_bot_queue_tasks",
            "Tasks on the job queue: pending (ready to run) or scheduled (waiting for a retry).",
            labels=["state"],
        )
        tasks.add_metric(["pending"], self.huey.pending_count())
        tasks.add_metric(["scheduled"], self.huey.scheduled_count())
        return [tasks]

    def _store(self) -> list[Metric]:
        now = self.clock()
        with self.store.session() as s:
            deliveries = GaugeMetricFamily(
                "compliance_bot_deliveries",
                "Webhook deliveries kept in the store (retention), by event and status "
                "(received, queued, running, done, failed).",
                labels=["event", "status"],
            )
            grouped = select(Delivery.event, Delivery.status, func.count()).group_by(
                Delivery.status, Delivery.event
            )
            for event, status, count in s.execute(grouped):
                deliveries.add_metric([event, status], count)

            waiting = Delivery.status.in_(("received", "queued"))
            count, oldest = s.execute(
                select(
                    func.count(), func.min(func.coalesce(Delivery.queued_at, Delivery.received_at))
                ).where(waiting)
            ).one()
            waiting_count = GaugeMetricFamily(
                "compliance_bot_deliveries_waiting",
                "Deliveries recorded or queued and not yet running.",
                value=count,
            )
            age = GaugeMetricFamily(
                "compliance_bot_deliveries_waiting_oldest_seconds",
                "How long the delivery waiting longest has waited since it was (re)queued; 0 "
                "when none waits.",
                value=_seconds(now, oldest),
            )

            checks = GaugeMetricFamily(
                "compliance_bot_checks",
                "The bot's checks, one per head SHA and check name, by name and conclusion "
                "(pending: not concluded).",
                labels=["name", "conclusion"],
            )
            grouped = select(CheckRecord.name, CheckRecord.conclusion, func.count()).group_by(
                CheckRecord.name, CheckRecord.conclusion
            )
            for name, conclusion, count in s.execute(grouped):
                checks.add_metric([name, conclusion or "pending"], count)

            exceptions = GaugeMetricFamily(
                "compliance_bot_exceptions",
                "Exceptions in exceptions files, by state, as the last deadline sweep of each "
                "repository found them (repositories swept in the last day).",
                labels=["state"],
            )
            by_state = dict.fromkeys(STATES, 0)
            for state, total in s.execute(
                select(ExemptionState.state, func.sum(ExemptionState.count))
                .where(ExemptionState.swept_at >= now - SWEPT_WITHIN)
                .group_by(ExemptionState.state)
            ):
                by_state[state] = int(total or 0)
            for state, total in by_state.items():
                exceptions.add_metric([state], total)

            out: list[Metric] = [deliveries, waiting_count, age, checks, exceptions]
            out += self._notifications(s)
            out += self._audit(s, now)
        return out

    def _has(self, session: Any, table: str) -> bool:
        """Whether the store has ``table`` (added by a later migration); a yes is remembered."""
        if table not in self._tables and inspect(session.connection()).has_table(table):
            self._tables.add(table)
        return table in self._tables

    def _notifications(self, s: Any) -> list[Metric]:
        if not self._has(s, "notifications"):
            return []
        family = GaugeMetricFamily(
            "compliance_bot_notifications",
            "Notifications kept in the store, by status (their outcome so far).",
            labels=["status"],
        )
        for status, count in s.execute(
            text("SELECT status, COUNT(*) FROM notifications GROUP BY status")
        ):
            family.add_metric([str(status)], count)
        return [family]

    def _audit(self, s: Any, now: datetime) -> list[Metric]:
        out: list[Metric] = []
        if self._has(s, "audit_head"):
            size = s.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar()
            out.append(
                GaugeMetricFamily(
                    "compliance_bot_audit_chain_length",
                    "Events in the audit log's hash chain.",
                    value=size or 0,
                )
            )
        if self._has(s, "audit_checkpoints"):
            size, at = s.execute(
                text("SELECT size, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
            ).one_or_none() or (0, None)
            out.append(
                GaugeMetricFamily(
                    "compliance_bot_audit_checkpoint_size",
                    "Events the newest signed checkpoint covers (0: none yet).",
                    value=size or 0,
                )
            )
            if at is not None:
                out.append(
                    GaugeMetricFamily(
                        "compliance_bot_audit_checkpoint_age_seconds",
                        "Seconds since the newest signed checkpoint was made.",
                        value=_seconds(now, at),
                    )
                )
        return out


def _seconds(now: datetime, then: Any) -> float:
    if then is None:
        return 0.0
    if isinstance(then, str):  # SQLite through text() gives the stored string
        then = datetime.fromisoformat(then)
    if then.tzinfo is None:  # SQLite keeps no zone; the bot writes UTC
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


# -- the scrape -----------------------------------------------------------------------------


def exposition(
    store_facts: StoreCollector, settings: Settings, accept: str | None = None
) -> tuple[bytes, str]:
    """Everything, the processes' measurements and the store's facts, in the format the scraper
    asks for in ``accept`` (Prometheus text, or OpenMetrics): (body, content type)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Files(settings.metrics_dir) if _directory is not None else _Registry())
    registry.register(store_facts)
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
