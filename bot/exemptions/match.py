"""Which exception covers which finding, at a given instant.

``apply`` takes entries that already passed ``validate`` (see ``validate.valid_entries``) and the
findings of one evaluation. A finding is covered by the first entry, in file order, whose scope
includes it and whose deadline has not passed. An entry past its deadline is never applied, even
if its scope matches (DESIGN §5 item 9); it is listed as ``expired`` so that reports and the
cleanup job can name it. Ledger approval (an entry applies only if its exact content was approved)
is a separate filter the caller applies to ``entries`` before calling this.

``Matcher`` is the same rule for findings that come one at a time (a streamed check): counts per
entry instead of lists of findings.

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


class Matcher:
    """The rule above, one finding at a time, keeping counts instead of findings.

    A finding is covered by the first live entry, in file order, whose scope includes it; an entry
    past its deadline never applies; a finding equal to one already covered is covered again but
    counted once. A caller that hands findings over by path may ``forget`` the ones seen when
    the path changes (equal findings share a path), which keeps memory to one path's findings:
    the streamed ``check`` does.
    """

    def __init__(self, entries: Iterable[ExemptionEntry], now: datetime) -> None:
        self.now = require_aware(now)
        self.live: list[ExemptionEntry] = []
        self.expired: list[ExemptionEntry] = []
        for entry in entries:
            (self.expired if entry.is_expired(self.now) else self.live).append(entry)
        self._counts: dict[int, int] = {}  # index in ``live`` -> distinct findings covered
        self._seen: dict[Finding, int] = {}  # finding -> index of the entry covering it

    def entry_for(self, finding: Finding) -> ExemptionEntry | None:
        """The entry that covers ``finding``, or None: the finding stands."""
        if not self.live:
            return None
        index = self._seen.get(finding)
        if index is not None:
            return self.live[index]
        for index, entry in enumerate(self.live):
            if entry.covers(finding):
                self._seen[finding] = index
                self._counts[index] = self._counts.get(index, 0) + 1
                return entry
        return None

    def forget(self) -> None:
        self._seen.clear()

    def applied(self) -> list[tuple[ExemptionEntry, int]]:
        """Entries that covered a finding, in file order, with how many they covered."""
        return [(e, self._counts[i]) for i, e in enumerate(self.live) if i in self._counts]

    def unused(self) -> list[ExemptionEntry]:
        return [e for i, e in enumerate(self.live) if i not in self._counts]


def apply(
    entries: Iterable[ExemptionEntry], findings: Iterable[Finding], now: datetime
) -> Application:
    """Match ``findings`` against ``entries`` (in file order) at ``now``."""
    matcher = Matcher(entries, now)
    covering: dict[Finding, ExemptionEntry] = {}
    applied: dict[ExemptionEntry, list[Finding]] = {}
    for finding in findings:
        if finding in covering:
            continue
        entry = matcher.entry_for(finding)
        if entry is not None:
            covering[finding] = entry
            applied.setdefault(entry, []).append(finding)
    return Application(
        now=matcher.now,
        covering=covering,
        applied={e: tuple(applied[e]) for e, _ in matcher.applied()},  # file order
        expired=tuple(matcher.expired),
        unused=tuple(matcher.unused()),
    )
