"""Shared fixtures for the exceptions tests: a small policy set, a fixed clock, a file builder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bot.engine.model import ExceptionPolicy, Finding, Policy, ResourceRef

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def make_policy(
    policy_id: str, *, allowed: bool = True, max_days: int = 90, broad_paths: bool = False
) -> Policy:
    return Policy(
        id=policy_id,
        title=policy_id,
        description="",
        remediation="",
        severity="high",
        enforcement="blocking",
        target="kubernetes",
        files=(),
        exclude=(),
        match={},
        condition="false",
        message="m",
        exceptions=ExceptionPolicy(allowed=allowed, max_days=max_days, broad_paths=broad_paths),
        standards=(),
        pack="test",
        source="test.yaml",
        line=1,
    )


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def policies() -> dict[str, Policy]:
    return {
        p.id: p
        for p in (
            make_policy("k8s.privileged"),
            make_policy("k8s.host-network", max_days=30),
            make_policy("k8s.no-exceptions", allowed=False),
            make_policy("repo.broad", broad_paths=True),
        )
    }


# The lines every field of ``exceptions_file`` is written on.
LINES = {"id": 3, "policy": 4, "paths": 5, "reason": 6, "expires": 7, "resources": 8, "ticket": 9}
DEFAULTS = {
    "id": "EXC-1",
    "policy": "k8s.privileged",
    "paths": '["deploy/app/**"]',
    "reason": "the app needs host access for its metrics",
    "expires": "2026-03-01",
}


@pytest.fixture
def exceptions_file() -> Callable[..., str]:
    """A one-entry file; keyword arguments give raw YAML text per field (None leaves it out).

    Fields are always on the lines of ``LINES``; ``resources`` and ``ticket`` come last, only
    when given, so leaving them out moves nothing.
    """

    def build(**fields: str | None) -> str:
        values = {**DEFAULTS, **fields}
        out = ["version: 1", "exceptions:"]
        for key in ("id", "policy", "paths", "reason", "expires", "resources", "ticket"):
            value = values.get(key)
            if value is None:
                if key == "id":
                    out.append("  -")
                elif key != "ticket" and (key != "resources" or values.get("ticket")):
                    out.append("    # (left out)")
                continue
            prefix = "  - " if key == "id" else "    "
            out.append(f"{prefix}{key}: {value}")
        return "\n".join(out) + "\n"

    return build


@pytest.fixture
def make_finding() -> Callable[..., Finding]:
    return finding


def finding(
    path: str = "deploy/app/a.yaml",
    policy: str = "k8s.privileged",
    resource: ResourceRef | None = None,
    line: int = 1,
) -> Finding:
    return Finding(
        policy=policy,
        severity="high",
        enforcement="blocking",
        path=path,
        line=line,
        message="m",
        resource=resource,
    )
