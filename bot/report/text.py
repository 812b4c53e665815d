"""Plain-text rendering of a ``Report`` for people at a terminal (``--format text``).

Findings come in three sections, in the order a reader must act on them: blocking (they fail the
check), advisory, excepted. Within a section, by file; in a file, one line each
(``path:line  SEVERITY  policy  message  [resource]  (status)``), except that several policies
flagging the same place (path, line and resource) are listed under one heading for it. Then
errors, the exceptions summary, the ``exclude:`` globs of the repository config, notes, and a
last line with the verdict and counts, so that ``| tail -1`` tells the outcome. ANSI colour only
when the caller asks for it (the CLI decides from ``isatty`` and ``NO_COLOR``).

A ``View`` (``--min-severity``, ``--blocking-only``) narrows which findings are *listed*; the
verdict, its counts and the exit code always count every finding, and the output says how many
the view hid.

Everything shown here that came from a repository (paths, messages, reasons, ids) passes through
``plain()``, which makes control and formatting characters visible: a hostile file name must not
be able to move the cursor, recolour the terminal or reorder text with bidi controls.
This module only formats; it decides nothing about the outcome (``Report`` does).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any, TextIO

from bot.engine.model import SEVERITIES, EvalError, Severity
from bot.repoconfig import CONFIG_PATH
from bot.report.model import ExceptionUse, Rendering, Report, ReportedFinding
from bot.report.spool import Part, SpillFolder, Spool, kept, new_spool

PULL_REQUEST = "(pull request)"  # where findings of the pull-request target live
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
EXCLUDED_SHOWN = 10  # paths listed per ``exclude`` glob before "and N more"

_RESET = "\x1b[0m"
_STYLES = {
    "bold": "\x1b[1m",
    "dim": "\x1b[2m",
    "red": "\x1b[31m",
    "red-bold": "\x1b[1;31m",
    "green": "\x1b[32m",
    "green-bold": "\x1b[1;32m",
    "yellow": "\x1b[33m",
    "cyan": "\x1b[36m",
}


def plain(value: object) -> str:
    """``value`` as one line of inert text: control, format and separator characters escaped."""
    out = []
    for ch in str(value):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def when(value: str | None) -> str:
    """An exception deadline for display: the date when it is the end of a day (UTC), as people
    write it in the exceptions file, else the minute in UTC.

    ``expires: 2026-12-31`` means the end of that day, which the exemptions code holds as the
    instant ``2027-01-01T00:00:00+00:00``: shown as ``2026-12-31``, not as the next day.
    """
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return plain(value)
    if len(value) == 10:  # a bare date
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    if (moment.hour, moment.minute, moment.second) == (23, 59, 59):
        return moment.date().isoformat()
    if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
        return (moment.date() - timedelta(days=1)).isoformat()
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def location(path: str | None, line: int | None) -> str:
    """``path:line`` for a finding or error; findings on the pull request itself have no path."""
    if not path:
        return PULL_REQUEST
    return f"{plain(path)}:{line}" if line else plain(path)


def ordered(findings: Iterable[ReportedFinding]) -> list[ReportedFinding]:
    """Most severe first, then by file and line: what a reader should look at first."""
    return sorted(
        findings,
        key=lambda f: (SEVERITY_RANK.get(f.finding.severity, 9), f.finding.sort_key()),
    )


def places(findings: Iterable[ReportedFinding]) -> list[list[ReportedFinding]]:
    """Findings grouped by where they are (path, line and resource), in order of first
    appearance; in a group, most severe first. Several policies flagging one field read as one
    place with several messages, not as the same location repeated."""
    groups: dict[tuple[object, ...], list[ReportedFinding]] = {}
    for rf in findings:
        f = rf.finding
        groups.setdefault((f.path, f.line, f.resource), []).append(rf)
    return [
        sorted(group, key=lambda rf: (SEVERITY_RANK.get(rf.finding.severity, 9), rf.finding.policy))
        for group in groups.values()
    ]


@dataclass(frozen=True)
class View:
    """Which findings to list: ``--min-severity`` and ``--blocking-only`` of the CLI.

    Only a display filter: the verdict, its counts and the exit code still count every finding,
    so narrowing the view can never turn a failing check green. Renderers say how many it hid.
    """

    min_severity: Severity | None = None
    blocking_only: bool = False

    def __post_init__(self) -> None:
        if self.min_severity is not None and self.min_severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.min_severity!r}")

    @property
    def active(self) -> bool:
        return self.min_severity is not None or self.blocking_only

    def shows(self, rf: ReportedFinding) -> bool:
        if self.blocking_only and not rf.blocking:
            return False
        if self.min_severity is None:
            return True
        return SEVERITY_RANK.get(rf.finding.severity, 9) <= SEVERITY_RANK[self.min_severity]

    def shown(self, findings: Iterable[ReportedFinding]) -> list[ReportedFinding]:
        return [rf for rf in findings if self.shows(rf)]

    def hidden(self, findings: Iterable[ReportedFinding]) -> list[ReportedFinding]:
        return [rf for rf in findings if not self.shows(rf)]

    def options(self) -> str:
        """The filter as it was asked for: ``--min-severity high --blocking-only``."""
        parts = [f"--min-severity {self.min_severity}"] if self.min_severity else []
        if self.blocking_only:
            parts.append("--blocking-only")
        return " ".join(parts)


ALL = View()


def hidden_note(report: Report, view: View) -> str | None:
    """How many findings ``view`` left out and how many of them block, or None when none."""
    hidden = view.hidden(report.findings)
    return hidden_text(len(hidden), sum(1 for rf in hidden if rf.blocking), view)


def hidden_text(hidden: int, blocking: int, view: View) -> str | None:
    """``hidden_note`` from the counts (a streamed report keeps no findings to count)."""
    if not hidden:
        return None
    of_them = f", {blocking} of them blocking" if blocking else ""
    return (
        f"{count(hidden, 'finding')} not shown ({view.options()}){of_them}; "
        "the verdict counts every finding"
    )


def excluded_summary(report: Report, glob: str) -> str:
    """What one ``exclude`` glob did to this change or scan, e.g. "kept out 3 files"."""
    paths = report.excluded.get(glob, [])
    if not paths:
        subject = "this change" if report.head else "the scanned files"
        return f"no file of {subject} matched"
    return f"kept out {count(len(paths), 'file')}"


def verdict_counts(report: Report) -> str:
    counts = report.counts()
    parts = [
        count(counts.blocking, "blocking finding"),
        f"{counts.advisory} advisory",
        f"{counts.excepted} excepted",
    ]
    if report.errors:
        parts.append(count(len(report.errors), "error"))
    return ", ".join(parts) + f" ({count(report.files_checked, 'file')} checked)"


def approval(use: ExceptionUse) -> str:
    if not use.verified:
        return "not verified"
    if use.approvers:
        return "approved by " + ", ".join(plain(a) for a in use.approvers)
    return "approved"


class Pieces:
    """The base of what a streamed writer's ``Rendering`` runs where findings are found (called
    with a path's findings): made anew from its arguments in each process, so that its caches
    are that process's own and are never pickled."""

    def __init__(self, view: View, *more: Any) -> None:
        self.view = view
        self._arguments = (view, *more)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._arguments)

    def split(self, findings: list[ReportedFinding]) -> tuple[list[ReportedFinding], int, int]:
        """The findings the view shows, and how many it hides (of which blocking)."""
        if not self.view.active:
            return findings, 0, 0
        hidden = self.view.hidden(findings)
        return self.view.shown(findings), len(hidden), sum(rf.blocking for rf in hidden)


