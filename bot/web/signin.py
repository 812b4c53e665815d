"""Dashboard sign-in: the forge's own OAuth, server-side sessions, CSRF, and the security headers
of every ``/dashboard`` answer.

The browser holds one cookie, a random token; the ``web_sessions`` row is keyed by its SHA-256,
so the table never holds a usable token. Signing in goes through a *pending* row (the OAuth
``state``, the PKCE verifier, where to go next) and ends with a new row under a new token, so a
token someone planted before sign-in is worth nothing after it. Sessions end a fixed
``COMPLIANCE_BOT_SESSION_HOURS`` after sign-in; what a person may see is read from the forge
at sign-in (``bot.forge.signin``) and kept in the row until then.

For the dashboard's pages: ``signed_in`` guards a view (a GET without a session is sent to
sign in, anything else is a 401; every non-GET passes ``csrf_protect``), and ``current_viewer``
says who is looking and what they may see. This module decides nothing about what a page shows.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
)
from sqlalchemy import delete, func, select
from werkzeug.wrappers import Response as BaseResponse

from bot.config import Settings
from bot.forge.signin import GitHubSignIn, GitLabSignIn, SignIn, SignInError, pkce_pair
from bot.services import Services
from bot.store.tables import WebSession

blueprint = Blueprint("signin", __name__, template_folder="templates")
log = logging.getLogger(__name__)

COOKIE = "compliance-bot-session"
SECURE_COOKIE = "__Host-compliance-bot-session"  # https: Secure, Path=/, no Domain (RFC 6265bis)
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_NEXT = "/dashboard/"
SIGN_IN_PATH = "/dashboard/sign-in"
PENDING_MINUTES = 10  # a sign-in must come back from the forge within this
# sign-ins under way at once; beyond, new ones wait: nobody can fill the table by asking
MAX_PENDING = 10_000
LABELS = {"github": "GitHub", "gitlab": "GitLab"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # every /dashboard answer is about one person (or about signing in): never cache one
    "Cache-Control": "no-store",
}

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the dashboard, and what they may see.

    ``repositories`` are ``owner/name`` (GitLab: ``path_with_namespace``) as the forge spelled
    them at sign-in; an admin (``COMPLIANCE_BOT_DASHBOARD_ADMINS``) sees everything.
    ``csrf`` is the session's token, for the ``csrf`` field of every form that posts."""

    forge: str
    login: str
    name: str
    admin: bool
    repositories: frozenset[str]
    csrf: str

    @property
    def visible(self) -> frozenset[str] | None:
        """The repositories this person may see; None for an admin: every repository."""
        return None if self.admin else self.repositories

    def can_see(self, repository: str, forge: str | None = None) -> bool:
        """Whether this person may see ``repository`` (of ``forge``, when given: a GitLab
        project is never visible through a GitHub sign-in of the same name)."""
        if self.admin:
            return True
        if forge is not None and forge != self.forge:
            return False
        return repository in self.repositories or repository.casefold() in self._folded

    @functools.cached_property
    def _folded(self) -> frozenset[str]:
        # both forges treat owner/name without case; rows may carry either spelling
        return frozenset(name.casefold() for name in self.repositories)


# -- helpers for the dashboard's views ---------------------------------------------------------
def current_viewer() -> Viewer | None:
    """The signed-in person of this request, or None (no cookie, an unknown, tampered, pending or
    expired one). Read once per request."""
    if "compliance_viewer" not in g:
        g.compliance_viewer = _read_viewer()
    viewer: Viewer | None = g.compliance_viewer
    return viewer


