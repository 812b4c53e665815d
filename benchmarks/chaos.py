"""Faults and crashes: exactly-once effects while the forge fails and processes die (issue 9).

    python benchmarks/chaos.py [--mode sqlite|postgres|both] [--prs N] [--commands M]
                               [--rate R] [--seed S] [--no-kill] [--quick] [--json]

DESIGN.md §7: under 20% injected forge faults and concurrent commands, 0 deliveries lost, 0
duplicated or mixed effects, at most 1.1 job executions per delivery without faults. This script
plays that load against the real bot, run as the processes a user runs (``python -m bot.cli
serve``, ``... worker``), and the stateful fake GitHub of the end-to-end tests, all on 127.0.0.1:

- N pull requests (default 20), each on its own branch with the privileged Pod of
  ``tests/e2e/test_check_stories.py`` at its own path (``deploy/svc-NN/pod.yaml``), so each has
  one blocking finding and each exception's scope is distinct; then M ``/compliance exempt
  k8s.privileged`` comments (default 10), each on a different PR with its own ticket, posted at
  once from M threads.
- Between the bot and the fake, ``tests/e2e/faults.FaultProxy.chaos``: ``--rate`` (default 0.2)
  of the API requests fail with 502, 503 or 429 (``Retry-After: 1``), half before the request
  reaches GitHub, half after GitHub did it (the bot sees an error for a write that happened).
  Git and the installation-token endpoint are never faulted.
- ``kill -9`` mid-job, then a restart 2 s later. ``sqlite`` mode (SQLite store, SQLite queue):
  ``serve``. ``postgres`` mode (PostgreSQL in a scratch database, Redis with a queue of its own):
  ``serve`` plus one ``worker`` process; first the worker, later ``serve``. A kill waits until a
  delivery is ``running`` in that process (up to a patience), so it lands inside a job.
- Webhooks refused while the web edge was down are redelivered once it is back, as GitHub's
  documented redelivery script for Apps does (GitHub itself never retries a failed delivery);
  how many is printed.

Each mode runs twice: ``chaos`` (faults and kills) and ``calm`` (the same load, no fault, no
kill; the executions-per-delivery budget is about this one). When every recorded delivery is
done or failed and no webhook is in flight, the fake's state is judged:

- checks: every PR head has exactly one ``compliance`` run by the App, completed, ``failure``;
  every exception PR head exactly one ``compliance`` (success) and one
  ``compliance/exception-review`` (failure: nobody approved it; the PRs are never merged);
- commands: exactly one open exception PR per comment (its body names that comment), whose one
  entry has the requesting PR's file as ``paths`` and the request's ticket, exactly one reply
  with the comment's marker (``<!-- compliance-bot:reply comment=ID#0 -->``) that names that PR;
  mixed = a PR or reply carrying another request's scope, ticket or PR; no two exception PRs
  share an id; no exception PR, reply or check run without its request, and no exception
  branch pushed a second time (a retry committing the same file again moves the PR's head);
- deliveries lost: webhooks the bot records (``bot.handlers.route`` takes them) that never got a
  2xx or have no row, rows not ``done``, and ``failed`` rows without a reply to a person;
- executions per delivery: claims (the ``attempts`` column, which counts a job cut short by a
  kill) plus the ``skipped`` executions logged by every process (``bot/jobs.py``).

The script exits 1 when a target is missed. Load averages are printed with the results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from sqlalchemy import select  # noqa: E402

from benchmarks.forge import machine, web_env  # noqa: E402
from bot.events import parse_github  # noqa: E402
from bot.handlers import route  # noqa: E402
from bot.handlers.comments import reply_marker  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.tables import Delivery  # noqa: E402
from tests.e2e.conftest import fake_world  # noqa: E402
from tests.e2e.faults import FaultProxy  # noqa: E402
from tests.e2e.harness import ScratchDatabase, bot_settings, services_available  # noqa: E402
from tests.e2e.test_check_stories import PRIVILEGED  # noqa: E402
from tests.e2e.test_command_stories import EXEMPT  # noqa: E402
from tests.e2e.test_crash_stories import free_port, start_serve  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402

SEED = 20261109
DOWNTIME = 2.0  # seconds between a kill -9 and the restart
KILL_PATIENCE = 90.0  # seconds a kill waits for a job to be running in its target
QUIET = 3.0  # seconds with nothing in flight before the run counts as settled
EXECUTIONS_BUDGET = 1.1
# (process, share of the recorded deliveries done before it is killed), per mode
KILLS = {"sqlite": (("serve", 0.3),), "postgres": (("worker", 0.25), ("serve", 0.5))}
STORES = {"sqlite": "SQLite store + SQLite queue", "postgres": "PostgreSQL + Redis"}

LOGGED = re.compile(r"delivery (github:\S+?)(?: attempt (\d+))?: (done in|skipped|.*retrying in)")
GAVE_UP = re.compile(r"delivery (github:\S+) failed: (.*)")


# -- the bot's processes --------------------------------------------------------------------------


def start_worker(settings: Any, log: Path) -> subprocess.Popen:
    """``python -m bot.cli worker`` with the environment ``web`` gets (benchmarks/forge.py)."""
    env = web_env(settings) | {"LOG_LEVEL": "INFO"}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker"],
        env=env,
        cwd=settings.data_dir,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )


@dataclass
class Kill:
    role: str
    at_s: float
    mid_job: bool
    running: list[str]  # deliveries running in the process when it died


class BotProcesses:
    """``serve`` (and, with PostgreSQL + Redis, one ``worker``), killed and restarted on demand."""

    def __init__(self, settings: Any, port: int, logs: Path, mode: str) -> None:
        self.settings, self.port, self.logs = settings, port, logs
        self.roles = ("serve", "worker") if mode == "postgres" else ("serve",)
        self.procs: dict[str, subprocess.Popen] = {}
        self.up = threading.Event()

    def log(self, role: str) -> Path:
        return self.logs / f"{role}.log"

    def start(self, role: str) -> None:
        if role == "serve":
            self.procs[role] = start_serve(self.settings, self.port, self.log(role))
            self.up.set()
        else:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.procs[role] = start_worker(self.settings, self.log(role))

    def kill(self, role: str) -> None:
        if role == "serve":
            self.up.clear()
        proc = self.procs[role]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log_text(self) -> str:
        return "".join(self.log(r).read_text("utf-8", "replace") for r in self.roles)


def deliveries(store: Store) -> list[Delivery]:
    with store.session() as s:
        return list(s.scalars(select(Delivery)))


def killer(
    bot: BotProcesses,
    store: Store,
    plan: tuple,
    loaded: threading.Event,
    t0: float,
    kills: list[Kill],
) -> None:
    """Kill each process of ``plan`` in turn, once the load is posted and its share of the work
    is done, while a job of its own is running (or after ``KILL_PATIENCE``); restart it
    ``DOWNTIME`` later."""
    if plan:
        loaded.wait()
    for role, share in plan:
        pid = f":{bot.procs[role].pid}:"
        deadline = time.monotonic() + KILL_PATIENCE
        while True:
            rows = deliveries(store)
            done = sum(r.status in ("done", "failed") for r in rows)
            mine = [r.id for r in rows if r.status == "running" and pid in (r.worker or "")]
            if (mine and done >= share * len(rows)) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        bot.kill(role)
        kills.append(Kill(role, round(time.monotonic() - t0, 1), bool(mine), mine))
        time.sleep(DOWNTIME)
        bot.start(role)


class JournalProxy(FaultProxy):
    """The fault proxy, noting when each API request was answered and how (kept with --keep)."""

    def __init__(self, upstream: str, *, seed: int) -> None:
        self.journal: list[tuple[float, str, str, int | None]] = []
        super().__init__(upstream, seed=seed)

    def respond(self, request: Any) -> Any:
        answer = super().respond(request)
        status = answer.status if answer is not None else None
        self.journal.append((time.time(), request.method, request.path, status))
        return answer


def write_records(root: Path, fake: FakeGitHub, proxy: JournalProxy) -> None:
    """What the fake sent and what the bot asked, for reading a run's failures afterwards."""
    with (root / "api.log").open("w") as out:
        for at, method, path, status in proxy.journal:
            clock = time.strftime("%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}"
            out.write(f"{clock} {status} {method} {path}\n")
    webhooks = [
        {
            "guid": d.guid,
            "event": f"{d.event}.{d.action}",
            "attempts": [(a.at.isoformat(), a.status, a.error) for a in d.attempts],
        }
        for d in fake.deliveries
    ]
    (root / "webhooks.json").write_text(json.dumps(webhooks, indent=1))


# -- one run --------------------------------------------------------------------------------------


@dataclass
class Request:
    pull: int
    path: str
    ticket: str
    comment: int = 0


@dataclass
class Run:
    mode: str
    scenario: str
    prs: int
    commands: int
    rate: float
    seed: int
    kill: bool
    seconds: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)
    kills: list[Kill] = field(default_factory=list)
    redelivered: int = 0
    result: dict[str, Any] = field(default_factory=dict)


