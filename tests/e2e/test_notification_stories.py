"""Notifications, end to end: an exception's life told to Slack, Teams and a signed webhook.

Three local HTTP receivers stand in for a Slack incoming webhook, a Teams Workflows webhook and a
SIEM's webhook; the SIEM's answers 500 to its first two requests. The repository routes every
kind to Slack and a few to Teams; the deployment's default route sends everything to the SIEM.
Each receiver must get exactly the kinds it was routed, once each, with a card that validates
against the published Adaptive Card schema and a signature the Standard Webhooks reference
library accepts.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import standardwebhooks
from sqlalchemy import select

from bot.notify.destinations import Destination
from bot.store.tables import AuditEvent, NotificationRecord

from .conftest import World
from .harness import BotUnderTest, bot_settings
from .test_check_stories import PRIVILEGED
from .test_command_stories import EXEMPT, bot_replies

SECRET = b"compliance-bot-e2e-webhook-secret-32"
TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
CONFIG = """\
version: 1
notifications:
  routes:
    - kinds: ["*"]
      to: [chat]
    - kinds: [exception.approved, exception.expired, bypass]
      to: [teams]
"""
LIFE = [
    "exception.requested",
    "exception.approved",
    "exception.expiring",
    "exception.expired",
    "cleanup.opened",
]
EXPECTED = {
    "chat": Counter(LIFE),
    "teams": Counter(["exception.approved", "exception.expired"]),
    "siem": Counter(LIFE),
}


@dataclass
class Received:
    status: int
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A local HTTP endpoint that records every POST; the first ``fail`` get a 500."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    status = 500 if len(receiver.requests) < receiver.fail else 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.requests.append(Received(status, headers, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def kind_of(name: str, request: Received) -> str:
    data = json.loads(request.body)
    if name == "siem":
        return data["type"]
    if name == "teams":
        card = data["attachments"][0]["content"]
        return card["body"][-1]["text"].rsplit(" ", 1)[-1]
    return data["blocks"][-1]["elements"][0]["text"].split("`")[1]


@pytest.fixture
def receivers():
    made = {"chat": Receiver(), "teams": Receiver(), "siem": Receiver(fail=2)}
    yield made
    for receiver in made.values():
        receiver.close()


@pytest.fixture
def told(fake_world, mode, scratch_database, tmp_path: Path, receivers):
    """A world whose bot tells the three receivers."""
    fw = fake_world
    settings = bot_settings(
        tmp_path, app=fw.app, api_url=fw.fake.api_url, mode=mode, database_url=scratch_database
    )
    settings = replace(
        settings,
        notify_destinations=(
            Destination("chat", "slack", receivers["chat"].url),
            Destination("teams", "teams", receivers["teams"].url),
            Destination("siem", "webhook", receivers["siem"].url, SECRET),
        ),
        notify_default_route=("siem",),
    )
    bot = BotUnderTest(settings, fake=fw.fake).start()
    fw.app.webhook_url = f"{bot.url}/webhooks/github"
    try:
        yield World(fw.fake, fw.app, fw.installation, fw.repo, bot)
    finally:
        bot.stop()


def sweep(world: World, days: float) -> dict:
    summary = world.bot.services.sweep(
        world.installation.id, world.full_name, now=TODAY + timedelta(days=days)
    )
    world.bot.wait_idle()
    return summary


def settled(world: World, receivers: dict[str, Receiver], timeout: float = 90.0) -> None:
    """Until every receiver has what it was routed and the outbox has nothing left to send."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = {n: Counter(kind_of(n, r) for r in rec.accepted()) for n, rec in receivers.items()}
        with world.bot.services.store.session() as s:
            open_rows = s.scalars(
                select(NotificationRecord.id).where(
                    NotificationRecord.status.in_(("pending", "sending"))
                )
            ).all()
        if all(got[n] >= EXPECTED[n] for n in EXPECTED) and not open_rows:
            return
        time.sleep(0.2)
    raise AssertionError(f"receivers got {got}, expected {EXPECTED}; unsent rows: {open_rows}")


