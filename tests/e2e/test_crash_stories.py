"""A worker killed with SIGKILL in the middle of a job: the check still completes exactly once."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from bot.services import Services
from bot.store.tables import CheckRecord, Delivery

from .harness import bot_settings
from .proxy import FreezingProxy
from .test_check_stories import PRIVILEGED


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(settings, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "COMPLIANCE_BOT"))}
    env.update(
        PORT=str(port),
        COMPLIANCE_BOT_DATA_DIR=str(settings.data_dir),
        GITHUB_APP_ID=settings.github_app_id,
        GITHUB_PRIVATE_KEY=settings.github_private_key,
        GITHUB_WEBHOOK_SECRET=settings.github_webhook_secret,
        GITHUB_API_URL=settings.github_api_url,
        COMPLIANCE_BOT_QUEUE_NAME=settings.queue_name,
    )
    for key, value in (("DATABASE_URL", settings.database_url), ("REDIS_URL", settings.redis_url)):
        if value:
            env[key] = value
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("serve did not start: " + log.read_text())


def test_worker_killed_mid_job_completes_exactly_once(fake_world, mode, scratch_database, tmp_path):
    fake = fake_world.fake
    api = urlsplit(fake.api_url)
    # Freeze GitHub's answer to the check-run creation: the run exists, the bot doesn't know.
    proxy = FreezingProxy(f"{api.scheme}://{api.netloc}", ("POST", r"/check-runs$"))
    settings = bot_settings(
        tmp_path,
        app=fake_world.app,
        api_url=proxy.url + api.path,
        mode=mode,
        database_url=scratch_database,
    )
    port = free_port()
    fake_world.app.webhook_url = f"http://127.0.0.1:{port}/webhooks/github"
    log = tmp_path / "serve.log"
    serve = start_serve(settings, port, log)
    try:
        fake.commit(fake_world.repo, "feature", {"deploy/web.yaml": PRIVILEGED}, author="dev")
        issue = fake.open_pull(fake_world.repo, "feature", user="dev")
        sha = issue.pull.head_sha
        assert proxy.reached.wait(30), log.read_text()
        serve.send_signal(signal.SIGKILL)  # mid-job: GitHub made the run, the bot never heard
        serve.wait(10)
        proxy.release.set()
        assert len(fake.check_runs(fake_world.repo, sha=sha, name="compliance")) == 1
        services = Services(settings)
        with services.store.session() as s:
            assert list(s.scalars(select(CheckRecord))) == []  # the bot never learned of it
            unfinished = [d.status for d in s.scalars(select(Delivery))]
        assert "running" in unfinished
        services.store.dispose()

        serve = start_serve(settings, port, log)  # the restart recovers unfinished deliveries
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = fake.check_runs(fake_world.repo, sha=sha, name="compliance")
            if runs and all(r.status == "completed" for r in runs):
                break
            time.sleep(0.1)
        assert len(runs) == 1, f"{len(runs)} check runs for one head"
        assert (runs[0].status, runs[0].conclusion) == ("completed", "failure")
        services = Services(settings)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with services.store.session() as s:
                rows = list(s.scalars(select(Delivery)))
            if rows and all(r.status == "done" for r in rows):
                break
            time.sleep(0.1)
        assert rows and all(r.status == "done" for r in rows), [(r.id, r.status) for r in rows]
        # recovered by the restarted process at start (its predecessor is known dead at once),
        # not by a lease running out: exactly one execution after the crash (the push's
        # delivery may have been running too when the worker was killed)
        assert re.search(r"queued again [12] unfinished deliver", log.read_text())
        assert {r.attempts for r in rows if r.event == "pull_request"} == {2}
        services.store.dispose()
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(20)
        except subprocess.TimeoutExpired:
            serve.kill()
        proxy.close()
