"""The webhook edge under hostile input: every bad delivery is a 4xx naming the field, never a
500; nothing bad is recorded or queued; anonymous traffic can't grow the audit log; a recorded
delivery is always run, even when the queue (or the store) is down when it arrives."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.config import Settings
from bot.events import PayloadError, parse_github
from bot.refusals import MAX_SOURCES, OTHER, count_refusal, summarise_refusals, window_of
from bot.services import Services
from bot.store.tables import AuditEvent, Delivery, RefusedRequests
from bot.web.app import build_app
from bot.web.github import verify_signature

SECRET = "It's a Secret to Everybody"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
CLOSED = "127.0.0.1:1"  # nothing listens there


def app_settings(data_dir: Path, **changes: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        github_app_id="1",
        github_private_key=PEM,
        github_webhook_secret=SECRET,
        **changes,
    )


@pytest.fixture
def services(tmp_path: Path) -> Services:
    services = Services(app_settings(tmp_path))
    services.migrate()
    return services


@pytest.fixture
def client(services: Services):
    return build_app(services).test_client()


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def pull_request(**changes: Any) -> dict[str, Any]:
    """A minimal ``pull_request.opened`` payload that the edge accepts and a handler takes."""
    payload: dict[str, Any] = {
        "action": "opened",
        "number": 7,
        "pull_request": {
            "number": 7,
            "title": "Add a deployment",
            "head": {"sha": "a" * 40, "ref": "feature"},
            "base": {"sha": "b" * 40, "ref": "main"},
            "user": {"login": "alice", "type": "User"},
        },
        "repository": {"full_name": "acme/shop", "default_branch": "main"},
        "installation": {"id": 42},
        "sender": {"login": "alice", "type": "User"},
    }
    payload.update(changes)
    return payload


def post(client, body: bytes | dict, *, event="pull_request", delivery="d-1", signature=None, **kw):
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body) if signature is None else signature,
        "Content-Type": "application/json",
    }
    return client.post("/webhooks/github", data=body, headers=headers, **kw)


def state(services: Services) -> tuple[int, int, list[str]]:
    """Deliveries recorded, jobs on the queue, audit actions in order."""
    with services.store.session() as s:
        deliveries = s.scalar(select(func.count()).select_from(Delivery))
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    return deliveries, services.huey.pending_count(), actions


# -- signed, but not something we can store or route ----------------------------------------

DEEP = "[" * 1000 + "]" * 1000
VERY_DEEP = "[" * 100_000 + "]" * 100_000
BAD = "BAD"  # stands for the bad value in the raw-JSON cases below


def raw(payload_text: str) -> bytes:
    """A pull_request payload whose title is ``payload_text``, spliced in as raw JSON."""
    text = json.dumps(pull_request(title=BAD))
    return text.replace(f'"{BAD}"', payload_text).encode()


def bad(case: str, body: bytes | dict, fragment: str, event="pull_request", delivery="d-bad"):
    """A signed delivery the edge must refuse with 400 and an error containing ``fragment``."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    return pytest.param(body, event, delivery, fragment, id=case)


PR = pull_request()["pull_request"]
BAD_SIGNED = [
    bad("sender a string", pull_request(sender="alice"), "sender"),
    bad("sender login a number", pull_request(sender={"login": 5}), "sender"),
    bad("installation.id 2**70", pull_request(installation={"id": 2**70}), "installation.id"),
    bad("installation.id a string", pull_request(installation={"id": "abc"}), "installation.id"),
    bad("installation.id a bool", pull_request(installation={"id": True}), "installation.id"),
    bad("installation.id zero", pull_request(installation={"id": 0}), "installation.id"),
    bad("installation a number", pull_request(installation=42), "installation"),
    bad("lone surrogate", raw('"\\ud800"'), "payload.title: contains a lone surrogate"),
    bad("NUL character", raw('"a\\u0000b"'), "payload.title: contains a NUL"),
    bad("NUL in a key", pull_request(extra={"a\x00": 1}), "payload.extra.<key>: contains a NUL"),
    bad("1,000-deep JSON", raw(DEEP), "nested deeper than 64"),
    bad("100,000-deep JSON", raw(VERY_DEEP), "nested deeper than 64"),
    bad("action a dict", pull_request(action={"a": 1}), "action"),
    bad("action too long", pull_request(action="a" * 65), "action"),
    bad("NaN", raw("NaN"), "not JSON"),
    bad("a 5,000-digit number", raw("9" * 5000), "not JSON"),
    bad("not UTF-8", b'{"action": "\xff"}', "not UTF-8"),
    bad("not an object", b"[1, 2]", "not a JSON object"),
    bad("full_name without owner", pull_request(repository={"full_name": "shop"}), "full_name"),
    bad("repository a list", pull_request(repository=["acme/shop"]), "repository"),
    bad("pull_request missing", pull_request(pull_request=None), "pull_request"),
    bad("pull_request a string", pull_request(pull_request="7"), "pull_request"),
    bad(
        "pull_request.number 2**70",
        pull_request(pull_request={**PR, "number": 2**70}),
        "pull_request.number",
    ),
    bad(
        "comment.id not a number",
        {
            "action": "created",
            "comment": {"id": "abc", "body": "/compliance help"},
            "issue": {"number": 1},
            "repository": {"full_name": "acme/shop"},
            "installation": {"id": 42},
        },
        "comment.id",
        event="issue_comment",
    ),
    bad("event name with capitals", b"{}", "X-GitHub-Event", event="Pull-Request"),
    bad("event name too long", b"{}", "X-GitHub-Event", event="a" * 65),
    bad("no event name", b"{}", "X-GitHub-Event", event=""),
    bad("no delivery id", b"{}", "X-GitHub-Delivery", delivery=""),
    bad("delivery id too long", b"{}", "X-GitHub-Delivery", delivery="a" * 73),
    bad("delivery id with a space", b"{}", "X-GitHub-Delivery", delivery="d 1"),
]


