"""Notes, discussions and emoji reactions on merge requests and issues; issues themselves."""

from __future__ import annotations

from typing import Any

from .. import auth
from ..auth import ApiError
from ..router import route
from ..server import Ctx
from ..state import GUEST, REPORTER, Issue, MergeRequest, Note, Project

KINDS = {"merge_requests": ("MergeRequest", "merge_request_iid"), "issues": ("Issue", "issue_iid")}


def _noteable(ctx: Ctx, id: str, iid: str, kind: str, *, write: bool = False) -> Any:
    project = ctx.project(id)
    # Guests may comment on issues; merge requests of private projects need Reporter.
    ctx.require(project, GUEST if kind == "Issue" else REPORTER)
    table: dict[int, Any] = project.merge_requests if kind == "MergeRequest" else project.issues
    found = table.get(int(iid)) if iid.isdigit() else None
    if found is None:
        raise auth.not_found()
    return project, found


def _note(noteable: MergeRequest | Issue, ctx: Ctx, note_id: str) -> Note:
    note = ctx.state.notes.get(int(note_id)) if note_id.isdigit() else None
    if note is None or note.noteable_id != noteable.id:
        raise auth.not_found("Note")
    return note


def _register(prefix: str, kind: str, iid_name: str) -> None:
    base = f"/projects/{{id}}/{prefix}/{{{iid_name}}}"

    def list_notes(ctx: Ctx, id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        notes = [ctx.state.notes[n] for d in noteable.discussions.values() for n in d.note_ids]
        key = (
            (lambda n: (n.updated_at, n.id))
            if ctx.param("order_by") == "updated_at"
            else (lambda n: (n.created_at, n.id))
        )
        notes.sort(key=key, reverse=ctx.param("sort", "desc") == "desc")
        return ctx.page(notes, ctx.render.note)

    def create_note(ctx: Ctx, id: str, **kw: str) -> Any:
        project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        ctx.required("body")
        note = ctx.fake.comment(
            project,
            noteable.iid,
            str(ctx.param("body")),
            user=ctx.user,
            on=kind,
            token_id=ctx.token_id,
        )
        return 201, ctx.render.note(note)

    def get_note(ctx: Ctx, id: str, note_id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        return ctx.render.note(_note(noteable, ctx, note_id))

    def update_note(ctx: Ctx, id: str, note_id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        note = _note(noteable, ctx, note_id)
        ctx.required("body")
        ctx.fake.edit_note(note.id, str(ctx.param("body")), user=ctx.user)
        return ctx.render.note(note)

    def delete_note(ctx: Ctx, id: str, note_id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        note = _note(noteable, ctx, note_id)
        ctx.fake.delete_note(note.id, user=ctx.user)
        return 204, None

    def list_discussions(ctx: Ctx, id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        rows = sorted(noteable.discussions.values(), key=lambda d: d.note_ids[0])
        return ctx.page(rows, ctx.render.discussion)

    def create_discussion(ctx: Ctx, id: str, **kw: str) -> Any:
        project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        ctx.required("body")
        position = ctx.param("position")
        if position is not None and not isinstance(position, dict):
            raise ApiError(400, error="position is invalid")
        discussion = ctx.fake.discuss(
            project,
            noteable.iid,
            str(ctx.param("body")),
            user=ctx.user,
            position=position,
            on=kind,
            token_id=ctx.token_id,
        )
        return 201, ctx.render.discussion(discussion)

    def get_discussion(ctx: Ctx, id: str, discussion_id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        discussion = noteable.discussions.get(discussion_id)
        if discussion is None:
            raise auth.not_found("Discussion")
        return ctx.render.discussion(discussion)

    def update_discussion(ctx: Ctx, id: str, discussion_id: str, **kw: str) -> Any:
        project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        ctx.required("resolved")
        discussion = ctx.fake.resolve(
            project, noteable.iid, discussion_id, user=ctx.user, resolved=ctx.bool_param("resolved")
        )
        return ctx.render.discussion(discussion)

    def reply(ctx: Ctx, id: str, discussion_id: str, **kw: str) -> Any:
        project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        ctx.required("body")
        note = ctx.fake.reply(
            project,
            noteable.iid,
            discussion_id,
            str(ctx.param("body")),
            user=ctx.user,
            on=kind,
            token_id=ctx.token_id,
        )
        return 201, ctx.render.note(note)

    def list_note_awards(ctx: Ctx, id: str, note_id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        return ctx.page(list(_note(noteable, ctx, note_id).awards), ctx.render.award)

    def award_note(ctx: Ctx, id: str, note_id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        ctx.required("name")
        award = ctx.fake.award(_note(noteable, ctx, note_id), str(ctx.param("name")), user=ctx.user)
        return 201, ctx.render.award(award)

    def unaward_note(ctx: Ctx, id: str, note_id: str, award_id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        ctx.fake.unaward(_note(noteable, ctx, note_id), int(award_id), user=ctx.user)
        return 204, None

    def list_awards(ctx: Ctx, id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        return ctx.page(list(noteable.awards), ctx.render.award)

    def award(ctx: Ctx, id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        ctx.required("name")
        return 201, ctx.render.award(
            ctx.fake.award(noteable, str(ctx.param("name")), user=ctx.user)
        )

    def unaward(ctx: Ctx, id: str, award_id: str, **kw: str) -> Any:
        _project, noteable = _noteable(ctx, id, kw[iid_name], kind)
        ctx.fake.unaward(noteable, int(award_id), user=ctx.user)
        return 204, None

    table = [
        ("GET", "/notes", list_notes, True),
        ("POST", "/notes", create_note, False),
        ("GET", "/notes/{note_id}", get_note, True),
        ("PUT", "/notes/{note_id}", update_note, False),
        ("DELETE", "/notes/{note_id}", delete_note, False),
        ("GET", "/discussions", list_discussions, True),
        ("POST", "/discussions", create_discussion, False),
        ("GET", "/discussions/{discussion_id}", get_discussion, True),
        ("PUT", "/discussions/{discussion_id}", update_discussion, False),
        ("POST", "/discussions/{discussion_id}/notes", reply, False),
        ("GET", "/notes/{note_id}/award_emoji", list_note_awards, True),
        ("POST", "/notes/{note_id}/award_emoji", award_note, False),
        ("DELETE", "/notes/{note_id}/award_emoji/{award_id}", unaward_note, False),
        ("GET", "/award_emoji", list_awards, True),
        ("POST", "/award_emoji", award, False),
        ("DELETE", "/award_emoji/{award_id}", unaward, False),
    ]
    for method, suffix, handler, anonymous in table:
        route(method, base + suffix, anonymous=anonymous)(handler)


for _prefix, (_kind, _iid) in KINDS.items():
    _register(_prefix, _kind, _iid)


# -- issues -----------------------------------------------------------------------------------
def _issue(project: Project, iid: str) -> Issue:
    found = project.issues.get(int(iid)) if iid.isdigit() else None
    if found is None:
        raise auth.not_found()
    return found


@route("GET", "/projects/{id}/issues", anonymous=True)
def list_issues(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    rows = list(project.issues.values())
    state = ctx.param("state", "all")
    if state != "all":
        rows = [i for i in rows if i.state == state]
    author = ctx.int_param("author_id")
    if author is not None:
        rows = [i for i in rows if i.author_id == author]
    author_name = ctx.param("author_username")
    if author_name:
        user = ctx.state.user_by_name(str(author_name))
        rows = [i for i in rows if user is not None and i.author_id == user.id]
    labels = ctx.list_param("labels")
    if labels:
        rows = [i for i in rows if set(labels) <= set(i.labels)]
    search = ctx.param("search")
    if search:
        needle = str(search).lower()
        rows = [i for i in rows if needle in (i.title + " " + i.description).lower()]
    rows.sort(key=lambda i: (i.created_at, i.id), reverse=ctx.param("sort", "desc") == "desc")
    return ctx.page(rows, lambda i: ctx.render.issue(project, i))


@route("POST", "/projects/{id}/issues")
def create_issue(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, GUEST)
    ctx.required("title")
    assignees = [ctx.state.users[int(u)].username for u in ctx.list_param("assignee_ids") or []]
    issue = ctx.fake.create_issue(
        project,
        str(ctx.param("title")),
        description=ctx.param("description") or "",
        author=ctx.user,
        labels=ctx.list_param("labels"),
        assignees=assignees,
        confidential=ctx.bool_param("confidential"),
        token_id=ctx.token_id,
    )
    return 201, ctx.render.issue(project, issue)


@route("GET", "/projects/{id}/issues/{issue_iid}", anonymous=True)
def get_issue(ctx: Ctx, id: str, issue_iid: str) -> Any:
    project = ctx.project(id)
    return ctx.render.issue(project, _issue(project, issue_iid))


@route("PUT", "/projects/{id}/issues/{issue_iid}")
def update_issue(ctx: Ctx, id: str, issue_iid: str) -> Any:
    project = ctx.project(id)
    issue = _issue(project, issue_iid)
    if ctx.user.id != issue.author_id:
        ctx.require(project, REPORTER)
    assignees = ctx.list_param("assignee_ids")
    ctx.fake.edit_issue(
        project,
        issue.iid,
        user=ctx.user,
        title=ctx.param("title"),
        description=ctx.param("description"),
        state_event=ctx.param("state_event"),
        labels=ctx.list_param("labels"),
        assignee_ids=[int(a) for a in assignees] if assignees is not None else None,
    )
    return ctx.render.issue(project, issue)
