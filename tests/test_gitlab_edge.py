"""``POST /webhooks/gitlab`` over real HTTP: the fake GitLab's hooks (GitLab's headers, token,
Idempotency-Key and Standard Webhooks signature) and GitLab's documented example payloads are
delivered to the app served by waitress, as the end-to-end harness serves it. Good deliveries
are recorded once and queued; a bad token or signature is a 401 counted as a refusal; a bad
envelope a 400 naming the field; and nothing, not even a store that is down, answers GitLab
with the 5xx that would bring it closer to disabling the hook."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e.harness import close_server
from fakes.gitlab.webhooks import Delivery as HookDelivery
from fakes.gitlab.webhooks import signature
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from waitress import create_server  # type: ignore[import-untyped]

from bot.config import ConfigError, Settings
from bot.services import Services
from bot.store.tables import AuditEvent, Delivery, RefusedRequests
from bot.web.app import build_app
from bot.web.gitlab import verify_signature

SECRET = "gitlab-hook-s3cret"
WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER_WHSEC = "whsec_" + base64.b64encode(b"x" * 32).decode()
EXAMPLES = Path(__file__).parent / "fakes" / "gitlab" / "examples"
CLOSED = "127.0.0.1:1"  # nothing listens there


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))


@dataclass
class Bot:
    """The real app on 127.0.0.1, without workers: what is queued stays queued."""

    services: Services
    url: str

    @property
    def hook_url(self) -> str:
        return f"{self.url}/webhooks/gitlab"

    def state(self) -> tuple[int, int, list[str]]:
        """Deliveries recorded, jobs on the queue, audit actions in order."""
        with self.services.store.session() as s:
            deliveries = s.scalar(select(func.count()).select_from(Delivery)) or 0
            actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        return deliveries, self.services.huey.pending_count(), actions

    def refused(self) -> dict[str, int]:
        with self.services.store.session() as s:
            return {r.source: r.count for r in s.scalars(select(RefusedRequests))}

    def row(self, key: str) -> Delivery:
        with self.services.store.session() as s:
            row = s.get(Delivery, f"gitlab:{key}")
            assert row is not None, key
            s.expunge(row)
            return row


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Bot]]:
    """Start the app with GitLab configured (``changes`` replace settings); stopped after."""
    servers: list[Any] = []

    def start(*, migrate: bool = True, **changes: Any) -> Bot:
        settings = Settings(
            **{
                "data_dir": tmp_path / f"bot-{len(servers)}",
                "gitlab_webhook_secret": SECRET,
                **changes,
            }
        )
        services = Services(settings)
        if migrate:
            services.migrate()
        server = create_server(
            build_app(services), host="127.0.0.1", port=0, threads=4, ident="gitlab-edge"
        )
        threading.Thread(target=server.run, daemon=True).start()
        servers.append((server, services))
        return Bot(services, f"http://127.0.0.1:{server.effective_port}")

    yield start
    for server, services in servers:
        close_server(server)
        services.store.dispose()


@pytest.fixture
def bot(serve: Callable[..., Bot]) -> Bot:
    return serve()


@pytest.fixture
def signed_bot(serve: Callable[..., Bot]) -> Bot:
    return serve(gitlab_webhook_signing_token=WHSEC)


def gitlab_headers(
    event: str, body: bytes, *, token: str | None = SECRET, signing_token: str | None = None
) -> dict[str, str]:
    """The headers GitLab sends with ``body``, made by the fake GitLab's webhook machinery."""
    hook = HookDelivery(
        id=1,
        hook_id=1,
        event=event,
        payload={},
        body=body,
        url="",
        token=token,
        signing_token=signing_token,
        instance="https://gitlab.example.com",
    )
    return hook.headers()


