"""Check suites, check runs and commit statuses.

One part of `FakeGitHub`: every method changes the state and sends the webhooks GitHub would
send for that change, so tests and REST handlers share it. Nothing here speaks HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..auth import ApiError
from ..state import (
    App,
    CheckRun,
    CheckSuite,
    CommitStatus,
    Repository,
    now,
)
from .base import WorldBase


class Checks(WorldBase):
    """Check suites, check runs (with appended annotations) and commit statuses."""

    def check_runs(
        self,
        repo: str | Repository,
        *,
        sha: str | None = None,
        name: str | None = None,
        app: App | None = None,
    ) -> list[CheckRun]:
        return [
            run
            for run in self.repo(repo).check_runs
            if (sha is None or run.head_sha == sha)
            and (name is None or run.name == name)
            and (app is None or run.app_id == app.id)
        ]

    def create_check_run(
        self, repo: str | Repository, app: App, fields: dict[str, Any], *, sender: str
    ) -> CheckRun:
        """Create a check run as `app` from the REST body fields (validated by the caller)."""
        r = self.repo(repo)
        with self.state.lock:
            sha = r.git.resolve(fields["head_sha"])
            if sha is None or not sha.startswith(fields["head_sha"]):
                raise ApiError(
                    422,
                    "Validation Failed",
                    errors=[{"resource": "CheckRun", "code": "invalid", "field": "head_sha"}],
                )
            branch = next(
                (
                    n.removeprefix("refs/heads/")
                    for n, s in r.git.refs("refs/heads/").items()
                    if s == sha
                ),
                None,
            )
            suite = self._suite_for(r, app.id, sha, branch)
            run = CheckRun(
                id=self.state.next_id(),
                repo=r.full_name,
                app_id=app.id,
                suite_id=suite.id,
                name=fields["name"],
                head_sha=sha,
            )
            self._apply_check_fields(run, fields)
            if run.status == "in_progress" and run.started_at is None:
                run.started_at = now()
            if run.started_at is None:
                run.started_at = now()
            r.check_runs.append(run)
            completed = self._update_suite(r, suite)
            self.events.check_run("created", r, run, sender)
            if run.status == "completed":
                self.events.check_run("completed", r, run, sender)
            if completed:
                self.events.check_suite("completed", r, suite, sender)
            return run

    def update_check_run(
        self, repo: str | Repository, run: CheckRun, fields: dict[str, Any], *, sender: str
    ) -> CheckRun:
        r = self.repo(repo)
        with self.state.lock:
            was_completed = run.status == "completed"
            run.updates.append(fields)
            if "name" in fields:
                run.name = fields["name"]
            self._apply_check_fields(run, fields)
            suite = next(s for s in r.check_suites if s.id == run.suite_id)
            completed = self._update_suite(r, suite)
            if run.status == "completed" and not was_completed:
                self.events.check_run("completed", r, run, sender)
            if completed:
                self.events.check_suite("completed", r, suite, sender)
            return run

    @staticmethod
    def _apply_check_fields(run: CheckRun, fields: dict[str, Any]) -> None:
        def parse(value: str | None) -> Any:
            if value is None:
                return None
            return datetime.fromisoformat(value.replace("Z", "+00:00"))

        for key in ("external_id", "details_url"):
            if key in fields:
                setattr(run, key, fields[key])
        if "status" in fields:
            run.status = fields["status"]
        if "started_at" in fields:
            run.started_at = parse(fields["started_at"])
        if "conclusion" in fields and fields["conclusion"] is not None:
            # "Providing conclusion will automatically set the status parameter to completed."
            run.conclusion = fields["conclusion"]
            run.status = "completed"
        if "completed_at" in fields:
            run.completed_at = parse(fields["completed_at"])
        if run.status == "completed" and run.completed_at is None:
            run.completed_at = now()
        output = fields.get("output")
        if output:
            for key in ("title", "summary", "text"):
                if key in output:
                    run.output[key] = output[key]
            # GitHub appends annotations on every update; it never replaces them.
            run.annotations.extend(output.get("annotations") or [])
        if "actions" in fields:
            run.actions = list(fields["actions"] or [])

    def _update_suite(self, repo: Repository, suite: CheckSuite) -> bool:
        """Recompute a suite from its runs; True when it has just become completed."""
        was_completed = suite.status == "completed"
        runs = [r for r in repo.check_runs if r.suite_id == suite.id]
        suite.updated_at = now()
        if runs and all(r.status == "completed" for r in runs):
            suite.status = "completed"
            order = [
                "action_required",
                "cancelled",
                "timed_out",
                "failure",
                "neutral",
                "skipped",
                "stale",
                "success",
            ]
            conclusions = [r.conclusion or "success" for r in runs]
            suite.conclusion = min(conclusions, key=lambda c: order.index(c) if c in order else 99)
        elif runs:
            suite.status = "in_progress"
            suite.conclusion = None
        return suite.status == "completed" and not was_completed

    def rerequest_check_run(self, run: CheckRun | int, *, user: str) -> None:
        """A person clicks "Re-run": the suite is queued again and only the run's App is told."""
        with self.state.lock:
            found = self._find_run(run)
            r = self.repo(found.repo)
            suite = next(s for s in r.check_suites if s.id == found.suite_id)
            suite.status, suite.conclusion = "queued", None
            self.events.check_run("rerequested", r, found, user, only_app=found.app_id)

    def request_check_action(self, run: CheckRun | int, identifier: str, *, user: str) -> None:
        """A person clicks one of the run's action buttons."""
        with self.state.lock:
            found = self._find_run(run)
            r = self.repo(found.repo)
            self.events.check_run(
                "requested_action",
                r,
                found,
                user,
                only_app=found.app_id,
                requested_action={"identifier": identifier},
            )

    def rerequest_check_suite(self, suite: CheckSuite, *, user: str) -> None:
        with self.state.lock:
            r = self.repo(suite.repo)
            suite.status, suite.conclusion = "queued", None
            self.events.check_suite("rerequested", r, suite, user)

    def _find_run(self, run: CheckRun | int) -> CheckRun:
        if isinstance(run, CheckRun):
            return run
        for repo in self.state.repos.values():
            for candidate in repo.check_runs:
                if candidate.id == run:
                    return candidate
        raise KeyError(f"no check run {run}")

    def create_status(
        self,
        repo: str | Repository,
        sha: str,
        state: str,
        *,
        context: str = "default",
        description: str | None = None,
        target_url: str | None = None,
        creator: str,
    ) -> CommitStatus:
        """A commit status by `creator`; sends `status` to the Apps subscribed to it."""
        r = self.repo(repo)
        with self.state.lock:
            full = r.git.rev_parse(sha)
            if full is None:
                raise ApiError(422, f"No commit found for SHA: {sha}")
            status = CommitStatus(
                id=self.state.next_id(),
                repo=r.full_name,
                sha=full,
                state=state,
                context=context,
                description=description,
                target_url=target_url,
                creator=creator,
            )
            r.statuses.append(status)
            self.events.status(r, status)
            return status
