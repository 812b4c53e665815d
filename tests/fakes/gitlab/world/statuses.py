"""Commit statuses in external pipelines, with GitLab's state machine; and issues.

One part of `FakeGitLab`. `POST /projects/:id/statuses/:sha` finds or creates the external
pipeline for (sha, ref), reuses the running or pending status of the same name or starts a new
one (the older one becomes `retried`), then fires GitLab's events: pending -> `enqueue!`,
running -> `enqueue` then `run!`, success -> `success!`, failed -> `drop!`, canceled ->
`cancel!`, skipped -> `skip!` (lib/api/commit_statuses.rb). An event the state machine does not
allow is GitLab's 400 `Cannot transition status via :run from :running ...` (PLATFORM.md §9.1).
"""

from __future__ import annotations

from typing import Any

from ..auth import ApiError
from ..state import CommitStatus, Issue, Pipeline, Project, User, now
from .base import WorldBase

# Ci::HasStatus / CommitStatus state machine: event -> the states it may start from -> target.
TRANSITIONS: dict[str, tuple[set[str], str]] = {
    "enqueue": ({"created", "skipped", "manual", "scheduled", "waiting_for_resource"}, "pending"),
    "run": ({"pending"}, "running"),
    "success": ({"created", "pending", "running", "waiting_for_resource"}, "success"),
    "drop": ({"created", "pending", "running", "manual", "scheduled"}, "failed"),
    "cancel": ({"created", "pending", "running", "manual", "scheduled"}, "canceled"),
    "skip": ({"created", "pending", "waiting_for_resource"}, "skipped"),
}
EVENTS_FOR_STATE = {
    "pending": [("enqueue", True)],
    "running": [("enqueue", False), ("run", True)],
    "success": [("success", True)],
    "failed": [("drop", True)],
    "canceled": [("cancel", True)],
    "skipped": [("skip", True)],
}
FINISHED = {"success", "failed", "canceled", "skipped"}


