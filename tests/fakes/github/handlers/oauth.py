"""Sign-in with a GitHub App (its OAuth side): the browser's pages and the API a user token serves.

Outside the API, as on GitHub (`{web}/login/oauth/...`, registered on the Flask app by
`web_routes`): `GET /login/oauth/authorize` renders a tiny consent page ("Authorize <App> as
[login] [Authorize] [Cancel]", a form a headless browser or `requests` can fill: POST the same
URL with `login` and `decision=authorize`), which sends the browser back to the `redirect_uri`
with a one-time `code` and the `state`; `POST /login/oauth/access_token` exchanges the code
(client secret, the same `redirect_uri`, the PKCE `code_verifier`) for a user access token
(`ghu_`, 8 hours). Errors are GitHub's: a wrong `redirect_uri` at authorize sends the browser to
the App's first callback URL with `error=redirect_uri_mismatch`, a refused exchange is a 200 with
`error` (`incorrect_client_credentials`, `redirect_uri_mismatch`, `bad_verification_code`).

Under the API (on `ROUTER`): `GET /user`, and for a user access token of an App,
`GET /user/installations` (that App's installations where the person has explicit access to a
repository: owner, collaborator, team; a public repository alone does not count) and
`GET /user/installations/{installation_id}/repositories` (those repositories, each with the
person's `permissions`).

Test-facing: `set_callback_urls(fake, app, *urls)` registers an App's "Callback URLs" (the
authorize page refuses others), `grants(fake)` the codes handed out, `token_app(fake, token)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from weakref import WeakKeyDictionary

from flask import Flask, Response, request

from ..auth import ApiError, not_found
from ..router import ROUTER
from ..server import Ctx
from ..state import App, Installation, Repository, State, Token, now, permission_at_least
from .orgs import get_user

if TYPE_CHECKING:
    from ..fake import FakeGitHub

route = ROUTER.route
CODE_LIFETIME = timedelta(minutes=10)  # GitHub: "codes expire after 10 minutes"
USER_TOKEN_LIFETIME = timedelta(hours=8)  # user access tokens that expire: 28800 s
REFRESH_LIFETIME_SECONDS = 15897600  # six months, as GitHub says
DOCS = "https://docs.github.com/apps/oauth-apps/maintaining-oauth-apps"


@dataclass
class Grant:
    """A `code` handed to the browser, waiting to be exchanged once."""

    code: str
    app_id: int
    login: str
    redirect_uri: str
    code_challenge: str | None
    expires_at: datetime
    used: bool = False


@dataclass
class OAuthRecords:
    """What the fake keeps about sign-ins beside its `State` (which knows nothing of OAuth)."""

    callback_urls: dict[int, list[str]] = field(default_factory=dict)  # App id -> URLs
    grants: dict[str, Grant] = field(default_factory=dict)
    token_apps: dict[str, int] = field(default_factory=dict)  # user access token -> App id


_RECORDS: WeakKeyDictionary[State, OAuthRecords] = WeakKeyDictionary()


def records(state: State) -> OAuthRecords:
    with state.lock:
        if state not in _RECORDS:
            _RECORDS[state] = OAuthRecords()
        return _RECORDS[state]


# -- test-facing ---------------------------------------------------------------------------------
def set_callback_urls(fake: FakeGitHub, app: App, *urls: str) -> None:
    """Register the App's "Callback URLs" (GitHub allows up to 10); the first is the default."""
    if not 1 <= len(urls) <= 10:
        raise ValueError("a GitHub App has 1 to 10 callback URLs")
    records(fake.state).callback_urls[app.id] = list(urls)


def grants(fake: FakeGitHub) -> list[Grant]:
    return list(records(fake.state).grants.values())


def token_app(fake: FakeGitHub, token: str) -> int | None:
    """The App a user access token was issued for (None: a personal token, or unknown)."""
    return records(fake.state).token_apps.get(token)


# -- the browser's side: /login/oauth/* ---------------------------------------------------------
def web_routes(flask_app: Flask, fake: FakeGitHub) -> None:
    """Serve GitHub's OAuth web endpoints on the fake's Flask app."""
    flask_app.add_url_rule(
        "/login/oauth/authorize",
        "oauth_authorize",
        lambda: _authorize(fake),
        methods=["GET", "POST"],
    )
    flask_app.add_url_rule(
        "/login/oauth/access_token",
        "oauth_access_token",
        lambda: _access_token(fake),
        methods=["POST"],
    )


