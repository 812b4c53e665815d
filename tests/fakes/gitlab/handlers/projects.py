"""Projects, project hooks and project approval settings."""

from __future__ import annotations

from typing import Any

from .. import auth
from ..auth import ApiError
from ..events import HOOK_EVENTS
from ..router import route
from ..server import Ctx
from ..state import GUEST, MAINTAINER
from ..webhooks import signing_key


@route("GET", "/projects", anonymous=True)
def list_projects(ctx: Ctx) -> Any:
    projects = [p for p in ctx.state.projects.values() if auth.can_see(ctx.state, ctx.principal, p)]
    if ctx.bool_param("membership"):
        uid = ctx.user.id
        projects = [p for p in projects if ctx.state.project_access(p, uid) >= GUEST]
    if ctx.bool_param("owned"):
        uid = ctx.user.id
        projects = [p for p in projects if p.namespace_kind == "user" and p.namespace_id == uid]
    level = ctx.int_param("min_access_level")
    if level is not None:
        uid = ctx.user.id
        projects = [p for p in projects if ctx.state.project_access(p, uid) >= level]
    search = ctx.param("search")
    if search:
        needle = str(search).lower()
        projects = [p for p in projects if needle in p.path_with_namespace.lower()]
    visibility = ctx.param("visibility")
    if visibility:
        projects = [p for p in projects if p.visibility == visibility]
    order = ctx.param("order_by", "created_at")
    keys = {
        "id": lambda p: p.id,
        "name": lambda p: p.name,
        "path": lambda p: p.path,
        "created_at": lambda p: (p.created_at, p.id),
        "updated_at": lambda p: (p.last_activity_at, p.id),
        "last_activity_at": lambda p: (p.last_activity_at, p.id),
    }
    projects.sort(
        key=keys.get(order, keys["created_at"]), reverse=ctx.param("sort", "desc") == "desc"
    )
    user = ctx.principal.user
    return ctx.page(projects, lambda p: ctx.render.project(p, user=user))


@route("GET", "/projects/{id}", anonymous=True)
def get_project(ctx: Ctx, id: str) -> Any:
    return ctx.render.project(ctx.project(id), user=ctx.principal.user)


# -- hooks ------------------------------------------------------------------------------------
def _hook_fields(ctx: Ctx) -> dict[str, Any]:
    events = {flag for flag in HOOK_EVENTS if ctx.bool_param(flag, flag == "push_events")}
    signing = ctx.param("signing_token")
    if signing:
        try:
            signing_key(signing)
        except ValueError as exc:
            raise ApiError(400, {"signing_token": [str(exc)]}) from exc
    return {
        "token": ctx.param("token"),
        "signing_token": signing,
        "events": events,
        "push_events_branch_filter": ctx.param("push_events_branch_filter"),
    }


def _hook(ctx: Ctx, project_id: str, hook_id: str) -> Any:
    project = ctx.project(project_id)
    ctx.require(project, MAINTAINER)
    hook = next((h for h in project.hooks if str(h.id) == hook_id), None)
    if hook is None:
        raise auth.not_found("Hook")
    return project, hook


@route("GET", "/projects/{id}/hooks")
def list_hooks(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, MAINTAINER)
    return ctx.page(list(project.hooks), ctx.render.hook)


@route("POST", "/projects/{id}/hooks")
def create_hook(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, MAINTAINER)
    ctx.required("url")
    fields = _hook_fields(ctx)
    hook = ctx.fake.add_hook(project, ctx.param("url"), **fields)
    return 201, ctx.render.hook(hook)


@route("GET", "/projects/{id}/hooks/{hook_id}")
def get_hook(ctx: Ctx, id: str, hook_id: str) -> Any:
    return ctx.render.hook(_hook(ctx, id, hook_id)[1])


@route("PUT", "/projects/{id}/hooks/{hook_id}")
def update_hook(ctx: Ctx, id: str, hook_id: str) -> Any:
    _project, hook = _hook(ctx, id, hook_id)
    if ctx.param("url"):
        hook.url = ctx.param("url")
    fields = _hook_fields(ctx)
    if "token" in ctx.body or ctx.request.args.get("token") is not None:
        hook.token = fields["token"]
    if fields["signing_token"]:
        hook.signing_token = fields["signing_token"]
    hook.events = fields["events"]
    return ctx.render.hook(hook)


@route("DELETE", "/projects/{id}/hooks/{hook_id}")
def delete_hook(ctx: Ctx, id: str, hook_id: str) -> Any:
    _project, hook = _hook(ctx, id, hook_id)
    ctx.fake.remove_hook(hook)
    return 204, None


@route("POST", "/projects/{id}/hooks/{hook_id}/events/{hook_log_id}/resend")
def resend_hook_event(ctx: Ctx, id: str, hook_id: str, hook_log_id: str) -> Any:
    _project, hook = _hook(ctx, id, hook_id)
    delivery = next(
        (d for d in ctx.fake.deliveries if str(d.id) == hook_log_id and d.hook_id == hook.id),
        None,
    )
    if delivery is None:
        raise auth.not_found()
    attempt = ctx.fake.redeliver(delivery)
    return 201, {"response_status": attempt.status}


# -- approval settings (Premium) --------------------------------------------------------------
@route("GET", "/projects/{id}/approvals")
def get_approval_settings(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, GUEST)
    return ctx.render.project_approvals(project)


@route("POST", "/projects/{id}/approvals")
def set_approval_settings(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, MAINTAINER)
    ctx.fake.set_approval_settings(
        project,
        approvals_before_merge=ctx.int_param("approvals_before_merge"),
        reset_approvals_on_push=(
            ctx.bool_param("reset_approvals_on_push")
            if ctx.param("reset_approvals_on_push") is not None
            else None
        ),
        merge_requests_author_approval=(
            ctx.bool_param("merge_requests_author_approval")
            if ctx.param("merge_requests_author_approval") is not None
            else None
        ),
        merge_requests_disable_committers_approval=(
            ctx.bool_param("merge_requests_disable_committers_approval")
            if ctx.param("merge_requests_disable_committers_approval") is not None
            else None
        ),
    )
    return 201, ctx.render.project_approvals(project)
