"""Periodic jobs on APScheduler: exactly one scheduler per deployment, and its jobs only enqueue.

The scheduler runs inside ``serve`` (embedded) or in the ``clock`` process (scale-out), never in
web workers: APScheduler has no cross-process coordination, so every extra instance would run every
job again. Each job here puts work on the Huey queue and returns; workers do the work.
"""

from __future__ import annotations

import logging
from functools import partial

from apscheduler.schedulers.base import BaseScheduler

from bot.services import Services

log = logging.getLogger(__name__)


def add_jobs(scheduler: BaseScheduler, services: Services) -> None:
    # Deadlines: the delay between an exception's deadline and its PRs turning red is at most
    # one interval plus the time to run the queue (COMPLIANCE_BOT_SWEEP_MINUTES, default 5).
    scheduler.add_job(
        partial(sweep_deadlines, services),
        "interval",
        minutes=services.settings.sweep_minutes,
        id="deadline-sweep",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    # Recovering deliveries is the job of the processes that run them (``bot.jobs.Upkeep``),
    # so ``web`` and ``worker`` alone never lose one.


def sweep_deadlines(services: Services) -> None:
    """Queue the deadline sweep, unless there is no GitHub App to sweep with yet.

    ``serve`` runs before the App is registered (the setup page); the sweep would then fail
    every interval, in the worker, with a traceback. The setup page may register the App at any
    time, so the stored credentials are looked for again before giving up.
    """
    if not services.settings.github_configured:
        services.reload_credentials()
    if not services.settings.github_configured:
        log.debug("deadline sweep skipped: no GitHub App configured yet")
        return
    services.jobs.sweep_all()
