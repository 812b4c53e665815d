"""Pull request REST endpoints: pulls, files, merge, reviews and requested reviewers."""

from __future__ import annotations

from typing import Any

from ..auth import ApiError, not_found
from ..router import ROUTER
from ..server import Ctx
from ..state import Issue, Repository

route = ROUTER.route
READ = ("pull_requests:read",)
WRITE = ("pull_requests:write",)


def _pull(ctx: Ctx, r: Repository, number: str) -> Issue:
    try:
        issue = r.issues.get(int(number))
    except ValueError:
        issue = None
    if issue is None or issue.pull is None:
        raise not_found()
    return issue


@route("GET", "/repos/{owner}/{repo}/pulls", permissions=READ)
def list_pulls(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    state = ctx.arg("state", "open")
    head, base = ctx.arg("head"), ctx.arg("base")
    pulls = []
    for issue in r.pulls():
        p = issue.pull
        assert p is not None
        if state != "all" and issue.state != state:
            continue
        if base and p.base_ref != base:
            continue
        if head:
            head_owner, _, head_ref = head.partition(":")
            if not head_ref:  # GitHub wants user:ref; a bare ref matches nothing
                continue
            head_repo = ctx.state.repo(p.head_repo)
            if head_repo is None or head_repo.owner.lower() != head_owner.lower():
                continue
            if p.head_ref != head_ref:
                continue
        pulls.append(issue)
    key = {
        "created": lambda i: i.created_at,
        "updated": lambda i: i.updated_at,
        "popularity": lambda i: len(i.comments),
        "long-running": lambda i: i.created_at,
    }[ctx.arg("sort", "created") or "created"]
    direction = ctx.arg("direction") or (
        "desc" if ctx.arg("sort", "created") != "long-running" else "asc"
    )
    pulls.sort(key=lambda i: (key(i), i.number), reverse=direction == "desc")
    return ctx.page(pulls, lambda i: ctx.render.pull(r, i, simple=True))


@route("POST", "/repos/{owner}/{repo}/pulls", permissions=WRITE)
def create_pull(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    if ctx.body("issue") is not None:
        raise ApiError(422, "The fake does not convert issues to pull requests")
    title = ctx.body("title")
    if not title:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "Issue", "field": "title", "code": "missing_field"}],
        )
    issue = ctx.fake.open_pull(
        r,
        ctx.body("head"),
        ctx.body("base"),
        title=title,
        body=ctx.body("body"),
        user=ctx.actor,
        draft=bool(ctx.body("draft", False)),
        app_id=ctx.app_id,
    )
    issue.pull.maintainer_can_modify = bool(ctx.body("maintainer_can_modify", False))  # type: ignore[union-attr]
    return 201, ctx.render.pull(r, issue)


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", permissions=READ)
def get_pull(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    return ctx.render.pull(r, _pull(ctx, r, pull_number))


@route("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}", permissions=WRITE)
def update_pull(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    ctx.fake.edit_pull(
        r,
        issue.number,
        user=ctx.actor,
        title=ctx.body("title"),
        body=ctx.body("body"),
        base=ctx.body("base"),
        state=ctx.body("state"),
    )
    return ctx.render.pull(r, issue)


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files", permissions=READ)
def pull_files(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    p = issue.pull
    assert p is not None
    merge_base = r.git.merge_base(p.base_sha, p.head_sha) or p.base_sha
    # "Responses include a maximum of 3000 files."
    files = r.git.diff_files(merge_base, p.head_sha)[:3000]
    return ctx.page(files, lambda f: ctx.render.diff_entry(r, p.head_sha, f))


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/commits", permissions=READ)
def pull_commits(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    p = issue.pull
    assert p is not None
    merge_base = r.git.merge_base(p.base_sha, p.head_sha) or p.base_sha
    shas = r.git.commits_between(merge_base, p.head_sha)[:250]
    return ctx.page(shas, lambda sha: ctx.render.commit(r, sha))


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", permissions=READ)
def is_merged(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    if not issue.pull or not issue.pull.merged:
        raise not_found()
    return 204, None


@route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", permissions=("contents:write",))
def merge_pull(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    sha = ctx.fake.merge_pull(
        r,
        issue.number,
        user=ctx.actor,
        method=ctx.body("merge_method", "merge"),
        sha=ctx.body("sha"),
        commit_title=ctx.body("commit_title"),
        commit_message=ctx.body("commit_message"),
    )
    return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}


# -- reviews ----------------------------------------------------------------------------------
@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", permissions=READ)
def list_reviews(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    assert issue.pull is not None
    # Chronological; a PENDING review is visible only to its author.
    reviews = [
        rv
        for rv in issue.pull.reviews
        if rv.state != "PENDING" or rv.user.lower() == (ctx.principal.user or "").lower()
    ]
    return ctx.page(reviews, lambda rv: ctx.render.review(r, issue, rv))


@route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", permissions=WRITE)
def create_review(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    if ctx.body("comments"):
        raise ApiError(422, "The fake does not support review comments on lines")
    review = ctx.fake.review(
        r,
        issue.number,
        user=ctx.actor,
        event=ctx.body("event") or "PENDING",
        body=ctx.body("body") or "",
        commit_id=ctx.body("commit_id"),
    )
    return ctx.render.review(r, issue, review)


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}", permissions=READ)
def get_review(ctx: Ctx, owner: str, repo: str, pull_number: str, review_id: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    return ctx.render.review(r, issue, ctx.fake.find_review(r, issue.number, int(review_id)))


@route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}", permissions=WRITE)
def update_review(ctx: Ctx, owner: str, repo: str, pull_number: str, review_id: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    review = ctx.fake.find_review(r, issue.number, int(review_id))
    if review.user.lower() != ctx.actor.lower():
        raise ApiError(403, "You can only edit your own reviews")
    ctx.fake.edit_review(r, issue.number, review.id, user=ctx.actor, body=ctx.body("body"))
    return ctx.render.review(r, issue, review)


@route(
    "PUT",
    "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/dismissals",
    permissions=WRITE,
)
def dismiss_review(ctx: Ctx, owner: str, repo: str, pull_number: str, review_id: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    review = ctx.fake.dismiss_review(
        r, issue.number, int(review_id), user=ctx.actor, message=ctx.body("message")
    )
    return ctx.render.review(r, issue, review)


# -- requested reviewers ------------------------------------------------------------------------
def _requested(ctx: Ctx, r: Repository, issue: Issue) -> dict[str, Any]:
    p = issue.pull
    assert p is not None
    teams = [t for slug in p.requested_teams if (t := ctx.state.team(r.owner, slug)) is not None]
    return {
        "users": [ctx.render.user(u) for u in p.requested_reviewers],
        "teams": [ctx.render.team(t) for t in teams],
    }


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", permissions=READ)
def get_requested_reviewers(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    return _requested(ctx, r, _pull(ctx, r, pull_number))


@route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", permissions=WRITE)
def request_reviewers(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    ctx.fake.request_reviewers(
        r,
        issue.number,
        user=ctx.actor,
        reviewers=ctx.body("reviewers") or [],
        team_reviewers=ctx.body("team_reviewers") or [],
    )
    return 201, ctx.render.pull(r, issue, simple=True)


@route("DELETE", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", permissions=WRITE)
def remove_requested_reviewers(ctx: Ctx, owner: str, repo: str, pull_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _pull(ctx, r, pull_number)
    p = issue.pull
    assert p is not None
    drop_users = {u.lower() for u in ctx.body("reviewers") or []}
    drop_teams = {t.lower() for t in ctx.body("team_reviewers") or []}
    p.requested_reviewers = [u for u in p.requested_reviewers if u.lower() not in drop_users]
    p.requested_teams = [t for t in p.requested_teams if t.lower() not in drop_teams]
    return ctx.render.pull(r, issue, simple=True)
