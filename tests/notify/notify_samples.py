"""One audit event per trigger, as the handlers record them, for the notification tests."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.notify.model import AuditRecord

AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
SHA = "0123456789abcdef0123456789abcdef01234567"
REPO = "acme/shop"
EXCEPTION = {
    "exception": "EXC-1",
    "policy": "k8s.privileged",
    "expires": "2026-04-01T00:00:00+00:00",
    "expires_as_written": "2026-03-31",
    "requested_by": "dev",
    "reason": "the web pod needs raw sockets for a legacy probe",
}


def event(seq: int, action: str, actor: str = "compliance-bot", **fields) -> AuditRecord:
    fields.setdefault("repository", REPO)
    return AuditRecord(seq=seq, at=AT, actor=actor, action=action, **fields)


SAMPLES: dict[str, AuditRecord] = {
    "exception.requested": event(
        1,
        "command.exempt",
        "dev",
        pull_request=12,
        sha=SHA,
        details={
            "command": "exempt",
            "comment": 99,
            "exception": "EXC-1",
            "pull_request": 13,
            "url": "https://github.com/acme/shop/pull/13",
            "policy": "k8s.privileged",
            "reason": EXCEPTION["reason"],
            "expires": "2026-03-31",
        },
    ),
    "exception.renewal_requested": event(
        2,
        "command.extend",
        "dev",
        pull_request=12,
        details={
            "command": "extend",
            "exception": "EXC-1",
            "id": "EXC-1",
            "pull_request": 20,
            "policy": "k8s.privileged",
            "reason": "the probe is replaced next sprint",
            "expires": "2026-04-30",
        },
    ),
    "exception.revocation_requested": event(
        3,
        "command.revoke",
        "bob",
        pull_request=12,
        details={
            "command": "revoke",
            "exception": "EXC-1",
            "pull_request": 21,
            "policy": "k8s.privileged",
            "reason": "fixed",
        },
    ),
    "exception.approved": event(
        4,
        "exception.approved",
        "alice",
        pull_request=13,
        sha=SHA,
        details={
            **EXCEPTION,
            "approvers": ["alice"],
            "renewal": False,
            "renewal_count": 0,
            "ticket": "SEC-12",
        },
    ),
    "exception.renewed": event(
        5,
        "exception.approved",
        "alice",
        pull_request=20,
        sha=SHA,
        details={**EXCEPTION, "approvers": ["alice"], "renewal": True, "renewal_count": 1},
    ),
    "exception.revoked": event(
        6,
        "exception.revoked",
        "alice",
        pull_request=21,
        sha=SHA,
        details={
            "exception": "EXC-1",
            "policy": "k8s.privileged",
            "expires_as_written": "2026-03-31",
        },
    ),
    "exception.expiring": event(
        7, "exception.reminded", pull_request=13, details={**EXCEPTION, "days": 14}
    ),
    "exception.expired": event(
        8,
        "cleanup.updated",
        pull_request=30,
        sha=SHA,
        details={"expired": ["EXC-1"], "branch": "main", "entries": [EXCEPTION]},
    ),
    "bypass.unapproved_exception": event(
        9,
        "exception.ignored",
        pull_request=12,
        sha=SHA,
        details={
            "exception": "EXC-4",
            "policy": "k8s.privileged",
            "reason": "no approved pull request added this exact entry",
            "content_hash": "f" * 64,
        },
    ),
    "bypass.merged_without_approval": event(
        10,
        "exception.merged_unapproved",
        "root",
        pull_request=14,
        sha=SHA,
        details={
            "entries": ["EXC-2"],
            "reasons": ["no code owner of the exceptions file approved"],
        },
    ),
    "config.loosened": event(
        14,
        "config.loosened",
        "alice",
        pull_request=16,
        sha=SHA,
        details={
            "loosenings": ["adds the exclusion 'tests/fixtures/**'"],
            "approvers": ["alice"],
            "reasons": [],
            "base_ref": "main",
        },
    ),
    "bypass.config_merged_without_approval": event(
        15,
        "config.merged_unapproved",
        "root",
        pull_request=17,
        sha=SHA,
        details={
            "loosenings": ["stops enforcing k8s.image-tag"],
            "approvers": [],
            "reasons": ["needs an approval from a member of @acme/security"],
            "base_ref": "main",
        },
    ),
    "bypass.forged_status": event(
        11,
        "status.forged",
        "mallory",
        sha=SHA,
        details={
            "context": "compliance",
            "state": "success",
            "status_id": 7,
            "description": "All good",
            "target_url": "https://evil.example",
        },
    ),
    "bypass.renewal_cap_reached": event(
        12,
        "exception.renewal_capped",
        "dev",
        pull_request=22,
        sha=SHA,
        details={**EXCEPTION, "renewal_count": 3, "max_renewals": 3},
    ),
}
# the cleanup PR's opening is the same event as the expiry it cleans up
SAMPLES["cleanup.opened"] = SAMPLES["exception.expired"]
