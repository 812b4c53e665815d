"""Refused webhook requests (unsigned, badly signed), counted so the audit log stays bounded.

Anyone can post to the webhook URL. Writing an audit event per refusal would let anonymous
traffic grow the append-only audit log without bound, so refusals are counted in
``refused_requests`` per source (the remote address) and hour: the first refusal of a source in
an hour is audited (``delivery.refused``), later ones only add to its count. At most
``MAX_SOURCES`` sources are tracked individually per hour; the rest share the source ``other``.
That is at most ``MAX_SOURCES + 1`` audit events an hour, plus one ``delivery.refused.summary``
per hour with the counts, written by :func:`summarise_refusals` once the hour is over.

Nothing here decides whether a request is refused; the web edge does, and calls
:func:`count_refusal`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import audit
from bot.store import Store
from bot.store.tables import RefusedRequests

WINDOW = timedelta(hours=1)
MAX_SOURCES = 100
OTHER = "other"
KEEP = timedelta(days=30)  # counter rows older than this are deleted
MAX_SOURCE = 64  # the width of ``refused_requests.source``


def window_of(at: datetime) -> datetime:
    """The start of the (UTC) hour that ``at`` falls in."""
    return _utc(at).replace(minute=0, second=0, microsecond=0)


def count_refusal(
    store: Store, *, source: str, reason: str, at: datetime, event: str = "", delivery: str = ""
) -> bool:
    """Count one refused request; True if it was audited (its source's first in the window)."""
    window = window_of(at)
    source = (source or "unknown")[:MAX_SOURCE]
    with store.session() as session:
        # the common case, a source seen before in this window, is one UPDATE
        if _increment(session, source, window) or _increment(session, OTHER, window):
            return False
        tracked = session.scalar(
            select(func.count())
            .select_from(RefusedRequests)
            .where(RefusedRequests.window_start == window)
        )
        # Concurrent new sources may each see room for one more: the bound is approximate by
        # the number of web threads, which is still a bound.
        if tracked >= MAX_SOURCES:
            source = OTHER
    try:
        with store.session() as session:
            session.add(
                RefusedRequests(source=source, window_start=window, count=1, reason=reason[:255])
            )
            session.flush()  # a race with another first refusal surfaces here
            audit.record(
                session,
                actor="unknown",
                action="delivery.refused",
                details={
                    "reason": reason,
                    "source": source,
                    "window": window.isoformat(),
                    "event": event,
                    "delivery": delivery,
                },
                at=at,
            )
        return True
    except IntegrityError:
        with store.session() as session:
            _increment(session, source, window)
        return False


class Summary(NamedTuple):
    windows: int  # closed windows summarised by this call
    deleted: int  # counter rows deleted for being older than ``KEEP``


def summarise_refusals(store: Store, now: datetime) -> Summary:
    """One ``delivery.refused.summary`` audit event per closed window not yet summarised.

    Each window is marked and summarised in one transaction, so a crash or a second caller
    never summarises a window twice. Then counter rows older than ``KEEP`` are deleted.
    """
    current = window_of(now)
    with store.session() as session:
        windows = sorted(
            {
                _utc(w)
                for w in session.scalars(
                    select(RefusedRequests.window_start).where(
                        RefusedRequests.summarised.is_(False),
                        RefusedRequests.window_start < current,
                    )
                )
            }
        )
    done = 0
    for window in windows:
        with store.session() as session:
            rows = session.execute(
                update(RefusedRequests)
                .where(
                    RefusedRequests.window_start == window,
                    RefusedRequests.summarised.is_(False),
                )
                .values(summarised=True)
                .returning(RefusedRequests.source, RefusedRequests.count)
            ).all()
            if not rows:  # another caller got there first
                continue
            sources = {source: count for source, count in sorted(rows)}
            audit.record(
                session,
                actor="compliance-bot",
                action="delivery.refused.summary",
                details={
                    "window": window.isoformat(),
                    "refused": sum(sources.values()),
                    "sources": sources,
                },
                at=now,
            )
            done += 1
    with store.session() as session:
        deleted = session.execute(
            delete(RefusedRequests).where(RefusedRequests.window_start < current - KEEP)
        ).rowcount
    return Summary(done, deleted)


def _increment(session: Session, source: str, window: datetime) -> bool:
    result = session.execute(
        update(RefusedRequests)
        .where(RefusedRequests.source == source, RefusedRequests.window_start == window)
        .values(count=RefusedRequests.count + 1)
    )
    return result.rowcount == 1


def _utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored here is UTC
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
