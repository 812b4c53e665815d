"""Issue REST endpoints: issues, issue comments, reactions on comments, and labels."""

from __future__ import annotations

from typing import Any

from ..auth import ApiError, not_found
from ..router import ROUTER
from ..server import Ctx
from ..state import Issue, IssueComment, Repository

route = ROUTER.route
# Issue endpoints accept either permission when the number is a pull request; the fake accepts
# either in both cases, which is what an App with both permissions sees.
READ = ("issues:read", "pull_requests:read")
WRITE = ("issues:write", "pull_requests:write")


def _issue(ctx: Ctx, r: Repository, number: str) -> Issue:
    try:
        issue = r.issues.get(int(number))
    except ValueError:
        issue = None
    if issue is None:
        raise not_found()
    return issue


def _comment(ctx: Ctx, r: Repository, comment_id: str) -> IssueComment:
    comment = ctx.state.comments.get(int(comment_id))
    if comment is None or comment.repo.lower() != r.full_name.lower():
        raise not_found()
    return comment


@route("GET", "/repos/{owner}/{repo}/issues", permissions=READ)
def list_issues(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    state = ctx.arg("state", "open")
    labels = [x.strip().lower() for x in (ctx.arg("labels") or "").split(",") if x.strip()]
    creator = (ctx.arg("creator") or "").lower()
    if creator.startswith("app/"):
        creator = creator.removeprefix("app/") + "[bot]"
    found = []
    for issue in r.issues.values():
        if state != "all" and issue.state != state:
            continue
        if creator and issue.user.lower() != creator:
            continue
        have = {x.lower() for x in issue.labels}
        if labels and not set(labels) <= have:
            continue
        found.append(issue)
    sort = ctx.arg("sort", "created")
    key = {
        "created": lambda i: i.created_at,
        "updated": lambda i: i.updated_at,
        "comments": lambda i: len(i.comments),
    }.get(sort or "created", lambda i: i.created_at)
    found.sort(key=lambda i: (key(i), i.number), reverse=ctx.arg("direction", "desc") == "desc")
    # Like GitHub, the issue list includes pull requests (they carry `pull_request`).
    return ctx.page(found, lambda i: ctx.render.issue(r, i))


@route("POST", "/repos/{owner}/{repo}/issues", permissions=("issues:write",))
def create_issue(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    title = ctx.body("title")
    if title in (None, ""):
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "Issue", "field": "title", "code": "missing_field"}],
        )
    issue = ctx.fake.create_issue(
        r,
        title=str(title),
        body=ctx.body("body"),
        user=ctx.actor,
        labels=[_label_name(x) for x in ctx.body("labels") or []],
        app_id=ctx.app_id,
    )
    return 201, ctx.render.issue(r, issue)


def _label_name(label: Any) -> str:
    return label["name"] if isinstance(label, dict) else str(label)


@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}", permissions=READ)
def get_issue(ctx: Ctx, owner: str, repo: str, issue_number: str) -> Any:
    r = ctx.repo(owner, repo)
    return ctx.render.issue(r, _issue(ctx, r, issue_number))


