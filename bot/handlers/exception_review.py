"""Exception PRs: the ``compliance/exception-review`` check, and the ledger when they merge.

A PR that changes ``.compliance/exceptions.yaml`` gets a second check beside ``compliance``. Its
verdict is decided by ``bot.exemptions.review`` from facts gathered here: the base's CODEOWNERS,
policies and config, the file at base and head, the PR's reviews and commit people (co-authors
too), team members, and the public profiles of approvers when a commit credits a co-author.
When such a PR merges with a passing verdict, its added and changed entries go into the ledger,
and open PRs whose results no longer stand are judged again (``bot.handlers.rejudge``): those
that failed on its policies turn green without a push, those that relied on an entry it changed
or removed turn red.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import datetime

from sqlalchemy import select

from bot import approvals, ledger, locks
from bot.dashboard import links
from bot.engine.loader import bundled_packs
from bot.events import PullRequest, PullRequestEvent, Repo, ReviewEvent
from bot.exemptions import parse
from bot.exemptions.review import (
    EXCEPTIONS_PATH,
    ReviewFacts,
    ReviewVerdict,
    review,
    review_config,
)
from bot.forge.base import Annotation, CheckOutput
from bot.forge.git import GitRepo
from bot.handlers import pull_request as compliance
from bot.handlers import rejudge, status
from bot.handlers.context import Context
from bot.repoconfig import CONFIG_PATH, Loosening, loosenings, parse_config
from bot.store.tables import AuditEvent

log = logging.getLogger(__name__)

REVIEW_CHECK = "compliance/exception-review"


def on_pull_request(event: PullRequestEvent, ctx: Context) -> None:
    pr = event.pull_request
    assert pr is not None and event.repo is not None
    if event.action == "closed":
        if pr.merged:
            on_merged(ctx, event.repo, pr, actor=pr.merged_by or event.sender)
        return
    if event.action == "edited" and "base" not in event.changes:
        return
    if pr.state == "open":
        evaluate(ctx, event.repo, pr)


def on_review(event: PullRequestEvent, ctx: Context) -> None:
    """``pull_request_review`` submitted, edited or dismissed: the approvals changed.

    Where the forge doesn't keep the commit an approval was given on (GitLab), the webhook's
    head is recorded first (``bot.approvals``): an approval the bot never saw can't count."""
    pr = event.pull_request
    assert pr is not None and event.repo is not None
    if isinstance(event, ReviewEvent) and event.reviewer:
        where = {"forge": ctx.forge.name, "repository": event.repo.full_name}
        if event.state == "APPROVED" and event.commit_id:
            approvals.record(
                ctx.store,
                **where,
                pull_request=pr.number,
                login=event.reviewer,
                head_sha=event.commit_id,
                at=ctx.now(),
            )
        elif event.state == "DISMISSED":
            approvals.forget(ctx.store, **where, pull_request=pr.number, login=event.reviewer)
    if pr.state == "open":
        evaluate(ctx, event.repo, pr)


def recheck_exception_prs(ctx: Context, repo: Repo) -> None:
    """CODEOWNERS or team membership changed: every open exception PR is judged again."""
    for pr in ctx.forge.open_pull_requests(repo):
        evaluate(ctx, repo, pr)