def run(root: Path, spec: Run, timeout: float) -> Run:
    root.mkdir(parents=True)
    fake = FakeGitHub(root / "fake-github").start()
    proxy = JournalProxy(fake.web_url, seed=spec.seed)
    database = ScratchDatabase() if spec.mode == "postgres" else None
    bot = services = chaos_monkey = None
    try:
        world = fake_world.__wrapped__(fake)  # the e2e world: org, team, writers, App installed
        settings = bot_settings(
            root,
            app=world.app,
            api_url=proxy.url + "/api/v3",
            mode=spec.mode,
            database_url=database.url if database else None,
        )
        port = free_port()
        settings = replace(settings, port=port)
        world.app.webhook_url = f"http://127.0.0.1:{port}/webhooks/github"
        fake.drop_pending()  # installation.created, sent before the App had a URL
        first = len(fake.deliveries)
        bot = BotProcesses(settings, port, root, spec.mode)
        for role in bot.roles:
            bot.start(role)
        services = Services(settings)  # the benchmark's own view of the store and queue
        store = services.store
        if spec.rate:
            proxy.chaos(rate=spec.rate)
        t0 = time.monotonic()
        kills: list[Kill] = []
        plan = KILLS[spec.mode] if spec.kill else ()
        loaded = threading.Event()
        chaos_monkey = threading.Thread(
            target=killer, args=(bot, store, plan, loaded, t0, kills), daemon=True
        )
        chaos_monkey.start()
        try:
            requests = load(fake, world, spec)
        finally:
            loaded.set()
        spec.redelivered = settle(fake, bot, store, first, chaos_monkey, t0 + timeout)
        spec.seconds = round(time.monotonic() - t0, 1)
        spec.kills = kills
        spec.faults = proxy.counts()
        bot.stop()
        spec.result = judge(fake, world, store, requests, first, bot.log_text())
        write_records(root, fake, proxy)
    finally:
        if chaos_monkey is not None:
            chaos_monkey.join()  # it may be about to restart a process
        if bot is not None:
            bot.stop()
        if services is not None:
            if spec.mode == "postgres":
                with contextlib.suppress(Exception):
                    services.huey.flush()  # this run's queue only (its own name)
            services.store.dispose()
        proxy.close()
        fake.stop()
        if database is not None:
            database.drop()
    return spec