def deliver(
    bot: Bot,
    payload: dict[str, Any] | bytes,
    event: str = "Merge Request Hook",
    *,
    token: str | None = SECRET,
    signing_token: str | None = None,
    **changes: str | None,
) -> requests.Response:
    """Post ``payload`` with GitLab's headers; ``changes`` replace headers (None: left out,
    ``_`` for ``-`` in names)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers: dict[str, Any] = gitlab_headers(event, body, token=token, signing_token=signing_token)
    headers.update({name.replace("_", "-"): value for name, value in changes.items()})
    return requests.post(bot.hook_url, data=body, headers=headers, timeout=30)


def mr_open() -> dict[str, Any]:
    return example("merge_request")  # its action is `open`


# -- the fake GitLab's hooks --------------------------------------------------------------------


class Shop:
    """acme/shop on the fake GitLab, with a branch ready for a merge request, hooked to the bot."""

    def __init__(self, fake: Any, bot: Bot, signing_token: str | None = None) -> None:
        self.fake = fake
        fake.add_group("acme", members={"alice": 50, "dev": 30})
        self.project = fake.create_project("acme/shop", files={"README.md": "# shop\n"})
        fake.commit(
            self.project, "feature", {"deploy/pod.yaml": "kind: Pod\n"}, "pod", author="dev"
        )
        fake.add_hook(self.project, bot.hook_url, token=SECRET, signing_token=signing_token)

    def open_mr(self) -> Any:
        return self.fake.open_mr(self.project, "feature", title="Add a pod", author="dev")


def test_the_fake_gitlabs_deliveries_are_recorded_once_and_queued(fake_gitlab, bot):
    shop = Shop(fake_gitlab, bot)
    mr = shop.open_mr()
    fake_gitlab.comment(shop.project, mr.iid, "/compliance help", user="alice")
    fake_gitlab.award(mr, "thumbsup", user="alice")  # Emoji Hook: no handler takes it
    fake_gitlab.wait_for_deliveries()

    (opened,) = fake_gitlab.deliveries_of("Merge Request Hook", action="open")
    (comment,) = fake_gitlab.deliveries_of("Note Hook")
    (emoji,) = fake_gitlab.deliveries_of("Emoji Hook")
    key = opened.idempotency_key
    assert (opened.response_status, json.loads(opened.attempts[-1].response_body)) == (
        202,
        {"status": "queued", "delivery": key},
    )
    assert comment.response_status == 202
    assert json.loads(emoji.attempts[-1].response_body)["status"] == "ignored"
    assert bot.state() == (2, 2, ["delivery.accepted", "delivery.accepted"])
    row = bot.row(key)
    assert (row.forge, row.event, row.action, row.installation_id, row.repository) == (
        "gitlab",
        "pull_request",
        "opened",
        None,
        "acme/shop",
    )
    assert bot.row(comment.idempotency_key).event == "issue_comment"
    with bot.services.store.session() as s:
        actors = list(s.scalars(select(AuditEvent.actor).order_by(AuditEvent.id)))
    assert actors == ["dev", "alice"]

    # GitLab's "Resend request": the same Idempotency-Key, a new X-Gitlab-Event-UUID
    attempt = fake_gitlab.redeliver(opened)
    assert (
        attempt.headers["X-Gitlab-Event-UUID"] != opened.attempts[0].headers["X-Gitlab-Event-UUID"]
    )
    assert (attempt.status, json.loads(attempt.response_body)) == (
        202,
        {"status": "duplicate", "delivery": key},
    )
    assert bot.state() == (2, 2, ["delivery.accepted", "delivery.accepted"])


def test_the_fake_gitlabs_signed_deliveries_verify_and_resend(fake_gitlab, signed_bot):
    shop = Shop(fake_gitlab, signed_bot, signing_token=WHSEC)
    shop.open_mr()
    (opened,) = fake_gitlab.deliveries_of("Merge Request Hook", action="open")
    assert opened.attempts[0].headers["webhook-id"] == opened.idempotency_key
    assert opened.response_status == 202
    assert signed_bot.row(opened.idempotency_key).action == "opened"
    resent = fake_gitlab.redeliver(opened)  # signed again, at a new timestamp
    assert json.loads(resent.response_body)["status"] == "duplicate"
    assert signed_bot.state()[:2] == (1, 1)


def test_a_hook_with_the_wrong_token_is_refused_and_counted(fake_gitlab, bot):
    fake_gitlab.add_group("acme", members={"dev": 30})
    project = fake_gitlab.create_project("acme/shop", files={"README.md": "# shop\n"})
    fake_gitlab.add_hook(project, bot.hook_url, token="not-the-secret")
    fake_gitlab.commit(project, "main", {"a.txt": "a\n"}, "a", author="dev")
    fake_gitlab.commit(project, "main", {"b.txt": "b\n"}, "b", author="dev")
    assert [d.response_status for d in fake_gitlab.deliveries_of("Push Hook")] == [401, 401]
    assert bot.state() == (0, 0, ["delivery.refused"])
    assert bot.refused() == {"127.0.0.1": 2}


def test_a_signing_token_the_bot_does_not_know_is_refused(fake_gitlab, signed_bot):
    shop = Shop(fake_gitlab, signed_bot, signing_token=OTHER_WHSEC)
    shop.open_mr()
    (opened,) = fake_gitlab.deliveries_of("Merge Request Hook")
    assert opened.response_status == 401
    assert signed_bot.state() == (0, 0, ["delivery.refused"])


# -- GitLab's documented examples ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "event", "status", "recorded"),
    [
        ("merge_request", "Merge Request Hook", "queued", ("pull_request", "opened")),
        ("note_merge_request", "Note Hook", "queued", ("issue_comment", "created")),
        ("note_issue", "Note Hook", "queued", ("issue_comment", "created")),
        ("push", "Push Hook", "queued", ("push", None)),
        ("emoji", "Emoji Hook", "ignored", None),
        ("issue", "Issue Hook", "ignored", None),
    ],
)
def test_documented_examples(bot, name, event, status, recorded):
    response = deliver(bot, example(name), event, Idempotency_Key="key-1")
    assert (response.status_code, response.json()) == (
        202,
        {"status": status, "delivery": "key-1"},
    )
    if recorded is None:
        assert bot.state() == (0, 0, [])
    else:
        assert bot.state() == (1, 1, ["delivery.accepted"])
        row = bot.row("key-1")
        assert (row.event, row.action) == recorded


def test_without_an_idempotency_key_the_event_uuid_of_older_gitlab_is_the_id(bot):
    event_uuid = str(uuid.uuid4())
    response = deliver(bot, mr_open(), Idempotency_Key=None, X_Gitlab_Event_UUID=event_uuid)
    assert response.json() == {"status": "queued", "delivery": event_uuid}
    assert bot.row(event_uuid).forge == "gitlab"
    again = deliver(bot, mr_open(), Idempotency_Key=None, X_Gitlab_Event_UUID=event_uuid)
    assert again.json()["status"] == "duplicate"
    assert bot.state()[:2] == (1, 1)


def test_a_redelivery_with_the_same_idempotency_key_is_recorded_once(bot):
    first = deliver(bot, mr_open(), Idempotency_Key="key-1")
    # a retry is a new request: new Webhook-UUID and Event-UUID, the same key
    again = deliver(bot, mr_open(), Idempotency_Key="key-1")
    assert (first.json()["status"], again.json()["status"]) == ("queued", "duplicate")
    assert bot.state() == (1, 1, ["delivery.accepted"])


# -- the token ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [None, "", "wrong", SECRET.upper(), SECRET + "x", SECRET[:-1], "é" + SECRET],
    ids=["missing", "empty", "wrong", "other case", "longer", "prefix", "non-ASCII"],
)
def test_a_missing_or_wrong_token_is_401_and_one_refusal(bot, token):
    response = deliver(bot, mr_open(), token=token)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid token"}
    assert bot.state() == (0, 0, ["delivery.refused"])
    with bot.services.store.session() as s:
        refusal = s.scalars(select(AuditEvent)).one()
    assert refusal.details["reason"] == "missing or invalid X-Gitlab-Token"
    assert refusal.details["event"] == "Merge Request Hook"


def test_refusals_add_one_audit_event_per_source_and_hour(bot):
    for n in range(20):
        assert deliver(bot, b"{}", token="wrong", Idempotency_Key=f"k-{n}").status_code == 401
    assert bot.state() == (0, 0, ["delivery.refused"])
    assert bot.refused() == {"127.0.0.1": 20}


def test_a_token_with_non_ascii_characters_matches_the_bytes_gitlab_sends(serve):
    bot = serve(gitlab_webhook_secret="sécret-ü")
    body = json.dumps(mr_open()).encode()
    headers: dict[str, Any] = gitlab_headers("Merge Request Hook", body, token=None)
    headers["X-Gitlab-Token"] = "sécret-ü".encode()  # raw UTF-8, as GitLab's Ruby sends it
    response = requests.post(bot.hook_url, data=body, headers=headers, timeout=30)
    assert response.json()["status"] == "queued"


# -- the Standard Webhooks signature ------------------------------------------------------------


def test_a_good_signature_is_accepted(signed_bot):
    response = deliver(signed_bot, mr_open(), signing_token=WHSEC)
    assert response.status_code == 202 and response.json()["status"] == "queued"


def _signed(
    body: bytes, *, at: float | None = None, key: str = "key-1", whsec: str = WHSEC
) -> dict[str, str | None]:
    stamp = int(time.time() if at is None else at)
    return {
        "webhook_id": key,
        "webhook_timestamp": str(stamp),
        "webhook_signature": signature(whsec, key, stamp, body),
    }


BODY = json.dumps(mr_open()).encode()
# made when the test runs: a timestamp made at collection would age during a long run
BAD_SIGNATURES: dict[str, Callable[[], dict[str, str | None]]] = {
    "none": lambda: {"webhook_id": None, "webhook_timestamp": None, "webhook_signature": None},
    "no signature": lambda: {**_signed(BODY), "webhook_signature": None},
    "another key": lambda: _signed(BODY, whsec=OTHER_WHSEC),
    "another body": lambda: _signed(b"{}"),
    "another id": lambda: {**_signed(BODY), "webhook_id": "key-2"},
    "6 minutes old": lambda: _signed(BODY, at=time.time() - 360),
    "6 minutes ahead": lambda: _signed(BODY, at=time.time() + 360),
    "a timestamp not a number": lambda: {**_signed(BODY), "webhook_timestamp": "soon"},
    "not v1,base64": lambda: {**_signed(BODY), "webhook_signature": "v1"},
    "not base64": lambda: {**_signed(BODY), "webhook_signature": "v1,***"},
    "another version": lambda: {**_signed(BODY), "webhook_signature": "v2,AAAA"},
}


@pytest.mark.parametrize("headers", BAD_SIGNATURES.values(), ids=BAD_SIGNATURES.keys())
def test_a_bad_or_stale_signature_is_401_and_one_refusal(signed_bot, headers):
    response = deliver(signed_bot, BODY, **headers())
    assert (response.status_code, response.json()) == (401, {"error": "invalid signature"})
    assert signed_bot.state() == (0, 0, ["delivery.refused"])


def test_a_signature_within_five_minutes_is_accepted(signed_bot):
    response = deliver(signed_bot, BODY, **_signed(BODY, at=time.time() - 240))
    assert response.json()["status"] == "queued"


def test_a_signed_body_that_is_not_utf8_is_a_bad_payload_not_a_500(signed_bot):
    """GitLab signs the bytes it sends: a body that is not UTF-8 verifies as sent (Standard
    Webhooks 1.3 verifies bytes byte for byte), and is then refused as a payload, not a 500."""
    headers = {k.replace("_", "-"): v for k, v in _signed(b"\xff").items()}
    assert verify_signature(WHSEC, b"\xff", headers)
    assert not verify_signature(WHSEC, b"\xfe", headers)  # other bytes: not what was signed
    response = deliver(signed_bot, b"\xff", **_signed(b"\xff"))
    assert (response.status_code, response.json()) == (400, {"error": "payload: not UTF-8"})
    assert signed_bot.state() == (0, 0, [])


def test_a_signed_delivery_is_known_by_its_signed_id(signed_bot):
    """A replay within the tolerance with a new Idempotency-Key is still the same delivery."""
    signed = _signed(BODY, key="signed-id")
    first = deliver(signed_bot, BODY, Idempotency_Key="signed-id", **signed)
    replay = deliver(signed_bot, BODY, Idempotency_Key="another-key", **signed)
    assert (first.json()["delivery"], replay.json()) == (
        "signed-id",
        {"status": "duplicate", "delivery": "signed-id"},
    )
    assert signed_bot.state()[:2] == (1, 1)


def test_the_token_is_still_needed_with_a_signature(signed_bot):
    response = deliver(signed_bot, mr_open(), token="wrong", signing_token=WHSEC)
    assert response.status_code == 401 and response.json() == {"error": "invalid token"}


# -- a token, but not something we can store or route -------------------------------------------

MR = mr_open()


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    payload = json.loads(json.dumps(MR))
    target = payload
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


BAD_ENVELOPES = [
    ("no delivery id", MR, {"Idempotency_Key": None, "X_Gitlab_Event_UUID": None},
     "Idempotency-Key or X-Gitlab-Event-UUID"),
    ("a key with a space", MR, {"Idempotency_Key": "a b"}, "Idempotency-Key"),
    ("a key too long", MR, {"Idempotency_Key": "a" * 73}, "Idempotency-Key"),
    ("an event UUID with a slash", MR, {"Idempotency_Key": None, "X_Gitlab_Event_UUID": "a/b"},
     "X-Gitlab-Event-UUID"),
    ("no event", MR, {"X_Gitlab_Event": None}, "X-Gitlab-Event"),
    ("a GitHub event name", MR, {"X_Gitlab_Event": "pull_request"}, "X-Gitlab-Event"),
    ("not JSON", b"{", {}, "not JSON"),
    ("not an object", b"[1]", {}, "not a JSON object"),
    ("not UTF-8", b'{"a": "\xff"}', {}, "not UTF-8"),
    ("NUL", _with(("object_attributes", "title"), "a\x00b"), {},
     "payload.object_attributes.title: contains a NUL"),
    ("1,000-deep JSON", b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b"}", {}, "nested deeper"),
    ("user a string", _with(("user",), "root"), {}, "user: expected an object"),
    ("username a number", _with(("user", "username"), 5), {}, "user.username"),
    ("username too long", _with(("user", "username"), "u" * 256), {}, "user.username"),
    ("project path with a space", _with(("project", "path_with_namespace"), "a b/c"), {},
     "project.path_with_namespace"),
    ("project path too long", _with(("project", "path_with_namespace"), "a/" + "b" * 300), {},
     "project.path_with_namespace"),
    ("no iid", _with(("object_attributes", "iid"), None), {}, "object_attributes.iid"),
    ("iid 2**70", _with(("object_attributes", "iid"), 2**70), {}, "object_attributes.iid"),
    ("no head", _with(("object_attributes", "last_commit"), None), {},
     "object_attributes.last_commit.id"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "headers", "fragment"),
    [pytest.param(b, h, f, id=case) for case, b, h, f in BAD_ENVELOPES],
)
def test_an_unusable_delivery_is_400_naming_the_field(bot, body, headers, fragment):
    response = deliver(bot, body, **headers)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]
    assert bot.state() == (0, 0, [])


def test_an_oversized_body_is_refused_without_being_read(bot):
    body = b"{" + b" " * (25 * 1024 * 1024) + b"}"
    assert deliver(bot, body).status_code == 413
    assert bot.state() == (0, 0, [])


# -- configuration and what is down ------------------------------------------------------------


def test_without_a_webhook_secret_gitlab_is_not_configured(serve):
    bot = serve(gitlab_webhook_secret=None)
    response = deliver(bot, mr_open())
    assert (response.status_code, response.json()) == (503, {"error": "GitLab is not configured"})
    assert bot.state() == (0, 0, [])


def _dropped(bot: Bot) -> float:
    text = requests.get(f"{bot.url}/metrics", timeout=30).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "compliance_bot_deliveries_dropped_total" and s.labels == {"forge": "gitlab"}
    )


def test_a_store_that_is_down_is_acknowledged_not_a_5xx(serve, caplog):
    bot = serve(migrate=False, database_url=f"postgresql://nobody@{CLOSED}/none")
    before = _dropped(bot)
    with caplog.at_level(logging.INFO, logger="bot.web"):
        response = deliver(bot, mr_open(), Idempotency_Key="key-down")
        refused = deliver(bot, mr_open(), token="wrong")
    assert (response.status_code, response.json()) == (
        202,
        {"status": "not recorded", "delivery": "key-down"},
    )
    assert refused.status_code == 401  # refused all the same, only not counted
    lines = [r for r in caplog.records if r.name.startswith("bot.web")]
    assert [r.levelname for r in lines] == ["WARNING", "WARNING"]
    assert "key-down acknowledged, not recorded" in lines[0].getMessage()
    assert not any(r.exc_info for r in lines)
    assert _dropped(bot) == before + 1


def test_a_queue_that_is_down_records_and_says_so(serve):
    bot = serve(redis_url=f"redis://{CLOSED}/0")
    response = deliver(bot, mr_open(), Idempotency_Key="key-q")
    assert response.json() == {"status": "accepted", "queued": False, "delivery": "key-q"}
    assert bot.row("key-q").status == "received"  # the workers queue it when the queue is back


@pytest.mark.parametrize(
    ("token", "secret", "fragment"),
    [
        ("hunter2-secret", "s", "expected a whsec_ secret"),
        ("whsec_hunter2!!", "s", "not base64"),
        ("whsec_aHVudGVyMg==", "s", "24 to 64 bytes"),  # 7 bytes
        (WHSEC, "", "GITLAB_WEBHOOK_SECRET is needed too"),
    ],
)
def test_a_bad_signing_token_is_refused_at_start_naming_the_variable(token, secret, fragment):
    env = {"GITLAB_WEBHOOK_SIGNING_TOKEN": token, "GITLAB_WEBHOOK_SECRET": secret}
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env, dotenv=None)
    assert "GITLAB_WEBHOOK_SIGNING_TOKEN" in str(err.value) and fragment in str(err.value)
    assert "hunter2" not in str(err.value)


def test_gitlab_settings_are_read_and_kept_out_of_repr():
    settings = Settings.from_env(
        {
            "GITLAB_URL": "https://gitlab.example.com",
            "GITLAB_TOKEN": "glpat-hunter2",
            "GITLAB_WEBHOOK_SECRET": "hunter2-hook",
            "GITLAB_WEBHOOK_SIGNING_TOKEN": WHSEC,
        },
        dotenv=None,
    )
    assert settings.gitlab_configured and settings.gitlab_webhook_signing_token == WHSEC
    assert "hunter2" not in repr(settings) and WHSEC not in repr(settings)
    assert not Settings.from_env({"GITLAB_WEBHOOK_SECRET": "s"}, dotenv=None).gitlab_configured
