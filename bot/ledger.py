"""The approval ledger and provenance: which exception contents were approved, by whom, where.

When an exception PR merges with a passing review, each added or changed entry is recorded with
the hash of its canonical content, its approvers and the PR. Later, an exception on the default
branch is honoured only if its exact content hash is in the ledger (DESIGN §5 item 6): an entry
pushed directly, or merged by an admin without approval, is ignored and reported. The ledger can
be rebuilt from forge history, so losing the database loses no approval.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot import audit
from bot.checking import Approval, Verifier
from bot.exemptions.model import ExemptionEntry
from bot.store import Store
from bot.store.tables import LedgerEntry


@dataclass(frozen=True)
class Approved:
    """One entry as the merged PR had it, with whether it was a renewal."""

    entry: ExemptionEntry
    renewal: bool = False


def record_merge(
    store: Store,
    *,
    forge: str,
    repository: str,
    pull_request: int,
    merge_sha: str,
    merged_at: datetime,
    entries: Iterable[Approved],
    approvers: Iterable[str],
    actor: str,
    now: datetime,
    source: str = "merge",
    base_ref: str | None = None,
) -> list[LedgerEntry]:
    """Record the entries a merged exception PR added or changed (idempotent per PR); the
    approval holds on ``base_ref``, the branch the PR merged into."""
    approvers = sorted(set(approvers), key=str.lower)
    recorded = []
    for item in entries:
        entry = item.entry
        with store.session() as session:
            exists = session.scalar(
                select(LedgerEntry).where(
                    LedgerEntry.forge == forge,
                    LedgerEntry.repository == repository,
                    LedgerEntry.content_hash == entry.content_hash(),
                    LedgerEntry.pull_request == pull_request,
                )
            )
            if exists is not None:
                continue
            previous = session.scalar(
                select(func.max(LedgerEntry.renewal_count)).where(
                    LedgerEntry.forge == forge,
                    LedgerEntry.repository == repository,
                    LedgerEntry.exception_id == entry.id,
                )
            )
            count = (previous or 0) + (1 if item.renewal else 0)
            row = LedgerEntry(
                forge=forge,
                repository=repository,
                exception_id=entry.id,
                policy=entry.policy,
                content_hash=entry.content_hash(),
                approvers=approvers,
                pull_request=pull_request,
                merge_sha=merge_sha,
                merged_at=merged_at,
                renewal_count=count,
                requested_by=entry.requested_by,
                source=source,
                recorded_at=now,
                base_ref=base_ref,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # recorded concurrently by a redelivery: fine
                session.rollback()
                continue
            audit.record(
                session,
                actor=actor,
                action="exception.approved" if source == "merge" else "exception.rebuilt",
                repository=repository,
                pull_request=pull_request,
                sha=merge_sha,
                details={
                    "exception": entry.id,
                    "policy": entry.policy,
                    "content_hash": entry.content_hash(),
                    "approvers": approvers,
                    "renewal": item.renewal,
                    "renewal_count": count,
                    "expires": entry.expires.isoformat(),
                    "expires_as_written": entry.expires_text,
                    "merged_at": merged_at.isoformat(),
                    "requested_by": entry.requested_by,
                    "reason": entry.reason,
                    "ticket": entry.ticket,
                },
                at=now,
            )
            recorded.append(row)
    return recorded


def renewals(store: Store, forge: str, repository: str, exception_id: str) -> int:
    with store.session() as session:
        value = session.scalar(
            select(func.max(LedgerEntry.renewal_count)).where(
                LedgerEntry.forge == forge,
                LedgerEntry.repository == repository,
                LedgerEntry.exception_id == exception_id,
            )
        )
    return value or 0


def _on_branch(branch: str, default_branch: str):  # type: ignore[no-untyped-def]
    """Rows whose approval holds on ``branch``. Rows recorded before approvals kept their branch
    (``base_ref`` NULL) hold on every branch, as they did: an upgrade must not turn approved
    exceptions on release branches into unapproved ones."""
    return (LedgerEntry.base_ref == branch) | LedgerEntry.base_ref.is_(None)


def _retirable_on(branch: str, default_branch: str):  # type: ignore[no-untyped-def]
    """Rows a push to ``branch`` can retire: its own, and rows without a branch only from the
    default branch (where nearly all of them were approved)."""
    condition = LedgerEntry.base_ref == branch
    if branch == default_branch:
        condition = condition | LedgerEntry.base_ref.is_(None)
    return condition


def approvals(
    store: Store, forge: str, repository: str, branch: str, default_branch: str
) -> dict[str, Approval]:
    """content hash -> its approval on ``branch``: the latest record wins when a hash was
    approved twice, and a retired one (the content left the branch since) counts for nothing."""
    with store.session() as session:
        rows = list(
            session.scalars(
                select(LedgerEntry).where(
                    LedgerEntry.forge == forge,
                    LedgerEntry.repository == repository,
                    _on_branch(branch, default_branch),
                )
            )
        )
    latest = {row.content_hash: row for row in sorted(rows, key=lambda r: r.id)}
    return {
        content_hash: Approval(
            approvers=tuple(row.approvers),
            pull_request=row.pull_request,
            merged_at=row.merged_at,
            renewal_count=row.renewal_count,
        )
        for content_hash, row in latest.items()
        if row.retired_at is None
    }


def verifier(
    store: Store, forge: str, repository: str, branch: str, default_branch: str
) -> Verifier:
    """For ``bot.checking.check``: an entry is verified when its exact content was approved in
    a PR into ``branch`` and has not left that branch's file since."""
    approvals_by_hash = approvals(store, forge, repository, branch, default_branch)

    def verify(entry: ExemptionEntry) -> Approval | None:
        return approvals_by_hash.get(entry.content_hash())

    return verify


def retire(
    store: Store,
    *,
    forge: str,
    repository: str,
    branch: str,
    default_branch: str,
    gone: dict[str, str],
    by: str,
    actor: str,
    now: datetime,
) -> list[str]:
    """Retire the approvals of contents that left ``branch``'s exceptions file (``gone``:
    content hash -> exception id): the same content pushed back later is not approved by the
    old review. Idempotent; returns the ids retired now."""
    retired = []
    with store.session() as session:
        rows = list(
            session.scalars(
                select(LedgerEntry).where(
                    LedgerEntry.forge == forge,
                    LedgerEntry.repository == repository,
                    _retirable_on(branch, default_branch),
                    LedgerEntry.content_hash.in_(list(gone)),
                    LedgerEntry.retired_at.is_(None),
                )
            )
        )
        for row in rows:
            row.retired_at = now
            row.retired_by = by[:255]
        for content_hash in sorted({r.content_hash for r in rows}):
            retired.append(gone[content_hash])
            audit.record(
                session,
                actor=actor,
                action="exception.retired",
                repository=repository,
                details={
                    "exception": gone[content_hash],
                    "content_hash": content_hash,
                    "branch": branch,
                    "by": by,
                },
                at=now,
            )
    return retired