@pytest.mark.parametrize(("body", "event", "delivery", "fragment"), BAD_SIGNED)
def test_signed_but_unusable_delivery_is_400_naming_the_field(
    client, services, body, event, delivery, fragment
):
    response = post(client, body, event=event, delivery=delivery)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert fragment in response.get_json()["error"]
    assert state(services) == (0, 0, [])


def test_every_bad_delivery_is_a_400_on_postgresql_too(tmp_path):
    """The 500s came from PostgreSQL (BIGINT overflow, NUL in text): prove them gone there."""
    database = _scratch_database()
    try:
        services = Services(app_settings(tmp_path, database_url=database.url))
        services.migrate()
        client = build_app(services).test_client()
        for case in BAD_SIGNED:
            body, event, delivery, fragment = case.values
            response = post(client, body, event=event, delivery=delivery)
            assert response.status_code == 400, case.id
            assert fragment in response.get_json()["error"], case.id
        assert state(services) == (0, 0, [])
        assert post(client, pull_request()).status_code == 202
        services.store.dispose()
    finally:
        database.drop()


def _scratch_database():  # type: ignore[no-untyped-def]
    from e2e.harness import ScratchDatabase, require_services, services_available

    missing = services_available()
    if missing:
        if require_services():
            pytest.fail(f"COMPLIANCE_BOT_REQUIRE_SERVICES=1 but {missing}")
        pytest.skip(missing)
    return ScratchDatabase()


def test_non_ascii_signature_is_refused_not_a_500(client, services):
    assert not verify_signature(SECRET, b"{}", "sha256=é" + "0" * 63)
    response = post(client, b"{}", signature="sha256=\u00e9\u00e9")
    assert response.status_code == 401
    assert state(services)[:2] == (0, 0)


# -- what is answered without being recorded ---------------------------------------------------


def test_ping_is_answered_and_not_recorded(client, services):
    response = post(client, {"zen": "Design for failure.", "hook_id": 1}, event="ping")
    assert (response.status_code, response.get_json()) == (200, {"status": "pong"})
    assert state(services) == (0, 0, [])


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("issues", {"action": "opened", "repository": {"full_name": "acme/shop"}}),
        ("pull_request", pull_request(action="labeled")),
        ("star", {"action": "created"}),
    ],
)
def test_events_no_handler_takes_are_acknowledged_not_recorded(client, services, event, payload):
    response = post(client, payload, event=event)
    assert response.status_code == 202
    assert response.get_json()["status"] == "ignored"
    assert state(services) == (0, 0, [])


def test_installation_events_are_recorded(client, services):
    payload = {
        "action": "created",
        "installation": {"id": 42, "account": {"login": "acme"}},
        "repositories": [{"full_name": "acme/shop"}],
        "sender": {"login": "alice"},
    }
    assert post(client, payload, event="installation").get_json()["status"] == "queued"
    assert state(services) == (1, 1, ["delivery.accepted"])


# -- record, then queue; a recorded delivery is always run ------------------------------------


def test_good_delivery_is_recorded_with_its_facts_and_queued(client, services):
    response = post(client, pull_request())
    assert (response.status_code, response.get_json()) == (
        202,
        {"status": "queued", "delivery": "d-1"},
    )
    assert state(services) == (1, 1, ["delivery.accepted"])
    with services.store.session() as s:
        row = s.get(Delivery, "github:d-1")
        audit = s.scalars(select(AuditEvent)).one()
    assert (row.event, row.action, row.installation_id, row.repository) == (
        "pull_request",
        "opened",
        42,
        "acme/shop",
    )
    assert (audit.actor, audit.repository) == ("alice", "acme/shop")


