"""The ledger's branch scope and retirement, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import ledger
from bot.store import Store
from bot.store.tables import LedgerEntry

NOW = datetime(2027, 1, 10, tzinfo=UTC)


def row(content_hash: str, base_ref: str | None, pull_request: int) -> LedgerEntry:
    return LedgerEntry(
        forge="github",
        repository="o/r",
        exception_id="EXC-1",
        policy="k8s.privileged",
        content_hash=content_hash,
        approvers=["alice"],
        pull_request=pull_request,
        merge_sha="m",
        merged_at=NOW,
        renewal_count=0,
        source="merge",
        recorded_at=NOW,
        base_ref=base_ref,
    )


def approved(store: Store, branch: str) -> set[str]:
    return set(ledger.approvals(store, "github", "o/r", branch, "main"))


def retire(store: Store, branch: str, content_hash: str) -> list[str]:
    return ledger.retire(
        store,
        forge="github",
        repository="o/r",
        branch=branch,
        default_branch="main",
        gone={content_hash: "EXC-1"},
        by="test",
        actor="bob",
        now=NOW,
    )


def test_approvals_hold_on_their_branch_and_legacy_ones_everywhere(store: Store):
    with store.session() as s:
        s.add_all([row("on-main", "main", 1), row("on-1x", "release/1.x", 2), row("old", None, 3)])
    assert approved(store, "main") == {"on-main", "old"}
    assert approved(store, "release/1.x") == {"on-1x", "old"}


def test_retired_on_its_branch_only_and_a_new_approval_revives_it(store: Store):
    with store.session() as s:
        s.add_all([row("h", "main", 1), row("h", "release/1.x", 2), row("old", None, 3)])
    assert retire(store, "release/1.x", "h") == ["EXC-1"]
    assert "h" not in approved(store, "release/1.x") and "h" in approved(store, "main")
    assert retire(store, "release/1.x", "h") == []  # idempotent
    assert retire(store, "release/1.x", "old") == []  # a legacy row: only from main
    assert retire(store, "main", "old") == ["EXC-1"]
    with store.session() as s:
        s.add(row("h", "release/1.x", 4))  # approved again in a reviewed PR
    assert "h" in approved(store, "release/1.x")
