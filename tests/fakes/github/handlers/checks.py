"""Checks and commit status REST endpoints. Only GitHub Apps may write check runs."""

from __future__ import annotations

from typing import Any

from ..auth import ApiError, not_found
from ..router import ROUTER
from ..server import Ctx
from ..state import CheckRun, Repository

route = ROUTER.route


def _run(ctx: Ctx, r: Repository, check_run_id: str) -> CheckRun:
    for run in r.check_runs:
        if str(run.id) == check_run_id:
            return run
    raise not_found()


def _require_completed_conclusion(fields: dict[str, Any]) -> None:
    if fields.get("status") == "completed" and not fields.get("conclusion"):
        raise ApiError(
            422,
            'Invalid request.\n\nNo subschema in "anyOf" matched.\n"conclusion" wasn\'t supplied.',
        )
    if fields.get("completed_at") and not fields.get("conclusion"):
        raise ApiError(422, 'Invalid request.\n\n"conclusion" wasn\'t supplied.')
    if fields.get("conclusion") == "stale":
        raise ApiError(422, "Invalid request.\n\nOnly GitHub can set a conclusion of stale.")


@route("POST", "/repos/{owner}/{repo}/check-runs", permissions=("checks:write",))
def create_check_run(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    if ctx.principal.kind != "installation" or ctx.principal.app is None:
        raise ApiError(403, "You must authenticate via a GitHub App.")
    fields = dict(ctx.json)
    _require_completed_conclusion(fields)
    run = ctx.fake.create_check_run(r, ctx.principal.app, fields, sender=ctx.actor)
    return 201, ctx.render.check_run(r, run)


@route("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}", permissions=("checks:read",))
def get_check_run(ctx: Ctx, owner: str, repo: str, check_run_id: str) -> Any:
    r = ctx.repo(owner, repo)
    return ctx.render.check_run(r, _run(ctx, r, check_run_id))


@route("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", permissions=("checks:write",))
def update_check_run(ctx: Ctx, owner: str, repo: str, check_run_id: str) -> Any:
    r = ctx.repo(owner, repo)
    run = _run(ctx, r, check_run_id)
    if ctx.principal.app is None or ctx.principal.app.id != run.app_id:
        # An App may only update its own check runs.
        raise ApiError(
            403, f"Invalid app_id `{ctx.app_id}` - check run can only be modified by its creator"
        )
    fields = dict(ctx.json)
    _require_completed_conclusion(fields)
    ctx.fake.update_check_run(r, run, fields, sender=ctx.actor)
    return ctx.render.check_run(r, run)


@route(
    "GET",
    "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations",
    permissions=("checks:read",),
)
def list_annotations(ctx: Ctx, owner: str, repo: str, check_run_id: str) -> Any:
    r = ctx.repo(owner, repo)
    run = _run(ctx, r, check_run_id)
    return ctx.page(run.annotations, lambda a: ctx.render.annotation(r, run, a))


@route(
    "POST",
    "/repos/{owner}/{repo}/check-runs/{check_run_id}/rerequest",
    permissions=("checks:write",),
)
def rerequest_check_run(ctx: Ctx, owner: str, repo: str, check_run_id: str) -> Any:
    r = ctx.repo(owner, repo)
    run = _run(ctx, r, check_run_id)
    ctx.fake.rerequest_check_run(run, user=ctx.actor)
    return 201, {}


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs", permissions=("checks:read",))
def list_check_runs_for_ref(ctx: Ctx, owner: str, repo: str, ref: str) -> Any:
    r = ctx.repo(owner, repo)
    sha = r.git.resolve(ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    name = ctx.arg("check_name")
    status = ctx.arg("status")
    app_id = ctx.arg("app_id")
    runs = [
        run
        for run in r.check_runs
        if run.head_sha == sha
        and (name is None or run.name == name)
        and (status is None or run.status == status)
        and (app_id is None or str(run.app_id) == app_id)
    ]
    if (ctx.arg("filter") or "latest") == "latest":
        # The most recent run for each name (and App).
        latest: dict[tuple[str, int], CheckRun] = {}
        for run in runs:
            latest[(run.name, run.app_id)] = run
        runs = list(latest.values())
    runs.sort(key=lambda run: run.id, reverse=True)
    page = ctx.page(runs, lambda run: ctx.render.check_run(r, run))
    return {"total_count": len(runs), "check_runs": page}


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-suites", permissions=("checks:read",))
def list_check_suites_for_ref(ctx: Ctx, owner: str, repo: str, ref: str) -> Any:
    r = ctx.repo(owner, repo)
    sha = r.git.resolve(ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    suites = [s for s in r.check_suites if s.head_sha == sha]
    page = ctx.page(suites, lambda s: ctx.render.check_suite(r, s))
    return {"total_count": len(suites), "check_suites": page}


# -- commit statuses --------------------------------------------------------------------------
@route("POST", "/repos/{owner}/{repo}/statuses/{sha}", permissions=("statuses:write",))
def create_status(ctx: Ctx, owner: str, repo: str, sha: str) -> Any:
    r = ctx.repo(owner, repo)
    status = ctx.fake.create_status(
        r,
        sha,
        ctx.body("state"),
        context=ctx.body("context") or "default",
        description=ctx.body("description"),
        target_url=ctx.body("target_url"),
        creator=ctx.actor,
    )
    return 201, ctx.render.status(r, status)


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses", permissions=("statuses:read",))
def list_statuses(ctx: Ctx, owner: str, repo: str, ref: str) -> Any:
    r = ctx.repo(owner, repo)
    sha = r.git.resolve(ref)
    if sha is None:
        raise not_found()
    statuses = sorted((s for s in r.statuses if s.sha == sha), key=lambda s: -s.id)
    return ctx.page(statuses, lambda s: ctx.render.status(r, s))


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/status", permissions=("statuses:read",))
def combined_status(ctx: Ctx, owner: str, repo: str, ref: str) -> Any:
    r = ctx.repo(owner, repo)
    sha = r.git.resolve(ref)
    if sha is None:
        raise not_found()
    latest: dict[str, Any] = {}
    for status in sorted((s for s in r.statuses if s.sha == sha), key=lambda s: s.id):
        latest[status.context] = status
    states = {s.state for s in latest.values()}
    combined = (
        "failure"
        if states & {"failure", "error"}
        else "pending"
        if "pending" in states or not states
        else "success"
    )
    return {
        "state": combined,
        "statuses": [
            {k: v for k, v in ctx.render.status(r, s).items() if k != "creator"}
            | {"required": False}
            for s in latest.values()
        ],
        "sha": sha,
        "total_count": len(latest),
        "repository": ctx.render.repository(r, full=False),
        "commit_url": f"{ctx.render.api}/repos/{r.full_name}/commits/{sha}",
        "url": f"{ctx.render.api}/repos/{r.full_name}/commits/{sha}/status",
    }
