"""Periodic jobs on APScheduler: exactly one scheduler per deployment, and its jobs only enqueue.

The scheduler runs inside ``serve`` (embedded) or in the ``clock`` process (scale-out), never in
web workers: APScheduler has no cross-process coordination, so every extra instance would run every
job again. Each job here puts work on the Huey queue and returns; workers do the work.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.base import BaseScheduler

from bot.services import Services

log = logging.getLogger(__name__)


def add_jobs(scheduler: BaseScheduler, services: Services) -> None:
    # Deadlines: the delay between an exception's deadline and its PRs turning red is at most
    # one interval plus the time to run the queue (COMPLIANCE_BOT_SWEEP_MINUTES, default 5).
    scheduler.add_job(
        services.jobs.sweep_all,
        "interval",
        minutes=services.settings.sweep_minutes,
        id="deadline-sweep",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    scheduler.add_job(
        services.jobs.recover,
        "interval",
        seconds=60,
        id="recover-deliveries",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