class _TextPieces(Pieces):
    """``TextWriter.add`` of a path's findings: its lines in each section (``TextWriter.take``)."""

    def __init__(self, view: View, color: bool) -> None:
        super().__init__(view, color)
        self.paint = _Painter(color)

    def __call__(
        self, findings: list[ReportedFinding]
    ) -> tuple[tuple[Part, ...], tuple[int, ...], int, int]:
        shown, hidden, hidden_blocking = self.split(findings)
        sections: tuple[list[ReportedFinding], ...] = ([], [], [])
        for rf in shown:
            sections[0 if rf.blocking else 1 if rf.exception is None else 2].append(rf)
        paint = self.paint
        texts = tuple(
            kept("".join(line + "\n" for line in _file_lines(found[0].finding.path, found, paint)))
            if found
            else ""
            for found in sections
        )
        return texts, tuple(len(found) for found in sections), hidden, hidden_blocking


class _Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, style: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if self.color else text


def render_text(report: Report, color: bool = False, view: View = ALL) -> str:
    paint = _Painter(color)
    lines: list[str] = []

    shown = view.shown(report.findings)
    blocking = [rf for rf in shown if rf.blocking]
    advisory = [rf for rf in shown if rf.exception is None and not rf.blocking]
    excepted = [rf for rf in shown if rf.exception is not None]
    for (title, style), findings in zip(
        _section_titles(len(blocking), len(advisory), len(excepted)),
        (blocking, advisory, excepted),
        strict=True,
    ):
        if findings:
            lines.extend(_finding_section(paint(title, style), findings, paint))
    hidden = view.hidden(report.findings)
    lines.extend(
        _closing_lines(
            report, paint, hidden_text(len(hidden), sum(1 for rf in hidden if rf.blocking), view)
        )
    )
    return "\n".join(lines) + "\n"


