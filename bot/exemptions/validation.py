"""Semantic rules for exception entries: the checks that need the policies and the clock.

``parse`` has already checked the shape, and that ``expires`` is a real date or time (an entry
without one is dropped there with code ``expires-malformed``). An entry ``parse`` dropped is still
checked here, for every rule but those of the fields it refused (``ExemptionsFile.broken``), so
that one run reports all of an entry's problems.
Here an entry is refused when its policy is unknown or forbids exceptions, its deadline has
passed or is further away than the policy allows, its reason is too thin, a required ticket is
missing, or its scope plays tricks (DESIGN §5 items 8 and 16): ``..`` and ``.`` segments,
absolute or drive paths, backslashes, ``!`` negation, empty segments, surrounding spaces,
non-ASCII look-alikes, non-NFC text, control or invisible characters, and a first folder that is
a wildcard on a policy that does not allow broad exceptions.

Every problem names the line to fix. This module is pure: ``now`` is a parameter, never read here.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from bot.engine.model import Policy, closest_policy
from bot.exemptions.model import (
    ExemptionEntry,
    ExemptionsFile,
    Problem,
    is_date_only,
    require_aware,
)

MIN_REASON = 20
_DRIVE = re.compile(r"[A-Za-z]:")
_WILDCARDS = frozenset("*?[")
TOLERATED_WHEN_EXPIRED = frozenset({"expired"})


def validate(
    file: ExemptionsFile,
    policies: Mapping[str, Policy],
    now: datetime,
    *,
    require_ticket: bool = False,
) -> list[Problem]:
    """Problems of every entry of ``file``, sorted by line; empty when all entries are sound."""
    now = require_aware(now)
    problems: list[Problem] = []
    for entry in file.entries:
        found = entry_problems(
            entry, policies, now, require_ticket=require_ticket, source=file.source
        )
        problems.extend(found)
    for entry, flagged in file.broken:  # already refused: report what else is wrong with it
        found = entry_problems(
            entry, policies, now, require_ticket=require_ticket, source=file.source, skip=flagged
        )
        problems.extend(found)
    return sorted(problems, key=lambda p: (p.line, p.message))


def entry_problems(
    entry: ExemptionEntry,
    policies: Mapping[str, Policy],
    now: datetime,
    *,
    require_ticket: bool = False,
    source: str | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[Problem]:
    """The semantic problems of one entry (see the module docstring).

    ``skip`` names fields already refused (or unreadable) whose rules are not run.
    """
    now = require_aware(now)
    src = source or ".compliance/exceptions.yaml"
    label = f"exception {entry.id}"
    out: list[Problem] = []

    def add(field: str, code: str, message: str, at: str | None = None) -> None:
        line = entry.line_of(at or field)
        out.append(Problem(line, f"{label}: {message}", entry.id, field, code, src))

    # a refused policy (say, written twice) must not decide the rules of the other fields
    policy = None if "policy" in skip else policies.get(entry.policy)
    if "policy" in skip:
        pass
    elif policy is None:
        close = closest_policy(entry.policy, policies.values())
        hint = f" (did you mean '{close}'?)" if close else ""
        add("policy", "unknown-policy", f"unknown policy '{entry.policy}'{hint}")
    elif not policy.exceptions.allowed:
        add("policy", "not-allowed", f"policy {policy.id} does not allow exceptions")

    if "expires" in skip:  # a refused deadline may be a stand-in: nothing to count from
        pass
    elif entry.is_expired(now):
        add("expires", "expired", f"expired on {_deadline(entry)}")
    elif policy is not None and policy.exceptions.allowed:
        too_far = _beyond_max_days(entry, policy.exceptions.max_days, now)
        if too_far:
            add("expires", "too-long", too_far + f" (policy {policy.id})")

    if len(entry.reason.strip()) < MIN_REASON:
        add(
            "reason",
            "reason",
            f"reason must be at least {MIN_REASON} characters saying why"
            f" (got {len(entry.reason.strip())})",
        )
    if require_ticket and not (entry.ticket or "").strip():
        add("ticket", "ticket", "a ticket is required by this repository's configuration")

    broad_ok = policy is not None and policy.exceptions.broad_paths
    for i, path in enumerate(entry.paths):
        at = f"paths[{i}]"
        for message in scope_tricks(path):
            add("paths", "scope", f"{at} {path!r} {message}", at)
        if policy is not None and not broad_ok and _starts_with_wildcard(path):
            add(
                "paths",
                "broad-scope",
                f"{at} {path!r} starts with a wildcard, so it reaches every folder of the"
                f" repository; policy {policy.id} does not allow broad exceptions"
                " (name the folder, e.g. deploy/app/**)",
                at,
            )
    for i, resource in enumerate(entry.resources):
        at = f"resources[{i}]"
        for message in scope_tricks(resource, resource=True):
            add("resources", "scope", f"{at} {resource!r} {message}", at)
    return [p for p in out if p.field not in skip]


def valid_entries(
    file: ExemptionsFile, problems: Iterable[Problem], *, keep_expired: bool = False
) -> tuple[ExemptionEntry, ...]:
    """The entries of ``file`` that have no problem, in file order.

    With ``keep_expired`` an entry whose only problem is its passed deadline is kept, so that
    ``match.apply`` can list it as expired (DESIGN §5 item 9) instead of as invalid; ``apply``
    never applies it.
    """
    tolerated = TOLERATED_WHEN_EXPIRED if keep_expired else frozenset()
    bad = {p.entry_id for p in problems if p.entry_id is not None and p.code not in tolerated}
    return tuple(e for e in file.entries if e.id not in bad)


# -- scope ---------------------------------------------------------------------------------------


def describe_char(ch: str) -> str:
    """``U+0430 CYRILLIC SMALL LETTER A``; unnamed characters get their category instead."""
    name = unicodedata.name(ch, "")
    if not name:
        category = unicodedata.category(ch)
        name = "(control character)" if category == "Cc" else f"(category {category})"
    return f"U+{ord(ch):04X} {name}"


def _invisible(ch: str) -> bool:
    # Cc controls, Cf format (bidi overrides, zero-width), Cs/Co/Cn, line and paragraph separators
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def scope_tricks(value: str, *, resource: bool = False) -> list[str]:
    """Why ``value`` (an exception path, or a resource) may not mean what a reviewer reads.

    Each message completes a sentence that starts with the value.
    """
    out: list[str] = []
    controls = sorted({ch for ch in value if _invisible(ch)})
    if controls:
        names = ", ".join(describe_char(ch) for ch in controls)
        out.append(f"contains control or invisible characters: {names}")
    others = sorted({ch for ch in value if ord(ch) > 127 and ch not in controls})
    if others:
        names = ", ".join(describe_char(ch) for ch in others)
        out.append(
            f"contains non-ASCII characters ({names}); only plain ASCII is accepted,"
            " so that look-alike letters cannot make the scope differ from what reviewers read"
        )
    if unicodedata.normalize("NFC", value) != value:
        out.append("is not in Unicode normal form NFC")
    if value != value.strip():
        out.append("has leading or trailing spaces")
    if "\\" in value:
        out.append("contains a backslash; separate folders with '/'")
    if value.startswith("/"):
        out.append("is absolute; write it relative to the repository root, without a leading '/'")
    elif _DRIVE.match(value):
        out.append("starts with a drive letter; write it relative to the repository root")
    if value.startswith("!"):
        out.append("starts with '!' (negation), which an exception may not use")
    segments = value.split("/")
    inner = segments[1:] if value.startswith("/") else segments
    if ".." in segments:
        out.append("contains a '..' segment; name the folder itself")
    if "." in segments:
        out.append("contains a '.' segment; write the path without it")
    if "" in inner:
        hint = "" if resource else "; write 'folder/**' for everything in a folder"
        out.append(f"has an empty segment ('//' or a trailing '/'){hint}")
    if resource and _WILDCARDS & set(value):
        out.append("contains a wildcard; resources are exact Kind/name or Kind/namespace/name")
    return out


def _starts_with_wildcard(path: str) -> bool:
    first = path.lstrip("/").split("/", 1)[0]
    return bool(_WILDCARDS & set(first))


# -- deadlines -----------------------------------------------------------------------------------


def _deadline(entry: ExemptionEntry) -> str:
    if is_date_only(entry.expires_text):
        return f"{entry.expires_text} (end of day, UTC)"
    return entry.expires_text


def _beyond_max_days(entry: ExemptionEntry, max_days: int, now: datetime) -> str | None:
    """A message when the deadline is more than ``max_days`` after ``now``, else None.

    A date counts in whole days (UTC): with 90 days allowed, on 2026-01-01 the latest date is
    2026-04-01, whatever the time of day. A timestamp counts to the second.
    """
    latest = now + timedelta(days=max_days)
    if is_date_only(entry.expires_text):
        latest_day = latest.date()
        days = (entry.expires - timedelta(days=1)).date() - now.date()
        if days.days <= max_days:
            return None
        return (
            f"expires {entry.expires_text} is {days.days} days away; at most {max_days} are"
            f" allowed (latest {latest_day.isoformat()})"
        )
    if entry.expires <= latest:
        return None
    days_away = math.ceil((entry.expires - now) / timedelta(days=1))
    return (
        f"expires {entry.expires_text} is {days_away} days away; at most {max_days} are allowed"
        f" (latest {latest.isoformat(timespec='seconds').replace('+00:00', 'Z')})"
    )
