"""The audit hash chain: the canonical form of an event and the hash that links it to the last.

Event ``seq`` (1, 2, ...) has ``hash = SHA-256(prev_hash || "\\n" || canonical)``, where
``prev_hash`` is the hex hash of event ``seq - 1`` (64 zeros for the first) and ``canonical`` is
the UTF-8 JSON of the event's content: sorted keys, no whitespace, non-ASCII kept as is, ``at`` in
UTC ISO 8601 with microseconds. Anyone can recompute it from an export; this module must never
change its output, or every chain already written stops verifying.

Pure functions only: no database, no clock.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive datetime (as SQLite hands them back) is taken to be UTC already."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def timestamp(at: datetime) -> str:
    return utc(at).isoformat(timespec="microseconds").replace("+00:00", "Z")


def plain(details: dict[str, Any] | None) -> dict[str, Any]:
    """``details`` exactly as the JSON column will hand it back (string keys, lists, no tuples)."""
    return json.loads(json.dumps(details or {}, default=str))


def canonical(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    repository: str | None,
    pull_request: int | None,
    sha: str | None,
    details: dict[str, Any] | None,
) -> bytes:
    return content(seq, timestamp(at), actor, action, repository, pull_request, sha, details)


_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def content(
    seq: int,
    at: str,
    actor: str,
    action: str,
    repository: str | None,
    pull_request: int | None,
    sha: str | None,
    details: dict[str, Any] | None,
) -> bytes:
    """:func:`canonical` with ``at`` already in its text form (``timestamp``): verify's path."""
    fields = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "repository": repository,
        "pull_request": pull_request,
        "sha": sha,
        "details": details or {},
    }
    return _ENCODE(fields).encode()


def link(prev_hash: str, content: bytes) -> str:
    """The hash of an event whose canonical content is ``content``, following ``prev_hash``."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(content)
    return digest.hexdigest()


def event_hash(prev_hash: str, **content: Any) -> str:
    return link(prev_hash, canonical(**content))
