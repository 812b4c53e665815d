"""The bot under test: the real app, queue, store and workers, run against the fake GitHub.

Nothing of the bot is mocked. The bot listens on 127.0.0.1 with the production WSGI server
(waitress), its Huey consumer runs on threads, its store and queue are SQLite files or a fresh
PostgreSQL database and a Redis queue (``mode``). The fake GitHub sends signed webhooks to it and
serves the API and git over HTTP.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy import select
from waitress import create_server

from bot.config import Settings
from bot.services import Services
from bot.store.tables import Delivery
from bot.web.app import build_app


def close_server(server: Any) -> None:
    """Stop a waitress server that runs on a thread of its own: closed from its own loop, between
    two selects (closed from here, its socket could vanish under a select waiting on it: an
    ``OSError`` in that thread). The loop ends once the connections still open have closed."""
    try:
        server.trigger.pull_trigger(server.close)
    except (OSError, ValueError):  # its loop is gone already: nothing selects any more
        server.close()


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"


def services_available() -> str | None:
    """None when PostgreSQL and Redis answer; otherwise why not."""
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            pass
    except Exception as exc:
        return f"PostgreSQL at 127.0.0.1:5432 unavailable: {exc}"
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis at 127.0.0.1:6379 unavailable: {exc}"
    return None


class ScratchDatabase:
    """A PostgreSQL database made for one test and dropped after it."""

    def __init__(self) -> None:
        self.name = f"cb_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class BotUnderTest:
    def __init__(  # type: ignore[no-untyped-def]
        self, settings: Settings, *, fake=None, own_public_url: bool = False
    ) -> None:
        # own_public_url: the bot's public URL is its real address here, so the links it puts
        # on the forge (a check's "Details") and its sign-in callbacks can be followed; the
        # socket is bound first because the address must be in the settings the bot is built with
        listener = None
        if own_public_url:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            port = listener.getsockname()[1]
            settings = replace(settings, public_url=f"http://127.0.0.1:{port}")
        self.settings = settings
        self.fake = fake  # when given, waiting for idle also waits for its webhooks in flight
        self.services = Services(settings)
        self.services.migrate()
        where: dict = {"sockets": [listener]} if listener else {"host": "127.0.0.1", "port": 0}
        self.server = create_server(
            build_app(self.services), threads=8, ident="bot-under-test", **where
        )
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self.runner = self.services.runner("worker", check_worker_health=False)

    def start(self, *, consume: bool = True) -> BotUnderTest:
        self._thread.start()
        if consume:
            self.runner.start()
        return self

    def stop(self) -> None:
        close_server(self.server)
        with contextlib.suppress(Exception):
            self.runner.stop()
        self.services.store.dispose()

    def deliveries(self) -> list[Delivery]:
        with self.services.store.session() as s:
            return list(s.scalars(select(Delivery).order_by(Delivery.received_at)))

    def wait_idle(self, timeout: float = 30.0) -> list[Delivery]:
        """Until every recorded delivery is finished (done or failed) and the queue is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.fake is not None:
                self.fake.wait_for_deliveries(timeout)
            rows = self.deliveries()
            if all(r.status in ("done", "failed") for r in rows) and (
                self.services.huey.pending_count() == 0
            ):
                return rows
            time.sleep(0.02)
        raise TimeoutError(
            "bot still busy: " + ", ".join(f"{r.id}={r.status}" for r in self.deliveries())
        )


def bot_settings(
    tmp_path: Path, *, app, api_url: str, mode: str, database_url: str | None
) -> Settings:
    settings = Settings(
        data_dir=tmp_path / "bot",
        github_app_id=str(app.id) if app else None,
        github_private_key=app.private_key_pem if app else None,
        github_webhook_secret=app.webhook_secret if app else None,
        github_api_url=api_url or Settings.github_api_url,
        public_url="http://bot.example.test",
        worker_threads=2,
    )
    if mode == "postgres":
        settings = replace(
            settings,
            database_url=database_url,
            redis_url=REDIS,
            queue_name=f"cb-test-{uuid.uuid4().hex[:8]}",
        )
    return settings


def require_services() -> bool:
    return os.environ.get("COMPLIANCE_BOT_REQUIRE_SERVICES") == "1"


def normalised(summary: str) -> str:
    """A check summary with what changes from run to run (SHAs, dates) replaced, for goldens."""
    import re

    summary = re.sub(r"\b[0-9a-f]{40}\b", "<sha>", summary)
    summary = re.sub(r"`[0-9a-f]{7}`", "`<sha7>`", summary)
    summary = re.sub(r"\b[0-9a-f]{7}\b", "<sha7>", summary)
    summary = re.sub(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}( UTC)?)?", "<date>", summary)
    return summary
