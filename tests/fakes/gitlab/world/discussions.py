"""Notes, threads (discussions) with diff positions, resolution, and emoji reactions.

One part of `FakeGitLab`. Every note lives in a discussion, as on GitLab: a plain comment is an
`individual_note` discussion of one note; a thread on a merge request is resolvable; a thread
with a `position` is a `DiffNote` on a line of the merge request's diff (checked as GitLab
checks it: `diffs.position_file`). Sends `Note Hook`
(create/update), `Emoji Hook` (award/revoke) and, when the last thread of a merge request is
resolved, `Merge Request Hook` update. System notes ("added 1 commit", "approved this merge
request") are recorded and listed but send no hook.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..auth import ApiError
from ..diffs import position_file
from ..state import (
    DEVELOPER,
    MAINTAINER,
    Award,
    Discussion,
    Issue,
    MergeRequest,
    Note,
    Project,
    User,
    now,
)
from .base import WorldBase

Noteable = MergeRequest | Issue


class Discussions(WorldBase):
    """Comments, threads, resolution and emoji reactions on merge requests and issues."""

    def _noteable(self, project: Project, iid: int, kind: str) -> Noteable:
        table: dict[int, Any] = project.merge_requests if kind == "MergeRequest" else project.issues
        found = table.get(int(iid))
        if found is None:
            raise ApiError(404, "404 Not found")
        return found

    def _new_note(
        self,
        project: Project,
        noteable: Noteable,
        discussion: Discussion,
        body: str,
        user: User,
        **fields: Any,
    ) -> Note:
        kind = "MergeRequest" if isinstance(noteable, MergeRequest) else "Issue"
        note = Note(
            id=self.state.next_id(),
            project_id=project.id,
            noteable_type=kind,
            noteable_id=noteable.id,
            noteable_iid=noteable.iid,
            discussion_id=discussion.id,
            author_id=user.id,
            body=body,
            **fields,
        )
        self.state.notes[note.id] = note
        discussion.note_ids.append(note.id)
        noteable.updated_at = now()
        return note

    def _discussion(self, noteable: Noteable, *, individual: bool) -> Discussion:
        seed = f"{noteable.id}:{self.state.next_id()}".encode()
        discussion = Discussion(hashlib.sha1(seed).hexdigest(), individual_note=individual)
        noteable.discussions[discussion.id] = discussion
        return discussion

    def system_note(self, project: Project, noteable: Noteable, body: str, user: User) -> Note:
        discussion = self._discussion(noteable, individual=True)
        return self._new_note(project, noteable, discussion, body, user, system=True)

    def comment(
        self,
        project: str | Project,
        iid: int,
        body: str,
        *,
        user: str | User,
        on: str = "MergeRequest",
        token_id: int | None = None,
    ) -> Note:
        """A plain comment on a merge request (or `on="Issue"`); sends `Note Hook` create."""
        p = self.project(project)
        with self.state.lock:
            noteable = self._noteable(p, iid, on)
            author = self.user(user)
            discussion = self._discussion(noteable, individual=True)
            note = self._new_note(p, noteable, discussion, body, author, token_id=token_id)
            self.events.note("create", p, note, author)
            return note

    def discuss(
        self,
        project: str | Project,
        iid: int,
        body: str,
        *,
        user: str | User,
        position: dict[str, Any] | None = None,
        on: str = "MergeRequest",
        token_id: int | None = None,
    ) -> Discussion:
        """Start a thread; with `position` a diff note on a line (validated against the merge
        request's diff versions, 400 as GitLab answers an invalid position)."""
        p = self.project(project)
        with self.state.lock:
            noteable = self._noteable(p, iid, on)
            author = self.user(user)
            note_type = "DiscussionNote"
            if position is not None:
                if not isinstance(noteable, MergeRequest):
                    raise ApiError(400, "400 Bad request - position is only for merge requests")
                position = self._checked_position(p, noteable, position)
                note_type = "DiffNote"
            discussion = self._discussion(noteable, individual=False)
            note = self._new_note(
                p,
                noteable,
                discussion,
                body,
                author,
                type=note_type,
                position=position,
                resolvable=isinstance(noteable, MergeRequest),
                token_id=token_id,
            )
            self.events.note("create", p, note, author)
            return discussion

    def _checked_position(
        self, project: Project, mr: MergeRequest, position: dict[str, Any]
    ) -> dict[str, Any]:
        def invalid(why: str) -> ApiError:
            return ApiError(
                400,
                '400 Bad request - Note {:line_code=>["can\'t be blank", "must be a valid '
                f'line code"], :position=>["{why}"]}}',
            )

        kind = position.get("position_type")
        if kind not in ("text", "image", "file"):
            raise ApiError(400, error="position[position_type] does not have a valid value")
        shas = (position.get("base_sha"), position.get("start_sha"), position.get("head_sha"))
        if not all(shas):
            raise invalid("is incomplete")
        versions = {(v.base_sha, v.start_sha, v.head_sha) for v in mr.versions}
        if shas not in versions:
            raise invalid("is invalid")
        base, _start, head = shas
        new_path = position.get("new_path") or position.get("old_path")
        old_path = position.get("old_path") or new_path
        # GitLab's find_diff_file: the diff limited to the position's paths, its first file
        diff = position_file(project.git, base, head, old_path, new_path)
        if diff is None or new_path not in (diff.new_path, diff.old_path):
            raise invalid("is invalid")
        if kind == "text":
            new_line, old_line = position.get("new_line"), position.get("old_line")
            if new_line is None and old_line is None:
                raise invalid("is incomplete")
            if new_line is not None:
                text = project.git.read_file(head, new_path) or b""
                if not 1 <= int(new_line) <= max(1, text.count(b"\n") + 1):
                    raise invalid("is invalid")
            # no such line in the diff: no line code (an added line has no old number)
            if not diff.has_line(
                None if old_line is None else int(old_line),
                None if new_line is None else int(new_line),
            ):
                raise invalid("is invalid")
        out = dict(position)
        out.setdefault("old_path", old_path)
        out.setdefault("new_path", new_path)
        out.setdefault("old_line", None)
        out.setdefault("new_line", None)
        out.setdefault("line_range", None)
        return out

    def reply(
        self,
        project: str | Project,
        iid: int,
        discussion_id: str,
        body: str,
        *,
        user: str | User,
        on: str = "MergeRequest",
        token_id: int | None = None,
    ) -> Note:
        p = self.project(project)
        with self.state.lock:
            noteable = self._noteable(p, iid, on)
            discussion = noteable.discussions.get(discussion_id)
            if discussion is None:
                raise ApiError(404, "404 Discussion Not Found")
            author = self.user(user)
            first = self.state.notes[discussion.note_ids[0]]
            if discussion.individual_note:
                # Replying to a single comment turns it into a thread, as GitLab does.
                discussion.individual_note = False
                first.type = "DiscussionNote"
                first.resolvable = isinstance(noteable, MergeRequest)
            note = self._new_note(
                p,
                noteable,
                discussion,
                body,
                author,
                type=first.type,
                position=first.position,
                resolvable=first.resolvable,
                token_id=token_id,
            )
            self.events.note("create", p, note, author)
            return note

    def resolve(
        self,
        project: str | Project,
        iid: int,
        discussion_id: str,
        *,
        user: str | User,
        resolved: bool = True,
    ) -> Discussion:
        """Resolve (or unresolve) a merge request thread: the merge request's author or a
        Developer may (403 otherwise). Resolving the last thread sends `update`."""
        p = self.project(project)
        with self.state.lock:
            mr = self._noteable(p, iid, "MergeRequest")
            discussion = mr.discussions.get(discussion_id)
            if discussion is None:
                raise ApiError(404, "404 Discussion Not Found")
            actor = self.user(user)
            level = self.state.project_access(p, actor.id)
            if actor.id != mr.author_id and level < DEVELOPER and not actor.admin:
                raise ApiError(403, "403 Forbidden")
            notes = [self.state.notes[n] for n in discussion.note_ids]
            if not any(n.resolvable for n in notes):
                raise ApiError(400, "400 Bad request - discussion is not resolvable")
            for note in notes:
                if note.resolvable:
                    note.resolved = resolved
                    note.resolved_by_id = actor.id if resolved else None
                    note.resolved_at = now() if resolved else None
            all_resolved = all(
                self.state.notes[n].resolved
                for d in mr.discussions.values()
                for n in d.note_ids
                if self.state.notes[n].resolvable
            )
            if resolved and all_resolved:
                self.events.merge_request("update", p, mr, actor)
            return discussion

    def edit_note(self, note_id: int, body: str, *, user: str | User) -> Note:
        with self.state.lock:
            note = self.state.notes[note_id]
            actor = self.user(user)
            if note.author_id != actor.id and not actor.admin:
                raise ApiError(403, "403 Forbidden")
            note.body = body
            note.updated_at = now()
            project = self.state.projects[note.project_id]
            self.events.note("update", project, note, actor)
            return note

    def delete_note(self, note_id: int, *, user: str | User) -> None:
        with self.state.lock:
            note = self.state.notes[note_id]
            actor = self.user(user)
            project = self.state.projects[note.project_id]
            if (
                note.author_id != actor.id
                and self.state.project_access(project, actor.id) < MAINTAINER
                and not actor.admin
            ):
                raise ApiError(403, "403 Forbidden")
            noteable = self._noteable(project, note.noteable_iid, note.noteable_type)
            discussion = noteable.discussions[note.discussion_id]
            discussion.note_ids.remove(note.id)
            if not discussion.note_ids:
                del noteable.discussions[discussion.id]
            del self.state.notes[note.id]

    def notes_of(self, project: str | Project, iid: int, on: str = "MergeRequest") -> list[Note]:
        """Every note of a merge request or issue, oldest first (system notes included)."""
        p = self.project(project)
        noteable = self._noteable(p, iid, on)
        notes = [self.state.notes[n] for d in noteable.discussions.values() for n in d.note_ids]
        return sorted(notes, key=lambda n: n.id)

    # -- emoji reactions ------------------------------------------------------------------------
    def award(
        self,
        target: Note | MergeRequest | Issue,
        name: str,
        *,
        user: str | User,
    ) -> Award:
        """React with an emoji (GitLab's 404 for a duplicate reaction); sends `Emoji Hook`."""
        with self.state.lock:
            actor = self.user(user)
            if isinstance(target, Note):
                kind, project = "Note", self.state.projects[target.project_id]
            elif isinstance(target, MergeRequest):
                kind, project = "MergeRequest", self.state.projects[target.project_id]
            else:
                kind, project = "Issue", self.state.projects[target.project_id]
            awards = target.awards
            if any(a.user_id == actor.id and a.name == name for a in awards):
                raise ApiError(404, f"404 Award Emoji {name} Not Found")
            award = Award(self.state.next_id(), name, actor.id, kind, target.id)
            awards.append(award)
            self.events.emoji("award", project, award, actor)
            return award

    def unaward(
        self, target: Note | MergeRequest | Issue, award_id: int, *, user: str | User
    ) -> None:
        with self.state.lock:
            actor = self.user(user)
            award = next((a for a in target.awards if a.id == award_id), None)
            if award is None:
                raise ApiError(404, "404 Award Emoji Not Found")
            if award.user_id != actor.id and not actor.admin:
                raise ApiError(401, "401 Unauthorized")
            target.awards.remove(award)
            project = self.state.projects[target.project_id]
            self.events.emoji("revoke", project, award, actor)