def _page(title: str, body: str, status: int = 200) -> Response:
    text = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1>{body}</html>"
    )
    return Response(text, status=status, content_type="text/html; charset=utf-8")


def _back(uri: str, **params: str | None) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return Response(status=302, headers={"Location": f"{uri}{'&' if '?' in uri else '?'}{query}"})


def _authorize(fake: FakeGitHub) -> Response:
    fake._count(request.method, "/login/oauth/authorize")
    args = request.values  # the form posts back to the same URL, query string and all
    with fake.state.lock:
        app = next(
            (a for a in fake.state.apps.values() if a.client_id == args.get("client_id")), None
        )
        if app is None:
            return _page("404 Not Found", "<p>No application has this client_id.</p>", 404)
        registered = records(fake.state).callback_urls.get(app.id, [])
        if not registered:
            return _page(
                "Callback URL missing",
                f"<p>{html.escape(app.name)} has no callback URL to send you back to.</p>",
                400,
            )
        state = args.get("state")
        redirect_uri = args.get("redirect_uri") or registered[0]
        if redirect_uri not in registered:
            return _back(
                registered[0],
                error="redirect_uri_mismatch",
                error_description="The redirect_uri MUST match the registered callback URL "
                "for this application.",
                error_uri=f"{DOCS}/troubleshooting-authorization-request-errors",
                state=state,
            )
        challenge = args.get("code_challenge")
        method = args.get("code_challenge_method")
        # GitHub: code_challenge is "a 43 character SHA-256 hash", method S256 only
        if (method is not None and method != "S256") or (method and not challenge):
            return _page("Bad request", "<p>code_challenge_method must be S256.</p>", 400)
        if challenge is not None and len(challenge) != 43:
            return _page("Bad request", "<p>code_challenge must be 43 characters.</p>", 400)
        if request.method == "GET":
            return _consent(app, args.get("login") or "")
        if args.get("decision") == "cancel":
            return _back(
                redirect_uri,
                error="access_denied",
                error_description="The user has denied your application access.",
                error_uri=f"{DOCS}/troubleshooting-authorization-request-errors",
                state=state,
            )
        login = (args.get("login") or "").strip()
        account = fake.state.account(login) if login else None
        if account is None or account.type != "User":
            return _consent(app, login, f"There is no user {login!r} to sign in as.", 422)
        grant = Grant(
            code=secrets.token_hex(10),
            app_id=app.id,
            login=account.login,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            expires_at=now() + CODE_LIFETIME,
        )
        records(fake.state).grants[grant.code] = grant
    return _back(redirect_uri, code=grant.code, state=state)


def _consent(app: App, login: str, problem: str = "", status: int = 200) -> Response:
    """GitHub's authorize page, cut to what a test needs: who you sign in as, and the choice."""
    said = f"<p role=alert>{html.escape(problem)}</p>" if problem else ""
    return _page(
        f"Authorize {app.name}",
        f"{said}<form method=post>"
        f"<label>Sign in as <input name=login value='{html.escape(login, quote=True)}'></label>"
        "<button type=submit name=decision value=authorize>Authorize</button>"
        "<button type=submit name=decision value=cancel>Cancel</button></form>",
        status,
    )


def _access_token(fake: FakeGitHub) -> Response:
    fake._count("POST", "/login/oauth/access_token")
    args = request.values
    with fake.state.lock:
        app = next(
            (a for a in fake.state.apps.values() if a.client_id == args.get("client_id")), None
        )
        secret = args.get("client_secret") or ""
        if app is None or not hmac.compare_digest(secret.encode(), app.client_secret.encode()):
            return _token_answer(
                error="incorrect_client_credentials",
                error_description="The client_id and/or client_secret passed are incorrect.",
            )
        grant = records(fake.state).grants.get(args.get("code") or "")
        if grant is None or grant.used or grant.app_id != app.id or grant.expires_at <= now():
            return _bad_code()
        redirect_uri = args.get("redirect_uri")
        if redirect_uri is not None and redirect_uri != grant.redirect_uri:
            return _token_answer(
                error="redirect_uri_mismatch",
                error_description="The redirect_uri MUST match the registered callback URL "
                "for this application.",
            )
        if grant.code_challenge is not None and not _pkce_matches(
            grant.code_challenge, args.get("code_verifier")
        ):
            # GitHub documents no error name for a wrong verifier; the code is what it refuses
            return _bad_code()
        grant.used = True
        token = Token(
            token="ghu_" + secrets.token_hex(18),
            kind="user",
            expires_at=now() + USER_TOKEN_LIFETIME,
            user=grant.login.lower(),
        )
        fake.state.tokens[token.token] = token
        records(fake.state).token_apps[token.token] = app.id
    return _token_answer(
        access_token=token.token,
        expires_in=int(USER_TOKEN_LIFETIME.total_seconds()),
        refresh_token="ghr_" + secrets.token_hex(38),
        refresh_token_expires_in=REFRESH_LIFETIME_SECONDS,
        scope="",
        token_type="bearer",
    )


