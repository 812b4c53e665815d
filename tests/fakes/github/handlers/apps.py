"""GitHub App endpoints: the App itself, installations, tokens, manifests, hook deliveries."""

from __future__ import annotations

import secrets
from typing import Any

from .. import auth
from ..auth import ApiError, not_found
from ..render import ts
from ..router import ROUTER
from ..server import Ctx
from ..state import App, Installation, now

route = ROUTER.route


def _app(ctx: Ctx) -> App:
    assert ctx.principal.app is not None
    return ctx.principal.app


def _installation(ctx: Ctx, installation_id: str) -> Installation:
    inst = ctx.state.installations.get(int(installation_id))
    if inst is None or inst.app_id != _app(ctx).id:
        raise not_found()
    return inst


@route("GET", "/app", auth="app")
def get_app(ctx: Ctx) -> Any:
    return ctx.render.app(_app(ctx))


@route("GET", "/app/installations", auth="app")
def list_installations(ctx: Ctx) -> Any:
    app = _app(ctx)
    found = [i for i in ctx.state.installations.values() if i.app_id == app.id]
    found.sort(key=lambda i: i.id)
    return ctx.page(found, ctx.render.installation)


@route("GET", "/app/installations/{installation_id}", auth="app")
def get_installation(ctx: Ctx, installation_id: str) -> Any:
    return ctx.render.installation(_installation(ctx, installation_id))


@route("POST", "/app/installations/{installation_id}/access_tokens", auth="app")
def create_access_token(ctx: Ctx, installation_id: str) -> Any:
    inst = _installation(ctx, installation_id)
    if inst.suspended_at is not None:
        raise ApiError(403, "This installation has been suspended")
    names = ctx.body("repositories")
    ids = ctx.body("repository_ids")
    if ids:
        names = (names or []) + [
            r.full_name for i in ids if (r := ctx.state.repo_by_id(int(i))) is not None
        ]
    token = auth.mint_installation_token(ctx.state, inst, names, ctx.body("permissions"))
    repos = sorted(token.repos if token.repos is not None else inst.repos)
    body: dict[str, Any] = {
        "token": token.token,
        "expires_at": ts(token.expires_at),
        "permissions": token.permissions,
        "repository_selection": "selected"
        if token.repos is not None
        else inst.repository_selection,
    }
    if token.repos is not None:
        body["repositories"] = [
            ctx.render.repository(ctx.state.repo(n), full=False)  # type: ignore[arg-type]
            for n in repos
        ]
    return 201, body


def _installation_for(ctx: Ctx, predicate: Any) -> Any:
    app = _app(ctx)
    for inst in ctx.state.installations.values():
        if inst.app_id == app.id and predicate(inst):
            return ctx.render.installation(inst)
    raise not_found()


@route("GET", "/repos/{owner}/{repo}/installation", auth="app")
def get_repo_installation(ctx: Ctx, owner: str, repo: str) -> Any:
    full = f"{owner}/{repo}".lower()
    return _installation_for(ctx, lambda i: full in {r.lower() for r in i.repos})


@route("GET", "/orgs/{org}/installation", auth="app")
def get_org_installation(ctx: Ctx, org: str) -> Any:
    return _installation_for(ctx, lambda i: i.account.lower() == org.lower())


@route("GET", "/users/{username}/installation", auth="app")
def get_user_installation(ctx: Ctx, username: str) -> Any:
    return _installation_for(ctx, lambda i: i.account.lower() == username.lower())


@route("GET", "/installation/repositories")
def installation_repositories(ctx: Ctx) -> Any:
    if ctx.principal.kind != "installation":
        raise ApiError(403, "This endpoint can only be accessed with an installation token")
    token, inst = ctx.principal.token, ctx.principal.installation
    assert token is not None and inst is not None
    names = sorted(token.repos if token.repos is not None else inst.repos)
    repos = [r for n in names if (r := ctx.state.repo(n)) is not None]
    page = ctx.page(repos, lambda r: ctx.render.repository(r, full=False))
    return {
        "total_count": len(repos),
        "repositories": page,
        "repository_selection": inst.repository_selection,
    }


