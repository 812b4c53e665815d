"""The tamper-evident audit log (issue 10): the hash chain under concurrency, signed checkpoints,
``audit verify`` naming what was changed behind the bot's back, and list/export/trail for people.

On SQLite and PostgreSQL. Tampering is done the way an intruder with database access would do it:
the append-only triggers turned off, then plain SQL.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from e2e.harness import ScratchDatabase, require_services, services_available
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from bot import audit
from bot.audit import chain, checkpoints, query
from bot.audit.verify import verify
from bot.cli import main
from bot.config import ConfigError, Settings
from bot.store import Store, migrate
from bot.store.db import MIGRATIONS
from bot.store.tables import AuditCheckpoint, AuditEvent, AuditHead

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, database) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database[1])


@pytest.fixture
def cli(tmp_path: Path, database, monkeypatch, capsys):
    """Run ``compliance-bot ARGS...`` in this process; returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("COMPLIANCE_BOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", database[1])
    for name in ("COMPLIANCE_BOT_AUDIT_KEY", "COMPLIANCE_BOT_AUDIT_KEY_PATH"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def append(store: Store, count: int, *, per_commit: int = 1, actor: str = "alice") -> None:
    for start in range(0, count, per_commit):
        with store.session() as session:
            for n in range(start, min(count, start + per_commit)):
                audit.record(
                    session,
                    actor=actor,
                    action="command.exempt",
                    repository="o/r",
                    pull_request=n,
                    sha=f"{n:040x}",
                    details={"exception": f"EXC-{n}", "reason": 'ünïcode and "quotes"'},
                )


def rows(store: Store) -> list[AuditEvent]:
    with store.session() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def assert_chained(store: Store) -> None:
    events = rows(store)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    prev = chain.GENESIS
    for e in events:
        assert e.prev_hash == prev
        assert e.hash == chain.event_hash(
            prev,
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            repository=e.repository,
            pull_request=e.pull_request,
            sha=e.sha,
            details=e.details,
        )
        prev = e.hash
    with store.session() as session:
        head = session.get(AuditHead, 1)
        assert (head.seq, head.hash) == (len(events), prev)


def tamper(store: Store, *statements: str) -> None:
    """Run SQL with the append-only triggers off, as someone with database access could."""
    postgres = store.engine.dialect.name == "postgresql"
    with store.engine.begin() as conn:
        if postgres:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        for statement in statements:
            conn.execute(text(statement))


def event_id(store: Store, seq: int) -> int:
    with store.session() as session:
        return session.scalar(select(AuditEvent.id).where(AuditEvent.seq == seq))


# -- the chain ------------------------------------------------------------------------------------
def test_events_are_chained_at_commit_in_order(store: Store):
    append(store, 7, per_commit=3)
    with store.session() as session:
        event = audit.record(session, actor="bob", action="exception.approved", details={1: (2,)})
    assert event.seq == 8 and event.id is not None and len(event.hash) == 64
    assert event.details == {"1": [2]}  # as the JSON column hands it back, so it hashes the same
    assert_chained(store)


def test_a_rolled_back_transaction_leaves_no_gap(store: Store):
    append(store, 2)
    with pytest.raises(RuntimeError), store.session() as session:
        audit.record(session, actor="a", action="lost")
        raise RuntimeError("the job failed")
    append(store, 1)
    assert [e.action for e in rows(store)] == ["command.exempt"] * 3
    assert_chained(store)


def test_record_refuses_a_session_that_would_never_seal_it(store: Store):
    with Session(store.engine) as session, pytest.raises(RuntimeError, match=r"Store\.session"):
        audit.record(session, actor="a", action="x")


def test_the_table_still_refuses_updates_and_deletes(store: Store):
    append(store, 1)
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))


APPENDER = """
import sys
from bot import audit
from bot.store import Store
store = Store(sys.argv[1])
for n in range(int(sys.argv[2])):
    with store.session() as session:
        audit.record(session, actor="other-process", action="test.append", details={"n": n})
        audit.record(session, actor="other-process", action="test.append", details={"n": -n})
"""


