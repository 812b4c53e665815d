"""Issues, issue comments, reactions and labels (pull requests are issues too).

One part of `FakeGitHub`: every method changes the state and sends the webhooks GitHub would
send for that change, so tests and REST handlers share it. Nothing here speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..auth import ApiError
from ..state import (
    Issue,
    IssueComment,
    Label,
    Reaction,
    Repository,
    now,
)
from .base import WorldBase

REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}


class Issues(WorldBase):
    """Issues, comments on issues and pull requests, reactions, labels."""

    def issue(self, repo: str | Repository, number: int) -> Issue:
        issue = self.repo(repo).issues.get(number)
        if issue is None:
            raise KeyError(f"no issue #{number}")
        return issue

    def create_issue(
        self,
        repo: str | Repository,
        *,
        title: str,
        user: str,
        body: str | None = None,
        labels: Iterable[str] = (),
        app_id: int | None = None,
    ) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self._new_issue(r, title, body, user)
            issue.app_id = app_id
            for label in labels:
                self._ensure_label(r, label)
                issue.labels.append(label)
            self.events.issues("opened", r, issue, user)
            return issue

    def edit_issue(
        self,
        repo: str | Repository,
        number: int,
        *,
        user: str,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        state_reason: str | None = None,
        labels: Iterable[str] | None = None,
    ) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.issue(r, number)
            if issue.pull is not None and state is not None:
                if state == "closed":
                    self.close_pull(r, number, user=user)
                else:
                    self.reopen_pull(r, number, user=user)
                state = None
            changes: dict[str, Any] = {}
            if title is not None and title != issue.title:
                changes["title"] = {"from": issue.title}
                issue.title = title
            if body is not None and body != issue.body:
                changes["body"] = {"from": issue.body}
                issue.body = body
            if labels is not None:
                issue.labels = []
                for label in labels:
                    self._ensure_label(r, label)
                    issue.labels.append(label)
            issue.updated_at = now()
            if changes and issue.pull is None:
                self.events.issues("edited", r, issue, user, changes=changes)
            if state is not None and state != issue.state:
                issue.state = state
                if state == "closed":
                    issue.closed_at = now()
                    issue.closed_by = user
                    issue.state_reason = state_reason or "completed"
                    self.events.issues("closed", r, issue, user)
                else:
                    issue.closed_at = None
                    issue.state_reason = "reopened"
            return issue

    def _ensure_label(self, repo: Repository, name: str) -> Label:
        label = repo.labels.get(name.lower())
        if label is None:
            label = Label(id=self.state.next_id(), name=name)
            repo.labels[name.lower()] = label
        return label

    def add_labels(
        self, repo: str | Repository, number: int, labels: Iterable[str], *, user: str
    ) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.issue(r, number)
            for name in labels:
                label = self._ensure_label(r, name)
                if label.name not in issue.labels:
                    issue.labels.append(label.name)
                    if issue.pull is not None:
                        self.events.pull_request(
                            "labeled", r, issue, user, label=self.render.label(r, label)
                        )
            return issue

    def comment(
        self,
        repo: str | Repository,
        number: int,
        body: str,
        *,
        user: str,
        app_id: int | None = None,
    ) -> IssueComment:
        """Comment on an issue or pull request (sends `issue_comment` created)."""
        r = self.repo(repo)
        with self.state.lock:
            issue = self.issue(r, number)
            login = self._ensure_user(user).login
            comment = IssueComment(
                id=self.state.next_id(),
                repo=r.full_name,
                issue_number=number,
                user=login,
                body=body,
                app_id=app_id,
            )
            self.state.comments[comment.id] = comment
            issue.comments.append(comment.id)
            self.events.issue_comment("created", r, issue, comment, login)
            return comment

    def edit_comment(self, comment_id: int, body: str, *, user: str) -> IssueComment:
        with self.state.lock:
            comment = self.state.comments[comment_id]
            r = self.repo(comment.repo)
            old = comment.body
            comment.body = body
            comment.updated_at = now()
            self.events.issue_comment(
                "edited",
                r,
                r.issues[comment.issue_number],
                comment,
                user,
                changes={"body": {"from": old}},
            )
            return comment

    def delete_comment(self, comment_id: int, *, user: str) -> None:
        with self.state.lock:
            comment = self.state.comments.pop(comment_id)
            r = self.repo(comment.repo)
            issue = r.issues[comment.issue_number]
            issue.comments.remove(comment_id)
            # The payload still carries the comment, as GitHub's `deleted` payload does.
            self.state.comments[comment_id] = comment
            self.events.issue_comment("deleted", r, issue, comment, user)
            del self.state.comments[comment_id]

    def comments_on(self, repo: str | Repository, number: int) -> list[IssueComment]:
        issue = self.issue(repo, number)
        return [self.state.comments[c] for c in issue.comments]

    def react(self, comment_id: int, content: str, *, user: str) -> tuple[Reaction, bool]:
        """Add a reaction; (reaction, created) since GitHub answers 200 for an existing one."""
        if content not in REACTIONS:
            raise ApiError(422, "Validation Failed")
        with self.state.lock:
            comment = self.state.comments[comment_id]
            for existing in comment.reactions:
                if existing.user.lower() == user.lower() and existing.content == content:
                    return existing, False
            reaction = Reaction(id=self.state.next_id(), user=user, content=content)
            comment.reactions.append(reaction)
            return reaction, True
