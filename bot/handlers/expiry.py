"""The deadline sweep of one repository: cleanup PR, re-checks, reminders, the dashboard issue.

Reconciles rather than reacts: from the exceptions file of each base branch (the default branch,
and every branch open PRs merge into), the ledger and the clock it computes the desired state
(``bot.expiry.plan``) and makes GitHub match it; results that no longer stand are judged again
(``bot.handlers.rejudge``). Running it twice changes nothing the second time: one cleanup PR per
base branch on a fixed branch, updated in place and closed when no longer needed; each reminder
once per exception version and threshold; one dashboard issue found by its hidden marker and
edited only when its text changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot import expiry, ledger, standing
from bot.checking import Approval, Rules, check
from bot.engine.model import SourceFile
from bot.events import PullRequest, Repo
from bot.exemptions import parse, remove_entries, validate
from bot.exemptions.model import ExemptionEntry
from bot.exemptions.review import EXCEPTIONS_PATH, code_owners_of
from bot.forge.git import GitRepo
from bot.handlers import pull_request as compliance
from bot.handlers import rejudge
from bot.handlers.context import Context
from bot.notify import outbox
from bot.repoconfig import CONFIG_PATH, RepoConfig
from bot.store.tables import CheckRecord, ReminderSent

log = logging.getLogger(__name__)

CLEANUP_BRANCH = "compliance/cleanup-expired"
DASHBOARD_MARKER = "<!-- compliance-bot:dashboard -->"


def sweep_repo(ctx: Context, repo: Repo, *, now: datetime) -> dict[str, Any]:
    """Reconcile one repository with its exceptions' deadlines; returns what was (or, with
    ``DryRunActions``, would be) done.

    Every protected branch and every branch open PRs merge into is swept, not only the default
    branch: an exception on ``release/1.x`` expires like any other, with its own cleanup PR.
    """
    summary: dict[str, Any] = {
        "repository": repo.full_name,
        "dry_run": ctx.actions.dry_run,
        "actions": [],
        "expired": [],
        "reminders": [],
        "branches": {},
    }
    open_pulls = ctx.forge.open_pull_requests(repo)
    bases = {pr.base_ref for pr in open_pulls if _is_base(pr, repo)}
    bases |= set(ctx.forge.protected_branches(repo))
    branches = [repo.default_branch, *sorted(bases - {repo.default_branch})]
    approvals: dict[str, Approval] = {}  # of every branch, for the dashboard
    sent = _reminders_sent(ctx, repo)
    swept: dict[str, tuple[expiry.Plan, int | None]] = {}
    dashboard = False
    exclude: tuple[str, ...] = ()
    changed = False
    for branch in branches:
        on_branch = ledger.approvals(
            ctx.store, ctx.forge.name, repo.full_name, branch, repo.default_branch
        )
        approvals.update(on_branch)
        result = _sweep_branch(ctx, repo, branch, now, on_branch, sent, open_pulls, summary)
        if result is None:
            continue
        plan, cleanup, touched, config = result
        swept[branch] = (plan, cleanup)
        changed |= touched
        if branch == repo.default_branch:
            dashboard, exclude = config.dashboard, config.exclude
    if not ctx.actions.dry_run:  # a dry run may be planned for another time
        standing.record(
            ctx.store,
            ctx.forge.name,
            repo.full_name,
            {branch: plan for branch, (plan, _) in swept.items()},
            now,
            approvals=approvals,
            cleanups={branch: cleanup for branch, (_, cleanup) in swept.items()},
        )
    if changed and not ctx.actions.dry_run:
        open_pulls = ctx.forge.open_pull_requests(repo)  # a cleanup PR opened or closed
    for branch in branches:
        for number, why in rejudge.recheck_dependents(
            ctx, repo, branch, now=now, open_pulls=open_pulls
        ):
            summary["actions"].append(f"re-check #{number} ({why})")
    _reconcile(ctx, repo, open_pulls, summary)
    if dashboard:
        plan, cleanup = swept.get(repo.default_branch, (expiry.Plan(), None))
        others = {b: item for b, item in swept.items() if b != repo.default_branch}
        body = expiry.dashboard_body(
            plan,
            approvals,
            sigil=ctx.forge.change_sigil,
            now=now,
            cleanup_pr=cleanup,
            branch=repo.default_branch,
            others={b: item for b, item in others.items() if not item[0].empty},
            exclude=exclude,
        )
        _dashboard(ctx, repo, body, summary)
    return summary


def _is_base(pr: PullRequest, repo: Repo) -> bool:
    """A PR into a branch of this repository, other than the bot's own cleanup PRs."""
    return not pr.head_ref.startswith(CLEANUP_BRANCH)


def cleanup_branch(repo: Repo, base: str) -> str:
    """The fixed branch of the cleanup PR into ``base``: one per base branch."""
    return CLEANUP_BRANCH if base == repo.default_branch else f"{CLEANUP_BRANCH}-for/{base}"


