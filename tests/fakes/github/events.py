"""Which webhooks a change to the fake's state causes, and their payloads.

GitHub sends an event to every App installed on the repository (or account) that subscribed to
it, with `sender`, `repository`, `organization` and `installation` beside the event's own
fields. This module builds those payloads from the state and hands them to the dispatcher; it
decides nothing about the change itself, which the fake's operations have already made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .render import ts
from .state import (
    CheckRun,
    CheckSuite,
    CommitStatus,
    Installation,
    Issue,
    IssueComment,
    Repository,
    Review,
)

if TYPE_CHECKING:
    from .fake import FakeGitHub

# Events every App receives without subscribing (GitHub: "All GitHub Apps receive this event").
ALWAYS_SENT = {"installation", "installation_repositories"}

# (event, action) pairs the fake can send; their x-webhooks schemas are vendored for validation.
SENT = [
    ("pull_request", "opened"),
    ("pull_request", "synchronize"),
    ("pull_request", "reopened"),
    ("pull_request", "edited"),
    ("pull_request", "closed"),
    ("pull_request", "ready_for_review"),
    ("pull_request", "converted_to_draft"),
    ("pull_request", "review_requested"),
    ("pull_request", "labeled"),
    ("pull_request_review", "submitted"),
    ("pull_request_review", "edited"),
    ("pull_request_review", "dismissed"),
    ("issue_comment", "created"),
    ("issue_comment", "edited"),
    ("issue_comment", "deleted"),
    ("issues", "opened"),
    ("issues", "edited"),
    ("issues", "closed"),
    ("push", None),
    ("check_suite", "requested"),
    ("check_suite", "rerequested"),
    ("check_suite", "completed"),
    ("check_run", "created"),
    ("check_run", "completed"),
    ("check_run", "rerequested"),
    ("check_run", "requested_action"),
    ("status", None),
    ("merge_group", "checks_requested"),
    ("merge_group", "destroyed"),
    ("installation", "created"),
    ("installation", "deleted"),
    ("installation", "suspend"),
    ("installation", "unsuspend"),
    ("installation_repositories", "added"),
    ("installation_repositories", "removed"),
]


class Events:
    """Builds and queues webhook deliveries for one fake."""

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake

    @property
    def render(self) -> Any:
        return self.fake.render

    # -- the one place deliveries are created -----------------------------------------------
    def emit(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        repo: Repository | None = None,
        sender: str,
        installation: Installation | None = None,
        only_app: int | None = None,
    ) -> None:
        state = self.fake.state
        targets: list[tuple[Installation, int]] = []
        if installation is not None:
            targets.append((installation, installation.app_id))
        elif repo is not None:
            for app in state.apps.values():
                inst = state.installation_for_repo(app.id, repo.full_name)
                if inst is not None:
                    targets.append((inst, app.id))
        for inst, app_id in targets:
            app = state.apps[app_id]
            if only_app is not None and app_id != only_app:
                continue
            if event not in ALWAYS_SENT and (event not in inst.events or inst.suspended_at):
                continue
            if not app.webhook_active:
                continue
            body: dict[str, Any] = dict(payload)
            if repo is not None:
                body["repository"] = self.render.repository(repo, full=False)
                owner = state.account(repo.owner)
                if owner is not None and owner.type == "Organization":
                    body["organization"] = self.render.org_simple(owner)
            body["sender"] = self.render.user(sender)
            body["installation"] = {"id": inst.id, "node_id": f"MDIzOkludGVncmF0aW9u{inst.id}"}
            if event in ALWAYS_SENT:
                body["installation"] = self.render.installation(inst)
            self.fake.dispatcher.create(
                app_id=app_id,
                hook_id=app.hook_id,
                installation_id=inst.id,
                event=event,
                payload=body,
                url=app.webhook_url,
                secret=app.webhook_secret,
                background=self.fake.serving_request,
            )

    # -- event families ---------------------------------------------------------------------
    def pull_request(
        self, action: str, repo: Repository, issue: Issue, sender: str, **extra: Any
    ) -> None:
        payload = {
            "action": action,
            "number": issue.number,
            "pull_request": self.render.pull(repo, issue),
            **extra,
        }
        self.emit("pull_request", payload, repo=repo, sender=sender)

    def pull_request_review(
        self,
        action: str,
        repo: Repository,
        issue: Issue,
        review: Review,
        sender: str,
        **extra: Any,
    ) -> None:
        review_json = self.render.review(repo, issue, review)
        review_json["state"] = review.state.lower()
        payload = {
            "action": action,
            "review": review_json,
            "pull_request": self.render.pull(repo, issue, simple=True),
            **extra,
        }
        self.emit("pull_request_review", payload, repo=repo, sender=sender)

    def issue_comment(
        self,
        action: str,
        repo: Repository,
        issue: Issue,
        comment: IssueComment,
        sender: str,
        **extra: Any,
    ) -> None:
        payload = {
            "action": action,
            "issue": self.render.issue(repo, issue),
            "comment": self.render.comment(repo, comment),
            **extra,
        }
        self.emit("issue_comment", payload, repo=repo, sender=sender)

    def issues(
        self, action: str, repo: Repository, issue: Issue, sender: str, **extra: Any
    ) -> None:
        payload = {"action": action, "issue": self.render.issue(repo, issue), **extra}
        self.emit("issues", payload, repo=repo, sender=sender)

    def push(
        self,
        repo: Repository,
        ref: str,
        before: str | None,
        after: str | None,
        pusher: str,
        forced: bool = False,
    ) -> None:
        zero = "0" * 40
        commits: list[dict[str, Any]] = []
        if after:
            base = before if before and repo.git.object_type(before) else None
            shas = (
                repo.git.commits_between(base, after)
                if base
                else repo.git.run("rev-list", "--reverse", "--max-count=20", after).split()
            )
            commits = [self._push_commit(repo, sha) for sha in shas[-20:]]
        account = self.fake.state.account(pusher)
        pusher_json = {
            "name": account.login if account else pusher,
            "email": (account.email if account else None) or f"{pusher}@users.noreply.github.com",
        }
        payload = {
            "ref": ref,
            "before": before or zero,
            "after": after or zero,
            "created": before is None,
            "deleted": after is None,
            "forced": forced,
            "base_ref": None,
            "compare": f"{self.fake.web_url}/{repo.full_name}/compare/"
            f"{(before or zero)[:12]}...{(after or zero)[:12]}",
            "commits": commits,
            "head_commit": commits[-1] if commits else None,
            "pusher": pusher_json,
        }
        self.emit("push", payload, repo=repo, sender=pusher)

    def _push_commit(self, repo: Repository, sha: str) -> dict[str, Any]:
        info = repo.git.commit_info(sha)
        parent = info.parents[0] if info.parents else None
        changes = repo.git.diff_files(parent, sha) if parent else []
        if parent is None:
            added = [e.path for e in repo.git.ls_tree(sha, recursive=True) if e.type == "blob"]
        else:
            added = [c.filename for c in changes if c.status == "added"]
        return {
            "id": sha,
            "tree_id": info.tree,
            "distinct": True,
            "message": info.message.rstrip("\n"),
            "timestamp": info.committer.date.isoformat() if info.committer.date else None,
            "url": f"{self.fake.web_url}/{repo.full_name}/commit/{sha}",
            "author": {"name": info.author.name, "email": info.author.email},
            "committer": {"name": info.committer.name, "email": info.committer.email},
            "added": added,
            "removed": [c.filename for c in changes if c.status == "removed"],
            "modified": [c.filename for c in changes if c.status not in ("added", "removed")],
        }

    def check_suite(self, action: str, repo: Repository, suite: CheckSuite, sender: str) -> None:
        payload = {"action": action, "check_suite": self.render.check_suite(repo, suite)}
        self.emit("check_suite", payload, repo=repo, sender=sender, only_app=suite.app_id)

    def check_run(
        self,
        action: str,
        repo: Repository,
        run: CheckRun,
        sender: str,
        only_app: int | None = None,
        **extra: Any,
    ) -> None:
        run_json = self.render.check_run(repo, run)
        suite = next(s for s in repo.check_suites if s.id == run.suite_id)
        run_json["check_suite"] = self.render.check_suite(repo, suite, full=False)
        payload = {"action": action, "check_run": run_json, **extra}
        self.emit("check_run", payload, repo=repo, sender=sender, only_app=only_app)

    def status(self, repo: Repository, status: CommitStatus) -> None:
        """`status` (no action): a commit status was created; its creator is the sender."""
        creator = self.render.user(status.creator)
        branches = [
            {
                "name": ref.removeprefix("refs/heads/"),
                "commit": {
                    "sha": tip,
                    "url": f"{self.render.api}/repos/{repo.full_name}/commits/{tip}",
                },
                "protected": False,
            }
            for ref, tip in sorted(repo.git.refs("refs/heads/").items())
            if tip == status.sha or repo.git.is_ancestor(status.sha, tip)
        ]
        payload = {
            "id": status.id,
            "sha": status.sha,
            "name": repo.full_name,
            "avatar_url": creator["avatar_url"] if creator else None,
            "target_url": status.target_url,
            "context": status.context,
            "description": status.description,
            "state": status.state,
            "commit": self.render.commit(repo, status.sha),
            "branches": branches[:10],  # GitHub lists at most 10
            "created_at": ts(status.created_at),
            "updated_at": ts(status.updated_at),
        }
        self.emit("status", payload, repo=repo, sender=status.creator)

    def merge_group(
        self,
        action: str,
        repo: Repository,
        head_ref: str,
        head_sha: str,
        base_ref: str,
        base_sha: str,
        sender: str,
        **extra: Any,
    ) -> None:
        payload = {
            "action": action,
            "merge_group": {
                "head_sha": head_sha,
                "head_ref": head_ref,
                "base_sha": base_sha,
                "base_ref": base_ref,
                "head_commit": self._merge_group_commit(repo, head_sha),
            },
            **extra,
        }
        self.emit("merge_group", payload, repo=repo, sender=sender)

    def _merge_group_commit(self, repo: Repository, sha: str) -> dict[str, Any]:
        info = repo.git.commit_info(sha)
        return {
            "id": sha,
            "tree_id": info.tree,
            "message": info.message.rstrip("\n"),
            "timestamp": info.committer.date.isoformat() if info.committer.date else None,
            "author": {"name": info.author.name, "email": info.author.email},
            "committer": {"name": info.committer.name, "email": info.committer.email},
        }

    def installation(
        self, action: str, inst: Installation, sender: str, repos: list[Repository]
    ) -> None:
        payload = {
            "action": action,
            "repositories": [self._repo_stub(r) for r in repos],
            "requester": None,
        }
        self.emit("installation", payload, installation=inst, sender=sender)

    def installation_repositories(
        self,
        action: str,
        inst: Installation,
        sender: str,
        added: list[Repository],
        removed: list[Repository],
    ) -> None:
        payload = {
            "action": action,
            "repository_selection": inst.repository_selection,
            "repositories_added": [self._repo_stub(r) for r in added],
            "repositories_removed": [self._repo_stub(r) for r in removed],
            "requester": None,
        }
        self.emit("installation_repositories", payload, installation=inst, sender=sender)

    @staticmethod
    def _repo_stub(repo: Repository) -> dict[str, Any]:
        return {
            "id": repo.id,
            "node_id": repo.node_id,
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
        }
