"""Every side effect of a job goes through ``Actions``: one place for idempotency and dry runs.

``Actions`` makes the forge match the desired state (one check run per head SHA and name, updated
in place) and records what it did in the store and the audit log. ``DryRunActions`` computes the
same plan and records it instead of doing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot import audit
from bot.events import Repo
from bot.forge.base import CheckOutput, CheckRef, Forge
from bot.store import Store
from bot.store.tables import CheckRecord


@dataclass
class Actions:
    forge: Forge
    store: Store
    actor: str = "compliance-bot"

    def post_check(
        self,
        repo: Repo,
        head_sha: str,
        output: CheckOutput,
        *,
        pull_request: int | None = None,
        policies: tuple[str, ...] = (),
        details: dict[str, Any] | None = None,
        base_ref: str | None = None,
        relied_on: dict[str, Any] | None = None,
    ) -> CheckRef:
        """Create or update the one check run for (repo, head SHA, name).

        ``relied_on`` records what the verdict rested on (the exceptions file's blob, the
        exceptions applied), so a later change to any of it re-judges this head
        (``bot.handlers.rejudge``)."""
        existing = self._known_check(repo, head_sha, output.name)
        if existing is None:
            # Not in our records (first run, or a crash after creating it): ask the forge.
            existing = self.forge.find_check(repo, head_sha, output.name)
        ref = self.forge.post_check(repo, head_sha, output, existing)
        with self.store.session() as session:
            row = session.scalar(self._record_query(repo, head_sha, output.name))
            if row is None:
                row = CheckRecord(
                    forge=self.forge.name,
                    repository=repo.full_name,
                    head_sha=head_sha,
                    name=output.name,
                    annotations=[],
                )
                session.add(row)
            row.check_run_id = ref.id
            row.pull_request = pull_request
            row.conclusion = output.conclusion
            row.policies = sorted(policies)
            row.annotations = sorted(ref.annotation_keys)
            row.updated_at = datetime.now(UTC)
            if base_ref is not None:
                row.base_ref = base_ref
            if relied_on is not None:
                row.relied_on = relied_on
            audit.record(
                session,
                actor=self.actor,
                action="check.concluded",
                repository=repo.full_name,
                pull_request=pull_request,
                sha=head_sha,
                details={
                    "check": output.name,
                    "conclusion": output.conclusion,
                    "check_run_id": ref.id,
                    **(details or {}),
                },
            )
        return ref

    def _record_query(self, repo: Repo, head_sha: str, name: str):  # type: ignore[no-untyped-def]
        return select(CheckRecord).where(
            CheckRecord.forge == self.forge.name,
            CheckRecord.repository == repo.full_name,
            CheckRecord.head_sha == head_sha,
            CheckRecord.name == name,
        )

    def _known_check(self, repo: Repo, head_sha: str, name: str) -> CheckRef | None:
        with self.store.session() as session:
            row = session.scalar(self._record_query(repo, head_sha, name))
            if row is None or row.check_run_id is None:
                return None
            return CheckRef(
                id=row.check_run_id,
                head_sha=head_sha,
                name=name,
                conclusion=row.conclusion,
                annotation_keys=frozenset(row.annotations or ()),
            )


@dataclass
class DryRunActions(Actions):
    """Plans the same effects, performs none of them."""

    planned: list[dict[str, Any]] = field(default_factory=list)

    def post_check(
        self,
        repo,
        head_sha,
        output,
        *,
        pull_request=None,
        policies=(),
        details=None,
        base_ref=None,
        relied_on=None,
    ):  # type: ignore[no-untyped-def, override]
        self.planned.append(
            {
                "effect": "post_check",
                "repository": repo.full_name,
                "head_sha": head_sha,
                "name": output.name,
                "conclusion": output.conclusion,
                "annotations": len(output.annotations),
                "pull_request": pull_request,
            }
        )
        return CheckRef(id=0, head_sha=head_sha, name=output.name, conclusion=output.conclusion)
