"""``POST /webhooks/github``: verify, record, queue, answer 202. No forge call happens here.

A missing or wrong ``X-Hub-Signature-256`` is refused with 401 before anything is stored or
queued (the refusal itself is audited). A delivery id seen before is acknowledged and not run
again: GitHub keeps the id on redelivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from bot import audit
from bot.services import Services
from bot.store.tables import Delivery

blueprint = Blueprint("github", __name__)


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def _services() -> Services:
    return current_app.extensions["compliance-bot"]


@blueprint.post("/webhooks/github")
def receive() -> Any:
    services = _services()
    secret = services.settings.github_webhook_secret
    if not secret:
        return jsonify(error="the GitHub App is not configured yet"), 503
    body = request.get_data(cache=False)
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if not verify_signature(secret, body, request.headers.get("X-Hub-Signature-256")):
        with services.store.session() as session:
            audit.record(
                session,
                actor="unknown",
                action="delivery.refused",
                details={
                    "reason": "missing or invalid signature",
                    "event": event[:64],
                    "delivery": delivery[:80],
                    "remote": request.remote_addr,
                },
            )
        return jsonify(error="invalid signature"), 401
    if not event or not delivery or len(delivery) > 72:
        return jsonify(error="X-GitHub-Event and X-GitHub-Delivery are required"), 400
    try:
        payload = _payload(body, request.mimetype)
    except ValueError as exc:
        return jsonify(error=f"unreadable payload: {exc}"), 400
    repo = payload.get("repository") if isinstance(payload.get("repository"), dict) else {}
    installation = (
        payload.get("installation") if isinstance(payload.get("installation"), dict) else {}
    )
    row_id = f"github:{delivery}"
    now = datetime.now(UTC)
    try:
        with services.store.session() as session:
            session.add(
                Delivery(
                    id=row_id,
                    forge="github",
                    event=event[:64],
                    action=str(payload.get("action"))[:64] if payload.get("action") else None,
                    installation_id=installation.get("id"),
                    repository=repo.get("full_name"),
                    received_at=now,
                    status="queued",
                    attempts=0,
                    payload=json.dumps(payload),
                )
            )
            session.flush()
            audit.record(
                session,
                actor=str((payload.get("sender") or {}).get("login") or "github"),
                action="delivery.accepted",
                repository=repo.get("full_name"),
                details={"delivery": delivery, "event": event, "action": payload.get("action")},
                at=now,
            )
    except IntegrityError:
        return jsonify(status="duplicate", delivery=delivery), 202
    services.jobs.enqueue(row_id)
    return jsonify(status="queued", delivery=delivery), 202


def _payload(body: bytes, mimetype: str) -> dict[str, Any]:
    text = body.decode("utf-8")
    if mimetype == "application/x-www-form-urlencoded":
        text = parse_qs(text).get("payload", [""])[0]
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value
