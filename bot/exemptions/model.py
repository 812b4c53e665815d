"""Neutral records of the exceptions file: entries, the file, and the problems found in it.

An *exception* (``ExemptionEntry`` in code, to stay clear of Python's ``Exception``) exempts the
findings of one policy in some paths, optionally narrowed to some resources, until a deadline.
These are frozen dataclasses with the small amount of behaviour that belongs to the record itself:
reading a deadline, deciding whether an entry covers a finding, and a canonical form whose hash
the approval ledger records. Nothing here reads files, parses YAML, or asks for the current time:
every time-dependent question takes ``now``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bot.engine.globs import GlobSet
from bot.engine.model import Finding, ResourceRef

DEFAULT_SOURCE = ".compliance/exceptions.yaml"

FIELDS: tuple[str, ...] = (
    "id",
    "policy",
    "paths",
    "resources",
    "reason",
    "ticket",
    "requested_by",
    "expires",
)
"""Every field an entry may have, in the order the bot writes them."""
REQUIRED_FIELDS: frozenset[str] = frozenset({"id", "policy", "paths", "reason", "expires"})

ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIMESTAMP = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<tz>[Zz]|[+-]\d{2}:\d{2})"
)


def require_aware(now: datetime) -> datetime:
    """``now`` as UTC; a naive datetime is a bug in the caller, not something to guess about."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(UTC)