class Statuses(WorldBase):
    """External commit statuses, and issues."""

    def post_status(
        self,
        project: str | Project,
        sha: str,
        state: str,
        *,
        user: str | User,
        name: str | None = None,
        ref: str | None = None,
        target_url: str | None = None,
        description: str | None = None,
        coverage: float | None = None,
        pipeline_id: int | None = None,
        token_id: int | None = None,
    ) -> CommitStatus:
        p = self.project(project)
        with self.state.lock:
            author = self.user(user)
            commit = p.git.resolve(sha)
            if commit is None or commit != p.git.rev_parse(sha):
                raise ApiError(404, "404 Commit Not Found")
            if state not in EVENTS_FOR_STATE:
                raise ApiError(400, error="state does not have a valid value")
            name = name or "default"
            pipeline = self._pipeline_for(p, commit, ref, pipeline_id, author)
            ref = ref or pipeline.ref
            status = next(
                (
                    s
                    for s in p.statuses
                    if s.pipeline_id == pipeline.id
                    and s.name == name
                    and s.ref == ref
                    and s.status in ("pending", "running")
                    and not s.retried
                ),
                None,
            )
            if status is None:
                for older in p.statuses:
                    if older.sha == commit and older.name == name and older.ref == ref:
                        older.retried = True
                status = CommitStatus(
                    id=self.state.next_id(),
                    project_id=p.id,
                    pipeline_id=pipeline.id,
                    sha=commit,
                    ref=ref,
                    name=name,
                    status="created",
                    author_id=author.id,
                    token_id=token_id,
                )
                p.statuses.append(status)
            status.description = description if description is not None else status.description
            status.target_url = target_url if target_url is not None else status.target_url
            status.coverage = coverage if coverage is not None else status.coverage
            status.author_id = author.id
            status.token_id = token_id
            for event, strict in EVENTS_FOR_STATE[state]:
                allowed, target = TRANSITIONS[event]
                if status.status not in allowed:
                    if not strict:
                        continue
                    raise ApiError(
                        400,
                        f"Cannot transition status via :{event} from :{status.status} "
                        f'(Reason(s): Status cannot transition via "{event}")',
                    )
                status.status = target
                status.history.append(target)
                if target == "running":
                    status.started_at = now()
                if target in FINISHED:
                    status.finished_at = now()
            status.updated_at = now()
            pipeline.updated_at = now()
            return status

    def _pipeline_for(
        self,
        project: Project,
        sha: str,
        ref: str | None,
        pipeline_id: int | None,
        user: User,
    ) -> Pipeline:
        if pipeline_id is not None:
            found = next(
                (pl for pl in project.pipelines if pl.id == pipeline_id and pl.sha == sha), None
            )
            if found is None:
                raise ApiError(404, "404 Pipeline Not Found")
            return found
        if ref is None:
            branches = [
                name.removeprefix("refs/heads/")
                for name, head in sorted(project.git.refs("refs/heads/").items())
                if head == sha or project.git.is_ancestor(sha, head)
            ]
            if project.default_branch in branches:
                ref = project.default_branch
            else:
                ref = branches[0] if branches else None
        candidates = [pl for pl in project.pipelines if pl.sha == sha and pl.ref == ref]
        if candidates:
            return candidates[-1]
        pipeline = Pipeline(
            id=self.state.next_id(),
            iid=project.next_iid["pipeline"],
            project_id=project.id,
            sha=sha,
            ref=ref,
            user_id=user.id,
        )
        project.next_iid["pipeline"] += 1
        project.pipelines.append(pipeline)
        return pipeline

    def statuses(
        self,
        project: str | Project,
        sha: str | None = None,
        *,
        name: str | None = None,
        ref: str | None = None,
        latest: bool = False,
    ) -> list[CommitStatus]:
        """Statuses recorded on a commit (all attempts unless `latest`), oldest first; each
        with `.author_id`, `.token_id` (who posted it) and `.history` of states."""
        p = self.project(project)
        with self.state.lock:
            return [
                s
                for s in p.statuses
                if (sha is None or s.sha == sha)
                and (name is None or s.name == name)
                and (ref is None or s.ref == ref)
                and (not latest or not s.retried)
            ]

    # -- issues ---------------------------------------------------------------------------------
    def create_issue(
        self,
        project: str | Project,
        title: str,
        *,
        description: str = "",
        author: str | User,
        labels: list[str] | None = None,
        assignees: list[str] | None = None,
        confidential: bool = False,
        token_id: int | None = None,
    ) -> Issue:
        p = self.project(project)
        with self.state.lock:
            user = self.user(author)
            iid = p.next_iid["issue"]
            p.next_iid["issue"] += 1
            issue = Issue(
                id=self.state.next_id(),
                iid=iid,
                project_id=p.id,
                title=title,
                description=description or "",
                author_id=user.id,
                labels=list(labels or []),
                assignee_ids=[self.user(a).id for a in assignees or []],
                confidential=confidential,
                token_id=token_id,
            )
            p.issues[iid] = issue
            self.events.issue("open", p, issue, user)
            return issue

    def issue(self, project: str | Project, iid: int) -> Issue:
        found = self.project(project).issues.get(int(iid))
        if found is None:
            raise ApiError(404, "404 Not found")
        return found

    def edit_issue(
        self,
        project: str | Project,
        iid: int,
        *,
        user: str | User,
        title: str | None = None,
        description: str | None = None,
        state_event: str | None = None,
        labels: list[str] | None = None,
        assignee_ids: list[int] | None = None,
    ) -> Issue:
        p = self.project(project)
        with self.state.lock:
            issue = self.issue(p, iid)
            actor = self.user(user)
            changes: dict[str, Any] = {}
            if title is not None and title != issue.title:
                changes["title"] = {"previous": issue.title, "current": title}
                issue.title = title
            if description is not None and description != issue.description:
                changes["description"] = {"previous": issue.description, "current": description}
                issue.description = description
            if labels is not None and labels != issue.labels:
                changes["labels"] = {"previous": [], "current": []}
                issue.labels = list(labels)
            if assignee_ids is not None and assignee_ids != issue.assignee_ids:
                changes["assignees"] = {"previous": [], "current": []}
                issue.assignee_ids = list(assignee_ids)
            if changes:
                issue.updated_at = now()
                self.events.issue("update", p, issue, actor, changes)
            if state_event == "close" and issue.state == "opened":
                issue.state = "closed"
                issue.closed_at = now()
                issue.closed_by_id = actor.id
                self.events.issue("close", p, issue, actor)
            elif state_event == "reopen" and issue.state == "closed":
                issue.state = "opened"
                issue.closed_at = None
                issue.closed_by_id = None
                self.events.issue("reopen", p, issue, actor)
            return issue
