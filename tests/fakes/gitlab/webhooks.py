"""Webhook deliveries from the fake GitLab to project hooks, the way `WebHookService` sends them.

Each delivery is a JSON POST with GitLab's headers (app/services/web_hook_service.rb
`build_headers`): `X-Gitlab-Event`, `X-Gitlab-Token` (the hook's secret token, in plain text),
`Idempotency-Key` (one per event, repeated on every retry and resend), `X-Gitlab-Event-UUID`
(the originating request's UUID, recursion detection), `X-Gitlab-Webhook-UUID` (new for every
request built), `X-Gitlab-Instance` and `User-Agent: GitLab/<version>`. A hook with a signing
token also gets the Standard Webhooks headers (gitlab-org/gitlab MR 230944): `webhook-id` (the
Idempotency-Key), `webhook-timestamp` (seconds) and `webhook-signature: v1,<base64 HMAC-SHA256
of "{id}.{timestamp}.{body}">`, keyed with the base64 key inside the `whsec_...` token.

In "auto" mode a webhook caused by a test's action is delivered before the action returns (a
story reads in order), and one caused by an API call goes out on a background thread; in
"manual" mode every delivery is held until the test releases or drops it. This module knows how
to sign, queue, send and record; which events a change causes is decided by `events.py`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from .state import now

GITLAB_VERSION = "18.6.0-fake"
USER_AGENT = f"GitLab/{GITLAB_VERSION}"


def signing_key(signing_token: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret `whsec_<base64>` (32 bytes for GitLab)."""
    if not signing_token.startswith("whsec_"):
        raise ValueError("a signing token must look like whsec_<base64 of 32 bytes>")
    try:
        key = base64.b64decode(signing_token.removeprefix("whsec_"), validate=True)
    except ValueError as exc:
        raise ValueError("a signing token must look like whsec_<base64 of 32 bytes>") from exc
    if len(key) != 32:
        raise ValueError("a signing token must encode a 32-byte key")
    return key


def signature(signing_token: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of id.timestamp.body."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(signing_token), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass
class Attempt:
    at: datetime
    headers: dict[str, str]
    status: int | None  # None: no HTTP answer (connection refused, timeout) or dropped
    error: str | None
    redelivery: bool
    response_body: str = ""


@dataclass
class Delivery:
    """One event for one hook, and every attempt to deliver it."""

    id: int
    hook_id: int
    event: str  # the X-Gitlab-Event value, e.g. "Merge Request Hook"
    payload: dict[str, Any]
    body: bytes
    url: str
    token: str | None
    signing_token: str | None
    instance: str
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    event_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=now)
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def object_kind(self) -> str | None:
        return self.payload.get("object_kind")

    @property
    def action(self) -> str | None:
        """`object_attributes.action` (merge requests, notes, issues, emoji), if any."""
        attrs = self.payload.get("object_attributes")
        return attrs.get("action") if isinstance(attrs, dict) else None

    @property
    def status(self) -> str:
        """queued | delivered | failed, from the latest attempt."""
        if not self.attempts:
            return "queued"
        last = self.attempts[-1]
        return "delivered" if last.status is not None and 200 <= last.status < 300 else "failed"

    @property
    def response_status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    def headers(self, *, redelivery: bool = False) -> dict[str, str]:
        """The headers of one request: a new Webhook-UUID (and signature time) every time."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": self.idempotency_key,
            "X-Gitlab-Event": self.event,
            "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),
            "X-Gitlab-Instance": self.instance,
            # A resend is a new web request, so it carries that request's recursion UUID.
            "X-Gitlab-Event-UUID": str(uuid.uuid4()) if redelivery else self.event_uuid,
        }
        if self.token:
            headers["X-Gitlab-Token"] = self.token.replace("\r", "").replace("\n", "")
        if self.signing_token:
            stamp = int(time.time())
            headers["webhook-id"] = self.idempotency_key
            headers["webhook-timestamp"] = str(stamp)
            headers["webhook-signature"] = signature(
                self.signing_token, self.idempotency_key, stamp, self.body
            )
        return headers


class Dispatcher:
    """Records deliveries and sends them: in the background ("auto") or on demand ("manual")."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.deliveries: list[Delivery] = []
        self.mode = "auto"
        self.timeout = timeout
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Delivery, bool] | None] = queue.Queue()
        self._pending: list[Delivery] = []
        self._thread: threading.Thread | None = None
        self._ids = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fake-gitlab-hooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=self.timeout + 5)
            self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._send(*item)
            finally:
                self._queue.task_done()

    def create(
        self,
        *,
        hook_id: int,
        event: str,
        payload: dict[str, Any],
        url: str,
        token: str | None,
        signing_token: str | None,
        instance: str,
        event_uuid: str,
        background: bool,
    ) -> Delivery:
        """Record a delivery and send it: held ("manual" mode), queued for the background
        thread (`background`), or now, after those already queued."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        with self._lock:
            self._ids += 1
            delivery = Delivery(
                id=self._ids,
                hook_id=hook_id,
                event=event,
                payload=payload,
                body=body,
                url=url,
                token=token,
                signing_token=signing_token,
                instance=instance,
                event_uuid=event_uuid,
            )
            self.deliveries.append(delivery)
            hold = self.mode == "manual"
            if hold:
                self._pending.append(delivery)
            elif background:
                self._queue.put((delivery, False))
        if not hold and not background:
            self.wait()
            self._send(delivery, redelivery=False)
        return delivery

    def _send(self, delivery: Delivery, redelivery: bool) -> Attempt:
        headers = delivery.headers(redelivery=redelivery)
        status: int | None = None
        error: str | None = None
        text = ""
        try:
            response = requests.post(
                delivery.url, data=delivery.body, headers=headers, timeout=self.timeout
            )
            status = response.status_code
            text = response.text[:8192]  # GitLab keeps at most 8 KiB of a response body
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempt = Attempt(now(), headers, status, error, redelivery, text)
        with self._lock:
            delivery.attempts.append(attempt)
        return attempt

    def wait(self, timeout: float = 30.0) -> None:
        """Block until every queued automatic delivery has been attempted."""
        done = threading.Event()

        def joiner() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=joiner, daemon=True).start()
        if not done.wait(timeout):
            raise TimeoutError("webhook deliveries still queued")

    def pending(self) -> list[Delivery]:
        with self._lock:
            return list(self._pending)

    def release(self, ids: list[int] | None = None) -> list[Delivery]:
        """Send held deliveries now (all, or those with these ids), in order; return them."""
        with self._lock:
            chosen = [d for d in self._pending if ids is None or d.id in ids]
            self._pending = [d for d in self._pending if d not in chosen]
        for delivery in chosen:
            self._send(delivery, redelivery=False)
        return chosen

    def drop(self, ids: list[int] | None = None) -> list[Delivery]:
        """Forget held deliveries without sending them: webhooks GitLab failed to deliver."""
        with self._lock:
            chosen = [d for d in self._pending if ids is None or d.id in ids]
            self._pending = [d for d in self._pending if d not in chosen]
            for delivery in chosen:
                delivery.attempts.append(Attempt(now(), {}, None, "dropped by the test", False))
        return chosen

    def redeliver(self, delivery_id: int) -> Attempt:
        """Resend a recorded delivery, with the same Idempotency-Key, as GitLab's resend does."""
        return self._send(self.get(delivery_id), redelivery=True)

    def get(self, delivery_id: int) -> Delivery:
        with self._lock:
            for delivery in self.deliveries:
                if delivery.id == delivery_id:
                    return delivery
        raise KeyError(delivery_id)
