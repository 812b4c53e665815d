"""``compliance-bot notify status`` and ``notify retry``: destinations by name, never by URL."""

from __future__ import annotations

import base64
import json

import pytest

from bot import audit
from bot.cli import main
from bot.config import Settings
from bot.notify import outbox
from bot.notify.outbox import Response
from bot.services import Services

URL = "https://siem.example/hooks/XXXXSECRET"
DESTINATIONS = {
    "siem": {
        "type": "webhook",
        "url": URL,
        "secret": "whsec_" + base64.b64encode(b"k" * 32).decode(),
    }
}


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COMPLIANCE_BOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COMPLIANCE_BOT_NOTIFY_DESTINATIONS", json.dumps(DESTINATIONS))
    monkeypatch.setenv("COMPLIANCE_BOT_NOTIFY_DEFAULT_ROUTE", "siem")
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def failed_notification() -> None:
    services = Services(Settings.from_env(dotenv=None))
    services.migrate()
    with services.store.session() as s:
        audit.record(
            s,
            actor="alice",
            action="exception.approved",
            repository="acme/shop",
            pull_request=3,
            details={"exception": "EXC-1"},
        )
    ids: list[int] = []
    now = services.clock()
    outbox.pump(services.store, services.settings, ids.append, now)
    for _ in range(outbox.MAX_ATTEMPTS):
        outbox.send(
            services.store, services.settings, ids[0], now, poster=lambda d, o: Response(503)
        )
    services.store.dispose()


def test_status_and_retry(env, capsys):
    failed_notification()
    assert main(["notify", "status"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("siem (webhook): 0 pending, 0 sending, 0 sent, 1 failed")
    assert "last error: HTTP 503" in out and "XXXXSECRET" not in out
    assert main(["notify", "status", "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["destination"] == "siem" and row["failed"] == 1 and row["attempts"] == 12
    assert main(["notify", "retry", "--destination", "siem"]) == 0
    assert "1 failed notification queued again" in capsys.readouterr().out
    assert main(["notify", "status", "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["pending"] == 1 and row["failed"] == 0


def test_retry_names_only_configured_destinations(env, capsys):
    assert main(["notify", "retry", "--destination", "pager"]) == 2
    assert "no destination 'pager' is configured" in capsys.readouterr().err
