"""Deadlines of exceptions: what is due now, and the words the bot uses about it (DESIGN §1.6-7).

``plan`` sorts the exceptions of a repository by state at ``now``: expired (to be removed by the
one cleanup pull request), expiring soon, applying, unapproved, unused and invalid, and says which
reminders are due. The text functions render the cleanup pull request, a reminder comment and the
dashboard issue from that plan. Jobs elsewhere reconcile the forge with this text, ossf/allstar
style: find the bot's own issue, pull request or comment by its hidden marker, and edit it only
when the text differs. So the output is deterministic (sorted, no clock but ``now``, and the
dashboard shows ``now`` to the day) and each text starts with a marker.

Pure: no forge, no I/O, no clock. Repository-controlled text (reasons, paths, ids, tickets,
logins) goes through ``bot.report.markdown.md``/``code``, so it can't forge a marker, mention
anyone or link an issue. The one deliberate exception: the requester of an exception is
@-mentioned in cleanup bodies and reminders, because they are the person to notify; only a name
that is a valid forge login is mentioned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from bot.checking import Approval
from bot.exemptions.model import ID_PATTERN, ExemptionEntry, is_date_only, require_aware
from bot.repoconfig import CONFIG_PATH, EXCEPTIONS_PATH
from bot.report.markdown import code, md
from bot.report.text import count

__all__ = [
    "CLEANUP_MARKER",
    "DASHBOARD_MARKER",
    "MAX_BODY",
    "Approval",
    "Plan",
    "Reminder",
    "cleanup_pr_body",
    "cleanup_pr_title",
    "dashboard_body",
    "dashboard_title",
    "deadline",
    "parse_reminder_marker",
    "plan",
    "reminder_comment",
    "reminder_marker",
]

CLEANUP_MARKER = "<!-- compliance-bot:cleanup -->"
DASHBOARD_MARKER = "<!-- compliance-bot:dashboard -->"
REMINDER_PREFIX = "<!-- compliance-bot:reminder "
MAX_BODY = 65536  # GitHub's limit for an issue or pull request body, in characters
HASH_PREFIX = 12  # characters of the content hash written in a reminder marker

_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?")
_SAFE_URL = re.compile(r"https?://[A-Za-z0-9._~:/%-]+")
_REMINDER_MARKER = re.compile(
    r"<!-- compliance-bot:reminder id=(?P<id>[A-Za-z0-9._-]{1,64}) "
    r"hash=(?P<hash>[0-9a-f]{1,64}) days=(?P<days>\d{1,6}) -->"
)
_MAX_SCOPE_ITEMS = 10
_LIST_COMMAND = "`compliance-bot exceptions list`"


# -- planning ------------------------------------------------------------------------------------


class Reminder(NamedTuple):
    """A reminder due now: ``entry`` has crossed the ``days`` threshold before its deadline."""

    entry: ExemptionEntry
    days: int


@dataclass(frozen=True)
class Plan:
    """The exceptions of one repository, by state at one instant. Every list is sorted.

    ``expired``, ``invalid``, ``unapproved``, ``expiring`` and ``active`` are disjoint, in that
    order of precedence: an expired entry is removed whatever else is wrong with it (removing an
    opt-out only makes the rules stricter). ``expiring`` and ``active`` together are the
    exceptions that apply (approved, valid, unexpired). ``unused`` is a subset of those, and
    ``reminders`` concern only exceptions that apply. ``invalid`` is ``(id, problem)`` as given.
    """

    expired: tuple[ExemptionEntry, ...] = ()
    expiring: tuple[ExemptionEntry, ...] = ()
    reminders: tuple[Reminder, ...] = ()
    active: tuple[ExemptionEntry, ...] = ()
    unapproved: tuple[ExemptionEntry, ...] = ()
    unused: tuple[ExemptionEntry, ...] = ()
    invalid: tuple[tuple[str, str], ...] = ()

    @property
    def applying(self) -> tuple[ExemptionEntry, ...]:
        """Approved, valid and unexpired: expiring soon or not."""
        return tuple(sorted((*self.expiring, *self.active), key=_by_deadline))

    @property
    def empty(self) -> bool:
        return not (self.expired or self.expiring or self.active or self.unapproved or self.invalid)


def _by_deadline(entry: ExemptionEntry) -> tuple[datetime, str, str]:
    return (entry.expires, entry.id, entry.content_hash())


def plan(
    entries: Iterable[ExemptionEntry],
    *,
    now: datetime,
    approvals: Mapping[str, Approval],
    reminder_days: Iterable[int],
    reminders_sent: Iterable[tuple[str, str, int]] = (),
    unused_ids: Iterable[str] = (),
    invalid: Iterable[tuple[str, str]] = (),
    expiring_soon_days: int | None = None,
) -> Plan:
    """Sort ``entries`` (the schema-valid entries of the exceptions file) by state at ``now``.

    - ``approvals`` maps a content hash to its approval (ledger); an entry without one is
      unapproved: it does not apply, gets no reminder, but is removed once expired.
    - An entry is expired from its deadline on (``now >= entry.expires``: a date means the end
      of that day, UTC). Expiring soon: within ``expiring_soon_days`` of the deadline, by default
      the largest of ``reminder_days``.
    - Reminders: for each applying entry, the smallest threshold of ``reminder_days`` already
      crossed (``expires - now <= days``) is due unless ``(id, hash, days)`` is in
      ``reminders_sent``, where hash is the full content hash or its first 12 characters (as a
      reminder marker has it). So each threshold is reminded at most once per version of an
      exception; a renewal (new content, new hash) starts over; and when several thresholds are
      crossed at once (a short exception, or the bot was down) only the most urgent one is sent,
      never a burst of stale ones.
    - ``unused_ids``: ids of exceptions that matched nothing; ``invalid``: ``(id, problem)`` for
      entries with a problem (those ids are listed only as invalid, unless expired).
    """
    now = require_aware(now)
    thresholds = sorted({d for d in reminder_days if d > 0})
    soon = timedelta(
        days=expiring_soon_days if expiring_soon_days is not None else max(thresholds, default=0)
    )
    sent = set(reminders_sent)
    unused = set(unused_ids)
    problems = sorted(set(invalid))
    invalid_ids = {entry_id for entry_id, _ in problems}

    expired: list[ExemptionEntry] = []
    expiring: list[ExemptionEntry] = []
    active: list[ExemptionEntry] = []
    unapproved: list[ExemptionEntry] = []
    reminders: list[Reminder] = []
    for entry in sorted(entries, key=_by_deadline):
        if entry.is_expired(now):
            expired.append(entry)
            continue
        if entry.id in invalid_ids:
            continue
        digest = entry.content_hash()
        if digest not in approvals:
            unapproved.append(entry)
            continue
        remaining = entry.expires - now
        (expiring if remaining <= soon else active).append(entry)
        crossed = [d for d in thresholds if remaining <= timedelta(days=d)]
        if crossed:
            days = crossed[0]
            if (entry.id, digest, days) not in sent and (
                entry.id,
                digest[:HASH_PREFIX],
                days,
            ) not in sent:
                reminders.append(Reminder(entry, days))

    expired_ids = {e.id for e in expired}
    applying = [*expiring, *active]
    return Plan(
        expired=tuple(expired),
        expiring=tuple(expiring),
        reminders=tuple(reminders),
        active=tuple(active),
        unapproved=tuple(unapproved),
        unused=tuple(sorted((e for e in applying if e.id in unused), key=lambda e: e.id)),
        invalid=tuple(p for p in problems if p[0] not in expired_ids),
    )


# -- shared pieces of text -----------------------------------------------------------------------


def deadline(entry: ExemptionEntry) -> str:
    """The deadline as people wrote it: a date (meaning the end of that day, UTC) or a UTC time."""
    if is_date_only(entry.expires_text):
        return entry.expires_text
    moment = entry.expires
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if moment.second else "%Y-%m-%d %H:%M UTC")


def _deadline_long(entry: ExemptionEntry) -> str:
    if is_date_only(entry.expires_text):
        return f"{entry.expires_text} (end of that day, UTC)"
    return deadline(entry)


def _login(name: str | None) -> str | None:
    """A forge login as written in ``requested_by`` (an ``@`` in front is tolerated), or None."""
    if not name:
        return None
    name = name.removeprefix("@")
    return name if _LOGIN.fullmatch(name) else None


def _mention(name: str | None) -> str:
    """``@login`` for a valid login (to notify them); other text made inert; ``-`` when absent."""
    login = _login(name)
    if login:
        return f"@{login}"
    return md(name, 100) if name else "-"


def _person(name: str | None) -> str:
    """A login shown without notifying anyone."""
    return md(name.removeprefix("@"), 100) if name else "-"


def _safe_url(repo_url: str | None) -> str | None:
    if repo_url and _SAFE_URL.fullmatch(repo_url):
        return repo_url.rstrip("/")
    return None


@dataclass(frozen=True)
class _Site:
    """How the text refers to the forge's changes: ``#12`` on GitHub, ``!12`` on GitLab (where
    ``#12`` is an issue), linked when the repository's address is known."""

    url: str | None = None
    sigil: str = "#"

    @staticmethod
    def of(repo_url: str | None, sigil: str) -> _Site:
        return _Site(_safe_url(repo_url), sigil)


