"""The fake GitLab's HTTP side: REST under /api/v4 and git smart HTTP, on 127.0.0.1.

Every REST request goes through one pipeline: route on the raw (still URL-encoded) path, count
the call, check it against GitLab's OpenAPI description (record violations), authenticate (401),
apply the simulated rate limit (429 with `Retry-After` and `RateLimit-*`), check the token's
scopes (403 `insufficient_scope`), refuse what GitLab's parameter validation refuses (400), run
the handler under the state lock (404/403/401/409 from the handler), then add GitLab's
pagination headers. Git goes through `git http-backend` (the GitHub fake's runner), with
GitLab's authentication and a pre-receive check for protected branches. The pipeline holds no
state of its own: calls, violations and deliveries are recorded on the `FakeGitLab` it serves.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from flask import Flask, Request, Response, request

from ..github.server import CallRecord, ServerThread, Violation, _run_http_backend
from . import auth
from .auth import ApiError, Principal
from .router import ROUTER, Route
from .state import DEVELOPER, Group, Project, RateLimit, User

if TYPE_CHECKING:
    from .fake import FakeGitLab

__all__ = ["CallRecord", "Ctx", "ServerThread", "Violation", "create_app"]

JSON = "application/json"
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
API_PREFIX = "/api/v4"
GIT_PATH = re.compile(r"^/(?P<path>.+?)\.git/(?P<rest>info/refs|git-upload-pack|git-receive-pack)$")


class Ctx:
    """What a handler sees: the fake, the caller, the request, and helpers for common answers."""

    def __init__(
        self,
        fake: FakeGitLab,
        route: Route,
        principal: Principal,
        req: Request,
        raw_path: str,
        body: Any,
    ) -> None:
        self.fake = fake
        self.state = fake.state
        self.render = fake.render
        self.route = route
        self.principal = principal
        self.request = req
        self.raw_path = raw_path
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}
        self.headers: dict[str, str] = {}

    # -- caller -------------------------------------------------------------------------------
    @property
    def user(self) -> User:
        if self.principal.user is None:
            raise auth.unauthorized()
        return self.principal.user

    @property
    def token_id(self) -> int | None:
        return self.principal.token.id if self.principal.token else None

    # -- resources with GitLab's visibility rules ---------------------------------------------
    def project(self, ref: str) -> Project:
        project = self.state.project_ref(ref)
        if project is None or not auth.can_see(self.state, self.principal, project):
            raise auth.not_found("Project")
        return project

    def group(self, ref: str) -> Group:
        group = self.state.group_ref(ref)
        if group is None or not auth.can_see_group(self.state, self.principal, group):
            raise auth.not_found("Group")
        return group

    def require(self, project: Project, level: int) -> None:
        auth.require(self.state, self.principal, project, level)

    def require_code(self, project: Project) -> None:
        if not auth.can_read_code(self.state, self.principal, project):
            raise auth.forbidden()

    # -- parameters (Grape merges the query string and the body) ---------------------------------
    def param(self, name: str, default: Any = None) -> Any:
        if name in self.body:
            return self.body[name]
        values = self.request.args.getlist(name)
        if not values:
            values = self.request.args.getlist(f"{name}[]")
            return values if values else default
        return values[-1]

    def int_param(self, name: str, default: int | None = None) -> int | None:
        value = self.param(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, error=f"{name} is invalid") from exc

    def bool_param(self, name: str, default: bool = False) -> bool:
        value = self.param(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("true", "1", "yes", "t")

    def list_param(self, name: str) -> list[Any] | None:
        value = self.param(name)
        if value is None:
            return None
        if isinstance(value, list):
            return value
        return [v for v in str(value).split(",") if v]

    def required(self, *names: str) -> None:
        missing = [n for n in names if self.param(n) in (None, "")]
        if missing:
            raise ApiError(400, error=", ".join(f"{n} is missing" for n in missing))

    # -- pagination ---------------------------------------------------------------------------
    def page(self, items: list[Any], render: Callable[[Any], Any] | None = None) -> list[Any]:
        """One page of `items` per `page`/`per_page`, with GitLab's offset-pagination headers."""
        per_page = max(
            1, min(self.int_param("per_page", DEFAULT_PER_PAGE) or DEFAULT_PER_PAGE, MAX_PER_PAGE)
        )
        page = max(1, self.int_param("page", 1) or 1)
        total = len(items)
        pages = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = f"{self.request.host_url.rstrip('/')}{API_PREFIX}{self.raw_path}"

        def url(n: int) -> str:
            pairs = [(k, v) for k, v in self.request.args.items(multi=True) if k != "page"]
            pairs = [*pairs, ("page", str(n))]
            if not any(k == "per_page" for k, _ in pairs):
                pairs.append(("per_page", str(per_page)))
            return f"{base}?{urlencode(pairs)}"

        links = []
        if page > 1:
            links.append(f'<{url(page - 1)}>; rel="prev"')
        if page < pages:
            links.append(f'<{url(page + 1)}>; rel="next"')
        links.append(f'<{url(1)}>; rel="first"')
        links.append(f'<{url(pages)}>; rel="last"')
        self.headers.update(
            {
                "Link": ", ".join(links),
                "X-Page": str(page),
                "X-Per-Page": str(per_page),
                "X-Total": str(total),
                "X-Total-Pages": str(pages),
                "X-Next-Page": str(page + 1) if page < pages else "",
                "X-Prev-Page": str(page - 1) if page > 1 else "",
            }
        )
        return [render(i) for i in chunk] if render else chunk


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    text = "" if payload is None else json.dumps(payload)
    response = Response(text, status=status, content_type=JSON)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error.payload, error.headers)


