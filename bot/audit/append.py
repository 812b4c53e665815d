"""Appending to the audit chain: events wait in the session and are chained as it commits.

``record`` keeps the event in ``session.info`` instead of adding it to the session: an autoflush
would otherwise insert it before it has a place in the chain, and the table refuses the UPDATE
that would fix it. ``seal`` runs just before the commit (a ``before_commit`` listener that
:class:`bot.store.Store` installs on its sessions): it locks the one-row ``audit_head``, numbers
the session's events after it, links their hashes and moves the head. Taking that lock last, and
holding it only until the commit, serialises appenders across threads, processes and hosts
without lock-order inversions, and makes ``seq`` gap-free and in commit order, so a reader that
follows ``seq > cursor`` never skips an event that commits later with a smaller number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from bot.audit.chain import event_hash, plain, utc
from bot.store.tables import AuditEvent, AuditHead

PENDING = "audit.pending"
WIRED = "audit.chained"  # set on sessions whose commits run ``seal``


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    repository: str | None = None,
    pull_request: int | None = None,
    sha: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Queue an event for the session's commit; returns it (``seq``, ``hash`` and ``id`` are
    filled in when the transaction commits)."""
    if not session.info.get(WIRED):
        # an event recorded on a session that never seals would vanish without a trace
        raise RuntimeError("audit.record needs a session from Store.session()")
    event = AuditEvent(
        at=utc(at or datetime.now(UTC)),
        actor=actor or "unknown",
        action=action,
        repository=repository,
        pull_request=pull_request,
        sha=sha,
        details=plain(details),
    )
    session.info.setdefault(PENDING, []).append(event)
    return event


def seal(session: Session) -> None:
    """Chain and insert the session's pending events; a no-op when there are none."""
    pending: list[AuditEvent] = session.info.pop(PENDING, [])
    if not pending:
        return
    session.flush()  # the transaction's own writes first: their errors must not wait on the lock
    head = cast(Table, AuditHead.__table__)
    # An UPDATE, not a SELECT: it takes the row lock on PostgreSQL and the write lock on SQLite,
    # and hands back the head as the previous holder of the lock left it.
    seq, last = session.execute(
        update(head)
        .where(head.c.id == 1)
        .values(seq=head.c.seq + len(pending))
        .returning(head.c.seq - len(pending), head.c.hash)
    ).one()
    for event in pending:
        seq += 1
        event.seq = seq
        event.prev_hash = last
        event.hash = last = event_hash(
            last,
            seq=seq,
            at=event.at,
            actor=event.actor,
            action=event.action,
            repository=event.repository,
            pull_request=event.pull_request,
            sha=event.sha,
            details=event.details,
        )
    session.add_all(pending)
    session.flush()
    session.execute(update(head).where(head.c.id == 1).values(hash=last))


def discard(session: Session, *_: Any) -> None:
    """Forget the pending events of a transaction that rolled back."""
    session.info.pop(PENDING, None)
