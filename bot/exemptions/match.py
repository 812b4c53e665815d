"""Which exception covers which finding, at a given instant.

``apply`` takes entries that already passed ``validate`` (see ``validate.valid_entries``) and the
findings of one evaluation. A finding is covered by the first entry, in file order, whose scope
includes it and whose deadline has not passed. An entry past its deadline is never applied, even
if its scope matches (DESIGN §5 item 9); it is listed as ``expired`` so that reports and the
cleanup job can name it. Ledger approval (an entry applies only if its exact content was approved)
is a separate filter the caller applies to ``entries`` before calling this.

Pure: the instant comes in as ``now``; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.engine.model import Finding
from bot.exemptions.model import ExemptionEntry, require_aware


@dataclass(frozen=True, eq=False)
class Application:
    """The outcome of applying exceptions to findings at ``now``."""

    now: datetime
    covering: Mapping[Finding, ExemptionEntry]  # finding -> the entry that covers it
    applied: Mapping[ExemptionEntry, tuple[Finding, ...]]  # entry -> findings it covers (>= 1)
    expired: tuple[ExemptionEntry, ...]  # past their deadline: never applied
    unused: tuple[ExemptionEntry, ...]  # unexpired, but cover no finding

    def entry_for(self, finding: Finding) -> ExemptionEntry | None:
        """The entry that covers ``finding``, or None: the finding stands."""
        return self.covering.get(finding)

    def uncovered(self, findings: Iterable[Finding]) -> list[Finding]:
        return [f for f in findings if f not in self.covering]

    def expiring_soon(self, days: float) -> tuple[ExemptionEntry, ...]:
        """Unexpired entries (applied or unused) whose deadline is within ``days`` of ``now``."""
        horizon = self.now + timedelta(days=days)
        live = [*self.applied, *self.unused]
        soon = [e for e in live if e.expires <= horizon]
        return tuple(sorted(soon, key=lambda e: (e.expires, e.line)))


def apply(
    entries: Iterable[ExemptionEntry], findings: Iterable[Finding], now: datetime
) -> Application:
    """Match ``findings`` against ``entries`` (in file order) at ``now``."""
    now = require_aware(now)
    live: list[ExemptionEntry] = []
    expired: list[ExemptionEntry] = []
    for entry in entries:
        (expired if entry.is_expired(now) else live).append(entry)
    covering: dict[Finding, ExemptionEntry] = {}
    applied: dict[ExemptionEntry, list[Finding]] = {}
    for finding in findings:
        if finding in covering:
            continue
        for entry in live:
            if entry.covers(finding):
                covering[finding] = entry
                applied.setdefault(entry, []).append(finding)
                break
    unused = tuple(e for e in live if e not in applied)
    return Application(
        now=now,
        covering=covering,
        applied={e: tuple(applied[e]) for e in live if e in applied},  # file order
        expired=tuple(expired),
        unused=unused,
    )
