"""The outbox: read the audit stream, make one row per notification and destination, send each
from the job queue with retries, exactly once in effect.

- ``pump`` (every few seconds, in every job-running process) reads events past the notifier's
  cursor in ``seq`` order (gap-free, in commit order), inserts a ``notifications`` row per
  notification and destination, and moves the cursor in the same transaction. The cursor row is
  written first, so concurrent pumps take turns instead of racing; a row's ``(destination, key)``
  is unique, so nothing is told twice to one destination even by a repeated signal.
- ``send`` (a Huey task per row) claims the row with a conditional UPDATE (``pending`` ->
  ``sending``), so a duplicate task does nothing; 2xx marks it ``sent``; 429, 5xx, a timeout or
  a refused connection leaves it ``pending`` for a retry after ``Retry-After`` or an
  exponential back-off; other answers, or too many attempts, mark it ``failed`` and append a
  ``notification.failed`` audit event naming the destination (never its URL). A failed row is
  kept: ``compliance-bot notify retry`` sends it again.
- A crash between the POST and the mark can send one notification twice: at least once is what
  HTTP allows. The webhook sink's ``webhook-id`` is stable per notification and destination, so
  a receiver can drop the repeat.

Nothing here is called by a handler, except ``config_read``: the check tells the outbox which
routes a repository's default branch has, so sending needs no forge call (see its docstring).
"""

from __future__ import annotations

import hashlib
import logging
import random
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import __version__, audit, liveness
from bot.config import Settings
from bot.engine.model import EvalError
from bot.notify import slack, teams, webhook
from bot.notify.destinations import Destination, by_name
from bot.notify.model import AuditRecord, Notification, Outgoing
from bot.notify.routes import Route, destinations_for, unknown_destinations
from bot.notify.triggers import Site, notifications_for
from bot.report.text import count
from bot.store import Store
from bot.store.tables import AuditEvent, NotificationRecord, NotifyCursor, NotifyRoutes

log = logging.getLogger(__name__)

CURSOR = "notify"
STATUSES = ("pending", "sending", "sent", "failed")
BATCH = 200  # events per pump transaction
MAX_ATTEMPTS = 12  # 1, 2, 4 ... 256, 300, 300 s: about 18 minutes before a notification fails
BACKOFF_MAX = 300.0
RETRY_AFTER_MAX = 3600.0
LOST_AFTER = timedelta(seconds=60)  # pending and overdue this long: its task was lost, queue again
TEMPLATES: dict[str, Callable[[Notification, Destination, datetime], Outgoing]] = {
    "slack": slack.render,
    "teams": teams.render,
    "webhook": webhook.render,
}
Enqueue = Callable[[int], Any]


# -- the routes of each repository ------------------------------------------------------------


def config_read(
    store: Store,
    settings: Settings,
    *,
    repository: str,
    default_branch: bool,
    routes: tuple[Route, ...],
    sha: str | None,
    now: datetime,
    source: str,
) -> list[EvalError]:
    """The bot read a repository's config for a check or a sweep: remember its routes when they
    come from the default branch, and return the routes' unknown destinations as errors.

    Why remember rather than read at send time: the audit event names a repository, not an
    installation or a commit; reading the config again would cost a forge call (and a fetch)
    per event, and could fail when the forge is down, so the message would wait on the forge.
    The routes the bot last read from the default branch are what its checks enforce anyway;
    they are refreshed by every check of a PR into the default branch and by every sweep.
    """
    if default_branch:
        data = [r.to_json() for r in routes]
        with store.session() as session:
            row = session.get(NotifyRoutes, repository)
            if row is None:
                row = NotifyRoutes(repository=repository, routes=data, sha=sha, updated_at=now)
                session.add(row)
            elif row.routes != data:
                row.routes, row.sha, row.updated_at = data, sha, now
    return unknown_destinations(routes, {d.name for d in settings.notify_destinations}, source)


def routes_of(session: Session, repositories: Iterable[str]) -> dict[str, tuple[Route, ...]]:
    names = sorted(set(repositories))
    if not names:
        return {}
    rows = session.scalars(select(NotifyRoutes).where(NotifyRoutes.repository.in_(names)))
    return {r.repository: tuple(Route.from_json(x) for x in r.routes or ()) for r in rows}