def parse_expires(text: str) -> datetime | None:
    """The instant an exception stops applying, in UTC; ``None`` when ``text`` is not valid.

    A date means the whole of that day in UTC: ``2026-12-31`` applies through 23:59:59 and stops
    at ``2027-01-01T00:00:00Z``. A timestamp must carry an offset (RFC 3339); it stops applying
    at exactly that instant.
    """
    if not isinstance(text, str):
        return None
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time(0), UTC)
        except (ValueError, OverflowError):
            return None
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        return None
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz = "+00:00" if match["tz"] in ("Z", "z") else match["tz"]
    try:
        stamp = datetime.fromisoformat(f"{match['date']}T{match['time']}.{frac}{tz}")
        return stamp.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def is_date_only(text: str) -> bool:
    return bool(_DATE.fullmatch(text))


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z``, seconds precision unless there are microseconds."""
    moment = require_aware(moment)
    spec = "seconds" if moment.microsecond == 0 else "microseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def resource_key(resource: ResourceRef | None) -> str | None:
    """How a finding's resource is written in an exception: ``Kind/name`` or ``Kind/ns/name``.

    A resource without a name can never be named by an exception, so it has no key.
    """
    if resource is None or not resource.name or not resource.kind:
        return None
    if resource.namespace:
        return f"{resource.kind}/{resource.namespace}/{resource.name}"
    return f"{resource.kind}/{resource.name}"


@dataclass(frozen=True)
class ExemptionEntry:
    """One entry of the exceptions file, as written (after schema checks)."""

    id: str
    policy: str
    paths: tuple[str, ...]
    resources: tuple[str, ...]
    reason: str
    ticket: str | None
    requested_by: str | None
    expires: datetime  # aware UTC: the first instant at which the entry no longer applies
    expires_text: str  # as written: a date (YYYY-MM-DD) or an RFC 3339 timestamp
    line: int  # first line of the entry (its ``-``), 1-based
    end_line: int  # last line holding the entry's content
    field_lines: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    # ("policy", 4), ("paths[0]", 5), ...: where each field and list item is written

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        line: int = 1,
        end_line: int | None = None,
        field_lines: tuple[tuple[str, int], ...] = (),
    ) -> ExemptionEntry:
        """Build an entry from a schema-valid mapping (as loaded from YAML).

        Raises ``ValueError`` when ``expires`` is not a real date or time (``2026-02-30``).
        """
        ticket = data.get("ticket")
        expires_text = str(data["expires"])
        expires = parse_expires(expires_text)
        if expires is None:
            raise ValueError(f"expires {expires_text!r} is not a real date or time")
        return cls(
            id=str(data["id"]),
            policy=str(data["policy"]),
            paths=tuple(data["paths"]),
            resources=tuple(data.get("resources") or ()),
            reason=str(data["reason"]).strip(),
            ticket=None if ticket is None else str(ticket),
            requested_by=data.get("requested_by"),
            expires=expires,
            expires_text=expires_text,
            line=line,
            end_line=line if end_line is None else end_line,
            field_lines=field_lines,
        )

    def line_of(self, name: str) -> int:
        """Line of a field (``"policy"``) or list item (``"paths[1]"``); else the entry's line."""
        for key, line in self.field_lines:
            if key == name:
                return line
        if "[" in name:
            return self.line_of(name.split("[", 1)[0])
        return self.line

    @property
    def deadline(self) -> str:
        """The deadline as people read it: the date as written (``2026-12-31``, through the end
        of that day), or the timestamp in UTC. Never the next midnight that ``expires`` holds."""
        if is_date_only(self.expires_text):
            return self.expires_text
        return format_timestamp(self.expires)

    def is_expired(self, now: datetime) -> bool:
        """True from the deadline on: for a date, from the following midnight UTC."""
        return require_aware(now) >= self.expires

    @functools.cached_property
    def _globs(self) -> GlobSet:
        return GlobSet(self.paths)

    def covers(self, finding: Finding) -> bool:
        """Does this entry's scope include ``finding``? Ignores the deadline (see ``match``).

        Paths are root-anchored, case-sensitive gitignore globs. When ``resources`` is given the
        finding's resource must be one of them, compared exactly and case-sensitively as the
        bot writes it: ``Kind/name`` names only a resource whose manifest sets no namespace
        (it does not mean "in any namespace"), ``Kind/namespace/name`` one in that namespace.
        """
        if finding.policy != self.policy or not self._globs.matches(finding.path):
            return False
        if not self.resources:
            return True
        key = resource_key(finding.resource)
        return key is not None and key in self.resources

    def canonical(self) -> dict[str, Any]:
        """The entry's content, independent of how the YAML was written.

        Quoting, flow or block style, comments and key order do not change it; the reason's
        whitespace is collapsed (folded and literal scalars say the same thing), and a timestamp
        is written in UTC. Any change a reviewer should see (scope, deadline, policy, ticket,
        words of the reason, order of paths) does change it.
        """
        return {
            "id": self.id,
            "policy": self.policy,
            "paths": list(self.paths),
            "resources": list(self.resources),
            "reason": " ".join(self.reason.split()),
            "ticket": self.ticket,
            "requested_by": self.requested_by,
            "expires": self.deadline,
        }

    def content_hash(self) -> str:
        """sha256 (hex) of the canonical JSON: what an approval in the ledger is bound to."""
        text = json.dumps(
            self.canonical(), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ExemptionsFile:
    """A usable exceptions file: its schema-valid entries, in file order."""

    version: int
    entries: tuple[ExemptionEntry, ...]
    source: str = DEFAULT_SOURCE
    dropped: tuple[str, ...] = ()
    # entries left out for schema problems or duplicate ids: their id, or "entry N (line L)"
    broken: tuple[tuple[ExemptionEntry, frozenset[str]], ...] = field(default=(), compare=False)
    # entries left out (but for a shared id) that have an id, with the fields refused or
    # unreadable, which stand in as empty (a deadline as never): never applied, only validated
    # for their other fields, so that one run reports every problem

    def by_id(self, entry_id: str) -> ExemptionEntry | None:
        return next((e for e in self.entries if e.id == entry_id), None)


@dataclass(frozen=True)
class Problem:
    """Something wrong in the exceptions file, with the line to fix.

    ``code`` lets callers sort problems: ``"yaml"`` and ``"file"`` make the whole file unusable;
    ``"schema"``, ``"expires-malformed"``, ``"duplicate-key"`` and ``"duplicate-id"`` drop an
    entry at parse time; the rest come from ``validate`` (``"unknown-policy"``, ``"not-allowed"``,
    ``"expired"``, ``"too-long"``, ``"reason"``, ``"ticket"``, ``"scope"``, ``"broad-scope"``). Only
    ``"expired"`` is a state rather than a defect: see ``validate.valid_entries``.
    """

    line: int
    message: str
    entry_id: str | None = None
    field: str | None = None
    code: str = "invalid"
    source: str = DEFAULT_SOURCE

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.source,
            "line": self.line,
            "id": self.entry_id,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }
