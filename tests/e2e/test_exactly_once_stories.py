"""Every request handled exactly once, under concurrency and forge faults (issue 9, items 5-11).

The forge-fault stories put a fault-injecting proxy between the bot and the fake GitHub: errors
answered before GitHub did anything, and errors answered after GitHub already did the write.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from bot.services import Services
from bot.store.tables import AuditEvent, Delivery

from .conftest import World
from .faults import Fault, FaultProxy
from .harness import BotUnderTest, bot_settings
from .test_check_stories import PRIVILEGED
from .test_command_stories import EXEMPT, bot_replies

pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(fake_world):
    api = urlsplit(fake_world.fake.api_url)
    with FaultProxy(f"{api.scheme}://{api.netloc}", seed=9) as p:
        yield p


@pytest.fixture
def faulty(fake_world, mode, scratch_database, tmp_path: Path, proxy):
    """A world whose bot reaches GitHub through the fault-injecting proxy."""
    fw = fake_world
    api_path = urlsplit(fw.fake.api_url).path
    settings = bot_settings(
        tmp_path, app=fw.app, api_url=proxy.url + api_path, mode=mode, database_url=scratch_database
    )
    bot = BotUnderTest(settings, fake=fw.fake).start()
    bot.services.jobs.max_attempts = 3  # give up after three attempts (1 s and 2 s back-off)
    fw.app.webhook_url = f"{bot.url}/webhooks/github"
    try:
        yield World(fw.fake, fw.app, fw.installation, fw.repo, bot)
    finally:
        bot.stop()


def blocked(world, n: int) -> list[int]:
    """``n`` PRs, each with a blocking finding in a file of its own."""
    numbers = []
    for i in range(n):
        number, _ = world.open_pr({f"deploy/app{i}/web.yaml": PRIVILEGED}, branch=f"feature-{i}")
        numbers.append(number)
    world.bot.wait_idle(60)
    return numbers


def exception_pulls(world):
    return [p for p in world.repo.pulls() if p.pull.head_ref.startswith("compliance/exception/")]


def audit(world, action: str) -> list[AuditEvent]:
    with world.bot.services.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def opened(reply: str) -> int:
    return int(reply.split("Opened #", 1)[1].split(" ", 1)[0])


def test_concurrent_exempt_requests_get_their_own_id_scope_and_reply(world):
    numbers = blocked(world, 10)
    threads = [
        threading.Thread(
            target=world.fake.comment, args=(world.repo, n, EXEMPT), kwargs={"user": "dev"}
        )
        for n in numbers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    world.bot.wait_idle(120)
    pulls = exception_pulls(world)
    assert len(pulls) == 10
    assert len({p.pull.head_ref for p in pulls}) == 10
    for i, number in enumerate(numbers):
        [reply] = bot_replies(world, number)
        pull = world.fake.pull(world.repo, opened(reply.body))
        text = world.fake.file_at(world.repo, pull.pull.head_sha, ".compliance/exceptions.yaml")
        # this request's own scope, and nothing of another's
        assert text.count("- id:") == 1 and f"deploy/app{i}/web.yaml" in text
        assert f"#{number}" in pull.body
    assert len(audit(world, "command.exempt")) == 10


def _post(url: str, secret: str, event: str, body: bytes) -> int:
    request = urllib.request.Request(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": "sha256="
            + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_one_comment_delivered_twice_at_once_runs_once(world):
    [number] = blocked(world, 1)
    world.fake.webhook_mode = "manual"
    world.fake.comment(world.repo, number, EXEMPT, user="dev")
    [delivery] = [d for d in world.fake.pending_deliveries() if d.event == "issue_comment"]
    world.fake.drop_pending()
    url = f"{world.bot.url}/webhooks/github"
    # the same comment under two delivery ids, at the same moment
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                _post(url, world.app.webhook_secret, "issue_comment", delivery.body)
            )
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    world.fake.webhook_mode = "auto"
    assert results == [202, 202]
    world.bot.wait_idle(60)
    assert len(bot_replies(world, number)) == 1
    assert len(exception_pulls(world)) == 1
    assert len(audit(world, "command.exempt")) == 1


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_5xx_while_creating_the_branch_is_retried_not_mistaken_for_an_existing_one(
    faulty, proxy, when
):
    [number] = blocked(faulty, 1)
    proxy.add(Fault("POST", r"/git/refs$", when, status=502))
    proxy.add(Fault("POST", r"/pulls$", when, status=429, retry_after=1))
    faulty.fake.comment(faulty.repo, number, EXEMPT, user="dev")
    faulty.bot.wait_idle(60)
    assert [f.status for f in proxy.injected] == [502, 429]
    [reply] = bot_replies(faulty, number)
    assert "Opened #" in reply.body
    [pull] = exception_pulls(faulty)
    assert pull.number == opened(reply.body) and pull.pull.head_ref == "compliance/exception/EXC-1"
    assert len(audit(faulty, "command.exempt")) == 1


def test_a_comment_reply_whose_answer_is_lost_is_not_posted_twice(faulty, proxy):
    [number] = blocked(faulty, 1)
    proxy.add(Fault("POST", r"/issues/\d+/comments$", "after", status=503))
    faulty.fake.comment(faulty.repo, number, "/compliance help", user="dev")
    faulty.bot.wait_idle(60)
    assert len(proxy.injected) == 1
    assert len(bot_replies(faulty, number)) == 1


def test_a_command_that_fails_for_good_is_answered_once_with_what_to_do(faulty, proxy):
    [number] = blocked(faulty, 1)
    proxy.add(Fault("POST", r"/git/trees$", "before", status=503, times=None))
    faulty.fake.comment(faulty.repo, number, EXEMPT, user="dev")
    faulty.bot.wait_idle(60)
    [reply] = bot_replies(faulty, number)
    assert "could not be completed" in reply.body and "Post the command again" in reply.body
    assert exception_pulls(faulty) == []
    [failed] = audit(faulty, "command.failed")
    assert failed.details["replied"] is True and "503" in failed.details["error"]
    # a permanent refusal by GitHub is answered at once, without retries
    proxy.clear()
    proxy.add(Fault("POST", r"/git/trees$", "before", status=422, times=None))
    faulty.fake.comment(faulty.repo, number, EXEMPT, user="dev")
    faulty.bot.wait_idle(60)
    assert len(bot_replies(faulty, number)) == 2
    assert len(audit(faulty, "command.failed")) == 2


def test_a_delivery_recorded_while_the_queue_is_down_runs_once(world, tmp_path):
    """The web edge can't reach the queue: it answers 202 (recorded), a redelivery is a
    duplicate, and the workers' upkeep queues the delivery: it runs exactly once."""
    settings = world.bot.settings
    web_settings = replace(
        settings,
        data_dir=tmp_path / "web",
        database_url=settings.database_url or settings.sqlalchemy_url,
        redis_url="redis://127.0.0.1:1/0" if settings.redis_url else None,
    )
    web = BotUnderTest(web_settings, fake=world.fake).start(consume=False)
    if not settings.redis_url:  # the SQLite queue file becomes unreachable (a directory)
        storage = web.services.huey.storage
        storage.close()
        (tmp_path / "web" / "gone").mkdir(parents=True)
        storage.filename = str(tmp_path / "web" / "gone")
    try:
        world.app.webhook_url = f"{web.url}/webhooks/github"
        _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
        world.fake.wait_for_deliveries()
        delivery = world.fake.deliveries_of("pull_request", "opened")[-1]
        assert delivery.response_status == 202  # recorded: it will run
        with world.bot.services.store.session() as s:
            assert s.get(Delivery, f"github:{delivery.guid}").status == "received"
        attempt = world.fake.redeliver(delivery.guid)
        assert attempt.status == 202
        world.bot.wait_idle(60)  # the worker's upkeep queued and ran it
        assert world.check(sha).conclusion == "failure"
        with world.bot.services.store.session() as s:
            row = s.get(Delivery, f"github:{delivery.guid}")
            assert (row.status, row.attempts) == ("done", 1)
    finally:
        web.stop()
        world.app.webhook_url = f"{world.bot.url}/webhooks/github"