def load(fake: FakeGitHub, world: Any, spec: Run) -> list[Request]:
    """Open the PRs one after the other, then post the commands at once from threads."""
    requests = []
    for i in range(spec.prs):
        path = f"deploy/svc-{i:02d}/pod.yaml"
        fake.commit(world.repo, f"svc-{i:02d}", {path: PRIVILEGED}, f"svc {i}", author="dev")
        issue = fake.open_pull(world.repo, f"svc-{i:02d}", title=f"Deploy svc {i}", user="dev")
        requests.append(Request(issue.number, path, f"SEC-{100 + i}"))

    def post(request: Request) -> None:
        body = EXEMPT.replace("SEC-12", request.ticket)
        request.comment = fake.comment(world.repo, request.pull, body, user="dev").id

    with ThreadPoolExecutor(max(1, spec.commands)) as pool:
        list(pool.map(post, requests[: spec.commands]))
    return requests


def settle(
    fake: FakeGitHub,
    bot: BotProcesses,
    store: Store,
    first: int,
    chaos_monkey: threading.Thread,
    deadline: float,
) -> int:
    """Wait until every recorded delivery is finished and nothing is in flight; redeliver the
    webhooks the bot refused while it was down. Returns how many were redelivered."""
    redelivered: Counter[str] = Counter()
    quiet_since = None
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            fake.wait_for_deliveries(timeout=5)
        if bot.up.is_set():
            for d in fake.deliveries[first:]:
                if d.status == "failed" and redelivered[d.guid] < 3 and bot.up.is_set():
                    redelivered[d.guid] += 1
                    fake.redeliver(d.guid)
        rows = deliveries(store)
        busy = (
            chaos_monkey.is_alive()
            or any(r.status not in ("done", "failed") for r in rows)
            or any(d.status != "delivered" and redelivered[d.guid] < 3
                   for d in fake.deliveries[first:])
        )  # fmt: skip
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = (time.monotonic(), len(fake.deliveries), len(rows))
        elif quiet_since[1:] != (len(fake.deliveries), len(rows)):
            quiet_since = None
        elif time.monotonic() - quiet_since[0] >= QUIET:
            return sum(redelivered.values())
        time.sleep(0.25)
    print("  timed out before the bot settled", file=sys.stderr)
    chaos_monkey.join()
    return sum(redelivered.values())


