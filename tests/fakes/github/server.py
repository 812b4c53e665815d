"""The fake GitHub's HTTP side: REST under /api/v3, GraphQL, and git smart HTTP, on 127.0.0.1.

Every REST request goes through one pipeline, in GitHub's order: count the call, check it
against the OpenAPI description (record violations), authenticate (401), apply the rate limit
(403), run the handler under the state lock (404/403/422 from the handler), then add rate-limit
headers and an ETag, answering 304 to a matching If-None-Match. The pipeline holds no state of
its own: calls, violations and deliveries are recorded on the `FakeGitHub` it serves.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, Request, Response, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from . import auth
from .auth import ApiError, Principal
from .router import ROUTER, Route
from .state import Account, RateLimit, Repository

if TYPE_CHECKING:
    from .fake import FakeGitHub

JSON = "application/json; charset=utf-8"
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30


@dataclass
class Violation:
    """A request (or response, or webhook) that GitHub's OpenAPI description does not allow."""

    kind: str  # "request" | "unimplemented" | "response" | "webhook" | "graphql"
    method: str
    path: str
    template: str | None
    problems: list[str]

    def __str__(self) -> str:
        return f"{self.kind}: {self.method} {self.path}: " + "; ".join(self.problems)


@dataclass
class CallRecord:
    method: str
    path: str
    template: str | None
    status: int
    principal: str
    query: dict[str, list[str]]
    body: Any