def _pr_link(number: int | None, site: _Site) -> str:
    if number is None:
        return "-"
    ref = f"{site.sigil}{int(number)}"
    if not site.url:
        return ref
    path = "-/merge_requests" if site.sigil == "!" else "pull"
    return f"[{ref}]({site.url}/{path}/{int(number)})"


def _scope(entry: ExemptionEntry) -> str:
    items = (*entry.paths, *entry.resources)
    shown = [code(item) for item in items[:_MAX_SCOPE_ITEMS]]
    if len(items) > _MAX_SCOPE_ITEMS:
        shown.append(f"+{len(items) - _MAX_SCOPE_ITEMS} more")
    return "<br>".join(shown) or "-"


def _approved(approval: Approval | None, site: _Site, *, where: bool = True) -> str:
    """``bob, carol in #12 (renewed 2 times)``; ``not approved`` without a ledger record."""
    if approval is None:
        return "not approved"
    who = ", ".join(_person(a) for a in sorted(approval.approvers)) or "approved"
    pr = approval.pull_request
    where_text = f" in {_pr_link(pr, site)}" if where and pr is not None else ""
    n = approval.renewal_count
    renewal = f" (renewed {count(n, 'time')})" if n else ""
    return who + where_text + renewal


def _approval_of(entry: ExemptionEntry, approvals: Mapping[str, Approval]) -> Approval | None:
    return approvals.get(entry.content_hash())


