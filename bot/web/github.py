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
import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from bot.events import PayloadError, parse_github
from bot.handlers import route
from bot.services import Services
from bot.web import validate
from bot.web.deliveries import STORE_DOWN, count_refused, queue, record, why

blueprint = Blueprint("github", __name__)
log = logging.getLogger(__name__)

REFUSED = "missing or invalid signature"


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
        count_refused(services, REFUSED, name, delivery)
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
        new = record(services, row_id, event, payload)
    except STORE_DOWN as exc:
        log.warning("store unavailable, delivery %s refused with 503: %s", delivery, why(exc))
        return jsonify(error="store unavailable"), 503
    return queue(services, row_id, delivery, new=new)