def _section_titles(blocking: int, advisory: int, excepted: int) -> list[tuple[str, str]]:
    fail = "fails" if blocking == 1 else "fail"
    covered = "an exception" if excepted == 1 else "exceptions"
    return [
        (f"Blocking: {count(blocking, 'finding')} {fail} the check", "red-bold"),
        (f"Advisory: {count(advisory, 'finding')}, for information only", "yellow"),
        (f"Excepted: {count(excepted, 'finding')} covered by {covered}", "green"),
    ]


def _closing_lines(report: Report, paint: _Painter, hidden: str | None) -> list[str]:
    """Everything after the findings: errors, exceptions, exclusions, notes and the verdict."""
    lines: list[str] = []
    if report.errors:
        lines.append(
            paint("Errors: the check fails because these could not be evaluated", "red-bold")
        )
        lines.extend(f"  {_error_line(e, paint)}" for e in report.errors)
        lines.append("")

    exception_lines = list(_exception_lines(report, paint))
    if exception_lines:
        lines.append(paint("Exceptions", "bold"))
        lines.extend(f"  {line}" for line in exception_lines)
        lines.append("")

    if report.exclude:
        lines.append(paint(f"Excluded by {CONFIG_PATH}", "bold"))
        lines.extend(_exclusion_lines(report))
        lines.append("")

    if hidden:  # not dim: what it hides may be failing the check
        lines.append(paint(f"note: {hidden}", "yellow"))
    lines.extend(paint(f"note: {plain(note)}", "dim") for note in report.notes)
    if hidden or report.notes:
        lines.append("")

    if not report.counts().findings and not report.errors:
        lines.append("No findings.")
    if report.conclusion == "failure":
        lines.append(f"{paint('FAIL', 'red-bold')}: {verdict_counts(report)}")
    else:
        lines.append(f"{paint('PASS', 'green-bold')}: {verdict_counts(report)}")
    return lines


class TextWriter:
    """``render_text`` for findings that come one at a time, in report order (``check(sink=)``).

    Each section (blocking, advisory, excepted) is written to its own spool as the findings of a
    file complete, keeping only the current file's findings; ``finish`` writes the sections with
    their counts, then what ``render_text`` writes after them. The output is the same, byte for
    byte, as ``render_text`` of the whole report.
    """

    def __init__(self, out: TextIO, color: bool = False, view: View = ALL) -> None:
        self.out = out
        self.paint = _Painter(color)
        self.view = view
        self.spools = [new_spool(), new_spool(), new_spool()]
        self.spill = SpillFolder()
        self.counts = [0, 0, 0]
        self.current: list[list[ReportedFinding]] = [[], [], []]  # the current file's
        self.pull_request: list[list[ReportedFinding]] = [[], [], []]  # listed last
        self.path: str | None = None
        self.hidden = self.hidden_blocking = 0

    def add(self, rf: ReportedFinding) -> None:
        if not self.view.shows(rf):
            self.hidden += 1
            self.hidden_blocking += rf.blocking
            return
        section = 0 if rf.blocking else 1 if rf.exception is None else 2
        self.counts[section] += 1
        path = rf.finding.path
        if not path:
            self.pull_request[section].append(rf)
            return
        if path != self.path:
            self._flush()
            self.path = path
        self.current[section].append(rf)

    def rendering(self) -> Rendering:
        return Rendering(_TextPieces(self.view, self.paint.color), self.take, self.spill.path)

    def close(self) -> None:
        self.spill.close()
        for spool in self.spools:
            spool.close()

    def take(self, piece: tuple[tuple[Part, ...], tuple[int, ...], int, int]) -> None:
        """A path's findings as ``_TextPieces`` laid them out."""
        texts, counts, hidden, hidden_blocking = piece
        self._flush()
        self.hidden += hidden
        self.hidden_blocking += hidden_blocking
        for section, (text, found) in enumerate(zip(texts, counts, strict=True)):
            if found:
                self.spools[section].write(text)
                self.counts[section] += found

    def _flush(self) -> None:
        for section, findings in enumerate(self.current):
            if findings:
                _write_lines(
                    self.spools[section],
                    _file_lines(findings[0].finding.path, findings, self.paint),
                )
                findings.clear()

    def finish(self, report: Report) -> None:
        self._flush()
        titles = _section_titles(*self.counts)
        for section, (title, style) in enumerate(titles):
            if not self.counts[section]:
                continue
            _write_lines(self.out, [self.paint(title, style), ""])
            self.spools[section].copy_to(self.out)
            if self.pull_request[section]:
                _write_lines(self.out, _file_lines("", self.pull_request[section], self.paint))
        self.close()
        hidden = hidden_text(self.hidden, self.hidden_blocking, self.view)
        _write_lines(self.out, _closing_lines(report, self.paint, hidden))


