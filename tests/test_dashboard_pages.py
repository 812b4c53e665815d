"""The dashboard's pages through the real app and store (the browser stories sign in through the
fake forges; here a session row is made directly): every page answers, shows only what the
person may see, escapes forge data, and says what is wrong with a bad request."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot import audit, standing
from bot.checking import Approval
from bot.config import Settings
from bot.expiry import Plan
from bot.services import Services
from bot.store.tables import WebSession
from bot.web.app import build_app
from tests.test_dashboard_queries import NOW, entry

EVIL = '<script>alert("x")</script>'


@pytest.fixture
def services(tmp_path: Path) -> Services:
    settings = Settings(
        data_dir=tmp_path / "bot",
        github_client_id="Iv1.test",
        github_client_secret="secret",
        dashboard_admins=("github:root",),
    )
    services = Services(settings, clock=lambda: NOW)
    services.migrate()
    live = entry("EXC-1", 40, reason=f"vendor image {EVIL}")
    other = entry("EXC-7", 5, policy="k8s.host-network")
    standing.record(
        services.store,
        "github",
        "acme/shop",
        {"main": Plan(active=(live,), expiring=(other,))},
        NOW,
        approvals={live.content_hash(): Approval(("carol",), 7, NOW)},
    )
    standing.record(
        services.store,
        "github",
        "acme/secret",
        {"main": Plan(active=(entry("EXC-2", 40),))},
        NOW,
    )
    with services.store.session() as s:
        audit.record(
            s,
            actor="alice",
            action="command.exempt",
            repository="acme/shop",
            details={"exception": "EXC-1"},
        )
        audit.record(s, actor="bob", action="command.exempt", repository="acme/secret")
    return services


def signed_in(services: Services, login: str, repositories: list[str], admin: bool = False):
    token = f"token-of-{login}"
    with services.store.session() as s:
        s.add(
            WebSession(
                id=hashlib.sha256(token.encode()).hexdigest(),
                forge="github",
                login=login,
                name=login,
                admin=admin,
                repositories=repositories,
                csrf=f"csrf-{login}",
                created_at=NOW,
                expires_at=NOW + timedelta(hours=8),
            )
        )
    client = build_app(services).test_client()
    client.set_cookie("compliance-bot-session", token)
    return client


def test_without_a_session_every_page_sends_you_to_sign_in(services) -> None:
    client = build_app(services).test_client()
    for path in ("/dashboard/exceptions", "/dashboard/audit.jsonl"):
        answer = client.get(path)
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith("/dashboard/sign-in?next=")
    assert client.get("/dashboard/").headers["Location"] == "/dashboard/sign-in"


def test_overview_counts_only_permitted_repositories(services) -> None:
    alice = signed_in(services, "alice", ["acme/shop"])
    page = alice.get("/dashboard/").get_data(as_text=True)
    assert re.search(r'data-state="active">1<', page) and re.search(
        r'data-state="expiring">1<', page
    )
    assert "acme/secret" not in page
    root = signed_in(services, "root", [], admin=True)
    page = root.get("/dashboard/").get_data(as_text=True)
    assert re.search(r'data-state="active">2<', page)
    stranger = signed_in(services, "stranger", [])
    page = stranger.get("/dashboard/").get_data(as_text=True)
    assert re.search(r'data-state="active">0<', page) and "EXC-" not in page


def test_forge_data_is_escaped(services) -> None:
    alice = signed_in(services, "alice", ["acme/shop"])
    page = alice.get("/dashboard/exceptions/github/acme/shop/-/EXC-1").get_data(as_text=True)
    assert EVIL not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "carol" in page and "command.exempt" in page


def test_an_exception_of_a_repository_you_cannot_see_is_not_found(services) -> None:
    alice = signed_in(services, "alice", ["acme/shop"])
    answer = alice.get("/dashboard/exceptions/github/acme/secret/-/EXC-2")
    assert answer.status_code == 404
    assert "that you can see" in answer.get_data(as_text=True)


def test_exceptions_filters_and_csv(services) -> None:
    root = signed_in(services, "root", [], admin=True)
    page = root.get("/dashboard/exceptions?policy=k8s.host-network").get_data(as_text=True)
    assert "EXC-7" in page and "EXC-1<" not in page and "1 exception." in page
    answer = root.get("/dashboard/exceptions.csv?state=active")
    assert answer.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert sorted((r["repository"], r["id"]) for r in rows) == [
        ("acme/secret", "EXC-2"),
        ("acme/shop", "EXC-1"),
    ]


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("state=gone", "state must be one of"),
        ("sort=password", "sort must be one of"),
        ("expiring_within=soon", "expiring_within must be a whole number"),
        ("page=0", "page must be between 1"),
    ],
)
def test_a_bad_filter_is_a_clear_400(services, query: str, said: str) -> None:
    alice = signed_in(services, "alice", ["acme/shop"])
    answer = alice.get(f"/dashboard/exceptions?{query}")
    assert answer.status_code == 400 and said in answer.get_data(as_text=True)


def test_audit_page_and_export_are_scoped(services) -> None:
    alice = signed_in(services, "alice", ["acme/shop"])
    page = alice.get("/dashboard/audit").get_data(as_text=True)
    assert "acme/shop" in page and "acme/secret" not in page
    assert "has not been verified yet" in page
    bad = alice.get("/dashboard/audit?since=yesterday")
    assert bad.status_code == 400 and "is not a date" in bad.get_data(as_text=True)
    lines = alice.get("/dashboard/audit.jsonl").get_data(as_text=True).splitlines()
    assert [json.loads(line)["repository"] for line in lines] == ["acme/shop"]


def test_pages_carry_security_headers(services) -> None:
    alice = signed_in(services, "alice", ["acme/shop"])
    answer = alice.get("/dashboard/")
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["Cache-Control"] == "no-store"


def test_an_expired_session_is_no_session(services) -> None:
    alice = signed_in(services, "alice", ["acme/shop"])
    later = Services(replace(services.settings), clock=lambda: NOW + timedelta(hours=9))
    client = build_app(later).test_client()
    client.set_cookie("compliance-bot-session", "token-of-alice")
    assert alice.get("/dashboard/").status_code == 200
    assert client.get("/dashboard/").status_code == 302
    assert alice.get("/dashboard/").status_code == 302  # the row was deleted when met expired
