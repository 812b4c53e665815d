"""FakeGitLab: the test-facing object. Start it, populate it, act on it as people do, inspect it.

Tests build a world (users, groups and subgroups with members, projects with real commits,
tokens, project hooks), then play a story: push, open a merge request, comment, approve, merge.
Every action here changes the same state the REST API serves and sends the webhooks GitLab would
send, so the bot under test sees a consistent forge, whether the action came from a test or from
the bot through python-gitlab.

It must not be imported by the bot, and it must only listen on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Response

from .auth import Principal
from .events import Events
from .openapi.validator import OpenApiValidator
from .render import Renderer
from .server import CallRecord, ServerThread, Violation, create_app, rate_limited
from .state import RateLimit, State
from .webhooks import Attempt, Delivery, Dispatcher
from .world import Accounts, Discussions, MergeRequests, Projects, Statuses


@dataclass
class GitRequest:
    project: str
    service: str
    principal: str
    status: int


class FakeGitLab(Accounts, Projects, MergeRequests, Discussions, Statuses):
    """A stateful fake of GitLab (REST API v4, git over HTTP, project webhooks)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        # "ee" (GitLab.com, and self-managed Enterprise Edition at any tier) or "ce" (the
        # Community Edition, which has no EE-only routes such as `approval_state`: 404)
        self.edition = "ee"
        self.git_root = self.root / "git"
        self.state = State()
        self.validator = OpenApiValidator.vendored()
        self.dispatcher = Dispatcher()
        self.events = Events(self)
        self.calls: Counter[tuple[str, str]] = Counter()
        self.uncovered_calls: Counter[tuple[str, str]] = Counter()
        self.call_log: list[CallRecord] = []
        self.violations: list[Violation] = []
        self.git_requests: list[GitRequest] = []
        self.rate_limits: dict[str, RateLimit] = {}
        self._throttle_left = 0
        self._throttle_retry_after = 0
        self._request_thread = threading.local()
        self._server = ServerThread(create_app(self))
        self.render = Renderer(self.state, self.web_url)
        self._started = False

    # -- lifecycle and addresses ------------------------------------------------------------
    def start(self) -> FakeGitLab:
        if not self._started:
            self._server.start()
            self.dispatcher.start()
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self.dispatcher.stop()
            self._server.stop()
            self._started = False

    def __enter__(self) -> FakeGitLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def web_url(self) -> str:
        """The instance URL: what `gitlab.Gitlab(url)` takes and `X-Gitlab-Instance` says."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.web_url}/api/v4"

    def git_url(self, project: str, token: str | None = None) -> str:
        """Clone URL of "group/project"; with a token, GitLab's `oauth2:TOKEN@` form."""
        auth = f"oauth2:{token}@" if token else ""
        return f"http://{auth}127.0.0.1:{self.port}/{project}.git"

    @property
    def serving_request(self) -> bool:
        """True on a thread that is handling an API or git request (its webhooks go async)."""
        return bool(getattr(self._request_thread, "active", False))

    @contextmanager
    def _handling_request(self) -> Iterator[None]:
        self._request_thread.active = True
        try:
            yield
        finally:
            self._request_thread.active = False

    # -- records ------------------------------------------------------------------------------
    def reset_calls(self) -> None:
        """Forget call counts and the call log (not violations), e.g. before a measured step."""
        with self.state.lock:
            self.calls.clear()
            self.uncovered_calls.clear()
            self.call_log.clear()
            self.git_requests.clear()

    def _count(self, method: str, template: str) -> None:
        with self.state.lock:
            self.calls[(method, template)] += 1

    def _record_call(self, record: CallRecord) -> None:
        with self.state.lock:
            self.call_log.append(record)

    def _violate(self, violation: Violation) -> None:
        with self.state.lock:
            self.violations.append(violation)

    @contextmanager
    def expect_violations(self) -> Iterator[list[Violation]]:
        """Collect (and remove from `violations`) those recorded inside the block."""
        with self.state.lock:
            start = len(self.violations)
        caught: list[Violation] = []
        try:
            yield caught
        finally:
            with self.state.lock:
                caught.extend(self.violations[start:])
                del self.violations[start:]

    def _record_git(self, project: str, service: str, principal: str, status: int) -> None:
        with self.state.lock:
            self.git_requests.append(GitRequest(project, service, principal, status))

    @property
    def git_fetches(self) -> list[GitRequest]:
        return [r for r in self.git_requests if r.service == "git-upload-pack" and r.status == 200]

    # -- rate limiting (Rack::Attack) ---------------------------------------------------------
    def throttle(self, count: int = 1, *, retry_after: int = 1) -> None:
        """Answer the next `count` API requests with 429 and `Retry-After: retry_after`."""
        with self.state.lock:
            self._throttle_left = count
            self._throttle_retry_after = retry_after

    def set_rate_limit(self, limit: int, *, period: int = 60, token: str | None = None) -> None:
        """Allow `limit` API requests per `period` seconds, per token (or for everybody)."""
        with self.state.lock:
            key = f"token:{self.state.tokens[token].id}" if token else "*"
            self.rate_limits[key] = RateLimit(limit=limit, period=period, window_start=time.time())

    def _throttled(self, principal: Principal) -> Response | None:
        with self.state.lock:
            if self._throttle_left > 0:
                self._throttle_left -= 1
                return rate_limited(None, self._throttle_retry_after)
            limit = self.rate_limits.get(principal.key) or self.rate_limits.get("*")
            if limit is None:
                return None
            current = time.time()
            if current - limit.window_start >= limit.period:
                limit.window_start, limit.used = current, 0
            limit.used += 1
            if limit.used > limit.limit:
                retry = max(1, int(limit.window_start + limit.period - current))
                return rate_limited(limit, retry)
            return None

    # -- webhooks -------------------------------------------------------------------------------
    @property
    def deliveries(self) -> list[Delivery]:
        return list(self.dispatcher.deliveries)

    def deliveries_of(self, event: str, action: str | None = None) -> list[Delivery]:
        """Deliveries of one `X-Gitlab-Event` ("Merge Request Hook"), optionally of one
        `object_attributes.action`."""
        return [
            d
            for d in self.dispatcher.deliveries
            if d.event == event and (action is None or d.action == action)
        ]

    @property
    def webhook_mode(self) -> str:
        return self.dispatcher.mode

    @webhook_mode.setter
    def webhook_mode(self, mode: str) -> None:
        assert mode in ("auto", "manual"), mode
        self.dispatcher.mode = mode

    def pending_deliveries(self) -> list[Delivery]:
        return self.dispatcher.pending()

    def deliver_pending(self, ids: Iterable[int] | None = None) -> list[Delivery]:
        return self.dispatcher.release(list(ids) if ids is not None else None)

    def drop_pending(self, ids: Iterable[int] | None = None) -> list[Delivery]:
        return self.dispatcher.drop(list(ids) if ids is not None else None)

    def redeliver(self, delivery: Delivery | int) -> Attempt:
        """Resend a delivery as GitLab's "Resend request" does: same body and Idempotency-Key,
        a new X-Gitlab-Webhook-UUID (and signature timestamp)."""
        return self.dispatcher.redeliver(
            delivery.id if isinstance(delivery, Delivery) else delivery
        )

    def wait_for_deliveries(self, timeout: float = 30.0) -> None:
        self.dispatcher.wait(timeout)