def _sweep_branch(
    ctx: Context,
    repo: Repo,
    branch: str,
    now: datetime,
    approvals: Mapping[str, Approval],
    sent: set[tuple[str, str, int]],
    open_pulls: list[PullRequest],
    summary: dict[str, Any],
) -> tuple[expiry.Plan, int | None, bool, RepoConfig] | None:
    """Cleanup PR and reminders for one base branch: (plan, cleanup PR, whether a PR was opened
    or closed, the branch's config); None when its exceptions file can't be read."""
    mirror = ctx.forge.fetch(repo, [f"refs/heads/{branch}"])
    base_sha = mirror.resolve(f"refs/heads/{branch}")
    rules = compliance.rules_at(mirror, base_sha)
    if branch == repo.default_branch and not ctx.actions.dry_run:  # routes the notifier uses
        outbox.config_read(
            ctx.store,
            ctx.settings,
            repository=repo.full_name,
            default_branch=True,
            routes=rules.config.notifications,
            sha=base_sha,
            now=now,
            source=CONFIG_PATH,
        )
    text = _text(mirror.read_files(base_sha, [EXCEPTIONS_PATH]).get(EXCEPTIONS_PATH))
    if text is None:
        return (expiry.Plan(), None, False, rules.config)
    parsed, problems = parse(text)
    if parsed is None:
        summary.setdefault("errors", {})[branch] = "; ".join(str(p) for p in problems)
        if branch == repo.default_branch:
            summary["error"] = summary["errors"][branch]
        return None
    policies = {p.id: p for p in rules.policies}
    problems = problems + validate(parsed, policies, now)
    invalid = [
        (p.entry_id or "", p.message) for p in problems if p.code != "expired" and p.entry_id
    ]
    unused = _unused(mirror, base_sha, rules, now, ctx, repo, branch)
    plan = expiry.plan(
        parsed.entries,
        now=now,
        approvals=approvals,
        reminder_days=rules.config.reminder_days,
        reminders_sent=sent,
        unused_ids=unused,
        invalid=invalid,
    )
    summary["branches"][branch] = {
        "expired": [e.id for e in plan.expired],
        "reminders": [(e.id, days) for e, days in plan.reminders],
    }
    summary["expired"] += [e.id for e in plan.expired]
    summary["reminders"] += [(e.id, days) for e, days in plan.reminders]
    existing = _cleanup_pull(repo, branch, open_pulls)
    cleanup = _cleanup(
        ctx, repo, branch, mirror, base_sha, text, plan, approvals, now, summary, existing
    )
    _remind(ctx, repo, plan, approvals, now, summary)
    touched = cleanup is not None or existing is not None
    return plan, cleanup, touched, rules.config


def _cleanup_pull(repo: Repo, base: str, open_pulls: list[PullRequest]) -> int | None:
    """The open cleanup PR into ``base``: from its cleanup branch of this repository."""
    branch = cleanup_branch(repo, base)
    for pr in open_pulls:
        if pr.head_ref == branch and pr.base_ref == base and pr.head_repo in (None, repo.full_name):
            return pr.number
    return None


def _cleanup(
    ctx: Context,
    repo: Repo,
    base: str,
    mirror: GitRepo,
    base_sha: str,
    text: str,
    plan: expiry.Plan,
    approvals: Mapping[str, Approval],
    now: datetime,
    summary: dict[str, Any],
    existing: int | None,
) -> int | None:
    on = "" if base == repo.default_branch else f" into {base}"
    if not plan.expired:
        if existing is not None:
            summary["actions"].append(f"close cleanup PR #{existing}{on}")
            ctx.actions.close_pull(repo, existing, why="no expired exception left")
        return None
    ids = [e.id for e in plan.expired]
    title = expiry.cleanup_pr_title(len(ids))
    if base != repo.default_branch:
        title = f"{title} ({base})"
    body = expiry.cleanup_pr_body(plan.expired, approvals, sigil=ctx.forge.change_sigil)
    new_text = remove_entries(text, ids)
    branch = cleanup_branch(repo, base)
    if existing is not None and _holds(ctx, repo, existing, base_sha, new_text):
        return existing  # already removes exactly these, on the current base: nothing to do
    summary["actions"].append(
        f"{'update' if existing else 'open'} cleanup PR{on} removing {', '.join(ids)}"
    )
    number, _url = ctx.actions.open_change(
        repo,
        base_branch=base,
        base_sha=base_sha,
        base_tree=mirror.tree(base_sha),
        branch=branch,
        files={EXCEPTIONS_PATH: new_text},
        message=f"Remove expired exceptions: {', '.join(ids)}",
        title=title,
        body=body,
        request=f"cleanup:{branch}",
        why=f"expired: {', '.join(ids)}",
    )
    if existing is not None:
        ctx.actions.edit_pull(repo, number, title=title, body=body)
    requesters = sorted({e.requested_by for e in plan.expired if e.requested_by})
    # a courtesy: the exception-review check still guards the merge
    ctx.actions.request_reviewers(
        repo, number, requesters, _code_owner_teams(ctx, mirror, base_sha)
    )
    ctx.actions.record(
        "cleanup.updated",
        repository=repo.full_name,
        pull_request=number,
        sha=base_sha,
        details={"expired": ids, "branch": base, "entries": [_facts(e) for e in plan.expired]},
        at=now,
    )
    return number or existing


