"""The audit log: every decision the bot takes, appended to ``audit_events`` and never changed.

The database refuses UPDATE and DELETE on the table (triggers installed by the migrations), and
each event is hash-chained to the one before it (``chain``, ``append``); signed checkpoints of the
chain are published outside the database (``checkpoints``) so that a change made behind the
bot's back, with the triggers off, is still found by ``verify``. Callers record facts, not prose:
who (``actor``), what (``action``), where (repository, pull request, SHA), when (``at``) and why
(``details``, with a ``reason`` where there is one). ``query`` serves people: list, export, trail.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.audit.append import record
from bot.store.tables import AuditEvent

__all__ = ["events", "record"]


def events(
    session: Session, *, action: str | None = None, repository: str | None = None
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if repository is not None:
        query = query.where(AuditEvent.repository == repository)
    return list(session.scalars(query))