def evaluate(ctx: Context, repo: Repo, pr: PullRequest) -> ReviewVerdict | None:
    """Post the review check for an open PR that changes the exceptions file (else nothing)."""
    if not pr.author:  # a webhook that names no author (GitLab's approval hooks): ask
        pr = ctx.forge.pull_request(repo, pr.number)
    key = f"review:{ctx.forge.name}:{repo.full_name}:{pr.head_sha}"
    with locks.hold(ctx.store, key):
        mirror = ctx.forge.fetch(repo, [f"refs/heads/{pr.base_ref}", ctx.forge.pull_ref(pr.number)])
        base_sha = mirror.resolve(f"refs/heads/{pr.base_ref}")
        verdict = _verdict(ctx, repo, pr, mirror, base_sha, pr.head_sha)
        if verdict is None:
            return None
        details_url = links.check_details_url(
            ctx.settings, ctx.forge.name, repo.full_name, pr.head_sha, REVIEW_CHECK
        )
        output = _output(verdict, pr, details_url)
        forged = status.forged_statuses(ctx, repo, pr.head_sha)
        if forged:  # someone posted a status under the bot's name on this head: fail, say who
            output = status.overridden(output, forged, ctx.forge.name)
        ctx.actions.post_check(
            repo,
            pr.head_sha,
            output,
            pull_request=pr.number,
            details={
                "check_kind": "exception-review",
                "verdict": verdict.conclusion,
                "approvers": list(verdict.approvers),
                "reasons": list(verdict.reasons),
                "changes": [f"{c.kind}:{c.id}" for c in verdict.changes],
                "forged_statuses": [f.to_json() for f in forged],
            },
            report=json.dumps({"check": output.name, "summary": output.summary}),
        )
        for entry_id in verdict.capped:  # a bypass signal: someone tries to renew past the cap
            ctx.actions.record(
                "exception.renewal_capped",
                actor=pr.author or "unknown",
                repository=repo.full_name,
                pull_request=pr.number,
                sha=pr.head_sha,
                details={
                    "exception": entry_id,
                    "policy": next((c.policy for c in verdict.changes if c.id == entry_id), None),
                    "max_renewals": _max_renewals(ctx, mirror, base_sha),
                    "reason": "renewal past exceptions.max_renewals",
                },
            )
        return verdict


def _max_renewals(ctx: Context, mirror: GitRepo, base_sha: str) -> int:
    return compliance.rules_at(mirror, base_sha).config.max_renewals


def _verdict(
    ctx: Context,
    repo: Repo,
    pr: PullRequest,
    mirror: GitRepo,
    base_sha: str,
    head_sha: str,
    now: datetime | None = None,
) -> ReviewVerdict | None:
    merge_base = mirror.merge_base(base_sha, head_sha)
    changed = [c.path for c in mirror.changed_files(merge_base, head_sha)]
    rules = compliance.rules_at(mirror, base_sha)
    loosened: list[Loosening] = []
    head_config = None
    if EXCEPTIONS_PATH not in changed:
        if CONFIG_PATH not in changed:
            return None
        head_config = parse_config(
            _text(mirror.read_files(head_sha, [CONFIG_PATH]).get(CONFIG_PATH))
        )
        loosened = loosenings(
            rules.config, head_config, [p.id for p in rules.policies], bundled_packs()
        )
        if not loosened and not head_config.errors:
            return None  # it only tightens the rules (or changes nothing they depend on)
    locations = ctx.forge.codeowners_locations
    texts = mirror.read_files(base_sha, [EXCEPTIONS_PATH, *locations])
    codeowners_path = next((p for p in locations if p in texts), None)
    head_text = mirror.read_files(head_sha, [EXCEPTIONS_PATH]).get(EXCEPTIONS_PATH)
    people = ctx.forge.commit_people(repo, pr.number)
    facts = ReviewFacts(
        pr_number=pr.number,
        author=pr.author,
        head_sha=head_sha,
        changed_paths=tuple(changed),
        commit_people=people.logins,
        base_exceptions_text=_text(texts.get(EXCEPTIONS_PATH)),
        head_exceptions_text=_text(head_text),
        codeowners_path=codeowners_path,
        codeowners_text=_text(texts.get(codeowners_path)) if codeowners_path else None,
        codeowners_errors=tuple(ctx.forge.codeowners_errors(repo, base_sha)),
        reviews=tuple(ctx.forge.reviews(repo, pr.number)),
        co_authors=people.co_authors,
        codeowners_flavor=ctx.forge.codeowners_flavor,
    )
    team_members = functools.cache(ctx.forge.team_members)
    profiles = functools.cache(ctx.forge.profile)  # one GET per approving reviewer at most
    # asked only under GitLab's CODEOWNERS semantics (so never of GitHub), at most once each
    role_members = functools.cache(lambda role: ctx.forge.role_members(repo, role))
    approval_rules = functools.cache(lambda: ctx.forge.approval_rules(repo, pr.number))
    if head_config is not None:  # a config change that loosens the rules (or breaks the file)
        return review_config(
            facts,
            loosened,
            head_config.errors,
            rules.config,
            team_members,
            profiles=profiles,
            role_members=role_members,
            approval_rules=approval_rules,
        )
    return review(
        facts,
        {p.id: p for p in rules.policies},
        rules.config,
        now or ctx.now(),
        team_members,
        lambda entry_id: ledger.renewals(ctx.store, ctx.forge.name, repo.full_name, entry_id),
        profiles=profiles,
        role_members=role_members,
        approval_rules=approval_rules,
    )