def test_threads_and_processes_append_one_gap_free_chain(database, store: Store):
    """Two processes, and two stores with four threads each in this one, append at once."""
    other = subprocess.Popen(
        [sys.executable, "-c", APPENDER, database[0], "40"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    second = Store(database[0])
    errors: list[BaseException] = []

    def work(target: Store, name: str) -> None:
        try:
            append(target, 20, per_commit=2, actor=name)
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(s, f"t{i}")) for i, s in enumerate([store, second] * 4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert other.wait(timeout=120) == 0
    second.dispose()
    assert errors == []
    events = rows(store)
    assert len(events) == 8 * 20 + 80
    assert_chained(store)
    report = verify(store, None)
    assert report.intact and report.events == 240


# -- checkpoints ----------------------------------------------------------------------------------
def test_a_checkpoint_is_a_signed_note_in_the_published_format(store: Store, settings: Settings):
    append(store, 3)
    taken = checkpoints.checkpoint(store, settings, T0)
    assert taken is not None and taken.size == 3
    origin, size, digest, blank, signature, end = taken.note().split("\n")
    assert (origin, size, blank, end) == ("localhost/compliance-bot/audit", "3", "", "")
    with store.session() as session:
        assert base64.b64decode(digest).hex() == session.get(AuditHead, 1).hash
    dash, name, blob = signature.split(" ")
    assert dash == "\u2014" and name == origin and len(base64.b64decode(blob)) == 68
    signer = checkpoints.load_signer(settings)
    raw = signer.verifier.raw
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
    assert base64.b64decode(blob)[:4] == key_id  # the note format's key id for Ed25519
    signer.private.public_key().verify(base64.b64decode(blob)[4:], taken.body().encode())
    assert checkpoints.parse_note(taken.note()) == taken
    assert checkpoints.load_verifier(signer.verifier.vkey).verifies(taken)


def test_verifier_keys_with_plus_signs_in_their_base64_load():
    for _ in range(50):  # about one key in three has a "+" in its base64
        signer = checkpoints.Signer("example.org/log", _other_key())
        taken = signer.sign("example.org/log", 1, "00" * 32)
        assert checkpoints.load_verifier(signer.verifier.vkey).verifies(taken)
    with pytest.raises(ConfigError, match="name\\+keyid"):
        checkpoints.load_verifier("example.org/log+1234+AAAA")


def test_checkpoints_only_when_the_chain_grew_once_per_size(store: Store, settings: Settings):
    shipped = settings.data_dir.parent / "shipped"
    settings = replace(settings, checkpoint_dir=shipped)
    assert checkpoints.checkpoint(store, settings, T0) is None  # nothing to seal
    append(store, 2)
    results: list = []
    threads = [
        threading.Thread(target=lambda: results.append(checkpoints.checkpoint(store, settings, T0)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([r for r in results if r is not None]) == 1
    assert checkpoints.checkpoint(store, settings, T0) is None  # not grown
    append(store, 1)
    assert checkpoints.checkpoint(store, settings, T0).size == 3
    for folder in (settings.data_dir / "checkpoints", shipped):
        assert sorted(p.name for p in folder.iterdir()) == ["2.txt", "3.txt", "latest.txt"]
        assert checkpoints.parse_note((folder / "latest.txt").read_text()).size == 3
    with store.session() as session:
        assert session.scalar(select(AuditCheckpoint.size).order_by(AuditCheckpoint.size)) == 2


def test_the_signing_key_is_made_once_owner_only_or_taken_from_the_environment(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    assert checkpoints.load_signer(settings, create=False) is None
    first = checkpoints.load_signer(settings)
    assert (settings.audit_key_path.stat().st_mode & 0o777) == 0o600
    assert checkpoints.load_signer(settings).verifier.vkey == first.verifier.vkey
    pem = settings.audit_key_path.read_text()
    from_env = Settings.from_env(
        {"COMPLIANCE_BOT_DATA_DIR": str(tmp_path / "other"), "COMPLIANCE_BOT_AUDIT_KEY": pem},
        dotenv=None,
    )
    assert checkpoints.load_signer(from_env).verifier.vkey == first.verifier.vkey
    from_path = Settings.from_env(
        {"COMPLIANCE_BOT_AUDIT_KEY_PATH": str(settings.audit_key_path)}, dotenv=None
    )
    assert from_path.audit_key == pem
    assert "BEGIN" not in repr(from_env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COMPLIANCE_BOT_AUDIT_KEY": "not a key"}, "COMPLIANCE_BOT_AUDIT_KEY: not an unencrypted"),
        ({"COMPLIANCE_BOT_AUDIT_KEY_PATH": "/nonexistent/key.pem"}, "AUDIT_KEY_PATH: cannot read"),
        (
            {"COMPLIANCE_BOT_AUDIT_KEY": "x", "COMPLIANCE_BOT_AUDIT_KEY_PATH": "y"},
            "COMPLIANCE_BOT_AUDIT_KEY or COMPLIANCE_BOT_AUDIT_KEY_PATH, not both",
        ),
        ({"COMPLIANCE_BOT_CHECKPOINT_MINUTES": "0"}, "COMPLIANCE_BOT_CHECKPOINT_MINUTES"),
    ],
)
def test_audit_settings_errors_name_the_variable(env: dict[str, str], message: str):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env, dotenv=None)


def test_a_non_ed25519_key_is_refused():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ConfigError, match="COMPLIANCE_BOT_AUDIT_KEY: not an Ed25519"):
        Settings.from_env({"COMPLIANCE_BOT_AUDIT_KEY": pem}, dotenv=None)


def test_checkpoints_and_the_key_are_served(tmp_path: Path):
    from bot.services import Services
    from bot.web.app import build_app

    services = Services(Settings(data_dir=tmp_path))
    services.migrate()
    client = build_app(services).test_client()
    assert client.get("/audit/checkpoint").status_code == 404
    append(services.store, 4)
    taken = checkpoints.checkpoint(services.store, services.settings, T0)
    latest = client.get("/audit/checkpoint")
    assert latest.status_code == 200 and latest.mimetype == "text/plain"
    assert latest.get_data(as_text=True) == taken.note()
    assert client.get("/audit/checkpoints/4").get_data(as_text=True) == taken.note()
    assert client.get("/audit/checkpoints/3").status_code == 404
    key = client.get("/audit/public-key").get_data(as_text=True)
    assert "BEGIN PUBLIC KEY" in key and taken.key_id in key
    assert checkpoints.load_verifier(key).public.public_bytes_raw() == (
        checkpoints.load_signer(services.settings).verifier.raw
    )
    services.store.dispose()


# -- verify ---------------------------------------------------------------------------------------
@pytest.fixture
def sealed(store: Store, cli):
    """20 events, a checkpoint at 10 and one at 20: verify passes."""
    append(store, 10)
    assert cli("audit", "checkpoint")[0] == 0
    append(store, 10)
    code, out, _ = cli("audit", "checkpoint")
    assert code == 0 and out.splitlines()[1] == "20"
    code, out, _ = cli("audit", "verify")
    assert (code, out.split(";")[0]) == (
        0,
        "intact: 20 events, last checkpoint at 20 signed by localhost/compliance-bot/audit "
        f"(key {checkpoints.latest(store).key_id})",
    )
    return store


def test_verify_names_the_event_whose_content_was_changed(sealed: Store, cli):
    tamper(sealed, 'UPDATE audit_events SET details = \'{"exception": "EXC-99"}\' WHERE seq = 7')
    code, out, _ = cli("audit", "verify")
    assert code == 1
    assert f"changed: event seq 7 (id {event_id(sealed, 7)}) (command.exempt)" in out


def test_verify_names_the_event_that_was_removed(sealed: Store, cli):
    before, after = event_id(sealed, 12), event_id(sealed, 14)
    tamper(sealed, "DELETE FROM audit_events WHERE seq = 13")
    code, out, _ = cli("audit", "verify")
    assert code == 1
    assert f"removed: seq 13 missing; the chain jumps from seq 12 (id {before}) to " in out
    assert f"event seq 14 (id {after})" in out


def test_verify_names_events_that_were_reordered(sealed: Store, cli):
    five, six = event_id(sealed, 5), event_id(sealed, 6)
    tamper(
        sealed,
        "UPDATE audit_events SET seq = -5 WHERE seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE seq = 6",
        "UPDATE audit_events SET seq = 6 WHERE seq = -5",
    )
    code, out, _ = cli("audit", "verify")
    assert code == 1
    assert (
        f"reordered: event seq 5 (id {six}) was written right after the event now at seq 6 "
        f"(id {five})" in out
    )


def test_verify_says_the_chain_was_cut_off_after_a_checkpoint(sealed: Store, cli):
    last = event_id(sealed, 17)
    # the tail goes, and the head is moved back to match: only the checkpoint remembers
    with sealed.session() as session:
        head = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 17))
    tamper(
        sealed,
        "DELETE FROM audit_events WHERE seq > 17",
        f"UPDATE audit_head SET seq = 17, hash = '{head}'",
    )
    code, out, _ = cli("audit", "verify")
    assert code == 1
    assert f"cut off: the chain ends at seq 17 (id {last}), but the checkpoint at size 20" in out
    assert "seq 18..20 were removed" in out


def test_a_shipped_checkpoint_catches_a_cut_the_database_hides(sealed: Store, cli, tmp_path: Path):
    shipped = tmp_path / "data" / "checkpoints" / "latest.txt"
    with sealed.session() as session:
        head = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 15))
    tamper(
        sealed,
        "DELETE FROM audit_events WHERE seq > 15",
        "DELETE FROM audit_checkpoints WHERE size > 15",
        f"UPDATE audit_head SET seq = 15, hash = '{head}'",
    )
    assert cli("audit", "verify")[0] == 0  # the database alone looks consistent
    code, out, _ = cli("audit", "verify", "--checkpoint", str(shipped))
    assert code == 1
    assert f"the checkpoint at size 20 from {shipped}" in out and "cut off" in out