def signed_in(view: View) -> View:
    """Guard a dashboard view: without a session a GET is redirected (302) to the sign-in page,
    which brings the person back afterwards; any other method is a 401. Every request that is
    not GET, HEAD or OPTIONS must pass ``csrf_protect``."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if current_viewer() is None:
            if request.method in ("GET", "HEAD"):
                return redirect(sign_in_url(_here()), 302)
            return _problem("Sign in first", "This needs a signed-in session.", 401, again=True)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf_protect()
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def csrf_protect() -> None:
    """Refuse (403, with a page saying why) a request whose ``csrf`` form field or
    ``X-CSRF-Token`` header is not the session's token, or whose ``Origin``, when sent, is
    another site. Returns when the request may go on."""
    viewer = current_viewer()
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    if viewer is None or not hmac.compare_digest(sent.encode(), viewer.csrf.encode()):
        abort(
            _problem(
                "Request refused",
                "This form has expired or did not come from the dashboard. Reload the page "
                "and try again.",
                403,
            )
        )
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() not in _own_origins():
        abort(
            _problem(
                "Request refused",
                "This request came from another site, so it was not carried out.",
                403,
            )
        )


def sign_in_url(next_path: str | None = None) -> str:
    """The sign-in page, bringing the person back to ``next_path`` (a ``/dashboard`` path)."""
    safe = safe_next(next_path)
    return SIGN_IN_PATH + (f"?{urlencode({'next': safe})}" if safe != DEFAULT_NEXT else "")


def safe_next(value: str | None) -> str:
    """``value`` when it is a path of this dashboard, else the dashboard's home: never another
    site (``//evil``, ``https://evil``, ``/\\evil``), never outside ``/dashboard``."""
    if not value or len(value) > 2048 or any(ord(c) < 0x20 or c == "\\" for c in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return DEFAULT_NEXT
    path = parts.path
    if not (path == "/dashboard" or path.startswith("/dashboard/")) or "/../" in path + "/":
        return DEFAULT_NEXT
    return value


# -- routes -------------------------------------------------------------------------------------
@blueprint.get(SIGN_IN_PATH)
def page() -> Any:
    settings = _services().settings
    forges = settings.dashboard_forges
    if not forges:
        text = render_template(
            "signin/not_configured.html", title="Dashboard not configured", base=_base_url()
        )
        return text, 404
    return render_template(
        "signin/sign_in.html",
        title="Sign in to the dashboard",
        viewer=current_viewer(),
        forges=forges,
        labels=LABELS,
        next=safe_next(request.args.get("next")),
        signed_out=request.args.get("signed_out") == "1",
    )


@blueprint.get(f"{SIGN_IN_PATH}/<forge>")
def start(forge: str) -> Any:
    services = _services()
    signin = _forge_signin(services.settings, forge)
    now = services.clock()
    token = secrets.token_urlsafe(32)
    state = secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    with services.store.session() as session:
        _prune(session, now)
        previous = _cookie_token()
        if previous:  # this browser's earlier session or sign-in: it ends here
            session.execute(delete(WebSession).where(WebSession.id == _digest(previous)))
        pending = session.scalar(
            select(func.count()).select_from(WebSession).where(WebSession.login.is_(None))
        )
        if (pending or 0) >= MAX_PENDING:
            return _problem(
                "Try again shortly",
                "Too many sign-ins are under way right now. Wait a minute and try again.",
                503,
            )
        session.add(
            WebSession(
                id=_digest(token),
                forge=forge,
                csrf=secrets.token_urlsafe(32),
                oauth_state=state,
                oauth_verifier=verifier,
                next_url=safe_next(request.args.get("next")),
                repositories=[],
                admin=False,
                created_at=now,
                expires_at=now + timedelta(minutes=PENDING_MINUTES),
            )
        )
    response = redirect(signin.authorize_url(_redirect_uri(forge), state, challenge), 302)
    _set_cookie(response, token, timedelta(minutes=PENDING_MINUTES))
    return response


@blueprint.get("/dashboard/oauth/<forge>/callback")
def callback(forge: str) -> Any:
    services = _services()
    settings = services.settings
    signin = _forge_signin(settings, forge)
    now = services.clock()
    token = _cookie_token()
    with services.store.session() as session:
        row = session.get(WebSession, _digest(token)) if token else None
        if row is None or row.login is not None or row.forge != forge or _expired(row, now):
            return _problem(
                "Sign-in not recognised",
                "This sign-in has expired or was started in another browser. Start again.",
                400,
                again=True,
            )
        # one use only: whatever happens next, this sign-in and its state are spent
        session.delete(row)
        state, verifier = row.oauth_state or "", row.oauth_verifier or ""
        next_url = safe_next(row.next_url)
    sent_state = request.args.get("state", "")
    if not state or not hmac.compare_digest(sent_state.encode(), state.encode()):
        return _problem(
            "Sign-in not verified",
            f"The answer from {signin.label} does not belong to the sign-in this browser "
            "started (the state differs), so it was not used. Start again.",
            400,
            again=True,
        )
    error = request.args.get("error")
    if error:
        return _forge_refused(signin, error, request.args.get("error_description"))
    code = request.args.get("code", "")
    if not code:
        return _problem(
            "Sign-in incomplete", f"{signin.label} sent no code. Start again.", 400, again=True
        )
    try:
        user_token = signin.exchange(code, _redirect_uri(forge), verifier)
        person = signin.person(user_token)
        admin = settings.dashboard_admin(forge, person.login)
        # an admin sees everything: no need to read (possibly thousands of) repositories
        found = None if admin else signin.repositories(user_token)
    except SignInError as exc:
        return _problem(f"Sign-in with {signin.label} failed", str(exc), exc.status, again=True)
    finally:
        signin.close()
    if found is not None and found.truncated:
        log.warning(
            "dashboard sign-in of %s:%s read the first %d repositories only",
            forge,
            person.login,
            len(found.names),
        )
    repositories: frozenset[str] = found.names if found is not None else frozenset()
    token = secrets.token_urlsafe(32)
    with services.store.session() as session:
        session.add(
            WebSession(
                id=_digest(token),
                forge=forge,
                login=person.login,
                name=person.name,
                admin=admin,
                repositories=sorted(repositories),
                csrf=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(hours=settings.session_hours),
            )
        )
    response = redirect(next_url, 302)
    _set_cookie(response, token, timedelta(hours=settings.session_hours))
    return response


@blueprint.post("/dashboard/sign-out")
@signed_in
def sign_out() -> Any:
    token = _cookie_token()
    with _services().store.session() as session:
        session.execute(delete(WebSession).where(WebSession.id == _digest(token or "")))
    response = redirect(f"{SIGN_IN_PATH}?signed_out=1", 303)
    response.delete_cookie(
        _cookie_name(), path="/", secure=_secure(), httponly=True, samesite="Lax"
    )
    return response


@blueprint.after_app_request
def security_headers(response: Response) -> Response:
    """The dashboard's headers on every ``/dashboard`` answer (a page that sets its own keeps
    it)."""
    if request.path == "/dashboard" or request.path.startswith("/dashboard/"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


# -- sessions -----------------------------------------------------------------------------------
def _read_viewer() -> Viewer | None:
    token = _cookie_token()
    if not token:
        return None
    services = _services()
    now = services.clock()
    with services.store.session() as session:
        row = session.get(WebSession, _digest(token))
        if row is None or row.login is None or row.forge is None:
            return None
        if _expired(row, now):
            session.delete(row)  # pruned lazily, as it is met
            return None
        settings = services.settings
        return Viewer(
            forge=row.forge,
            login=row.login,
            name=row.name or row.login,
            # admin while still named: taking someone off the list takes effect at once
            admin=bool(row.admin) and settings.dashboard_admin(row.forge, row.login),
            repositories=frozenset(row.repositories or ()),
            csrf=row.csrf,
        )


def _prune(session: Any, now: datetime) -> None:
    session.execute(delete(WebSession).where(WebSession.expires_at < now))


def _expired(row: WebSession, now: datetime) -> bool:
    expires = row.expires_at
    if expires.tzinfo is None:  # SQLite keeps no zone; the bot writes UTC
        expires = expires.replace(tzinfo=UTC)
    return expires <= now


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _cookie_token() -> str | None:
    value = request.cookies.get(_cookie_name())
    # a token is 43 characters; anything much longer is not ours and is not looked up
    return value if value and len(value) <= 128 else None


def _set_cookie(response: BaseResponse, token: str, lifetime: timedelta) -> None:
    response.set_cookie(
        _cookie_name(),
        token,
        max_age=int(lifetime.total_seconds()),
        path="/",
        secure=_secure(),
        httponly=True,
        samesite="Lax",  # sent on the forge's redirect back (a top-level GET), not on posts
    )


def _secure() -> bool:
    return urlsplit(_base_url()).scheme == "https"


def _cookie_name() -> str:
    return SECURE_COOKIE if _secure() else COOKIE


# -- addresses ----------------------------------------------------------------------------------
def _base_url() -> str:
    """Where people reach the bot: ``COMPLIANCE_BOT_PUBLIC_URL``, else this request's host."""
    public = _services().settings.public_url
    return (public or request.host_url).rstrip("/")


def _redirect_uri(forge: str) -> str:
    return f"{_base_url()}/dashboard/oauth/{forge}/callback"


def _own_origins() -> set[str]:
    origins = {_origin(request.host_url)}
    public = _services().settings.public_url
    if public:
        origins.add(_origin(public))
    return origins


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _here() -> str:
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


# -- forges -------------------------------------------------------------------------------------
def _forge_signin(settings: Settings, forge: str) -> SignIn:
    """The OAuth client of ``forge``, a new one per sign-in; 404 when it is not configured."""
    if forge not in settings.dashboard_forges:
        abort(
            _problem(
                "No such sign-in",
                f"Signing in with {LABELS.get(forge, 'that forge')} is not configured here.",
                404,
                again=True,
            )
        )
    if forge == "github":
        assert settings.github_client_id and settings.github_client_secret
        return GitHubSignIn(
            settings.github_client_id,
            settings.github_client_secret,
            settings.github_web_url,
            settings.github_api_url,
        )
    assert settings.gitlab_url and settings.gitlab_oauth_client_id
    assert settings.gitlab_oauth_client_secret
    return GitLabSignIn(
        settings.gitlab_oauth_client_id, settings.gitlab_oauth_client_secret, settings.gitlab_url
    )


def _forge_refused(signin: SignIn, error: str, description: str | None) -> Any:
    """The forge sent the browser back with an OAuth ``error`` instead of a code."""
    if error == "access_denied":
        message = f"You did not authorize the dashboard on {signin.label}: you are not signed in."
        return _problem("Not signed in", message, 403, again=True)
    said = f" ({description})" if description else ""
    message = f"{signin.label} did not sign you in: {error}{said}."
    if error == "redirect_uri_mismatch":
        message += (
            f" The callback URL registered on {signin.label} must be {_redirect_uri(signin.forge)}."
        )
    return _problem(f"Sign-in with {signin.label} failed", message, 400, again=True)


def _problem(title: str, message: str, status: int, *, again: bool = False) -> Response:
    text = render_template(
        "signin/problem.html", title=title, message=message, again=sign_in_url() if again else None
    )
    response = make_response(text, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


def _services() -> Services:
    services: Services = current_app.extensions["compliance-bot"]
    return services
