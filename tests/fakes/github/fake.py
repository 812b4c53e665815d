"""FakeGitHub: the test-facing object. Start it, populate it, act on it as people do, inspect it.

Tests build a world (users, organizations, teams, repositories with real commits, an installed
App), then play a story: open a pull request, review it, comment, merge. Every action here
changes the same state the REST API serves and sends the webhooks GitHub would send, so the bot
under test sees a consistent forge. The same methods back the REST handlers, which is why an
action taken through the API and one taken by a test look alike to the bot.

It must not be imported by the bot, and it must only listen on 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import auth
from .events import Events
from .openapi.validator import OpenApiValidator
from .render import Renderer
from .server import CallRecord, ServerThread, Violation, create_app
from .state import (
    Installation,
    RateLimit,
    State,
    now,
)
from .webhooks import Attempt, Delivery, Dispatcher
from .world import Accounts, Apps, Checks, Issues, Pulls, Repositories


@dataclass
class GitRequest:
    repo: str
    service: str
    principal: str
    status: int


class FakeGitHub(Accounts, Repositories, Apps, Pulls, Issues, Checks):
    """A stateful fake of GitHub (REST, a little GraphQL, git over HTTP, webhooks)."""

    def __init__(self, root: Path, *, validate_responses: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.git_root = self.root / "git"
        self.state = State()
        self.validator = OpenApiValidator.vendored()
        self.validate_responses = validate_responses
        self.dispatcher = Dispatcher()
        self.events = Events(self)
        self.calls: Counter[tuple[str, str]] = Counter()
        self.call_log: list[CallRecord] = []
        self.violations: list[Violation] = []
        self.deprecated_calls: list[tuple[str, str]] = []
        self.git_requests: list[GitRequest] = []
        self._request_thread = threading.local()
        self._server = ServerThread(create_app(self))
        self.render = Renderer(self.state, self.web_url, self.api_url)
        self._started = False

    # -- lifecycle and addresses ------------------------------------------------------------------
    def start(self) -> FakeGitHub:
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

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The REST base URL, GitHub Enterprise Server style (`GITHUB_API_URL`)."""
        return f"{self.web_url}/api/v3"

    @property
    def graphql_url(self) -> str:
        return f"{self.web_url}/api/graphql"

    def git_url(self, owner: str, repo: str | None = None) -> str:
        """Clone URL; `git_url("org/repo")` or `git_url("org", "repo")`."""
        full = owner if repo is None else f"{owner}/{repo}"
        return f"{self.web_url}/{full}.git"

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

    # -- records ----------------------------------------------------------------------------------
    def reset_calls(self) -> None:
        """Forget call counts and the call log (not violations), e.g. before a measured step."""
        with self.state.lock:
            self.calls.clear()
            self.call_log.clear()
            self.git_requests.clear()

    def _count(self, method: str, template: str) -> None:
        with self.state.lock:
            self.calls[(method, template)] += 1

    def _record_call(self, record: CallRecord) -> None:
        with self.state.lock:
            self.call_log.append(record)

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

    def _violate(self, violation: Violation) -> None:
        with self.state.lock:
            self.violations.append(violation)

    def _record_git(self, repo: str, service: str, principal: str, status: int) -> None:
        with self.state.lock:
            self.git_requests.append(GitRequest(repo, service, principal, status))

    def _rate_limit(self, principal: auth.Principal) -> RateLimit:
        with self.state.lock:
            key = principal.rate_key
            limit = self.state.rate_limits.get(key)
            if limit is None:
                limit = RateLimit(limit=60 if key == "anonymous" else 5000)
                limit.reset = int(now().timestamp()) + 3600
                self.state.rate_limits[key] = limit
            return limit

    def set_rate_limit(self, installation: Installation, *, remaining: int) -> None:
        """Pretend an installation has spent its primary rate limit down to `remaining`."""
        limit = self._rate_limit(auth.Principal("installation", installation=installation))
        limit.used = limit.limit - remaining

    @property
    def git_fetches(self) -> list[GitRequest]:
        return [r for r in self.git_requests if r.service == "git-upload-pack" and r.status == 200]

    # -- webhooks ---------------------------------------------------------------------------------
    @property
    def deliveries(self) -> list[Delivery]:
        return list(self.dispatcher.deliveries)

    def deliveries_of(self, event: str, action: str | None = None) -> list[Delivery]:
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

    def deliver_pending(self, guids: Iterable[str] | None = None) -> list[Delivery]:
        return self.dispatcher.release(list(guids) if guids is not None else None)

    def drop_pending(self, guids: Iterable[str] | None = None) -> list[Delivery]:
        return self.dispatcher.drop(list(guids) if guids is not None else None)

    def redeliver(self, guid: str) -> Attempt:
        return self.dispatcher.redeliver(guid)

    def wait_for_deliveries(self, timeout: float = 30.0) -> None:
        self.dispatcher.wait(timeout)
