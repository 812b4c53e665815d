"""Wiring: build the store, the queue, the forge clients and the job table from ``Settings``.

One ``Services`` per process. Building it opens nothing but the database engine (lazily) and the
queue; forge clients are made per job, for the installation of the event. A process that runs
jobs (``serve``, ``worker``) starts its evaluation processes when its runner starts, warm, so the
first large PR after a restart waits for none of that; the ``web`` process never starts them.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import approvals
from bot.actions import Actions
from bot.checking import start_evaluation_process, warm_job_process
from bot.config import Settings
from bot.forge.base import Forge
from bot.forge.git import MirrorCache
from bot.forge.github import GitHubApp, GitHubForge
from bot.handlers.context import Context
from bot.jobs import Jobs, Periodic, Runner
from bot.queue import make_huey
from bot.store import Store, migrate

if TYPE_CHECKING:
    from bot.forge.gitlab import GitLabForge

CREDENTIALS_FILE = "github-app.json"
GITLAB = "gitlab"  # the "installation" of GitLab events: the deployment's one token
_POOL_LOCK = threading.Lock()
_APP_LOCK = threading.Lock()
# Imported once by the fork server the evaluation processes are forked from, so each starts
# with the evaluation code loaded (and shares those pages with the others).
_POOL_PRELOAD = ["bot.checking"]
WARM_UP_TIMEOUT = 120.0  # seconds; a process not ready by then is left to start on its own

log = logging.getLogger(__name__)


def load_stored_credentials(settings: Settings) -> Settings:
    """Settings completed with the App credentials the setup page stored, if the env has none."""
    if settings.github_configured:
        return settings
    path = settings.data_dir / CREDENTIALS_FILE
    if not path.is_file():
        return settings
    data = json.loads(path.read_text("utf-8"))
    from dataclasses import replace

    # the App's OAuth client signs people in to the dashboard, unless the env names another
    client = (settings.github_client_id, settings.github_client_secret)
    if not any(client) and data.get("client_id") and data.get("client_secret"):
        client = (str(data["client_id"]), str(data["client_secret"]))
    return replace(
        settings,
        github_app_id=str(data["id"]),
        github_private_key=data["pem"],
        github_webhook_secret=data["webhook_secret"],
        github_client_id=client[0],
        github_client_secret=client[1],
    )


def store_credentials(settings: Settings, conversion: dict[str, Any]) -> Path:
    """Keep what GitHub's manifest conversion returned (id, pem, webhook secret), owner-only."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / CREDENTIALS_FILE
    keep = {
        k: conversion[k]
        for k in ("id", "slug", "pem", "webhook_secret", "client_id", "client_secret", "html_url")
        if k in conversion
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(keep, fh)
    return path


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        immediate: bool = False,
    ) -> None:
        self.settings = load_stored_credentials(settings)
        self.clock = clock
        self.store = Store(self.settings.sqlalchemy_url)
        self.huey = make_huey(self.settings, immediate=immediate)
        self.mirrors = MirrorCache(self.settings.mirrors_dir, self.settings.mirror_max_bytes)
        self._github_app: GitHubApp | None = None
        self._gitlab: GitLabForge | None = None
        self._pool: Executor | None = None
        self.jobs = Jobs(self.huey, self.store, self.context_for, clock)
        self.jobs.sweeper = self.sweep
        self.jobs.lister = self.installed_repositories
        self.jobs.notifier = self.send_notification

    def migrate(self) -> None:
        migrate(self.settings.sqlalchemy_url)

    def runner(self, role: str, *, check_worker_health: bool = True) -> Runner:
        """Job consumers for this process, with the upkeep (recovery, retention) beside them."""
        from bot import retention
        from bot.audit import checkpoints, verify
        from bot.notify import outbox

        signer = checkpoints.load_signer(self.settings)  # made on first start
        assert signer is not None
        log.info("audit checkpoints are signed by %s", signer.verifier.vkey)
        return PoolRunner(
            self,
            self.jobs,
            role=role,
            workers=self.settings.worker_threads,
            tasks=[
                Periodic(
                    "retention", 3600, lambda now: retention.prune(self.store, self.settings, now)
                ),
                Periodic(
                    "audit-checkpoint",
                    60 * self.settings.checkpoint_minutes,
                    lambda now: checkpoints.checkpoint(self.store, self.settings, now),
                ),
                Periodic(
                    "audit-verify",
                    600,
                    lambda now: verify.scheduled(
                        self.store, signer.verifier, now, every=timedelta(hours=1)
                    ),
                ),
                Periodic(
                    "notify",
                    2,
                    lambda now: outbox.pump(
                        self.store, self.settings, self.jobs.send_notification, now
                    ),
                ),
            ],
            check_worker_health=check_worker_health,
        )

    def send_notification(self, notification_id: int) -> float | None:
        """One attempt at one notification (the ``send_notification`` job)."""
        from bot.notify import outbox

        return outbox.send(self.store, self.settings, notification_id, self.clock())

    def reload_credentials(self) -> None:
        self.settings = load_stored_credentials(self.settings)
        self._github_app = None

    def github_app(self) -> GitHubApp:
        with _APP_LOCK:  # (the warm-up thread and the first job may ask at once)
            if self._github_app is None:
                self._github_app = GitHubApp(self.settings)
            return self._github_app

    def context_for(self, event: Any) -> Context:
        if event.forge == GITLAB:
            return self.context_for_installation(GITLAB)
        if event.installation_id is None:
            raise ValueError(f"{event.name} event without an installation")
        return self.context_for_installation(int(event.installation_id))

    def gitlab(self) -> GitLabForge:
        """The forge for the deployment's GitLab token (``GITLAB_URL``, ``GITLAB_TOKEN``)."""
        from bot.forge.gitlab import GitLabForge

        if not (self.settings.gitlab_url and self.settings.gitlab_token):
            raise ValueError("GitLab is not configured: set GITLAB_URL and GITLAB_TOKEN")
        if self._gitlab is None:
            self._gitlab = GitLabForge(
                self.settings.gitlab_url,
                self.settings.gitlab_token,
                self.mirrors,
                approvals_seen=lambda path, number: approvals.seen(
                    self.store, GITLAB, path, number
                ),
            )
        return self._gitlab

    def context_for_installation(self, installation_id: int | str) -> Context:
        """A context for a GitHub App installation, or for GitLab (``installation_id`` is then
        ``"gitlab"``: one token serves the whole deployment)."""
        forge: Forge
        if installation_id == GITLAB:
            forge = self.gitlab()
        else:
            forge = GitHubForge(self.github_app(), int(installation_id), self.mirrors)
        return Context(
            settings=self.settings,
            store=self.store,
            forge=forge,
            actions=Actions(forge, self.store),
            now=self.clock,
            pool=self.evaluation_pool,
            jobs=self.settings.evaluation_processes,
        )

    def evaluation_pool(self) -> Executor | None:
        """Processes that evaluate large PRs in parallel: started warm by the job runner
        (``warm_evaluation_pool``), or else by the first large PR.

        With ``forkserver``: forking this multi-threaded process directly is not safe.
        ``COMPLIANCE_BOT_EVALUATION_PROCESSES=1`` keeps evaluation in the worker thread.
        """
        if self.settings.evaluation_processes <= 1:
            return None
        with _POOL_LOCK:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(_POOL_PRELOAD)  # no effect once it runs
                self._pool = ProcessPoolExecutor(
                    self.settings.evaluation_processes,
                    mp_context=context,
                    initializer=start_evaluation_process,
                    initargs=(os.getpid(),),
                )
                atexit.register(self._pool.shutdown, wait=False, cancel_futures=True)
        return self._pool

    def warm_evaluation_pool(self) -> Future[list[int]] | None:
        """Start every evaluation process now, on a background thread; the future holds their pids.

        Processes start on demand, one per task while none is idle: one trivial task per process
        starts them all, and each runs ``start_evaluation_process`` (the engine imported, the
        packs compiled, a sample evaluated) before its first task. The first one ready may take
        every task, so rounds follow until each has answered. Nothing waits for this: a large PR
        that comes first waits for the pool as it would have, and a failure is logged and left
        for that PR to meet.
        """
        processes = self.settings.evaluation_processes
        if processes <= 1:
            return None
        done: Future[list[int]] = Future()

        def warm() -> None:
            try:
                pool = self.evaluation_pool()
                assert pool is not None
                ready: set[int] = set()
                deadline = time.monotonic() + WARM_UP_TIMEOUT
                while len(ready) < processes and time.monotonic() < deadline:
                    tasks = [pool.submit(os.getpid) for _ in range(processes)]
                    ready.update(task.result() for task in tasks)
                    if len(ready) < processes:
                        time.sleep(0.01)
                done.set_result(sorted(ready))
            except Exception as exc:
                log.warning("could not start the evaluation processes: %s", exc)
                done.set_exception(exc)

        threading.Thread(target=warm, name="compliance-bot-pool-warm-up", daemon=True).start()
        return done

    def close_evaluation_pool(self) -> None:
        """Stop the evaluation processes (a later large PR starts them again)."""
        with _POOL_LOCK:
            pool, self._pool = self._pool, None
        if isinstance(pool, ProcessPoolExecutor):
            atexit.unregister(pool.shutdown)
            pool.shutdown(wait=False, cancel_futures=True)

    def queue_healthy(self) -> bool:
        try:
            self.huey.pending_count()
            return True
        except Exception:
            return False

    def rebuild_ledger(self, full_name: str, rebuild, forge: str = "github") -> dict[str, int]:  # type: ignore[no-untyped-def]
        """Run ``rebuild(ctx, repo)`` with a context for ``full_name`` on ``forge`` (the App
        installation on it, or the GitLab token)."""
        if forge == GITLAB:
            return rebuild(
                self.context_for_installation(GITLAB), self.gitlab().repository(full_name)
            )
        app = self.github_app()
        installation_id, repo = app.repository(full_name)
        return rebuild(self.context_for_installation(installation_id), repo)

    def installed_repositories(self) -> list[tuple[int | str, str]]:
        """Every repository the bot serves: of each GitHub App installation, and each GitLab
        project the token reaches (as ``("gitlab", path)``)."""
        out: list[tuple[int | str, str]] = []
        if self.settings.github_configured:
            app = self.github_app()
            for installation_id in app.installations():
                forge = GitHubForge(app, installation_id, self.mirrors)
                out.extend((installation_id, name) for name in forge.installation_repositories())
        if self.settings.gitlab_url and self.settings.gitlab_token:
            out.extend((GITLAB, path) for path in self.gitlab().projects())
        return out

    def sweep(
        self,
        installation_id: int | str,
        full_name: str,
        *,
        now: datetime | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """The deadline sweep of one repository (``bot.handlers.expiry``); ``dry_run`` hands it
        ``DryRunActions``, so it plans every effect and performs none (``summary["planned"]``)."""
        from dataclasses import replace

        from bot.actions import DryRunActions
        from bot.handlers.expiry import sweep_repo

        at = now or self.clock()
        # the injected time flows into every check the sweep runs, so deadlines are testable
        ctx = replace(self.context_for_installation(installation_id), now=lambda: at)
        if dry_run:
            ctx = replace(ctx, actions=DryRunActions(ctx.forge, self.store))
        if installation_id == GITLAB:
            repo = self.gitlab().repository(full_name)
        else:
            # the round's listing of the installation's repositories already holds the facts
            app = self.github_app()
            repo = (
                app.listed_repository(int(installation_id), full_name)
                or app.repository(full_name)[1]
            )
        summary = sweep_repo(ctx, repo, now=at)
        if isinstance(ctx.actions, DryRunActions):
            summary["planned"] = ctx.actions.planned
        return summary


def _warm_this_process(services: Services) -> None:
    def warm() -> None:
        warm_job_process()
        if services.settings.github_configured:
            with contextlib.suppress(Exception):  # (best effort: the first job meets the error)
                services.github_app().warm()

    threading.Thread(target=warm, name="compliance-bot-warm-up", daemon=True).start()


class PoolRunner(Runner):
    """The job runner of ``serve`` and ``worker``: it starts the evaluation processes warm when
    it starts taking jobs, and stops them when it stops. (Building it starts nothing: the e2e
    harness builds one for a web server that never runs jobs.)"""

    def __init__(self, services: Services, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.services = services
        self.warm: Future[list[int]] | None = None

    def start(self) -> list[str]:
        self.warm = self.services.warm_evaluation_pool()
        _warm_this_process(self.services)
        return super().start()

    def run(self) -> None:
        self.warm = self.services.warm_evaluation_pool()
        _warm_this_process(self.services)
        try:
            super().run()
        finally:
            self.services.close_evaluation_pool()

    def stop(self) -> None:
        super().stop()
        self.services.close_evaluation_pool()
