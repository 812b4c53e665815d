"""The result of checking a change: findings, how exceptions figured, errors, and the verdict.

One ``Report`` feeds every output: the CLI's text/JSON/SARIF/markdown and, later, the check run.
It is plain data; rendering lives beside it (``text``, ``json``, ``sarif``, ``markdown``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.engine.model import EvalError, Finding, Policy, slot_setter

ExceptionState = Literal["applied", "expired", "invalid", "unused", "unapproved"]


@dataclass(frozen=True)
class ExceptionUse:
    """One entry of the exceptions file, as it figures in a report."""

    id: str
    policy: str
    state: ExceptionState
    line: int | None = None
    expires: str | None = None  # as written: a date (through that day, UTC), or RFC 3339 in UTC
    reason: str = ""
    requested_by: str | None = None
    ticket: str | None = None
    paths: tuple[str, ...] = ()
    findings: int = 0  # findings it covers (applied) or would cover (expired)
    verified: bool = False  # approval found in the ledger (the CLI has none: always False)
    approvers: tuple[str, ...] = ()
    problem: str | None = None  # why it is invalid or unapproved
    resources: tuple[str, ...] = ()  # scope narrowed to these resources (empty: whole paths)
    content_hash: str | None = None  # of the entry's canonical content (what was approved)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "policy": self.policy,
            "state": self.state,
            "line": self.line,
            "expires": self.expires,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "ticket": self.ticket,
            "paths": list(self.paths),
            "findings": self.findings,
            "verified": self.verified,
            "approvers": list(self.approvers),
            "problem": self.problem,
            "resources": list(self.resources),
        }


@dataclass(frozen=True, slots=True, init=False)  # one per finding, streamed by the 100,000
class ReportedFinding:
    finding: Finding
    exception: ExceptionUse | None = None  # the exception that covers it, if any

    def __init__(self, finding: Finding, exception: ExceptionUse | None = None) -> None:
        # (as ``Finding``'s: the generated one calls ``object.__setattr__`` per field, frozen)
        _set_finding(self, finding)
        _set_exception(self, exception)

    @property
    def blocking(self) -> bool:
        return self.finding.enforcement == "blocking" and self.exception is None

    def to_json(self) -> dict[str, Any]:
        f = self.finding
        return {
            "policy": f.policy,
            "severity": f.severity,
            "enforcement": f.enforcement,
            "path": f.path,
            "line": f.line,
            "resource": f.resource.to_json() if f.resource else None,
            "message": f.message,
            "exception": None
            if self.exception is None
            else {
                "id": self.exception.id,
                "expires": self.exception.expires,
                "verified": self.exception.verified,
            },
        }


_set_finding = slot_setter(ReportedFinding, "finding")
_set_exception = slot_setter(ReportedFinding, "exception")


@dataclass
class Tally:
    """How many findings a report has of each kind: all a streamed report keeps of them."""

    blocking: int = 0
    advisory: int = 0
    excepted: int = 0
    findings: int = 0

    def add(self, rf: ReportedFinding) -> None:
        self.findings += 1
        if rf.exception is not None:
            self.excepted += 1
        elif rf.finding.enforcement == "advisory":
            self.advisory += 1
        elif rf.finding.enforcement == "blocking":  # (``rf.blocking``, here without a call)
            self.blocking += 1

    def merge(self, other: Tally) -> None:
        self.blocking += other.blocking
        self.advisory += other.advisory
        self.excepted += other.excepted
        self.findings += other.findings

    @classmethod
    def of(cls, findings: list[ReportedFinding]) -> Tally:
        tally = cls()
        for rf in findings:
            tally.add(rf)
        return tally


@dataclass(frozen=True)
class Rendering:
    """How a streamed writer's findings can be laid out where they are found.

    A large scan evaluates its files in other processes, and its findings crossed back one
    record each, to be laid out here by the writer: on a scan of many findings, pickling them
    there, unpickling them here and laying them out here was about a fifth of the scan's
    work, and this process shares the CPUs with the evaluating ones. With a ``Rendering``,
    ``check`` has each path's findings laid out by ``render`` in the process that found them
    (when no exception can cover one: that is judged here) and hands the result to ``take``,
    path by path in report order. Both must give the bytes that ``add`` of each finding would.
    """

    render: Callable[[list[ReportedFinding]], Any]  # picklable: runs in the evaluating process
    take: Callable[[Any], None]  # here, with what ``render`` gave for each path, in order
    # The folder where the evaluating processes may leave large pieces for ``take`` to copy
    # (``bot.report.spool.kept``), made when first asked for; None: every piece comes back whole.
    spill: Callable[[], str] | None = None


@dataclass
class Report:
    findings: list[ReportedFinding] = field(default_factory=list)
    applied: list[ExceptionUse] = field(default_factory=list)
    expired: list[ExceptionUse] = field(default_factory=list)
    invalid: list[ExceptionUse] = field(default_factory=list)
    unused: list[ExceptionUse] = field(default_factory=list)
    unapproved: list[ExceptionUse] = field(default_factory=list)
    expiring_soon: list[ExceptionUse] = field(default_factory=list)  # applied, deadline near
    errors: list[EvalError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "exceptions are not verified"
    policies: dict[str, Policy] = field(default_factory=dict)  # id -> policy, for titles/help
    exceptions_file: str = ".compliance/exceptions.yaml"
    files_checked: int = 0
    # ``exclude:`` of the repository config (read from the base) and, per glob, the paths of
    # this change or scan it kept out of evaluation. An exclusion is an opt-out: always shown.
    exclude: tuple[str, ...] = ()
    excluded: dict[str, list[str]] = field(default_factory=dict)
    base: str | None = None
    head: str | None = None
    # Set when the findings were streamed (``check(sink=...)``) rather than kept in ``findings``:
    # their counts, which the verdict and the summaries read through ``counts()``.
    tally: Tally | None = None

    def counts(self) -> Tally:
        return self.tally if self.tally is not None else Tally.of(self.findings)

    @property
    def blocking(self) -> list[ReportedFinding]:
        return [f for f in self.findings if f.blocking]

    @property
    def advisory(self) -> list[ReportedFinding]:
        return [
            f for f in self.findings if f.finding.enforcement == "advisory" and f.exception is None
        ]

    @property
    def excepted(self) -> list[ReportedFinding]:
        return [f for f in self.findings if f.exception is not None]

    @property
    def conclusion(self) -> Literal["success", "failure"]:
        # Fail closed: anything we could not judge counts against the change.
        return "failure" if self.counts().blocking or self.errors else "success"

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        return 1 if self.counts().blocking else 0

    def to_json(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "conclusion": "failure" if counts.blocking or self.errors else "success",
            "findings": [f.to_json() for f in self.findings],
            "exceptions": {
                "applied": [e.to_json() for e in self.applied],
                "expired": [e.to_json() for e in self.expired],
                "invalid": [e.to_json() for e in self.invalid],
                "unused": [e.to_json() for e in self.unused],
                "unapproved": [e.to_json() for e in self.unapproved],
                "expiring_soon": [e.to_json() for e in self.expiring_soon],
            },
            "errors": [e.to_json() for e in self.errors],
            "summary": {
                "files": self.files_checked,
                "blocking": counts.blocking,
                "advisory": counts.advisory,
                "excepted": counts.excepted,
                "errors": len(self.errors),
            },
            "notes": list(self.notes),
            "exclusions": {
                "globs": list(self.exclude),
                "excluded": {glob: list(paths) for glob, paths in self.excluded.items()},
            },
            "base": self.base,
            "head": self.head,
        }
