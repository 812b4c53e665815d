"""The shapes of command argument values, and turning ``--expires`` into a deadline.

Each ``check_*`` function answers the syntactic question only ("is this shaped like a policy
id?"), returning ``None`` when the value is acceptable, else a Markdown phrase that completes a
sentence starting with the value ("is not a policy id: ..."). The phrases never contain the
value itself, so whoever shows them escapes the user's text once, in one place. Whether the
policy exists, whether the deadline is allowed for it, whether the reason says enough: those are
the exceptions validator's questions (``bot.exemptions.validation``), asked later by the caller.

``resolve_expires`` is the only function here that deals with time, and only through ``now``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta

from bot.exemptions.model import ID_PATTERN, format_timestamp, parse_expires, require_aware

POLICY_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""The ``id`` pattern of ``bot/schemas/policy.schema.json`` (a test keeps them equal)."""
EXCEPTION_ID = ID_PATTERN
"""The ``id`` of an exceptions-file entry: ``[A-Za-z0-9._-]{1,64}``."""
RESOURCE = re.compile(r"[^/]+/(?:[^/]+/)?[^/]+")
"""``Kind/name`` or ``Kind/namespace/name``, as ``exceptions.schema.json`` writes it."""
MAX_DAYS = 366
_DAYS = re.compile(r"([0-9]{1,4})[dD]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BARE_NUMBER = re.compile(r"[0-9]{1,4}")
# Characters that must not reach a reply, a branch or the exceptions file from a comment: C0/C1
# controls, lone surrogates, private use, and the bidi controls that reorder what people read.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def forbidden_characters(value: str) -> list[str]:
    """The control, bidi and surrogate characters of ``value``, named like ``U+202E``."""
    bad = {
        ch for ch in value if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")
    }
    return [f"U+{ord(ch):04X}" for ch in sorted(bad)]


def check_policy_id(value: str) -> str | None:
    if POLICY_ID.fullmatch(value):
        return None
    hint = ""
    if POLICY_ID.fullmatch(value.lower()):
        hint = f" (policy ids are lowercase: `{value.lower()}`)"
    return (
        "is not a policy id: lowercase letters, digits, `.`, `_` and `-`, at most 64 characters,"
        f" e.g. `k8s.privileged`{hint}"
    )


def check_exception_id(value: str) -> str | None:
    if EXCEPTION_ID.fullmatch(value):
        return None
    return (
        "is not an exception id: letters, digits, `.`, `_` and `-`, at most 64 characters,"
        " e.g. `EXC-7`"
    )


def check_glob(value: str) -> str | None:
    # Path tricks (``..``, absolute paths, look-alikes) are the validator's: it names the line.
    if not value.strip():
        return "is empty; give a glob from the repository root, e.g. `deploy/app/**`"
    return None


def check_resource(value: str) -> str | None:
    if RESOURCE.fullmatch(value):
        return None
    return "is not `Kind/name` or `Kind/namespace/name`, e.g. `DaemonSet/monitoring/node-exporter`"


def check_text(value: str) -> str | None:
    if not value.strip():
        return "is empty"
    return None


def check_expires(value: str) -> str | None:
    """``None`` for ``YYYY-MM-DD``, an RFC 3339 timestamp with an offset, or ``Nd`` (1..366)."""
    days = _DAYS.fullmatch(value)
    if days:
        if 1 <= int(days[1]) <= MAX_DAYS:
            return None
        return f"is not between `1d` and `{MAX_DAYS}d`"
    if parse_expires(value) is not None:
        return None
    if _BARE_NUMBER.fullmatch(value):
        return f"has no unit; write days as `{int(value)}d`"
    if _DATE.fullmatch(value):
        return "is not a real date"
    return (
        "is not a date (`2026-12-31`), an RFC 3339 timestamp with an offset"
        " (`2026-12-31T18:00:00Z`) or a number of days (`30d`)"
    )


def resolve_expires(text: str, now: datetime) -> date | datetime:
    """The deadline ``--expires`` asks for: a ``date`` or an aware ``datetime`` in UTC.

    ``Nd`` is ``N`` days after ``now``'s date in UTC, as a date: the exception applies through the
    end of that day, which is how the validator counts ``max_days`` for a date. A date stays a
    date; a timestamp becomes the same instant in UTC. Raises ``ValueError`` for anything that
    ``check_expires`` refuses, and for a naive ``now``.
    """
    now = require_aware(now)
    problem = check_expires(text)
    if problem is not None:
        raise ValueError(f"--expires {text!r} {problem}")
    days = _DAYS.fullmatch(text)
    if days:
        return now.date() + timedelta(days=int(days[1]))
    if _DATE.fullmatch(text):
        return date.fromisoformat(text)
    moment = parse_expires(text)
    assert moment is not None  # check_expires accepted it
    return moment.astimezone(UTC)


def expires_text(value: date | datetime) -> str:
    """How a resolved deadline is written in the exceptions file."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    return value.isoformat()
