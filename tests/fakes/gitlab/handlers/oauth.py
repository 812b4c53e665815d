"""GitLab as an OAuth 2.0 provider (doorkeeper), for signing in: `/oauth/authorize` and
`/oauth/token`, outside the API, registered on the Flask app by `web_routes`.

`GET /oauth/authorize` (`client_id`, `redirect_uri`, `response_type=code`, `state`, `scope`,
`code_challenge`, `code_challenge_method`) renders a tiny consent page ("Authorize <app> as
[username] [Authorize] [Deny]", a form a headless browser or `requests` can fill: POST the same
URL with `username` and `decision=authorize`), which sends the browser back to `redirect_uri` with
a one-time `code` and the `state`. `POST /oauth/token` (`grant_type=authorization_code`,
`client_id`, `client_secret`, `code`, `redirect_uri`, `code_verifier`) answers with an access
token that the API then takes as `Authorization: Bearer`: a token record of kind "oauth" with
the granted scopes, so `/api/v4/user`, `/api/v4/projects?membership=true&min_access_level=...`
and the rest apply GitLab's usual rules to it. Errors are doorkeeper's: an unknown client or a
redirect URI that is not the application's is an error page (never a redirect), a denial or an
unknown scope goes back to the redirect URI with `error`, and a refused exchange is a 400
`invalid_grant` or 401 `invalid_client` with `error_description`.

Test-facing: `register_application(fake, redirect_uri, name=, scopes=)` makes an OAuth
application (its `uid` is the client ID, `secret` the client secret); `grants(fake)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from weakref import WeakKeyDictionary

from flask import Flask, Response, request

from ..state import State, Token, now

if TYPE_CHECKING:
    from ..fake import FakeGitLab

CODE_LIFETIME = timedelta(minutes=10)  # doorkeeper's authorization_code_expires_in
TOKEN_LIFETIME_SECONDS = 7200  # GitLab's access tokens: two hours
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)


@dataclass
class Application:
    """An OAuth application (User settings > Applications)."""

    id: int
    name: str
    uid: str  # the client ID ("Application ID")
    secret: str
    redirect_uris: list[str]
    scopes: list[str]
    confidential: bool = True


@dataclass
class Grant:
    code: str
    application_uid: str
    user_id: int
    redirect_uri: str
    scopes: list[str]
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: datetime
    used: bool = False


@dataclass
class OAuthRecords:
    """What the fake keeps about OAuth beside its `State` (which knows nothing of it)."""

    applications: dict[str, Application] = field(default_factory=dict)  # by uid
    grants: dict[str, Grant] = field(default_factory=dict)


_RECORDS: WeakKeyDictionary[State, OAuthRecords] = WeakKeyDictionary()


def records(state: State) -> OAuthRecords:
    with state.lock:
        if state not in _RECORDS:
            _RECORDS[state] = OAuthRecords()
        return _RECORDS[state]


# -- test-facing ---------------------------------------------------------------------------------
def register_application(
    fake: FakeGitLab,
    redirect_uri: str | list[str],
    *,
    name: str = "compliance-bot",
    scopes: tuple[str, ...] = ("read_api",),
    confidential: bool = True,
) -> Application:
    """An OAuth application with these redirect URIs (exact match) and scopes."""
    uris = [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri)
    with fake.state.lock:
        application = Application(
            id=fake.state.next_id(),
            name=name,
            uid=secrets.token_hex(32),
            secret="gloas-" + secrets.token_hex(32),
            redirect_uris=uris,
            scopes=list(scopes),
            confidential=confidential,
        )
        records(fake.state).applications[application.uid] = application
    return application


def grants(fake: FakeGitLab) -> list[Grant]:
    return list(records(fake.state).grants.values())


# -- the browser's side --------------------------------------------------------------------------
def web_routes(flask_app: Flask, fake: FakeGitLab) -> None:
    """Serve GitLab's OAuth endpoints on the fake's Flask app (beside its catch-all route)."""
    flask_app.add_url_rule(
        "/oauth/authorize", "oauth_authorize", lambda: _authorize(fake), methods=["GET", "POST"]
    )
    flask_app.add_url_rule("/oauth/token", "oauth_token", lambda: _token(fake), methods=["POST"])


def _page(title: str, body: str, status: int = 200) -> Response:
    text = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1>{body}</html>"
    )
    return Response(text, status=status, content_type="text/html; charset=utf-8")


def _back(uri: str, **params: str | None) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return Response(status=302, headers={"Location": f"{uri}{'&' if '?' in uri else '?'}{query}"})


def _authorize(fake: FakeGitLab) -> Response:
    fake._count(request.method, "/oauth/authorize")
    args = request.values  # the form posts back to the same URL, query string and all
    with fake.state.lock:
        application = records(fake.state).applications.get(args.get("client_id") or "")
        if application is None:
            return _page("An error has occurred", f"<p>{html.escape(INVALID_CLIENT)}</p>", 401)
        redirect_uri = args.get("redirect_uri") or ""
        if redirect_uri not in application.redirect_uris:
            return _page(
                "An error has occurred", "<p>The redirect uri included is not valid.</p>", 400
            )
        state = args.get("state")
        if args.get("response_type") != "code":
            return _back(
                redirect_uri,
                error="unsupported_response_type",
                error_description="The authorization server does not support this response type.",
                state=state,
            )
        wanted = (args.get("scope") or " ".join(application.scopes)).split()
        if not wanted or not set(wanted) <= set(application.scopes):
            return _back(
                redirect_uri,
                error="invalid_scope",
                error_description="The requested scope is invalid, unknown, or malformed.",
                state=state,
            )
        challenge = args.get("code_challenge")
        method = args.get("code_challenge_method") or ("plain" if challenge else None)
        if method not in (None, "plain", "S256"):
            return _back(
                redirect_uri,
                error="invalid_request",
                error_description="The code_challenge_method must be one of plain, S256.",
                state=state,
            )
        if request.method == "GET":
            return _consent(application, args.get("username") or "")
        if args.get("decision") != "authorize":
            return _back(
                redirect_uri,
                error="access_denied",
                error_description="The resource owner or authorization server denied the request.",
                state=state,
            )
        username = (args.get("username") or "").strip()
        user = fake.state.user_by_name(username) if username else None
        if user is None or user.bot or user.state != "active":
            return _consent(application, username, f"There is no user {username!r}.", 422)
        grant = Grant(
            code=secrets.token_hex(32),
            application_uid=application.uid,
            user_id=user.id,
            redirect_uri=redirect_uri,
            scopes=wanted,
            code_challenge=challenge,
            code_challenge_method=method,
            expires_at=now() + CODE_LIFETIME,
        )
        records(fake.state).grants[grant.code] = grant
    return _back(redirect_uri, code=grant.code, state=state)


def _consent(
    application: Application, username: str, problem: str = "", status: int = 200
) -> Response:
    said = f"<p role=alert>{html.escape(problem)}</p>" if problem else ""
    return _page(
        f"Authorize {application.name} to use your account?",
        f"{said}<form method=post>"
        f"<label>Signed in as <input name=username value='{html.escape(username, quote=True)}'>"
        "</label><button type=submit name=decision value=authorize>Authorize</button>"
        "<button type=submit name=decision value=deny>Deny</button></form>",
        status,
    )


def _token(fake: FakeGitLab) -> Response:
    fake._count("POST", "/oauth/token")
    args = request.values
    client_id, client_secret = args.get("client_id") or "", args.get("client_secret") or ""
    if request.authorization is not None and request.authorization.type == "basic":
        client_id = request.authorization.username or ""
        client_secret = request.authorization.password or ""
    with fake.state.lock:
        application = records(fake.state).applications.get(client_id)
        if application is None or (
            application.confidential
            and not hmac.compare_digest(client_secret.encode(), application.secret.encode())
        ):
            return _json(401, error="invalid_client", error_description=INVALID_CLIENT)
        if args.get("grant_type") != "authorization_code":
            return _json(
                400,
                error="unsupported_grant_type",
                error_description="The authorization grant type is not supported by the "
                "authorization server.",
            )
        grant = records(fake.state).grants.get(args.get("code") or "")
        if (
            grant is None
            or grant.used
            or grant.application_uid != application.uid
            or grant.expires_at <= now()
            or args.get("redirect_uri") != grant.redirect_uri
            or not _pkce_matches(grant, args.get("code_verifier"))
        ):
            return _json(400, error="invalid_grant", error_description=INVALID_GRANT)
        grant.used = True
        token = Token(
            id=fake.state.next_id(),
            token=secrets.token_hex(32),
            kind="oauth",
            user_id=grant.user_id,
            name=f"OAuth: {application.name}",
            scopes=list(grant.scopes),
        )
        fake.state.tokens[token.token] = token
    return _json(
        200,
        access_token=token.token,
        token_type="bearer",
        expires_in=TOKEN_LIFETIME_SECONDS,
        refresh_token=secrets.token_hex(32),
        scope=" ".join(grant.scopes),
        created_at=int(token.created_at.timestamp()),
    )


def _pkce_matches(grant: Grant, verifier: str | None) -> bool:
    if grant.code_challenge is None:
        return True
    if not verifier:
        return False
    if grant.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        verifier = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(verifier, grant.code_challenge)


def _json(status: int, **fields: Any) -> Response:
    return Response(json.dumps(fields), status=status, content_type="application/json")
