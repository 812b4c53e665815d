"""Pull requests: opening, editing, reviews, requested reviewers, merging, the merge queue.

One part of `FakeGitHub`: every method changes the state and sends the webhooks GitHub would
send for that change, so tests and REST handlers share it. Nothing here speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..auth import ApiError
from ..state import (
    Issue,
    PullInfo,
    Repository,
    Review,
    now,
)
from .base import WEB_FLOW, WorldBase


class Pulls(WorldBase):
    """Pull requests from opening to merge, their reviews, and the merge queue."""

    def pull(self, repo: str | Repository, number: int) -> Issue:
        issue = self.repo(repo).issues.get(number)
        if issue is None or issue.pull is None:
            raise KeyError(f"no pull request #{number}")
        return issue

    def _new_issue(self, repo: Repository, title: str, body: str | None, user: str) -> Issue:
        issue = Issue(
            id=self.state.next_id(),
            number=repo.next_number,
            repo=repo.full_name,
            title=title,
            body=body,
            user=self.state.account(user).login if self.state.account(user) else user,
        )
        repo.next_number += 1
        repo.issues[issue.number] = issue
        return issue

    def open_pull(
        self,
        repo: str | Repository,
        head: str,
        base: str | None = None,
        *,
        title: str = "A change",
        body: str | None = "",
        user: str,
        draft: bool = False,
        head_repo: str | Repository | None = None,
        labels: Iterable[str] = (),
        app_id: int | None = None,
    ) -> Issue:
        """Open a pull request from `head` (a branch, `owner:branch` for a fork) into `base`."""
        r = self.repo(repo)
        with self.state.lock:
            source = self.repo(head_repo) if head_repo is not None else r
            if ":" in head:
                owner, head = head.split(":", 1)
                if owner.lower() != r.owner.lower():
                    source = self.repo(f"{owner}/{r.name}")
            base = base or r.default_branch
            head_sha = source.git.branch_sha(head)
            base_sha = r.git.branch_sha(base)
            errors = []
            if head_sha is None:
                errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
            if base_sha is None:
                errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
            if errors:
                raise ApiError(422, "Validation Failed", errors=errors)
            assert head_sha and base_sha
            for other in r.pulls():
                o = other.pull
                assert o is not None
                if (
                    other.state == "open"
                    and o.head_ref == head
                    and o.head_repo.lower() == source.full_name.lower()
                    and o.base_ref == base
                ):
                    raise ApiError(
                        422,
                        "Validation Failed",
                        errors=[
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for "
                                f"{source.owner}:{head}.",
                            }
                        ],
                    )
            if source is not r:
                r.git.fetch_into(source.git, head_sha, f"refs/pull/{r.next_number}/head")
            if r.git.is_ancestor(head_sha, base_sha):
                raise ApiError(
                    422,
                    "Validation Failed",
                    errors=[
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"No commits between {base} and {head}",
                        }
                    ],
                )
            issue = self._new_issue(r, title, body, user)
            issue.app_id = app_id
            issue.pull = PullInfo(
                head_ref=head,
                head_repo=source.full_name,
                base_ref=base,
                head_sha=head_sha,
                base_sha=base_sha,
                draft=draft,
            )
            for label in labels:
                self._ensure_label(r, label)
                issue.labels.append(label)
            self._update_pull_refs(r, issue)
            self.events.pull_request("opened", r, issue, issue.user)
            return issue

    def edit_pull(
        self,
        repo: str | Repository,
        number: int,
        *,
        user: str,
        title: str | None = None,
        body: str | None = None,
        base: str | None = None,
        state: str | None = None,
    ) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            changes: dict[str, Any] = {}
            if title is not None and title != issue.title:
                changes["title"] = {"from": issue.title}
                issue.title = title
            if body is not None and body != issue.body:
                changes["body"] = {"from": issue.body}
                issue.body = body
            if base is not None and base != p.base_ref:
                new_base = r.git.branch_sha(base)
                if new_base is None:
                    raise ApiError(
                        422,
                        "Validation Failed",
                        errors=[{"resource": "PullRequest", "field": "base", "code": "invalid"}],
                    )
                changes["base"] = {"ref": {"from": p.base_ref}, "sha": {"from": p.base_sha}}
                p.base_ref, p.base_sha = base, new_base
                self._update_pull_refs(r, issue)
            if changes:
                issue.updated_at = now()
                self.events.pull_request("edited", r, issue, user, changes=changes)
            if state == "closed" and issue.state == "open":
                self.close_pull(r, number, user=user)
            elif state == "open" and issue.state == "closed":
                self.reopen_pull(r, number, user=user)
            return issue

    def close_pull(self, repo: str | Repository, number: int, *, user: str) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            if issue.state == "closed":
                return issue
            issue.state = "closed"
            issue.closed_at = issue.updated_at = now()
            issue.closed_by = user
            self.events.pull_request("closed", r, issue, user)
            return issue

    def reopen_pull(self, repo: str | Repository, number: int, *, user: str) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            if issue.state == "open" or p.merged:
                return issue
            issue.state = "open"
            issue.closed_at = None
            issue.closed_by = None
            head_repo = self.repo(p.head_repo)
            p.head_sha = head_repo.git.branch_sha(p.head_ref) or p.head_sha
            p.base_sha = r.git.branch_sha(p.base_ref) or p.base_sha
            self._update_pull_refs(r, issue)
            self.events.pull_request("reopened", r, issue, user)
            return issue

    def set_draft(self, repo: str | Repository, number: int, draft: bool, *, user: str) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            assert issue.pull is not None
            if issue.pull.draft != draft:
                issue.pull.draft = draft
                action = "converted_to_draft" if draft else "ready_for_review"
                self.events.pull_request(action, r, issue, user)
            return issue

    def ready_for_review(self, repo: str | Repository, number: int, *, user: str) -> Issue:
        return self.set_draft(repo, number, False, user=user)

    def merge_pull(
        self,
        repo: str | Repository,
        number: int,
        *,
        user: str,
        method: str = "merge",
        sha: str | None = None,
        commit_title: str | None = None,
        commit_message: str | None = None,
    ) -> str:
        """Merge with a real merge (or squash) commit on the base branch; return its SHA."""
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            if issue.state != "open":
                raise ApiError(405, "Pull Request is not mergeable")
            if p.draft:
                raise ApiError(405, "Pull Request is still a draft")
            if sha is not None and sha != p.head_sha:
                raise ApiError(409, "Head branch was modified. Review and try the merge again.")
            if method not in ("merge", "squash"):
                raise ApiError(405, f"The fake does not support {method} merges")
            base_sha = r.git.branch_sha(p.base_ref)
            assert base_sha is not None
            tree = r.git.merge_tree(base_sha, p.head_sha)
            if tree is None:
                raise ApiError(405, "Pull Request is not mergeable")
            merger = self.person(user)
            if method == "merge":
                title = commit_title or (
                    f"Merge pull request #{number} from {self.repo(p.head_repo).owner}/{p.head_ref}"
                )
                message = (
                    f"{title}\n\n{commit_message if commit_message is not None else issue.title}\n"
                )
                parents = [base_sha, p.head_sha]
            else:
                title = commit_title or f"{issue.title} (#{number})"
                message = f"{title}\n\n{commit_message or ''}".rstrip() + "\n"
                parents = [base_sha]
            merge_sha = r.git.commit_tree(tree, parents, message, merger, WEB_FLOW)
            r.verified_commits[merge_sha] = "valid"
            r.git.update_ref(f"refs/heads/{p.base_ref}", merge_sha, base_sha)
            p.merged = True
            p.merged_at = now()
            p.merged_by = user
            p.merge_commit_sha = merge_sha
            p.base_sha = base_sha
            issue.state = "closed"
            issue.closed_at = issue.updated_at = p.merged_at
            self._after_ref_update(r, f"refs/heads/{p.base_ref}", base_sha, merge_sha, user)
            self.events.pull_request("closed", r, issue, user)
            return merge_sha

    def request_reviewers(
        self,
        repo: str | Repository,
        number: int,
        *,
        user: str,
        reviewers: Iterable[str] = (),
        team_reviewers: Iterable[str] = (),
    ) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            for login in reviewers:
                account = self.state.account(login)
                if account is None or self.state.user_permission(r, login) == "none":
                    raise ApiError(
                        422,
                        "Reviews may only be requested from collaborators. One or more of the "
                        "users or teams you specified is not a collaborator of the "
                        f"{r.full_name} repository.",
                    )
                if login.lower() == issue.user.lower():
                    raise ApiError(422, "Review cannot be requested from pull request author.")
                if account.login not in p.requested_reviewers:
                    p.requested_reviewers.append(account.login)
                    self.events.pull_request(
                        "review_requested",
                        r,
                        issue,
                        user,
                        requested_reviewer=self.render.user(account),
                    )
            for slug in team_reviewers:
                team = self.state.team(r.owner, slug)
                if team is None:
                    raise ApiError(
                        422,
                        "Reviews may only be requested from collaborators. One or more of the "
                        "users or teams you specified is not a collaborator of the "
                        f"{r.full_name} repository.",
                    )
                if team.slug not in p.requested_teams:
                    p.requested_teams.append(team.slug)
                    self.events.pull_request(
                        "review_requested",
                        r,
                        issue,
                        user,
                        requested_team=self.render.team(team),
                    )
            return issue

    def review(
        self,
        repo: str | Repository,
        number: int,
        *,
        user: str,
        event: str = "APPROVE",
        body: str = "",
        commit_id: str | None = None,
        allow_own: bool = False,
    ) -> Review:
        """Submit a review: event APPROVE | REQUEST_CHANGES | COMMENT (or PENDING, unsent).

        GitHub refuses a pull request's author approving or requesting changes on it (422), and
        so does this. `allow_own=True` stages it anyway, for tests of a defence that must hold
        even if GitHub's rule did not (never reachable through the REST API)."""
        r = self.repo(repo)
        states = {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
            "PENDING": "PENDING",
        }
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            if event not in states:
                raise ApiError(422, f"Unknown review event {event}")
            own = user.lower() == issue.user.lower()
            if own and not allow_own and event in ("APPROVE", "REQUEST_CHANGES"):
                verb = "approve" if event == "APPROVE" else "request changes on"
                raise ApiError(
                    422,
                    "Unprocessable Entity",
                    errors=[f"Review Can not {verb} your own pull request"],  # type: ignore[list-item]
                )
            if event in ("REQUEST_CHANGES", "COMMENT") and not body:
                raise ApiError(
                    422,
                    "Unprocessable Entity",
                    errors=[f"Review Body is required for {event}"],  # type: ignore[list-item]
                )
            login = self._ensure_user(user).login
            review = Review(
                id=self.state.next_id(),
                user=login,
                state=states[event],
                body=body,
                commit_id=commit_id or p.head_sha,
                submitted_at=None if event == "PENDING" else now(),
            )
            p.reviews.append(review)
            if event != "PENDING":
                p.requested_reviewers = [
                    u for u in p.requested_reviewers if u.lower() != login.lower()
                ]
                self.events.pull_request_review("submitted", r, issue, review, login)
            return review

    def find_review(self, repo: Repository, number: int, review_id: int) -> Review:
        issue = self.pull(repo, number)
        assert issue.pull is not None
        for review in issue.pull.reviews:
            if review.id == review_id:
                return review
        raise ApiError(404, "Not Found")

    def dismiss_review(
        self,
        repo: str | Repository,
        number: int,
        review_id: int,
        *,
        user: str,
        message: str = "Dismissed",
    ) -> Review:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            review = self.find_review(r, number, review_id)
            if review.state not in ("APPROVED", "CHANGES_REQUESTED"):
                raise ApiError(422, "Can not dismiss a commented pull request review")
            review.state = "DISMISSED"
            self.events.pull_request_review("dismissed", r, issue, review, user)
            return review

    def edit_review(
        self, repo: str | Repository, number: int, review_id: int, *, user: str, body: str
    ) -> Review:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            review = self.find_review(r, number, review_id)
            old = review.body
            review.body = body
            self.events.pull_request_review(
                "edited", r, issue, review, user, changes={"body": {"from": old}}
            )
            return review

    # -- merge queue ------------------------------------------------------------------------------
    def enqueue_merge_group(
        self, repo: str | Repository, number: int, *, user: str
    ) -> tuple[str, str]:
        """Put a PR in the merge queue: a real `gh-readonly-queue/...` branch, and the event.

        Returns (head_ref, head_sha) of the merge group.
        """
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            base_sha = r.git.branch_sha(p.base_ref)
            assert base_sha is not None
            tree = r.git.merge_tree(base_sha, p.head_sha)
            if tree is None:
                raise ApiError(405, "Pull Request is not mergeable")
            message = f"Merge pull request #{number} from {p.head_ref}\n\n{issue.title}\n"
            sha = r.git.commit_tree(tree, [base_sha, p.head_sha], message, WEB_FLOW)
            head_ref = f"refs/heads/gh-readonly-queue/{p.base_ref}/pr-{number}-{p.head_sha}"
            r.git.update_ref(head_ref, sha)
            self.events.merge_group(
                "checks_requested", r, head_ref, sha, f"refs/heads/{p.base_ref}", base_sha, user
            )
            return head_ref, sha

    def destroy_merge_group(
        self, repo: str | Repository, head_ref: str, *, user: str, reason: str = "dequeued"
    ) -> None:
        r = self.repo(repo)
        with self.state.lock:
            sha = r.git.rev_parse(head_ref)
            assert sha is not None
            base_ref = "refs/heads/" + head_ref.split("/")[3]
            base_sha = r.git.rev_parse(base_ref) or sha
            r.git.delete_ref(head_ref)
            self.events.merge_group(
                "destroyed", r, head_ref, sha, base_ref, base_sha, user, reason=reason
            )
