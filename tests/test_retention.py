"""Retention: payloads pruned, old records deleted, the audit log kept; on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot import audit
from bot.config import Settings
from bot.retention import prune
from bot.store import Store
from bot.store.tables import AuditEvent, CommandRun, Delivery, Lock, Worker

NOW = datetime(2027, 6, 1, 12, tzinfo=UTC)


def delivery(id: str, age_days: float, status: str = "done") -> Delivery:
    return Delivery(
        id=f"github:{id}",
        forge="github",
        event="pull_request",
        action="opened",
        repository="o/r",
        received_at=NOW - timedelta(days=age_days),
        status=status,
        attempts=1,
        payload='{"action": "opened"}',
    )


def test_payloads_pruned_records_deleted_unfinished_and_audit_kept(store: Store):
    settings = replace(Settings(), payload_retention_days=30, delivery_retention_days=365)
    with store.session() as s:
        s.add_all(
            [
                delivery("fresh", 2),
                delivery("month-old", 40),
                delivery("year-old", 400),
                delivery("old-but-queued", 400, status="queued"),
                CommandRun(
                    forge="github",
                    repository="o/r",
                    comment_id=1,
                    position=0,
                    command="exempt",
                    actor="dev",
                    status="done",
                    result={},
                    updated_at=NOW - timedelta(days=400),
                ),
                Lock(key="gone", owner="x/1", expires_at=NOW - timedelta(seconds=1)),
                Lock(key="held", owner="x/2", expires_at=NOW + timedelta(seconds=60)),
                Worker(
                    id="w",
                    host="h",
                    pid=1,
                    role="worker",
                    started_at=NOW - timedelta(days=3),
                    heartbeat_at=NOW - timedelta(days=2),
                ),
            ]
        )
        audit.record(s, actor="a", action="delivery.accepted", at=NOW - timedelta(days=500))
    counts = prune(store, settings, NOW)
    with store.session() as s:
        rows = {d.id.split(":", 1)[1]: d for d in s.scalars(select(Delivery))}
        assert sorted(rows) == ["fresh", "month-old", "old-but-queued"]
        assert rows["fresh"].payload is not None
        assert rows["month-old"].payload is None  # metadata kept, payload gone
        assert rows["month-old"].event == "pull_request"
        assert rows["old-but-queued"].payload is not None  # never drop what still has to run
        assert s.scalar(select(func.count()).select_from(CommandRun)) == 0
        assert list(s.scalars(select(Lock.key))) == ["held"]
        assert s.scalar(select(func.count()).select_from(Worker)) == 0
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1
    assert counts["payloads_pruned"] == 2 and counts["deliveries_deleted"] == 1
    assert prune(store, settings, NOW)["payloads_pruned"] == 0  # idempotent