def test_verify_catches_a_rewrite_that_recomputed_the_hashes(sealed: Store, cli):
    """Change event 14 and rehash everything after it: the checkpoint at 20 disagrees."""
    events = rows(sealed)
    statements = []
    prev = events[12].hash
    for e in events[13:]:
        details = {"exception": "EXC-forged"} if e.seq == 14 else e.details
        digest = chain.event_hash(
            prev,
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            repository=e.repository,
            pull_request=e.pull_request,
            sha=e.sha,
            details=details,
        )
        statements.append(
            f"UPDATE audit_events SET details = '{json.dumps(details)}', prev_hash = '{prev}', "
            f"hash = '{digest}' WHERE seq = {e.seq}"
        )
        prev = digest
    statements.append(f"UPDATE audit_head SET hash = '{prev}'")
    tamper(sealed, *statements)
    code, out, _ = cli("audit", "verify")
    assert code == 1
    assert "rewritten: the chain at event seq 20" in out
    assert "does not match the checkpoint at size 20; an event after seq 10 up to seq 20" in out


def test_verify_names_a_forged_checkpoint(sealed: Store, cli, tmp_path: Path):
    forged = checkpoints.Signer("localhost/compliance-bot/audit", _other_key())
    with sealed.session() as session:
        session.execute(
            text("UPDATE audit_checkpoints SET signature = :s WHERE size = 10"),
            {"s": forged.sign("localhost/compliance-bot/audit", 10, "00" * 32).signature},
        )
    code, out, _ = cli("audit", "verify")
    assert code == 1
    assert "the checkpoint at size 10: its signature does not verify" in out
    # and a checkpoint file signed by another key is refused the same way
    note = tmp_path / "forged.txt"
    note.write_text(forged.sign("localhost/compliance-bot/audit", 20, "ab" * 32).note())
    key = tmp_path / "key.pem"
    key.write_text(cli("audit", "public-key")[1])
    code, out, _ = cli("audit", "verify", "--public-key", str(key), "--checkpoint", str(note))
    assert code == 1 and "its signature does not verify" in out


