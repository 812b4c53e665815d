"""Organization, team and user endpoints the bot needs to resolve team code owners."""

from __future__ import annotations

from typing import Any

from ..auth import not_found
from ..router import ROUTER
from ..server import Ctx
from ..state import Team

route = ROUTER.route
MEMBERS = ("members:read",)


def _team(ctx: Ctx, org: str, slug: str) -> Team:
    ctx.org(org)
    team = ctx.state.team(org, slug)
    if team is None or not _visible(ctx, team):
        raise not_found()
    return team


def _visible(ctx: Ctx, team: Team) -> bool:
    if team.privacy != "secret" or ctx.principal.kind == "installation":
        return True
    user = (ctx.principal.user or "").lower()
    org = ctx.state.account(team.org)
    return user in team.members or (org is not None and org.members.get(user) == "admin")


@route("GET", "/orgs/{org}", permissions=("metadata:read",))
def get_org(ctx: Ctx, org: str) -> Any:
    return ctx.render.organization(ctx.org(org))


@route("GET", "/orgs/{org}/teams", permissions=MEMBERS)
def list_teams(ctx: Ctx, org: str) -> Any:
    ctx.org(org)
    teams = [
        t for t in ctx.state.teams.values() if t.org.lower() == org.lower() and _visible(ctx, t)
    ]
    teams.sort(key=lambda t: t.slug)
    return ctx.page(teams, ctx.render.team)


@route("GET", "/orgs/{org}/teams/{team_slug}", permissions=MEMBERS)
def get_team(ctx: Ctx, org: str, team_slug: str) -> Any:
    return ctx.render.team(_team(ctx, org, team_slug), full=True)


@route("GET", "/orgs/{org}/teams/{team_slug}/teams", permissions=MEMBERS)
def list_child_teams(ctx: Ctx, org: str, team_slug: str) -> Any:
    team = _team(ctx, org, team_slug)
    children = [
        t
        for t in ctx.state.teams.values()
        if t.org.lower() == org.lower() and t.parent == team.slug and _visible(ctx, t)
    ]
    return ctx.page(children, ctx.render.team)


@route("GET", "/orgs/{org}/teams/{team_slug}/members", permissions=MEMBERS)
def list_members(ctx: Ctx, org: str, team_slug: str) -> Any:
    team = _team(ctx, org, team_slug)
    role = ctx.arg("role", "all")
    members: dict[str, str] = {}

    def collect(t: Team) -> None:
        for login, m in t.members.items():
            if m.state == "active" and (role == "all" or m.role == role):
                members.setdefault(login, m.role)
        for child in ctx.state.teams.values():
            if child.org.lower() == t.org.lower() and child.parent == t.slug:
                collect(child)

    collect(team)
    return ctx.page(sorted(members), ctx.render.user)


def _membership(ctx: Ctx, team: Team, username: str) -> Any:
    membership = ctx.state.team_membership(team, username)
    if membership is None:
        raise not_found()
    return {
        "url": f"{ctx.render.api}/teams/{team.id}/memberships/{username}",
        "role": membership.role,
        "state": membership.state,
    }


@route("GET", "/orgs/{org}/teams/{team_slug}/memberships/{username}", permissions=MEMBERS)
def get_membership(ctx: Ctx, org: str, team_slug: str, username: str) -> Any:
    return _membership(ctx, _team(ctx, org, team_slug), username)


@route("GET", "/teams/{team_id}/memberships/{username}", permissions=MEMBERS)
def get_membership_legacy(ctx: Ctx, team_id: str, username: str) -> Any:
    try:
        team = ctx.state.team_by_id(int(team_id))
    except ValueError as exc:
        raise not_found() from exc
    if team is None:
        raise not_found()
    return _membership(ctx, _team(ctx, team.org, team.slug), username)


@route("GET", "/users/{username}", auth="none")
def get_user(ctx: Ctx, username: str) -> Any:
    account = ctx.state.account(username)
    if account is None:
        raise not_found()
    if account.type == "Organization":
        return ctx.render.organization(account)
    data = ctx.render.user(account)
    assert data is not None
    data.update(
        {
            "name": account.name,
            "email": account.email,
            "company": None,
            "blog": "",
            "location": None,
            "hireable": None,
            "bio": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": account.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updated_at": account.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    return data