# -- judging the outcome --------------------------------------------------------------------------


def judge(
    fake: FakeGitHub, world: Any, store: Store, requests: list[Request], first: int, logs: str
) -> dict[str, Any]:
    repo, app = world.repo, world.app
    problems: list[str] = []

    def runs(sha: str, name: str) -> list[Any]:
        return fake.check_runs(repo, sha=sha, name=name, app=app)

    # checks on the PR heads: one each, completed, failure (a blocking finding, no exception)
    checks_ok = 0
    for r in requests:
        head = fake.pull(repo, r.pull).pull.head_sha
        got = [(c.status, c.conclusion) for c in runs(head, "compliance")]
        if got == [("completed", "failure")]:
            checks_ok += 1
        else:
            problems.append(f"PR #{r.pull} head {head[:8]}: compliance runs {got}")

    # exception PRs: one per request, its own scope and ticket, never an id twice
    exception_prs = [p for p in repo.pulls() if p.pull.head_ref.startswith("compliance/")]
    by_comment: dict[int, list[Any]] = {}
    for p in exception_prs:
        named = [r for r in requests if r.comment and f"(comment {r.comment})" in (p.body or "")]
        for r in named:
            by_comment.setdefault(r.comment, []).append(p)
        if len(named) != 1:
            problems.append(f"exception PR #{p.number} names {len(named)} requests")
    ids = Counter(p.pull.head_ref.rsplit("/", 1)[-1] for p in exception_prs)
    shared_ids = sorted(i for i, n in ids.items() if n > 1)
    commands = [r for r in requests if r.comment]
    prs_ok = replies_ok = mixed = duplicated = failed_replies = 0
    for r in commands:
        mine = by_comment.get(r.comment, [])
        duplicated += max(0, len(mine) - 1)
        for p in mine:
            if not own_scope(fake, repo, p, r):
                mixed += 1
                problems.append(f"exception PR #{p.number} (comment {r.comment}): not its scope")
        if len(mine) == 1 and mine[0].state == "open":
            prs_ok += 1
        else:
            problems.append(f"comment {r.comment} on #{r.pull}: {len(mine)} exception PRs")
        marker = reply_marker(r.comment, 0)
        replies = [c.body for c in fake.comments_on(repo, r.pull) if marker in c.body]
        duplicated += max(0, len(replies) - 1)
        failed = [b for b in replies if "could not be completed" in b]
        failed_replies += len(failed)
        opened = {int(m) for b in replies for m in re.findall(r"Opened #(\d+)", b)}
        if opened - {p.number for p in mine}:
            mixed += 1
            problems.append(f"comment {r.comment}: reply names #{sorted(opened)}")
        if len(replies) == 1 and (opened or not mine):
            replies_ok += 1
        elif len(replies) == 1 and failed and mine:
            problems.append(
                f"comment {r.comment} on #{r.pull}: exception PR #{mine[0].number} "
                f"({mine[0].pull.head_ref}) is open, but the one reply says the command could "
                "not be completed and that nothing it asked for takes effect"
            )
        else:
            problems.append(f"comment {r.comment} on #{r.pull}: {len(replies)} replies")
    orphans = [p.number for p in exception_prs if not any(p in v for v in by_comment.values())]
    duplicated += len(orphans) + sum(n - 1 for n in ids.values())

    # checks on the exception PRs' heads
    review_ok = 0
    for p in exception_prs:
        head = p.pull.head_sha
        got = (
            [(c.status, c.conclusion) for c in runs(head, "compliance")],
            [(c.status, c.conclusion) for c in runs(head, "compliance/exception-review")],
        )
        if got == ([("completed", "success")], [("completed", "failure")]):
            review_ok += 1
        else:
            problems.append(f"exception PR #{p.number} head {head[:8]}: checks {got}")
    all_runs = Counter((c.head_sha, c.name) for c in fake.check_runs(repo, app=app))
    duplicated += sum(n - 1 for n in all_runs.values())
    bot_issues = [i.number for i in repo.issues.values() if i.pull is None and i.app_id == app.id]
    # a retry after the PR exists commits the same file again and moves the branch to it
    numbers = {p.number for p in exception_prs}
    repushed = Counter(
        d.payload["number"]
        for d in fake.deliveries[first:]
        if (d.event, d.action) == ("pull_request", "synchronize") and d.payload["number"] in numbers
    )
    problems.extend(
        f"exception PR #{n}: its branch was pushed again {k} time(s)" for n, k in repushed.items()
    )

    # deliveries: every webhook the bot records has a finished row; executions per row
    rows = {r.id: r for r in deliveries(store)}
    lost: Counter[str] = Counter()
    sent = fake.deliveries[first:]
    recordable = 0
    refused = sum(1 for d in sent for a in d.attempts if not 200 <= (a.status or 0) < 300)
    for d in sent:
        try:
            recorded = bool(route(parse_github(d.event, d.guid, d.payload)))
        except Exception:
            recorded = False  # the bot answers 400: nothing to record
        if not recorded:
            continue
        recordable += 1
        row = rows.get(f"github:{d.guid}")
        if d.status != "delivered":
            lost["never accepted"] += 1
            problems.append(f"delivery {d.guid} ({d.event}.{d.action}) never got a 2xx")
        elif row is None:
            lost["accepted, no row"] += 1
            problems.append(f"delivery {d.guid} ({d.event}.{d.action}) has no row")
    for row in rows.values():
        if row.status == "failed":
            answered = told(fake, repo, row)
            if not answered:
                lost["failed, nobody told"] += 1
            problems.append(
                f"{row.id} ({row.event}.{row.action}{about(row, runs)}) failed after "
                f"{row.attempts} attempts: {row.error} "
                f"({'the requester was told' if answered else 'nobody told'})"
            )
        elif row.status not in ("done", "failed"):
            lost[f"left {row.status}"] += 1
            problems.append(f"{row.id} ({row.event}.{row.action}) left {row.status}")
    skipped: Counter[str] = Counter()
    logged: Counter[str] = Counter()
    for m in LOGGED.finditer(logs):
        (skipped if m.group(3) == "skipped" else logged)[m.group(1)] += 1
    for m in GAVE_UP.finditer(logs):
        logged[m.group(1)] += 1
    executions = {i: r.attempts + skipped[i] for i, r in rows.items()}
    cut_short = sum(max(0, r.attempts - logged[i]) for i, r in rows.items())
    statuses = Counter(r.status for r in rows.values())
    tracebacks = logs.count("Traceback (most recent call last)")
    return {
        "checks_ok": checks_ok,
        "review_checks_ok": review_ok,
        "exception_prs": len(exception_prs),
        "commands": len(commands),
        "prs_ok": prs_ok,
        "replies_ok": replies_ok,
        "failed_replies": failed_replies,
        "mixed": mixed,
        "duplicated": duplicated,
        "shared_ids": shared_ids,
        "orphan_prs": orphans,
        "bot_issues": bot_issues,
        "repushed": sum(repushed.values()),
        "webhooks_sent": len(sent),
        "webhooks_recordable": recordable,
        "webhook_attempts_refused": refused,
        "rows": len(rows),
        "statuses": dict(statuses),
        "lost": sum(lost.values()),
        "lost_by_kind": dict(lost),
        "executions": sum(executions.values()),
        "executions_per_delivery": round(sum(executions.values()) / max(1, len(rows)), 3),
        "executions_max": max(executions.values(), default=0),
        "skipped": sum(skipped.values()),
        "cut_short": cut_short,
        "retried": sum(1 for r in rows.values() if r.attempts > 1),
        "tracebacks": tracebacks,
        "problems": problems,
    }


