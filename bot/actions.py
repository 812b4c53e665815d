"""Every side effect of a job goes through ``Actions``: one place for idempotency, audit and
dry runs.

``Actions`` makes the forge match the desired state (one check run per head SHA and name, updated
in place; a PR per request; one dashboard issue) and appends an audit event for every effect it
performs and every decision a handler reports through ``record``. Handlers never call a forge
write or ``bot.audit`` themselves. ``DryRunActions`` is handed to the same handler code and
records the plan instead: a dry run is not a branch in the handlers, it is another ``Actions``.

Notifications and metrics are not called from here either: they read the audit stream.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import audit
from bot.events import Repo
from bot.forge.base import CheckOutput, CheckRef, Forge, ForgeError, TransientForgeError
from bot.store import Store
from bot.store.tables import CheckRecord, CheckReport


def _keep_report(
    session: Session,
    forge: str,
    repo: Repo,
    head_sha: str,
    output: CheckOutput,
    pull_request: int | None,
    report: str,
) -> None:
    key = (forge, repo.full_name, head_sha, output.name)
    row = session.get(CheckReport, key)
    if row is None:
        row = CheckReport(
            forge=forge, repository=repo.full_name, head_sha=head_sha, name=output.name
        )
        session.add(row)
    row.pull_request = pull_request
    row.conclusion = output.conclusion
    row.title = output.title
    # JSON reports compress ~10x; level 6 costs ~1 ms on a 3,000-file report
    row.report = zlib.compress(report.encode("utf-8"), 6)
    row.updated_at = datetime.now(UTC)


@dataclass
class Actions:
    forge: Forge
    store: Store
    actor: str = "compliance-bot"
    dry_run = False

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
        report: str | None = None,
    ) -> CheckRef:
        """Create or update the one check run for (repo, head SHA, name).

        ``relied_on`` records what the verdict rested on (the exceptions file's blob, the
        exceptions applied), so a later change to any of it re-judges this head
        (``bot.handlers.rejudge``). ``report`` (the JSON report) is kept for the dashboard's
        check page, the one the check's "Details" link opens."""
        existing = self._known_check(repo, head_sha, output.name)
        if existing is None:
            # Not in our records (first run, or a crash after creating it): ask the forge.
            existing = self.forge.find_check(repo, head_sha, output.name)
        ref = self.forge.post_check(repo, head_sha, output, existing, pull_request=pull_request)
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
            if report is not None:
                _keep_report(session, self.forge.name, repo, head_sha, output, pull_request, report)
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

    # -- decisions ------------------------------------------------------------------------------
    def record(
        self,
        action: str,
        *,
        actor: str | None = None,
        repository: str | None = None,
        pull_request: int | None = None,
        sha: str | None = None,
        details: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Append an audit event for a decision (refused, ignored, approved, reminded...)."""
        with self.store.session() as session:
            audit.record(
                session,
                actor=actor or self.actor,
                action=action,
                repository=repository,
                pull_request=pull_request,
                sha=sha,
                details=details,
                at=at,
            )

    # -- the conversation -----------------------------------------------------------------------
    def react(
        self, repo: Repo, comment_id: int, content: str = "eyes", *, number: int | None = None
    ) -> None:
        """Acknowledge a comment (the forge keeps one reaction per user and content)."""
        self.forge.react(repo, comment_id, content, number=number)

    def comment(
        self,
        repo: Repo,
        number: int,
        body: str,
        *,
        marker: str | None = None,
        look_first: bool = True,
        why: str = "",
    ) -> int | None:
        """Post a comment, unless one holding ``marker`` is there already (a retry after an
        answer that was lost; ``look_first=False`` skips the look on a first attempt); returns
        its id, or None when it was there."""
        if (
            marker is not None
            and look_first
            and any(marker in text for _, text, _ in self.forge.comments(repo, number))
        ):
            return None
        try:
            comment_id = self.forge.comment(repo, number, body)
        except TransientForgeError:
            # GitHub may have posted it before the error: a marked comment is looked for
            if marker is None or not any(
                marker in text for _, text, _ in self.forge.comments(repo, number)
            ):
                raise
            return None
        self.record(
            "comment.posted",
            repository=repo.full_name,
            pull_request=number,
            details={"comment": comment_id, "why": why, "chars": len(body)},
        )
        return comment_id

    # -- pull requests the bot proposes ----------------------------------------------------------
    def open_change(
        self,
        repo: Repo,
        *,
        base_branch: str,
        base_sha: str,
        base_tree: str,
        branch: str,
        files: dict[str, str],
        message: str,
        title: str,
        body: str,
        request: str,
        why: str = "",
    ) -> tuple[int, str]:
        """A branch with one commit and its open PR (see ``Forge.open_change``)."""
        number, url = self.forge.open_change(
            repo,
            base_branch=base_branch,
            base_sha=base_sha,
            base_tree=base_tree,
            branch=branch,
            files=files,
            message=message,
            title=title,
            body=body,
            request=request,
        )
        self.record(
            "pull_request.proposed",
            repository=repo.full_name,
            pull_request=number,
            sha=base_sha,
            details={"branch": branch, "base": base_branch, "title": title, "why": why},
        )
        return number, url

    def request_reviewers(
        self, repo: Repo, number: int, users: list[str], teams: list[str]
    ) -> bool:
        """Ask for reviews; a courtesy (the review check enforces approval), so a refusal is
        recorded and reported, never raised."""
        if not users and not teams:
            return True
        try:
            self.forge.request_reviewers(repo, number, users, teams)
        except ForgeError as exc:
            if isinstance(exc, TransientForgeError):
                raise
            self.record(
                "reviewers.not_requested",
                repository=repo.full_name,
                pull_request=number,
                details={"users": users, "teams": teams, "error": str(exc)},
            )
            return False
        self.record(
            "reviewers.requested",
            repository=repo.full_name,
            pull_request=number,
            details={"users": users, "teams": teams},
        )
        return True

    def edit_pull(self, repo: Repo, number: int, *, title: str, body: str) -> None:
        self.forge.edit_pull(repo, number, title=title, body=body)
        self.record(
            "pull_request.edited",
            repository=repo.full_name,
            pull_request=number,
            details={"title": title},
        )

    def close_pull(self, repo: Repo, number: int, *, why: str = "") -> None:
        self.forge.close_pull(repo, number)
        self.record(
            "pull_request.closed",
            repository=repo.full_name,
            pull_request=number,
            details={"why": why},
        )

    # -- the dashboard issue ---------------------------------------------------------------------
    def create_issue(self, repo: Repo, title: str, body: str) -> int:
        number = self.forge.create_issue(repo, title, body)
        self.record(
            "issue.created",
            repository=repo.full_name,
            pull_request=number,
            details={"title": title},
        )
        return number

    def edit_issue(self, repo: Repo, number: int, *, body: str) -> None:
        self.forge.edit_issue(repo, number, body=body)
        self.record("issue.edited", repository=repo.full_name, pull_request=number)

    def remember(self, row: Any, action: str | None = None, **facts: Any) -> bool:
        """Keep a bookkeeping row (a reminder sent, a forged status seen) and, in the same
        transaction, its audit event; False when the row's twin is there already (a redelivery
        or a concurrent job recorded it, with its event)."""
        try:
            with self.store.session() as session:
                session.add(row)
                session.flush()  # the unique key refuses a twin before the audit event
                if action is not None:
                    facts["actor"] = facts.get("actor") or self.actor
                    audit.record(session, action=action, **facts)
        except IntegrityError:
            return False
        return True


@dataclass
class DryRunActions(Actions):
    """Plans the same effects, performs none of them (reads still go to the forge)."""

    planned: list[dict[str, Any]] = field(default_factory=list)
    dry_run = True

    def _plan(self, effect: str, repo: Repo | None = None, **facts: Any) -> None:
        self.planned.append(
            {"effect": effect, "repository": repo.full_name if repo else None, **facts}
        )

    def record(self, action, **facts):  # type: ignore[no-untyped-def, override]
        self._plan("record", None, action=action, repository_name=facts.get("repository"))

    def post_check(  # type: ignore[no-untyped-def, override]
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
        report=None,
    ):
        self._plan(
            "post_check",
            repo,
            head_sha=head_sha,
            name=output.name,
            conclusion=output.conclusion,
            annotations=len(output.annotations),
            pull_request=pull_request,
        )
        return CheckRef(id=0, head_sha=head_sha, name=output.name, conclusion=output.conclusion)

    def react(self, repo, comment_id, content="eyes", *, number=None):  # type: ignore[no-untyped-def, override]
        self._plan("react", repo, comment=comment_id, content=content)

    def comment(self, repo, number, body, *, marker=None, look_first=True, why=""):  # type: ignore[no-untyped-def, override]
        self._plan("comment", repo, number=number, why=why, chars=len(body))
        return None

    def open_change(self, repo, *, branch, base_branch, title, **_):  # type: ignore[no-untyped-def, override]
        self._plan("open_change", repo, branch=branch, base=base_branch, title=title)
        return 0, ""

    def request_reviewers(self, repo, number, users, teams):  # type: ignore[no-untyped-def, override]
        self._plan("request_reviewers", repo, number=number, users=users, teams=teams)
        return True

    def edit_pull(self, repo, number, *, title, body):  # type: ignore[no-untyped-def, override]
        self._plan("edit_pull", repo, number=number, title=title)

    def close_pull(self, repo, number, *, why=""):  # type: ignore[no-untyped-def, override]
        self._plan("close_pull", repo, number=number, why=why)

    def create_issue(self, repo, title, body):  # type: ignore[no-untyped-def, override]
        self._plan("create_issue", repo, title=title)
        return 0

    def edit_issue(self, repo, number, *, body):  # type: ignore[no-untyped-def, override]
        self._plan("edit_issue", repo, number=number)

    def remember(self, row, action=None, **facts):  # type: ignore[no-untyped-def, override]
        self._plan("remember", None, row=type(row).__name__, action=action)
        return True