@route("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}", permissions=WRITE)
def update_issue(ctx: Ctx, owner: str, repo: str, issue_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _issue(ctx, r, issue_number)
    labels = ctx.body("labels")
    ctx.fake.edit_issue(
        r,
        issue.number,
        user=ctx.actor,
        title=ctx.body("title"),
        body=ctx.body("body"),
        state=ctx.body("state"),
        state_reason=ctx.body("state_reason"),
        labels=[_label_name(x) for x in labels] if labels is not None else None,
    )
    return ctx.render.issue(r, issue)


# -- comments ---------------------------------------------------------------------------------
@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", permissions=READ)
def list_comments(ctx: Ctx, owner: str, repo: str, issue_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _issue(ctx, r, issue_number)
    comments = [ctx.state.comments[c] for c in issue.comments]
    return ctx.page(comments, lambda c: ctx.render.comment(r, c))


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", permissions=WRITE)
def create_comment(ctx: Ctx, owner: str, repo: str, issue_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _issue(ctx, r, issue_number)
    comment = ctx.fake.comment(r, issue.number, ctx.body("body"), user=ctx.actor, app_id=ctx.app_id)
    return 201, ctx.render.comment(r, comment)


@route("GET", "/repos/{owner}/{repo}/issues/comments", permissions=READ)
def list_repo_comments(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    comments = [c for c in ctx.state.comments.values() if c.repo.lower() == r.full_name.lower()]
    comments.sort(key=lambda c: c.id, reverse=ctx.arg("direction", "asc") == "desc")
    return ctx.page(comments, lambda c: ctx.render.comment(r, c))


@route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}", permissions=READ)
def get_comment(ctx: Ctx, owner: str, repo: str, comment_id: str) -> Any:
    r = ctx.repo(owner, repo)
    return ctx.render.comment(r, _comment(ctx, r, comment_id))


@route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", permissions=WRITE)
def update_comment(ctx: Ctx, owner: str, repo: str, comment_id: str) -> Any:
    r = ctx.repo(owner, repo)
    comment = _comment(ctx, r, comment_id)
    _require_author_or_writer(ctx, r, comment)
    ctx.fake.edit_comment(comment.id, ctx.body("body"), user=ctx.actor)
    return ctx.render.comment(r, comment)


@route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}", permissions=WRITE)
def delete_comment(ctx: Ctx, owner: str, repo: str, comment_id: str) -> Any:
    r = ctx.repo(owner, repo)
    comment = _comment(ctx, r, comment_id)
    _require_author_or_writer(ctx, r, comment)
    ctx.fake.delete_comment(comment.id, user=ctx.actor)
    return 204, None


def _require_author_or_writer(ctx: Ctx, r: Repository, comment: IssueComment) -> None:
    if (
        ctx.principal.kind == "user"
        and comment.user.lower() != ctx.actor.lower()
        and ctx.state.user_permission(r, ctx.actor) in ("none", "read", "triage")
    ):
        raise ApiError(403, "Must have admin rights to Repository.")


# -- reactions ----------------------------------------------------------------------------------
@route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", permissions=READ)
def list_reactions(ctx: Ctx, owner: str, repo: str, comment_id: str) -> Any:
    r = ctx.repo(owner, repo)
    comment = _comment(ctx, r, comment_id)
    content = ctx.arg("content")
    reactions = [x for x in comment.reactions if content is None or x.content == content]
    return ctx.page(reactions, ctx.render.reaction)


@route("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", permissions=WRITE)
def create_reaction(ctx: Ctx, owner: str, repo: str, comment_id: str) -> Any:
    r = ctx.repo(owner, repo)
    comment = _comment(ctx, r, comment_id)
    reaction, created = ctx.fake.react(comment.id, ctx.body("content"), user=ctx.actor)
    return (201 if created else 200), ctx.render.reaction(reaction)


# -- labels ---------------------------------------------------------------------------------------
@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/labels", permissions=READ)
def list_labels(ctx: Ctx, owner: str, repo: str, issue_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _issue(ctx, r, issue_number)
    return ctx.page([r.labels[n.lower()] for n in issue.labels], lambda x: ctx.render.label(r, x))


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels", permissions=WRITE)
def add_labels(ctx: Ctx, owner: str, repo: str, issue_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _issue(ctx, r, issue_number)
    body = ctx.json
    names = body.get("labels", []) if isinstance(body, dict) else body
    ctx.fake.add_labels(r, issue.number, [_label_name(x) for x in names], user=ctx.actor)
    return [ctx.render.label(r, r.labels[n.lower()]) for n in issue.labels]


@route("PUT", "/repos/{owner}/{repo}/issues/{issue_number}/labels", permissions=WRITE)
def set_labels(ctx: Ctx, owner: str, repo: str, issue_number: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _issue(ctx, r, issue_number)
    body = ctx.json
    names = body.get("labels", []) if isinstance(body, dict) else body
    ctx.fake.edit_issue(r, issue.number, user=ctx.actor, labels=[_label_name(x) for x in names])
    return [ctx.render.label(r, r.labels[n.lower()]) for n in issue.labels]


@route("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", permissions=WRITE)
def remove_label(ctx: Ctx, owner: str, repo: str, issue_number: str, name: str) -> Any:
    r = ctx.repo(owner, repo)
    issue = _issue(ctx, r, issue_number)
    if name.lower() not in {x.lower() for x in issue.labels}:
        raise ApiError(404, "Label does not exist")
    issue.labels = [x for x in issue.labels if x.lower() != name.lower()]
    return [ctx.render.label(r, r.labels[n.lower()]) for n in issue.labels]
