"""How each repository's exceptions stand, as its last deadline sweep found them.

The sweep (``bot.handlers.expiry``) plans every base branch's exceptions by state; what it found
is kept here, replaced by each sweep of the repository: counts per state (``/metrics``), one row
per exception (the web dashboard's lists, filters and detail pages) and the day's counts (its
"live exceptions over time"). So anything that reports on exceptions across a thousand
repositories reads indexed rows instead of a thousand exceptions files, and never calls the forge.
A fact the sweep recorded, not a metric it emitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from bot.checking import Approval
from bot.exemptions.model import ExemptionEntry
from bot.expiry import Plan
from bot.store import Store
from bot.store.tables import ExceptionHistory, ExceptionStanding, ExemptionState

STATES = ("active", "expiring", "expired", "unapproved", "invalid")


def counts(plans: Iterable[Plan]) -> dict[str, int]:
    """Exceptions by state over the plans of a repository's base branches."""
    out = dict.fromkeys(STATES, 0)
    for plan in plans:
        for state in STATES:
            out[state] += len(getattr(plan, state))
    return out


def record(
    store: Store,
    forge: str,
    repository: str,
    plans: Mapping[str, Plan],
    at: datetime,
    *,
    approvals: Mapping[str, Approval] | None = None,
    cleanups: Mapping[str, int | None] | None = None,
) -> None:
    """Replace what is kept for ``repository`` with ``plans`` (by base branch).

    ``approvals`` maps content hashes to their approval (the ledger); ``cleanups`` names the
    open cleanup PR of each branch, the one that removes its expired exceptions."""
    found = counts(plans.values())
    rows = [
        row
        for branch, plan in plans.items()
        for row in _rows(
            forge, repository, branch, plan, approvals or {}, (cleanups or {}).get(branch), at
        )
    ]
    try:
        with store.session() as session:
            for table in (ExemptionState, ExceptionStanding):
                session.execute(
                    delete(table).where(table.forge == forge, table.repository == repository)
                )
            session.add_all(
                ExemptionState(
                    forge=forge, repository=repository, state=state, count=n, swept_at=at
                )
                for state, n in found.items()
            )
            session.add_all(rows)
            day = at.date()
            session.execute(
                delete(ExceptionHistory).where(
                    ExceptionHistory.forge == forge,
                    ExceptionHistory.repository == repository,
                    ExceptionHistory.day == day,
                )
            )
            session.add(
                ExceptionHistory(
                    forge=forge,
                    repository=repository,
                    day=day,
                    live=found["active"] + found["expiring"],
                    expired=found["expired"],
                    unapproved=found["unapproved"],
                )
            )
    except IntegrityError:
        pass  # a sweep of the same repository wrote the same facts at the same moment


def _rows(
    forge: str,
    repository: str,
    branch: str,
    plan: Plan,
    approvals: Mapping[str, Approval],
    cleanup: int | None,
    at: datetime,
) -> Iterable[ExceptionStanding]:
    unused = {e.id for e in plan.unused}
    for state in ("active", "expiring", "expired", "unapproved"):
        for entry in getattr(plan, state):
            approval = approvals.get(entry.content_hash())
            row = _row(forge, repository, branch, state, entry, approval, at)
            row.unused = entry.id in unused
            row.cleanup_pull_request = cleanup if state == "expired" else None
            yield row
    for entry_id, problem in plan.invalid:
        yield ExceptionStanding(
            forge=forge,
            repository=repository,
            branch=branch,
            exception_id=entry_id,
            state="invalid",
            unused=False,
            paths=[],
            resources=[],
            approvers=[],
            renewal_count=0,
            problem=problem,
            swept_at=at,
        )


def _row(
    forge: str,
    repository: str,
    branch: str,
    state: str,
    entry: ExemptionEntry,
    approval: Approval | None,
    at: datetime,
) -> ExceptionStanding:
    return ExceptionStanding(
        forge=forge,
        repository=repository,
        branch=branch,
        exception_id=entry.id,
        state=state,
        policy=entry.policy,
        paths=list(entry.paths),
        resources=list(entry.resources),
        reason=entry.reason,
        ticket=entry.ticket,
        requested_by=entry.requested_by,
        expires=entry.expires,
        expires_text=entry.expires_text,
        content_hash=entry.content_hash(),
        approvers=list(approval.approvers) if approval else [],
        approval_pull_request=approval.pull_request if approval else None,
        approved_at=approval.merged_at if approval else None,
        renewal_count=approval.renewal_count if approval else 0,
        line=entry.line,
        swept_at=at,
    )
