"""The audit log for people: filtered listings, exports for a SIEM, and one exception's trail.

Everything streams from the database in ``seq`` order (or newest first, for a bounded listing), so
an export of millions of events holds one batch in memory. Exception ids live in ``details``
under a few keys (below); the database narrows by a text match on the JSON, and the exact match
is made here, the same way on SQLite and PostgreSQL. Reading only: nothing here writes.
"""

from __future__ import annotations

import csv
import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from sqlalchemy import Select, Text, cast, or_, select

from bot.audit.chain import timestamp, utc
from bot.store import Store
from bot.store.tables import AuditEvent

BATCH = 2000
# where an exception id appears in an event's details: one id, or a list of ids
EXCEPTION_KEYS = ("exception", "entries", "expired", "exceptions_applied", "exceptions_ignored")
# branches of the pull requests the bot opens for an exception (bot/handlers/comments.py)
BRANCHES = ("compliance/exception/", "compliance/extend/", "compliance/revoke/")
FIELDS = (
    "seq",
    "id",
    "at",
    "actor",
    "action",
    "repository",
    "pull_request",
    "sha",
    "details",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class Filter:
    repository: str | None = None
    pull_request: int | None = None
    exception: str | None = None
    action: str | None = None  # exact, or a prefix: "exception." or "exception"
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    def where(self, query: Select) -> Select:
        e = AuditEvent
        if self.repository:
            query = query.where(e.repository == self.repository)
        if self.pull_request is not None:
            query = query.where(e.pull_request == self.pull_request)
        if self.actor:
            query = query.where(e.actor == self.actor)
        if self.action:
            prefix = self.action.rstrip(".*")
            query = query.where(
                or_(e.action == prefix, e.action.startswith(prefix + ".", autoescape=True))
            )
        if self.since:
            query = query.where(e.at >= utc(self.since))
        if self.until:
            query = query.where(e.at < utc(self.until))
        if self.exception:
            query = query.where(cast(e.details, Text).contains(self.exception, autoescape=True))
        return query

    def matches(self, event: AuditEvent) -> bool:
        return self.exception is None or mentions(event.details or {}, self.exception)


def mentions(details: dict[str, Any], exception_id: str) -> bool:
    """Does an event's ``details`` name ``exception_id`` (alone, or in a list)?"""
    for key in EXCEPTION_KEYS:
        value = details.get(key)
        if value == exception_id or (isinstance(value, list) and exception_id in value):
            return True
    changes = details.get("changes")  # the exception-review check: ["added:EXC-7", ...]
    if isinstance(changes, list) and any(
        isinstance(c, str) and c.partition(":")[2] == exception_id for c in changes
    ):
        return True
    branch = details.get("branch")
    if not isinstance(branch, str) or not branch.startswith(BRANCHES):
        return False
    kind, _, name = branch[len("compliance/") :].partition("/")
    # compliance/exception/<id>, compliance/extend/<id>-<comment>, compliance/revoke/<id>-<comment>
    return (name if kind == "exception" else name.rpartition("-")[0]) == exception_id


def parse_when(text: str, *, end: bool = False) -> datetime:
    """A date (the start of that day UTC; with ``end``, the start of the next) or RFC 3339."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        at = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an RFC 3339 time") from None
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z or +HH:MM)")
    return at


def stream(store: Store, where: Filter) -> Iterator[AuditEvent]:
    """Matching events in chain order, one batch in memory at a time."""
    query = where.where(select(AuditEvent)).order_by(AuditEvent.seq)
    with store.session() as session:
        for event in session.scalars(query.execution_options(yield_per=BATCH)):
            if where.matches(event):
                yield event


def newest(store: Store, where: Filter, limit: int) -> list[AuditEvent]:
    """The last ``limit`` matching events, oldest first."""
    query = where.where(select(AuditEvent)).order_by(AuditEvent.seq.desc())
    found: deque[AuditEvent] = deque()
    with store.session() as session:
        for event in session.scalars(query.execution_options(yield_per=BATCH)):
            if where.matches(event):
                found.appendleft(event)
                if len(found) >= limit:
                    break
    return list(found)


def trail(store: Store, repository: str, exception_id: str) -> Iterator[AuditEvent]:
    """The life of one exception in order: the events naming it, and the events on the pull
    requests that added, extended or revoked it (reviews, the review check, merges)."""
    prs: set[int] = set()
    named = Filter(repository=repository, exception=exception_id)
    for event in stream(store, named):
        number = _exception_pr(event)
        if number is not None:
            prs.add(number)
    query = select(AuditEvent).where(AuditEvent.repository == repository)
    if prs:
        query = query.where(
            or_(
                AuditEvent.pull_request.in_(sorted(prs)),
                cast(AuditEvent.details, Text).contains(exception_id, autoescape=True),
            )
        )
    else:
        query = named.where(query)
    with store.session() as session:
        for event in session.scalars(
            query.order_by(AuditEvent.seq).execution_options(yield_per=BATCH)
        ):
            details = event.details or {}
            if mentions(details, exception_id) or (
                event.pull_request in prs and _about_the_exception_pr(event)
            ):
                yield event


def _exception_pr(event: AuditEvent) -> int | None:
    """The exception PR an event names: the one a command opened, or the merged one."""
    details = event.details or {}
    if event.action.startswith("command.") and isinstance(details.get("pull_request"), int):
        return details["pull_request"]
    if event.action in ("exception.approved", "exception.merged_unapproved"):
        return event.pull_request
    if event.action == "pull_request.proposed" and str(details.get("branch", "")).startswith(
        BRANCHES
    ):
        return event.pull_request
    return None


def _about_the_exception_pr(event: AuditEvent) -> bool:
    if event.action in ("comment.posted", "issue.created", "issue.edited"):
        return False  # the bot's own words: the events they accompany say it better
    if event.action == "check.concluded":
        return (event.details or {}).get("check_kind") == "exception-review"
    return True


# -- output -----------------------------------------------------------------------------------
def as_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "id": event.id,
        "at": timestamp(event.at),
        "actor": event.actor,
        "action": event.action,
        "repository": event.repository,
        "pull_request": event.pull_request,
        "sha": event.sha,
        "details": event.details or {},
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def write_jsonl(events: Iterable[AuditEvent], out: IO[str]) -> int:
    count = 0
    for event in events:
        out.write(json.dumps(as_dict(event), ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count


def write_csv(events: Iterable[AuditEvent], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for event in events:
        row = as_dict(event)
        row["details"] = json.dumps(row["details"], ensure_ascii=False, sort_keys=True)
        writer.writerow(row)
        count += 1
    return count


def line(event: AuditEvent, *, with_repository: bool = True) -> str:
    """One event for a person: when, what, who, where, then why."""
    when = utc(event.at).strftime("%Y-%m-%d %H:%M UTC")
    where = []
    if with_repository and event.repository:
        where.append(event.repository)
    if event.pull_request is not None:
        where.append(f"PR #{event.pull_request}")
    if event.sha:
        where.append(f"(sha {event.sha[:7]})")
    text = f"{when}  {event.action}  by {event.actor}"
    if where:
        text += "  " + " ".join(where)
    said = describe(event)
    return f"{text}: {said}" if said else text


def describe(event: AuditEvent) -> str:
    d: dict[str, Any] = event.details or {}
    action = event.action
    describer = _DESCRIBERS.get(action)
    if describer is not None:
        return describer(d)
    if action.startswith("command."):
        return _command(action.removeprefix("command."), d)
    return ", ".join(f"{k}={_short(v)}" for k, v in sorted(d.items()) if v not in (None, [], {}))


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _ids(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def _command(name: str, d: dict[str, Any]) -> str:
    exception = d.get("exception")
    pr = f" in PR #{d['pull_request']}" if d.get("pull_request") else ""
    until = f" until {d['expires']}" if d.get("expires") else ""
    reason = f": {d['reason']}" if d.get("reason") else ""
    if name == "exempt":
        return f"asked for exception {exception} on {d.get('policy')}{until}{pr}{reason}"
    if name == "extend":
        return f"asked to extend {exception}{until}{pr}{reason}"
    if name == "revoke":
        return f"asked to revoke {exception}{pr}{reason}"
    if name == "refused":
        return f"`{d.get('command')}` refused: {d.get('reason')}"
    if name == "failed":
        return f"`{d.get('command')}` failed: {d.get('error')}"
    rest = {k: v for k, v in d.items() if k not in ("command", "comment")}
    return ", ".join(f"{k}={_short(v)}" for k, v in sorted(rest.items()))


def _approved(d: dict[str, Any]) -> str:
    approvers = ", ".join(d.get("approvers") or []) or "nobody"
    text = f"{d.get('exception')} ({d.get('policy')}) approved by {approvers}"
    if d.get("merged_at"):
        text += f", merged {d['merged_at']}"
    text += f", expires {d.get('expires')}"
    if d.get("renewal"):
        text += f", renewal {d.get('renewal_count')}"
    return text + (f": {d['reason']}" if d.get("reason") else "")


def _check(d: dict[str, Any]) -> str:
    if d.get("check_kind") == "exception-review":
        approvers = ", ".join(d.get("approvers") or [])
        approval = f"approved by {approvers}" if approvers else "no valid approval"
        text = f"exception review {d.get('verdict') or d.get('conclusion')}: {approval}"
        reasons = d.get("reasons") or []
        return text + (f" ({'; '.join(reasons)})" if reasons else "")
    text = f"{d.get('check', 'compliance')} {d.get('conclusion')}"
    if d.get("exceptions_applied"):
        text += f", kept green by {_ids(d['exceptions_applied'])}"
    if d.get("exceptions_ignored"):
        text += f", not applied: {_ids(d['exceptions_ignored'])}"
    return text


_DESCRIBERS = {
    "exception.approved": _approved,
    "exception.rebuilt": lambda d: "ledger rebuilt: " + _approved(d),
    "exception.merged_unapproved": lambda d: (
        f"merged WITHOUT approval: {_ids(d.get('entries'))} ({'; '.join(d.get('reasons') or [])})"
    ),
    "config.loosened": lambda d: (
        f"config loosened ({'; '.join(d.get('loosenings') or [])}),"
        f" approved by {', '.join(d.get('approvers') or [])}"
    ),
    "config.merged_unapproved": lambda d: (
        f"config loosened WITHOUT approval: {'; '.join(d.get('loosenings') or [])}"
    ),
    "exception.ignored": lambda d: f"{d.get('exception')} not applied: {d.get('reason')}",
    "exception.reminded": lambda d: (
        f"reminded: {d.get('exception')} expires {d.get('expires')} (in {d.get('days')} days)"
    ),
    "cleanup.updated": lambda d: f"cleanup PR removes expired {_ids(d.get('expired'))}",
    "check.concluded": _check,
    "pull_request.proposed": lambda d: f"opened {d.get('branch')}: {d.get('title')}",
    "pull_request.closed": lambda d: f"closed: {d.get('why')}",
    "reviewers.requested": lambda d: (
        "review requested from " + ", ".join([*(d.get("users") or []), *(d.get("teams") or [])])
    ),
    "status.forged": lambda d: (
        f"forged status {d.get('context')!r} ({d.get('state')}) overridden with a failure"
    ),
}