def on_merged(ctx: Context, repo: Repo, pr: PullRequest, *, actor: str) -> None:
    """Record what an approved exception PR added or changed; audit one merged without approval."""
    if not pr.merge_sha:
        return
    mirror = ctx.forge.fetch(repo, [f"refs/heads/{pr.base_ref}", ctx.forge.pull_ref(pr.number)])
    parent = mirror.resolve(f"{pr.merge_sha}^1")
    verdict = _verdict(ctx, repo, pr, mirror, parent, pr.head_sha)
    if verdict is None:
        return
    record_verdict(ctx, repo, pr, mirror, verdict, actor=actor, now=ctx.now())
    # the ledger now holds the approval: PRs that failed on these policies may pass, and PRs
    # that relied on an entry this PR changed or removed must be judged again
    rejudge.recheck_dependents(ctx, repo, pr.base_ref, policies=_policies_of(verdict))


def record_verdict(
    ctx: Context,
    repo: Repo,
    pr: PullRequest,
    mirror: GitRepo,
    verdict: ReviewVerdict,
    *,
    actor: str,
    now: datetime,
    source: str = "merge",
) -> int:
    """Ledger rows for an approved merge; an audit event (and no row) for an unapproved one.

    A merged config loosening is audited either way: ``config.loosened`` with its approvers, or
    ``config.merged_unapproved`` (a bypass signal) when it merged without a passing review.
    """
    if verdict.loosenings:
        passed = verdict.conclusion == "success"
        action = "config.loosened" if passed else "config.merged_unapproved"
        # once per merge: a retried job (a later step failed) must not audit, so notify, twice
        if source == "merge" and not _audited(ctx, action, repo, pr.number):
            ctx.actions.record(
                action,
                actor=actor or "unknown",
                repository=repo.full_name,
                pull_request=pr.number,
                sha=pr.merge_sha,
                details={
                    "loosenings": list(verdict.loosenings),
                    "approvers": list(verdict.approvers) if passed else [],
                    "reasons": [] if passed else list(verdict.reasons),
                    "base_ref": pr.base_ref,
                },
                at=now,
            )
        return 0
    touched = [c for c in verdict.changes if c.kind in ("added", "changed")]
    if verdict.conclusion != "success":
        ctx.actions.record(
            "exception.merged_unapproved",
            actor=actor or "unknown",
            repository=repo.full_name,
            pull_request=pr.number,
            sha=pr.merge_sha,
            details={"entries": [c.id for c in touched], "reasons": list(verdict.reasons)},
            at=now,
        )
        return 0
    merged_text = mirror.read_files(pr.merge_sha or pr.head_sha, [EXCEPTIONS_PATH]).get(
        EXCEPTIONS_PATH
    )
    parsed, _ = parse(_text(merged_text) or "")
    by_id = {e.id: e for e in (parsed.entries if parsed else ())}
    approved = [
        ledger.Approved(by_id[c.id], renewal=c.renewal)
        for c in touched
        if c.id in by_id and by_id[c.id].content_hash() == c.content_hash
    ]
    rows = ledger.record_merge(
        ctx.store,
        forge=ctx.forge.name,
        repository=repo.full_name,
        pull_request=pr.number,
        merge_sha=pr.merge_sha or pr.head_sha,
        merged_at=pr.merged_at or now,
        entries=approved,
        approvers=verdict.approvers,
        actor=actor or "unknown",
        now=now,
        source=source,
        base_ref=pr.base_ref,
    )
    for change in verdict.changes if source == "merge" else ():  # a rebuild only replays
        if change.kind == "removed":  # its approval ends here: revoked, or cleaned up expired
            ctx.actions.record(
                "exception.revoked",
                actor=actor or "unknown",
                repository=repo.full_name,
                pull_request=pr.number,
                sha=pr.merge_sha,
                details={
                    "exception": change.id,
                    "policy": change.policy,
                    "expires_as_written": change.expires,
                },
                at=now,
            )
    return len(rows)


