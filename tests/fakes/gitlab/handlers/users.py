"""Users, the current user, the current token, groups and memberships."""

from __future__ import annotations

from typing import Any

from .. import auth
from ..router import route
from ..server import Ctx
from ..state import Member

USER_SCOPES = ("api", "read_api", "read_user")


@route("GET", "/user", scopes=USER_SCOPES)
def current_user(ctx: Ctx) -> Any:
    return ctx.render.user_full(ctx.user, current=True)


@route("GET", "/users", anonymous=True, scopes=USER_SCOPES)
def list_users(ctx: Ctx) -> Any:
    username = ctx.param("username")
    users = sorted(ctx.state.users.values(), key=lambda u: u.id)
    if username:
        users = [u for u in users if u.username.lower() == str(username).lower()]
    if ctx.bool_param("exclude_internal") or ctx.bool_param("without_project_bots"):
        users = [u for u in users if not u.bot]
    search = ctx.param("search")
    if search:
        needle = str(search).lower()
        users = [u for u in users if needle in u.username.lower() or needle in u.name.lower()]
    return ctx.page(users, ctx.render.user)


@route("GET", "/users/{id}", anonymous=True, scopes=USER_SCOPES)
def get_user(ctx: Ctx, id: str) -> Any:
    user = ctx.state.users.get(int(id)) if id.isdigit() else None
    if user is None:
        raise auth.not_found("User")
    return ctx.render.user_full(user)


@route("GET", "/personal_access_tokens/self", scopes=("api", "read_api", "read_user"))
def token_self(ctx: Ctx) -> Any:
    token = ctx.principal.token
    if token is None:
        raise auth.unauthorized()
    return {
        "id": token.id,
        "name": token.name,
        "revoked": token.revoked,
        "created_at": ctx.render.user_full(ctx.user)["created_at"],
        "description": None,
        "scopes": list(token.scopes),
        "user_id": token.user_id,
        "last_used_at": None,
        "active": True,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


# -- groups -----------------------------------------------------------------------------------
@route("GET", "/groups/{id}", anonymous=True)
def get_group(ctx: Ctx, id: str) -> Any:
    return ctx.render.group(ctx.group(id))


@route("GET", "/groups/{id}/subgroups", anonymous=True)
def list_subgroups(ctx: Ctx, id: str) -> Any:
    group = ctx.group(id)
    children = [
        g
        for g in sorted(ctx.state.groups.values(), key=lambda g: g.full_path)
        if g.parent_id == group.id and auth.can_see_group(ctx.state, ctx.principal, g)
    ]
    return ctx.page(children, ctx.render.group)


def _members(ctx: Ctx, members: dict[int, Member]) -> Any:
    query = ctx.param("query")
    user_ids = {int(u) for u in ctx.list_param("user_ids") or []}
    rows = []
    for uid, member in members.items():
        user = ctx.state.users[uid]
        if query and str(query).lower() not in (user.username + user.name).lower():
            continue
        if user_ids and uid not in user_ids:
            continue
        rows.append(member)
    return ctx.page(rows, ctx.render.member)


def _member(ctx: Ctx, members: dict[int, Member], user_id: str) -> Any:
    member = members.get(int(user_id)) if user_id.isdigit() else None
    if member is None:
        raise auth.not_found("Member")
    return ctx.render.member(member)


@route("GET", "/groups/{id}/members", anonymous=True)
def group_members(ctx: Ctx, id: str) -> Any:
    return _members(ctx, ctx.group(id).members)


@route("GET", "/groups/{id}/members/all", anonymous=True)
def group_members_all(ctx: Ctx, id: str) -> Any:
    return _members(ctx, ctx.state.all_group_members(ctx.group(id)))


@route("GET", "/groups/{id}/members/{user_id}", anonymous=True)
def group_member(ctx: Ctx, id: str, user_id: str) -> Any:
    return _member(ctx, ctx.group(id).members, user_id)


@route("GET", "/groups/{id}/members/all/{user_id}", anonymous=True)
def group_member_all(ctx: Ctx, id: str, user_id: str) -> Any:
    return _member(ctx, ctx.state.all_group_members(ctx.group(id)), user_id)


@route("GET", "/projects/{id}/members", anonymous=True)
def project_members(ctx: Ctx, id: str) -> Any:
    return _members(ctx, ctx.project(id).members)


@route("GET", "/projects/{id}/members/all", anonymous=True)
def project_members_all(ctx: Ctx, id: str) -> Any:
    return _members(ctx, ctx.state.all_project_members(ctx.project(id)))


@route("GET", "/projects/{id}/members/{user_id}", anonymous=True)
def project_member(ctx: Ctx, id: str, user_id: str) -> Any:
    return _member(ctx, ctx.project(id).members, user_id)


@route("GET", "/projects/{id}/members/all/{user_id}", anonymous=True)
def project_member_all(ctx: Ctx, id: str, user_id: str) -> Any:
    return _member(ctx, ctx.state.all_project_members(ctx.project(id)), user_id)