def _marker_id(entry_id: str) -> str:
    return entry_id if ID_PATTERN.fullmatch(entry_id) else "invalid-id"


# -- size-limited sections -----------------------------------------------------------------------


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _table(*columns: str) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


@dataclass
class _Section:
    """A heading, fixed text and table rows; rows of lower ``priority`` are kept longest."""

    title: str
    priority: int
    intro: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)

    def render(self, shown: int, more: Callable[[int], str]) -> str:
        parts = [f"## {self.title}", *self.intro]
        if shown:
            parts.append("\n".join([*self.header, *self.rows[:shown]]))
        if shown < len(self.rows):
            parts.append(more(len(self.rows) - shown))
        return "\n\n".join(parts)


def _truncation_note(what: str) -> Callable[[int], str]:
    def more(n: int) -> str:
        return (
            f"… {n} more not shown (the {what} is truncated to GitHub's size limit); "
            f"run {_LIST_COMMAND}"
        )

    return more


def _fit(head: str, sections: Sequence[_Section], tail: str, max_chars: int, what: str) -> str:
    """Join the parts; when over ``max_chars`` (UTF-8 bytes, exclusive), drop rows from the
    lowest-priority sections first, each shortened table followed by a truncation note."""
    _more = _truncation_note(what)

    def join(rendered: Sequence[str]) -> str:
        return "\n\n".join([head, *rendered, tail]) + "\n"

    limit = max_chars - 1
    full = join([s.render(len(s.rows), _more) for s in sections])
    if _size(full) <= limit:
        return full
    budget = limit - _size(join([s.render(0, _more) for s in sections]))
    shown = [0] * len(sections)
    for i in sorted(range(len(sections)), key=lambda i: sections[i].priority):
        section = sections[i]
        for row in section.rows:
            cost = _size(row) + 1
            if shown[i] == 0:
                cost += sum(_size(h) + 1 for h in section.header) + 1
            if cost > budget:
                break
            budget -= cost
            shown[i] += 1
        if shown[i] < len(section.rows):
            budget = 0  # rows are dropped lowest priority first: nothing below this one fits
    out = join([s.render(n, _more) for s, n in zip(sections, shown, strict=True)])
    if _size(out) > limit:  # only when even the fixed text does not fit: marker and a note
        marker = head.split("\n", 1)[0]
        out = f"{marker}\n\n{_more(sum(len(s.rows) for s in sections))}\n"
    return out


# -- the cleanup pull request --------------------------------------------------------------------


