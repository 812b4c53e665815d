"""The long-running processes: ``serve`` (everything in one), ``web``, ``worker`` and ``clock``.

``serve`` is the embedded default: migrations, then the Huey consumer on threads, the one
APScheduler instance, and a production WSGI server (waitress) in the foreground. The scale-out
processes named in the ``Procfile`` split the same pieces: ``web`` (gunicorn workers that only
receive webhooks), ``worker`` (Huey consumers; any number of them with Redis) and ``clock`` (the
only scheduler).

Each process first checks that what it needs is there (database, queue): an unreachable one is a
``ConfigError`` naming the variable, which the command line reports in one line (exit 2), not a
traceback from deep inside a migration.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from bot import logs, metrics
from bot.config import ConfigError, Settings
from bot.services import Services

log = logging.getLogger("compliance-bot")

CONNECT_TIMEOUT = 5  # seconds to reach the database or Redis at start


def _logging(settings: Settings) -> None:
    logs.configure(settings.log_level, settings.log_format)


def check_reachable(settings: Settings) -> None:
    """Raise ``ConfigError`` naming the variable if the data dir, database or Redis is unusable."""
    embedded_db = not settings.database_url
    if embedded_db or not settings.redis_url:  # the SQLite database or queue lives there
        _check_data_dir(settings.data_dir)
    _check_database(settings, "COMPLIANCE_BOT_DATA_DIR" if embedded_db else "DATABASE_URL")
    if settings.redis_url:
        _check_redis(settings.redis_url)


def _check_data_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"COMPLIANCE_BOT_DATA_DIR: cannot create {data_dir}: {exc.strerror}"
        ) from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"COMPLIANCE_BOT_DATA_DIR: {data_dir} is not writable")


def _check_database(settings: Settings, name: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    url = settings.sqlalchemy_url
    args = {"connect_timeout": CONNECT_TIMEOUT} if url.startswith("postgresql") else {}
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args=args)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except (SQLAlchemyError, ValueError, OSError) as exc:
        reason = _first_line(getattr(exc, "orig", None) or exc, settings.database_url)
        raise ConfigError(f"{name}: cannot connect to the database: {reason}") from None


def _check_redis(url: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError, OSError) as exc:
        raise ConfigError(f"REDIS_URL: cannot connect to Redis: {_first_line(exc, url)}") from None


def _first_line(exc: BaseException, url: str | None) -> str:
    """The first line of a driver's error, with the URL's password (if any) blanked out."""
    from urllib.parse import urlparse

    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    try:
        password = urlparse(url).password if url else None
    except ValueError:
        password = None
    return line.replace(password, "***") if password else line


def serve(settings: Settings, *, threads: int = 8) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler
    from waitress import create_server

    from bot.scheduler import add_jobs
    from bot.web.app import build_app

    _logging(settings)
    check_reachable(settings)
    metrics.configure(settings)
    services = Services(settings)
    services.migrate()
    try:  # the port first: nothing else starts when the web server can't listen
        server = create_server(
            build_app(services),
            host=settings.host,
            port=settings.port,
            threads=threads,
            ident="compliance-bot",
        )
    except OSError as exc:
        services.store.dispose()
        raise ConfigError(
            f"PORT: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
            " (another process may use it; choose another with PORT or --port)"
        ) from None
    # at start: recover what a dead process left (at once for this host), then take new work
    runner = services.runner("serve")
    runner.start()
    scheduler = BackgroundScheduler(timezone="UTC")
    add_jobs(scheduler, services)
    scheduler.start()
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
        runner.stop()
        services.store.dispose()


def require_app(settings: Settings) -> None:
    """Scale-out processes don't serve the setup page: they need the App configured."""
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
    _logging(settings)
    check_reachable(settings)
    metrics.configure(settings)  # before gunicorn forks: its workers inherit it
    Services(settings).migrate()

    class WebApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", int(os.environ.get("WEB_CONCURRENCY", "2")))
            self.cfg.set("threads", int(os.environ.get("WEB_THREADS", "4")))
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", "-" if os.environ.get("ACCESS_LOG") else None)
            self.cfg.set("loglevel", settings.log_level.lower())
            self.cfg.set("logger_class", _gunicorn_logger(settings.log_format))
            self.cfg.set("child_exit", lambda _server, worker: metrics.process_gone(worker.pid))

        def load(self) -> Any:
            # each gunicorn worker builds its own services (database pool, queue connection)
            return build_app(Services(settings))

    WebApplication().run()


def _gunicorn_logger(log_format: str) -> type:
    """gunicorn's logger, its own lines (workers starting, the access log) in ``LOG_FORMAT``."""
    from gunicorn.glogging import Logger

    class GunicornLogger(Logger):  # type: ignore[misc]
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                handler.setFormatter(logs.formatter(log_format))

    return GunicornLogger


def worker(settings: Settings) -> None:
    require_app(settings)
    _logging(settings)
    check_reachable(settings)
    metrics.configure(settings)
    services = Services(settings)
    services.migrate()
    services.runner("worker").run()


def clock(settings: Settings) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler

    from bot.scheduler import add_jobs

    _logging(settings)
    check_reachable(settings)
    metrics.configure(settings)
    services = Services(settings)
    services.migrate()
    scheduler = BlockingScheduler(timezone="UTC")
    add_jobs(scheduler, services)
    log.info("clock started")
    scheduler.start()
