"""Merge request endpoints: list, create, get, update, merge, diffs, changes, commits,
participants, versions, and approvals."""

from __future__ import annotations

from typing import Any

from .. import auth
from ..auth import ApiError
from ..diffs import merge_request_diff
from ..render import ts
from ..router import route
from ..server import Ctx
from ..state import DEVELOPER, REPORTER, MergeRequest, Project


def _mr(ctx: Ctx, project: Project, iid: str) -> MergeRequest:
    found = project.merge_requests.get(int(iid)) if iid.isdigit() else None
    if found is None:
        raise auth.not_found()
    return found


def _readable(ctx: Ctx, id: str) -> Project:
    project = ctx.project(id)
    ctx.require(project, REPORTER)
    return project


@route("GET", "/projects/{id}/merge_requests", anonymous=True)
def list_mrs(ctx: Ctx, id: str) -> Any:
    project = _readable(ctx, id)
    rows = list(project.merge_requests.values())
    state = ctx.param("state", "all")
    if state != "all":
        rows = [m for m in rows if m.state == state]
    for key in ("source_branch", "target_branch"):
        wanted = ctx.param(key)
        if wanted:
            rows = [m for m in rows if getattr(m, key) == wanted]
    author = ctx.int_param("author_id")
    if author is not None:
        rows = [m for m in rows if m.author_id == author]
    author_name = ctx.param("author_username")
    if author_name:
        user = ctx.state.user_by_name(str(author_name))
        rows = [m for m in rows if user is not None and m.author_id == user.id]
    reviewer = ctx.int_param("reviewer_id")
    if reviewer is not None:
        rows = [m for m in rows if reviewer in m.reviewer_ids]
    iids = ctx.list_param("iids")
    if iids:
        wanted_iids = {int(i) for i in iids}
        rows = [m for m in rows if m.iid in wanted_iids]
    labels = ctx.list_param("labels")
    if labels:
        rows = [m for m in rows if set(labels) <= set(m.labels)]
    order = ctx.param("order_by", "created_at")
    key = {"updated_at": lambda m: (m.updated_at, m.id), "title": lambda m: m.title}.get(
        order, lambda m: (m.created_at, m.id)
    )
    rows.sort(key=key, reverse=ctx.param("sort", "desc") == "desc")
    return ctx.page(rows, lambda m: ctx.render.merge_request(project, m, full=False))


@route("POST", "/projects/{id}/merge_requests")
def create_mr(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, DEVELOPER)
    ctx.required("source_branch", "target_branch", "title")
    if ctx.param("target_project_id") not in (None, project.id, str(project.id)):
        raise ApiError(422, ["Forks are not supported by the fake"])
    reviewers = [ctx.state.users[int(u)].username for u in ctx.list_param("reviewer_ids") or []]
    assignees = [ctx.state.users[int(u)].username for u in ctx.list_param("assignee_ids") or []]
    if ctx.param("assignee_id"):
        assignees.append(ctx.state.users[int(ctx.param("assignee_id"))].username)
    mr = ctx.fake.open_mr(
        project,
        str(ctx.param("source_branch")),
        str(ctx.param("target_branch")),
        title=str(ctx.param("title")),
        description=ctx.param("description") or "",
        author=ctx.user,
        reviewers=reviewers,
        assignees=assignees,
        labels=ctx.list_param("labels"),
        remove_source_branch=ctx.bool_param("remove_source_branch"),
        squash=ctx.bool_param("squash"),
        token_id=ctx.token_id,
    )
    return 201, ctx.render.merge_request(project, mr)


