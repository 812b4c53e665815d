"""Retention: what the store keeps, and for how long, so no table grows without bound.

- Delivery payloads (the raw webhook JSON, kept to run a delivery again after a crash) are
  dropped once the delivery finished and is older than ``payload_retention_days`` (default 30);
  the delivery's metadata (event, repository, outcome, error) stays.
- Delivery rows, and the command claims of comments, are deleted after
  ``delivery_retention_days`` (default 365). GitHub redelivers only recent deliveries, so a
  deleted one can't come back to run twice.
- Expired locks and processes that stopped beating a day ago are forgotten.
- Refused webhook requests are counted per source and hour (``bot.refusals``); closed windows
  are summarised into the audit log once and their counters dropped after 30 days.

The audit log itself is never pruned here: it is the record.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update

from bot import refusals
from bot.config import Settings
from bot.store import Store
from bot.store.tables import CommandRun, Delivery, Lock, Worker

log = logging.getLogger(__name__)


def prune(store: Store, settings: Settings, now: datetime) -> dict[str, int]:
    """Apply the retention settings once; returns how many rows each step touched."""
    payload_cutoff = now - timedelta(days=settings.payload_retention_days)
    row_cutoff = now - timedelta(days=settings.delivery_retention_days)
    counts: dict[str, Any] = {}
    with store.session() as session:
        counts["payloads_pruned"] = session.execute(
            update(Delivery)
            .where(
                Delivery.status.in_(("done", "failed")),
                Delivery.received_at < payload_cutoff,
                Delivery.payload.is_not(None),
            )
            .values(payload=None)
        ).rowcount
        counts["deliveries_deleted"] = session.execute(
            delete(Delivery).where(
                Delivery.status.in_(("done", "failed")), Delivery.received_at < row_cutoff
            )
        ).rowcount
        counts["command_runs_deleted"] = session.execute(
            delete(CommandRun).where(
                CommandRun.status != "started", CommandRun.updated_at < row_cutoff
            )
        ).rowcount
        counts["locks_deleted"] = session.execute(
            delete(Lock).where(Lock.expires_at < now)
        ).rowcount
        counts["workers_deleted"] = session.execute(
            delete(Worker).where(Worker.heartbeat_at < now - timedelta(days=1))
        ).rowcount
    summary = refusals.summarise_refusals(store, now)
    counts["refusal_windows_summarised"] = summary.windows
    counts["refusal_counters_deleted"] = summary.deleted
    if any(counts.values()):
        log.info("retention: %s", ", ".join(f"{k}={v}" for k, v in counts.items() if v))
    return counts