def own_scope(fake: FakeGitHub, repo: Any, pr: Any, request: Request) -> bool:
    """The exception PR adds one entry: the requesting PR's file, ticket and number."""
    text = fake.file_at(repo, pr.pull.head_sha, ".compliance/exceptions.yaml") or ""
    entries = (yaml.safe_load(text) or {}).get("exceptions") or []
    return (
        len(entries) == 1
        and entries[0].get("paths") == [request.path]
        and entries[0].get("ticket") == request.ticket
        and entries[0].get("id") == pr.pull.head_ref.rsplit("/", 1)[-1]
        and f"in #{request.pull} (comment {request.comment})" in (pr.body or "")
    )


def about(row: Delivery, runs: Any) -> str:
    """Which comment or PR a delivery was about, and the checks on that PR head, for the report."""
    payload = json.loads(row.payload or "{}")
    if "comment" in payload:
        return f", comment {payload['comment']['id']} on #{payload['issue']['number']}"
    pull = payload.get("pull_request") or {}
    if not pull:
        return ""
    sha = pull["head"]["sha"]
    checks = [
        f"{name} {[(c.status, c.conclusion) for c in runs(sha, name)]}"
        for name in ("compliance", "compliance/exception-review")
    ]
    return f", #{pull['number']} head {sha[:8]}: {'; '.join(checks)}"


