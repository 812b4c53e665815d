"""Plain-text rendering of a ``Report`` for people at a terminal (``--format text``).

Findings are grouped by file, one line each (``path:line  SEVERITY  policy  message  [resource]``),
then errors, the exceptions summary, notes, and a last line with the verdict and counts, so that
``| tail -1`` tells the outcome. ANSI colour only when the caller asks for it (the CLI decides from
``isatty`` and ``NO_COLOR``).

Everything shown here that came from a repository (paths, messages, reasons, ids) passes through
``plain()``, which makes control and formatting characters visible: a hostile file name must not
be able to move the cursor, recolour the terminal or reorder text with bidi controls.
This module only formats; it decides nothing about the outcome (``Report`` does).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from bot.engine.model import EvalError
from bot.report.model import ExceptionUse, Report, ReportedFinding

PULL_REQUEST = "(pull request)"  # where findings of the pull-request target live
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}

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


def verdict_counts(report: Report) -> str:
    parts = [
        count(len(report.blocking), "blocking finding"),
        f"{len(report.advisory)} advisory",
        f"{len(report.excepted)} excepted",
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


class _Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, style: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if self.color else text


def render_text(report: Report, color: bool = False) -> str:
    paint = _Painter(color)
    lines: list[str] = []

    groups: dict[str, list[ReportedFinding]] = {}
    for rf in sorted(report.findings, key=lambda f: f.finding.sort_key()):
        groups.setdefault(rf.finding.path, []).append(rf)
    # Files in path order; the pull request itself (no path) last.
    for path in sorted(groups, key=lambda p: (p == "", p)):
        lines.append(paint(plain(path) if path else PULL_REQUEST, "bold"))
        lines.extend(f"  {_finding_line(rf, paint)}" for rf in groups[path])
        lines.append("")

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

    for note in report.notes:
        lines.append(paint(f"note: {plain(note)}", "dim"))
    if report.notes:
        lines.append("")

    if not report.findings and not report.errors:
        lines.append("No findings.")
    if report.conclusion == "failure":
        lines.append(f"{paint('FAIL', 'red-bold')}: {verdict_counts(report)}")
    else:
        lines.append(f"{paint('PASS', 'green-bold')}: {verdict_counts(report)}")
    return "\n".join(lines) + "\n"


def _finding_line(rf: ReportedFinding, paint: _Painter) -> str:
    f = rf.finding
    severity = f.severity.upper().ljust(8)
    if rf.exception is not None:
        severity = paint(severity, "green")
    elif f.enforcement == "advisory":
        severity = paint(severity, "yellow")
    else:
        severity = paint(severity, "red-bold")
    parts = [location(f.path, f.line), severity, plain(f.policy), plain(f.message)]
    if f.resource is not None:
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
    return line


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
