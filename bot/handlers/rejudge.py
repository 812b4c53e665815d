"""Judge again the open PRs whose last `compliance` result no longer stands.

A result rests on the rules of its base branch at the time, recorded with it (``relied_on``: a
digest of the exceptions file, and the exceptions it applied by content hash). It stops standing
when

- an exception it applied changed or disappeared (revoked, narrowed, shortened, renewed) or is
  no longer live (its deadline passed, it lost its approval): a green PR must turn red;
- the repository's own rules it was judged by (``.compliance/config.yaml`` and
  ``.compliance/policies/``) changed: an ``enforce`` added, an exclusion approved;
- it failed on a policy for which an exception is live now that it didn't see (the exceptions
  file changed since, or ``policies`` names the policies of an exception PR that just merged and
  was recorded in the ledger): a red PR may turn green.

One mechanism for every way the rules change: a push to a base branch that touches the
exceptions file, the merge of an exception PR, and the deadline sweep (which also catches what a
lost webhook missed). It reconciles: running it twice re-judges nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from bot import ledger
from bot.checking import live_entries
from bot.events import PullRequest, Repo
from bot.handlers import pull_request as compliance
from bot.handlers.context import Context
from bot.store.tables import CheckRecord


def stale_heads(
    ctx: Context,
    repo: Repo,
    branch: str,
    *,
    now: datetime,
    policies: Iterable[str] = (),
) -> dict[str, str]:
    """head SHA -> why, for the `compliance` results on ``branch`` that no longer stand."""
    on_branch = CheckRecord.base_ref == branch
    if branch == repo.default_branch:  # results recorded before base branches were kept
        on_branch = on_branch | CheckRecord.base_ref.is_(None)
    with ctx.store.session() as session:
        records = list(
            session.scalars(
                select(CheckRecord).where(
                    CheckRecord.forge == ctx.forge.name,
                    CheckRecord.repository == repo.full_name,
                    CheckRecord.name == compliance.CHECK_NAME,
                    CheckRecord.conclusion.is_not(None),
                    on_branch,
                )
            )
        )
    if not records:
        return {}  # nothing was judged against this branch: no need to fetch it
    mirror = ctx.forge.fetch(repo, [f"refs/heads/{branch}"])
    base_sha = mirror.resolve(f"refs/heads/{branch}")
    rules = compliance.rules_at(mirror, base_sha)
    digest = compliance.file_digest(rules.exemptions_text)
    verify = ledger.verifier(ctx.store, ctx.forge.name, repo.full_name, branch, repo.default_branch)
    live = live_entries(rules, now, verify)
    live_hashes = {e.content_hash() for e in live}
    live_policies = {e.policy for e in live}
    merged_policies = set(policies)
    stale: dict[str, str] = {}
    for record in records:
        basis = record.relied_on or {}
        gone = [
            a.get("id", "?")
            for a in basis.get("applied", ())
            if isinstance(a, dict) and a.get("hash") not in live_hashes
        ]
        if gone:
            ids = ", ".join(sorted(gone))
            stale[record.head_sha] = (
                f"exception {ids} no longer applies"
                if len(gone) == 1
                else f"exceptions {ids} no longer apply"
            )
            continue
        if basis.get("rules") not in (None, rules.digest):  # results from before: not known
            stale[record.head_sha] = "the repository's config or policies changed"
            continue
        if record.conclusion != "failure":
            continue
        failed_on = set(record.policies or ())
        if failed_on & merged_policies:
            stale[record.head_sha] = "an exception for its findings was approved"
        elif failed_on & live_policies and basis.get("file") != digest:
            stale[record.head_sha] = "the exceptions file changed"
    return stale


def recheck_dependents(
    ctx: Context,
    repo: Repo,
    branch: str,
    *,
    now: datetime | None = None,
    policies: Iterable[str] = (),
    open_pulls: list[PullRequest] | None = None,
) -> list[tuple[int, str]]:
    """Re-judge the open PRs into ``branch`` whose result no longer stands; returns (PR, why)."""
    stale = stale_heads(ctx, repo, branch, now=now or ctx.now(), policies=policies)
    if not stale:
        return []
    pulls = open_pulls if open_pulls is not None else ctx.forge.open_pull_requests(repo)
    done = []
    for pr in pulls:
        if pr.base_ref == branch and pr.head_sha in stale:
            done.append((pr.number, stale[pr.head_sha]))
            compliance.run_check(ctx, repo, compliance.Target.of_pull(pr, ctx.forge))
    return done