def told(fake: FakeGitHub, repo: Any, row: Delivery) -> bool:
    """A failed comment delivery counts as answered when each command got its reply."""
    if row.event != "issue_comment" or not row.payload:
        return False
    payload = json.loads(row.payload)
    number, comment = payload["issue"]["number"], payload["comment"]["id"]
    return any(reply_marker(comment, 0) in c.body for c in fake.comments_on(repo, number))


# -- report ---------------------------------------------------------------------------------------


def passed(r: Run) -> dict[str, bool]:
    res = r.result
    met = {
        "checks": res["checks_ok"] == r.prs and res["review_checks_ok"] == res["exception_prs"],
        "commands": res["prs_ok"] == res["replies_ok"] == res["commands"],
        "lost": res["lost"] == 0,
        "mixed": res["mixed"] == 0,
        "duplicated": res["duplicated"] == 0 and res["repushed"] == 0,
    }
    if r.scenario == "calm":
        met["executions"] = res["executions_per_delivery"] <= EXECUTIONS_BUDGET
    return met


def markdown(runs: list[Run], argv: list[str], started: dict[str, Any]) -> str:
    out = [f"`{' '.join(['python benchmarks/chaos.py', *argv])}`\n"]
    out.append(
        f"Machine: {started['cpus']} CPUs, Python {started['python']}; load average "
        f"{started['loadavg']} at start, {machine()['loadavg']} at end; {started['at']}.\n"
    )
    for mode in dict.fromkeys(r.mode for r in runs):
        pair = [r for r in runs if r.mode == mode]
        out.append(f"### {mode}: {STORES[mode]}\n")
        out.append("| | " + " | ".join(scenario_title(r) for r in pair) + " | target |")
        out.append("|---|" + "---|" * len(pair) + "---|")
        for label, cell, target in ROWS:
            out.append(f"| {label} | " + " | ".join(cell(r) for r in pair) + f" | {target} |")
        out.append("")
        for r in pair:
            missed = [k for k, ok in passed(r).items() if not ok]
            if missed or r.result["problems"]:
                out.append(f"{scenario_title(r)}: missed {', '.join(missed) or 'nothing'}.\n")
                out.extend(f"- {p}" for p in r.result["problems"][:40])
                out.append("")
    return "\n".join(out)