@route("GET", "/projects/{id}/merge_requests/{merge_request_iid}", anonymous=True)
def get_mr(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = _readable(ctx, id)
    out = ctx.render.merge_request(project, _mr(ctx, project, merge_request_iid))
    user = ctx.principal.user
    out["user"] = {
        "can_merge": bool(user)
        and auth.can_merge(ctx.state, ctx.principal, project, out["target_branch"])
    }
    return out


@route("PUT", "/projects/{id}/merge_requests/{merge_request_iid}")
def update_mr(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = ctx.project(id)
    mr = _mr(ctx, project, merge_request_iid)
    if ctx.user.id != mr.author_id:
        ctx.require(project, DEVELOPER)
    else:
        ctx.require(project, REPORTER)
    reviewers = ctx.list_param("reviewer_ids")
    assignees = ctx.list_param("assignee_ids")
    if assignees is None and ctx.param("assignee_id") is not None:
        assignees = [ctx.param("assignee_id")] if ctx.param("assignee_id") else []
    ctx.fake.edit_mr(
        project,
        mr.iid,
        user=ctx.user,
        title=ctx.param("title"),
        description=ctx.param("description"),
        target_branch=ctx.param("target_branch"),
        state_event=ctx.param("state_event"),
        reviewers=[int(r) for r in reviewers] if reviewers is not None else None,
        assignees=[int(a) for a in assignees] if assignees is not None else None,
        labels=ctx.list_param("labels"),
        remove_source_branch=(
            ctx.bool_param("remove_source_branch")
            if ctx.param("remove_source_branch") is not None
            else None
        ),
        squash=ctx.bool_param("squash") if ctx.param("squash") is not None else None,
    )
    return ctx.render.merge_request(project, mr)


@route("PUT", "/projects/{id}/merge_requests/{merge_request_iid}/merge")
def merge_mr(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, REPORTER)
    mr = _mr(ctx, project, merge_request_iid)
    ctx.fake.merge_mr(
        project,
        mr.iid,
        user=ctx.user,
        sha=ctx.param("sha"),
        message=ctx.param("merge_commit_message"),
        squash=ctx.bool_param("squash") if ctx.param("squash") is not None else None,
        should_remove_source_branch=(
            ctx.bool_param("should_remove_source_branch")
            if ctx.param("should_remove_source_branch") is not None
            else None
        ),
    )
    return ctx.render.merge_request(project, mr)


def _changes(project: Project, mr: MergeRequest) -> list[Any]:
    base = project.git.merge_base(mr.start_sha, mr.head_sha) or mr.start_sha
    return [f.change() for f in merge_request_diff(project.git, base, mr.head_sha)]


@route("GET", "/projects/{id}/merge_requests/{merge_request_iid}/diffs", anonymous=True)
def mr_diffs(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = _readable(ctx, id)
    mr = _mr(ctx, project, merge_request_iid)
    return ctx.page(_changes(project, mr), ctx.render.diff)


@route("GET", "/projects/{id}/merge_requests/{merge_request_iid}/changes", anonymous=True)
def mr_changes(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = _readable(ctx, id)
    mr = _mr(ctx, project, merge_request_iid)
    out = ctx.render.merge_request(project, mr)
    out["changes"] = [ctx.render.diff(c) for c in _changes(project, mr)]
    out["overflow"] = False
    return out


@route("GET", "/projects/{id}/merge_requests/{merge_request_iid}/commits", anonymous=True)
def mr_commits(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = _readable(ctx, id)
    mr = _mr(ctx, project, merge_request_iid)
    base = project.git.merge_base(mr.start_sha, mr.head_sha) or mr.start_sha
    shas = list(reversed(project.git.commits_between(base, mr.head_sha)))  # newest first
    return ctx.page(shas, lambda s: ctx.render.commit(project, s))


@route("GET", "/projects/{id}/merge_requests/{merge_request_iid}/participants", anonymous=True)
def mr_participants(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = _readable(ctx, id)
    mr = _mr(ctx, project, merge_request_iid)
    users = [mr.author_id, *mr.assignee_ids]
    for discussion in mr.discussions.values():
        for note_id in discussion.note_ids:
            note = ctx.state.notes[note_id]
            if not note.system:
                users.append(note.author_id)
    seen = list(dict.fromkeys(users))
    return ctx.page(seen, ctx.render.user)


@route("GET", "/projects/{id}/merge_requests/{merge_request_iid}/versions", anonymous=True)
def mr_versions(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = _readable(ctx, id)
    mr = _mr(ctx, project, merge_request_iid)
    rows = [
        {
            "id": v.id,
            "head_commit_sha": v.head_sha,
            "base_commit_sha": v.base_sha,
            "start_commit_sha": v.start_sha,
            "created_at": ts(v.created_at),
            "merge_request_id": mr.id,
            "state": "collected",
            "real_size": str(len(merge_request_diff(project.git, v.base_sha, v.head_sha))),
            "patch_id_sha": None,
        }
        for v in reversed(mr.versions)
    ]
    return ctx.page(rows)


# -- approvals --------------------------------------------------------------------------------
@route("GET", "/projects/{id}/merge_requests/{merge_request_iid}/approvals", anonymous=True)
def mr_approvals(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = _readable(ctx, id)
    mr = _mr(ctx, project, merge_request_iid)
    return ctx.render.approvals(project, mr, ctx.principal.user)


@route("GET", "/projects/{id}/merge_requests/{merge_request_iid}/approval_state", anonymous=True)
def mr_approval_state(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    """EE code (ee/lib/ee/api/merge_request_approvals.rb): no route on CE, Grape's 404. With no
    licence check of its own: a Free project answers 200 with no rules (see
    `Renderer.approval_rules`)."""
    if ctx.fake.edition == "ce":
        return 404, {"error": "404 Not Found"}
    project = _readable(ctx, id)
    mr = _mr(ctx, project, merge_request_iid)
    return ctx.render.approval_state(project, mr)


@route("POST", "/projects/{id}/merge_requests/{merge_request_iid}/approve")
def approve(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = _readable(ctx, id)
    mr = _mr(ctx, project, merge_request_iid)
    ctx.fake.approve(project, mr.iid, user=ctx.user, sha=ctx.param("sha"))
    return 201, ctx.render.approvals(project, mr, ctx.user)


@route("POST", "/projects/{id}/merge_requests/{merge_request_iid}/unapprove")
def unapprove(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = _readable(ctx, id)
    mr = _mr(ctx, project, merge_request_iid)
    ctx.fake.unapprove(project, mr.iid, user=ctx.user)
    return 201, ctx.render.approvals(project, mr, ctx.user)


@route("PUT", "/projects/{id}/merge_requests/{merge_request_iid}/reset_approvals")
def reset_approvals(ctx: Ctx, id: str, merge_request_iid: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, DEVELOPER)
    if ctx.principal.token is None or ctx.principal.token.kind == "personal":
        # "Only bot users based on project or group access tokens can reset approvals."
        raise auth.unauthorized()
    mr = _mr(ctx, project, merge_request_iid)
    ctx.fake.reset_approvals(project, mr.iid)
    return 202, None