def _pkce_matches(challenge: str, verifier: str | None) -> bool:
    if not verifier:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)


def _bad_code() -> Response:
    return _token_answer(
        error="bad_verification_code",
        error_description="The code passed is incorrect or expired.",
        error_uri=f"{DOCS}/troubleshooting-oauth-app-access-token-request-errors",
    )


def _token_answer(**fields: Any) -> Response:
    """GitHub's answer to the exchange: always 200, JSON when asked for, else form-encoded."""
    if "application/json" in (request.headers.get("Accept") or ""):
        return Response(json.dumps(fields), content_type="application/json; charset=utf-8")
    return Response(urlencode(fields), content_type="application/x-www-form-urlencoded")


# -- the API a user access token serves ---------------------------------------------------------
def _user(ctx: Ctx) -> str:
    if ctx.principal.kind != "user" or ctx.principal.user is None:
        raise ApiError(403, "Resource not accessible by integration")
    return ctx.principal.user


def _token_app(ctx: Ctx) -> int:
    token = ctx.principal.token
    app_id = records(ctx.state).token_apps.get(token.token) if token is not None else None
    if app_id is None:
        raise ApiError(
            403,
            "You must authenticate with an access token authorized to a GitHub App in order "
            "to list installations",
        )
    return app_id


def explicit_permission(state: State, repo: Repository, login: str) -> str:
    """The person's own permission on a repository: as owner, collaborator, org admin or team
    member, without the read everyone has on a public repository (GitHub's "explicit")."""
    return state.user_permission(replace(repo, private=True), login)


def _accessible(state: State, inst: Installation, login: str) -> list[Repository]:
    found = [state.repo(name) for name in inst.repos]
    repos = [r for r in found if r is not None and explicit_permission(state, r, login) != "none"]
    return sorted(repos, key=lambda r: r.full_name.lower())


@route("GET", "/user")
def authenticated_user(ctx: Ctx) -> Any:
    return get_user(ctx, _user(ctx))


@route("GET", "/user/installations")
def user_installations(ctx: Ctx) -> Any:
    login = _user(ctx)
    app_id = _token_app(ctx)
    found = [
        inst
        for inst in sorted(ctx.state.installations.values(), key=lambda i: i.id)
        if inst.app_id == app_id and _accessible(ctx.state, inst, login)
    ]
    return {"total_count": len(found), "installations": ctx.page(found, ctx.render.installation)}


@route("GET", "/user/installations/{installation_id}/repositories")
def user_installation_repositories(ctx: Ctx, installation_id: str) -> Any:
    login = _user(ctx)
    app_id = _token_app(ctx)
    inst = ctx.state.installations.get(int(installation_id)) if installation_id.isdigit() else None
    repos = _accessible(ctx.state, inst, login) if inst is not None else []
    if inst is None or inst.app_id != app_id or not repos:
        raise not_found()

    def render(repo: Repository) -> dict[str, Any]:
        data = ctx.render.repository(repo, full=False)
        have = explicit_permission(ctx.state, repo, login)
        data["permissions"] = {
            level: permission_at_least(have, need)
            for level, need in (
                ("admin", "admin"),
                ("maintain", "maintain"),
                ("push", "write"),
                ("triage", "triage"),
                ("pull", "read"),
            )
        }
        return data

    return {
        "total_count": len(repos),
        "repository_selection": inst.repository_selection,
        "repositories": ctx.page(repos, render),
    }
