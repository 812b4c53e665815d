"""The long-running processes: ``serve`` (everything in one), ``web``, ``worker`` and ``clock``.

``serve`` is the embedded default: migrations, then the Huey consumer on threads, the one
APScheduler instance, and a production WSGI server (waitress) in the foreground. The scale-out
processes named in the ``Procfile`` split the same pieces: ``web`` (gunicorn workers that only
receive webhooks), ``worker`` (Huey consumers; any number of them with Redis) and ``clock`` (the
only scheduler).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import timedelta
from typing import Any

from bot.config import Settings
from bot.services import Services

log = logging.getLogger("compliance-bot")


def _logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve(settings: Settings, *, threads: int = 8) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler
    from waitress import create_server

    from bot.scheduler import add_jobs
    from bot.web.app import build_app

    _logging()
    services = Services(settings)
    services.migrate()
    recovered = services.jobs.recover(lease=timedelta(0))
    if recovered:
        log.info("queued again %d unfinished deliveries", len(recovered))
    consumer = services.huey.create_consumer(
        workers=settings.worker_threads, worker_type="thread", periodic=False
    )
    consumer.start()
    scheduler = BackgroundScheduler(timezone="UTC")
    add_jobs(scheduler, services)
    scheduler.start()
    server = create_server(
        build_app(services),
        host=settings.host,
        port=settings.port,
        threads=threads,
        ident="compliance-bot",
    )
    stop = threading.Event()

    def shutdown(*_: Any) -> None:
        if not stop.is_set():
            stop.set()
            server.close()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    setup = "" if services.settings.github_configured else " (no GitHub App yet: open it to set up)"
    log.info("serving on http://%s:%s%s", settings.host, server.effective_port, setup)
    try:
        server.run()
    except (OSError, ValueError):
        if not stop.is_set():
            raise
    finally:
        scheduler.shutdown(wait=False)
        consumer.stop(graceful=True)
        services.store.dispose()


def require_app(settings: Settings) -> None:
    """Scale-out processes don't serve the setup page: they need the App configured."""
    from bot.config import ConfigError
    from bot.services import load_stored_credentials

    if not load_stored_credentials(settings).github_configured:
        raise ConfigError(
            "GITHUB_APP_ID, GITHUB_PRIVATE_KEY and GITHUB_WEBHOOK_SECRET are required "
            "(or run `compliance-bot serve` once to register the App)"
        )


def web(settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication

    from bot.web.app import build_app

    require_app(settings)
    _logging()
    Services(settings).migrate()

    class WebApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", int(os.environ.get("WEB_CONCURRENCY", "2")))
            self.cfg.set("threads", int(os.environ.get("WEB_THREADS", "4")))
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", "-" if os.environ.get("ACCESS_LOG") else None)

        def load(self) -> Any:
            # each gunicorn worker builds its own services (database pool, queue connection)
            return build_app(Services(settings))

    WebApplication().run()


def worker(settings: Settings) -> None:
    require_app(settings)
    _logging()
    services = Services(settings)
    services.migrate()
    services.jobs.recover()
    consumer = services.huey.create_consumer(
        workers=settings.worker_threads, worker_type="thread", periodic=False
    )
    consumer.run()


def clock(settings: Settings) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler

    from bot.scheduler import add_jobs

    _logging()
    services = Services(settings)
    services.migrate()
    scheduler = BlockingScheduler(timezone="UTC")
    add_jobs(scheduler, services)
    log.info("clock started")
    scheduler.start()
