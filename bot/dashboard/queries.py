"""The dashboard's questions, each one or two indexed queries, bounded by a page.

``visible`` is always the set of repository names the person may see, or ``None`` for a
deployment admin; an empty set sees nothing (and costs nothing).
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, Text, and_, cast, false, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from bot.audit import query as audit_query
from bot.audit.chain import utc
from bot.store import Store
from bot.store.tables import (
    AuditCheckpoint,
    AuditEvent,
    AuditHead,
    CheckRecord,
    CheckReport,
    ExceptionHistory,
    ExceptionStanding,
    ForgedStatus,
)

Visible = frozenset[str] | None

STATES = ("active", "expiring", "expired", "unapproved", "invalid")
STATE_LABELS = {
    "active": "active",
    "expiring": "expiring soon",
    "expired": "expired, awaiting cleanup",
    "unapproved": "unapproved (ignored)",
    "invalid": "invalid (ignored)",
    "unused": "unused",
}
SORTS = {
    "expires": ExceptionStanding.expires,
    "repository": ExceptionStanding.repository,
    "policy": ExceptionStanding.policy,
    "state": ExceptionStanding.state,
    "id": ExceptionStanding.exception_id,
    "approved": ExceptionStanding.approved_at,
    "requested_by": ExceptionStanding.requested_by,
}
PAGE = 50
MAX_PAGE = 500
HISTORY_DAYS = 90
CSV_FIELDS = (
    "forge",
    "repository",
    "branch",
    "id",
    "policy",
    "state",
    "unused",
    "paths",
    "resources",
    "reason",
    "ticket",
    "requested_by",
    "expires",
    "approvers",
    "approval_pull_request",
    "approved_at",
    "renewal_count",
    "cleanup_pull_request",
    "problem",
    "swept_at",
)


def _within(
    column: InstrumentedAttribute[Any],
    visible: Visible,
    forge: str | None = None,
    forge_column: InstrumentedAttribute[Any] | None = None,
) -> Any:
    """The condition "this row's repository may be seen": by name, and where the row says its
    forge, of the forge the person signed in with (a GitLab project is not visible through a
    GitHub sign-in because an ``owner/name`` matches)."""
    if visible is None:
        return true()
    if not visible:
        return false()
    names = column.in_(sorted(visible))
    if forge is not None and forge_column is not None:
        return and_(names, forge_column == forge)
    return names


# -- the overview ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]
    unused: int
    forged: int
    repositories: int
    swept_at: datetime | None
    by_policy: list[tuple[str, int]]
    history: list[tuple[date, int, int, int]]  # day, live, expired, unapproved
    urgent: list[ExceptionStanding]
    approvers: list[tuple[str, int]]
    requesters: list[tuple[str, int]]

    @property
    def live(self) -> int:
        return self.counts.get("active", 0) + self.counts.get("expiring", 0)


def overview(
    store: Store, visible: Visible, now: datetime, *, urgent: int = 10, forge: str | None = None
) -> Overview:
    s = ExceptionStanding
    mine = _within(s.repository, visible, forge, s.forge)
    with store.session() as session:
        counts = dict.fromkeys(STATES, 0)
        for state, n in session.execute(
            select(s.state, func.count()).where(mine).group_by(s.state)
        ):
            counts[state] = n
        unused = (
            session.scalar(select(func.count()).select_from(s).where(mine, s.unused.is_(True))) or 0
        )
        repositories = session.scalar(select(func.count(func.distinct(s.repository))).where(mine))
        swept_at = session.scalar(select(func.max(s.swept_at)).where(mine))
        live = s.state.in_(("active", "expiring"))
        by_policy = [
            (policy or "?", n)
            for policy, n in session.execute(
                select(s.policy, func.count())
                .where(mine, live)
                .group_by(s.policy)
                .order_by(func.count().desc(), s.policy)
                .limit(12)
            )
        ]
        h = ExceptionHistory
        since = (now - timedelta(days=HISTORY_DAYS)).date()
        history = [
            (day if isinstance(day, date) else date.fromisoformat(str(day)), a or 0, b or 0, c or 0)
            for day, a, b, c in session.execute(
                select(h.day, func.sum(h.live), func.sum(h.expired), func.sum(h.unapproved))
                .where(_within(h.repository, visible, forge, h.forge), h.day >= since)
                .group_by(h.day)
                .order_by(h.day)
            )
        ]
        # most urgent first: expired and still in the file, ignored ones, then the deadlines
        rank = {"expired": 0, "unapproved": 1, "invalid": 2, "expiring": 3, "active": 4}
        found: list[ExceptionStanding] = []
        for state in sorted(rank, key=rank.__getitem__):
            if len(found) >= urgent:
                break
            found += session.scalars(
                select(s)
                .where(mine, s.state == state)
                .order_by(s.expires.is_(None), s.expires, s.repository, s.exception_id)
                .limit(urgent - len(found))
            ).all()
        approvers: Counter[str] = Counter()
        requesters: Counter[str] = Counter()
        for people, requested_by in session.execute(
            select(s.approvers, s.requested_by).where(mine, live)
        ):
            approvers.update(people or ())
            if requested_by:
                requesters[requested_by] += 1
        forged = (
            session.scalar(
                select(func.count())
                .select_from(ForgedStatus)
                .where(_within(ForgedStatus.repository, visible, forge, ForgedStatus.forge))
            )
            or 0
        )
    return Overview(
        counts=counts,
        unused=unused,
        forged=forged,
        repositories=repositories or 0,
        swept_at=swept_at,
        by_policy=by_policy,
        history=history,
        urgent=found,
        approvers=approvers.most_common(5),
        requesters=requesters.most_common(5),
    )


# -- the exceptions table ----------------------------------------------------------------------
@dataclass(frozen=True)
class ExceptionFilter:
    repository: str | None = None
    policy: str | None = None
    state: str | None = None  # one of STATES, or "unused", or "live"
    person: str | None = None  # requested by
    approver: str | None = None
    expiring_within: int | None = None  # days
    text: str | None = None  # in the id, reason or ticket
    sort: str = "expires"
    descending: bool = False
    page: int = 1
    per_page: int = PAGE

    def where(
        self, query: Select, visible: Visible, now: datetime, forge: str | None = None
    ) -> Select:
        s = ExceptionStanding
        query = query.where(_within(s.repository, visible, forge, s.forge))
        if self.repository:
            query = query.where(s.repository == self.repository)
        if self.policy:
            query = query.where(s.policy == self.policy)
        if self.state == "unused":
            query = query.where(s.unused.is_(True))
        elif self.state == "live":
            query = query.where(s.state.in_(("active", "expiring")))
        elif self.state:
            query = query.where(s.state == self.state)
        if self.person:
            query = query.where(func.lower(s.requested_by) == self.person.lower())
        if self.approver:
            # a JSON list of logins: narrowed by its text, made exact below (``keep``)
            query = query.where(cast(s.approvers, Text).contains(self.approver, autoescape=True))
        if self.expiring_within is not None:
            query = query.where(
                s.expires.is_not(None),
                s.expires <= now + timedelta(days=self.expiring_within),
                s.state.in_(("active", "expiring", "expired")),
            )
        if self.text:
            like = f"%{self.text.lower()}%"
            query = query.where(
                or_(
                    func.lower(s.exception_id).like(like),
                    func.lower(s.reason).like(like),
                    func.lower(s.ticket).like(like),
                )
            )
        return query

    def keep(self, row: ExceptionStanding) -> bool:
        if not self.approver:
            return True
        wanted = self.approver.lower()
        return any(str(a).lower() == wanted for a in row.approvers or ())


@dataclass(frozen=True)
class ExceptionPage:
    rows: list[ExceptionStanding]
    total: int
    filter: ExceptionFilter
    policies: list[str] = field(default_factory=list)
    repositories: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.filter.per_page))


def exceptions(
    store: Store,
    visible: Visible,
    where: ExceptionFilter,
    now: datetime,
    *,
    forge: str | None = None,
) -> ExceptionPage:
    s = ExceptionStanding
    order = _order(where)
    per_page = max(1, min(where.per_page, MAX_PAGE))
    page = max(1, where.page)
    with store.session() as session:
        counting = select(func.count()).select_from(s)
        total = session.scalar(where.where(counting, visible, now, forge)) or 0
        query = where.where(select(s), visible, now, forge).order_by(*order)
        if where.approver:  # exact match made here: page in Python over the narrowed rows
            rows = [r for r in session.scalars(query) if where.keep(r)]
            total = len(rows)
            rows = rows[(page - 1) * per_page : page * per_page]
        else:
            rows = list(session.scalars(query.offset((page - 1) * per_page).limit(per_page)))
        mine = _within(s.repository, visible, forge, s.forge)
        policies = [
            p
            for p in session.scalars(select(s.policy).where(mine).distinct().order_by(s.policy))
            if p
        ]
        repositories = list(
            session.scalars(
                select(s.repository).where(mine).distinct().order_by(s.repository).limit(2000)
            )
        )
    return ExceptionPage(
        rows, total, replace(where, page=page, per_page=per_page), policies, repositories
    )


def _order(where: ExceptionFilter) -> list[Any]:
    """The chosen column either way, rows without a value last (as both databases agree)."""
    s = ExceptionStanding
    column = SORTS.get(where.sort, s.expires)
    way = column.desc() if where.descending else column.asc()
    return [column.is_(None), way, s.repository, s.exception_id, s.branch]


def _csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula is quoted (OWASP)."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    elif isinstance(value, datetime):
        value = utc(value).isoformat().replace("+00:00", "Z")
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def exceptions_csv(
    store: Store,
    visible: Visible,
    where: ExceptionFilter,
    now: datetime,
    *,
    forge: str | None = None,
) -> Iterator[str]:
    """Every row the filter matches (not one page), as CSV lines, streamed."""
    s = ExceptionStanding
    query = where.where(select(s), visible, now, forge).order_by(*_order(where))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    yield out.getvalue()
    with store.session() as session:
        for row in session.scalars(query.execution_options(yield_per=1000)):
            if not where.keep(row):
                continue
            out.seek(0)
            out.truncate()
            writer.writerow(
                [
                    _csv_cell(v)
                    for v in (
                        row.forge,
                        row.repository,
                        row.branch,
                        row.exception_id,
                        row.policy,
                        row.state,
                        "yes" if row.unused else "no",
                        row.paths,
                        row.resources,
                        row.reason,
                        row.ticket,
                        row.requested_by,
                        row.expires_text or row.expires,
                        row.approvers,
                        row.approval_pull_request,
                        row.approved_at,
                        row.renewal_count,
                        row.cleanup_pull_request,
                        row.problem,
                        row.swept_at,
                    )
                ]
            )
            yield out.getvalue()


# -- one exception -----------------------------------------------------------------------------
@dataclass(frozen=True)
class KeptGreen:
    pull_request: int
    head_sha: str
    conclusion: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Approval:
    pull_request: int | None
    approvers: list[str]
    head_sha: str | None  # the head the exception review passed on
    merge_sha: str | None
    at: datetime


@dataclass(frozen=True)
class ExceptionStory:
    forge: str
    repository: str
    exception_id: str
    rows: list[ExceptionStanding]  # one per base branch it is on
    kept_green: list[KeptGreen]
    approvals: list[Approval]
    trail: list[AuditEvent]


def exception(
    store: Store,
    visible: Visible,
    forge: str,
    repository: str,
    exception_id: str,
    *,
    signed_in_with: str | None = None,
) -> ExceptionStory | None:
    if visible is not None and (repository not in visible or signed_in_with not in (None, forge)):
        return None
    s = ExceptionStanding
    with store.session() as session:
        rows = list(
            session.scalars(
                select(s)
                .where(s.forge == forge, s.repository == repository, s.exception_id == exception_id)
                .order_by(s.branch)
            )
        )
        kept: dict[int, KeptGreen] = {}
        c = CheckRecord
        for record in session.scalars(
            select(c)
            .where(
                c.forge == forge,
                c.repository == repository,
                c.name == "compliance",
                c.pull_request.is_not(None),
                c.relied_on.is_not(None),
            )
            .order_by(c.updated_at.desc())
            .limit(5000)
        ):
            applied = (record.relied_on or {}).get("applied") or []
            if not any(isinstance(a, dict) and a.get("id") == exception_id for a in applied):
                continue
            number = int(record.pull_request or 0)
            if number not in kept:
                kept[number] = KeptGreen(
                    number, record.head_sha, record.conclusion, record.updated_at
                )
    trail = list(audit_query.trail(store, repository, exception_id))
    if not rows and not trail:
        return None
    return ExceptionStory(
        forge=forge,
        repository=repository,
        exception_id=exception_id,
        rows=rows,
        kept_green=sorted(kept.values(), key=lambda k: -k.pull_request),
        approvals=_approvals(trail),
        trail=trail,
    )


def _approvals(trail: list[AuditEvent]) -> list[Approval]:
    """Each approved version: who approved it, the head its review passed on, the merge."""
    passed: dict[int, str] = {}  # pull request -> last head the exception review passed on
    out = []
    for event in trail:
        details = event.details or {}
        if (
            event.action == "check.concluded"
            and details.get("check_kind") == "exception-review"
            and details.get("conclusion") == "success"
            and event.pull_request is not None
            and event.sha
        ):
            passed[event.pull_request] = event.sha
        elif event.action in ("exception.approved", "exception.rebuilt"):
            out.append(
                Approval(
                    pull_request=event.pull_request,
                    approvers=list(details.get("approvers") or []),
                    head_sha=passed.get(event.pull_request or -1),
                    merge_sha=event.sha,
                    at=event.at,
                )
            )
    return out


# -- checks ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckPage:
    forge: str
    repository: str
    head_sha: str
    name: str
    pull_request: int | None
    conclusion: str | None
    title: str
    updated_at: datetime
    report: dict[str, Any]


def check(
    store: Store,
    visible: Visible,
    forge: str,
    repository: str,
    sha: str,
    name: str,
    *,
    signed_in_with: str | None = None,
) -> CheckPage | None:
    if visible is not None and (repository not in visible or signed_in_with not in (None, forge)):
        return None
    with store.session() as session:
        row = session.get(CheckReport, (forge, repository, sha, name))
        if row is None:
            return None
        try:
            report = json.loads(zlib.decompress(row.report))
        except (zlib.error, ValueError):
            report = {}
        return CheckPage(
            forge,
            repository,
            sha,
            name,
            row.pull_request,
            row.conclusion,
            row.title,
            row.updated_at,
            report if isinstance(report, dict) else {},
        )


# -- the audit log -----------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    before: int | None  # the seq to ask for the next (older) page with, if there is one
    head: AuditHead | None
    checkpoint: AuditCheckpoint | None


def _audit_query(visible: Visible, where: audit_query.Filter) -> Select:
    query = where.where(select(AuditEvent))
    if visible is not None:
        # events about no repository (refused deliveries, ...) are for admins
        query = query.where(_within(AuditEvent.repository, visible))
    return query


def audit(
    store: Store,
    visible: Visible,
    where: audit_query.Filter,
    *,
    before: int | None = None,
    limit: int = PAGE,
) -> AuditPage:
    """A page of events, newest first, older than ``before`` (keyset: as fast on page 10,000
    as on page 1)."""
    query = _audit_query(visible, where).order_by(AuditEvent.seq.desc())
    events: list[AuditEvent] = []
    more = False
    batch = limit + 1
    with store.session() as session:
        # Read in keyset batches, each with a LIMIT (the exception filter is exact only here, so
        # a batch may not fill the page): given the LIMIT, SQLite stops each of a person's
        # repositories' (repository, seq) ranges at the limit; without it, it sorts all their
        # events to show fifty (benchmarks/dashboard.py: 450 ms at 1,000,000 events).
        while not more:
            older = query if before is None else query.where(AuditEvent.seq < before)
            rows = session.scalars(older.limit(batch)).all()
            for event in rows:
                if not where.matches(event):
                    continue
                if len(events) == limit:
                    more = True
                    break
                events.append(event)
            if len(rows) < batch:
                break
            before = rows[-1].seq
            batch = min(batch * 2, 1000)
        head = session.get(AuditHead, 1)
        checkpoint = session.scalar(
            select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)
        )
    return AuditPage(events, events[-1].seq if more and events else None, head, checkpoint)


def audit_jsonl(store: Store, visible: Visible, where: audit_query.Filter) -> Iterator[str]:
    """Every matching event in chain order, one JSON object a line, streamed."""
    query = _audit_query(visible, where).order_by(AuditEvent.seq)
    with store.session() as session:
        for event in session.scalars(query.execution_options(yield_per=audit_query.BATCH)):
            if where.matches(event):
                yield json.dumps(audit_query.as_dict(event), sort_keys=True) + "\n"