def cleanup_pr_title(n: int) -> str:
    """Title of the one cleanup pull request of a repository."""
    return f"compliance-bot: remove {count(n, 'expired exception')}"


def cleanup_pr_body(
    plan_or_expired_entries: Plan | Iterable[ExemptionEntry],
    approvals: Mapping[str, Approval],
    *,
    repo_url: str | None = None,
    sigil: str = "#",
    max_chars: int = MAX_BODY,
) -> str:
    """Body of the cleanup pull request that removes the expired entries.

    Lists each removed exception (policy, scope, reason, requester, approvers, the pull request
    that introduced it, deadline), mentions the requesters, and says what to do now. Independent
    of the clock, so an unchanged set of expired entries gives the same text.
    """
    site = _Site.of(repo_url, sigil)
    if isinstance(plan_or_expired_entries, Plan):
        expired = list(plan_or_expired_entries.expired)
    else:
        expired = sorted(plan_or_expired_entries, key=_by_deadline)
    path = code(EXCEPTIONS_PATH)
    head = "\n\n".join(
        [
            CLEANUP_MARKER,
            f"This pull request removes {count(len(expired), 'expired exception')} from {path} "
            "and changes nothing else.",
            "They passed their deadline and no longer apply: the policies they opted out of "
            "apply again to their scope, so findings they covered count again, and pull "
            "requests that relied on them fail the `compliance` check until the findings are "
            "fixed. Merging this pull request only removes entries that are already dead; "
            "leaving it open changes nothing either.",
        ]
    )
    rows = []
    for entry in expired:
        approval = _approval_of(entry, approvals)
        rows.append(
            _row(
                code(entry.id),
                code(entry.policy),
                _scope(entry),
                md(entry.reason, 300),
                _mention(entry.requested_by),
                _approved(approval, site, where=False),
                _pr_link(approval.pull_request if approval else None, site),
                deadline(entry),
            )
        )
    section = _Section(
        f"Removed exceptions ({len(expired)})",
        0,
        header=_table(
            "Exception",
            "Policy",
            "Scope",
            "Reason",
            "Requested by",
            "Approved by",
            "Introduced in",
            "Expired",
        ),
        rows=rows,
    )
    tail = "\n\n".join(
        [
            "## What to do",
            "- **Fix the findings** the exceptions covered: run `compliance-bot check` on a "
            "checkout, or read the `compliance` check of an affected pull request.\n"
            "- **Still need an opt-out?** Request a fresh exception through a reviewed pull "
            "request, for example by commenting on the pull request that needs it:\n"
            "  `/compliance exempt POLICY --paths 'GLOB' --reason \"...\" --expires 30d`\n"
            f"  It applies once a code owner of {path} approves it. Adding an entry back by "
            "hand needs the same review.",
            "Deadlines are dates (the end of that day, UTC) or UTC times.",
        ]
    )
    return _fit(head, [section], tail, max_chars, "pull request description")


# -- reminders -----------------------------------------------------------------------------------


def reminder_marker(entry: ExemptionEntry, days: int) -> str:
    """``<!-- compliance-bot:reminder id=EXC-1 hash=0123456789ab days=14 -->``."""
    digest = entry.content_hash()[:HASH_PREFIX]
    return f"{REMINDER_PREFIX}id={_marker_id(entry.id)} hash={digest} days={int(days)} -->"


def parse_reminder_marker(text: str) -> tuple[str, str, int] | None:
    """``(id, hash prefix, days)`` from a reminder's marker (its first line), for rebuilding
    ``reminders_sent`` from the comments already posted; None when ``text`` has no marker."""
    match = _REMINDER_MARKER.match(text)
    if not match:
        return None
    return match["id"], match["hash"], int(match["days"])


def _remaining(entry: ExemptionEntry, now: datetime) -> str:
    left = entry.expires - require_aware(now)
    if left >= timedelta(days=1):
        return f"in {count(left.days, 'day')}"
    if left >= timedelta(hours=1):
        return f"in {count(left.seconds // 3600, 'hour')}"
    if left > timedelta(0):
        return "in less than an hour"
    return "already"