def create_app(fake: FakeGitLab) -> Flask:
    """The WSGI application serving one fake."""
    from . import handlers  # (importing it registers the REST routes on ROUTER)

    app = Flask("fake_gitlab")
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    handlers.oauth.web_routes(app, fake)  # /oauth/*: GitLab as an OAuth provider, for sign-in

    @app.route("/", defaults={"path": ""}, methods=methods)
    @app.route("/<path:path>", methods=methods)
    def everything(path: str) -> Response:
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        raw_path = raw.split("?", 1)[0]
        if raw_path.startswith(API_PREFIX + "/"):
            return _rest(fake, raw_path[len(API_PREFIX) :])
        match = GIT_PATH.match(unquote(raw_path))
        if match:
            return _git_http(fake, match["path"], match["rest"])
        fake._count(request.method, raw_path)
        fake._violate(
            Violation(
                "request",
                request.method,
                raw_path,
                None,
                [f"not under {API_PREFIX} and not git (the API base URL is {fake.api_url})"],
            )
        )
        return Response("Not Found\n", status=404, content_type="text/plain")

    return app


def _rest(fake: FakeGitLab, raw_path: str) -> Response:
    method = request.method
    route, raw_params, _known = ROUTER.match(method, raw_path)
    params = {k: unquote(v) for k, v in raw_params.items()}
    template = route.template if route else None
    decoded_path = unquote(raw_path)
    fake._count(method, template or decoded_path)
    query = {k: request.args.getlist(k) for k in request.args}
    raw_body = request.get_data(cache=True)
    body: Any = None
    if raw_body.strip() and "json" in (request.content_type or ""):
        try:
            body = json.loads(raw_body)
        except ValueError:
            body = None
    elif request.form:
        body = {k: (v if len(v) > 1 else v[0]) for k, v in request.form.lists()}

    def finish(response: Response, who: str = "anonymous") -> Response:
        record = CallRecord(method, decoded_path, template, response.status_code, who, query, body)
        fake._record_call(record)
        return response

    if route is None:
        fake._violate(
            Violation(
                "unimplemented",
                method,
                decoded_path,
                None,
                [f"the fake does not serve {method} {decoded_path}"],
            )
        )
        return finish(json_response(404, {"error": "404 Not Found"}))
    check = fake.validator.check_request(
        method, template or "", params, query, raw_body, request.content_type, body
    )
    if check.covered:
        if check.problems:
            fake._violate(Violation("request", method, decoded_path, template, check.problems))
    else:
        fake.uncovered_calls[(method, template or "")] += 1
    try:
        with fake.state.lock:
            principal = auth.identify(fake.state, request.headers, request.args)
    except ApiError as error:
        return finish(error_response(error))
    who = principal.label
    if route.auth == "token" and principal.user is None:
        return finish(error_response(auth.unauthorized()), who)
    throttled = fake._throttled(principal)
    if throttled is not None:
        return finish(throttled, who)
    if not principal.has_scope(*route.permissions):
        return finish(error_response(auth.insufficient_scope(route.permissions)), who)
    if check.refusal:
        return finish(json_response(400, {"error": check.refusal}), who)
    ctx = Ctx(fake, route, principal, request, raw_path, body)
    try:
        with fake._handling_request(), fake.events.request(), fake.state.lock:
            result = route.handler(ctx, **params)
    except ApiError as error:
        return finish(error_response(error), who)
    if isinstance(result, Response):
        for key, value in ctx.headers.items():
            result.headers[key] = value
        return finish(result, who)
    status, payload = result if isinstance(result, tuple) else (200, result)
    return finish(json_response(status, payload, ctx.headers), who)


def rate_limited(limit: RateLimit | None, retry_after: int) -> Response:
    """Rack::Attack's answer (lib/gitlab/rack_attack.rb): plain text and `RateLimit-*`."""
    reset = int(time.time()) + retry_after
    response = Response("Retry later\n", status=429, content_type="text/plain")
    response.headers["Retry-After"] = str(retry_after)
    response.headers["RateLimit-Name"] = "throttle_authenticated_api"
    response.headers["RateLimit-Limit"] = str(limit.limit if limit else 2000)
    response.headers["RateLimit-Observed"] = str(limit.used if limit else 2001)
    response.headers["RateLimit-Remaining"] = "0"
    response.headers["RateLimit-Reset"] = str(reset)
    response.headers["RateLimit-ResetTime"] = formatdate(reset, usegmt=True)
    return response


