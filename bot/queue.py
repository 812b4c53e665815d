"""The Huey instance behind the job queue: SQLite in the data dir, or Redis with ``REDIS_URL``.

Both keep no task results (``results=False``): nobody reads them, and Redis would keep every one
forever. With Redis, a consumer whose server goes away says so once and backs off instead of
logging a traceback for every failed poll (Huey's own loop does that, several times a second per
worker thread). Enqueueing is left alone: a caller that enqueues must learn that it failed.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, consumer
from redis import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.config import Settings

log = logging.getLogger(__name__)

POLL_MAX_DELAY = 0.25  # seconds an idle SQLite-queue worker waits between polls, at most
CONNECT_TIMEOUT = 5.0  # seconds to open a connection to Redis
SOCKET_TIMEOUT = 10.0  # seconds to wait for a reply; above Huey's 1 s blocking read
OUTAGE_FIRST_DELAY = 0.5  # seconds before the first retry of an unreachable Redis
OUTAGE_MAX_DELAY = 30.0
OUTAGE_NAP = 1.0  # a waiting worker naps at most this long, so that it stops promptly

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class EmbeddedHuey(SqliteHuey):
    """``SqliteHuey`` whose consumers poll the queue at least every ``POLL_MAX_DELAY`` seconds,
    and whose workers in this process are woken at once by a task enqueued in this process.

    Redis wakes a waiting worker at once; SQLite can't, so Huey's workers poll, and by default
    back off to one poll every 10 s while the queue is empty. A webhook reaching an idle bot then
    waited seconds before a worker saw it (``benchmarks/forge.py``, delivery to check). An empty
    poll is one indexed SELECT on a local file, so polling a few times a second costs nothing.

    Polling still cost a delivery to an idle ``serve`` up to ``POLL_MAX_DELAY`` (backed off to it
    after a few idle polls): the first delivery after a restart waited ~0.1 s more than one that
    followed another (``benchmarks/forge.py --only restart``). ``serve`` takes webhooks and runs
    jobs in one process, so an enqueue there rings a doorbell that the waiting workers listen to;
    a worker in another process (``compliance-bot worker``) still polls.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.doorbell = threading.Event()

    def enqueue(self, task: Any) -> Any:
        queued = super().enqueue(task)
        self.doorbell.set()
        return queued

    def create_consumer(self, **options: Any) -> Any:
        options.setdefault("max_delay", POLL_MAX_DELAY)
        return _DoorbellConsumer(self, **options)


class _DoorbellWorker(consumer.Worker):
    """A worker that waits for the next poll or the doorbell, whichever comes first."""

    huey: EmbeddedHuey
    delay: float
    max_delay: float
    backoff: float

    def loop(self, now: Any = None) -> None:
        self.huey.doorbell.clear()  # (before the read: a task enqueued after it rings again)
        super().loop(now)

    def sleep(self) -> None:
        self.delay = min(self.delay, self.max_delay)
        # (a stop sets the flag, then rings: checked after the doorbell was cleared, one of the
        # two is always seen)
        if not self.stop_flag.is_set():
            self.huey.doorbell.wait(self.delay)
        self.delay *= self.backoff


class _DoorbellConsumer(consumer.Consumer):
    worker_class = _DoorbellWorker

    def stop(self, graceful: bool = False) -> None:
        self.stop_flag.set()  # (before the doorbell: a woken worker must find the stop)
        self.huey.doorbell.set()  # (waiting workers see the stop now, not at their next poll)
        super().stop(graceful)


class Outage:
    """Whether the queue server is reachable, shared by a consumer's threads.

    While it is down, one thread at a time probes it, after a delay that doubles up to
    ``OUTAGE_MAX_DELAY``; the others wait. Going down and coming back are logged once each.
    """

    def __init__(self, what: str, clock: Any = time.monotonic) -> None:
        self.what = what
        self.clock = clock
        self.down = False
        self.delay = OUTAGE_FIRST_DELAY
        self.retry_at = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Seconds to wait before using the server; 0 means go ahead (and probe, if it is down)."""
        with self._lock:
            if not self.down:
                return 0.0
            remaining = self.retry_at - self.clock()
            if remaining > 0:
                return remaining
            # this caller probes; the others wait for its answer
            self.retry_at = self.clock() + self.delay
            return 0.0

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if not self.down:
                self.down = True
                self.delay = OUTAGE_FIRST_DELAY
                log.warning(
                    "%s unreachable (%s); retrying with backoff up to %.0fs",
                    self.what,
                    _first_line(exc),
                    OUTAGE_MAX_DELAY,
                )
            else:
                self.delay = min(self.delay * 2, OUTAGE_MAX_DELAY)
            self.retry_at = self.clock() + self.delay

    def succeeded(self) -> None:
        if not self.down:  # the common case, without taking the lock
            return
        with self._lock:
            if self.down:
                self.down = False
                self.delay = OUTAGE_FIRST_DELAY
                log.info("%s reachable again", self.what)


class ResilientRedisHuey(RedisHuey):
    """``RedisHuey`` whose consumer reads (tasks, schedule) survive the server going away."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outage = Outage("the job queue (REDIS_URL)")

    def dequeue(self) -> Any:
        return self._read(super().dequeue, None)

    def read_schedule(self, timestamp: Any = None) -> Any:
        return self._read(partial(super().read_schedule, timestamp), [])

    def _read(self, read: Any, empty: Any) -> Any:
        wait = self.outage.wait()
        if wait > 0:
            # Huey's Redis workers poll again at once after an empty read: nap here instead
            time.sleep(min(wait, OUTAGE_NAP))
            return empty
        try:
            value = read()
        except _UNREACHABLE as exc:
            self.outage.failed(exc)
            return empty
        self.outage.succeeded()
        return value


def make_huey(settings: Settings, *, immediate: bool = False) -> Huey:
    if settings.redis_url:
        pool = ConnectionPool.from_url(
            settings.redis_url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
        )
        return ResilientRedisHuey(
            settings.queue_name, connection_pool=pool, immediate=immediate, results=False
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return EmbeddedHuey(
        settings.queue_name,
        filename=str(settings.queue_path),
        immediate=immediate,
        timeout=30,
        results=False,
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
