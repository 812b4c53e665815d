"""The dashboard's read side against real SQLite and PostgreSQL: what the sweep records, who
sees what, filters, sorting, exports, the audit log's pages, and one exception's story."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot import audit, ledger, standing
from bot.audit import query as audit_query
from bot.audit import verify
from bot.checking import Approval
from bot.dashboard import queries
from bot.exemptions.model import ExemptionEntry, format_timestamp
from bot.expiry import Plan
from bot.store.tables import CheckRecord

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def entry(entry_id: str, days: float, policy: str = "k8s.privileged", **fields) -> ExemptionEntry:
    expires = NOW + timedelta(days=days)
    values = {
        "id": entry_id,
        "policy": policy,
        "paths": ("deploy/**",),
        "resources": (),
        "reason": f"reason of {entry_id}",
        "ticket": None,
        "requested_by": "alice",
        "expires": expires,
        "expires_text": format_timestamp(expires),
        "line": 1,
        "end_line": 6,
    }
    values.update(fields)
    return ExemptionEntry(**values)


def approved(e: ExemptionEntry, *who: str, pr: int = 7) -> dict[str, Approval]:
    return {e.content_hash(): Approval(approvers=who, pull_request=pr, merged_at=NOW)}


@pytest.fixture
def seeded(store):
    """Two repositories swept: acme/shop (four states, two branches) and acme/infra."""
    live = entry("EXC-1", 40, ticket="SEC-1")
    soon = entry("EXC-2", 3, policy="k8s.host-network", requested_by="bob")
    gone = entry("EXC-3", -2, reason='=HYPERLINK("http://evil")')
    loose = entry("EXC-4", 60, requested_by="mallory")
    old_branch = entry("EXC-9", 10)
    approvals = {**approved(live, "carol"), **approved(soon, "carol", "dave", pr=8)}
    approvals |= approved(gone, "dave", pr=5) | approved(old_branch, "erin", pr=9)
    standing.record(
        store,
        "github",
        "acme/shop",
        {
            "main": Plan(
                active=(live,),
                expiring=(soon,),
                expired=(gone,),
                unapproved=(loose,),
                unused=(live,),
                invalid=(("EXC-5", "policy k8s.nope is not a policy"),),
            ),
            "release/1.x": Plan(active=(old_branch,)),
        },
        NOW,
        approvals=approvals,
        cleanups={"main": 31},
    )
    infra = entry("EXC-1", 100, policy="k8s.host-network", requested_by="zoe")
    standing.record(
        store,
        "github",
        "acme/infra",
        {"main": Plan(active=(infra,))},
        NOW - timedelta(days=1),
        approvals=approved(infra, "carol", pr=2),
    )
    return store


def test_the_sweep_keeps_one_row_per_exception_and_replaces_them(seeded) -> None:
    page = queries.exceptions(seeded, None, queries.ExceptionFilter(per_page=100), NOW)
    keys = sorted((r.repository, r.branch, r.exception_id, r.state) for r in page.rows)
    assert keys == [
        ("acme/infra", "main", "EXC-1", "active"),
        ("acme/shop", "main", "EXC-1", "active"),
        ("acme/shop", "main", "EXC-2", "expiring"),
        ("acme/shop", "main", "EXC-3", "expired"),
        ("acme/shop", "main", "EXC-4", "unapproved"),
        ("acme/shop", "main", "EXC-5", "invalid"),
        ("acme/shop", "release/1.x", "EXC-9", "active"),
    ]
    gone = next(r for r in page.rows if r.exception_id == "EXC-3")
    assert gone.cleanup_pull_request == 31 and gone.approvers == ["dave"]
    # the next sweep of acme/shop replaces its rows, and leaves acme/infra alone
    standing.record(seeded, "github", "acme/shop", {"main": Plan()}, NOW + timedelta(hours=1))
    after = queries.exceptions(seeded, None, queries.ExceptionFilter(), NOW)
    assert [(r.repository, r.exception_id) for r in after.rows] == [("acme/infra", "EXC-1")]


def test_overview_counts_only_what_the_person_may_see(seeded) -> None:
    everything = queries.overview(seeded, None, NOW)
    assert everything.counts == {
        "active": 3,
        "expiring": 1,
        "expired": 1,
        "unapproved": 1,
        "invalid": 1,
    }
    assert (everything.repositories, everything.unused, everything.live) == (2, 1, 4)
    assert everything.by_policy == [("k8s.host-network", 2), ("k8s.privileged", 2)]
    assert everything.approvers[0] == ("carol", 3)
    # most urgent first: the expired one, then the ignored ones, then the nearest deadline
    assert [r.exception_id for r in everything.urgent][:4] == ["EXC-3", "EXC-4", "EXC-5", "EXC-2"]
    # history: one row per repository and day, summed per day
    assert [(d.isoformat(), live) for d, live, _, _ in everything.history] == [
        ((NOW - timedelta(days=1)).date().isoformat(), 1),
        (NOW.date().isoformat(), 3),
    ]

    infra_only = queries.overview(seeded, frozenset({"acme/infra"}), NOW)
    assert infra_only.counts["active"] == 1 and infra_only.counts["expired"] == 0
    assert infra_only.repositories == 1 and infra_only.urgent[0].repository == "acme/infra"

    stranger = queries.overview(seeded, frozenset(), NOW)
    assert sum(stranger.counts.values()) == 0 and stranger.urgent == [] and stranger.history == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (queries.ExceptionFilter(state="live"), ["EXC-1", "EXC-1", "EXC-2", "EXC-9"]),
        (queries.ExceptionFilter(state="unused"), ["EXC-1"]),
        (queries.ExceptionFilter(policy="k8s.host-network"), ["EXC-1", "EXC-2"]),
        (queries.ExceptionFilter(repository="acme/infra"), ["EXC-1"]),
        (queries.ExceptionFilter(person="BOB"), ["EXC-2"]),
        (queries.ExceptionFilter(approver="dave"), ["EXC-2", "EXC-3"]),
        (queries.ExceptionFilter(approver="dav"), []),  # exact, not a substring
        (queries.ExceptionFilter(expiring_within=7), ["EXC-2", "EXC-3"]),
        (queries.ExceptionFilter(text="sec-1"), ["EXC-1"]),
    ],
)
def test_filters(seeded, where, expected) -> None:
    found = queries.exceptions(seeded, None, where, NOW)
    assert sorted(r.exception_id for r in found.rows) == expected
    assert found.total == len(expected)


def test_sorting_and_pages(seeded) -> None:
    where = queries.ExceptionFilter(sort="expires", descending=True, per_page=2)
    first = queries.exceptions(seeded, None, where, NOW)
    assert first.total == 7 and first.pages == 4
    assert [r.exception_id for r in first.rows] == ["EXC-1", "EXC-4"]  # infra's, 100 days
    last = queries.exceptions(seeded, None, queries.ExceptionFilter(sort="id", page=9), NOW)
    assert last.filter.page == 9 and last.rows == []


def test_csv_export_has_every_match_and_defuses_formulas(seeded) -> None:
    text = "".join(queries.exceptions_csv(seeded, None, queries.ExceptionFilter(), NOW))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 7 and list(rows[0]) == list(queries.CSV_FIELDS)
    gone = next(r for r in rows if r["id"] == "EXC-3")
    assert gone["reason"].startswith("'=HYPERLINK")  # shown as text, never run
    assert gone["state"] == "expired" and gone["cleanup_pull_request"] == "31"
    mine = "".join(
        queries.exceptions_csv(seeded, frozenset({"acme/infra"}), queries.ExceptionFilter(), NOW)
    )
    assert "acme/shop" not in mine and "acme/infra" in mine


def test_one_exceptions_story(seeded) -> None:
    e = entry("EXC-1", 40, ticket="SEC-1")
    with seeded.session() as s:
        audit.record(
            s,
            actor="alice",
            action="command.exempt",
            repository="acme/shop",
            pull_request=3,
            details={"exception": "EXC-1", "pull_request": 7},
        )
        audit.record(
            s,
            actor="compliance-bot",
            action="check.concluded",
            repository="acme/shop",
            pull_request=7,
            sha="b" * 40,
            details={"check_kind": "exception-review", "conclusion": "success"},
        )
        s.add(
            CheckRecord(
                forge="github",
                repository="acme/shop",
                head_sha="c" * 40,
                name="compliance",
                pull_request=3,
                conclusion="success",
                relied_on={"file": "x", "applied": [{"id": "EXC-1", "hash": "h"}]},
                updated_at=NOW,
            )
        )
    ledger.record_merge(
        seeded,
        forge="github",
        repository="acme/shop",
        pull_request=7,
        merge_sha="d" * 40,
        merged_at=NOW,
        entries=[ledger.Approved(e)],
        approvers=["carol"],
        actor="compliance-bot",
        now=NOW,
    )
    story = queries.exception(seeded, None, "github", "acme/shop", "EXC-1")
    assert story is not None
    assert [r.branch for r in story.rows] == ["main"]
    assert [(k.pull_request, k.head_sha) for k in story.kept_green] == [(3, "c" * 40)]
    [approval] = story.approvals
    assert (approval.approvers, approval.head_sha, approval.merge_sha) == (
        ["carol"],
        "b" * 40,
        "d" * 40,
    )
    assert [ev.action for ev in story.trail] == [
        "command.exempt",
        "check.concluded",
        "exception.approved",
    ]
    # someone who can't see the repository learns nothing, not even that it exists
    assert (
        queries.exception(seeded, frozenset({"acme/infra"}), "github", "acme/shop", "EXC-1") is None
    )
    assert queries.exception(seeded, None, "github", "acme/shop", "EXC-404") is None


def test_audit_pages_are_keyset_and_scoped(store) -> None:
    with store.session() as s:
        for i in range(7):
            audit.record(
                s, actor="bot", action="check.concluded", repository="acme/shop", details={"i": i}
            )
        audit.record(s, actor="bot", action="delivery.refused", details={})  # no repository
        audit.record(s, actor="bot", action="check.concluded", repository="acme/secret")
    everything = audit_query.Filter()
    first = queries.audit(store, None, everything, limit=4)
    assert [e.action for e in first.events][:2] == ["check.concluded", "delivery.refused"]
    assert len(first.events) == 4 and first.before == first.events[-1].seq
    second = queries.audit(store, None, everything, before=first.before, limit=4)
    assert [e.seq for e in second.events] == [first.before - 1 - i for i in range(4)]
    third = queries.audit(store, None, everything, before=second.before, limit=4)
    assert len(third.events) == 1 and third.before is None
    assert first.head is not None and first.head.seq == 9

    mine = queries.audit(store, frozenset({"acme/shop"}), everything, limit=50)
    assert {e.repository for e in mine.events} == {"acme/shop"} and len(mine.events) == 7
    lines = list(queries.audit_jsonl(store, frozenset({"acme/shop"}), everything))
    assert [json.loads(line)["details"]["i"] for line in lines] == list(range(7))
    assert queries.audit(store, frozenset(), everything).events == []


def test_verification_is_kept_and_not_repeated_within_its_period(store) -> None:
    with store.session() as s:
        audit.record(s, actor="bot", action="check.concluded", repository="acme/shop")
    first = verify.scheduled(store, None, NOW, every=timedelta(hours=1))
    assert first is not None and first.intact and first.events == 1
    assert (
        verify.scheduled(store, None, NOW + timedelta(minutes=30), every=timedelta(hours=1)) is None
    )
    again = verify.scheduled(store, None, NOW + timedelta(hours=2), every=timedelta(hours=1))
    assert again is not None and verify.latest_verification(store).id == again.id


def test_an_exact_exception_filter_fills_pages_across_read_batches(store) -> None:
    # "EXC-1" is text-contained in EXC-10's events: the database narrows, the page filters
    # exactly, and a page is read in several batches when most of a batch is thrown away
    with store.session() as s:
        for i in range(30):
            exception = "EXC-1" if i % 6 == 0 else "EXC-10"
            audit.record(
                s,
                actor="bot",
                action="exception.reminded",
                repository="acme/shop",
                details={"exception": exception, "i": i},
            )
    where = audit_query.Filter(exception="EXC-1")
    seen, before = [], None
    while True:
        page = queries.audit(store, None, where, before=before, limit=2)
        seen += [e.details["i"] for e in page.events]
        assert all(e.details["exception"] == "EXC-1" for e in page.events)
        if page.before is None:
            break
        before = page.before
    assert seen == [24, 18, 12, 6, 0]


def test_a_sign_in_sees_its_own_forges_rows_only(store) -> None:
    standing.record(store, "gitlab", "acme/shop", {"main": Plan(active=(entry("GL-1", 9),))}, NOW)
    standing.record(store, "github", "acme/shop", {"main": Plan(active=(entry("GH-1", 9),))}, NOW)
    shop = frozenset({"acme/shop"})
    found = queries.exceptions(store, shop, queries.ExceptionFilter(), NOW, forge="github")
    assert [r.exception_id for r in found.rows] == ["GH-1"]
    assert queries.overview(store, shop, NOW, forge="gitlab").counts["active"] == 1
    assert (
        queries.exception(store, shop, "gitlab", "acme/shop", "GL-1", signed_in_with="github")
        is None
    )
    assert queries.exception(store, shop, "gitlab", "acme/shop", "GL-1", signed_in_with="gitlab")
    # an admin sees both forges
    assert queries.overview(store, None, NOW).counts["active"] == 2