def _audited(ctx: Context, action: str, repo: Repo, number: int) -> bool:
    """Whether ``action`` was already audited for this pull request."""
    with ctx.store.session() as session:
        found = session.scalar(
            select(AuditEvent.id).where(
                AuditEvent.action == action,
                AuditEvent.repository == repo.full_name,
                AuditEvent.pull_request == number,
            )
        )
    return found is not None


def _policies_of(verdict: ReviewVerdict) -> set[str]:
    return {c.policy for c in verdict.changes if c.policy}


def _output(verdict: ReviewVerdict, pr: PullRequest, details_url: str | None) -> CheckOutput:
    return CheckOutput(
        name=REVIEW_CHECK,
        title=verdict.title,
        summary=verdict.summary,
        conclusion=None if verdict.conclusion == "pending" else verdict.conclusion,
        annotations=tuple(
            Annotation(a.path, a.line, a.line, a.level, a.message, "exception review")
            for a in verdict.annotations
        ),
        details_url=details_url,
        external_id=f"{pr.number}:{pr.head_sha}:review",
    )


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def rebuild_ledger(ctx: Context, repo: Repo) -> dict[str, int]:
    """Rebuild the ledger of a repository from forge history (merged PRs and their reviews).

    Every merged PR into the default branch that changed the exceptions file is judged again as
    of its merge (its reviews, the CODEOWNERS and policies of its base); entries of approved ones
    are recorded. Entries that reached the branch another way stay unrecorded, so unapproved.
    """
    branch = repo.default_branch
    mirror = ctx.forge.fetch(repo, [f"refs/heads/{branch}"])
    merged = [pr for pr in ctx.forge.merged_pull_requests(repo, branch) if pr.merge_sha]
    touching = []
    for pr in merged:
        try:
            parent = mirror.resolve(f"{pr.merge_sha}^1")
        except Exception:
            continue  # not on this branch any more (force-pushed away)
        merged_paths = [c.path for c in mirror.changed_files(parent, pr.merge_sha or pr.head_sha)]
        if EXCEPTIONS_PATH in merged_paths:
            touching.append((pr, parent))
    if touching:
        mirror = ctx.forge.fetch(
            repo, [f"refs/heads/{branch}", *(ctx.forge.pull_ref(pr.number) for pr, _ in touching)]
        )
    counts = {"pull_requests": len(touching), "recorded": 0, "unapproved": 0}
    for pr, parent in sorted(touching, key=lambda item: item[0].merged_at or ctx.now()):
        when = pr.merged_at or ctx.now()
        verdict = _verdict(ctx, repo, pr, mirror, parent, pr.head_sha, now=when)
        if verdict is None:
            continue
        if verdict.conclusion != "success":
            counts["unapproved"] += 1
        counts["recorded"] += record_verdict(
            ctx, repo, pr, mirror, verdict, actor="ledger-rebuild", now=when, source="rebuild"
        )
    return counts
