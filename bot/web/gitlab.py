"""``POST /webhooks/gitlab``: verify, check, record, queue, answer. No forge call happens here.

- ``X-Gitlab-Token`` carries the hook's secret token in plain text (it is not an HMAC); it is
  compared in constant time with ``GITLAB_WEBHOOK_SECRET``. With ``GITLAB_WEBHOOK_SIGNING_TOKEN``
  set, the Standard Webhooks signature (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``) must verify too, with a timestamp at most 5 minutes off. Either refusal
  is a 401, counted per source and hour (``bot.refusals``) as the GitHub edge counts its own.
- A delivery's id is its ``Idempotency-Key``, which GitLab keeps across retries and resends
  (``X-Gitlab-Event-UUID`` before GitLab 17.4). A signed delivery's id is its signed
  ``webhook-id`` (GitLab sends the same value), so a replayed one can't pass as new.
- The envelope is checked as the GitHub edge checks its own (``bot.web.validate``, with the
  fields GitLab's payloads store), and the payload is read into the neutral events the GitHub
  edge gives (``bot.events.parse_gitlab``); either failing is a 400 naming the field. Events no
  handler takes are acknowledged and not recorded; the rest is recorded with its
  ``delivery.accepted`` audit event in one transaction, then queued (``bot.web.deliveries``).
- GitLab does not retry a failed delivery, and disables a hook after a few failures in a row.
  So an unreachable store is not the 503 the GitHub edge answers (GitHub redelivers): the
  delivery is acknowledged as ``not recorded``, in one warning line and one count of
  ``compliance_bot_deliveries_dropped_total``. The deadline sweep's reconcile checks every open
  merge request whose head has no result, which is what a lost merge request event would have
  done; a lost comment is not replayed (its author sees no answer and can repeat it).
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bot import metrics
from bot.events import PayloadError, parse_gitlab
from bot.handlers import route
from bot.services import Services
from bot.web import validate
from bot.web.deliveries import STORE_DOWN, count_refused, queue, record, why

blueprint = Blueprint("gitlab", __name__)
log = logging.getLogger(__name__)

BAD_TOKEN = "missing or invalid X-Gitlab-Token"
BAD_SIGNATURE = "missing or invalid webhook signature"
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
DELIVERY_HEADERS = ("Idempotency-Key", "X-Gitlab-Event-UUID")  # the second before GitLab 17.4
EVENT = re.compile(r"[A-Z][A-Za-z ]{0,63}")  # "Merge Request Hook"
SEGMENT = r"[A-Za-z0-9._-]{1,255}"  # a GitLab group or project path
PROJECT_PATH = re.compile(rf"{SEGMENT}(?:/{SEGMENT}){{1,20}}")
MAX_PATH = 255  # the width of ``deliveries.repository``


def verify_token(secret: str, header: str | None) -> bool:
    if not header:
        return False
    # A WSGI header is its bytes read as Latin-1: encoding it back gives what GitLab sent, so a
    # token with non-ASCII characters matches its UTF-8 bytes.
    return hmac.compare_digest(secret.encode(), header.encode("latin-1", "replace"))


def verify_signature(signing_token: str, body: bytes, headers: dict[str, str]) -> bool:
    """The Standard Webhooks signature of ``body``, with a timestamp within 5 minutes of now."""
    try:
        Webhook(signing_token).verify(body, headers, json_parse=False)
    # the library raises ValueError on a header that is not "v1,<base64>", where it means the
    # same as its own error (a body that is not UTF-8 is verified as the bytes it is, since 1.3)
    except (WebhookVerificationError, ValueError):
        return False
    return True


def check_fields(payload: dict[str, Any]) -> None:
    """The fields the edge stores from a GitLab payload (who acted, in which project) fit."""
    for where, value in (
        ("user", payload.get("user")),
        ("project", payload.get("project")),
    ):
        if value is not None and not isinstance(value, dict):
            raise validate.EnvelopeError(f"{where}: expected an object")
    user = payload.get("user") or {}
    for where, login in (
        ("user.username", user.get("username")),
        ("user_username", payload.get("user_username")),
    ):
        if login is not None and not (isinstance(login, str) and len(login) <= validate.MAX_LOGIN):
            raise validate.EnvelopeError(
                f"{where}: expected a string of at most {validate.MAX_LOGIN} characters"
            )
    path = (payload.get("project") or {}).get("path_with_namespace")
    if path is not None and not (
        isinstance(path, str) and len(path) <= MAX_PATH and PROJECT_PATH.fullmatch(path)
    ):
        raise validate.EnvelopeError("project.path_with_namespace: expected group/project")


def _services() -> Services:
    return current_app.extensions["compliance-bot"]


@blueprint.post("/webhooks/gitlab")
def receive() -> Any:
    services = _services()
    settings = services.settings
    secret = settings.gitlab_webhook_secret
    if not secret:
        return jsonify(error="GitLab is not configured"), 503
    body = request.get_data(cache=False)
    name = request.headers.get("X-Gitlab-Event", "")
    source = next((h for h in DELIVERY_HEADERS if request.headers.get(h)), DELIVERY_HEADERS[0])
    key = request.headers.get(source, "")
    if not verify_token(secret, request.headers.get("X-Gitlab-Token")):
        count_refused(services, BAD_TOKEN, name, key)
        return jsonify(error="invalid token"), 401
    signing_token = settings.gitlab_webhook_signing_token
    if signing_token:
        signed = {h: request.headers.get(h, "") for h in SIGNATURE_HEADERS}
        if not verify_signature(signing_token, body, signed):
            count_refused(services, BAD_SIGNATURE, name, key)
            return jsonify(error="invalid signature"), 401
        source, key = "webhook-id", signed["webhook-id"]
    try:
        _check_headers(name, source, key)
        payload = validate.read_payload(body, request.mimetype, check_fields)
        event = parse_gitlab(name, key, payload)
    except (validate.EnvelopeError, PayloadError) as exc:
        return jsonify(error=str(exc)), 400
    if not route(event):
        return jsonify(status="ignored", delivery=key), 202
    row_id = f"gitlab:{key}"
    try:
        new = record(services, row_id, event, payload)
    except STORE_DOWN as exc:  # a 5xx would bring GitLab closer to disabling the hook
        log.warning("store unavailable, delivery %s acknowledged, not recorded: %s", key, why(exc))
        metrics.delivery_dropped("gitlab")
        return jsonify(status="not recorded", delivery=key), 202
    return queue(services, row_id, key, new=new)


def _check_headers(name: str, source: str, key: str) -> None:
    if not EVENT.fullmatch(name):
        raise validate.EnvelopeError(
            "X-Gitlab-Event: expected an event name such as Merge Request Hook"
        )
    if not key:
        raise validate.EnvelopeError(f"{' or '.join(DELIVERY_HEADERS)}: a delivery id is needed")
    if not validate.DELIVERY.fullmatch(key):
        raise validate.EnvelopeError(f"{source}: expected a delivery id ([A-Za-z0-9._-], 1 to 72)")