def reminder_comment(
    entry: ExemptionEntry,
    days: int,
    approval: Approval | None,
    now: datetime,
    *,
    repo_url: str | None = None,
    sigil: str = "#",
) -> str:
    """A reminder that ``entry`` expires soon, addressed to its requester.

    Says when it expires, what happens then, and how to extend it (a fresh approval) or fix the
    findings instead. The marker names the id, the content hash and the threshold, so the bot
    sends each threshold once per version of the exception.
    """
    who = _login(entry.requested_by)
    greeting = f"@{who}, the" if who else "The"
    extend = f'/compliance extend {_marker_id(entry.id)} --expires 30d --reason "..."'
    details = [
        f"- **Scope:** {_scope(entry).replace('<br>', ', ')}",
        f"- **Reason:** {md(entry.reason, 500)}",
    ]
    if entry.ticket:
        details.append(f"- **Ticket:** {md(entry.ticket, 100)}")
    if not who and entry.requested_by:
        details.append(f"- **Requested by:** {md(entry.requested_by, 100)}")
    details.append(f"- **Approved by:** {_approved(approval, _Site.of(repo_url, sigil))}")
    return (
        "\n\n".join(
            [
                reminder_marker(entry, days),
                f"⏰ {greeting} exception {code(entry.id)} for policy {code(entry.policy)} "
                f"expires {_remaining(entry, now)}, on **{_deadline_long(entry)}**.",
                "\n".join(details),
                "**When it expires**, it stops applying: the findings it covers fail the "
                "`compliance` check again (open pull requests that relied on it turn red), and "
                f"the bot opens a pull request that removes it from {code(EXCEPTIONS_PATH)}.",
                "**Best:** fix the findings, then remove the entry. **If you still need it**, "
                "ask for an extension (the new deadline and reason need a fresh approval from "
                "the code owners of the exceptions file):",
                f"```\n{extend}\n```",
            ]
        )
        + "\n"
    )


# -- the dashboard issue -------------------------------------------------------------------------


def dashboard_title() -> str:
    """Title of the dashboard issue (found again by its marker, not by this title)."""
    return "Compliance exceptions dashboard"


def _full_cells(
    entry: ExemptionEntry, approvals: Mapping[str, Approval], site: _Site
) -> tuple[str, ...]:
    approval = _approval_of(entry, approvals)
    return (
        code(entry.id),
        code(entry.policy),
        _scope(entry),
        deadline(entry),
        _person(entry.requested_by),
        _approved(approval, site),
        md(entry.reason, 200),
        md(entry.ticket, 100) if entry.ticket else "-",
    )


_FULL_COLUMNS = (
    "Exception",
    "Policy",
    "Scope",
    "Expires",
    "Requested by",
    "Approved by",
    "Reason",
    "Ticket",
)


