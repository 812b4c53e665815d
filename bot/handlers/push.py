"""Pushes and membership changes: what changes who may approve, or which rules apply.

A push to any branch that changes its exceptions file, config or policies (a merge, a revert, a
direct or admin push) re-judges the open PRs into that branch whose results no longer stand
(``bot.handlers.rejudge``). A push to the default branch that changes a CODEOWNERS file or the
config, and a change of team membership, change who may approve exceptions (or how many must):
every open exception PR is judged again. Rules are cached by commit SHA, which never changes
meaning.
"""

from __future__ import annotations

from bot import ledger
from bot.events import Event, PushEvent, Repo
from bot.exemptions import parse
from bot.exemptions.review import CODEOWNERS_LOCATIONS, EXCEPTIONS_PATH
from bot.forge.git import GitError, GitRepo
from bot.handlers import exception_review, rejudge
from bot.handlers.context import Context
from bot.repoconfig import CONFIG_PATH, POLICIES_DIR
from bot.store.tables import Installation


def on_push(event: PushEvent, ctx: Context) -> None:
    repo = event.repo
    if repo is None or not event.ref.startswith("refs/heads/") or set(event.after) == {"0"}:
        return
    branch = event.ref.removeprefix("refs/heads/")
    # a push that lists no paths (a force-push to an older commit, a huge push) may have
    # changed anything
    unknown = not event.paths and event.before != event.after
    rules_changed = any(p == CONFIG_PATH or p.startswith(POLICIES_DIR + "/") for p in event.paths)
    if unknown or EXCEPTIONS_PATH in event.paths:
        retire_removed(ctx, repo, branch, event)
    if unknown or EXCEPTIONS_PATH in event.paths or rules_changed:
        rejudge.recheck_dependents(ctx, repo, branch)
    if branch == repo.default_branch and any(
        p in CODEOWNERS_LOCATIONS or p == CONFIG_PATH for p in event.paths
    ):  # who approves, or how many must: every open review is judged again
        exception_review.recheck_exception_prs(ctx, repo)


def retire_removed(ctx: Context, repo: Repo, branch: str, event: PushEvent) -> list[str]:
    """Exceptions whose exact content left the branch's file in this push (revoked, narrowed,
    renewed, cleaned up, by a PR or directly) lose their approval there: pushing the same
    content back later is an unapproved exception, not a resurrected one."""
    mirror = ctx.forge.fetch(repo, [f"refs/heads/{branch}"])
    try:
        before = _entries(mirror, mirror.resolve(event.before))
    except GitError:
        return []  # a new branch, or a force-push whose old head is gone: nothing to compare
    after = _entries(mirror, event.after)
    gone = {h: i for h, i in before.items() if h not in after}
    if not gone:
        return []
    return ledger.retire(
        ctx.store,
        forge=ctx.forge.name,
        repository=repo.full_name,
        branch=branch,
        default_branch=repo.default_branch,
        gone=gone,
        by=f"push {event.before[:7]}..{event.after[:7]} by {event.sender or 'unknown'}",
        actor=event.sender or "unknown",
        now=ctx.now(),
    )


def _entries(mirror: GitRepo, sha: str) -> dict[str, str]:
    """content hash -> id of the exceptions file's entries at a commit (none if unreadable)."""
    data = mirror.read_files(sha, [EXCEPTIONS_PATH]).get(EXCEPTIONS_PATH)
    parsed, _ = parse(data.decode("utf-8", "replace")) if data is not None else (None, [])
    return {e.content_hash(): e.id for e in parsed.entries} if parsed else {}


def on_membership(event: Event, ctx: Context) -> None:
    if event.installation_id is None:
        return

    with ctx.store.session() as session:
        row = session.get(Installation, event.installation_id)
        repositories = list(row.repositories) if row else []
    for full_name in repositories:
        exception_review.recheck_exception_prs(ctx, Repo(full_name))
