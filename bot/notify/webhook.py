"""The generic webhook template: a JSON event signed per the Standard Webhooks specification.

Body: ``{"type": <kind>, "timestamp": <when it happened>, "data": {...the notification}}``.
Headers: ``webhook-id`` (the same for every attempt at one notification to one destination, so a
receiver can drop a repeat), ``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256, keyed with the destination's
``whsec_`` secret, of ``<id>.<timestamp>.<body>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from bot.notify.destinations import Destination
from bot.notify.model import Notification, Outgoing


def event(note: Notification) -> dict[str, Any]:
    data = note.to_json()
    data.pop("key", None)
    return {"type": note.kind, "timestamp": data["at"], "data": data}


def message_id(note: Notification, destination: str) -> str:
    """Stable per notification and destination: retries and resends carry the same id."""
    digest = hashlib.sha256(f"{destination}\n{note.key}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def sign(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def render(note: Notification, destination: Destination, now: datetime) -> Outgoing:
    assert destination.secret is not None, "webhook destinations are checked to have a secret"
    body = json.dumps(
        event(note), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    ).encode("utf-8")
    msg_id = message_id(note, destination.name)
    timestamp = int(now.astimezone(UTC).timestamp())
    return Outgoing(
        body,
        {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(destination.secret, msg_id, timestamp, body),
        },
    )