def test_verify_without_a_key_is_a_usage_error(sealed: Store, cli, tmp_path: Path):
    (tmp_path / "data" / "audit-signing-key.pem").unlink()
    code, _, err = cli("audit", "verify")
    assert code == 2 and "--public-key" in err


def test_verify_through_the_installed_command(sealed: Store, database, tmp_path: Path):
    tamper(sealed, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", "verify"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "COMPLIANCE_BOT_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database[1],
        },
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert f"changed: event seq 3 (id {event_id(sealed, 3)})" in result.stdout


def _other_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_migration_chains_events_written_before_it(kind: str, tmp_path: Path):
    scratch = None
    if kind == "postgres":
        missing = services_available()
        if missing:
            if require_services():
                pytest.fail(f"COMPLIANCE_BOT_REQUIRE_SERVICES=1 but {missing}")
            pytest.skip(missing)
        scratch = ScratchDatabase()
        url = scratch.url.replace("postgresql://", "postgresql+psycopg://")
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    try:
        command.upgrade(cfg, "0005")
        engine = create_engine(url)
        with engine.begin() as conn:
            for n in range(3):
                conn.execute(
                    text(
                        "INSERT INTO audit_events (at, actor, action, repository, details) "
                        "VALUES (:at, 'old', 'delivery.accepted', 'o/r', :details)"
                    ),
                    {"at": T0 + timedelta(days=n, microseconds=n), "details": json.dumps({"n": n})},
                )
        engine.dispose()
        migrate(url)
        store = Store(url)
        append(store, 1)
        assert [e.actor for e in rows(store)] == ["old", "old", "old", "alice"]
        assert_chained(store)
        assert verify(store, None).intact
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events"))  # the triggers are back
        store.dispose()
    finally:
        if scratch:
            scratch.drop()


