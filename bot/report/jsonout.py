"""JSON rendering of a ``Report``: the machine contract of DESIGN §4 (``--format json``).

The shape lives in ``Report.to_json()``; this module only serialises it, key order kept as
written there so the output reads in the documented order. Named ``jsonout`` so that it does
not shadow the standard library's ``json`` inside this package.

A narrowed ``View`` (``--min-severity``, ``--blocking-only``) leaves findings out of
``findings`` only; ``summary`` and ``conclusion`` still count them, and a ``hidden`` object
right after ``findings`` says how many were left out and by which filter.

``JsonWriter`` writes the same bytes from findings that come one at a time (``check(sink=)``),
spooling them until the verdict is known. ``JsonLinesWriter`` (``--format jsonl``) needs no
spool: one finding per line as it comes (the objects of ``findings``), then one last line with
the rest of the report (``conclusion``, ``exceptions``, ``errors``, ``summary``, ...: the JSON
report without ``findings``, with ``hidden`` when a view narrowed the findings).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from bot.engine.model import ResourceRef
from bot.report import indented
from bot.report.model import ExceptionUse, Rendering, Report, ReportedFinding
from bot.report.spool import MARKER, Part, SpillFolder, after, kept, new_spool, write_to
from bot.report.text import ALL, Pieces, View


def render_json(report: Report, view: View = ALL) -> str:
    data = report.to_json()
    if view.active:
        hidden = view.hidden(report.findings)
        shown: dict[str, Any] = {}
        for key, value in data.items():
            shown[key] = value
            if key == "findings":
                shown[key] = [rf.to_json() for rf in view.shown(report.findings)]
                shown["hidden"] = {
                    "findings": len(hidden),
                    "blocking": sum(1 for rf in hidden if rf.blocking),
                    "min_severity": view.min_severity,
                    "blocking_only": view.blocking_only,
                }
        data = shown
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _hidden(hidden: int, blocking: int, view: View) -> dict[str, Any]:
    return {
        "findings": hidden,
        "blocking": blocking,
        "min_severity": view.min_severity,
        "blocking_only": view.blocking_only,
    }


def _without_findings(report: Report, view: View, hidden: int, blocking: int) -> dict[str, Any]:
    """The report's JSON with ``findings`` to be filled in (``MARKER``) and ``hidden`` after it."""
    data = report.to_json()
    shown: dict[str, Any] = {}
    for key, value in data.items():
        shown[key] = value
        if key == "findings" and view.active:
            shown["hidden"] = _hidden(hidden, blocking, view)
    return shown


class FindingLayout:
    """``indented.dumps(rf.to_json(), level=2)``, a finding as ``JsonWriter`` places it, built
    from pieces that repeat instead of from the whole map each time.

    Findings come by path, and a path's findings share their policy fields, resources and
    exceptions: those pieces are laid out once per path (once per scan for exceptions) and joined
    with the line and message of each finding. That is a third of what laying out the whole map
    costs, on scans with hundreds of thousands of findings. The keys and their order are
    ``ReportedFinding.to_json``'s, which ``tests/test_indented_json.py`` holds this to.
    """

    def __init__(self) -> None:
        self.path: str | None = None
        self.heads: dict[tuple[str, str, str], str] = {}  # this path's, by policy fields
        self.resources: dict[ResourceRef | None, str] = {}  # this path's
        self.exceptions: dict[ExceptionUse | None, str] = {}
        # The resource of the finding before, and its piece: a resource's findings come one
        # after another (by line, within its document), and so the same object, whose hash
        # would cost a Python call per finding (a dataclass's).
        self.last_resource: ResourceRef | None = None
        self.last_resource_text = f',{_IN}"resource": null'
        # message -> its piece. Findings repeat a few messages (130,000 findings of the
        # finding-heavy benchmark have 335), and escaping one costs more than the rest of a
        # finding's layout: each is escaped once, up to MESSAGES_KEPT at a time.
        self.messages: dict[str, str] = {}

    def text(self, rf: ReportedFinding, lead: str = "") -> str:
        """The finding's text, after ``lead`` (what goes before it in the report, joined here
        rather than copying the whole text once more)."""
        f = rf.finding
        if f.path != self.path:
            self.path = f.path
            self.heads.clear()
            self.resources.clear()
        head = self.heads.get((f.policy, f.severity, f.enforcement))
        if head is None:
            head = self.heads[f.policy, f.severity, f.enforcement] = (
                f'{{{_IN}"policy": {_dumps(f.policy)},{_IN}"severity": {_dumps(f.severity)},'
                f'{_IN}"enforcement": {_dumps(f.enforcement)},{_IN}"path": {_dumps(f.path)},'
                f'{_IN}"line": '
            )
        if f.resource is self.last_resource:
            resource = self.last_resource_text
        else:
            known = self.resources.get(f.resource)
            if known is None:
                value = f.resource.to_json() if f.resource else None
                known = self.resources[f.resource] = f',{_IN}"resource": {_dumps(value)}'
            resource = self.last_resource_text = known
            self.last_resource = f.resource
        exception = self.exceptions.get(rf.exception)
        if exception is None:  # (once per exception: the whole map is cheap enough for that)
            value = rf.to_json()["exception"]
            exception = self.exceptions[rf.exception] = (
                f',{_IN}"exception": {_dumps(value)}{_OUT}}}'
            )
        message = self.messages.get(f.message)  # (a message is a string: hashable)
        if message is None:
            if len(self.messages) >= MESSAGES_KEPT:
                self.messages.clear()
            message = self.messages[f.message] = f',{_IN}"message": {_dumps(f.message)}'
        line = f.line
        return "".join((
            lead, head, str(line) if type(line) is int else _dumps(line), resource, message,
            exception,
        ))  # fmt: skip


