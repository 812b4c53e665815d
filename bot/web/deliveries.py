"""What every webhook edge does with a delivery once its forge's rules are checked: record it
with its audit event, count a refusal, and say what went wrong without leaking a statement.

Shared by ``bot.web.github`` and ``bot.web.gitlab``; each decides what is refused and what is
answered. Nothing here verifies a request or calls a forge.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from flask import jsonify, request
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot import audit
from bot.events import Event
from bot.refusals import count_refusal
from bot.services import Services
from bot.store.tables import Delivery

log = logging.getLogger(__name__)

# IntegrityError is a DBAPIError too: ``record`` catches it first, where it means "seen before"
STORE_DOWN = (DBAPIError, PoolTimeout)


def record(services: Services, row_id: str, event: Event, payload: dict[str, Any]) -> bool:
    """Record a delivery and its audit event; False if its id was recorded before."""
    now: datetime = services.clock()
    repository = event.repo.full_name if event.repo else None
    try:
        with services.store.session() as session:
            session.add(
                Delivery(
                    id=row_id,
                    forge=event.forge,
                    event=event.name,
                    action=event.action,
                    installation_id=event.installation_id,
                    repository=repository,
                    received_at=now,
                    status="received",
                    attempts=0,
                    payload=json.dumps(payload),
                )
            )
            session.flush()  # a known id fails here, before the audit event is written
            audit.record(
                session,
                actor=event.sender or event.forge,
                action="delivery.accepted",
                repository=repository,
                details={
                    "delivery": event.delivery_id,
                    "event": event.name,
                    "action": event.action,
                },
                at=now,
            )
    except IntegrityError:
        return False
    return True


def count_refused(services: Services, reason: str, name: str, delivery: str) -> None:
    """Count a refused request by its source (``bot.refusals``): anonymous traffic adds at most
    one audit event per source and hour. With the store down it is refused all the same."""
    try:
        count_refusal(
            services.store,
            source=request.remote_addr or "unknown",
            reason=reason,
            at=services.clock(),
            event=printable(name, 64),
            delivery=printable(delivery, 80),
        )
    except STORE_DOWN as exc:
        log.warning("store unavailable, refusal not counted: %s", why(exc))


def printable(text: str, limit: int) -> str:
    """Header text an anonymous sender chose, fit for the audit log."""
    return "".join(c for c in text[:limit] if c.isascii() and c.isprintable())


def why(exc: Exception) -> str:
    """The driver's first line, without SQLAlchemy's statement and parameters."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def queue(services: Services, row_id: str, delivery: str, *, new: bool) -> Any:
    """Queue a recorded delivery and answer 202: ``queued``, ``duplicate`` (a known id, queued
    again if it never was), or ``accepted`` with ``queued: false`` when the queue is down (the
    workers queue it later)."""
    try:
        queued = services.jobs.enqueue_recorded(row_id)
    except STORE_DOWN as exc:  # recorded all the same: the workers queue it later
        log.warning("store unavailable, delivery %s not queued yet: %s", delivery, why(exc))
        queued = False
    if not new:
        return jsonify(status="duplicate", delivery=delivery), 202
    if not queued:
        return jsonify(status="accepted", queued=False, delivery=delivery), 202
    return jsonify(status="queued", delivery=delivery), 202
