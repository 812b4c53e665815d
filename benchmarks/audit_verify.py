"""``compliance-bot audit verify`` over a large audit log: time and peak memory (DESIGN §7).

    python benchmarks/audit_verify.py [--events 1000000] [--stores sqlite,postgres] [--json]

For each store, a fresh database is migrated and filled with a valid chain of N events, written
in bulk (hashes computed here with ``bot.audit.chain``, then plain INSERTs: the append-only
triggers stay in place, they refuse only UPDATE and DELETE; PostgreSQL takes the rows by COPY).
The events imitate the real mix: check conclusions, deliveries, commands and approvals, with
``details`` of 150 to 400 bytes. A signed checkpoint is stored every 100,000 events and at the
end, as ``compliance-bot audit checkpoint`` would. Then ``compliance-bot audit verify`` runs as
its own process (``python -m bot.cli``), timed from outside, its peak RSS read from its
``wait4`` resource usage. To show that memory does not grow with the log, verify also runs
when a tenth of the events is in. PostgreSQL: the server at 127.0.0.1:5432 the tests use.
The script measures; it never fails on a budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import insert, update  # noqa: E402

from bot.audit import chain, checkpoints  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.store import Store, migrate  # noqa: E402
from bot.store.tables import AuditCheckpoint, AuditEvent, AuditHead  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 20_000
CHECKPOINT_EVERY = 100_000


def event(n: int, repositories: int = 500, *, mixed: bool = False) -> dict[str, Any]:
    """Event ``n`` of the synthetic log (deterministic), about one of ``repositories``.

    By default repository ``n % repositories`` has events of one kind only (the kind is
    ``n % 10``); ``mixed`` gives every repository every kind (``benchmarks/dashboard.py``).
    """
    repo = f"acme/service-{(n + n // 10 if mixed else n) % repositories}"
    kind = n % 10
    if kind < 5:
        action, actor = "check.concluded", "compliance-bot"
        details: dict[str, Any] = {
            "check": "compliance",
            "conclusion": "success" if n % 7 else "failure",
            "check_run_id": 10_000_000 + n,
            "blocking": n % 3,
            "advisory": n % 5,
            "excepted": n % 2,
            "errors": 0,
            "files": 12 + n % 300,
            "base": f"{n * 2654435761 % 2**160:040x}",
            "exceptions_applied": [f"EXC-{n % 97}"] if n % 2 else [],
            "exceptions_ignored": [],
            "forged_statuses": [],
        }
    elif kind < 8:
        action, actor = "delivery.accepted", f"dev-{n % 300}"
        details = {"delivery": str(uuid.UUID(int=n)), "event": "pull_request", "action": "sync"}
    elif kind == 8:
        action, actor = "command.exempt", f"dev-{n % 300}"
        details = {
            "command": "exempt",
            "comment": 5_000_000 + n,
            "exception": f"EXC-{n % 97}",
            "pull_request": 20_000 + n % 9_000,
            "url": f"https://github.com/{repo}/pull/{20_000 + n % 9_000}",
            "policy": "k8s.privileged",
            "reason": "node-exporter reads host metrics through hostPID — ticket SEC-1234",
            "expires": "2026-12-31",
        }
    else:
        action, actor = "exception.approved", f"owner-{n % 40}"
        details = {
            "exception": f"EXC-{n % 97}",
            "policy": "k8s.privileged",
            "content_hash": f"{n * 40503 % 2**256:064x}",
            "approvers": [f"owner-{n % 40}"],
            "renewal": False,
            "renewal_count": 0,
            "expires": "2026-12-31T00:00:00+00:00",
        }
    return {
        "at": T0 + timedelta(seconds=n * 3, microseconds=n % 1_000_000),
        "actor": actor,
        "action": action,
        "repository": repo,
        "pull_request": 1 + n % 9_000,
        "sha": f"{n * 11400714819323198485 % 2**160:040x}",
        "details": chain.plain(details),
    }


def fill(
    store: Store,
    settings: Settings,
    start: int,
    stop: int,
    head: str,
    *,
    repositories: int = 500,
    mixed: bool = False,
) -> str:
    """Append events ``start+1..stop`` after chain hash ``head``; returns the new head."""
    postgres = store.url.startswith("postgresql")
    signer = checkpoints.load_signer(settings)
    assert signer is not None
    for first in range(start + 1, stop + 1, BATCH):
        rows = []
        for seq in range(first, min(stop, first + BATCH - 1) + 1):
            row = event(seq, repositories, mixed=mixed)
            digest = chain.event_hash(head, seq=seq, **row)
            rows.append(dict(row, seq=seq, prev_hash=head, hash=digest))
            head = digest
        if postgres:
            _copy(store, rows)
        else:
            with store.engine.begin() as conn:
                conn.execute(insert(AuditEvent.__table__), rows)
        with store.engine.begin() as conn:
            conn.execute(update(AuditHead.__table__).values(seq=seq, hash=head))
            if seq % CHECKPOINT_EVERY == 0 or seq == stop:
                taken = signer.sign(settings.audit_origin, seq, head)
                conn.execute(
                    insert(AuditCheckpoint.__table__).values(
                        size=seq,
                        hash=head,
                        origin=taken.origin,
                        key_name=taken.key_name,
                        key_id=taken.key_id,
                        signature=taken.signature,
                        created_at=datetime.now(UTC),
                    )
                )
        print(f"  {seq:>9,} events", end="\r", file=sys.stderr, flush=True)
    return head


def _copy(store: Store, rows: list[dict[str, Any]]) -> None:
    columns = ("at", "actor", "action", "repository", "pull_request", "sha", "details", "seq")
    columns += ("prev_hash", "hash")
    raw = store.engine.raw_connection()
    try:
        sql = f"COPY audit_events ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[attr-defined]
            for row in rows:
                values = dict(row, details=json.dumps(row["details"], ensure_ascii=False))
                copy.write_row([values[c] for c in columns])
        raw.commit()
    finally:
        raw.close()


def verify_run(data_dir: Path, database_url: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "COMPLIANCE_BOT_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(REPO),
    }
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "audit", "verify"],
            cwd=data_dir.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage: its peak RSS
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().strip()
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "exit": process.returncode,
        "output": output,
    }


def bench(kind: str, events: int, workdir: Path) -> dict[str, Any]:
    data_dir = workdir / kind / "data"
    data_dir.mkdir(parents=True)
    scratch = None
    if kind == "postgres":
        import psycopg

        scratch = f"cb_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{scratch}"')
        database_url = f"postgresql://postgres@127.0.0.1:5432/{scratch}"
    else:
        database_url = f"sqlite:///{data_dir / 'compliance-bot.db'}"
    settings = Settings(data_dir=data_dir, database_url=database_url)
    try:
        migrate(settings.sqlalchemy_url)
        store = Store(settings.sqlalchemy_url)
        runs = []
        head, done = chain.GENESIS, 0
        for size in sorted({max(1, events // 10), events}):
            started = time.perf_counter()
            head = fill(store, settings, done, size, head)
            fill_seconds = time.perf_counter() - started
            done = size
            run = verify_run(data_dir, database_url)
            run.update(events=size, fill_seconds=round(fill_seconds, 1))
            print(
                f"{kind:<8} {size:>9,} events: verify {run['seconds']:6.2f} s, "
                f"peak RSS {run['peak_rss_mb']:6.1f} MB, exit {run['exit']}: {run['output']}",
                file=sys.stderr,
            )
            runs.append(run)
        store.dispose()
        return {"store": kind, "runs": runs}
    finally:
        if scratch:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="audit-verify-") as tmp:
        for kind in args.stores.split(","):
            results.append(bench(kind, args.events, Path(tmp)))
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    if args.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
        return 0
    print(f"{machine}\n")
    print("| store | events | verify (s) | CPU (s) | peak RSS (MB) | exit | fill (s) |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for result in results:
        for run in result["runs"]:
            print(
                f"| {result['store']} | {run['events']:,} | {run['seconds']} | "
                f"{run['cpu_seconds']} | {run['peak_rss_mb']} | {run['exit']} | "
                f"{run['fill_seconds']} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