MESSAGES_KEPT = 4096


_IN = "\n" + "  " * 3  # a field of a finding (level 2 plus one)
_OUT = "\n" + "  " * 2


def _dumps(value: Any) -> str:
    return indented.dumps(value, level=3)


class JsonWriter:
    """``render_json`` for findings handed over one at a time, in report order."""

    INDENT = "    "  # a finding's depth in the report: an item of a list in the top object
    BETWEEN = ",\n" + INDENT  # before each finding after the first

    def __init__(self, out: TextIO, view: View = ALL) -> None:
        self.out = out
        self.view = view
        self.spool = new_spool()
        self.layout = FindingLayout()
        self.shown = self.hidden = self.hidden_blocking = 0
        self.filtering = view.active  # (when not, the view shows every finding: no call each)
        self.spill = SpillFolder()

    def add(self, rf: ReportedFinding) -> None:
        if self.filtering and not self.view.shows(rf):
            self.hidden += 1
            self.hidden_blocking += rf.blocking
            return
        self.spool.write(self.layout.text(rf, self.BETWEEN if self.shown else self.INDENT))
        self.shown += 1

    def rendering(self) -> Rendering:
        return Rendering(_JsonPieces(self.view), self.take, self.spill.path)

    def close(self) -> None:
        self.spill.close()
        self.spool.close()

    def take(self, piece: tuple[Part, int, int, int]) -> None:
        """A path's findings as ``_JsonPieces`` laid them out (each after ``BETWEEN``)."""
        text, shown, hidden, hidden_blocking = piece
        self.hidden += hidden
        self.hidden_blocking += hidden_blocking
        if shown:
            if not self.shown:  # the report's first finding: after INDENT alone
                self.spool.write(self.INDENT)
                text = after(text, self.BETWEEN)
            self.spool.write(text)
            self.shown += shown

    def finish(self, report: Report) -> None:
        data = _without_findings(report, self.view, self.hidden, self.hidden_blocking)
        data["findings"] = [MARKER] if self.shown else []
        text = json.dumps(data, indent=2, sort_keys=False) + "\n"
        if not self.shown:
            self.out.write(text)
            return
        # ``findings`` is the second key, after the verdict: the first marker is its place
        head, _, tail = text.partition(self.INDENT + json.dumps(MARKER))
        self.out.write(head)
        self.spool.copy_to(self.out)
        self.close()
        self.out.write(tail)


class _JsonPieces(Pieces):
    """``JsonWriter.add`` of a path's findings, as one text (``JsonWriter.take``)."""

    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.layout = FindingLayout()  # (this process's own)

    def __call__(self, findings: list[ReportedFinding]) -> tuple[Part, int, int, int]:
        shown, hidden, hidden_blocking = self.split(findings)
        text = self.layout.text
        between = JsonWriter.BETWEEN
        laid_out = "".join([text(rf, between) for rf in shown])
        return kept(laid_out), len(shown), hidden, hidden_blocking


class _JsonLinesPieces(Pieces):
    """``JsonLinesWriter.add`` of a path's findings, as one text (``JsonLinesWriter.take``)."""

    def __call__(self, findings: list[ReportedFinding]) -> tuple[Part, int, int]:
        shown, hidden, hidden_blocking = self.split(findings)
        dumps = json.dumps
        return kept("".join([dumps(rf.to_json()) + "\n" for rf in shown])), hidden, hidden_blocking


class JsonLinesWriter:
    """``--format jsonl``: each finding on its own line as it comes, then the rest of the report."""

    def __init__(self, out: TextIO, view: View = ALL) -> None:
        self.out = out
        self.view = view
        self.hidden = self.hidden_blocking = 0
        self.spill = SpillFolder()

    def add(self, rf: ReportedFinding) -> None:
        if not self.view.shows(rf):
            self.hidden += 1
            self.hidden_blocking += rf.blocking
            return
        self.out.write(json.dumps(rf.to_json()) + "\n")

    def rendering(self) -> Rendering:
        return Rendering(_JsonLinesPieces(self.view), self.take, self.spill.path)

    def close(self) -> None:
        self.spill.close()

    def take(self, piece: tuple[Part, int, int]) -> None:
        text, hidden, hidden_blocking = piece
        self.hidden += hidden
        self.hidden_blocking += hidden_blocking
        write_to(self.out, text)

    def finish(self, report: Report) -> None:
        self.close()
        data = _without_findings(report, self.view, self.hidden, self.hidden_blocking)
        del data["findings"]
        self.out.write(json.dumps(data) + "\n")