def _write_lines(out: IO[str] | Spool, lines: list[str]) -> None:
    out.write("".join(line + "\n" for line in lines))


def _finding_section(title: str, findings: list[ReportedFinding], paint: _Painter) -> list[str]:
    """A section's title, then its findings by file (files in path order, the pull request
    last), each place with several findings under one heading."""
    lines = [title, ""]
    files: dict[str, list[ReportedFinding]] = {}
    for rf in sorted(findings, key=lambda f: f.finding.sort_key()):
        files.setdefault(rf.finding.path, []).append(rf)
    for path in sorted(files, key=lambda p: (p == "", p)):
        lines.extend(_file_lines(path, files[path], paint))
    return lines


def _file_lines(path: str, findings: list[ReportedFinding], paint: _Painter) -> list[str]:
    """One file's findings in a section (in report order): its name, then each place."""
    lines = [paint(plain(path) if path else PULL_REQUEST, "bold")]
    for place in places(findings):
        if len(place) == 1:
            lines.append(f"  {_finding_line(place[0], paint)}")
            continue
        f = place[0].finding
        resource = f"  [{plain(f.resource)}]" if f.resource is not None else ""
        lines.append(f"  {location(f.path, f.line)}{resource}: {count(len(place), 'finding')}")
        lines.extend(f"    {_finding_line(rf, paint, at_place=False)}" for rf in place)
    lines.append("")
    return lines


def _finding_line(rf: ReportedFinding, paint: _Painter, at_place: bool = True) -> str:
    """One finding; without its location and resource when it sits under a place heading."""
    f = rf.finding
    severity = f.severity.upper().ljust(8)
    if rf.exception is not None:
        severity = paint(severity, "green")
    elif f.enforcement == "advisory":
        severity = paint(severity, "yellow")
    else:
        severity = paint(severity, "red-bold")
    parts = [location(f.path, f.line)] if at_place else []
    parts += [severity, plain(f.policy), plain(f.message)]
    if f.resource is not None and at_place:
        parts.append(f"[{plain(f.resource)}]")
    line = "  ".join(parts)
    if rf.exception is not None:
        use = rf.exception
        verified = "" if use.verified else ", not verified"
        line += "  " + paint(
            f"(excepted by {plain(use.id)}, expires {when(use.expires)}{verified})", "green"
        )
    elif f.enforcement == "advisory":
        line += "  " + paint("(advisory)", "yellow")
    else:
        line += "  " + paint("(BLOCKING)", "red-bold")
    return line


def _exclusion_lines(report: Report) -> Iterable[str]:
    for glob in report.exclude:
        yield f"  {plain(glob)}  {excluded_summary(report, glob)}"
        paths = report.excluded.get(glob, [])
        yield from (f"    {plain(path)}" for path in paths[:EXCLUDED_SHOWN])
        if len(paths) > EXCLUDED_SHOWN:
            yield f"    and {len(paths) - EXCLUDED_SHOWN} more"


def _error_line(error: EvalError, paint: _Painter) -> str:
    where = location(error.path, error.line) if error.path else "(configuration)"
    policy = f"  (policy {plain(error.policy)})" if error.policy else ""
    return f"{paint(where, 'red')}  {plain(error.message)}{policy}"


def _exception_lines(report: Report, paint: _Painter) -> Iterable[str]:
    def head(state: str, use: ExceptionUse, style: str) -> str:
        policy = plain(use.policy) if use.policy else "?"
        return f"{paint(state.ljust(13), style)}  {plain(use.id)}  {policy}"

    for use in report.applied:
        scope = ", ".join(plain(p) for p in use.paths + use.resources) or "-"
        who = f"  requested by {plain(use.requested_by)}" if use.requested_by else ""
        yield (
            f"{head('applied', use, 'green')}  {scope}  expires {when(use.expires)}{who}"
            f"  {approval(use)}  covers {count(use.findings, 'finding')}"
        )
    for use in report.expiring_soon:
        yield f"{head('expiring soon', use, 'yellow')}  expires {when(use.expires)}"
    for use in report.expired:
        again = f" (would cover {count(use.findings, 'finding')})" if use.findings else ""
        yield (
            f"{head('expired', use, 'yellow')}  expired {when(use.expires)}: "
            f"no longer applied{again}"
        )
    for use in report.unapproved:
        problem = plain(use.problem or "not approved")
        yield f"{head('unapproved', use, 'red')}  ignored: {problem}"
    for use in report.invalid:
        # The problem names its lines already ("line 30: reason must be ...").
        yield f"{head('invalid', use, 'red')}  ignored: {plain(use.problem or 'invalid')}"
    for use in report.unused:
        yield f"{head('unused', use, 'dim')}  matched nothing (expires {when(use.expires)})"