# -- pump: audit stream -> rows -------------------------------------------------------------


def pump(store: Store, settings: Settings, enqueue: Enqueue, now: datetime) -> int:
    """Turn new audit events into notification rows and queue them; returns rows made.

    Also queues again what was lost: rows left ``sending`` by a dead process, and ``pending``
    rows overdue (their task was lost with a queue, or never queued).
    """
    made: list[int] = []
    if _behind(store):
        made = _advance(store, settings, now)
    for row_id in made:
        _enqueue(enqueue, row_id)
    for row_id in _lost(store, now):
        _enqueue(enqueue, row_id)
    return len(made)


def _behind(store: Store) -> bool:
    """Cheap, without a lock: are there events past the cursor?"""
    with store.session() as session:
        cursor = session.scalar(select(NotifyCursor.seq).where(NotifyCursor.name == CURSOR))
        newest = session.scalar(select(func.max(AuditEvent.seq)))
    return newest is not None and (cursor is None or newest > cursor)


def _advance(store: Store, settings: Settings, now: datetime) -> list[int]:
    destinations = by_name(settings.notify_destinations)
    site = Site(settings.github_web_url)
    made: list[int] = []
    with store.session() as session:
        # a write first: concurrent pumps wait here for this one to commit, then see its cursor
        taken = session.execute(
            update(NotifyCursor).where(NotifyCursor.name == CURSOR).values(updated_at=now)
        )
        if _changed(taken) != 1:  # the migration makes the row; someone removed it
            start = session.scalar(select(func.max(AuditEvent.seq))) or 0
            session.add(NotifyCursor(name=CURSOR, seq=start, updated_at=now))
            return []
        if not destinations:  # nobody to tell: keep up, so that adding a destination later
            newest = session.scalar(select(func.max(AuditEvent.seq))) or 0  # tells no backlog
            session.execute(
                update(NotifyCursor).where(NotifyCursor.name == CURSOR).values(seq=newest)
            )
            return []
        cursor = session.scalar(select(NotifyCursor.seq).where(NotifyCursor.name == CURSOR)) or 0
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.seq > cursor)
                .order_by(AuditEvent.seq)
                .limit(BATCH)
            )
        )
        if not events:
            return []
        routes = routes_of(session, (e.repository for e in events if e.repository))
        for event in events:
            for note in _notifications(event, site):
                names = destinations_for(
                    note.kind, routes.get(event.repository or "", ()), settings.notify_default_route
                )
                for name in names:
                    if name not in destinations:
                        continue  # reported as a config error on the repository's checks
                    row_id = _insert(session, note, name, now)
                    if row_id is not None:
                        made.append(row_id)
        session.execute(
            update(NotifyCursor).where(NotifyCursor.name == CURSOR).values(seq=events[-1].seq)
        )
    return made


def _notifications(event: AuditEvent, site: Site) -> list[Notification]:
    record = AuditRecord(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        repository=event.repository,
        pull_request=event.pull_request,
        sha=event.sha,
        details=dict(event.details or {}),
    )
    try:
        return notifications_for(record, site)
    except Exception:  # a builder's bug must not stop the stream behind this event
        log.exception("notify: no notification for audit event %s (%s)", event.seq, event.action)
        return []


def _insert(session: Session, note: Notification, destination: str, now: datetime) -> int | None:
    """The row's id, or None when this notification was already made for this destination."""
    from sqlalchemy.dialects import postgresql, sqlite

    postgres = session.get_bind().dialect.name == "postgresql"
    insert: Any = postgresql.insert if postgres else sqlite.insert
    statement = (
        insert(NotificationRecord)
        .values(
            event_seq=note.seq,
            kind=note.kind,
            destination=destination,
            key=_stored_key(note.key),
            repository=note.repository,
            status="pending",
            attempts=0,
            payload=note.to_json(),
            created_at=now,
            next_attempt_at=now,
        )
        .on_conflict_do_nothing(index_elements=["destination", "key"])
        .returning(NotificationRecord.id)
    )
    return session.scalar(statement)


