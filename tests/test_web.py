"""The webhook edge and configuration: verify, record, queue, answer; refuse everything else."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.config import ConfigError, Settings
from bot.services import Services
from bot.store.tables import AuditEvent, Delivery
from bot.web.app import build_app
from bot.web.github import verify_signature

SECRET = "It's a Secret to Everybody"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"


@pytest.fixture
def services(tmp_path: Path) -> Services:
    settings = Settings(
        data_dir=tmp_path,
        github_app_id="1",
        github_private_key=PEM,
        github_webhook_secret=SECRET,
    )
    services = Services(settings)
    services.migrate()
    return services


@pytest.fixture
def client(services: Services):
    return build_app(services).test_client()


# the least a pull_request.opened delivery must carry to be recorded (see tests/test_edge.py)
OPENED = {
    "action": "opened",
    "pull_request": {"number": 1, "head": {"sha": "a" * 40}, "base": {"ref": "main"}},
    "repository": {"full_name": "o/r"},
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client, body: bytes, *, delivery="d-1", event="pull_request", signature=None, **headers):
    return client.post(
        "/webhooks/github",
        data=body,
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(body) if signature is None else signature,
            "Content-Type": "application/json",
            **headers,
        },
    )


def counts(services: Services) -> tuple[int, int, list[str]]:
    with services.store.session() as s:
        deliveries = s.scalar(select(func.count()).select_from(Delivery))
        actions = [a.action for a in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    return deliveries, services.huey.pending_count(), actions


def test_github_documented_test_vector():
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify_signature(SECRET, b"Hello, World!", expected)
    assert not verify_signature(SECRET, b"Hello, World!", expected.replace("7", "8"))
    assert not verify_signature(SECRET, b"Hello, World!", None)
    assert not verify_signature(SECRET, b"Hello, World!", expected.removeprefix("sha256="))


def test_accepted_delivery_is_recorded_then_queued(client, services):
    body = json.dumps(OPENED).encode()
    response = post(client, body)
    assert response.status_code == 202
    assert response.get_json() == {"status": "queued", "delivery": "d-1"}
    deliveries, queued, actions = counts(services)
    assert (deliveries, queued, actions) == (1, 1, ["delivery.accepted"])
    with services.store.session() as s:
        row = s.get(Delivery, "github:d-1")
        assert (row.event, row.action, row.repository, row.status) == (
            "pull_request",
            "opened",
            "o/r",
            "queued",
        )


@pytest.mark.parametrize(
    "signature", ["", "sha256=" + "0" * 64, "sha1=abc", sign(b"other body"), sign(b"{}", "wrong")]
)
def test_bad_or_missing_signature_is_401_and_nothing_queued(client, services, signature):
    response = post(client, b"{}", signature=signature)
    assert response.status_code == 401
    deliveries, queued, actions = counts(services)
    assert (deliveries, queued) == (0, 0)
    assert actions == ["delivery.refused"]


def test_redelivery_is_acknowledged_not_run_again(client, services):
    body = json.dumps(OPENED).encode()
    assert post(client, body).status_code == 202
    again = post(client, body)
    assert again.status_code == 202 and again.get_json()["status"] == "duplicate"
    deliveries, queued, _ = counts(services)
    assert (deliveries, queued) == (1, 1)


def test_oversized_body_refused_without_reading(client, services):
    body = b"{" + b" " * (25 * 1024 * 1024) + b"}"
    response = post(client, body, signature="sha256=" + "0" * 64)
    assert response.status_code == 413
    assert counts(services)[:2] == (0, 0)


def test_missing_event_headers_and_bad_json(client, services):
    assert post(client, b"{}", event="").status_code == 400
    assert post(client, b"not json", delivery="d-2").status_code == 400
    assert post(client, b"[1, 2]", delivery="d-3").status_code == 400
    assert counts(services)[:2] == (0, 0)


def test_form_encoded_payload(client, services):
    body = urlencode({"payload": json.dumps(OPENED)}).encode()
    response = post(client, body, **{"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 202
    assert counts(services)[:2] == (1, 1)


def test_healthz(client, services, tmp_path):
    assert client.get("/healthz").get_json() == {"status": "ok", "database": True, "queue": True}
    unreachable = Settings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none")
    response = build_app(Services(unreachable)).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": False, "queue": True}


def test_setup_page_when_no_app(tmp_path: Path):
    services = Services(Settings(data_dir=tmp_path, public_url="https://bot.example.com"))
    services.migrate()
    client = build_app(services).test_client()
    page = client.get("/").get_data(as_text=True)
    assert "Register the GitHub App" in page
    assert "https://github.com/settings/apps/new?state=" in page
    manifest = page.split('name=manifest value="', 1)[1].split('"', 1)[0]
    data = json.loads(manifest.replace("&quot;", '"').replace("&amp;", "&"))
    assert data["hook_attributes"]["url"] == "https://bot.example.com/webhooks/github"
    assert data["redirect_url"] == "https://bot.example.com/setup/callback"
    assert data["default_permissions"]["checks"] == "write"
    assert "pull_request" in data["default_events"]
    assert client.post("/webhooks/github", data=b"{}").status_code == 503
    assert client.get("/setup/callback?code=x&state=forged").status_code == 400


def test_setup_page_warns_of_a_local_webhook_url_and_names_the_owner(tmp_path: Path):
    services = Services(Settings(data_dir=tmp_path))  # no public URL: the request's host
    services.migrate()
    client = build_app(services).test_client()
    page = client.get("/", base_url="http://127.0.0.1:8000").get_data(as_text=True)
    assert "GitHub can't reach this address" in page and "COMPLIANCE_BOT_PUBLIC_URL" in page
    assert "your personal GitHub account" in page
    page = client.get("/?org=acme", base_url="https://bot.example.com").get_data(as_text=True)
    assert "can't reach" not in page
    assert "the organization <code>acme</code>" in page
    assert "https://github.com/organizations/acme/settings/apps/new?state=" in page


def test_running_page_with_no_installation_says_what_to_do_next(client):
    page = client.get("/").get_data(as_text=True)
    assert "0 installations" in page and "<strong>Next:</strong> install the App" in page


def test_unknown_pages_and_methods_get_the_bots_own_pages(client):
    response = client.get("/nope")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "There is nothing at <code>/nope</code>" in page and "/webhooks/github" in page
    response = client.get("/webhooks/github")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "does not answer <code>GET</code>" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PORT": "eighty"}, "PORT: 'eighty' is not a whole number"),
        ({"PORT": "70000"}, "PORT: 70000 is out of range"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: only PostgreSQL and SQLite"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"GITHUB_APP_ID": "12"}, "missing GITHUB_PRIVATE_KEY, GITHUB_WEBHOOK_SECRET"),
        ({"GITHUB_PRIVATE_KEY": "hunter2-secret"}, "GITHUB_PRIVATE_KEY: not a PEM private key"),
        ({"GITLAB_URL": "https://gitlab.example.com"}, "GITLAB_TOKEN"),
    ],
)
def test_configuration_errors_name_the_variable_not_the_secret(env, fragment, tmp_path):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env, dotenv=None)
    assert fragment in str(err.value)
    assert "hunter2" not in str(err.value)


def test_dotenv_and_secrets_kept_out_of_repr(tmp_path: Path):
    one_line_pem = PEM.replace("\n", "\\n")
    (tmp_path / ".env").write_text(
        "GITHUB_APP_ID=7\nGITHUB_WEBHOOK_SECRET=s3cr3t-value\n"
        f'GITHUB_PRIVATE_KEY="{one_line_pem}"\nPORT=9000\n'
    )
    settings = Settings.from_env({"PORT": "9100"}, dotenv=tmp_path / ".env")
    assert settings.port == 9100  # the environment wins over .env
    assert settings.github_configured and settings.github_private_key.startswith("-----BEGIN")
    assert "s3cr3t-value" not in repr(settings) and "BEGIN RSA" not in repr(settings)
    assert Settings.from_env({"DATABASE_URL": "postgres://u@h/db"}, dotenv=None).sqlalchemy_url == (
        "postgresql+psycopg://u@h/db"
    )
