"""The web dashboard's pages at scale: median and p95 latency per page (issue 13).

    python benchmarks/dashboard.py [--events 1000000] [--exceptions 10000] [--repositories 1000]
                                   [--stores sqlite,postgres] [--runs 30] [--json]

Budget (the design of issue 13): "Dashboard pages: median under 200 ms with 10,000 exceptions
over 1,000 repositories and 1,000,000 audit events." The script measures; it never fails on a
budget (the exports stream whole files and are not pages: reported, not held to it).

For each store a fresh database is migrated (PostgreSQL: a scratch database on the server at
127.0.0.1:5432 the tests use, dropped after) and filled in bulk, the way the bot would have
left it:

- the audit log: a valid chain of ``--events`` events written by ``audit_verify.fill`` (the mix
  of ``benchmarks/audit_verify.py``, spread over ``acme/service-0`` .. ``--repositories``-1
  with every kind of event in every repository), with its signed checkpoints and one stored
  verification;
- ``exception_standing``: ``--exceptions`` rows, the same number in each repository, in the
  states a sweep records (about 55% active, 10% expiring, 15% expired, 12% unapproved, 8%
  invalid), over 20 policies (a few common, most rare), 300 requesters and 40 approvers (the
  audit log's own actors), with reasons and tickets as people write them; their ids are the
  ones the audit events name, so an exception's page has a real trail;
- ``exception_history``: 90 days for each repository;
- ``check_records``: five ``compliance`` checks per repository whose ``relied_on`` lists the
  exceptions they applied (what "pull requests it keeps green" reads), and one
  ``check_reports`` row per repository (a zlib-compressed JSON report of 50 findings).

PostgreSQL is ``ANALYZE``d after the load, as autovacuum would do; SQLite is not (the bot never
runs ``ANALYZE`` on it). Then the real app is served exactly as ``tests/e2e/harness.py`` does
(``build_app`` under waitress on 127.0.0.1, 8 threads, dashboard on through a GitHub OAuth
client), and a client in a separate process (``requests``, one keep-alive connection, the
session cookie of a ``web_sessions`` row made directly) asks for each page ``--runs`` times
after 3 warm-ups, one request at a time, timing each to the last byte of the body. Two
viewers: a deployment admin (sees every repository) and a person who may see 100 repositories
(every tenth). The pages:

- the overview; the exceptions table: page 1, filtered by state ``expiring`` and the most
  common policy, sorted by repository descending on page 50 (for the 100-repository viewer its
  last page, 20), filtered by one approver;
- one exception (its rows, the checks that relied on it, its audit trail), one check (the
  report behind it);
- the audit log: page 1, one repository, and 1,000 pages deep (``before`` set to the seq of the
  50,000th newest event the viewer may see, computed directly rather than by following links);
- the exports, whole: ``exceptions.csv`` (every row the viewer may see) and ``audit.jsonl``
  filtered by one repository.

After the HTTP runs the same reads are timed in-process without HTTP or templates (the
``bot.dashboard.queries`` calls each view makes, exports fully consumed), so each page's time
splits into the store's part and the rest (session lookup, rendering, HTTP).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for folder in (REPO, HERE):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import audit_verify  # noqa: E402
from sqlalchemy import Select, insert, select, text  # noqa: E402

from bot.audit import chain, verify  # noqa: E402
from bot.audit import query as audit_query  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.dashboard import queries  # noqa: E402
from bot.exemptions.model import format_timestamp  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.tables import (  # noqa: E402
    AuditEvent,
    AuditVerification,
    CheckRecord,
    CheckReport,
    ExceptionHistory,
    ExceptionStanding,
    ForgedStatus,
    WebSession,
)

PG_ADMIN = audit_verify.PG_ADMIN
COOKIE = "compliance-bot-session"  # bot.web.signin.COOKIE: the app is served over http
WARMUPS = 3
BUDGET_MS = 200.0
CHECKS_PER_REPOSITORY = 5
FINDINGS_PER_REPORT = 50
HISTORY_DAYS = 90
VIEWER_REPOSITORIES = 100
DEEP_EVENTS = 50_000  # 1,000 pages of 50
APPROVER = "owner-7"  # one login; "owner-3" would also narrow to owner-30..39 by text

POLICIES = (
    "k8s.privileged",
    "k8s.run-as-non-root",
    "k8s.resources",
    "k8s.image-tag",
    "k8s.host-path",
    "k8s.capabilities.baseline",
    "k8s.read-only-root-fs",
    "k8s.host-network",
    "k8s.probes",
    "k8s.privilege-escalation",
    "k8s.seccomp.restricted",
    "k8s.capabilities.restricted",
    "k8s.run-as-user",
    "k8s.host-ports",
    "k8s.volume-types",
    "k8s.sysctls",
    "k8s.apparmor",
    "k8s.default-namespace",
    "k8s.node-port",
    "k8s.proc-mount",
)
POLICY_WEIGHTS = tuple(1 / (i + 1) for i in range(len(POLICIES)))  # a few common, most rare
STATES = ("active", "expiring", "expired", "unapproved", "invalid")
STATE_WEIGHTS = (55, 10, 15, 12, 8)
REASONS = (
    "node-exporter reads host metrics through hostPID and a hostPath mount of /proc",
    "legacy payment gateway image runs as root until the vendor ships 4.x",
    "CNI daemonset needs NET_ADMIN to program routes on every node",
    "log shipper tails /var/log/containers from the host",
    "batch importer pins :latest while the registry migration finishes",
    "ingress controller binds host ports 80 and 443 on the edge pool",
    "GPU driver installer must run privileged to load the kernel module",
    "third-party chart has no probes; upstream issue filed, fix expected next release",
    "istio-init needs NET_RAW and NET_ADMIN to set up iptables redirection",
    "etcd backup agent reads the data directory through hostPath",
    "vendor operator sets allowPrivilegeEscalation; remediation scheduled for Q3",
    "Cassandra needs IPC_LOCK and vm.max_map_count raised",
    "JVM service writes its heap dumps to the root filesystem during the incident review",
    "load test job runs without limits for the capacity exercise",
    "old monitoring sidecar in the default namespace until the platform move",
)
PROBLEMS = (
    "policy k8s.privileged-containers is not a policy",
    "expires 2026-02-30 is not a date",
    "no reason given",
    "paths: '/deploy/**' must be relative to the repository root",
    "expires more than 365 days after it was approved",
)
MESSAGES = (
    "container {c} is privileged",
    "container {c} may run as root: set runAsNonRoot",
    "container {c} has no memory limit",
    "image of {c} uses the latest tag",
    "hostPath volume /var/run mounted by {c}",
    "container {c} adds capability NET_ADMIN",
    "root filesystem of {c} is writable",
    "pod shares the host network",
    "container {c} has no readiness probe",
)


def _sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def _hash64(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def _repository(index: int) -> str:
    return f"acme/service-{index}"


def _exception_id(repository: int, j: int) -> str:
    # the audit log names EXC-0 .. EXC-96 in every repository (audit_verify.event)
    return f"EXC-{(repository * 7 + j) % 97 if j < 97 else j}"


# -- the data ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class World:
    """What the pages ask about: found in the seeded data."""

    repository: str  # seen by both viewers
    exception_id: str  # of that repository, relied on by some of its checks
    check_sha: str  # a head of that repository with a stored report
    policy: str  # the most common one
    viewer_repositories: tuple[str, ...]
    standing_rows: int
    history_rows: int
    check_records: int
    check_reports: int


def seed(store: Store, now: datetime, exceptions: int, repositories: int, events: int) -> World:
    """Everything but the audit log, by bulk insert; deterministic for the same arguments."""
    rng = random.Random(13)
    per_repository, extra = divmod(exceptions, repositories)
    standing: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    step = max(1, repositories // VIEWER_REPOSITORIES)
    target = min(step * 42, repositories - 1)
    target_exception = target_sha = None
    today = now.date()
    for r in range(repositories):
        repository = _repository(r)
        live: list[dict[str, Any]] = []
        counts = dict.fromkeys(STATES, 0)
        for j in range(per_repository + (1 if r < extra else 0)):
            row = _standing_row(rng, now, r, j)
            counts[row["state"]] += 1
            standing.append(row)
            if row["state"] in ("active", "expiring"):
                live.append(row)
        for back in range(HISTORY_DAYS):
            drift = back // 30  # a little fewer live exceptions further back
            history.append(
                {
                    "forge": "github",
                    "repository": repository,
                    "day": today - timedelta(days=back),
                    "live": max(
                        0, counts["active"] + counts["expiring"] - drift + rng.randint(-1, 1)
                    ),
                    "expired": max(0, counts["expired"] + rng.randint(-1, 1)),
                    "unapproved": max(0, counts["unapproved"] + counts["invalid"] - drift % 2),
                }
            )
        for k in range(CHECKS_PER_REPOSITORY):
            applied = rng.sample(live, min(len(live), rng.randint(1, 3))) if live else []
            head = _sha(repository, "head", k)
            records.append(
                {
                    "forge": "github",
                    "repository": repository,
                    "head_sha": head,
                    "name": "compliance",
                    "check_run_id": 30_000_000 + r * 10 + k,
                    "pull_request": 100 + k,
                    "conclusion": "success" if applied or k % 3 else "failure",
                    "policies": sorted({a["policy"] for a in applied}),
                    "annotations": [],
                    "updated_at": now - timedelta(hours=k * 7 + r % 24),
                    "base_ref": "main",
                    "relied_on": {
                        "file": _hash64(repository, "file"),
                        "rules": _hash64(repository, "rules"),
                        "applied": [
                            {
                                "id": a["exception_id"],
                                "hash": a["content_hash"],
                                "expires": a["expires_text"],
                            }
                            for a in applied
                        ],
                    },
                }
            )
            if k == 0:
                reports.append(_report_row(rng, now, repository, head, applied))
                if r == target:
                    target_sha = head
                    if applied:
                        target_exception = applied[0]["exception_id"]
    if target_exception is None:  # a repository with no live exception: any of its rows
        target_exception = next(
            s["exception_id"] for s in standing if s["repository"] == _repository(target)
        )
    assert target_sha is not None
    _insert(store, ExceptionStanding, standing)
    _insert(store, ExceptionHistory, history)
    _insert(store, CheckRecord, records)
    _insert(store, CheckReport, reports)
    _insert(
        store,
        ForgedStatus,
        [
            {
                "forge": "github",
                "repository": _repository(r),
                "sha": _sha(r, "forged"),
                "context": "compliance",
                "creator": f"dev-{r % 300}",
                "state": "success",
                "status_id": 900_000 + r,
                "seen_at": now - timedelta(days=r % 30),
            }
            for r in range(0, repositories, max(1, repositories // 20))
        ],
    )
    _insert(
        store,
        AuditVerification,
        [
            {
                "at": now - timedelta(minutes=20),
                "events": events,
                "checkpoints": -(-events // audit_verify.CHECKPOINT_EVERY),
                "last_size": events,
                "intact": True,
                "problem": None,
                "seconds": 12.3,
            }
        ],
    )
    counts_by_policy: dict[str, int] = {}
    for row in standing:
        if row["policy"]:
            counts_by_policy[row["policy"]] = counts_by_policy.get(row["policy"], 0) + 1
    return World(
        repository=_repository(target),
        exception_id=target_exception,
        check_sha=target_sha,
        policy=max(counts_by_policy, key=counts_by_policy.__getitem__),
        viewer_repositories=tuple(
            _repository(i) for i in range(0, repositories, step)[:VIEWER_REPOSITORIES]
        ),
        standing_rows=len(standing),
        history_rows=len(history),
        check_records=len(records),
        check_reports=len(reports),
    )


def _standing_row(rng: random.Random, now: datetime, r: int, j: int) -> dict[str, Any]:
    state = rng.choices(STATES, STATE_WEIGHTS)[0]
    repository = _repository(r)
    exception_id = _exception_id(r, j)
    row: dict[str, Any] = {
        "forge": "github",
        "repository": repository,
        "branch": "release/2.x" if j % 10 == 0 and r % 4 == 0 else "main",
        "exception_id": exception_id,
        "state": state,
        "unused": False,
        "policy": None,
        "paths": [],
        "resources": [],
        "reason": None,
        "ticket": None,
        "requested_by": None,
        "expires": None,
        "expires_text": None,
        "content_hash": None,
        "approvers": [],
        "approval_pull_request": None,
        "approved_at": None,
        "renewal_count": 0,
        "cleanup_pull_request": None,
        "problem": None,
        "line": None,
        "swept_at": now - timedelta(minutes=(r * 37) % 1440),
    }
    if state == "invalid":
        row.update(problem=rng.choice(PROBLEMS), line=1 + j * 8)
        return row
    days = {
        "active": rng.uniform(15, 365),
        "expiring": rng.uniform(0.2, 14),
        "expired": -rng.uniform(0.5, 60),
        "unapproved": rng.uniform(10, 200),
    }[state]
    expires = (now + timedelta(days=days)).replace(microsecond=0)
    service = f"service-{r}"
    row.update(
        unused=state == "active" and rng.random() < 0.05,
        policy=rng.choices(POLICIES, POLICY_WEIGHTS)[0],
        paths=[f"deploy/k8s/{service}/**"] + ([f"charts/{service}/**"] if j % 3 == 0 else []),
        resources=[f"Deployment/default/{service}-{j}"] if j % 2 else [],
        reason=rng.choice(REASONS),
        ticket=f"SEC-{rng.randint(1000, 9999)}" if rng.random() < 0.8 else None,
        requested_by=f"dev-{rng.randrange(300)}",
        expires=expires,
        expires_text=format_timestamp(expires),
        content_hash=_hash64(repository, exception_id, state),
        line=1 + j * 8,
    )
    if state != "unapproved":
        approved_at = now - timedelta(days=rng.uniform(1, 300))
        row.update(
            approvers=[f"owner-{a}" for a in sorted(rng.sample(range(40), rng.choice((1, 1, 2))))],
            approval_pull_request=rng.randint(1, 9000),
            approved_at=approved_at,
            renewal_count=rng.choice((0, 0, 0, 1, 2)),
            cleanup_pull_request=rng.randint(1, 9000) if state == "expired" else None,
        )
    return row


def _report_row(
    rng: random.Random, now: datetime, repository: str, head: str, applied: list[dict[str, Any]]
) -> dict[str, Any]:
    findings = []
    for i in range(FINDINGS_PER_REPORT):
        cover = applied[i % len(applied)] if applied and i % 4 == 0 else None
        container = f"app-{i % 6}"
        findings.append(
            {
                "policy": rng.choices(POLICIES, POLICY_WEIGHTS)[0],
                "severity": rng.choice(("high", "medium", "low")),
                "enforcement": "blocking" if i % 3 else "advisory",
                "path": f"deploy/k8s/{repository.split('/')[1]}/workload-{i % 9}.yaml",
                "line": 10 + i * 3,
                "resource": {"kind": "Deployment", "name": f"web-{i % 9}", "namespace": "default"},
                "message": rng.choice(MESSAGES).format(c=container),
                "exception": None
                if cover is None
                else {
                    "id": cover["exception_id"],
                    "expires": cover["expires_text"],
                    "verified": True,
                },
            }
        )
    blocking = sum(1 for f in findings if f["enforcement"] == "blocking" and not f["exception"])
    report = {
        "conclusion": "failure" if blocking else "success",
        "findings": findings,
        "exceptions": {
            "applied": [{"id": a["exception_id"], "policy": a["policy"]} for a in applied],
            "expired": [],
            "invalid": [],
            "unused": [],
            "unapproved": [],
            "expiring_soon": [],
        },
        "errors": [],
        "summary": {
            "files": 40,
            "blocking": blocking,
            "advisory": sum(1 for f in findings if f["enforcement"] == "advisory"),
            "excepted": sum(1 for f in findings if f["exception"]),
            "errors": 0,
        },
        "notes": [],
        "exclusions": {"globs": ["vendor/**"], "excluded": {"vendor/**": ["vendor/chart.yaml"]}},
        "base": _sha(repository, "base"),
        "head": head,
    }
    return {
        "forge": "github",
        "repository": repository,
        "head_sha": head,
        "name": "compliance",
        "pull_request": 100,
        "conclusion": report["conclusion"],
        "title": f"{blocking} blocking findings" if blocking else "passed",
        "report": zlib.compress(json.dumps(report, indent=2).encode(), 6),
        "updated_at": now - timedelta(hours=1),
    }


def _insert(store: Store, table: type, rows: list[dict[str, Any]], batch: int = 5_000) -> None:
    for first in range(0, len(rows), batch):
        with store.engine.begin() as conn:
            conn.execute(insert(table.__table__), rows[first : first + batch])  # type: ignore[attr-defined]


def sign_in(store: Store, now: datetime, login: str, repositories: list[str], admin: bool) -> str:
    """A signed-in session, made directly (as tests/test_dashboard_pages.py does): its token."""
    token = f"bench-{login}-{uuid.uuid4().hex}"
    with store.session() as s:
        s.add(
            WebSession(
                id=hashlib.sha256(token.encode()).hexdigest(),
                forge="github",
                login=login,
                name=login,
                admin=admin,
                repositories=repositories,
                csrf=uuid.uuid4().hex,
                created_at=now,
                expires_at=now + timedelta(hours=8),
            )
        )
    return token


# -- the pages ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    name: str
    path: str
    export: bool  # streamed whole: not a page the budget speaks of
    read: Callable[[], Any]  # the store's part, without HTTP or templates


def pages(store: Store, world: World, visible: frozenset[str] | None, now: datetime) -> list[Page]:
    def listing(**args: Any) -> Callable[[], Any]:
        where = queries.ExceptionFilter(**args)
        return lambda: queries.exceptions(store, visible, where, now)

    def audit(before: int | None = None, **args: Any) -> Callable[[], Any]:
        where = audit_query.Filter(**args)

        def read() -> Any:
            verify.latest_verification(store)
            return queries.audit(store, visible, where, before=before)

        return read

    seen = len(world.viewer_repositories) if visible is not None else None
    rows = world.standing_rows if seen is None else _visible_count(store, visible)
    page = min(50, max(1, -(-rows // queries.PAGE)))
    deep = _deep_before(store, visible)
    repo = world.repository
    one_repo = urlencode({"repository": repo})
    return [
        Page("overview", "/dashboard/", False, lambda: queries.overview(store, visible, now)),
        Page("exceptions, page 1", "/dashboard/exceptions", False, listing()),
        Page(
            f"exceptions, expiring + {world.policy}",
            "/dashboard/exceptions?" + urlencode({"state": "expiring", "policy": world.policy}),
            False,
            listing(state="expiring", policy=world.policy),
        ),
        Page(  # the 100-repository viewer has 20 pages: its last
            "exceptions, by repository desc, page 50",
            f"/dashboard/exceptions?sort=repository&order=desc&page={page}",
            False,
            listing(sort="repository", descending=True, page=page),
        ),
        Page(
            f"exceptions, approver {APPROVER}",
            f"/dashboard/exceptions?approver={APPROVER}",
            False,
            listing(approver=APPROVER),
        ),
        Page(
            "one exception (with trail)",
            f"/dashboard/exceptions/github/{repo}/-/{world.exception_id}",
            False,
            lambda: queries.exception(store, visible, "github", repo, world.exception_id),
        ),
        Page(
            "one check (50 findings)",
            f"/dashboard/checks/github/{repo}/-/{world.check_sha}",
            False,
            lambda: queries.check(store, visible, "github", repo, world.check_sha, "compliance"),
        ),
        Page("audit, page 1", "/dashboard/audit", False, audit()),
        Page(
            "audit, one repository", f"/dashboard/audit?{one_repo}", False, audit(repository=repo)
        ),
        Page("audit, 1,000 pages deep", f"/dashboard/audit?before={deep}", False, audit(deep)),
        Page(
            "exceptions.csv, all rows",
            "/dashboard/exceptions.csv",
            True,
            lambda: sum(
                len(line)
                for line in queries.exceptions_csv(store, visible, queries.ExceptionFilter(), now)
            ),
        ),
        Page(
            "audit.jsonl, one repository",
            f"/dashboard/audit.jsonl?{one_repo}",
            True,
            lambda: sum(
                len(line)
                for line in queries.audit_jsonl(store, visible, audit_query.Filter(repository=repo))
            ),
        ),
    ]


def _visible_count(store: Store, visible: frozenset[str] | None) -> int:
    query: Select = select(ExceptionStanding.id)
    if visible is not None:
        query = query.where(ExceptionStanding.repository.in_(sorted(visible)))
    with store.session() as s:
        return len(s.scalars(query).all())


def _deep_before(store: Store, visible: frozenset[str] | None) -> int:
    """The ``before`` of the page after 1,000 pages of what ``visible`` may see."""
    query = select(AuditEvent.seq).order_by(AuditEvent.seq.desc())
    if visible is not None:
        query = query.where(AuditEvent.repository.in_(sorted(visible)))
    with store.session() as s:
        seq = s.scalar(query.offset(DEEP_EVENTS - 1).limit(1))
    return int(seq or 1)


# -- measuring ---------------------------------------------------------------------------------
def client(plan: dict[str, Any]) -> dict[str, Any]:
    """Run in its own process (``--client``): each page, warm-ups then timed runs."""
    import requests

    session = requests.Session()
    session.headers["Cookie"] = f"{COOKIE}={plan['token']}"
    out: dict[str, Any] = {}
    for name, path in plan["pages"]:
        times, statuses, size = [], set(), 0
        for run in range(plan["warmups"] + plan["runs"]):
            started = time.perf_counter()
            answer = session.get(plan["base"] + path, stream=True, allow_redirects=False)
            size = sum(len(chunk) for chunk in answer.iter_content(65_536))
            elapsed = time.perf_counter() - started
            answer.close()
            statuses.add(answer.status_code)
            if run >= plan["warmups"]:
                times.append(elapsed * 1000)
        out[name] = {"ms": times, "statuses": sorted(statuses), "bytes": size}
    return out


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = (
        statistics.quantiles(ordered, n=100, method="inclusive")[94]
        if len(ordered) > 1
        else ordered[0]
    )
    return {"median": round(statistics.median(ordered), 1), "p95": round(p95, 1)}


def measure(base: str, token: str, chosen: list[Page], runs: int) -> dict[str, Any]:
    plan = {
        "base": base,
        "token": token,
        "runs": runs,
        "warmups": WARMUPS,
        "pages": [(p.name, p.path) for p in chosen],
    }
    done = subprocess.run(
        [sys.executable, __file__, "--client"],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        check=True,
    )
    answers = json.loads(done.stdout)
    results: dict[str, Any] = {}
    for page in chosen:
        got = answers[page.name]
        reads = []
        for run in range(WARMUPS + runs):
            started = time.perf_counter()
            page.read()
            if run >= WARMUPS:
                reads.append((time.perf_counter() - started) * 1000)
        results[page.name] = {
            "path": page.path,
            "export": page.export,
            "statuses": got["statuses"],
            "kb": round(got["bytes"] / 1024, 1),
            **summary(got["ms"]),
            "query": summary(reads),
        }
        done_page = results[page.name]
        print(
            f"    {page.name:<45} median {done_page['median']:8.1f} ms  "
            f"p95 {done_page['p95']:8.1f} ms  query {done_page['query']['median']:8.1f} ms  "
            f"{done_page['kb']:9.1f} KB  {got['statuses']}",
            file=sys.stderr,
        )
    return results


def bench(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from waitress import create_server

    from bot.services import Services
    from bot.web.app import build_app

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
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        github_client_id="Iv1.benchmark",
        github_client_secret="benchmark",
        dashboard_admins=("github:admin",),
    )
    services = server = None
    try:
        services = Services(settings)
        services.migrate()
        store = services.store
        now = datetime.now(UTC)
        started = time.perf_counter()
        audit_verify.fill(
            store,
            settings,
            0,
            args.events,
            chain.GENESIS,
            repositories=args.repositories,
            mixed=True,
        )
        fill_seconds = time.perf_counter() - started
        started = time.perf_counter()
        world = seed(store, now, args.exceptions, args.repositories, args.events)
        if kind == "postgres":
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        seed_seconds = time.perf_counter() - started
        print(
            f"\n{kind}: {args.events:,} events in {fill_seconds:.0f} s; {world.standing_rows:,} "
            f"exceptions, {world.history_rows:,} history rows, {world.check_records:,} checks, "
            f"{world.check_reports:,} reports in {seed_seconds:.0f} s",
            file=sys.stderr,
        )
        server = create_server(
            build_app(services), host="127.0.0.1", port=0, threads=8, ident="dashboard-bench"
        )
        base = f"http://127.0.0.1:{server.effective_port}"
        threading.Thread(target=server.run, daemon=True).start()
        viewers = {
            "admin": (sign_in(store, now, "admin", [], admin=True), None),
            f"{len(world.viewer_repositories)} repositories": (
                sign_in(store, now, "dev-42", list(world.viewer_repositories), admin=False),
                frozenset(world.viewer_repositories),
            ),
        }
        results = {}
        load = [os.getloadavg()[0]]  # other work on the machine shows in every figure
        for viewer, (token, visible) in viewers.items():
            print(f"  {viewer}:", file=sys.stderr)
            results[viewer] = measure(base, token, pages(store, world, visible, now), args.runs)
        load.append(os.getloadavg()[0])
        return {
            "store": kind,
            "load_average": [round(x, 1) for x in load],  # before and after measuring
            "fill_seconds": round(fill_seconds, 1),
            "seed_seconds": round(seed_seconds, 1),
            "world": {
                "repository": world.repository,
                "exception": world.exception_id,
                "policy": world.policy,
                "exceptions": world.standing_rows,
                "history_rows": world.history_rows,
                "check_records": world.check_records,
                "check_reports": world.check_reports,
            },
            "viewers": results,
        }
    finally:
        if server is not None:
            server.close()
        if services is not None:
            services.store.dispose()
        if scratch:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def table(result: dict[str, Any]) -> Iterator[str]:
    """One markdown table per store: a row per page, the two viewers side by side."""
    viewers = list(result["viewers"])
    head = " | ".join(f"{v}: median | p95 | query" for v in viewers)
    yield f"| page | {head} |"
    yield "|---|" + "---:|---:|---:|" * len(viewers)
    names = list(result["viewers"][viewers[0]])
    for i, name in enumerate(names):
        cells = []
        for viewer in viewers:
            got = list(result["viewers"][viewer].values())[i]
            over = not got["export"] and got["median"] > BUDGET_MS
            median = f"**{got['median']}**" if over else f"{got['median']}"
            bad = "" if got["statuses"] == [200] else f" (HTTP {got['statuses']})"
            cells.append(f"{median}{bad} | {got['p95']} | {got['query']['median']}")
        yield f"| {name} | " + " | ".join(cells) + " |"


def main() -> int:
    if sys.argv[1:] == ["--client"]:
        json.dump(client(json.load(sys.stdin)), sys.stdout)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--exceptions", type=int, default=10_000)
    parser.add_argument("--repositories", type=int, default=1_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        for kind in args.stores.split(","):
            results.append(bench(kind, args, Path(tmp)))
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    if args.json:
        print(json.dumps({"machine": machine, "args": vars(args), "results": results}, indent=2))
        return 0
    print(f"{machine}\n")
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    for result in results:
        print(
            f"{names.get(result['store'], result['store'])}: {args.events:,} events, "
            f"{result['world']['exceptions']:,} exceptions over {args.repositories:,} "
            f"repositories; times in ms, {args.runs} runs each, query = the store's part alone; "
            f"load average {result['load_average'][0]} before, {result['load_average'][1]} after\n"
        )
        for line in table(result):
            print(line)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