def test_recovery_never_queues_a_delivery_twice(fake_world, mode, scratch_database, tmp_path):
    fw = fake_world
    settings = bot_settings(
        tmp_path, app=fw.app, api_url=fw.fake.api_url, mode=mode, database_url=scratch_database
    )
    bot = BotUnderTest(settings, fake=fw.fake).start(consume=False)  # nobody consumes yet
    fw.app.webhook_url = f"{bot.url}/webhooks/github"
    try:
        for i in range(5):
            fw.fake.commit(fw.repo, f"f{i}", {f"deploy/{i}.yaml": PRIVILEGED}, author="dev")
            fw.fake.open_pull(fw.repo, f"f{i}", user="dev")
        fw.fake.wait_for_deliveries()
        services: Services = bot.services
        queued = services.huey.pending_count()
        assert queued == len(bot.deliveries()) > 0
        # recovery rounds long after they were queued: nothing is queued again
        later = services.clock
        services.jobs.clock = lambda: later() + __import__("datetime").timedelta(minutes=10)
        for _ in range(3):
            assert services.jobs.recover() == []
        assert services.huey.pending_count() == queued
        services.jobs.clock = later
        bot.runner.start()
        bot.wait_idle(60)
        assert {(d.status, d.attempts) for d in bot.deliveries()} == {("done", 1)}
    finally:
        bot.stop()