def _stored_key(key: str) -> str:
    if len(key) <= 200:
        return key
    return f"{key[:120]}#{hashlib.sha256(key.encode()).hexdigest()}"


def _lost(store: Store, now: datetime) -> list[int]:
    overdue = now - LOST_AFTER
    with store.session() as session:
        # left "sending" by a dead process: it may have posted (receivers dedupe by webhook-id)
        session.execute(
            update(NotificationRecord)
            .where(
                NotificationRecord.status == "sending",
                NotificationRecord.worker.is_(None)
                | NotificationRecord.worker.not_in(liveness.live_ids(now)),
            )
            .values(status="pending", next_attempt_at=overdue - timedelta(seconds=1))
        )
        ids = list(
            session.scalars(
                select(NotificationRecord.id)
                .where(
                    NotificationRecord.status == "pending",
                    NotificationRecord.next_attempt_at < overdue,
                )
                .order_by(NotificationRecord.id)
                .limit(500)
            )
        )
        if ids:
            session.execute(
                update(NotificationRecord)
                .where(NotificationRecord.id.in_(ids))
                .values(next_attempt_at=now)
            )
    return ids


def _changed(result: Any) -> int:
    """Rows an UPDATE changed (``CursorResult.rowcount``)."""
    return int(result.rowcount)


def _enqueue(enqueue: Enqueue, row_id: int) -> None:
    try:
        enqueue(row_id)
    except Exception as exc:  # the row stays pending; the next pump queues it again
        log.warning("notify: queue unreachable, notification %s waits: %s", row_id, exc)


# -- send: one row -> one POST ------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int | None  # None: no HTTP answer (timeout, refused, DNS)
    retry_after: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in (408, 429) or self.status >= 500


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook answers; it doesn't send the bot elsewhere (that would resend the body)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def post(destination: Destination, outgoing: Outgoing) -> Response:
    """POST the message; never raises, and no error text names the URL."""
    request = urllib.request.Request(
        destination.url,
        data=outgoing.body,
        headers={"User-Agent": f"compliance-bot/{__version__}", **outgoing.headers},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=destination.timeout) as answer:
            answer.read(65536)
            return Response(answer.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
        retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        exc.close()
        return Response(status, retry_after, f"HTTP {status}")
    except TimeoutError:
        return Response(None, None, f"no answer within {destination.timeout:g}s")
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = (
            reason.strerror
            if isinstance(reason, OSError) and reason.strerror
            else type(reason).__name__
        )
        return Response(None, None, f"connection failed: {text}")
    except (OSError, ValueError) as exc:
        return Response(None, None, f"connection failed: {type(exc).__name__}")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())


Poster = Callable[[Destination, Outgoing], Response]


def send(
    store: Store,
    settings: Settings,
    row_id: int,
    now: datetime,
    *,
    poster: Poster = post,
    max_attempts: int = MAX_ATTEMPTS,
) -> float | None:
    """One attempt at one notification; returns the seconds to wait before the next attempt,
    or None when there is none (sent, failed for good, or another process has it)."""
    me = liveness.process_id()
    with store.session() as session:
        claimed = session.execute(
            update(NotificationRecord)
            .where(NotificationRecord.id == row_id, NotificationRecord.status == "pending")
            .values(
                status="sending",
                attempts=NotificationRecord.attempts + 1,
                claimed_at=now,
                worker=me,
            )
        )
        if _changed(claimed) != 1:
            return None
        row = session.get(NotificationRecord, row_id)
        assert row is not None
        name, payload, attempts = row.destination, dict(row.payload), row.attempts
    destination = by_name(settings.notify_destinations).get(name)
    if destination is None:
        _fail(store, row_id, me, now, f"destination {name} is no longer configured", attempts)
        return None
    try:
        outgoing = TEMPLATES[destination.type](Notification.from_json(payload), destination, now)
    except Exception as exc:  # a template's bug: kept as failed, resent after the fix
        log.exception("notify: cannot render notification %s for %s", row_id, name)
        _fail(store, row_id, me, now, f"cannot render: {type(exc).__name__}", attempts)
        return None
    response = poster(destination, outgoing)
    if response.ok:
        _finish(store, row_id, me, status="sent", sent_at=now, error=None)
        return None
    error = response.error or f"HTTP {response.status}"
    if response.retryable and attempts < max_attempts:
        delay = response.retry_after
        if delay is None:
            delay = min(BACKOFF_MAX, 2.0 ** (attempts - 1)) + random.uniform(0, 0.25)
        delay = min(delay, RETRY_AFTER_MAX)
        _finish(
            store,
            row_id,
            me,
            status="pending",
            next_attempt_at=now + timedelta(seconds=delay),
            error=error,
        )
        log.info(
            "notify: %s to %s, attempt %d: %s; again in %.1fs", row_id, name, attempts, error, delay
        )
        return delay
    _fail(store, row_id, me, now, error, attempts)
    return None


