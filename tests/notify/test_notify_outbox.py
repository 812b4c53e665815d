"""The outbox: audit stream -> one row per notification and destination -> one POST each, with
retries, exactly once in effect; a failing destination is audited and loses nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from sqlalchemy import select, update

from bot import audit, liveness
from bot.config import Settings
from bot.notify import outbox
from bot.notify.destinations import Destination
from bot.notify.outbox import Response
from bot.notify.routes import Route
from bot.store import Store, migrate
from bot.store.tables import AuditEvent, NotificationRecord, NotifyRoutes

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = b"k" * 32
SLACK = Destination("chat", "slack", "https://hooks.slack.example/services/XXXXSECRET")
SIEM = Destination("siem", "webhook", "https://siem.example/XXXXSECRET", SECRET)


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    migrate(url)
    s = Store(url)
    yield s
    s.dispose()


@pytest.fixture
def settings(tmp_path):
    return Settings(
        data_dir=tmp_path, notify_destinations=(SLACK, SIEM), notify_default_route=("siem",)
    )


def record(store, action, **fields):
    fields.setdefault("repository", "acme/shop")
    fields.setdefault("actor", "alice")
    with store.session() as s:
        audit.record(s, action=action, at=NOW, **fields)


def approved(store, exception="EXC-1", pull_request=13):
    record(
        store,
        "exception.approved",
        pull_request=pull_request,
        details={
            "exception": exception,
            "policy": "k8s.privileged",
            "approvers": ["alice"],
            "renewal": False,
            "expires_as_written": "2026-03-31",
            "reason": "legacy probe",
        },
    )


def route(store, settings, *routes):
    return outbox.config_read(
        store,
        settings,
        repository="acme/shop",
        default_branch=True,
        routes=tuple(routes),
        sha="abc",
        now=NOW,
        source=".compliance/config.yaml",
    )


def rows(store):
    with store.session() as s:
        return list(s.scalars(select(NotificationRecord).order_by(NotificationRecord.id)))


class Poster:
    """A destination that answers from a script, and remembers what it was sent."""

    def __init__(self, *answers: Response):
        self.answers = list(answers)
        self.sent: list[tuple[str, bytes, dict]] = []

    def __call__(self, destination, outgoing):
        self.sent.append((destination.name, outgoing.body, outgoing.headers))
        return self.answers.pop(0) if self.answers else Response(200)


def test_events_from_before_notifications_are_not_told(tmp_path, settings):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    from alembic import command
    from alembic.config import Config

    from bot.store.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "0006")
    old = Store(url)
    approved(old)  # recorded before the notifier existed
    command.upgrade(cfg, "head")
    queued: list[int] = []
    assert outbox.pump(old, settings, queued.append, NOW) == 0
    approved(old, "EXC-2")
    assert outbox.pump(old, settings, queued.append, NOW) == 1
    old.dispose()


def test_without_destinations_the_cursor_keeps_up(store, settings, tmp_path):
    approved(store)
    assert outbox.pump(store, Settings(data_dir=tmp_path), lambda _: None, NOW) == 0
    approved(store, "EXC-2")  # destinations configured from here on: only this one is told
    assert outbox.pump(store, settings, lambda _: None, NOW) == 1
    assert [r.payload["exception"] for r in rows(store)] == ["EXC-2"]


def test_pump_makes_a_row_per_destination_once_and_moves_the_cursor(store, settings):
    assert route(store, settings, Route(("exception",), ("chat",))) == []
    approved(store)
    record(store, "check.concluded", details={"conclusion": "success"})  # nothing to tell
    queued: list[int] = []
    assert outbox.pump(store, settings, queued.append, NOW) == 2
    made = rows(store)
    assert [(r.kind, r.destination, r.status) for r in made] == [
        ("exception.approved", "siem", "pending"),  # the default route first
        ("exception.approved", "chat", "pending"),
    ]
    assert queued == [r.id for r in made]
    assert outbox.pump(store, settings, queued.append, NOW) == 0
    assert len(rows(store)) == 2


def test_a_repository_without_routes_hears_through_the_default_route_only(store, settings):
    approved(store)
    outbox.pump(store, settings, lambda _: None, NOW)
    assert [r.destination for r in rows(store)] == ["siem"]


def test_unknown_destinations_are_reported_and_skipped(store, settings):
    [error] = route(store, settings, Route(("*",), ("chat", "pager"), 4, (5, 6)))
    assert error.line == 6 and "'pager'" in error.message
    approved(store)
    outbox.pump(store, settings, lambda _: None, NOW)
    assert sorted(r.destination for r in rows(store)) == ["chat", "siem"]


def test_routes_are_remembered_from_the_default_branch_only(store, settings):
    route(store, settings, Route(("bypass",), ("chat",)))
    outbox.config_read(
        store,
        settings,
        repository="acme/shop",
        default_branch=False,
        routes=(Route(("*",), ("siem",)),),
        sha="def",
        now=NOW,
        source="c",
    )
    with store.session() as s:
        row = s.get(NotifyRoutes, "acme/shop")
        assert row.routes == [{"kinds": ["bypass"], "to": ["chat"]}] and row.sha == "abc"


def test_a_repeated_signal_is_told_once(store, settings):
    for number in (12, 13, 14):  # the same unapproved entry, ignored on three checks
        record(
            store,
            "exception.ignored",
            pull_request=number,
            details={"exception": "EXC-9", "content_hash": "f" * 64},
        )
    outbox.pump(store, settings, lambda _: None, NOW)
    assert [r.kind for r in rows(store)] == ["bypass.unapproved_exception"]


def test_send_marks_sent_once(store, settings):
    approved(store)
    outbox.pump(store, settings, lambda _: None, NOW)
    [row] = rows(store)
    row_id = row.id
    poster = Poster()
    assert outbox.send(store, settings, row_id, NOW, poster=poster) is None
    assert outbox.send(store, settings, row_id, NOW, poster=poster) is None  # a duplicate task
    assert len(poster.sent) == 1
    [row] = rows(store)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None


def test_retries_with_back_off_then_sends(store, settings):
    approved(store)
    outbox.pump(store, settings, lambda _: None, NOW)
    [row] = rows(store)
    poster = Poster(Response(500, error="HTTP 500"), Response(None, error="connection failed"))
    first = outbox.send(store, settings, row.id, NOW, poster=poster)
    second = outbox.send(store, settings, row.id, NOW, poster=poster)
    assert 1 <= first < 1.5 and 2 <= second < 2.5
    assert outbox.send(store, settings, row.id, NOW, poster=poster) is None
    [row] = rows(store)
    assert row.status == "sent" and row.attempts == 3
    assert len({headers["webhook-id"] for _, _, headers in poster.sent}) == 1


def test_retry_after_is_honoured(store, settings):
    approved(store)
    outbox.pump(store, settings, lambda _: None, NOW)
    [row] = rows(store)
    poster = Poster(Response(429, retry_after=7.0, error="HTTP 429"))
    assert outbox.send(store, settings, row.id, NOW, poster=poster) == 7.0
    [row] = rows(store)
    due = row.next_attempt_at.replace(tzinfo=UTC)  # SQLite gives back naive UTC
    assert row.status == "pending" and due == NOW + timedelta(seconds=7)


def test_a_failing_destination_is_audited_keeps_the_event_and_can_be_retried(store, settings):
    approved(store)
    outbox.pump(store, settings, lambda _: None, NOW)
    [row] = rows(store)
    poster = Poster(*[Response(503, error="HTTP 503")] * 3)
    delays = [
        outbox.send(store, settings, row.id, NOW, poster=poster, max_attempts=3) for _ in range(3)
    ]
    assert delays[:2] != [None, None] and delays[2] is None
    [row] = rows(store)
    assert row.status == "failed" and row.error == "HTTP 503" and row.attempts == 3
    with store.session() as s:
        [failed] = s.scalars(select(AuditEvent).where(AuditEvent.action == "notification.failed"))
        assert failed.details["destination"] == "siem" and failed.repository == "acme/shop"
        assert "XXXXSECRET" not in str(failed.details)
    # the failure event tells nobody (no loop), and the failed row can be sent again
    queued: list[int] = []
    assert outbox.pump(store, settings, queued.append, NOW) == 0
    assert outbox.retry_failed(store, queued.append, NOW, destination="siem") == 1
    assert queued == [row.id]
    assert outbox.send(store, settings, row.id, NOW, poster=Poster()) is None
    assert rows(store)[0].status == "sent"
    assert outbox.stats(store)["siem"]["sent"] == 1


def test_a_refusal_fails_at_once(store, settings):
    approved(store)
    outbox.pump(store, settings, lambda _: None, NOW)
    [row] = rows(store)
    assert outbox.send(store, settings, row.id, NOW, poster=Poster(Response(404))) is None
    assert rows(store)[0].status == "failed"


def test_lost_work_is_queued_again(store, settings):
    approved(store)
    approved(store, "EXC-2", 14)
    outbox.pump(store, settings, lambda _: None, NOW)
    first, second = rows(store)
    with store.session() as s:  # one left "sending" by a process that died
        s.execute(
            update(NotificationRecord)
            .where(NotificationRecord.id == first.id)
            .values(status="sending", worker="gone:1:dead")
        )
    queued: list[int] = []
    outbox.pump(store, settings, queued.append, NOW)
    assert queued == [first.id]  # the other is pending but not overdue
    later = NOW + outbox.LOST_AFTER + timedelta(seconds=5)
    queued.clear()
    outbox.pump(store, settings, queued.append, later)
    # neither was sent: their tasks were lost, so both are queued again once overdue
    assert queued == [first.id, second.id]


def test_a_live_sender_keeps_its_row(store, settings):
    approved(store)
    outbox.pump(store, settings, lambda _: None, NOW)
    liveness.beat(store, "worker", NOW)
    with store.session() as s:
        s.execute(update(NotificationRecord).values(status="sending", worker=liveness.process_id()))
    queued: list[int] = []
    outbox.pump(store, settings, queued.append, NOW)
    assert queued == [] and rows(store)[0].status == "sending"


def test_concurrent_pumps_make_each_row_once(store, settings):
    for i in range(30):
        approved(store, f"EXC-{i}", 100 + i)
    queued: list[int] = []
    threads = [
        threading.Thread(target=outbox.pump, args=(store, settings, queued.append, NOW))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = rows(store)
    assert len(made) == 30 and sorted(queued) == [r.id for r in made]


# -- the HTTP client ------------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, dict]]] = []

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        status, headers = self.answers.pop(0)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook/XXXXSECRET", Receiver.answers
    server.shutdown()
    server.server_close()


def test_post_reads_the_answer(receiver):
    url, answers = receiver
    dest = Destination("local", "slack", url, timeout=2)
    message = outbox.Outgoing(b"{}", {"Content-Type": "application/json"})
    answers[:] = [
        (200, {}),
        (503, {"Retry-After": "12"}),
        (302, {"Location": "http://127.0.0.1:1/"}),
    ]
    assert outbox.post(dest, message) == Response(200)
    assert outbox.post(dest, message) == Response(503, 12.0, "HTTP 503")
    redirected = outbox.post(dest, message)  # not followed: the body would go elsewhere
    assert redirected.status == 302 and not redirected.ok and not redirected.retryable


def test_post_without_an_answer_names_no_url():
    dest = Destination("local", "slack", "http://127.0.0.1:9/hook/XXXXSECRET", timeout=1)
    answer = outbox.post(dest, outbox.Outgoing(b"{}", {}))
    assert answer.status is None and answer.retryable
    assert "XXXXSECRET" not in answer.error and "127.0.0.1" not in answer.error