def test_an_exceptions_life_is_told_to_each_destination_exactly_once(
    told, receivers, adaptive_card_errors
):
    world = told
    world.fake.commit(world.repo, "main", {".compliance/config.yaml": CONFIG}, "route notices")
    world.bot.wait_idle()

    # requested: a blocked PR, and `/compliance exempt` opens the exception PR
    number, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    assert world.check(sha).conclusion == "failure"
    world.fake.comment(world.repo, number, EXEMPT, user="dev")
    world.bot.wait_idle()
    [reply] = bot_replies(world, number)
    exception_pr = int(reply.body.split("Opened #", 1)[1].split(" ", 1)[0])

    # approved and live: a code owner approves, the PR merges, the blocked PR turns green
    head = world.fake.pull(world.repo, exception_pr).pull.head_sha
    world.fake.review(world.repo, exception_pr, user="alice", event="APPROVE", commit_id=head)
    world.bot.wait_idle()
    world.fake.merge_pull(world.repo, exception_pr, user="alice")
    world.bot.wait_idle()
    assert world.check(sha).conclusion == "success"

    # expiring soon (13 days left of 30), then expired with a cleanup PR; the second sweep
    # after the deadline changes nothing, and tells nothing again
    assert sweep(world, 17)["reminders"] == [("EXC-1", 14)]
    assert sweep(world, 32)["expired"] == ["EXC-1"]
    sweep(world, 32.5)

    settled(world, receivers)
    for name, receiver in receivers.items():
        got = Counter(kind_of(name, r) for r in receiver.accepted())
        assert got == EXPECTED[name], name

    # the SIEM failed twice and was retried: same message id, no message lost or doubled
    siem = receivers["siem"]
    assert [r.status for r in siem.requests].count(500) == 2
    assert len(siem.requests) == sum(EXPECTED["siem"].values()) + 2
    retried = {r.headers["webhook-id"] for r in siem.requests[:2]}
    assert retried <= {r.headers["webhook-id"] for r in siem.accepted()}
    assert len({r.headers["webhook-id"] for r in siem.accepted()}) == len(siem.accepted())
    verifier = standardwebhooks.Webhook("whsec_" + base64.b64encode(SECRET).decode())
    for request in siem.accepted():
        event = verifier.verify(request.body, request.headers)
        assert event["data"]["repository"] == "acme/shop"

    for request in receivers["teams"].accepted():
        message = json.loads(request.body)
        [attachment] = message["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert adaptive_card_errors(attachment["content"]) == []

    approved = next(
        json.loads(r.body)
        for r in receivers["chat"].accepted()
        if kind_of("chat", r) == "exception.approved"
    )
    text = json.dumps(approved)
    for fact in ("EXC-1", "k8s.privileged", "approved by alice", "legacy probe", "SEC-12"):
        assert fact in text, fact
    assert f"/acme/shop/pull/{exception_pr}" in text

    with world.bot.services.store.session() as s:
        failures = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "notification.failed")
        ).all()
    assert failures == []  # retried in time: nothing failed for good

    # the same life, told by the audit log: in order, and the log is intact
    trail = audit_cli(world, "trail", "EXC-1", "--repo", "acme/shop")
    assert trail.returncode == 0, trail.stderr
    steps = [
        "command.exempt",
        "exception.approved",
        "exception.reminded",
        "cleanup.updated",
    ]
    positions = [trail.stdout.find(step) for step in steps]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), trail.stdout
    assert "alice" in trail.stdout and "dev" in trail.stdout
    verified = audit_cli(world, "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout


def audit_cli(world: World, *args: str) -> subprocess.CompletedProcess:
    settings = world.bot.settings
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "COMPLIANCE_BOT_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url or settings.sqlalchemy_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
