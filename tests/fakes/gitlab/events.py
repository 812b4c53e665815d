"""Which webhooks a change to the fake's state causes, and their payloads.

GitLab sends each event to every hook of the project (and of the project's groups) that has the
event's `*_events` flag on, with the payload shapes of GitLab's documented examples
(doc/user/project/integrations/webhook_events.md; vendored in `examples/`). This module builds
those payloads from the state and hands them to the dispatcher; it decides nothing about the
change itself, which the fake's operations have already made.
"""

from __future__ import annotations

import fnmatch
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .render import ZERO_SHA
from .state import Award, Hook, Issue, MergeRequest, Note, Project, User

if TYPE_CHECKING:
    from .fake import FakeGitLab

# X-Gitlab-Event -> the hook flag that subscribes to it.
EVENT_FLAGS = {
    "Push Hook": "push_events",
    "Merge Request Hook": "merge_requests_events",
    "Note Hook": "note_events",
    "Issue Hook": "issues_events",
    "Emoji Hook": "emoji_events",
}
HOOK_EVENTS = (
    *EVENT_FLAGS.values(),
    "tag_push_events",
    "confidential_issues_events",
    "confidential_note_events",
    "pipeline_events",
    "job_events",
)


class Events:
    """Builds and queues webhook deliveries for one fake."""

    def __init__(self, fake: FakeGitLab) -> None:
        self.fake = fake
        # One "request UUID" per API request, shared by every hook it fires
        # (X-Gitlab-Event-UUID, GitLab's recursion detection).
        self._local = threading.local()

    @contextmanager
    def request(self) -> Iterator[None]:
        self._local.uuid = str(uuid.uuid4())
        try:
            yield
        finally:
            self._local.uuid = None

    @property
    def render(self) -> Any:
        return self.fake.render

    def hooks_for(self, project: Project, flag: str) -> list[Hook]:
        state = self.fake.state
        hooks = [h for h in project.hooks if flag in h.events]
        if project.namespace_kind == "group":
            for group in state.ancestors(state.groups[project.namespace_id]):
                hooks += [
                    h for h in state.hooks.values() if h.group_id == group.id and flag in h.events
                ]
        return hooks

    def emit(
        self, event: str, project: Project, payload: dict[str, Any], *, branch: str = ""
    ) -> None:
        flag = EVENT_FLAGS[event]
        request_uuid = getattr(self._local, "uuid", None) or str(uuid.uuid4())
        for hook in self.hooks_for(project, flag):
            pattern = hook.push_events_branch_filter
            if event == "Push Hook" and pattern and not fnmatch.fnmatchcase(branch, pattern):
                continue
            self.fake.dispatcher.create(
                hook_id=hook.id,
                event=event,
                payload=payload,
                url=hook.url,
                token=hook.token,
                signing_token=hook.signing_token,
                instance=self.fake.web_url,
                event_uuid=request_uuid,
                background=self.fake.serving_request,
            )

    # -- event families ---------------------------------------------------------------------
    def push(
        self,
        project: Project,
        ref: str,
        before: str | None,
        after: str | None,
        user: User,
        commits: list[str],
    ) -> None:
        render = self.render
        branch = ref.removeprefix("refs/heads/")
        newest = list(reversed(commits))[:20]  # "the newest 20 commits only"
        payload = {
            "object_kind": "push",
            "event_name": "push",
            "before": before or ZERO_SHA,
            "after": after or ZERO_SHA,
            "ref": ref,
            "ref_protected": self.fake.state.protected_branch(project, branch) is not None,
            "checkout_sha": after,
            "message": None,
            "user_id": user.id,
            "user_name": user.name,
            "user_username": user.username,
            "user_email": "[REDACTED]",
            "user_avatar": render.hook_user(user)["avatar_url"],
            "project_id": project.id,
            "project": render.hook_project(project),
            "commits": [render.hook_commit(project, sha, changes=True) for sha in reversed(newest)],
            "total_commits_count": len(commits),
            "push_options": {},
            "repository": render.hook_repository(project),
        }
        self.emit("Push Hook", project, payload, branch=branch)

    def merge_request(
        self,
        action: str,
        project: Project,
        mr: MergeRequest,
        user: User,
        *,
        changes: dict[str, Any] | None = None,
        oldrev: str | None = None,
    ) -> None:
        render = self.render
        attrs = render.hook_merge_request(project, mr)
        attrs["action"] = action
        if oldrev is not None:
            attrs["oldrev"] = oldrev
        payload = {
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "user": render.hook_user(user),
            "project": render.hook_project(project),
            "object_attributes": attrs,
            "labels": [],
            "changes": changes or {},
            "repository": render.hook_repository(project),
            "assignees": [render.hook_user(self.fake.state.users[u]) for u in mr.assignee_ids],
            "reviewers": [render.hook_user(self.fake.state.users[u]) for u in mr.reviewer_ids],
        }
        self.emit("Merge Request Hook", project, payload)

    def _noteable(self, project: Project, note: Note) -> tuple[str, dict[str, Any]]:
        if note.noteable_type == "MergeRequest":
            mr = project.merge_requests[note.noteable_iid]
            return "merge_request", self.render.hook_merge_request(project, mr)
        issue = project.issues[note.noteable_iid]
        return "issue", self.render.hook_issue(project, issue)

    def note(self, action: str, project: Project, note: Note, user: User) -> None:
        render = self.render
        key, noteable = self._noteable(project, note)
        payload = {
            "object_kind": "note",
            "event_type": "note",
            "user": render.hook_user(user),
            "project_id": project.id,
            "project": render.hook_project(project),
            "object_attributes": render.hook_note(project, note, action),
            "repository": render.hook_repository(project),
            key: noteable,
        }
        self.emit("Note Hook", project, payload)

    def issue(
        self,
        action: str,
        project: Project,
        issue: Issue,
        user: User,
        changes: dict[str, Any] | None = None,
    ) -> None:
        render = self.render
        payload = {
            "object_kind": "issue",
            "event_type": "issue",
            "user": render.hook_user(user),
            "project": render.hook_project(project),
            "object_attributes": render.hook_issue(project, issue, action),
            "repository": render.hook_repository(project),
            "assignees": [render.hook_user(self.fake.state.users[u]) for u in issue.assignee_ids],
            "labels": [],
            "changes": changes or {},
        }
        if issue.assignee_ids:
            # The deprecated single assignee, still sent when there is one.
            payload["assignee"] = render.hook_user(self.fake.state.users[issue.assignee_ids[0]])
        self.emit("Issue Hook", project, payload)

    def emoji(self, action: str, project: Project, award: Award, user: User) -> None:
        render = self.render
        state = self.fake.state
        attrs = {
            "user_id": award.user_id,
            "created_at": render_hook_ts(award),
            "id": award.id,
            "name": award.name,
            "awardable_type": award.awardable_type,
            "awardable_id": award.awardable_id,
            "updated_at": render_hook_ts(award),
            "action": action,
        }
        payload: dict[str, Any] = {
            "object_kind": "emoji",
            "event_type": action,
            "user": render.hook_user(user),
            "project_id": project.id,
            "project": render.hook_project(project),
            "object_attributes": attrs,
        }
        if award.awardable_type == "Note":
            note = state.notes[award.awardable_id]
            attrs["awarded_on_url"] = render.note_url(project, note)
            note_attrs = render.hook_note(project, note, "create")
            note_attrs.pop("action")
            payload["note"] = note_attrs
            key, noteable = self._noteable(project, note)
            payload[key] = noteable
        elif award.awardable_type == "MergeRequest":
            mr = next(m for m in project.merge_requests.values() if m.id == award.awardable_id)
            attrs["awarded_on_url"] = render.mr_url(project, mr)
            payload["merge_request"] = render.hook_merge_request(project, mr)
        else:
            issue = next(i for i in project.issues.values() if i.id == award.awardable_id)
            attrs["awarded_on_url"] = f"{render.project_url(project)}/-/issues/{issue.iid}"
            payload["issue"] = render.hook_issue(project, issue)
        self.emit("Emoji Hook", project, payload)


def render_hook_ts(award: Award) -> str | None:
    from .render import hook_ts

    return hook_ts(award.created_at)