# -- for people -----------------------------------------------------------------------------------
def life(store: Store) -> None:
    """The life of EXC-7 in o/r, between other events that must stay out of its trail."""
    steps = [
        (
            "alice",
            "command.exempt",
            "o/r",
            12,
            "a" * 40,
            {
                "command": "exempt",
                "comment": 1,
                "exception": "EXC-7",
                "pull_request": 13,
                "policy": "k8s.privileged",
                "reason": "node-exporter reads host metrics",
                "expires": "2026-12-31",
            },
        ),
        (
            "compliance-bot",
            "pull_request.proposed",
            "o/r",
            13,
            "b" * 40,
            {
                "branch": "compliance/exception/EXC-7",
                "title": "Exception EXC-7",
                "why": "asked",
            },
        ),
        ("compliance-bot", "reviewers.requested", "o/r", 13, None, {"users": ["bob"], "teams": []}),
        ("compliance-bot", "comment.posted", "o/r", 13, None, {"comment": 9, "why": "noise"}),
        (
            "compliance-bot",
            "check.concluded",
            "o/r",
            13,
            "c" * 40,
            {
                "check": "compliance/exception-review",
                "conclusion": "success",
                "check_kind": "exception-review",
                "verdict": "success",
                "approvers": ["bob"],
                "reasons": [],
                "changes": ["added:EXC-7"],
            },
        ),
        (
            "compliance-bot",
            "check.concluded",
            "o/r",
            13,
            "c" * 40,
            {
                "check": "compliance",
                "conclusion": "success",
                "exceptions_applied": [],
            },
        ),
        (
            "bob",
            "exception.approved",
            "o/r",
            13,
            "d" * 40,
            {
                "exception": "EXC-7",
                "policy": "k8s.privileged",
                "approvers": ["bob"],
                "renewal": False,
                "renewal_count": 0,
                "expires": "2026-12-31T00:00:00+00:00",
                "merged_at": "2026-12-01T11:00:00+00:00",
                "reason": "node-exporter reads host metrics",
            },
        ),
        (
            "compliance-bot",
            "check.concluded",
            "o/r",
            12,
            "a" * 40,
            {
                "check": "compliance",
                "conclusion": "success",
                "exceptions_applied": ["EXC-7"],
            },
        ),
        (
            "compliance-bot",
            "check.concluded",
            "o/r",
            14,
            "e" * 40,
            {
                "check": "compliance",
                "conclusion": "failure",
                "exceptions_applied": ["EXC-8"],
            },
        ),
        ("carol", "command.exempt", "other/repo", 1, None, {"exception": "EXC-7"}),
        (
            "compliance-bot",
            "exception.reminded",
            "o/r",
            13,
            None,
            {
                "exception": "EXC-7",
                "days": 7,
                "expires": "2026-12-31T00:00:00+00:00",
            },
        ),
        (
            "compliance-bot",
            "cleanup.updated",
            "o/r",
            20,
            "f" * 40,
            {
                "expired": ["EXC-7", "EXC-70"],
                "branch": "main",
            },
        ),
    ]
    with store.session() as session:
        for n, (actor, action, repo, pr, sha, details) in enumerate(steps):
            audit.record(
                session,
                actor=actor,
                action=action,
                repository=repo,
                pull_request=pr,
                sha=sha,
                details=details,
                at=T0 + timedelta(hours=n),
            )


def test_trail_prints_the_life_of_one_exception(store: Store, cli, golden):
    life(store)
    code, out, _ = cli("audit", "trail", "EXC-7", "--repo", "o/r")
    assert code == 0
    golden("audit_trail.txt", out)
    assert "EXC-8" not in out and "noise" not in out and "carol" not in out
    code, out, _ = cli("audit", "trail", "EXC-7", "--repo", "o/r", "--format", "json")
    assert [e["action"] for e in json.loads(out)][:2] == ["command.exempt", "pull_request.proposed"]


