"""``POST /webhooks/github``: verify, check, record, queue, answer. No forge call happens here.

- A missing or wrong ``X-Hub-Signature-256`` is refused with 401 before anything is stored or
  queued. Refusals are counted per source and hour (``bot.refusals``): anonymous traffic adds
  at most one audit event per source and hour, not one per request.
- A signed delivery whose envelope can't be stored or routed (``bot.web.validate``), or whose
  event lacks the facts its handler needs (``bot.events.PayloadError``), is refused with 400
  naming the field. ``ping`` is answered, events no handler takes are acknowledged, and neither
  is recorded.
- The rest is recorded as ``received`` with its ``delivery.accepted`` audit event in one
  transaction, then handed to the queue. A recorded delivery is always run: when the queue is
  unreachable the workers queue it later, and the answer says so (``queued: false``). GitHub
  keeps a delivery's id on redelivery, so a known id is acknowledged as a duplicate (and queued,
  if it never was).
- An unreachable database is a 503 and one warning line, not a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot import audit
from bot.events import Event, PayloadError, parse_github
from bot.handlers import route
from bot.refusals import count_refusal
from bot.services import Services
from bot.store.tables import Delivery
from bot.web import validate

blueprint = Blueprint("github", __name__)
log = logging.getLogger(__name__)

REFUSED = "missing or invalid signature"
# IntegrityError is a DBAPIError too: it is caught first, where it means "seen before"
STORE_DOWN = (DBAPIError, PoolTimeout)


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    # as bytes: compare_digest raises TypeError on a str with non-ASCII characters
    return hmac.compare_digest(expected.encode(), header.encode("utf-8", "replace"))


def _services() -> Services:
    return current_app.extensions["compliance-bot"]


@blueprint.post("/webhooks/github")
def receive() -> Any:
    services = _services()
    secret = services.settings.github_webhook_secret
    if not secret:
        return jsonify(error="the GitHub App is not configured yet"), 503
    body = request.get_data(cache=False)
    name = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if not verify_signature(secret, body, request.headers.get("X-Hub-Signature-256")):
        _count_refusal(services, name, delivery)
        return jsonify(error="invalid signature"), 401
    try:
        validate.check_headers(name, delivery)
        payload = validate.read_payload(body, request.mimetype)
        event = parse_github(name, delivery, payload)
    except (validate.EnvelopeError, PayloadError) as exc:
        return jsonify(error=str(exc)), 400
    if name == "ping":
        return jsonify(status="pong"), 200
    if not route(event):
        return jsonify(status="ignored", delivery=delivery), 202
    row_id = f"github:{delivery}"
    try:
        new = _record(services, row_id, event, payload)
    except STORE_DOWN as exc:
        log.warning("store unavailable, delivery %s refused with 503: %s", delivery, _why(exc))
        return jsonify(error="store unavailable"), 503
    try:
        queued = services.jobs.enqueue_recorded(row_id)
    except STORE_DOWN as exc:  # recorded all the same: the workers queue it later
        log.warning("store unavailable, delivery %s not queued yet: %s", delivery, _why(exc))
        queued = False
    if not new:
        return jsonify(status="duplicate", delivery=delivery), 202
    if not queued:
        return jsonify(status="accepted", queued=False, delivery=delivery), 202
    return jsonify(status="queued", delivery=delivery), 202


def _record(services: Services, row_id: str, event: Event, payload: dict[str, Any]) -> bool:
    """Record a delivery and its audit event; False if its id was recorded before."""
    now: datetime = services.clock()
    repository = event.repo.full_name if event.repo else None
    try:
        with services.store.session() as session:
            session.add(
                Delivery(
                    id=row_id,
                    forge="github",
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
                actor=event.sender or "github",
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


def _count_refusal(services: Services, name: str, delivery: str) -> None:
    try:
        count_refusal(
            services.store,
            source=request.remote_addr or "unknown",
            reason=REFUSED,
            at=services.clock(),
            event=_printable(name, 64),
            delivery=_printable(delivery, 80),
        )
    except STORE_DOWN as exc:  # refused all the same
        log.warning("store unavailable, refusal not counted: %s", _why(exc))


def _printable(text: str, limit: int) -> str:
    """Header text an anonymous sender chose, fit for the audit log."""
    return "".join(c for c in text[:limit] if c.isascii() and c.isprintable())


def _why(exc: Exception) -> str:
    """The driver's first line, without SQLAlchemy's statement and parameters."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
