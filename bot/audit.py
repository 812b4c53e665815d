"""The audit trail: every decision the bot takes, appended to ``audit_events`` and never changed.

The database refuses UPDATE and DELETE on the table (triggers installed by the migrations), so a
row, once written, stays as it was. Callers record facts, not prose: who, what, where, and a
``details`` dict a person or a query can read later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.tables import AuditEvent


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
    event = AuditEvent(
        at=at or datetime.now(UTC),
        actor=actor or "unknown",
        action=action,
        repository=repository,
        pull_request=pull_request,
        sha=sha,
        details=details or {},
    )
    session.add(event)
    return event


def events(
    session: Session, *, action: str | None = None, repository: str | None = None
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if repository is not None:
        query = query.where(AuditEvent.repository == repository)
    return list(session.scalars(query))
