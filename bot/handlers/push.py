"""Pushes and membership changes: what changes who may approve, or which rules apply.

A push to the default branch that changes a CODEOWNERS file, and a change of team membership,
change who may approve exceptions: every open exception PR is judged again. Rules are cached by
commit SHA, which never changes meaning; the cache is simply dropped on default-branch pushes.
"""

from __future__ import annotations

from bot.events import Event, PushEvent
from bot.exemptions.review import CODEOWNERS_LOCATIONS
from bot.handlers import exception_review, pull_request
from bot.handlers.context import Context
from bot.store.tables import Installation


def on_push(event: PushEvent, ctx: Context) -> None:
    repo = event.repo
    if repo is None or event.ref != f"refs/heads/{repo.default_branch}":
        return
    pull_request._rules_cached.cache_clear()
    if any(path in CODEOWNERS_LOCATIONS for path in event.paths):
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
