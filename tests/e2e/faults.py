"""Fault injection in front of the fake GitHub, for forge-fault stories and the chaos benchmark.

`FaultProxy` forwards to the fake like `proxy.ForwardingProxy`, except for requests that match one
of its `rules`: a "before" fault answers an error without forwarding (GitHub did nothing); an
"after" fault forwards, lets GitHub do the work, throws its answer away and answers the error
(GitHub did it, the client thinks it failed). Errors look like GitHub's: JSON bodies with
`message` and `documentation_url`, `Retry-After` on 429 and rate-limit 403 answers when asked,
`x-ratelimit-remaining: 0` on a 403. Random faults draw from a seeded `random.Random`, so a chaos
run repeats for the same sequence of requests (concurrent requests are drawn in arrival order).

It must not alter what it forwards, and `chaos` never faults git smart HTTP or the installation
token endpoint: those fail only when a rule names them.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, NamedTuple

from .proxy import Answer, ForwardingProxy, Request

RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
MESSAGES = {
    403: "API rate limit exceeded for installation.",
    429: (
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
        "again. If you reach out to GitHub Support for help, please include the request ID {id}."
    ),
    500: "Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: (
        "We couldn't respond to your request in time. Sorry about that. Please try resubmitting "
        "your request and contact us if the problem persists."
    ),
}
# Never faulted by `chaos`: git smart HTTP and minting installation tokens.
CHAOS_PATHS = (
    r"^(?!.*(?:/info/refs|git-upload-pack|git-receive-pack"
    r"|/app/installations/[^/]+/access_tokens))"
)
API_METHODS = ("POST", "PATCH", "PUT", "DELETE", "GET")


@dataclass(eq=False)
class Fault:
    """A rule: fail requests of `method` (None: any) whose path (no query) `path` searches.

    `times` is how many requests it fails before it is spent (None: no limit); each matching
    request is failed with `probability`. A 403 is the primary rate limit unless `body` is given.
    """

    method: str | None
    path: str
    when: Literal["before", "after"]
    status: int = 502
    retry_after: float | None = None
    times: int | None = 1
    probability: float = 1.0
    body: dict[str, Any] | None = None
    hits: int = field(default=0, init=False)
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.when not in ("before", "after"):
            raise ValueError(f"when must be 'before' or 'after', not {self.when!r}")
        self._pattern = re.compile(self.path)

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, request: Request) -> bool:
        method_ok = self.method is None or self.method.upper() == request.method
        return method_ok and bool(self._pattern.search(request.route))

    def answer(self) -> Answer:
        request_id = uuid.uuid4().hex[:20].upper()
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("X-GitHub-Request-Id", request_id),
        ]
        rate_limited = self.status == 429 or (self.status == 403 and self.body is None)
        if rate_limited and self.retry_after is not None:
            headers.append(("Retry-After", f"{self.retry_after:g}"))
        if self.status == 403 and self.body is None:
            reset = int(time.time() + (self.retry_after or 60))
            headers += [
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-used", "5000"),
                ("x-ratelimit-reset", str(reset)),
                ("x-ratelimit-resource", "core"),
            ]
        body = self.body or {
            "message": MESSAGES.get(self.status, HTTPStatus(self.status).phrase).format(
                id=request_id
            ),
            "documentation_url": RATE_DOCS if rate_limited else "https://docs.github.com/rest",
        }
        return Answer(self.status, headers, json.dumps(body).encode())


class Injected(NamedTuple):
    method: str
    path: str
    when: str
    status: int


class FaultProxy(ForwardingProxy):
    """A forwarding proxy that fails requests matching its ordered `rules` (first match wins)."""

    def __init__(self, upstream: str, *, seed: int | None = None) -> None:
        self.rules: list[Fault] = []
        self.random = random.Random(seed)
        self._injected: list[Injected] = []
        super().__init__(upstream)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def chaos(
        self,
        rate: float = 0.2,
        methods: tuple[str, ...] = API_METHODS,
        statuses: tuple[int, ...] = (502, 503, 429),
        retry_after: float | None = 1,
    ) -> list[Fault]:
        """Fail `rate` of the requests of `methods`, spread evenly over statuses x before/after.

        Each method gets a chain of rules; rule i fails with probability share / (1 - i * share)
        given that the earlier ones let the request pass, so the chain fails exactly `rate`.
        """
        if not 0 < rate <= 1:
            raise ValueError("rate must be in (0, 1]")
        whens: tuple[Literal["before", "after"], ...] = ("before", "after")
        kinds = [(status, when) for status in statuses for when in whens]
        share = rate / len(kinds)
        added = []
        for method in methods:
            for i, (status, when) in enumerate(kinds):
                fault = Fault(
                    method,
                    CHAOS_PATHS,
                    when,
                    status,
                    retry_after=retry_after,
                    times=None,
                    probability=min(1.0, share / (1 - i * share)),
                )
                added.append(self.add(fault))
        return added

    @property
    def injected(self) -> list[Injected]:
        with self._lock:
            return list(self._injected)

    def counts(self) -> dict[str, int]:
        """Forwarded and injected totals, injected by when ("before"/"after") and by status."""
        with self._lock:
            summary = Counter({"forwarded": self.forwarded, "injected": len(self._injected)})
            for record in self._injected:
                summary[record.when] += 1
                summary[str(record.status)] += 1
        return dict(summary)

    def respond(self, request: Request) -> Answer | None:
        fault = self._draw(request)
        if fault is None:
            return self.forward(request)
        if fault.when == "after":
            self.forward(request)  # GitHub does the work; its answer is lost
        return fault.answer()

    def _draw(self, request: Request) -> Fault | None:
        with self._lock:  # one lock: rule hits and random draws stay in arrival order
            for fault in self.rules:
                if fault.spent or not fault.matches(request):
                    continue
                if fault.probability < 1 and self.random.random() >= fault.probability:
                    continue
                fault.hits += 1
                record = Injected(request.method, request.route, fault.when, fault.status)
                self._injected.append(record)
                return fault
        return None