def _finish(store: Store, row_id: int, me: str, **values: Any) -> bool:
    with store.session() as session:
        done = session.execute(
            update(NotificationRecord)
            .where(
                NotificationRecord.id == row_id,
                NotificationRecord.status == "sending",
                NotificationRecord.worker == me,
            )
            .values(**values)
        )
        return _changed(done) == 1


def _fail(store: Store, row_id: int, me: str, now: datetime, error: str, attempts: int) -> None:
    """Failed for good: the row stays (``notify retry`` resends it), and the audit stream says
    so, naming the destination. No trigger reads ``notification.*``: no loop."""
    with store.session() as session:
        done = session.execute(
            update(NotificationRecord)
            .where(
                NotificationRecord.id == row_id,
                NotificationRecord.status == "sending",
                NotificationRecord.worker == me,
            )
            .values(status="failed", error=error)
        )
        if _changed(done) != 1:
            return
        row = session.get(NotificationRecord, row_id)
        assert row is not None
        log.warning(
            "notify: %s to %s failed after %s: %s",
            row_id,
            row.destination,
            count(attempts, "attempt"),
            error,
        )
        audit.record(
            session,
            actor="compliance-bot",
            action="notification.failed",
            repository=row.repository,
            details={
                "notification": row_id,
                "destination": row.destination,
                "kind": row.kind,
                "event": row.event_seq,
                "attempts": attempts,
                "error": error,
            },
            at=now,
        )


# -- for people: retry and counts ----------------------------------------------------------------


def retry_failed(
    store: Store, enqueue: Enqueue, now: datetime, destination: str | None = None
) -> int:
    """Send failed notifications again (after fixing a destination); returns how many."""
    where = [NotificationRecord.status == "failed"]
    if destination is not None:
        where.append(NotificationRecord.destination == destination)
    with store.session() as session:
        ids = list(session.scalars(select(NotificationRecord.id).where(*where)))
        if ids:
            session.execute(
                update(NotificationRecord)
                .where(NotificationRecord.id.in_(ids), NotificationRecord.status == "failed")
                .values(status="pending", attempts=0, next_attempt_at=now)
            )
    for row_id in ids:
        _enqueue(enqueue, row_id)
    return len(ids)


def stats(store: Store) -> dict[str, dict[str, Any]]:
    """Per destination: notifications by status, attempts made, the last error."""
    out: dict[str, dict[str, Any]] = {}
    with store.session() as session:
        rows = session.execute(
            select(
                NotificationRecord.destination,
                NotificationRecord.status,
                func.count(),
                func.sum(NotificationRecord.attempts),
            ).group_by(NotificationRecord.destination, NotificationRecord.status)
        ).all()
        for name, status, count, attempts in rows:
            entry = out.setdefault(name, {"attempts": 0, **dict.fromkeys(STATUSES, 0)})
            entry[status] = count
            entry["attempts"] += int(attempts or 0)
        for name, error in session.execute(
            select(NotificationRecord.destination, NotificationRecord.error)
            .where(NotificationRecord.error.is_not(None))
            .order_by(NotificationRecord.id.desc())
            .limit(200)
        ):
            out.setdefault(name, {"attempts": 0, **dict.fromkeys(STATUSES, 0)})
            out[name].setdefault("last_error", error)
    return out
