"""Deadlines of exceptions: the plan (table tests), the texts (golden files), size and escaping."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.checking import Approval
from bot.exemptions.model import ExemptionEntry
from bot.expiry import (
    CLEANUP_MARKER,
    DASHBOARD_MARKER,
    Plan,
    cleanup_pr_body,
    cleanup_pr_title,
    dashboard_body,
    dashboard_title,
    parse_reminder_marker,
    plan,
    reminder_comment,
    reminder_marker,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
REPO = "https://github.com/acme/shop"
MERGED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def entry(entry_id: str = "EXC-1", expires: str = "2026-12-31", **fields: Any) -> ExemptionEntry:
    data: dict[str, Any] = {
        "id": entry_id,
        "policy": "k8s.privileged",
        "paths": ["deploy/node-exporter/**"],
        "reason": "node-exporter reads host metrics through hostPID",
        "requested_by": "alice",
        "expires": expires,
    }
    data.update(fields)
    return ExemptionEntry.from_mapping(data, line=3)


def approved(*entries: ExemptionEntry, pr: int = 12, **fields: Any) -> dict[str, Approval]:
    return {
        e.content_hash(): Approval(
            approvers=fields.get("approvers", ("bob",)),
            pull_request=pr,
            merged_at=MERGED,
            renewal_count=fields.get("renewal_count", 0),
        )
        for e in entries
    }


def run(*entries: ExemptionEntry, now: datetime = NOW, **kwargs: Any) -> Plan:
    kwargs.setdefault("approvals", approved(*entries))
    kwargs.setdefault("reminder_days", (14, 3))
    return plan(entries, now=now, **kwargs)


def state(p: Plan, e: ExemptionEntry) -> str:
    for name in ("expired", "expiring", "active", "unapproved"):
        if e in getattr(p, name):
            return name
    return "none"


# -- plan ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires", "now", "expected"),
    [
        # A date means the end of that day, UTC.
        ("2026-05-01", datetime(2026, 5, 1, 23, 59, 59, tzinfo=UTC), "expiring"),
        ("2026-05-01", datetime(2026, 5, 2, 0, 0, tzinfo=UTC), "expired"),
        ("2026-04-30", NOW, "expired"),
        # Another offset is converted: 2026-05-02 01:00+02:00 is 2026-05-01 23:00 UTC.
        ("2026-05-01", datetime(2026, 5, 2, 1, 0, tzinfo=UTC) - timedelta(hours=2), "expiring"),
        # A timestamp stops at that instant.
        ("2026-05-01T12:00:00Z", NOW, "expired"),
        ("2026-05-01T12:00:01Z", NOW, "expiring"),
        ("2026-05-01T14:00:00+02:00", NOW, "expired"),
        # Expiring soon: within the largest reminder threshold (14 days), inclusive.
        ("2026-05-15T12:00:00Z", NOW, "expiring"),
        ("2026-05-15T12:00:01Z", NOW, "active"),
        ("2026-05-14", NOW, "expiring"),  # 2026-05-15T00:00Z
        ("2026-05-15", NOW, "active"),  # 2026-05-16T00:00Z
        ("2026-12-31", NOW, "active"),
    ],
)
def test_deadline_boundaries(expires: str, now: datetime, expected: str) -> None:
    e = entry(expires=expires)
    assert state(run(e, now=now), e) == expected


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        run(entry(), now=datetime(2026, 5, 1))


def test_expiring_soon_days_overrides_the_window() -> None:
    e = entry(expires="2026-05-20")
    assert run(e).active == (e,)
    assert run(e, expiring_soon_days=30).expiring == (e,)


@pytest.mark.parametrize(
    ("expires", "sent", "due"),
    [
        ("2026-12-31", set(), None),  # far away: nothing due
        ("2026-05-15T12:00:01Z", set(), None),  # one second before the 14-day threshold
        ("2026-05-15T12:00:00Z", set(), 14),  # exactly 14 days left: due
        ("2026-05-10", set(), 14),
        ("2026-05-10", {("EXC-1", "HASH", 14)}, None),  # already sent for this version
        ("2026-05-10", {("EXC-1", "HASH12", 14)}, None),  # marker form: hash prefix
        ("2026-05-10", {("EXC-2", "HASH", 14)}, 14),  # another exception's reminder
        ("2026-05-10", {("EXC-1", "HASH", 3)}, 14),  # another threshold
        ("2026-05-03", {("EXC-1", "HASH", 14)}, 3),  # 14 sent, now 3 is crossed
        ("2026-05-03", {("EXC-1", "HASH", 14), ("EXC-1", "HASH", 3)}, None),
        # Both thresholds crossed at once: only the most urgent one, no stale burst,
        # and 14 is not sent later either.
        ("2026-05-02", set(), 3),
        ("2026-05-02", {("EXC-1", "HASH", 3)}, None),
        ("2026-04-30", set(), None),  # expired: removed, not reminded
    ],
)
def test_reminders_each_threshold_once(
    expires: str, sent: set[tuple[str, str, int]], due: int | None
) -> None:
    e = entry(expires=expires)
    digest = e.content_hash()
    names = {"HASH": digest, "HASH12": digest[:12]}
    sent = {(i, names[h], d) for i, h, d in sent}
    p = run(e, reminders_sent=sent)
    assert [(r.entry.id, r.days) for r in p.reminders] == ([("EXC-1", due)] if due else [])


def test_a_renewal_gets_fresh_reminders() -> None:
    old = entry(expires="2026-05-03")
    sent = {(old.id, old.content_hash(), 14), (old.id, old.content_hash(), 3)}
    assert run(old, reminders_sent=sent).reminders == ()
    renewed = entry(expires="2026-05-10", reason="node-exporter reads host metrics (renewed)")
    p = run(renewed, reminders_sent=sent)
    assert [(r.entry, r.days) for r in p.reminders] == [(renewed, 14)]


def test_thresholds_are_sets_and_non_positive_ones_ignored() -> None:
    e = entry(expires="2026-05-02")
    assert run(e, reminder_days=(3, 14, 3, 0, -1)).reminders[0].days == 3
    assert run(e, reminder_days=()).reminders == ()
    assert run(e, reminder_days=()).active == (e,)  # no window: nothing is "expiring soon"


def test_unapproved_unused_invalid() -> None:
    ok = entry("A", expires="2026-12-31")
    changed = entry("B", expires="2026-05-05")  # approved content differs: no ledger record
    unused = entry("C", expires="2026-06-30")
    broken = entry("D", expires="2026-05-02")
    dead_and_broken = entry("E", expires="2026-04-01")
    p = run(
        ok,
        changed,
        unused,
        broken,
        dead_and_broken,
        approvals=approved(ok, unused, broken, dead_and_broken),
        unused_ids={"C", "B", "E", "Z"},
        invalid=[("D", "line 9: ticket is required"), ("E", "line 20: too long"), ("X", "bad")],
    )
    assert p.active == (unused, ok)
    assert p.expiring == ()
    assert p.unapproved == (changed,)
    assert p.unused == (unused,)  # not the unapproved, expired or unknown ids
    assert p.expired == (dead_and_broken,)  # removed whatever else is wrong with it
    assert p.invalid == (("D", "line 9: ticket is required"), ("X", "bad"))
    assert p.reminders == ()  # neither the unapproved B nor the invalid D is reminded
    assert p.applying == (unused, ok)
    assert not p.empty
    assert run().empty


def test_an_unapproved_expired_entry_is_still_cleaned_up() -> None:
    e = entry(expires="2026-01-31")
    assert run(e, approvals={}).expired == (e,)


def test_plan_is_sorted_by_deadline_then_id() -> None:
    es = [
        entry(i, expires=d)
        for i, d in [("b", "2026-09-01"), ("a", "2026-09-01"), ("c", "2026-07-01")]
    ]
    assert [e.id for e in run(*reversed(es)).active] == ["c", "a", "b"]


# -- golden texts --------------------------------------------------------------------------------


def sample() -> tuple[list[ExemptionEntry], dict[str, Approval]]:
    active = entry(
        "EXC-7",
        expires="2026-12-31",
        resources=["DaemonSet/monitoring/node-exporter"],
        ticket="SEC-1234",
    )
    unused = entry(
        "EXC-8",
        policy="docker.latest-tag",
        paths=["tools/Dockerfile"],
        reason="the build image is pinned by digest in CI instead",
        requested_by="carol",
        expires="2026-09-30T18:00:00Z",
    )
    expiring = entry("EXC-9", expires="2026-05-10", ticket="SEC-99")
    expired = entry(
        "EXC-3",
        policy="gha.pinned-actions",
        paths=[".github/workflows/release.yml"],
        reason="the vendor action has no tagged release yet",
        requested_by="dave",
        expires="2026-04-15",
    )
    unapproved = entry("EXC-10", expires="2026-08-01", requested_by="mallory")
    approvals = {
        **approved(active, pr=41, approvers=("bob", "erin")),
        **approved(unused, pr=44, approvers=("bob",)),
        **approved(expiring, pr=38, approvers=("erin",), renewal_count=2),
        **approved(expired, pr=17, approvers=("bob",)),
    }
    return [active, unused, expiring, expired, unapproved], approvals


def sample_plan() -> tuple[Plan, dict[str, Approval]]:
    entries, approvals = sample()
    p = plan(
        entries,
        now=NOW,
        approvals=approvals,
        reminder_days=(14, 3),
        unused_ids={"EXC-8"},
        invalid=[("EXC-11", "line 40: reason must be at least 20 characters")],
    )
    return p, approvals


def test_cleanup_golden(golden: Callable[[str, str], None]) -> None:
    p, approvals = sample_plan()
    body = cleanup_pr_body(p, approvals, repo_url=REPO)
    assert body.startswith(CLEANUP_MARKER + "\n")
    assert "@dave" in body and "[#17](https://github.com/acme/shop/pull/17)" in body
    assert body == cleanup_pr_body(list(p.expired), approvals, repo_url=REPO)
    golden("expiry_cleanup.md", body)
    assert cleanup_pr_title(1) == "compliance-bot: remove 1 expired exception"
    assert cleanup_pr_title(3) == "compliance-bot: remove 3 expired exceptions"


def test_reminder_golden(golden: Callable[[str, str], None]) -> None:
    p, approvals = sample_plan()
    (reminder,) = p.reminders
    e = reminder.entry
    text = reminder_comment(e, reminder.days, approvals[e.content_hash()], NOW, repo_url=REPO)
    assert text.startswith(
        f"<!-- compliance-bot:reminder id=EXC-9 hash={e.content_hash()[:12]} days=14 -->\n"
    )
    assert "@alice" in text and "/compliance extend EXC-9 --expires" in text
    golden("expiry_reminder.md", text)


def test_dashboard_golden(golden: Callable[[str, str], None]) -> None:
    p, approvals = sample_plan()
    body = dashboard_body(p, approvals, now=NOW, repo_url=REPO, cleanup_pr=52)
    assert body.startswith(DASHBOARD_MARKER + "\n")
    for title in (
        "Active exceptions (2)",
        "Expiring soon (1)",
        "Expired, awaiting cleanup (1)",
        "Unapproved, ignored (1)",
        "Unused (1)",
        "Invalid, ignored (1)",
    ):
        assert f"## {title}" in body
    assert "[#52](https://github.com/acme/shop/pull/52)" in body
    assert "@" not in body  # the dashboard notifies nobody
    golden("expiry_dashboard.md", body)


def test_empty_dashboard_golden(golden: Callable[[str, str], None]) -> None:
    body = dashboard_body(run(), {}, now=NOW)
    assert "##" not in body
    golden("expiry_dashboard_empty.md", body)
    assert dashboard_title() == "Compliance exceptions dashboard"


def test_dashboard_is_deterministic() -> None:
    entries, approvals = sample()
    kwargs: dict[str, Any] = {"approvals": approvals, "reminder_days": (14, 3)}
    a = plan(entries, now=NOW, **kwargs)
    b = plan(list(reversed(entries)), now=NOW + timedelta(hours=3), **kwargs)
    later = NOW + timedelta(hours=3)
    assert dashboard_body(a, approvals, now=NOW) == dashboard_body(b, approvals, now=later)
    assert dashboard_body(a, approvals, now=NOW) != dashboard_body(
        a, approvals, now=NOW + timedelta(days=1)
    )


def test_timestamps_are_shown_in_utc() -> None:
    e = entry(expires="2026-09-30T20:00:00+02:00")
    body = dashboard_body(run(e), approved(e), now=NOW)
    assert "2026-09-30 18:00 UTC" in body


# -- size ----------------------------------------------------------------------------------------


def many(n: int) -> tuple[Plan, dict[str, Approval]]:
    entries = []
    for i in range(n):
        day = 1 + i % 28
        expires = f"2026-{3 + i % 10:02d}-{day:02d}"
        entries.append(
            entry(
                f"EXC-{i:05d}",
                expires=expires,
                paths=[f"deploy/service-{i}/**", f"charts/service-{i}/templates/*.yaml"],
                reason=f"service {i} needs host networking for its node-local cache ✓",
                ticket=f"SEC-{i}",
            )
        )
    approvals = approved(*entries[: n - n // 10], approvers=("bob", "erin"))
    p = plan(
        entries,
        now=NOW,
        approvals=approvals,
        reminder_days=(14, 3),
        unused_ids={e.id for e in entries[::7]},
        invalid=[(f"BAD-{i}", f"line {i}: ticket is required") for i in range(200)],
    )
    return p, approvals


def test_dashboard_of_5000_exceptions_fits_the_issue_limit() -> None:
    p, approvals = many(5000)
    body = dashboard_body(p, approvals, now=NOW, repo_url=REPO, cleanup_pr=9)
    assert len(body.encode("utf-8")) < 65536
    assert "more not shown (the dashboard is truncated to GitHub's size limit); run " in body
    assert "`compliance-bot exceptions list`" in body
    assert body.startswith(DASHBOARD_MARKER)
    assert "_Last updated 2026-05-01 (UTC)." in body
    # Rows are dropped lowest priority first: expired ones (most urgent) are kept longest, and
    # the least urgent sections keep their heading and count but lose their rows first.
    assert f"`{p.expired[0].id}`" in body
    assert re.findall(r"… (\d+) more not shown", body)
    for title in ("Active exceptions", "Unused"):
        heading = next(line for line in body.splitlines() if line.startswith(f"## {title}"))
        section = body.split(heading, 1)[1].split("\n## ", 1)[0]
        assert "| `EXC-" not in section
        count = int(re.search(r"\((\d+)\)", heading)[1])  # type: ignore[index]
        assert f"… {count} more not shown" in section


@pytest.mark.parametrize("limit", [65536, 20000, 3000, 800])
def test_every_body_respects_its_limit(limit: int) -> None:
    p, approvals = many(600)
    for body in (
        dashboard_body(p, approvals, now=NOW, max_chars=limit),
        cleanup_pr_body(p, approvals, max_chars=limit),
    ):
        assert len(body.encode("utf-8")) < limit
        assert body.startswith("<!-- compliance-bot:")


def test_cleanup_of_many_is_truncated_with_a_note() -> None:
    p, approvals = many(5000)
    body = cleanup_pr_body(p, approvals)
    assert len(body.encode("utf-8")) < 65536
    assert "(the pull request description is truncated to GitHub's size limit)" in body
    assert "## What to do" in body


# -- hostile text --------------------------------------------------------------------------------

HOSTILE = (
    "<!-- compliance-bot:dashboard --> @org/security #1 [x](https://evil.example) "
    "| --> `x` \n<img src=x>"
)


def hostile_entry(expires: str) -> ExemptionEntry:
    return entry(
        "EXC-666",
        expires=expires,
        paths=["deploy/@admins/**", "a|b <!-- compliance-bot:cleanup -->/**"],
        reason=HOSTILE,
        ticket="@security-team #7",
        requested_by="mallory",
    )


def mentions(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w`])@([A-Za-z0-9][A-Za-z0-9-]*)", text))


def test_hostile_text_is_inert() -> None:
    live = hostile_entry("2026-05-10")
    dead = hostile_entry("2026-04-10")
    approvals = {
        **approved(live, approvers=("@all", "bob")),
        **approved(dead, approvers=("@all",)),
    }
    p = run(live, approvals=approvals, invalid=[("X", HOSTILE)])
    dead_plan = run(dead, approvals=approvals)
    texts = {
        "dashboard": dashboard_body(p, approvals, now=NOW),
        "cleanup": cleanup_pr_body(dead_plan, approvals),
        "reminder": reminder_comment(live, 14, approvals[live.content_hash()], NOW),
    }
    for name, text in texts.items():
        assert text.count("<!--") == 1, name  # only the bot's own marker
        assert "<img" not in text and re.search(r"(?<!\\)\]\(https://evil", text) is None, name
        allowed = set() if name == "dashboard" else {"mallory"}
        assert mentions(text) == allowed, (name, mentions(text))
        assert "#1 " not in text and "#7" not in text, name


def test_a_requester_that_is_not_a_login_is_not_mentioned() -> None:
    e = entry(expires="2026-05-10", requested_by="alice bob @carol")
    text = reminder_comment(e, 14, None, NOW)
    assert mentions(text) == set()
    assert "not approved" in text
    assert "**Requested by:** alice bob @\u200dcarol" in text


def test_reminder_marker_round_trips() -> None:
    e = entry()
    marker = reminder_marker(e, 3)
    assert parse_reminder_marker(marker) == ("EXC-1", e.content_hash()[:12], 3)
    assert parse_reminder_marker("hello") is None
    assert parse_reminder_marker("<!-- compliance-bot:reminder id=a b hash=x days=1 -->") is None


@settings(max_examples=60, deadline=None)
@given(
    reasons=st.lists(st.text(min_size=20, max_size=400), min_size=1, max_size=40),
    limit=st.integers(min_value=300, max_value=20000),
)
def test_any_text_stays_under_the_limit_and_inert(reasons: list[str], limit: int) -> None:
    entries = [
        entry(f"E{i}", expires=f"2026-{4 + i % 3:02d}-10", reason=r)
        for i, r in enumerate(reasons)
        if r.strip()
    ]
    approvals = approved(*entries)
    p = run(*entries, approvals=approvals, unused_ids={"E1"}, invalid=[("X", reasons[0])])
    for body in (
        dashboard_body(p, approvals, now=NOW, max_chars=limit),
        cleanup_pr_body(p, approvals, max_chars=limit),
    ):
        assert len(body.encode("utf-8")) < limit
        assert body.count("<!--") == 1
        assert mentions(body) <= {"alice"}


def test_dashboard_lists_the_exclusions_an_empty_repository_has_too():
    body = dashboard_body(run(), {}, now=NOW, exclude=("tests/fixtures/**", "vendor/*_x/**"))
    assert "## Excluded paths (2)" in body
    assert "| `tests/fixtures/**` |" in body and "| `vendor/*_x/**` |" in body
    assert "No exceptions: every policy applies in full" not in body  # something is opted out
    assert "Excluded paths" not in dashboard_body(run(), {}, now=NOW)
