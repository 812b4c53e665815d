"""The web dashboard's pages: overview, exceptions, one exception, the audit log, a check.

Every page is a GET that reads the store through ``bot.dashboard.queries`` with the signed-in
person's repositories, renders a Jinja template (autoescaped: forge data is never trusted as
HTML) and works without JavaScript; charts are SVG drawn here. Exports stream. Nothing here
calls a forge or writes anything but the response.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    render_template,
    request,
    stream_with_context,
)
from werkzeug.exceptions import HTTPException

from bot.audit import query as audit_query
from bot.audit import verify
from bot.dashboard import links, queries
from bot.services import Services
from bot.web.signin import current_viewer, signed_in

blueprint = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/dashboard/static",
)

_SHA = re.compile(r"[0-9a-f]{7,64}")
_NAME = re.compile(r"[A-Za-z0-9._/-]{1,100}")
FORGES = ("github", "gitlab")


def _services() -> Services:
    return current_app.extensions["compliance-bot"]


def _now() -> datetime:
    return _services().clock()


def _int(name: str, low: int, high: int) -> int | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        abort(400, f"{name} must be a whole number, not {text[:40]!r}")
    if not low <= value <= high:
        abort(400, f"{name} must be between {low} and {high}")
    return value


def _text(name: str, limit: int = 255) -> str | None:
    value = request.args.get(name, "").strip()
    return value[:limit] or None


def _helpers() -> dict[str, Callable[..., Any]]:
    settings = _services().settings

    def pull(forge: str, repository: str, number: int | None) -> str | None:
        return links.pull_url(settings, forge, repository, number) if number else None

    def commit(forge: str, repository: str, sha: str | None) -> str | None:
        return links.commit_url(settings, forge, repository, sha) if sha else None

    def with_args(**changes: Any) -> str:
        args = {k: v for k, v in request.args.items() if v}
        for key, value in changes.items():
            if value in (None, ""):
                args.pop(key, None)
            else:
                args[key] = str(value)
        return request.path + ("?" + urlencode(args) if args else "")

    return {
        "pull_url": pull,
        "commit_url": commit,
        "repository_url": lambda f, r: links.repository_url(settings, f, r),
        "exception_path": links.exception_path,
        "check_path": links.check_path,
        "with_args": with_args,
        "when": _when,
        "day": lambda at: _when(at)[:10] if at else "",
        "remaining": _remaining,
        "state_label": lambda s: queries.STATE_LABELS.get(s, s),
        "describe": audit_query.describe,
    }


def _when(at: datetime | None) -> str:
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _remaining(at: datetime | None) -> str:
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    left = at - _now()
    days = left.days
    if left < timedelta(0):
        return f"{-days - 1 if left.seconds else -days} days ago" if days < -1 else "passed"
    return "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"


def _render(template: str, **context: Any) -> str:
    return render_template(template, viewer=current_viewer(), **_helpers(), **context)


def _problem(error: HTTPException) -> Any:
    """A refused or unknown request, said on a page of the dashboard, never a traceback."""
    page = _render(
        "dashboard/problem.html",
        page=None,
        status=error.code,
        title=error.name,
        message=error.description,
    )
    return page, error.code or 500


for _code in (400, 403, 404):  # by code: the app's own 404 page would win over a class
    blueprint.register_error_handler(_code, _problem)


# -- pages -------------------------------------------------------------------------------------
@blueprint.get("/dashboard/")
@blueprint.get("/dashboard")
@signed_in
def overview() -> Any:
    viewer = current_viewer()
    assert viewer is not None
    now = _now()
    found = queries.overview(_services().store, viewer.visible, now, forge=viewer.forge)
    return _render(
        "dashboard/overview.html",
        page="overview",
        o=found,
        history=_history_chart(found.history, now),
        policies=_bars(found.by_policy),
    )


def _exception_filter() -> queries.ExceptionFilter:
    state = _text("state", 16)
    if state and state not in (*queries.STATES, "unused", "live"):
        abort(400, f"state must be one of {', '.join((*queries.STATES, 'unused', 'live'))}")
    sort = _text("sort", 16) or "expires"
    if sort not in queries.SORTS:
        abort(400, f"sort must be one of {', '.join(queries.SORTS)}")
    return queries.ExceptionFilter(
        repository=_text("repository"),
        policy=_text("policy", 64),
        state=state,
        person=_text("person"),
        approver=_text("approver"),
        expiring_within=_int("expiring_within", 0, 3650),
        text=_text("q", 200),
        sort=sort,
        descending=request.args.get("order") == "desc",
        page=_int("page", 1, 10**6) or 1,
        per_page=_int("per_page", 1, queries.MAX_PAGE) or queries.PAGE,
    )


@blueprint.get("/dashboard/exceptions")
@signed_in
def exceptions() -> Any:
    viewer = current_viewer()
    assert viewer is not None
    where = _exception_filter()
    found = queries.exceptions(_services().store, viewer.visible, where, _now(), forge=viewer.forge)
    return _render("dashboard/exceptions.html", page="exceptions", p=found, f=where)


@blueprint.get("/dashboard/exceptions.csv")
@signed_in
def exceptions_csv() -> Any:
    viewer = current_viewer()
    assert viewer is not None
    lines = queries.exceptions_csv(
        _services().store, viewer.visible, _exception_filter(), _now(), forge=viewer.forge
    )
    stamp = _now().strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="exceptions-{stamp}.csv"'},
    )


@blueprint.get("/dashboard/exceptions/<forge>/<path:repository>/-/<exception_id>")
@signed_in
def exception(forge: str, repository: str, exception_id: str) -> Any:
    viewer = current_viewer()
    assert viewer is not None
    if forge not in FORGES:
        abort(404)
    story = queries.exception(
        _services().store,
        viewer.visible,
        forge,
        repository,
        exception_id,
        signed_in_with=viewer.forge,
    )
    if story is None:  # also what someone who may not see the repository gets
        abort(404, f"no exception {exception_id} in {repository} that you can see")
    return _render("dashboard/exception.html", page="exceptions", s=story)


@blueprint.get("/dashboard/checks/<forge>/<path:repository>/-/<sha>")
@signed_in
def check(forge: str, repository: str, sha: str) -> Any:
    viewer = current_viewer()
    assert viewer is not None
    name = request.args.get("name", "compliance")
    if forge not in FORGES or not _SHA.fullmatch(sha) or not _NAME.fullmatch(name):
        abort(404)
    found = queries.check(
        _services().store, viewer.visible, forge, repository, sha, name, signed_in_with=viewer.forge
    )
    if found is None:
        abort(404, f"no {name} check on {sha[:12]} in {repository} that you can see")
    findings = [f for f in found.report.get("findings") or [] if isinstance(f, dict)]
    blocking = [
        f for f in findings if f.get("enforcement") == "blocking" and not f.get("exception")
    ]
    other = [f for f in findings if f not in blocking]
    return _render("dashboard/check.html", page="checks", c=found, blocking=blocking, other=other)


def _audit_filter() -> audit_query.Filter:
    since, until = _text("since", 40), _text("until", 40)
    try:
        return audit_query.Filter(
            repository=_text("repository"),
            pull_request=_int("pull_request", 1, 10**9),
            exception=_text("exception", 64),
            action=_text("action", 64),
            actor=_text("actor"),
            since=audit_query.parse_when(since) if since else None,
            until=audit_query.parse_when(until, end=True) if until else None,
        )
    except ValueError as error:
        abort(400, str(error))


@blueprint.get("/dashboard/audit")
@signed_in
def audit() -> Any:
    viewer = current_viewer()
    assert viewer is not None
    where = _audit_filter()
    found = queries.audit(
        _services().store, viewer.visible, where, before=_int("before", 1, 10**15)
    )
    return _render(
        "dashboard/audit.html",
        page="audit",
        a=found,
        f=where,
        verification=verify.latest_verification(_services().store),
    )


@blueprint.get("/dashboard/audit.jsonl")
@signed_in
def audit_jsonl() -> Any:
    viewer = current_viewer()
    assert viewer is not None
    lines = queries.audit_jsonl(_services().store, viewer.visible, _audit_filter())
    stamp = _now().strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(lines),
        mimetype="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.jsonl"'},
    )


# -- charts ------------------------------------------------------------------------------------
def _history_chart(
    history: list[tuple[Any, int, int, int]], now: datetime, width: int = 640, height: int = 160
) -> dict[str, Any]:
    """Points for the SVG of live (and expired, unapproved) exceptions per day."""
    days = [d for d, *_ in history]
    if not days:
        return {"empty": True, "width": width, "height": height}
    top = max(max(live, expired + unapproved) for _, live, expired, unapproved in history) or 1
    span = max(1, (days[-1] - days[0]).days)
    pad = 28

    def x(day: Any) -> float:
        return round(pad + (width - 2 * pad) * (day - days[0]).days / span, 1)

    def y(n: int) -> float:
        return round(height - pad - (height - 2 * pad) * n / top, 1)

    live = " ".join(f"{x(d)},{y(n)}" for d, n, _, _ in history)
    other = " ".join(f"{x(d)},{y(e + u)}" for d, _, e, u in history)
    return {
        "empty": False,
        "width": width,
        "height": height,
        "live": live,
        "other": other,
        "area": f"{x(days[0])},{y(0)} {live} {x(days[-1])},{y(0)}",
        "top": top,
        "first": days[0].isoformat(),
        "last": days[-1].isoformat(),
        "latest": history[-1][1],
        "y_top": y(top),
        "y_zero": y(0),
        "pad": pad,
    }


def _bars(by_policy: list[tuple[str, int]], width: int = 640) -> dict[str, Any]:
    top = max((n for _, n in by_policy), default=0) or 1
    label = 200
    rows = [
        {"policy": policy, "n": n, "y": 24 * i, "w": round((width - label - 40) * n / top, 1)}
        for i, (policy, n) in enumerate(by_policy)
    ]
    return {"rows": rows, "width": width, "height": 24 * len(rows), "label": label}
