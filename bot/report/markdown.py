"""Markdown rendering of a ``Report``: the summary of the ``compliance`` check run.

The same text is printed by ``--format markdown``, so what a developer sees locally is what the
pull request shows. Sections, each only when it has something to say: the verdict; blocking
findings; errors; advisory findings; excepted findings; applied, expiring, expired, unapproved,
invalid and unused exceptions; the ``exclude:`` globs of the repository config (whenever there
are any, even if they matched nothing: an exclusion is an opt-out, always in view); how to
request an exception (when something blocks); notes. Several policies flagging the same place
(path, line and resource) share one row's location: the rows below it leave it blank.

Two constraints shape the code:

- GitHub caps ``output.summary`` at 65,535 characters. The text is measured in UTF-8 bytes
  (never fewer than characters, so the cap holds however it is counted). When everything does
  not fit, rows are dropped from the ends of tables, by priority (errors and blocking findings
  last), and each shortened table is followed by a "… and N more" line. A table is never cut
  in the middle of a row, and the fixed text around tables is always kept.
- Paths, messages, reasons, ids and logins come from the repository, i.e. possibly from an
  attacker. ``md()`` makes them inert: control characters visible, Markdown and HTML
  metacharacters escaped (``<`` and ``>`` as entities, so the hidden marker can't be forged),
  and a zero-width joiner after ``@`` and ``#`` so nobody is mentioned and no issue is linked.

Pure formatting: no I/O, and no decision the ``Report`` has not already made.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.engine.model import ExceptionPolicy, Finding
from bot.repoconfig import CONFIG_PATH
from bot.report.model import ExceptionUse, Report, ReportedFinding
from bot.report.text import (
    ALL,
    EXCLUDED_SHOWN,
    View,
    count,
    excluded_summary,
    hidden_note,
    ordered,
    places,
    plain,
    when,
)

MARKER = "<!-- compliance-bot:check -->"
MAX_SUMMARY = 65535  # GitHub's limit for a check run's output.summary
ZWJ = "\u200d"

_ESCAPES = {
    "\\": "\\\\",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "|": "\\|",
    "~": "\\~",
    "$": "\\$",
    "!": "\\!",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
    "@": "@" + ZWJ,
    "#": "#" + ZWJ,
}
# Text that may go verbatim into a code span, and into the suggested shell command.
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._/:*+=,-]{0,199}")
_SAFE_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!$&'*+,;=%-]+")


def md(value: object, limit: int | None = 300) -> str:
    """Repository-controlled text as inert inline Markdown (safe in a table cell)."""
    text = plain(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def code(value: object) -> str:
    """A code span for tokens such as ids and paths; escaped text when the token is not plain."""
    text = str(value)
    if _SAFE_TOKEN.fullmatch(text):
        return f"`{text}`"
    return md(text)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass
class _Section:
    """A heading, fixed text, and rows that may be shortened (table rows or list items)."""

    title: str
    priority: int  # rows of lower numbers are kept longest
    intro: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # table header lines; empty for a list
    rows: list[str] = field(default_factory=list)  # a row may be several lines (one place)
    outro: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # findings per row, when not one each

    def render(self, shown: int, more: Callable[[int], str]) -> str:
        parts = [f"### {self.title}"]
        parts.extend(self.intro)
        if self.rows and shown:
            parts.append("\n".join([*self.header, *self.rows[:shown]]))
        if shown < len(self.rows):
            parts.append(more(self.weight(shown)))
        parts.extend(self.outro)
        return "\n\n".join(parts)

    def weight(self, start: int = 0) -> int:
        """What the rows from ``start`` on stand for: findings, or rows of other tables."""
        return sum(self.sizes[start:]) if self.sizes else len(self.rows) - start


def _table(*columns: str) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def render_markdown(
    report: Report,
    *,
    details_url: str | None = None,
    max_chars: int = MAX_SUMMARY,
    view: View = ALL,
) -> str:
    """The summary; ``view`` narrows the findings listed (the verdict still counts them all)."""
    see = "annotations / run `compliance-bot check` locally"
    if details_url and _SAFE_URL.fullmatch(details_url):
        see = f"[details]({details_url}), {see}"

    def more(n: int) -> str:
        return f"… and {n} more (see {see})"

    head = f"{MARKER}\n{_verdict(report)}"
    hidden = hidden_note(report, view)
    if hidden:
        head += f"\n\n_{md(hidden, None)}_"
    sections = [s for s in _sections(report, view) if s.rows or not s.header]
    full = _join(head, [s.render(len(s.rows), more) for s in sections])
    if _size(full) <= max_chars:
        return full

    # Too long: keep every section's fixed text, then hand out rows by priority.
    fixed = _size(_join(head, [s.render(0, more) for s in sections]))
    budget = max_chars - fixed
    shown = [0] * len(sections)
    for i in sorted(range(len(sections)), key=lambda i: sections[i].priority):
        for row in sections[i].rows:
            cost = _size(row) + 1  # and its newline
            if shown[i] == 0:
                cost += sum(_size(h) + 1 for h in sections[i].header)
            if cost > budget:
                break
            budget -= cost
            shown[i] += 1
    out = _join(head, [s.render(n, more) for s, n in zip(sections, shown, strict=True)])
    if _size(out) > max_chars:  # only if even the fixed text does not fit
        out = _join(head, [more(sum(s.weight() for s in sections))])
    return out


def _join(head: str, sections: Sequence[str]) -> str:
    return "\n\n".join([head, *sections]) + "\n"


def _verdict(report: Report) -> str:
    extras = [
        f"{len(report.advisory)} advisory",
        f"{len(report.excepted)} excepted",
        f"{count(report.files_checked, 'file')} checked",
    ]
    if report.conclusion == "success":
        return "✅ **Compliance check passed**: no blocking findings · " + " · ".join(extras)
    problems = []
    if report.blocking:
        problems.append(count(len(report.blocking), "blocking finding"))
    if report.errors:
        problems.append(count(len(report.errors), "error") + " (could not evaluate)")
    return "❌ **Compliance check failed**: " + ", ".join(problems) + " · " + " · ".join(extras)


def _where(path: str | None, line: int | None) -> str:
    if not path:
        return "pull request"
    return code(f"{path}:{line}" if line else path)


def _finding_rows(findings: list[ReportedFinding]) -> tuple[list[str], list[int]]:
    """Table rows, most severe place first, and how many findings each row holds: the findings
    of one place are one row of several lines, its location and resource on the first only (so
    that shortening a table never separates them)."""
    rows = []
    grouped = places(ordered(findings))
    for place in grouped:
        lines = []
        for i, rf in enumerate(place):
            f = rf.finding
            cells = [
                _where(f.path, f.line) if i == 0 else "",
                f"{code(f.policy)} ({f.severity})",
                (code(f.resource) if f.resource else "") if i == 0 else "",
                md(f.message),
            ]
            if rf.exception is not None:
                cells.append(f"{code(rf.exception.id)}, until {when(rf.exception.expires)}")
            lines.append(_row(*cells))
        rows.append("\n".join(lines))
    return rows, [len(place) for place in grouped]


def _policy_cell(use: ExceptionUse) -> str:
    return code(use.policy) if use.policy else "?"


def _findings(
    title: str, priority: int, intro: str, findings: list[ReportedFinding], *columns: str
) -> _Section:
    rows, sizes = _finding_rows(findings)
    header = _table("File", "Policy", "Resource", "Message", *columns)
    return _Section(f"{title} ({len(findings)})", priority, [intro], header, rows, sizes=sizes)


def _sections(report: Report, view: View) -> list[_Section]:
    exceptions_file = code(report.exceptions_file)
    sections = [
        _findings(
            "Blocking findings",
            1,
            "These fail the check. Fix them, or request an exception (see below).",
            view.shown(report.blocking),
        ),
        _Section(
            f"Errors ({len(report.errors)})",
            0,
            [
                "The check failed because these could not be evaluated: what can't be judged "
                "is not let through. Fix the file at the line named."
            ],
            _table("File", "Policy", "Problem"),
            [
                _row(
                    _where(e.path, e.line) if e.path else "configuration",
                    code(e.policy) if e.policy else "",
                    md(e.message, 500),
                )
                for e in report.errors
            ],
        ),
        _findings(
            "Advisory findings",
            8,
            "Reported for information; they do not fail the check.",
            view.shown(report.advisory),
        ),
        _findings(
            "Excepted findings",
            8,
            "Covered by the exceptions below; they do not fail the check.",
            view.shown(report.excepted),
            "Exception",
        ),
        _Section(
            f"Applied exceptions ({len(report.applied)})",
            3,
            ["The findings these cover do not fail the check."],
            _table(
                "Exception", "Policy", "Scope", "Expires", "Requested by", "Approved by", "Covers"
            ),
            [
                _row(
                    code(u.id),
                    _policy_cell(u),
                    "<br>".join(code(s) for s in (*u.paths, *u.resources)[:20]),
                    when(u.expires),
                    md(u.requested_by or "", 100),
                    ", ".join(md(a, 100) for a in u.approvers)
                    if u.verified and u.approvers
                    else ("approved" if u.verified else "not verified"),
                    count(u.findings, "finding"),
                )
                for u in report.applied
            ],
        ),
        _Section(
            f"Expiring soon ({len(report.expiring_soon)})",
            6,
            [
                "Still applied, but the deadline is near: fix the findings, or extend the "
                "exception (an extension needs a fresh approval)."
            ],
            _table("Exception", "Policy", "Expires", "Requested by"),
            [
                _row(code(u.id), _policy_cell(u), when(u.expires), md(u.requested_by or "", 100))
                for u in report.expiring_soon
            ],
        ),
        _Section(
            f"Expired exceptions ({len(report.expired)})",
            4,
            [
                "No longer applied: the findings they covered count again. Remove them from "
                f"{exceptions_file}, or request a new exception."
            ],
            _table("Exception", "Policy", "Expired", "Would cover"),
            [
                _row(code(u.id), _policy_cell(u), when(u.expires), count(u.findings, "finding"))
                for u in report.expired
            ],
        ),
        _Section(
            f"Unapproved exceptions ({len(report.unapproved)})",
            5,
            [f"Ignored: no approved pull request added these exact entries to {exceptions_file}."],
            _table("Exception", "Policy", "Problem"),
            [
                _row(code(u.id), _policy_cell(u), md(u.problem or "not approved"))
                for u in report.unapproved
            ],
        ),
        _Section(
            f"Invalid exceptions ({len(report.invalid)})",
            5,
            [f"Ignored until they are fixed in {exceptions_file}."],
            _table("Exception", "Policy", "Line", "Problem"),
            [
                _row(
                    code(u.id),
                    _policy_cell(u),
                    str(u.line) if u.line else "",
                    md(u.problem or "invalid", 500),
                )
                for u in report.invalid
            ],
        ),
        _Section(
            f"Unused exceptions ({len(report.unused)})",
            9,
            ["These match nothing in this change."],
            _table("Exception", "Policy", "Expires"),
            [_row(code(u.id), _policy_cell(u), when(u.expires)) for u in report.unused],
        ),
    ]
    if report.exclude:
        sections.append(_exclusions(report))
    if report.blocking:
        sections.append(_how_to_request(report))
    if report.notes:
        sections.append(_Section("Notes", 2, rows=[f"- {md(n, 1000)}" for n in report.notes]))
    return sections


def _exclusions(report: Report) -> _Section:
    """The ``exclude:`` globs in force and the files of this change each kept out."""
    rows = []
    for glob in report.exclude:
        paths = report.excluded.get(glob, [])
        listed = [code(path) for path in paths[:EXCLUDED_SHOWN]]
        if len(paths) > EXCLUDED_SHOWN:
            listed.append(f"… and {len(paths) - EXCLUDED_SHOWN} more")
        what = excluded_summary(report, glob) + (": " + ", ".join(listed) if listed else "")
        rows.append(_row(code(glob), what))
    return _Section(
        f"Excluded by {code(CONFIG_PATH)} ({len(report.exclude)})",
        2,
        ["Files these globs match are not checked by any policy."],
        _table("Glob", "Files"),
        rows,
    )


def _how_to_request(report: Report) -> _Section:
    rules: dict[str, ExceptionPolicy] = {}
    for rf in ordered(report.blocking):
        policy = report.policies.get(rf.finding.policy)
        rules.setdefault(rf.finding.policy, policy.exceptions if policy else ExceptionPolicy())
    target = _first_exemptible(report.blocking, rules)
    exceptions_file = code(report.exceptions_file)

    intro: list[str]
    if target is None:
        intro = ["The policies of the blocking findings do not allow exceptions: fix them."]
    else:
        policy_id = target.policy if _SAFE_TOKEN.fullmatch(target.policy) else "POLICY"
        path = target.path if target.path and _SAFE_TOKEN.fullmatch(target.path) else "PATH"
        days = min(30, rules[target.policy].max_days)
        command = (
            f"/compliance exempt {policy_id} --paths '{path}' "
            f'--reason "..." --expires {days}d --ticket ID'
        )
        intro = [
            "If a blocking finding can't be fixed in this pull request, comment:",
            f"```\n{command}\n```",
            "The bot then opens a pull request that adds the entry to "
            f"{exceptions_file} and asks the file's code owners to review it. You can also "
            f"edit {exceptions_file} by hand in a dedicated pull request (changing nothing "
            "else), approved by the file's code owners. Either way the exception applies once "
            "it is merged with a code owner's approval, for at most the days below.",
        ]
    rows = [
        _row(
            code(pid),
            f"{count(rule.max_days, 'day')}" if rule.allowed else "not allowed: fix the finding",
        )
        for pid, rule in rules.items()
    ]
    return _Section(
        "How to request an exception", 7, intro, _table("Policy", "Longest exception"), rows
    )


def _first_exemptible(
    blocking: list[ReportedFinding], rules: dict[str, ExceptionPolicy]
) -> Finding | None:
    """The finding to prefill the command with: the first one whose policy allows exceptions,
    preferring one in a file (an exception is scoped by paths)."""
    allowed = [rf.finding for rf in ordered(blocking) if rules[rf.finding.policy].allowed]
    in_files = [f for f in allowed if f.path]
    return next(iter(in_files or allowed), None)
