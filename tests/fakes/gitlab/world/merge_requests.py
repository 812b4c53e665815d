"""Merge requests: open, edit, close, reopen, approve, merge, and what a push does to them.

One part of `FakeGitLab`: every method changes the state and sends the `Merge Request Hook` (and
`Push Hook`, for a merge) GitLab would send, with GitLab's HTTP answer as `ApiError` when GitLab
refuses (the REST handlers let it through). Nothing here speaks HTTP.
"""

from __future__ import annotations

from typing import Any

from ...github.git import Person
from .. import auth
from ..auth import ApiError, Principal
from ..state import (
    DEVELOPER,
    ApprovalRule,
    DiffVersion,
    MergeRequest,
    Project,
    User,
    now,
)
from .base import WorldBase


class MergeRequests(WorldBase):
    """Merge requests and their approvals."""

    def mr(self, project: str | Project, iid: int) -> MergeRequest:
        p = self.project(project)
        found = p.merge_requests.get(int(iid))
        if found is None:
            raise ApiError(404, "404 Not found")
        return found

    def _version(self, project: Project, mr: MergeRequest) -> None:
        base = project.git.merge_base(mr.start_sha, mr.head_sha) or mr.start_sha
        mr.versions.append(DiffVersion(self.state.next_id(), mr.head_sha, base, mr.start_sha))
        # GitLab keeps every merge request's head under refs/merge-requests/IID/head (forks
        # too), which is how a clone fetches a merge request it has no branch of
        project.git.update_ref(f"refs/merge-requests/{mr.iid}/head", mr.head_sha)

    def open_mr(
        self,
        project: str | Project,
        source_branch: str,
        target_branch: str | None = None,
        *,
        title: str = "Change",
        description: str = "",
        author: str | User | None = None,
        reviewers: list[str] | None = None,
        assignees: list[str] | None = None,
        labels: list[str] | None = None,
        remove_source_branch: bool = False,
        squash: bool = False,
        token_id: int | None = None,
    ) -> MergeRequest:
        """Open a merge request (sends `Merge Request Hook` open); GitLab's 409/422 refusals."""
        p = self.project(project)
        with self.state.lock:
            target = target_branch or p.default_branch
            user = self.user(author) if author is not None else self._pusher(p, None, None)
            if source_branch == target:
                raise ApiError(409, ["You can't use same project/branch for source and target"])
            head = p.git.branch_sha(source_branch)
            if head is None:
                raise ApiError(422, [f'Source branch "{source_branch}" does not exist'])
            start = p.git.branch_sha(target)
            if start is None:
                raise ApiError(422, [f'Target branch "{target}" does not exist'])
            for other in p.merge_requests.values():
                if (
                    other.state == "opened"
                    and other.source_branch == source_branch
                    and other.target_branch == target
                ):
                    raise ApiError(
                        409,
                        [
                            "Another open merge request already exists for this source "
                            f"branch: !{other.iid}"
                        ],
                    )
            iid = p.next_iid["mr"]
            p.next_iid["mr"] += 1
            mr = MergeRequest(
                id=self.state.next_id(),
                iid=iid,
                project_id=p.id,
                source_project_id=p.id,
                title=title,
                description=description or "",
                author_id=user.id,
                source_branch=source_branch,
                target_branch=target,
                head_sha=head,
                start_sha=start,
                draft=_is_draft(title),
                reviewer_ids=[self.user(r).id for r in reviewers or []],
                assignee_ids=[self.user(a).id for a in assignees or []],
                labels=list(labels or []),
                squash=squash,
                force_remove_source_branch=remove_source_branch,
                token_id=token_id,
            )
            self._version(p, mr)
            p.merge_requests[iid] = mr
            self.events.merge_request("open", p, mr, user)
            return mr

    def edit_mr(
        self,
        project: str | Project,
        iid: int,
        *,
        user: str | User,
        title: str | None = None,
        description: str | None = None,
        target_branch: str | None = None,
        state_event: str | None = None,
        reviewers: list[int] | None = None,
        assignees: list[int] | None = None,
        labels: list[str] | None = None,
        remove_source_branch: bool | None = None,
        squash: bool | None = None,
    ) -> MergeRequest:
        """Change a merge request; sends `update` with `changes`, `close` or `reopen`."""
        p = self.project(project)
        with self.state.lock:
            mr = self.mr(p, iid)
            actor = self.user(user)
            changes: dict[str, Any] = {}

            def change(key: str, old: Any, new: Any) -> None:
                if old != new:
                    changes[key] = {"previous": old, "current": new}

            render = self.render
            if title is not None and title != mr.title:
                change("title", mr.title, title)
                if _is_draft(title) != mr.draft:
                    change("draft", mr.draft, _is_draft(title))
                    mr.draft = _is_draft(title)
                mr.title = title
            if description is not None:
                change("description", mr.description, description)
                mr.description = description
            if target_branch is not None and target_branch != mr.target_branch:
                start = p.git.branch_sha(target_branch)
                if start is None:
                    raise ApiError(422, [f'Target branch "{target_branch}" does not exist'])
                change("target_branch", mr.target_branch, target_branch)
                mr.target_branch = target_branch
                mr.start_sha = start
                self._version(p, mr)
            if reviewers is not None and list(reviewers) != mr.reviewer_ids:
                before = [render.hook_user(self.state.users[u]) for u in mr.reviewer_ids]
                mr.reviewer_ids = list(reviewers)
                after = [render.hook_user(self.state.users[u]) for u in mr.reviewer_ids]
                changes["reviewers"] = {"previous": before, "current": after}
            if assignees is not None and list(assignees) != mr.assignee_ids:
                before = [render.hook_user(self.state.users[u]) for u in mr.assignee_ids]
                mr.assignee_ids = list(assignees)
                after = [render.hook_user(self.state.users[u]) for u in mr.assignee_ids]
                changes["assignees"] = {"previous": before, "current": after}
            if labels is not None and labels != mr.labels:
                changes["labels"] = {"previous": [], "current": []}
                mr.labels = list(labels)
            if remove_source_branch is not None:
                mr.force_remove_source_branch = remove_source_branch
            if squash is not None:
                mr.squash = squash
            if changes:
                old = mr.updated_at
                mr.updated_at = now()
                changes["updated_at"] = {
                    "previous": render_hook(old),
                    "current": render_hook(mr.updated_at),
                }
                changes["updated_by_id"] = {"previous": None, "current": actor.id}
                self.events.merge_request("update", p, mr, actor, changes=changes)
            if state_event == "close" and mr.state == "opened":
                mr.state = "closed"
                mr.closed_at = now()
                mr.closed_by_id = actor.id
                mr.updated_at = now()
                self.system_note(p, mr, "closed", actor)
                self.events.merge_request("close", p, mr, actor)
            elif state_event == "reopen" and mr.state == "closed":
                if p.git.branch_sha(mr.source_branch) is None:
                    raise ApiError(400, "Cannot reopen: the source branch does not exist")
                mr.state = "opened"
                mr.closed_at = None
                mr.closed_by_id = None
                mr.updated_at = now()
                self.system_note(p, mr, "reopened", actor)
                self.events.merge_request("reopen", p, mr, actor)
            return mr

    def close_mr(self, project: str | Project, iid: int, *, user: str | User) -> MergeRequest:
        return self.edit_mr(project, iid, user=user, state_event="close")

    def reopen_mr(self, project: str | Project, iid: int, *, user: str | User) -> MergeRequest:
        return self.edit_mr(project, iid, user=user, state_event="reopen")

    # -- push effects -----------------------------------------------------------------------
    def _sync_merge_requests(
        self,
        project: Project,
        branch: str,
        before: str | None,
        after: str | None,
        pusher: User,
        *,
        notify: bool,
    ) -> None:
        """What GitLab's MergeRequests::RefreshService does after a push to `branch`."""
        for mr in list(project.merge_requests.values()):
            if mr.state != "opened":
                continue
            if mr.target_branch == branch and after is not None:
                mr.start_sha = after
                if project.git.is_ancestor(mr.head_sha, after):
                    # The source was merged by a push to the target: GitLab marks it merged.
                    mr.state = "merged"
                    mr.merged_at = now()
                    mr.merged_by_id = pusher.id
                    if notify:
                        self.events.merge_request("merge", project, mr, pusher)
                    continue
            if mr.source_branch == branch and mr.source_project_id == project.id:
                if after is None:
                    continue
                old = mr.head_sha
                if old == after:
                    continue
                mr.head_sha = after
                mr.updated_at = now()
                self._version(project, mr)
                if project.reset_approvals_on_push and mr.approvals:
                    mr.approvals.clear()
                new = (
                    project.git.commits_between(old, after)
                    if project.git.is_ancestor(old, after)
                    else [after]
                )
                if notify:
                    noun = "commit" if len(new) == 1 else "commits"
                    self.system_note(project, mr, f"added {len(new)} {noun}", pusher)
                    self.events.merge_request("update", project, mr, pusher, oldrev=old)

    # -- approvals --------------------------------------------------------------------------
    def set_approval_settings(
        self,
        project: str | Project,
        *,
        approvals_before_merge: int | None = None,
        reset_approvals_on_push: bool | None = None,
        merge_requests_author_approval: bool | None = None,
        merge_requests_disable_committers_approval: bool | None = None,
    ) -> None:
        p = self.project(project)
        with self.state.lock:
            if approvals_before_merge is not None:
                p.approvals_before_merge = approvals_before_merge
            if reset_approvals_on_push is not None:
                p.reset_approvals_on_push = reset_approvals_on_push
            if merge_requests_author_approval is not None:
                p.merge_requests_author_approval = merge_requests_author_approval
            if merge_requests_disable_committers_approval is not None:
                p.merge_requests_disable_committers_approval = (
                    merge_requests_disable_committers_approval
                )

    def add_approval_rule(
        self,
        project: str | Project,
        name: str,
        *,
        approvals_required: int = 1,
        users: list[str] | None = None,
        groups: list[str] | None = None,
        rule_type: str = "regular",
        section: str | None = None,
    ) -> ApprovalRule:
        """A project approval rule (Premium), e.g. `rule_type="code_owner"` with the
        CODEOWNERS section name, as `approval_state` reports it."""
        p = self.project(project)
        with self.state.lock:
            rule = ApprovalRule(
                id=self.state.next_id(),
                name=name,
                rule_type=rule_type,
                approvals_required=approvals_required,
                user_ids=[self.user(u).id for u in users or []],
                group_ids=[self.state.group_by_path(g).id for g in groups or []],  # type: ignore[union-attr]
                section=section,
            )
            p.approval_rules.append(rule)
            return rule

    def approve(
        self, project: str | Project, iid: int, *, user: str | User, sha: str | None = None
    ) -> MergeRequest:
        """Approve as `user`: 409 if `sha` is not the head, 401 if the user cannot approve
        (already approved, the author, or below Developer). Sends `approval` or `approved`."""
        p = self.project(project)
        with self.state.lock:
            mr = self.mr(p, iid)
            actor = self.user(user)
            if sha is not None and sha != mr.head_sha:
                raise ApiError(409, f"SHA does not match HEAD of source branch: {mr.head_sha}")
            if not self._can_approve(p, mr, actor):
                raise auth.unauthorized()
            was_approved = self.render.approvals_left(p, mr) == 0 and bool(mr.approvals)
            from ..state import Approval

            mr.approvals.append(Approval(actor.id, mr.head_sha))
            mr.updated_at = now()
            self.system_note(p, mr, "approved this merge request", actor)
            approved = self.render.approvals_left(p, mr) == 0
            action = "approved" if approved and not was_approved else "approval"
            self.events.merge_request(action, p, mr, actor)
            return mr

    def _can_approve(self, project: Project, mr: MergeRequest, user: User) -> bool:
        if mr.state != "opened":
            return False
        if any(a.user_id == user.id for a in mr.approvals):
            return False
        if user.id == mr.author_id and not project.merge_requests_author_approval:
            return False
        if project.merge_requests_disable_committers_approval:
            emails = {
                project.git.commit_info(sha).author.email
                for sha in project.git.commits_between(
                    project.git.merge_base(mr.start_sha, mr.head_sha) or mr.start_sha, mr.head_sha
                )
            }
            if user.email in emails:
                return False
        return auth.access(self.state, Principal(user=user), project) >= DEVELOPER or user.admin

    def unapprove(self, project: str | Project, iid: int, *, user: str | User) -> MergeRequest:
        """Withdraw an approval (404 if the user had not approved); sends `unapproval` or
        `unapproved` (when the merge request stops being approved)."""
        p = self.project(project)
        with self.state.lock:
            mr = self.mr(p, iid)
            actor = self.user(user)
            mine = [a for a in mr.approvals if a.user_id == actor.id]
            if not mine:
                raise auth.not_found()
            was_approved = self.render.approvals_left(p, mr) == 0
            mr.approvals = [a for a in mr.approvals if a.user_id != actor.id]
            mr.updated_at = now()
            self.system_note(p, mr, "unapproved this merge request", actor)
            still = self.render.approvals_left(p, mr) == 0 and bool(mr.approvals)
            action = "unapproved" if was_approved and not still else "unapproval"
            self.events.merge_request(action, p, mr, actor)
            return mr

    def reset_approvals(self, project: str | Project, iid: int) -> None:
        with self.state.lock:
            self.mr(project, iid).approvals.clear()

    # -- merging ----------------------------------------------------------------------------
    def merge_mr(
        self,
        project: str | Project,
        iid: int,
        *,
        user: str | User,
        sha: str | None = None,
        message: str | None = None,
        squash: bool | None = None,
        should_remove_source_branch: bool | None = None,
    ) -> MergeRequest:
        """Merge with a real merge commit (and a squash commit first when squashing).

        GitLab's answers: 401 when the user may not merge into the target branch, 405 when the
        merge request is not open, a draft, conflicting or not approved, 409 when `sha` is not
        the source branch's head. Sends `Push Hook` for the target and `merge`.
        """
        p = self.project(project)
        with self.state.lock:
            mr = self.mr(p, iid)
            actor = self.user(user)
            if not auth.can_merge(self.state, Principal(user=actor), p, mr.target_branch):
                raise auth.unauthorized()
            _status, detailed = self.render.merge_status(p, mr)
            if detailed != "mergeable":
                raise ApiError(405, "405 Method Not Allowed")
            if sha is not None and sha != mr.head_sha:
                raise ApiError(409, f"SHA does not match HEAD of source branch: {mr.head_sha}")
            git = p.git
            target_before = git.branch_sha(mr.target_branch)
            assert target_before is not None
            merger = Person(actor.name, actor.email, now())
            head = mr.head_sha
            do_squash = mr.squash if squash is None else squash
            if do_squash:
                base = git.merge_base(target_before, head) or target_before
                tree = git.commit_info(head).tree
                squash_message = f"{mr.title}\n"
                head = git.commit_tree(tree, [base], squash_message, merger)
                mr.squash_commit_sha = head
            tree_sha = git.merge_tree(target_before, head)
            if tree_sha is None:
                raise ApiError(405, "405 Method Not Allowed")
            text = message or (
                f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n{mr.title}\n\n"
                f"See merge request {p.path_with_namespace}!{mr.iid}\n"
            )
            merge_sha = git.commit_tree(tree_sha, [target_before, head], text, merger)
            git.update_ref(f"refs/heads/{mr.target_branch}", merge_sha, target_before)
            mr.state = "merged"
            mr.merged_at = now()
            mr.merged_by_id = actor.id
            mr.merge_commit_sha = merge_sha
            mr.updated_at = now()
            self.system_note(p, mr, f"merged\n\nmerge commit {merge_sha[:8]}", actor)
            self._after_ref_update(
                p, f"refs/heads/{mr.target_branch}", target_before, merge_sha, actor
            )
            self.events.merge_request("merge", p, mr, actor)
            remove = (
                mr.force_remove_source_branch
                if should_remove_source_branch is None
                else should_remove_source_branch
            )
            if remove and p.git.branch_sha(mr.source_branch) is not None:
                old = p.git.branch_sha(mr.source_branch)
                p.git.delete_ref(f"refs/heads/{mr.source_branch}")
                self._after_ref_update(p, f"refs/heads/{mr.source_branch}", old, None, actor)
            return mr


def _is_draft(title: str) -> bool:
    lowered = title.lower().lstrip()
    return lowered.startswith(("draft:", "[draft]", "(draft)"))


def render_hook(value: Any) -> str | None:
    from ..render import hook_ts

    return hook_ts(value)
