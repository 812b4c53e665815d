"""How each repository's exceptions stand, as its last deadline sweep found them.

The sweep (``bot.handlers.expiry``) plans every base branch's exceptions by state; what it found
is kept here, one row per repository and state, replaced by each sweep, so that anything that
reports on exceptions across repositories (``/metrics``) reads a few rows instead of every
repository's exceptions file. A fact the sweep recorded, not a metric it emitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from bot.expiry import Plan
from bot.store import Store
from bot.store.tables import ExemptionState

STATES = ("active", "expiring", "expired", "unapproved", "invalid")


def counts(plans: Iterable[Plan]) -> dict[str, int]:
    """Exceptions by state over the plans of a repository's base branches."""
    out = dict.fromkeys(STATES, 0)
    for plan in plans:
        for state in STATES:
            out[state] += len(getattr(plan, state))
    return out


def record(store: Store, forge: str, repository: str, plans: Iterable[Plan], at: datetime) -> None:
    """Replace what is kept for ``repository`` with the states of ``plans``."""
    found = counts(plans)
    try:
        with store.session() as session:
            session.execute(
                delete(ExemptionState).where(
                    ExemptionState.forge == forge, ExemptionState.repository == repository
                )
            )
            session.add_all(
                ExemptionState(
                    forge=forge, repository=repository, state=state, count=n, swept_at=at
                )
                for state, n in found.items()
            )
    except IntegrityError:
        pass  # a sweep of the same repository wrote the same facts at the same moment