@pytest.mark.parametrize(
    ("args", "actions"),
    [
        (["--action", "exception."], ["exception.approved", "exception.reminded"]),
        (["--action", "exception"], ["exception.approved", "exception.reminded"]),
        (["--actor", "carol"], ["command.exempt"]),
        (["--repo", "o/r", "--pr", "12"], ["command.exempt", "check.concluded"]),
        (["--exception", "EXC-70"], ["cleanup.updated"]),
        (["--exception", "EXC-8"], ["check.concluded"]),
        (
            ["--since", "2026-12-01T19:00:00Z", "--until", "2026-12-01"],
            ["exception.reminded", "cleanup.updated"],
        ),
        (["--until", "2026-12-01T10:00:00+00:00"], ["command.exempt"]),
        (["--since", "2026-12-02"], []),
        (["--limit", "2"], ["exception.reminded", "cleanup.updated"]),
    ],
)
def test_list_filters(store: Store, cli, args: list[str], actions: list[str]):
    life(store)
    code, out, _ = cli("audit", "list", "--format", "json", *args)
    assert code == 0
    assert [e["action"] for e in json.loads(out)] == actions


def test_list_text_answers_who_what_where_when_why(store: Store, cli):
    life(store)
    code, out, _ = cli("audit", "list", "--action", "exception.approved")
    assert code == 0
    assert out == (
        "#7  2026-12-01 15:00 UTC  exception.approved  by bob  o/r PR #13 (sha ddddddd): "
        "EXC-7 (k8s.privileged) approved by bob, merged 2026-12-01T11:00:00+00:00, expires "
        "2026-12-31T00:00:00+00:00: node-exporter reads host metrics\n"
    )


def test_bad_dates_are_usage_errors(store: Store, cli):
    code, _, err = cli("audit", "list", "--since", "yesterday")
    assert code == 2 and "--since/--until" in err


def test_export_streams_jsonl_and_csv_that_parse_back_and_verify(store: Store, cli, tmp_path: Path):
    life(store)
    code, out, _ = cli("audit", "export", "--format", "jsonl")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, 13))
    # an export is enough to check the chain, without the bot
    prev = chain.GENESIS
    for e in events:
        at = datetime.fromisoformat(e["at"])
        fields = {k: e[k] for k in ("seq", "actor", "action", "repository", "pull_request", "sha")}
        assert chain.event_hash(prev, at=at, details=e["details"], **fields) == e["hash"]
        prev = e["hash"]
    target = tmp_path / "audit.csv"
    code, _, err = cli(
        "audit", "export", "--format", "csv", "--repo", "o/r", "--output", str(target)
    )
    assert code == 0 and "11 events written" in err
    parsed = list(csv.DictReader(io.StringIO(target.read_text("utf-8"))))
    assert [int(r["seq"]) for r in parsed] == [e["seq"] for e in events if e["repository"] == "o/r"]
    assert json.loads(parsed[0]["details"]) == events[0]["details"]
    assert parsed[0]["at"] == events[0]["at"] and parsed[0]["hash"] == events[0]["hash"]


def test_query_helpers_match_exception_ids_exactly():
    assert query.mentions({"exceptions_applied": ["EXC-7"]}, "EXC-7")
    assert not query.mentions({"exceptions_applied": ["EXC-70"]}, "EXC-7")
    assert query.mentions({"changes": ["changed:EXC-7"]}, "EXC-7")
    assert query.mentions({"branch": "compliance/extend/EXC-7-123"}, "EXC-7")
    assert not query.mentions({"branch": "compliance/extend/EXC-70-123"}, "EXC-7")
    assert not query.mentions({"branch": "compliance/extend/EXC-7-1-123"}, "EXC-7")
    assert query.parse_when("2026-12-01", end=True) == datetime(2026, 12, 2, tzinfo=UTC)


def test_checkpoints_still_verify_after_the_deployment_moved(store: Store, settings: Settings):
    """The key's name comes from COMPLIANCE_BOT_PUBLIC_URL; moving the deployment must not make
    its past checkpoints look forged (the key id binds the old name to the same key)."""
    append(store, 2)
    old = checkpoints.checkpoint(store, replace(settings, public_url="https://old.example"), T0)
    assert old is not None and old.key_name.startswith("old.example/")
    moved = checkpoints.load_signer(replace(settings, public_url="https://new.example"))
    assert moved.verifier.verifies(old)
    stranger = checkpoints.Signer(old.key_name, _other_key()).verifier
    assert not stranger.verifies(old)  # the same name with another key is still refused