def test_form_encoded_delivery(client, services):
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(pull_request())}).encode()
    response = client.post(
        "/webhooks/github",
        data=body,
        headers={
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "d-form",
            "X-Hub-Signature-256": sign(body),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 202
    assert state(services)[:2] == (1, 1)


def test_delivery_arriving_while_the_queue_is_down_is_run_when_it_is_back(tmp_path):
    # the queue is Redis on a closed port: the delivery is recorded, and the answer says so
    down = Services(app_settings(tmp_path, redis_url=f"redis://{CLOSED}/0"))
    down.migrate()
    client = build_app(down).test_client()
    response = post(client, pull_request(), delivery="d-down")
    assert (response.status_code, response.get_json()) == (
        202,
        {"status": "accepted", "queued": False, "delivery": "d-down"},
    )
    with down.store.session() as s:
        assert s.get(Delivery, "github:d-down").status == "received"
    # GitHub's redelivery reaches the bot once its queue works again: queued, not lost
    up = Services(app_settings(tmp_path))
    again = post(build_app(up).test_client(), pull_request(), delivery="d-down")
    assert again.get_json() == {"status": "duplicate", "delivery": "d-down"}
    assert state(up) == (1, 1, ["delivery.accepted"])
    # and a second redelivery doesn't queue it twice
    post(build_app(up).test_client(), pull_request(), delivery="d-down")
    assert state(up)[1] == 1


def test_unreachable_store_is_a_503_with_one_line_in_the_log(tmp_path, caplog):
    services = Services(app_settings(tmp_path, database_url=f"postgresql://nobody@{CLOSED}/none"))
    client = build_app(services).test_client()
    with caplog.at_level(logging.INFO):
        response = post(client, pull_request())
        refused = post(client, b"{}", signature="sha256=" + "0" * 64)
    assert (response.status_code, response.get_json()) == (503, {"error": "store unavailable"})
    assert refused.status_code == 401  # refused all the same, only not counted
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert not any(r.exc_info for r in caplog.records)
    assert "store unavailable" in caplog.records[0].getMessage()


# -- anonymous traffic --------------------------------------------------------------------------


def test_unsigned_flood_adds_one_audit_event_per_source_and_window(client, services):
    started = time.monotonic()
    for n in range(2000):
        response = post(client, b"{}", delivery=f"x-{n}", signature="")
        assert response.status_code == 401
    assert time.monotonic() - started < 20
    deliveries, queued, actions = state(services)
    assert (deliveries, queued, actions) == (0, 0, ["delivery.refused"])
    with services.store.session() as s:
        row = s.scalars(select(RefusedRequests)).one()
        event = s.scalars(select(AuditEvent)).one()
    assert (row.source, row.count, row.reason) == (
        "127.0.0.1",
        2000,
        "missing or invalid signature",
    )
    assert event.details["source"] == "127.0.0.1" and event.details["delivery"] == "x-0"


def test_many_sources_are_tracked_up_to_a_bound_then_counted_together(client, services):
    for n in range(MAX_SOURCES + 50):
        for _ in range(2):
            post(client, b"{}", signature="", environ_base={"REMOTE_ADDR": f"192.0.2.{n}"})
    with services.store.session() as s:
        rows = {r.source: r.count for r in s.scalars(select(RefusedRequests))}
        audited = s.scalar(select(func.count()).select_from(AuditEvent))
    assert len(rows) == MAX_SOURCES + 1
    assert rows[OTHER] == 2 * 50
    assert audited == MAX_SOURCES + 1


T0 = datetime(2025, 3, 1, 10, 15, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> Iterator[Services]:
    """Services on either store: the counters' windows are timestamps, which the two differ on."""
    database = _scratch_database() if request.param == "postgresql" else None
    url = database.url if database else None
    services = Services(app_settings(tmp_path, database_url=url))
    services.migrate()
    yield services
    services.store.dispose()
    if database:
        database.drop()


def refuse(services: Services, source: str, at: datetime, times: int = 1) -> None:
    for _ in range(times):
        count_refusal(services.store, source=source, reason="missing signature", at=at)


def audit_events(services: Services, action: str) -> list[AuditEvent]:
    with services.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_closed_windows_are_summarised_once(store):
    services = store
    refuse(services, "192.0.2.1", T0, 3)
    refuse(services, "192.0.2.2", T0 + timedelta(minutes=40))
    refuse(services, "192.0.2.1", T0 + timedelta(hours=1), 2)  # the next window, still open
    assert len(audit_events(services, "delivery.refused")) == 3

    assert summarise_refusals(services.store, T0 + timedelta(hours=1, minutes=5)) == (1, 0)
    [summary] = audit_events(services, "delivery.refused.summary")
    assert summary.details == {
        "window": "2025-03-01T10:00:00+00:00",
        "refused": 4,
        "sources": {"192.0.2.1": 3, "192.0.2.2": 1},
    }
    assert summarise_refusals(services.store, T0 + timedelta(hours=1, minutes=6)) == (0, 0)

    assert summarise_refusals(services.store, T0 + timedelta(hours=2)) == (1, 0)
    later = audit_events(services, "delivery.refused.summary")[1]
    assert later.details["sources"] == {"192.0.2.1": 2}


def test_counters_older_than_thirty_days_are_deleted(store):
    services = store
    refuse(services, "192.0.2.1", T0)
    refuse(services, "192.0.2.1", T0 + timedelta(days=29))
    assert summarise_refusals(services.store, T0 + timedelta(days=30, hours=1)) == (2, 1)
    with services.store.session() as s:
        [left] = s.scalars(select(RefusedRequests))
    assert window_of(left.window_start.replace(tzinfo=UTC)) == window_of(T0 + timedelta(days=29))
    assert len(audit_events(services, "delivery.refused.summary")) == 2


def test_a_source_is_audited_again_in_the_next_window(store):
    services = store
    refuse(services, "192.0.2.1", T0, 5)
    refuse(services, "192.0.2.1", T0 + timedelta(hours=1), 5)
    assert len(audit_events(services, "delivery.refused")) == 2


def test_concurrent_first_refusals_of_a_source_are_audited_once(store):
    def burst() -> None:
        refuse(store, "192.0.2.9", T0, 25)

    threads = [threading.Thread(target=burst) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(audit_events(store, "delivery.refused")) == 1
    with store.store.session() as s:
        assert s.scalars(select(RefusedRequests.count)).one() == 8 * 25


# -- parsing never fails in a way the edge doesn't expect -------------------------------------


def _valid_payloads() -> list[tuple[str, dict[str, Any]]]:
    """One payload per kind of event the parser reads, each one it accepts."""
    base = {k: v for k, v in pull_request().items() if k not in ("pull_request", "number")}
    suite = {"head_sha": "a" * 40, "head_branch": "f", "pull_requests": [{"number": 7}]}
    return [
        ("pull_request", pull_request(changes={"title": {"from": "x"}})),
        ("pull_request_review", {**pull_request(action="submitted"), "review": {"id": 1}}),
        (
            "issue_comment",
            {
                **base,
                "action": "created",
                "comment": {"id": 9, "body": "/compliance help", "user": {"login": "bob"}},
                "issue": {"number": 7, "pull_request": {"url": "u"}},
            },
        ),
        ("check_run", {**base, "check_run": {**suite, "name": "compliance", "check_suite": suite}}),
        ("check_suite", {**base, "action": "rerequested", "check_suite": suite}),
        (
            "merge_group",
            {
                **base,
                "action": "checks_requested",
                "merge_group": {"head_sha": "c" * 40, "head_ref": "gh", "base_ref": "refs/heads/m"},
            },
        ),
        (
            "push",
            {**base, "ref": "refs/heads/main", "commits": [{"added": ["a"], "removed": ["b"]}]},
        ),
        (
            "installation",
            {**base, "installation": {"id": 42, "account": {"login": "acme"}}, "repositories": []},
        ),
        ("status", {**base, "id": 5, "sha": "a" * 40, "context": "compliance", "state": "success"}),
    ]


VALID = _valid_payloads()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            found.extend(_paths(item, (*prefix, key)))
    return found


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_parse_github_refuses_only_with_payload_error(valid, data):
    """Any field of a valid payload replaced by any JSON value: an Event or a PayloadError."""
    name, payload = valid
    payload = json.loads(json.dumps(payload))
    for _ in range(data.draw(st.integers(1, 3))):
        *parents, last = data.draw(st.sampled_from(_paths(payload)[1:]))
        target = payload
        for key in parents:
            target = target[key]
        target[last] = data.draw(JSON)
    with contextlib.suppress(PayloadError):
        parse_github(name, "d-1", payload)


def test_valid_payloads_parse():
    for name, payload in VALID:
        assert parse_github(name, "d-1", payload).name == name


def test_a_realistic_delivery_costs_little_at_the_edge(client, services):
    """The checks walk every value of the payload: keep them cheap on a large real one."""
    big = pull_request(pull_request={**pull_request()["pull_request"], "body": "x" * 20_000})
    big["commits"] = [{"added": [f"deploy/{n}.yaml" for n in range(50)]} for _ in range(20)]
    from bot.web import validate

    text = json.dumps(big).encode()
    started = time.perf_counter()
    for _ in range(100):
        validate.read_payload(text, "application/json")
    assert (time.perf_counter() - started) / 100 < 0.005