def dashboard_body(
    plan: Plan,
    approvals: Mapping[str, Approval],
    *,
    now: datetime,
    repo_url: str | None = None,
    sigil: str = "#",
    cleanup_pr: int | None = None,
    max_chars: int = MAX_BODY,
    branch: str | None = None,
    others: Mapping[str, tuple[Plan, int | None]] | None = None,
    exclude: Sequence[str] = (),
) -> str:
    """Body of the dashboard issue: every exception by state, then when it was last updated.

    ``exclude`` is the default branch's ``exclude:`` (paths never evaluated): an opt-out too,
    listed in its own section, kept ahead of active and unused exceptions when space runs out.

    ``plan`` is the default branch's (``branch``); ``others`` holds the plan and cleanup PR of
    every other base branch with exceptions. With other branches, every table gains a Branch
    column, so an exception on ``release/1.x`` is as visible as one on the default branch.

    Sections only when non-empty, with counts. Under ``max_chars`` UTF-8 bytes: rows of the
    least urgent sections (unused, active) are dropped first, with a note naming how many and
    the command that lists them all. ``now`` is shown to the day, so an unchanged state edits
    the issue at most once a day.
    """
    now = require_aware(now)
    plans: list[tuple[str, Plan, int | None]] = [(branch or "", plan, cleanup_pr)]
    plans += [(name, p, pr) for name, (p, pr) in sorted((others or {}).items())]
    multi = len(plans) > 1

    def each(state: str) -> list[tuple[str, ExemptionEntry]]:
        return [(name, e) for name, p, _ in plans for e in getattr(p, state)]

    def row(name: str, *cells: str) -> str:
        return _row(code(name), *cells) if multi else _row(*cells)

    def table(*columns: str) -> list[str]:
        return _table("Branch", *columns) if multi else _table(*columns)

    active, expiring, expired = each("active"), each("expiring"), each("expired")
    unapproved, unused = each("unapproved"), each("unused")
    invalid = [(name, item) for name, p, _ in plans for item in p.invalid]
    path = code(EXCEPTIONS_PATH)
    where = f"{path} of each branch" if multi else path
    intro = (
        f"The opt-outs in {where} and their deadlines. The bot keeps this issue up to date; "
        "edits to it are overwritten."
    )
    counts = [
        f"{len(active) + len(expiring)} applying",
        f"{len(expiring)} expiring soon",
        f"{len(expired)} expired",
        f"{len(unapproved)} unapproved",
        f"{len(invalid)} invalid",
        f"{len(unused)} unused",
    ]
    head = "\n\n".join([DASHBOARD_MARKER, intro, "**" + " · ".join(counts) + "**"])
    if all(p.empty for _, p, _ in plans) and not exclude:
        head += (
            "\n\nNo exceptions: every policy applies in full. Exceptions are requested with "
            "`/compliance exempt` on a pull request."
        )
    tail = (
        f"_Last updated {now.date().isoformat()} (UTC). Full list on a checkout: {_LIST_COMMAND}._"
    )

    url = _Site.of(repo_url, sigil)
    if not multi:
        cleanup = (
            f"The cleanup pull request {_pr_link(cleanup_pr, url)} removes them."
            if cleanup_pr is not None
            else "The bot opens a cleanup pull request that removes them."
        )
    else:
        links = [
            f"{_pr_link(pr, url)} on {code(name)}"
            for name, p, pr in plans
            if p.expired and pr is not None
        ]
        cleanup = (
            f"The cleanup pull requests ({', '.join(links)}) remove them."
            if links
            else "The bot opens one cleanup pull request per branch that removes them."
        )

    def full(name: str, e: ExemptionEntry) -> str:
        return row(name, *_full_cells(e, approvals, url))

    candidates = [
        _Section(
            f"Active exceptions ({len(active)})",
            4,
            ["Applied: the findings they cover do not fail the check."],
            table(*_FULL_COLUMNS),
            [full(n, e) for n, e in active],
        ),
        _Section(
            f"Expiring soon ({len(expiring)})",
            1,
            [
                "Still applied, but the deadline is near: fix the findings, or extend with "
                '`/compliance extend ID --expires DATE --reason "..."` (a fresh approval).'
            ],
            table(*_FULL_COLUMNS),
            [full(n, e) for n, e in expiring],
        ),
        _Section(
            f"Expired, awaiting cleanup ({len(expired)})",
            0,
            [f"No longer applied: the findings they covered count again. {cleanup}"],
            table("Exception", "Policy", "Scope", "Expired", "Requested by", "Approved by"),
            [
                row(
                    n,
                    code(e.id),
                    code(e.policy),
                    _scope(e),
                    deadline(e),
                    _person(e.requested_by),
                    _approved(_approval_of(e, approvals), url),
                )
                for n, e in expired
            ],
        ),
        _Section(
            f"Unapproved, ignored ({len(unapproved)})",
            3,
            [
                "Not applied: no approved pull request added this exact content (changed "
                "after approval, or pushed directly). Re-request them through a reviewed pull "
                "request, or remove them."
            ],
            table("Exception", "Policy", "Scope", "Expires", "Requested by", "Line"),
            [
                row(
                    n,
                    code(e.id),
                    code(e.policy),
                    _scope(e),
                    deadline(e),
                    _person(e.requested_by),
                    str(e.line),
                )
                for n, e in unapproved
            ],
        ),
        _Section(
            f"Unused ({len(unused)})",
            5,
            ["Applied, but they match no finding: consider removing them."],
            table("Exception", "Policy", "Expires"),
            [row(n, code(e.id), code(e.policy), deadline(e)) for n, e in unused],
        ),
        _Section(
            f"Invalid, ignored ({len(invalid)})",
            2,
            [f"Not applied until they are fixed in {where}."],
            table("Exception", "Problem"),
            [row(n, code(entry_id), md(problem, 500)) for n, (entry_id, problem) in invalid],
        ),
    ]
    config = code(CONFIG_PATH)
    candidates.append(
        _Section(
            f"Excluded paths ({len(exclude)})",
            3,
            [
                f"Never evaluated, by `exclude:` in {config} on the default branch. Adding an"
                " exclusion needs the code owners' approval, like an exception."
            ],
            _table("Glob"),
            [_row(code(glob)) for glob in exclude],
        )
    )
    sections = [s for s in candidates if s.rows]
    return _fit(head, sections, tail, max_chars, "dashboard")
