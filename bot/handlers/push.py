"""Pushes and membership changes: what changes who may approve, or which rules apply.

A push to any branch that changes its exceptions file (a merge, a revert, a direct or admin
push) re-judges the open PRs into that branch whose results no longer stand
(``bot.handlers.rejudge``). A push to the default branch that changes a CODEOWNERS file, and a
change of team membership, change who may approve exceptions: every open exception PR is judged
again. Rules are cached by commit SHA, which never changes meaning.
"""

from __future__ import annotations

from bot.events import Event, PushEvent
from bot.exemptions.review import CODEOWNERS_LOCATIONS, EXCEPTIONS_PATH
from bot.handlers import exception_review, rejudge
from bot.handlers.context import Context
from bot.store.tables import Installation


def on_push(event: PushEvent, ctx: Context) -> None:
    repo = event.repo
    if repo is None or not event.ref.startswith("refs/heads/") or set(event.after) == {"0"}:
        return
    branch = event.ref.removeprefix("refs/heads/")
    # a push that lists no paths (a force-push to an older commit, a huge push) may have
    # changed anything
    unknown = not event.paths and event.before != event.after
    if unknown or EXCEPTIONS_PATH in event.paths:
        rejudge.recheck_dependents(ctx, repo, branch)
    if branch == repo.default_branch and any(p in CODEOWNERS_LOCATIONS for p in event.paths):
        exception_review.recheck_exception_prs(ctx, repo)


def on_membership(event: Event, ctx: Context) -> None:
    if event.installation_id is None:
        return
    from bot.events import Repo

    with ctx.store.session() as session:
        row = session.get(Installation, event.installation_id)
        repositories = list(row.repositories) if row else []
    for full_name in repositories:
        exception_review.recheck_exception_prs(ctx, Repo(full_name))