def _holds(ctx: Context, repo: Repo, number: int, base_sha: str, text: str) -> bool:
    """Does the open cleanup PR ``number`` already make exactly this change on this base?"""
    mirror = ctx.forge.fetch(repo, [ctx.forge.pull_ref(number)])
    head = mirror.resolve(ctx.forge.pull_ref(number))
    if mirror.resolve(f"{head}^1") != base_sha:
        return False
    return _text(mirror.read_files(head, [EXCEPTIONS_PATH]).get(EXCEPTIONS_PATH)) == text


def _reconcile(
    ctx: Context,
    repo: Repo,
    open_pulls: list[PullRequest],
    summary: dict[str, Any],
) -> None:
    """Open PRs whose head has no `compliance` result (a lost webhook) get one now."""
    if not open_pulls:
        return
    with ctx.store.session() as session:
        done = set(
            session.scalars(
                select(CheckRecord.head_sha).where(
                    CheckRecord.forge == ctx.forge.name,
                    CheckRecord.repository == repo.full_name,
                    CheckRecord.name == compliance.CHECK_NAME,
                    CheckRecord.conclusion.is_not(None),
                )
            )
        )
    for pr in open_pulls:
        if pr.head_sha not in done:
            summary["actions"].append(f"check #{pr.number} (no result for its head)")
            compliance.run_check(ctx, repo, compliance.Target.of_pull(pr, ctx.forge))


def _remind(
    ctx: Context,
    repo: Repo,
    plan: expiry.Plan,
    approvals: Mapping[str, Approval],
    now: datetime,
    summary: dict[str, Any],
) -> None:
    for entry, days in plan.reminders:
        approval = approvals.get(entry.content_hash())
        number = approval.pull_request if approval else None
        if number is None:
            continue  # no exception PR to remind on (unapproved entries show on the dashboard)
        summary["actions"].append(f"remind on #{number}: {entry.id} ({days} days)")
        ctx.actions.comment(
            repo,
            number,
            expiry.reminder_comment(entry, days, approval, now, sigil=ctx.forge.change_sigil),
            marker=expiry.reminder_marker(entry, days),  # posted before a crash: not again
            why=f"reminder: {entry.id} in {days} days",
        )
        ctx.actions.remember(
            ReminderSent(
                forge=ctx.forge.name,
                repository=repo.full_name,
                exception_id=entry.id,
                content_hash=entry.content_hash(),
                days=days,
                sent_at=now,
            ),
            "exception.reminded",
            repository=repo.full_name,
            pull_request=number,
            details={"days": days, **_facts(entry)},
            at=now,
        )


def _facts(entry: ExemptionEntry) -> dict[str, Any]:
    """What an audit event tells of an exception: enough for a person to act on it."""
    return {
        "exception": entry.id,
        "policy": entry.policy,
        "expires": entry.expires.isoformat(),
        "expires_as_written": entry.expires_text,
        "requested_by": entry.requested_by,
        "reason": entry.reason,
    }


def _dashboard(ctx: Context, repo: Repo, body: str, summary: dict[str, Any]) -> None:
    found = ctx.forge.find_issue(repo, DASHBOARD_MARKER)
    if found is None:
        summary["actions"].append("create the dashboard issue")
        ctx.actions.create_issue(repo, expiry.dashboard_title(), body)
        return
    number, current = found
    if current.strip() != body.strip():
        summary["actions"].append(f"update the dashboard issue #{number}")
        ctx.actions.edit_issue(repo, number, body=body)


def _reminders_sent(ctx: Context, repo: Repo) -> set[tuple[str, str, int]]:
    with ctx.store.session() as session:
        rows = session.scalars(
            select(ReminderSent).where(
                ReminderSent.forge == ctx.forge.name, ReminderSent.repository == repo.full_name
            )
        )
        return {(r.exception_id, r.content_hash, r.days) for r in rows}


def _unused(
    mirror: GitRepo,
    base_sha: str,
    rules: Rules,
    now: datetime,
    ctx: Context,
    repo: Repo,
    branch: str,
) -> set[str]:
    """Exceptions that match no finding anywhere on the branch."""
    paths = mirror.list_files(base_sha)
    contents = mirror.read_files(base_sha, paths)
    files = []
    for path, data in contents.items():
        try:
            files.append(SourceFile(path, data.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    verify = ledger.verifier(ctx.store, ctx.forge.name, repo.full_name, branch, repo.default_branch)
    report = check(rules, files, now=now, verify=verify)
    return {u.id for u in report.unused}


def _code_owner_teams(ctx: Context, mirror: GitRepo, base_sha: str) -> list[str]:
    locations = ctx.forge.codeowners_locations
    texts = mirror.read_files(base_sha, list(locations))
    where = next((p for p in locations if p in texts), None)
    if where is None:
        return []
    text = texts[where].decode("utf-8", "replace")
    return code_owners_of(text, where, ctx.forge.codeowners_flavor)[1]


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")