# -- git smart HTTP ---------------------------------------------------------------------------
def _challenge() -> Response:
    return Response(
        "HTTP Basic: Access denied. If a password was provided for Git authentication, the "
        "password was incorrect or you're required to use a token instead of a password.\n",
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="GitLab"'},
    )


def _git_http(fake: FakeGitLab, full_path: str, rest: str) -> Response:
    service = request.args.get("service") or rest.rsplit("/", 1)[-1]
    pushing = service == "git-receive-pack"
    with fake.state.lock:
        try:
            principal = auth.identify_git(fake.state, request.headers.get("Authorization"))
        except ApiError:
            fake._record_git(full_path, service, "rejected", 401)
            return _challenge()
        project = fake.state.project_by_path(full_path)
        who = principal.label
        if principal.user is None and (
            project is None or project.visibility != "public" or pushing
        ):
            fake._record_git(full_path, service, who, 401)
            return _challenge()
        if project is None or not auth.can_see(fake.state, principal, project):
            fake._record_git(full_path, service, who, 404)
            return Response(
                "The project you were looking for could not be found or you don't have "
                "permission to view it.\n",
                status=404,
            )
        wanted = (
            ("api", "write_repository")
            if pushing
            else (
                "api",
                "read_api",
                "read_repository",
                "write_repository",
            )
        )
        if not principal.has_scope(*wanted) or not auth.can_read_code(
            fake.state, principal, project
        ):
            fake._record_git(full_path, service, who, 403)
            return Response("You are not allowed to download code from this project.\n", status=403)
        if pushing and (
            principal.user is None
            or (
                fake.state.project_access(project, principal.user.id) < DEVELOPER
                and not principal.user.admin
            )
        ):
            fake._record_git(full_path, service, who, 403)
            return Response("You are not allowed to push code to this project.\n", status=403)
        before = project.git.refs("refs/heads/") if pushing else {}
        if pushing and request.method == "POST":
            refused = _refuse_protected(fake, project, principal, request.get_data())
            if refused is not None:
                fake._record_git(full_path, service, who, 200)
                return refused
    response = _run_http_backend(fake, project, rest)  # type: ignore[arg-type]
    fake._record_git(full_path, service, who, response.status_code)
    if pushing and request.method == "POST":
        assert principal.user is not None
        with fake._handling_request():
            fake._after_git_push(project, before, principal.user)
    return response


def _pkt(data: bytes) -> bytes:
    return f"{len(data) + 4:04x}".encode() + data


def _commands(body: bytes) -> tuple[list[tuple[str, str, str]], set[str]]:
    """The ref updates (old, new, ref) and capabilities of a receive-pack request."""
    commands: list[tuple[str, str, str]] = []
    caps: set[str] = set()
    i = 0
    while i + 4 <= len(body):
        size = int(body[i : i + 4], 16)
        if size == 0:
            break
        line = body[i + 4 : i + size]
        i += size
        text, _, cap_text = line.partition(b"\0")
        if cap_text:
            caps = set(cap_text.decode(errors="replace").split())
        parts = text.decode(errors="replace").strip().split(" ")
        if len(parts) == 3:
            commands.append((parts[0], parts[1], parts[2]))
    return commands, caps


def _refuse_protected(
    fake: FakeGitLab, project: Project, principal: Principal, body: bytes
) -> Response | None:
    """GitLab's pre-receive check: a push to a protected branch needs the branch's push level
    (and a force push `allow_force_push`). Answered like a declined pre-receive hook."""
    commands, caps = _commands(body)
    zero = "0" * 40
    declined = []
    for old, new, ref in commands:
        if not ref.startswith("refs/heads/"):
            continue
        branch = ref.removeprefix("refs/heads/")
        protected = fake.state.protected_branch(project, branch)
        if protected is None:
            continue
        allowed = auth.can_push(fake.state, principal, project, branch)
        forced = old != zero and new != zero and not project.git.is_ancestor(old, new)
        if new == zero or (forced and not protected.allow_force_push):
            allowed = False
        if not allowed:
            declined.append(ref)
    if not declined:
        return None
    if not caps & {"report-status", "report-status-v2"}:
        return Response(
            "You are not allowed to push code to protected branches on this project.\n", status=403
        )
    # A pre-receive hook accepts or declines the whole push.
    report = _pkt(b"unpack ok\n")
    for _old, _new, ref in commands:
        report += _pkt(f"ng {ref} pre-receive hook declined\n".encode())
    report += b"0000"
    message = b"GitLab: You are not allowed to push code to protected branches on this project.\n"
    if "side-band-64k" in caps or "side-band" in caps:
        out = _pkt(b"\x02" + message) + _pkt(b"\x01" + report) + b"0000"
    else:
        out = report
    return Response(out, status=200, content_type="application/x-git-receive-pack-result")