@route("POST", "/app-manifests/{code}/conversions", auth="none")
def convert_manifest(ctx: Ctx, code: str) -> Any:
    pending = ctx.state.manifest_codes.pop(code, None)
    if pending is None:
        raise not_found()
    manifest = pending["manifest"]
    hook = manifest.get("hook_attributes") or {}
    app = ctx.fake.create_app(
        name=manifest.get("name") or "compliance-bot",
        owner=pending.get("owner"),
        webhook_url=hook.get("url"),
        webhook_secret=secrets.token_hex(20),
        events=manifest.get("default_events") or [],
        permissions=manifest.get("default_permissions") or {},
    )
    app.webhook_active = hook.get("active", True)
    data = ctx.render.app(app)
    data.update(
        {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "webhook_secret": app.webhook_secret,
            "pem": app.private_key_pem,
        }
    )
    return 201, data


# -- webhook deliveries (for bots that recover lost webhooks) -----------------------------------
def _delivery_item(delivery: Any) -> dict[str, Any]:
    attempt = delivery.attempts[-1] if delivery.attempts else None
    repo = delivery.payload.get("repository") or {}
    code = attempt.status if attempt and attempt.status is not None else 0
    return {
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": ts(attempt.at if attempt else delivery.created_at),
        "redelivery": bool(attempt and attempt.redelivery),
        "duration": 0.01,
        "status": "OK" if 200 <= code < 300 else ("pending" if attempt is None else "failed"),
        "status_code": code,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": delivery.installation_id,
        "repository_id": repo.get("id"),
        "throttled_at": None,
    }


@route("GET", "/app/hook/deliveries", auth="app")
def list_deliveries(ctx: Ctx) -> Any:
    app = _app(ctx)
    found = [d for d in ctx.fake.dispatcher.deliveries if d.app_id == app.id]
    found.sort(key=lambda d: d.id, reverse=True)
    per_page = max(1, min(ctx.int_arg("per_page", 30), 100))
    cursor = ctx.arg("cursor")
    start = int(cursor) if cursor else 0
    chunk = found[start : start + per_page]
    if start + per_page < len(found):
        url = f"{ctx.request.base_url}?per_page={per_page}&cursor={start + per_page}"
        ctx.headers["Link"] = f'<{url}>; rel="next"'
    return [_delivery_item(d) for d in chunk]


@route("GET", "/app/hook/deliveries/{delivery_id}", auth="app")
def get_delivery(ctx: Ctx, delivery_id: str) -> Any:
    try:
        delivery = ctx.fake.dispatcher.get(int(delivery_id))
    except (KeyError, ValueError) as exc:
        raise not_found() from exc
    if delivery.app_id != _app(ctx).id:
        raise not_found()
    item = _delivery_item(delivery)
    item["url"] = delivery.url
    item["request"] = {"headers": delivery.headers(), "payload": delivery.payload}
    item["response"] = {"headers": {}, "payload": None}
    return item


@route("POST", "/app/hook/deliveries/{delivery_id}/attempts", auth="app")
def redeliver(ctx: Ctx, delivery_id: str) -> Any:
    try:
        delivery = ctx.fake.dispatcher.get(int(delivery_id))
    except (KeyError, ValueError) as exc:
        raise not_found() from exc
    if delivery.app_id != _app(ctx).id:
        raise not_found()
    ctx.fake.dispatcher.redeliver_later(delivery.guid)
    return 202, {}


@route("GET", "/rate_limit", auth="none")
def rate_limit(ctx: Ctx) -> Any:
    limit = ctx.fake._rate_limit(ctx.principal)
    core = {
        "limit": limit.limit,
        "remaining": max(0, limit.limit - limit.used),
        "reset": limit.reset,
        "used": limit.used,
    }
    graphql = {"limit": 5000, "remaining": 5000, "reset": limit.reset, "used": 0}
    search = {"limit": 30, "remaining": 30, "reset": int(now().timestamp()) + 60, "used": 0}
    return {"resources": {"core": core, "graphql": graphql, "search": search}, "rate": core}