class Ctx:
    """What a handler sees: the fake, the caller, the request, and helpers for common answers."""

    def __init__(
        self,
        fake: FakeGitHub,
        route: Route,
        principal: Principal,
        req: Request,
        body: Any,
    ) -> None:
        self.fake = fake
        self.state = fake.state
        self.render = fake.render
        self.route = route
        self.principal = principal
        self.request = req
        self.json: Any = body if body is not None else {}
        self.headers: dict[str, str] = {}

    # -- caller -----------------------------------------------------------------------------
    @property
    def actor(self) -> str:
        """The login that performs the action: the user, or the App's bot user."""
        if self.principal.user is None:
            raise ApiError(401, "Requires authentication")
        return self.principal.user

    @property
    def app_id(self) -> int | None:
        return self.principal.app.id if self.principal.app else None

    # -- resolving resources with GitHub's visibility rules ---------------------------------
    def repo(self, owner: str, name: str) -> Repository:
        full_name = f"{owner}/{name}"
        repo = self.state.repo(full_name)
        if repo is None or not auth.repo_visible(self.state, self.principal, full_name):
            raise auth.not_found()
        if self.principal.kind == "anonymous" and self.request.method != "GET":
            raise ApiError(401, "Requires authentication")
        auth.check_permission(self.state, self.principal, self.route.permissions, repo.full_name)
        return repo

    def org(self, login: str) -> Account:
        org = self.state.account(login)
        if org is None or org.type != "Organization":
            raise auth.not_found()
        if self.principal.kind == "installation":
            assert self.principal.installation is not None
            if self.principal.installation.account.lower() != org.login.lower():
                raise auth.not_found()
        elif self.principal.kind == "anonymous":
            raise auth.not_found()
        auth.check_permission(self.state, self.principal, self.route.permissions, None)
        return org

    # -- arguments --------------------------------------------------------------------------
    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.request.args.get(name, default)

    def int_arg(self, name: str, default: int) -> int:
        value = self.request.args.get(name)
        try:
            return int(value) if value is not None else default
        except ValueError as exc:
            raise ApiError(422, f"Invalid value for {name}") from exc

    def body(self, name: str, default: Any = None) -> Any:
        if not isinstance(self.json, dict):
            return default
        return self.json.get(name, default)

    # -- pagination -------------------------------------------------------------------------
    def page(self, items: list[Any], render: Callable[[Any], Any] | None = None) -> list[Any]:
        """One page of `items` per `page`/`per_page`, with GitHub's Link header."""
        per_page = max(1, min(self.int_arg("per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE))
        page = max(1, self.int_arg("page", 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def url(n: int) -> str:
            args = {k: v for k, v in self.request.args.items(multi=True) if k != "page"}
            pairs = [*args.items(), ("page", str(n))]
            return f"{self.request.base_url}?{urlencode(pairs)}"

        if page > 1:
            links.append(f'<{url(page - 1)}>; rel="prev"')
        if page < last:
            links.append(f'<{url(page + 1)}>; rel="next"')
            links.append(f'<{url(last)}>; rel="last"')
        if page > 1:
            links.append(f'<{url(1)}>; rel="first"')
        if links:
            self.headers["Link"] = ", ".join(links)
        return [render(i) for i in chunk] if render else chunk


def error_response(error: ApiError) -> Response:
    response = Response(json.dumps(error.body()), status=error.status, content_type=JSON)
    for key, value in error.headers.items():
        response.headers[key] = value
    return response


def create_app(fake: FakeGitHub) -> Flask:
    """The WSGI application serving one fake."""
    from . import handlers  # (importing it registers the REST routes on ROUTER)

    app = Flask("fake_github")
    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    handlers.oauth.web_routes(app, fake)  # /login/oauth/*: signing in with an App, as a browser

    @app.route("/api/v3/", defaults={"path": ""}, methods=methods)
    @app.route("/api/v3/<path:path>", methods=methods)
    def rest(path: str) -> Response:
        return _rest(fake, "/" + path)

    @app.route("/api/graphql", methods=["POST"])
    def graphql() -> Response:
        from .handlers.graphql import handle_graphql

        return handle_graphql(fake, request)

    @app.route("/<owner>/<repo>.git/<path:rest>", methods=["GET", "POST"])
    def git_http(owner: str, repo: str, rest: str) -> Response:
        return _git_http(fake, owner, repo, rest)

    @app.route("/", defaults={"path": ""}, methods=methods)
    @app.route("/<path:path>", methods=methods)
    def elsewhere(path: str) -> Response:
        # Not the API, GraphQL or git: a client with a wrong base URL. Record it loudly.
        fake._count(request.method, "/" + path)
        fake._violate(
            Violation(
                "request",
                request.method,
                "/" + path,
                None,
                [f"not under /api/v3 (the API base URL is {fake.api_url})"],
            )
        )
        return error_response(auth.not_found())

    return app


def _rest(fake: FakeGitHub, path: str) -> Response:
    method = request.method
    raw_body = request.get_data(cache=True)
    query = {k: request.args.getlist(k) for k in request.args}
    check = fake.validator.check_request(method, path, query, raw_body, request.content_type)
    route, params, _known = ROUTER.match(method, path)
    template = check.template or (route.template if route else None)
    fake._count(method, template or path)
    try:
        body = json.loads(raw_body) if raw_body.strip() else None
    except ValueError:
        body = None

    def finish(response: Response, principal: str = "anonymous") -> Response:
        record = CallRecord(method, path, template, response.status_code, principal, query, body)
        fake._record_call(record)
        return response

    if check.unserved:
        fake._violate(Violation("unimplemented", method, path, check.unserved, check.problems))
    elif check.problems:
        fake._violate(Violation("request", method, path, check.template, check.problems))
    if check.deprecated:
        fake.deprecated_calls.append((method, template or path))
    if check.template is None:
        return finish(error_response(auth.not_found()))
    if route is None:
        fake._violate(
            Violation(
                "unimplemented",
                method,
                path,
                check.template,
                [f"the fake does not implement {method} {check.template}"],
            )
        )
        return finish(error_response(auth.not_found()))
    try:
        with fake.state.lock:
            principal = auth.identify(fake.state, request.headers.get("Authorization"))
    except ApiError as error:
        return finish(error_response(error))
    who = principal.rate_key
    if route.auth == "app" and principal.kind != "app":
        message = "A JSON web token could not be decoded"
        return finish(error_response(ApiError(401, message)), who)
    if route.auth == "token" and principal.kind == "app":
        return finish(error_response(ApiError(401, "Bad credentials")), who)
    if check.unparsable:
        return finish(error_response(ApiError(400, "Problems parsing JSON")), who)
    if check.refused:
        error = ApiError(422, "Invalid request.\n\n" + "\n".join(check.problems))
        return finish(error_response(error), who)
    limit = fake._rate_limit(principal)
    counted = path != "/rate_limit"
    if counted and limit.used >= limit.limit:
        error = ApiError(
            403,
            f"API rate limit exceeded for {who}.",
            documentation_url="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        )
        response = error_response(error)
        _rate_headers(response, limit)
        return finish(response, who)
    if counted:
        limit.used += 1
    ctx = Ctx(fake, route, principal, request, body)
    try:
        with fake._handling_request(), fake.state.lock:
            result = route.handler(ctx, **params)
    except ApiError as error:
        response = error_response(error)
        _rate_headers(response, limit)
        return finish(response, who)
    status, payload = result if isinstance(result, tuple) else (200, result)
    if fake.validate_responses and 200 <= status < 300 and template:
        problems = fake.validator.check_response(method, template, status, payload)
        if problems:
            fake._violate(Violation("response", method, path, template, problems))
    text = "" if payload is None else json.dumps(payload)
    response = Response(text, status=status, content_type=JSON)
    for key, value in ctx.headers.items():
        response.headers[key] = value
    if method == "GET" and status == 200:
        etag = 'W/"' + hashlib.sha256(f"{who}\n{text}".encode()).hexdigest()[:40] + '"'
        response.headers["ETag"] = etag
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            # A 304 does not count against the primary rate limit.
            if counted:
                limit.used -= 1
            response = Response(status=304)
            response.headers["ETag"] = etag
    _rate_headers(response, limit)
    response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
    response.headers["X-GitHub-Api-Version-Selected"] = "2022-11-28"
    response.headers["X-GitHub-Request-Id"] = uuid.uuid4().hex[:20].upper()
    return finish(response, who)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    wanted = {tag.strip() for tag in header.split(",")}
    bare = etag.removeprefix("W/")
    return bool(wanted & {etag, bare, "*"})


def _rate_headers(response: Response, limit: RateLimit) -> None:
    response.headers["x-ratelimit-limit"] = str(limit.limit)
    response.headers["x-ratelimit-remaining"] = str(max(0, limit.limit - limit.used))
    response.headers["x-ratelimit-used"] = str(limit.used)
    response.headers["x-ratelimit-reset"] = str(limit.reset)
    response.headers["x-ratelimit-resource"] = "core"


# -- git smart HTTP ---------------------------------------------------------------------------
def _git_http(fake: FakeGitHub, owner: str, name: str, rest: str) -> Response:
    service = request.args.get("service") or rest.rsplit("/", 1)[-1]
    pushing = service == "git-receive-pack"
    denied = Response(
        "Authentication failed\n",
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="GitHub"'},
    )
    full_name = f"{owner}/{name}"
    with fake.state.lock:
        header = request.headers.get("Authorization")
        try:
            principal = auth.identify(fake.state, header) if header else Principal("anonymous")
        except ApiError:
            fake._record_git(full_name, service, "rejected", 401)
            return denied
        repo = fake.state.repo(full_name)
        if principal.kind == "anonymous" and (repo is None or repo.private or pushing):
            fake._record_git(full_name, service, "anonymous", 401)
            return denied
        if repo is None or not auth.repo_visible(fake.state, principal, full_name):
            fake._record_git(full_name, service, principal.rate_key, 404)
            return Response("Repository not found.\n", status=404)
        if pushing:
            try:
                auth.check_permission(fake.state, principal, ("contents:write",), repo.full_name)
            except ApiError:
                fake._record_git(full_name, service, principal.rate_key, 403)
                return Response("Permission denied.\n", status=403)
        before = repo.git.refs("refs/heads/") if pushing else {}
    response = _run_http_backend(fake, repo, rest)
    fake._record_git(full_name, service, principal.rate_key, response.status_code)
    if pushing and request.method == "POST":
        with fake._handling_request():
            fake._after_git_push(repo, before, principal.user or "anonymous")
    return response


def _run_http_backend(fake: FakeGitHub, repo: Repository, rest: str) -> Response:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(repo.git.path.parent),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PATH_INFO": f"/{repo.git.path.name}/{rest}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query_string.decode(),
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "REMOTE_USER": "x-access-token",
        "REMOTE_ADDR": request.remote_addr or "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HOME": str(fake.root),
    }
    if request.headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
    if request.headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
    data = request.get_data() if request.method == "POST" else b""
    env["CONTENT_LENGTH"] = str(len(data))
    proc = subprocess.run(
        ["git", "http-backend"], input=data, capture_output=True, env=env, check=False
    )
    head, _, payload = proc.stdout.partition(b"\r\n\r\n")
    if not _ and b"\n\n" in proc.stdout:
        head, _, payload = proc.stdout.partition(b"\n\n")
    status = 200
    headers: list[tuple[str, str]] = []
    for line in head.decode(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        elif key:
            headers.append((key.strip(), value.strip()))
    return Response(payload, status=status, headers=headers)


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: the fake records calls itself."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ServerThread:
    """A threaded werkzeug server on 127.0.0.1 with an ephemeral port."""

    def __init__(self, app: Flask) -> None:
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
        )
        self.port = self.server.server_port
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="fake-github-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.server.server_close()