def scenario_title(r: Run) -> str:
    if r.scenario == "calm":
        return "calm (no faults, no kill)"
    kills = "kill -9 " + " then ".join(role for role, _ in KILLS[r.mode]) if r.kill else "no kill"
    return f"chaos ({r.rate:.0%} faults, {kills})"


def _kills(r: Run) -> str:
    if not r.kills:
        return "none"
    return "; ".join(
        f"{k.role} at {k.at_s} s, "
        + (f"{len(k.running)} job(s) running" if k.mid_job else "no job running")
        for k in r.kills
    )


def _faults(r: Run) -> str:
    f = r.faults
    if not f.get("injected"):
        return f"0 of {f.get('forwarded', 0)}"
    return (
        f"{f['injected']} of {f['injected'] + f['forwarded'] - f.get('after', 0)} "
        f"({f.get('before', 0)} before, {f.get('after', 0)} after the write)"
    )


def _lost(r: Run) -> str:
    kinds = r.result["lost_by_kind"]
    return str(r.result["lost"]) + (f" ({', '.join(f'{k} {v}' for k, v in kinds.items())})"
                                    if kinds else "")  # fmt: skip


ROWS = [
    ("PRs / commands", lambda r: f"{r.prs} / {r.commands}", ""),
    ("API requests faulted", _faults, ""),
    ("kills", _kills, ""),
    (
        "webhooks sent / recorded by the bot",
        lambda r: f"{r.result['webhooks_sent']} / {r.result['rows']}",
        "",
    ),
    (
        "webhook attempts refused (bot down) / redelivered",
        lambda r: f"{r.result['webhook_attempts_refused']} / {r.redelivered}",
        "",
    ),
    (
        "PR heads: one `compliance` run, failure",
        lambda r: f"{r.result['checks_ok']} / {r.prs}",
        "all",
    ),
    (
        "exception PR heads: one `compliance` (success) + one review run (failure)",
        lambda r: f"{r.result['review_checks_ok']} / {r.result['exception_prs']}",
        "all",
    ),
    (
        "commands: one open exception PR, own scope",
        lambda r: f"{r.result['prs_ok']} / {r.result['commands']}",
        "all",
    ),
    (
        "commands: exactly one reply",
        lambda r: (
            f"{r.result['replies_ok']} / {r.result['commands']}"
            + (
                f" ({r.result['failed_replies']} saying it failed)"
                if r.result["failed_replies"]
                else ""
            )
        ),
        "all",
    ),
    ("mixed effects", lambda r: str(r.result["mixed"]), "0"),
    (
        "duplicated effects (PRs, replies, check runs, ids)",
        lambda r: str(r.result["duplicated"]),
        "0",
    ),
    (
        "exception branches pushed again (same file, new commit)",
        lambda r: str(r.result["repushed"]),
        "0",
    ),
    ("deliveries lost", _lost, "0"),
    (
        "executions per delivery (max)",
        lambda r: f"{r.result['executions_per_delivery']:.3f} ({r.result['executions_max']})",
        f"≤ {EXECUTIONS_BUDGET} calm",
    ),
    (
        "deliveries retried / executions skipped / cut short by a kill",
        lambda r: f"{r.result['retried']} / {r.result['skipped']} / {r.result['cut_short']}",
        "",
    ),
    (
        "final statuses",
        lambda r: ", ".join(f"{k} {v}" for k, v in r.result["statuses"].items()),
        "",
    ),
    ("tracebacks in the logs", lambda r: str(r.result["tracebacks"]), ""),
    ("time to settle", lambda r: f"{r.seconds:.0f} s", ""),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--prs", type=int, default=None, help="pull requests (20; quick 6)")
    parser.add_argument("--commands", type=int, default=None, help="exempt commands (10; quick 3)")
    parser.add_argument("--rate", type=float, default=0.2, help="share of API requests failed")
    parser.add_argument("--seed", type=int, default=SEED, help="the fault proxy's random seed")
    parser.add_argument("--no-kill", action="store_true", help="faults only, no kill -9")
    parser.add_argument(
        "--quick", action="store_true", help="6 PRs, 3 commands, the two modes side by side"
    )
    parser.add_argument("--only", choices=("chaos", "calm"), default=None, help="one scenario")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to settle, per run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--keep", action="store_true", help="keep the data and logs (printed)")
    args = parser.parse_args()
    prs = args.prs or (6 if args.quick else 20)
    commands = min(prs, args.commands if args.commands is not None else (3 if args.quick else 10))
    modes = ["sqlite", "postgres"] if args.mode == "both" else [args.mode]
    missing = services_available()
    if missing and "postgres" in modes:
        print(f"PostgreSQL + Redis mode not run: {missing}", file=sys.stderr)
        if args.mode == "postgres":
            return 2
        modes.remove("postgres")
    scenarios = [args.only] if args.only else ["chaos", "calm"]
    started = machine()
    root = Path(tempfile.mkdtemp(prefix="cb-chaos-"))

    def run_mode(mode: str) -> list[Run]:
        done = []
        for scenario in scenarios:
            chaos = scenario == "chaos"
            spec = Run(
                mode, scenario, prs, commands, args.rate if chaos else 0.0, args.seed,
                chaos and not args.no_kill,
            )  # fmt: skip
            sys.stderr.write(f"  {mode} {scenario}: running\n")
            done.append(run(root / f"{mode}-{scenario}", spec, args.timeout))
            sys.stderr.write(f"  {mode} {scenario}: {passed(done[-1])}\n")
        return done

    try:
        # A run's length is set by the back-off of its unluckiest delivery (up to about two
        # minutes), not by its load; --quick waits for the two modes at once.
        with ThreadPoolExecutor(len(modes) if args.quick else 1) as pool:
            runs = [r for done in pool.map(run_mode, modes) for r in done]
    finally:
        if args.keep:
            print(f"data and logs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps([r.__dict__ for r in runs], indent=2, default=lambda o: o.__dict__))
    else:
        print(markdown(runs, sys.argv[1:], started))
    return 0 if all(all(passed(r).values()) for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
