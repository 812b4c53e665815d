"""Webhook deliveries from the fake GitHub to an App, the way GitHub's Hookshot sends them.

Each delivery is a JSON POST signed with HMAC-SHA256 of the raw body (`X-Hub-Signature-256`),
carrying `X-GitHub-Event`, a GUID in `X-GitHub-Delivery` that a redelivery repeats, and the App's
hook id. In "auto" mode a webhook caused by a test's action is delivered before the action
returns (so a story reads in order), and one caused by an API call is delivered by a background
thread (the caller is not kept waiting on its own webhook); in "manual" mode every delivery is
held until the test releases or drops it, so that lost, late and repeated webhooks can be
staged. This module knows how to sign, queue, send and record; which events a state change
causes is decided by the fake's operations (`world/`) and `events.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from .state import now

USER_AGENT = "GitHub-Hookshot/fake"


def signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value for a body: `sha256=` and the hex HMAC."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Attempt:
    at: datetime
    status: int | None  # None: no HTTP answer (connection refused, timeout)
    error: str | None
    redelivery: bool


@dataclass
class Delivery:
    """One webhook event for one App, and every attempt to deliver it."""

    id: int
    guid: str
    app_id: int
    hook_id: int
    installation_id: int | None
    event: str
    action: str | None
    payload: dict[str, Any]
    body: bytes
    url: str | None
    secret: str | None
    created_at: datetime = field(default_factory=now)
    attempts: list[Attempt] = field(default_factory=list)

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

    def headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-GitHub-Event": self.event,
            "X-GitHub-Delivery": self.guid,
            "X-GitHub-Hook-ID": str(self.hook_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(self.app_id),
        }
        if self.secret:
            headers["X-Hub-Signature-256"] = signature(self.secret, self.body)
            headers["X-Hub-Signature"] = (
                "sha1=" + hmac.new(self.secret.encode(), self.body, hashlib.sha1).hexdigest()
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

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fake-github-hooks", daemon=True)
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

    # -- recording and sending --------------------------------------------------------------
    def create(
        self,
        *,
        app_id: int,
        hook_id: int,
        installation_id: int | None,
        event: str,
        payload: dict[str, Any],
        url: str | None,
        secret: str | None,
        background: bool = True,
    ) -> Delivery:
        """Record a delivery and send it: queued ("manual" mode, or no URL), in the background
        (`background`, for webhooks caused by API calls), or now, after those already queued."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        with self._lock:
            self._ids += 1
            delivery = Delivery(
                id=self._ids,
                guid=str(uuid.uuid4()),
                app_id=app_id,
                hook_id=hook_id,
                installation_id=installation_id,
                event=event,
                action=payload.get("action"),
                payload=payload,
                body=body,
                url=url,
                secret=secret,
            )
            self.deliveries.append(delivery)
            hold = self.mode == "manual" or url is None
            if hold:
                self._pending.append(delivery)
            elif background:
                self._queue.put((delivery, False))
        if not hold and not background:
            self.wait()
            self._send(delivery, redelivery=False)
        return delivery

    def _send(self, delivery: Delivery, redelivery: bool) -> Attempt:
        status: int | None = None
        error: str | None = None
        if delivery.url is None:
            error = "the App has no webhook URL"
        else:
            try:
                response = requests.post(
                    delivery.url,
                    data=delivery.body,
                    headers=delivery.headers(),
                    timeout=self.timeout,
                )
                status = response.status_code
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
        attempt = Attempt(at=now(), status=status, error=error, redelivery=redelivery)
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

    def release(self, guids: list[str] | None = None) -> list[Delivery]:
        """Send held deliveries now (all, or those with these GUIDs), in order; return them."""
        with self._lock:
            chosen = [d for d in self._pending if guids is None or d.guid in guids]
            self._pending = [d for d in self._pending if d not in chosen]
        for delivery in chosen:
            self._send(delivery, redelivery=False)
        return chosen

    def drop(self, guids: list[str] | None = None) -> list[Delivery]:
        """Forget held deliveries without sending them: webhooks GitHub failed to deliver."""
        with self._lock:
            chosen = [d for d in self._pending if guids is None or d.guid in guids]
            self._pending = [d for d in self._pending if d not in chosen]
        for delivery in chosen:
            delivery.attempts.append(Attempt(now(), None, "dropped by the test", False))
        return chosen

    def redeliver(self, guid: str) -> Attempt:
        """Send a recorded delivery again, with the same GUID, as GitHub's redelivery does."""
        delivery = self.get(guid)
        return self._send(delivery, redelivery=True)

    def redeliver_later(self, guid: str) -> None:
        """Queue a redelivery for the background thread (for the REST redelivery endpoint)."""
        self._queue.put((self.get(guid), True))

    def get(self, guid_or_id: str | int) -> Delivery:
        with self._lock:
            for delivery in self.deliveries:
                if delivery.guid == guid_or_id or delivery.id == guid_or_id:
                    return delivery
        raise KeyError(guid_or_id)
