"""The bot against a forge: REST calls per evaluation, delivery-to-check time, webhook latency.

    python benchmarks/forge.py [--quick] [--json] [--save FILE] [--only calls,check,edge]
                               [--forge github,gitlab] [--profile] [--modes sqlite,postgres]
                               [--edge-repeat N] [--idle SECONDS] [--poll-max-delay SECONDS]
    python benchmarks/forge.py --only restart [--restarts 3] [--warm-runs 2] [--settle 5]
                               [--cold-pool]

DESIGN.md §7 sets three budgets that only the running bot can show; this script measures each
with the real bot (nothing mocked) against the stateful fake GitHub of the end-to-end tests
(``tests/e2e/harness.py``, ``tests/fakes/github``), all on 127.0.0.1:

1. **REST calls per PR evaluation** (budget: at most 2 + ceil(annotations / 50), the same at 10,
   300 and 3,000 changed files). For each size, a fresh repository whose PR head adds that many
   Kubernetes manifests (the seeded, realistic corpus of ``benchmarks/engine.py``: hardened,
   plain and broken workloads, so the number of annotations grows with the files), plus two
   PRs of 10 files with no findings (budget 2). Webhooks are held (the fake's "manual" mode) and
   released one delivery at a time, the bot run until idle after each, so every REST call is
   attributed to the delivery that caused it: the ``pull_request.opened`` evaluation is the one
   the budget is about; the push's ``push`` and ``check_suite.requested`` (sent before the PR
   exists), the bot's own ``check_run`` webhooks, a ``check_run.rerequested`` and a later push
   to the PR (``check_suite.requested`` + ``pull_request.synchronize``) are reported beside it.
   Minting the installation token (``POST /app/installations/{id}/access_tokens``) is App-level,
   about once an hour per installation, and is counted apart; git requests are not REST calls.
2. **Delivery to completed check** for a 300-file PR (budget: median under 1 s): from the
   moment the fake sends ``pull_request.opened`` to the check run being completed on the fake
   (its conclusion visible), and to the last annotation batch arriving. A fresh head (new
   manifests) every run, after one unmeasured warm-up run; the bot in-process as in the
   end-to-end tests (waitress + two Huey consumer threads), SQLite + SQLite queue, and
   PostgreSQL + Redis; once with the workers just busy (the push's webhooks a moment before),
   once after ``--idle`` seconds of an idle bot. ``--poll-max-delay 10`` restores Huey's default
   polling of the SQLite queue, to compare with the bot's.
3. **Webhook response latency** at 100 deliveries per second (budget: p99 under 50 ms, nothing
   lost): ``compliance-bot web`` (gunicorn, its default 2 workers x 4 threads) as a subprocess
   with PostgreSQL + Redis and with SQLite, and ``serve``'s web server (waitress, 8 threads,
   through the e2e harness, its consumer off) with SQLite; no worker runs. An open-loop
   generator sends each request at its slot on a fixed schedule whatever the earlier ones did,
   on a new connection as GitHub does, so latency, counted from the slot, includes queueing;
   correctly signed ``pull_request`` deliveries (a real payload from the fake) with unique
   delivery ids, after 1 s of warm-up. Then every delivery id is looked up in the
   ``deliveries`` table and in the queue. The machine's CPU use during the load is reported.

4. **GitLab** (``--forge gitlab``; budget: API calls per MR evaluation constant in the number
   of files, plus one per batch of inline discussions): the same bot against the fake GitLab
   (``tests/fakes/gitlab``) in the GitLab stories' world (``tests/e2e/gitlab_world.py``). For
   10, 300 and 3,000 changed files (the same seeded corpus) and a clean MR of 10 files, a fresh
   project whose MR adds them; webhooks held and released one at a time, the calls of the
   ``Merge Request Hook`` ``open`` delivery alone counted (the fake's ``calls`` reset before
   it), split into the discussion writes (each inline discussion is one request on GitLab, at
   most 20 open per MR and check) and the rest, which must not change with the files; the
   push before, the bot's own ``Note Hook`` deliveries and a later push to the MR (``Push
   Hook``, ``Merge Request Hook`` ``update``) beside it. Then delivery to completed status for
   a 300-file MR: from the release of ``open`` to the ``compliance`` status finished on the fake,
   and to the bot idle (summary note and discussions posted), fresh head each run, one warm-up.
   The webhook edge is the same code for both forges and is measured on GitHub's.

5. **The first delivery after a restart** (``--only restart``; issue 14, target: within 1.5x of
   a warm one): ``compliance-bot serve`` as a real subprocess (SQLite + SQLite queue) against
   the fake GitHub, so a restart is a fresh process: fresh imports, fresh evaluation processes.
   After one unmeasured PR (the mirror's first clone), each of ``--restarts`` rounds pushes a
   300-file head and releases its ``push`` and ``check_suite.requested``, opens the PR (its
   ``pull_request.opened`` held), restarts the bot (SIGTERM, start, healthy, then ``--settle``
   seconds, a delivery arriving that long after the restart), and times that delivery to the
   completed check as in 2 (the *first* delivery); then ``--warm-runs`` whole PRs (push, then
   PR) in the same process, timed the same way (*warm*). The time from the start of the process
   to ``/healthz`` answering is reported beside them. ``--cold-pool`` is the A/B: ``serve`` with
   its evaluation processes started by the first large PR, as before.

``--profile`` runs 300-file evaluations in the main thread, timed stage by stage, and one whole
job under cProfile. The script measures; it never fails on a budget. Load averages are printed
with the results: every number here shares two cores with whatever else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib
import io
import json
import math
import os
import platform
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from sqlalchemy import select  # noqa: E402

from benchmarks.engine import APPS, TEAMS, ManifestWriter  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.store.tables import Delivery  # noqa: E402
from tests.e2e.conftest import BASE_FILES, World  # noqa: E402
from tests.e2e.gitlab_world import GitLabWorld, open_gitlab_world  # noqa: E402
from tests.e2e.harness import (  # noqa: E402
    REDIS,
    BotUnderTest,
    ScratchDatabase,
    bot_settings,
    services_available,
)
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.github.auth import generate_key_pair  # noqa: E402
from tests.fakes.github.webhooks import signature  # noqa: E402
from tests.fakes.gitlab import FakeGitLab  # noqa: E402

SEED = 20260701
SIZES = (10, 300, 3000)
BATCH = 50  # annotations per check-run request (GitHub's limit; bot/forge/github.py)
TOKEN_MINT = ("POST", "/app/installations/{installation_id}/access_tokens")
IDLE_TIMEOUT = 900.0


# -- the world ------------------------------------------------------------------------------------


def manifests(count: int, seed: int) -> dict[str, str]:
    """``count`` manifests under ``deploy/``, the corpus of benchmarks/engine.py (same seed, same
    bytes)."""
    writer = ManifestWriter(seed)
    return {f"deploy/{path}": text for path, text in (writer.file(i) for i in range(count))}


def clean_manifests(count: int, seed: int) -> dict[str, str]:
    """``count`` ConfigMaps from the same generator: files no bundled policy finds fault with."""
    writer = ManifestWriter(seed)
    files = {}
    for i in range(count):
        team, app = writer.rng.choice(TEAMS), writer.rng.choice(APPS)
        text = yaml.safe_dump(writer.config_map(app, team), sort_keys=False, width=120)
        files[f"deploy/{team}/{app}-config-{i:04d}.yaml"] = text
    return files


@contextlib.contextmanager
def world(root: Path, mode: str) -> Iterator[World]:
    """The e2e world (tests/e2e/conftest.py): org acme, App installed, the bot under test."""
    fake = FakeGitHub(root / "fake-github").start()
    database = ScratchDatabase() if mode == "postgres" else None
    bot = None
    try:
        fake.add_org("acme")
        for login in ("dev", "alice", "bob"):
            fake.add_user(login)
        fake.add_team("acme", "security", members=["alice"])
        repo = fake.create_repo("acme/shop", files=BASE_FILES)
        app = fake.create_app(owner="acme")
        installation = fake.install(app, "acme")
        settings = bot_settings(
            root,
            app=app,
            api_url=fake.api_url,
            mode=mode,
            database_url=database.url if database else None,
        )
        bot = BotUnderTest(settings).start()
        app.webhook_url = f"{bot.url}/webhooks/github"
        fake.webhook_mode = "manual"  # every webhook is released by the benchmark
        fake.drop_pending()  # installation.created, sent before the bot had a URL
        yield World(fake, app, installation, repo, bot)
    finally:
        if bot is not None:
            bot.stop()
        fake.stop()
        if database is not None:
            database.drop()


def held(w: World, event: str, action: str | None = None) -> list:
    return [d for d in w.fake.pending_deliveries() if d.event == event and d.action == action]


def release(w: World, deliveries: list) -> tuple[Counter, int]:
    """Send these held deliveries, run the bot until idle; the REST calls and git fetches made."""
    w.fake.reset_calls()
    w.fake.deliver_pending([d.guid for d in deliveries])
    w.bot.wait_idle(IDLE_TIMEOUT)
    return Counter(w.fake.calls), len(w.fake.git_fetches)


def drop_bot_webhooks(w: World) -> None:
    """The bot's own check_run.created/completed webhooks, after they have been accounted."""
    w.fake.drop_pending([d.guid for d in w.fake.pending_deliveries() if d.event == "check_run"])


def split(calls: Counter) -> tuple[int, int, dict[str, int]]:
    """(REST calls without the token mint, token mints, calls by endpoint)."""
    mints = calls.get(TOKEN_MINT, 0)
    rest = {f"{m} {t}": n for (m, t), n in sorted(calls.items()) if (m, t) != TOKEN_MINT}
    return sum(rest.values()), mints, rest


def budget(annotations: int) -> int:
    return 2 + math.ceil(annotations / BATCH)


# -- 1. REST calls per evaluation ------------------------------------------------------------------


def open_and_evaluate(w: World, repo: Any, branch: str, files: dict[str, str]) -> dict[str, Any]:
    """Push ``files`` on a new branch, open a PR from it; every delivery released in turn."""
    fake = w.fake
    sha = fake.commit(repo, branch, files, f"{len(files)} manifests", author="dev")
    steps: dict[str, tuple[Counter, int, int]] = {}
    # The push is delivered before the PR exists, as on GitHub (push, then open a PR).
    calls, fetches = release(w, held(w, "push") + held(w, "check_suite", "requested"))
    steps["push + check_suite.requested (no PR yet)"] = (calls, fetches, 0)
    issue = fake.open_pull(repo, branch, title=f"{len(files)} manifests", user="dev")
    calls, fetches = release(w, held(w, "pull_request", "opened"))
    (run,) = fake.check_runs(repo, sha=sha, name="compliance", app=w.app)
    assert run.status == "completed", run
    annotations = len(run.annotations)
    steps["pull_request.opened (the evaluation)"] = (calls, fetches, annotations)
    evaluation = split(calls)
    own = held(w, "check_run", "created") + held(w, "check_run", "completed")
    steps["the bot's own check_run.created/completed"] = (*release(w, own), 0)
    rest, mints, by_endpoint = evaluation
    return {
        "mode": "",
        "files": len(files),
        "pull": issue.number,
        "annotations": annotations,
        "calls": rest,
        "budget": budget(annotations),
        "pass": rest <= budget(annotations),
        "token_mints": mints,
        "by_endpoint": by_endpoint,
        "steps": steps,
        "run": run,
        "sha": sha,
    }


def measure_calls(
    root: Path, sizes: tuple[int, ...], mode: str, story: bool = True
) -> list[dict[str, Any]]:
    """REST calls for each delivery of a PR's story; ``story=False`` stops after the opening."""
    rows = []
    with world(root, mode) as w:
        fake = w.fake
        for n in sizes:
            repo = fake.create_repo(f"acme/calls-{n}", files=BASE_FILES)
            files = manifests(n, SEED + n)
            row = open_and_evaluate(w, repo, "feature", files)
            row["case"] = "manifests"
            steps, run = row["steps"], row["run"]
            if story:
                before = len(run.annotations)
                fake.rerequest_check_run(run, user="dev")
                calls, fetches = release(w, held(w, "check_run", "rerequested"))
                drop_bot_webhooks(w)
                steps["check_run.rerequested (same head)"] = (
                    calls, fetches, len(run.annotations) - before,
                )  # fmt: skip
                # A later push to the PR: GitHub sends check_suite.requested (now naming the PR)
                # and pull_request.synchronize; both ask for an evaluation of the same head.
                first = next(iter(files))
                head2 = fake.commit(repo, "feature", {first: files[first] + "# touched\n"}, "touch")
                calls, fetches = release(w, held(w, "push"))
                steps["push (to the PR)"] = (calls, fetches, 0)
                for event, action in (
                    ("check_suite", "requested"),
                    ("pull_request", "synchronize"),
                ):
                    before = sum(len(r.annotations) for r in fake.check_runs(repo, sha=head2))
                    calls, fetches = release(w, held(w, event, action))
                    after = sum(len(r.annotations) for r in fake.check_runs(repo, sha=head2))
                    steps[f"{event}.{action} (after that push)"] = (calls, fetches, after - before)
                drop_bot_webhooks(w)
                assert len(fake.check_runs(repo, sha=head2, name="compliance")) == 1
            rows.append(row)
            print(f"  calls: {n} files: {row['calls']} calls, {row['annotations']} annotations",
                  file=sys.stderr)  # fmt: skip
        # No findings at all: the budget is then 2, whatever else the evaluation asks.
        repo = fake.create_repo("acme/calls-clean", files=BASE_FILES)
        for i, case in enumerate(("no findings, first PR on its base", "no findings, same base")):
            row = open_and_evaluate(w, repo, f"clean-{i}", clean_manifests(10, SEED + i))
            row["case"] = case
            rows.append(row)
        for row in rows:
            row["mode"] = mode
            row["violations"] = len(fake.violations)
            row["deliveries"] = [
                {
                    "delivery": name,
                    "calls": split(c)[0],
                    "token_mints": split(c)[1],
                    "git_fetches": f,
                    "annotations_sent": a,
                    "budget": budget(a),
                    "by_endpoint": split(c)[2],
                }
                for name, (c, f, a) in row.pop("steps").items()
            ]
            del row["run"]
    return rows


# -- 2. delivery to completed check ----------------------------------------------------------------


class CheckWatcher(threading.Thread):
    """Polls the fake's check runs for one head every 2 ms; notes when each change was seen."""

    def __init__(self, w: World, repo: Any, sha: str) -> None:
        super().__init__(daemon=True)
        self.w, self.repo, self.sha = w, repo, sha
        self.t0 = 0.0
        self.completed: float | None = None
        self.seen: list[tuple[float, int]] = []  # (time, annotations) at each change
        self.stop = threading.Event()

    def run(self) -> None:
        last = -1
        while not self.stop.is_set():
            runs = self.w.fake.check_runs(
                self.repo, sha=self.sha, name="compliance", app=self.w.app
            )
            now = time.perf_counter()
            if runs:
                if self.completed is None and runs[0].status == "completed":
                    self.completed = now
                count = len(runs[0].annotations)
                if count != last:
                    self.seen.append((now, count))
                    last = count
            time.sleep(0.002)


def measure_check_time(
    root: Path, mode: str, runs: int, files: int, idle: float = 0.0
) -> dict[str, Any]:
    """Runs on fresh heads; ``idle`` seconds pass, the bot idle, between the push's webhooks
    and ``pull_request.opened`` (0: the workers have just been busy)."""
    samples = []
    with world(root, mode) as w:
        fake = w.fake
        repo = fake.create_repo("acme/latency", files=BASE_FILES)
        for i in range(runs + 1):  # run 0 warms up: first clone of the mirror, rules, imports
            branch = f"change-{i}"
            sha = fake.commit(
                repo, branch, manifests(files, SEED + 1000 + i), "manifests", author="dev"
            )
            release(w, held(w, "push") + held(w, "check_suite", "requested"))
            fake.open_pull(repo, branch, title=f"change {i}", user="dev")
            time.sleep(idle if i else 0)
            watcher = CheckWatcher(w, repo, sha)
            watcher.start()
            opened = held(w, "pull_request", "opened")
            cpu = time.process_time()
            watcher.t0 = t0 = time.perf_counter()
            fake.deliver_pending([d.guid for d in opened])
            w.bot.wait_idle(IDLE_TIMEOUT)
            done = time.perf_counter()
            cpu = time.process_time() - cpu
            time.sleep(0.01)
            watcher.stop.set()
            watcher.join()
            drop_bot_webhooks(w)
            final = watcher.seen[-1][1] if watcher.seen else 0
            last_batch = next(t for t, n in watcher.seen if n == final)
            sample = {
                "run": i,
                "completed_s": round((watcher.completed or done) - t0, 4),
                "all_annotations_s": round(last_batch - t0, 4),
                "job_idle_s": round(done - t0, 4),
                "process_cpu_s": round(cpu, 4),  # bot and fake (one process), git excluded
                "annotations": final,
            }
            samples.append(sample)
            print(f"  check {mode} idle {idle}s run {i}: {sample}", file=sys.stderr)
    measured = samples[1:]
    completed = [s["completed_s"] for s in measured]
    annotated = [s["all_annotations_s"] for s in measured]
    return {
        "mode": mode,
        "files": files,
        "idle_s": idle,
        "runs": runs,
        "warmup_completed_s": samples[0]["completed_s"],
        "median_s": round(statistics.median(completed), 3),
        "p90_s": round(quantile(completed, 0.9), 3),
        "min_s": round(min(completed), 3),
        "max_s": round(max(completed), 3),
        "median_all_annotations_s": round(statistics.median(annotated), 3),
        "p90_all_annotations_s": round(quantile(annotated, 0.9), 3),
        "annotations_median": statistics.median(s["annotations"] for s in measured),
        "process_cpu_median_s": round(statistics.median(s["process_cpu_s"] for s in measured), 3),
        "pass": statistics.median(completed) < 1.0,
        "samples": samples,
    }


# A/B (``--cold-pool``): ``serve`` as before issue 14, its evaluation processes started by the
# first large PR instead of at start.
COLD_POOL_SERVE = """
import sys
from bot.services import Services
Services.warm_evaluation_pool = lambda self: None
from bot.cli import main
sys.exit(main(["serve"]))
"""


class ServeProcess:
    """``compliance-bot serve`` in a subprocess, on the bot's data directory; waiting for idle
    reads its store and queue as ``BotUnderTest.wait_idle`` does."""

    def __init__(self, settings: Settings, fake: FakeGitHub, cold_pool: bool = False) -> None:
        self.settings, self.fake, self.cold_pool = settings, fake, cold_pool
        self.reader = Services(settings)  # reads the deliveries and the queue; runs nothing
        self.reader.migrate()
        self.proc: subprocess.Popen | None = None
        self.started_to_healthy_s = 0.0

    def start(self) -> ServeProcess:
        env = web_env(self.settings)
        env.update({"COMPLIANCE_BOT_WORKERS": str(self.settings.worker_threads),
                    "PYTHONPATH": str(REPO)})  # fmt: skip
        command = [str(Path(sys.executable).parent / "compliance-bot"), "serve"]
        if self.cold_pool:
            command = [sys.executable, "-c", COLD_POOL_SERVE]
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            command, env=env, cwd=self.settings.data_dir, stdout=subprocess.DEVNULL
        )
        wait_healthy(self.settings.port, self.proc)
        self.started_to_healthy_s = time.perf_counter() - started
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)

    def wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.fake.wait_for_deliveries(timeout)
            with self.reader.store.session() as s:
                statuses = list(s.scalars(select(Delivery.status)))
            if all(st in ("done", "failed") for st in statuses) and (
                self.reader.huey.pending_count() == 0
            ):
                return
            time.sleep(0.02)
        raise TimeoutError("bot still busy")


def timed_opened(w: Any, repo: Any, sha: str) -> dict[str, float]:
    """Release the held ``pull_request.opened``; seconds to the completed check, as in 2."""
    watcher = CheckWatcher(w, repo, sha)
    watcher.start()
    opened = held(w, "pull_request", "opened")
    watcher.t0 = t0 = time.perf_counter()
    w.fake.deliver_pending([d.guid for d in opened])
    w.bot.wait_idle(IDLE_TIMEOUT)
    done = time.perf_counter()
    time.sleep(0.01)
    watcher.stop.set()
    watcher.join()
    drop_bot_webhooks(w)
    final = watcher.seen[-1][1] if watcher.seen else 0
    return {
        "completed_s": round((watcher.completed or done) - t0, 4),
        "job_idle_s": round(done - t0, 4),
        "annotations": final,
    }


def measure_restart(
    root: Path,
    restarts: int,
    warm_runs: int,
    settle: float,
    files: int = 300,
    cold_pool: bool = False,
) -> dict[str, Any]:
    """The first delivery after a restart of ``serve`` against warm ones (see 5 above)."""
    fake = FakeGitHub(root / "fake-github").start()
    bot = None
    try:
        fake.add_org("acme")
        fake.add_user("dev")
        repo = fake.create_repo("acme/restart", files=BASE_FILES)
        app = fake.create_app(owner="acme")
        installation = fake.install(app, "acme")
        settings = replace(
            bot_settings(root, app=app, api_url=fake.api_url, mode="sqlite", database_url=None),
            port=free_port(),
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        app.webhook_url = f"http://127.0.0.1:{settings.port}/webhooks/github"
        fake.webhook_mode = "manual"
        fake.drop_pending()
        bot = ServeProcess(settings, fake, cold_pool).start()
        w = World(fake, app, installation, repo, bot)  # type: ignore[arg-type]
        count = iter(range(10**6))

        def push_and_open() -> str:
            i = next(count)
            branch = f"restart-{i}"
            sha = fake.commit(repo, branch, manifests(files, SEED + 5000 + i), "m", author="dev")
            release(w, held(w, "push") + held(w, "check_suite", "requested"))
            fake.open_pull(repo, branch, title=f"change {i}", user="dev")
            return sha

        warmup = timed_opened(w, repo, push_and_open())  # the mirror's first clone
        first, warm, healthy = [], [], []
        for r in range(restarts):
            sha = push_and_open()  # the push's deliveries reach the process before the restart
            bot.stop()
            bot.start()
            healthy.append(round(bot.started_to_healthy_s, 3))
            time.sleep(settle)
            first.append(timed_opened(w, repo, sha))
            print(f"  restart {r}: healthy in {healthy[-1]} s, first {first[-1]}", file=sys.stderr)
            for _ in range(warm_runs):
                warm.append(timed_opened(w, repo, push_and_open()))
                print(f"  restart {r}: warm {warm[-1]}", file=sys.stderr)
    finally:
        if bot is not None:
            bot.stop()
        fake.stop()
    cold_s = [s["completed_s"] for s in first]
    warm_s = [s["completed_s"] for s in warm]
    ratio = statistics.median(cold_s) / statistics.median(warm_s)
    return {
        "files": files,
        "pool": "started by the first large PR (--cold-pool)" if cold_pool else "warm at start",
        "restarts": restarts,
        "settle_s": settle,
        "warmup_completed_s": warmup["completed_s"],
        "healthy_s": healthy,
        "first": first,
        "warm": warm,
        "first_median_s": round(statistics.median(cold_s), 3),
        "warm_median_s": round(statistics.median(warm_s), 3),
        "first_max_s": round(max(cold_s), 3),
        "warm_max_s": round(max(warm_s), 3),
        "annotations_median": statistics.median(s["annotations"] for s in first + warm),
        "ratio": round(ratio, 2),
        "pass": ratio <= 1.5,
    }


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (no interpolation: a p99 is a latency that really happened)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# The stages of ``_run_check`` (bot/handlers/pull_request.py) timed by --profile; a stage whose
# function is renamed is skipped, never guessed.
STAGES = (
    ("git fetch (mirror, two refs)", "bot.forge.github", "GitHubForge", "fetch"),
    ("evaluate (diff, blobs, rules, policy engine)", "bot.handlers.pull_request", "", "evaluate"),
    ("CODEOWNERS hygiene", "bot.handlers.pull_request", "", "codeowners_hygiene"),
    ("render the check output", "bot.handlers.pull_request", "", "check_output"),
    ("post the check (REST calls, store, audit)", "bot.actions", "Actions", "post_check"),
)


@contextlib.contextmanager
def stage_timer() -> Iterator[dict[str, float]]:
    """Wall time spent in each of ``STAGES`` while the block runs (wrappers, removed after)."""
    times: dict[str, float] = {}
    wrapped = []
    for label, module, cls, name in STAGES:
        owner = importlib.import_module(module)
        owner = getattr(owner, cls) if cls else owner
        fn = getattr(owner, name, None)
        if fn is None:
            continue

        def timed(*args: Any, _fn: Any = fn, _label: str = label, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                times[_label] = times.get(_label, 0.0) + time.perf_counter() - t

        wrapped.append((owner, name, fn))
        setattr(owner, name, timed)
    try:
        yield times
    finally:
        for owner, name, fn in wrapped:
            setattr(owner, name, fn)


def profile_evaluation(root: Path, files: int) -> dict[str, Any]:
    """Whole 300-file jobs run in this thread, as the worker runs them: three timed stage by
    stage (after a warm-up), then one under cProfile."""
    with world(root, "sqlite") as w:
        w.bot.consumer.stop()  # jobs run here, in this thread, not on the consumer
        fake = w.fake
        repo = fake.create_repo("acme/profile", files=BASE_FILES)
        services = w.bot.services
        stages: list[dict[str, float]] = []
        prof = cProfile.Profile()
        for i in range(5):
            branch = f"p-{i}"
            fake.commit(repo, branch, manifests(files, SEED + 2000 + i), "manifests", author="dev")
            fake.drop_pending()  # push, check_suite: not this measurement
            fake.open_pull(repo, branch, user="dev")
            fake.deliver_pending([d.guid for d in held(w, "pull_request", "opened")])
            (row,) = [d for d in w.bot.deliveries() if d.status == "queued"]
            if i < 4:
                with stage_timer() as times:
                    t = time.perf_counter()
                    services.jobs._process_delivery(row.id)
                    times["whole job"] = time.perf_counter() - t
                if i:
                    stages.append(times)
            else:
                prof.enable()
                t = time.perf_counter()
                services.jobs._process_delivery(row.id)
                job = time.perf_counter() - t
                prof.disable()
            fake.drop_pending()  # the bot's own check_run webhooks
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
        out.write("\n")
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
    median = {k: round(statistics.median(s[k] for s in stages), 4) for k in stages[0]}
    return {
        "files": files,
        "stages_median": median,
        "job_s": round(job, 3),
        "profile": out.getvalue(),
    }


# -- 3. webhook edge latency -----------------------------------------------------------------------


def sample_payload(root: Path) -> tuple[bytes, int]:
    """A real ``pull_request.opened`` body from the fake (and its installation id)."""
    fake = FakeGitHub(root / "payload-fake").start()
    try:
        fake.add_org("acme")
        fake.add_user("dev")
        repo = fake.create_repo("acme/shop", files=BASE_FILES)
        app = fake.create_app(owner="acme", webhook_url="http://127.0.0.1:9/unused")
        inst = fake.install(app, "acme")
        fake.webhook_mode = "manual"
        fake.commit(repo, "feature", manifests(3, SEED), "manifests", author="dev")
        fake.open_pull(repo, "feature", title="Deploy three services", user="dev")
        (opened,) = [d for d in fake.pending_deliveries() if d.event == "pull_request"]
        return opened.body, inst.id
    finally:
        fake.stop()


def cpu_busy(since: Any = None) -> Any:
    """All CPUs' busy share (percent) since an earlier reading of /proc/stat, or a reading."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle, total = fields[3] + fields[4], sum(fields)
    if since is None:
        return (idle, total)
    d_idle, d_total = idle - since[0], total - since[1]
    return round(100 * (1 - d_idle / d_total), 1) if d_total else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _post(
    port: int, head: bytes, body: bytes, slot: float, timeout: float
) -> tuple[float, float, int | None, str | None]:
    """(latency from the slot, send lag, HTTP status, error)."""
    lag = time.perf_counter() - slot
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(head + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        length = 0
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await asyncio.wait_for(reader.readexactly(length), timeout)
        status = int(status_line.split()[1])
        return time.perf_counter() - slot, lag, status, None
    except Exception as exc:  # the error is the measurement
        return time.perf_counter() - slot, lag, None, f"{type(exc).__name__}: {exc}"
    finally:
        if writer is not None:
            writer.close()


async def open_loop(
    port: int, body: bytes, secret: str, rate: float, count: int, timeout: float = 10.0
) -> tuple[list[str], list[tuple[float, float, int | None, str | None]]]:
    """Send ``count`` deliveries at ``rate`` per second on a fixed schedule, each on its own
    connection, without waiting for earlier answers; latency counts from each one's slot."""
    sig = signature(secret, body)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    tasks = []
    start = time.perf_counter() + 0.05
    for i, delivery in enumerate(ids):
        slot = start + i / rate
        delay = slot - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        head = (
            "POST /webhooks/github HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "User-Agent: GitHub-Hookshot/benchmark\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "X-GitHub-Event: pull_request\r\n"
            f"X-GitHub-Delivery: {delivery}\r\n"
            f"X-Hub-Signature-256: {sig}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        tasks.append(asyncio.create_task(_post(port, head, body, slot, timeout)))
    results = await asyncio.gather(*tasks)
    return ids, list(results)


def edge_settings(root: Path, mode: str, database_url: str | None, secret: str) -> Settings:
    private_key, _ = generate_key_pair()
    settings = Settings(
        data_dir=root,
        github_app_id="1",
        github_private_key=private_key,
        github_webhook_secret=secret,
        github_api_url="http://127.0.0.1:9/api/v3",  # never called: the edge makes no forge call
        port=free_port(),
    )
    if mode == "postgres":
        settings = replace(
            settings,
            database_url=database_url,
            redis_url=REDIS,
            queue_name=f"cb-bench-{uuid.uuid4().hex[:8]}",
        )
    return settings


def web_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "COMPLIANCE_BOT_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(
        {
            "HOST": "127.0.0.1",
            "PORT": str(settings.port),
            "COMPLIANCE_BOT_DATA_DIR": str(settings.data_dir),
            "GITHUB_APP_ID": str(settings.github_app_id),
            "GITHUB_PRIVATE_KEY": str(settings.github_private_key),
            "GITHUB_WEBHOOK_SECRET": str(settings.github_webhook_secret),
            "GITHUB_API_URL": settings.github_api_url,
            "COMPLIANCE_BOT_QUEUE_NAME": settings.queue_name,
            "LOG_LEVEL": "WARNING",
        }
    )
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"compliance-bot web exited with {proc.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r,
        ):
            if r.status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError("compliance-bot web did not become healthy")


# `serve`'s web server (waitress, 8 threads, as in the e2e harness) without its consumer.
EMBEDDED_WEB = """
import signal, sys, threading
sys.path.insert(0, sys.argv[1])
from bot.config import Settings
from tests.e2e.harness import BotUnderTest
bot = BotUnderTest(Settings.from_env(dotenv=None)).start(consume=False)
print(bot.url.rsplit(":", 1)[1], flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
bot.stop()
"""


def start_web(server: str, settings: Settings) -> tuple[subprocess.Popen, int]:
    env = web_env(settings)
    root = settings.data_dir
    root.mkdir(parents=True, exist_ok=True)
    if server == "gunicorn":
        command = [str(Path(sys.executable).parent / "compliance-bot"), "web"]
        proc = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.DEVNULL)
        port = settings.port
    else:
        command = [sys.executable, "-c", EMBEDDED_WEB, str(REPO)]
        proc = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip() or 0)
    wait_healthy(port, proc)
    return proc, port


def measure_edge(
    root: Path, server: str, mode: str, rate: float, seconds: float, body: bytes
) -> dict[str, Any]:
    secret = uuid.uuid4().hex
    database = ScratchDatabase() if mode == "postgres" else None
    settings = edge_settings(
        root / f"{server}-{mode}", mode, database.url if database else None, secret
    )
    proc = None
    services = None
    try:
        proc, port = start_web(server, settings)
        # Warm-up: gunicorn workers open their database and queue connections on first use.
        warm_ids, warm = asyncio.run(open_loop(port, body, secret, rate, int(rate)))
        busy = cpu_busy()
        ids, results = asyncio.run(open_loop(port, body, secret, rate, int(rate * seconds)))
        busy = cpu_busy(busy)
        services = Services(settings)
        sent = warm_ids + ids
        accepted = {d for d, r in zip(sent, warm + results, strict=True) if r[2] == 202}
        with services.store.session() as s:
            rows = set(
                s.scalars(select(Delivery.id).where(Delivery.id.in_([f"github:{d}" for d in sent])))
            )
        queued = Counter(t.args[0] for t in services.huey.pending())
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if services is not None:
            with contextlib.suppress(Exception):
                services.huey.flush()  # our queue only (a name made for this run)
            services.store.dispose()
        if database is not None:
            database.drop()
    latencies = [r[0] * 1000 for r in results if r[2] == 202]
    slow = [i for i, r in enumerate(results) if r[0] > 0.050]
    lags = [r[1] * 1000 for r in results]
    errors = Counter(
        str(r[2]) if r[3] is None else r[3].split(":")[0] for r in results if r[2] != 202
    )
    lost_rows = [d for d in accepted if f"github:{d}" not in rows]
    lost_jobs = [d for d in accepted if queued[f"github:{d}"] < 1]
    duplicated = sum(1 for n in queued.values() if n > 1)
    return {
        "mode": mode,
        "rate": rate,
        "seconds": seconds,
        "sent": len(ids),
        "warmup": len(warm_ids),
        "accepted": sum(1 for r in results if r[2] == 202),
        "p50_ms": round(quantile(latencies, 0.5), 1),
        "p90_ms": round(quantile(latencies, 0.9), 1),
        "p99_ms": round(quantile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
        "send_lag_p99_ms": round(quantile(lags, 0.99), 1),
        "over_50ms": len(slow),
        "seconds_with_one_over_50ms": len({int(i / rate) for i in slow}),
        "machine_cpu_busy_pct": busy,
        "errors": dict(errors),
        "lost_rows": len(lost_rows),
        "lost_jobs": len(lost_jobs),
        "jobs_queued_twice": duplicated,
        "pass": quantile(latencies, 0.99) < 50 and not errors and not lost_rows and not lost_jobs,
        "server": server,
    }


# -- 4. GitLab: API calls per MR evaluation, delivery to completed status -------------------------

# Each inline discussion is its own request on GitLab (no batch of annotations, as GitHub's check
# run has): the writes that place, resolve or reopen one are the "one per batch" of the budget.
GL_DISCUSSION_WRITES = (
    ("POST", "/projects/{id}/merge_requests/{merge_request_iid}/discussions"),
    ("PUT", "/projects/{id}/merge_requests/{merge_request_iid}/discussions/{discussion_id}"),
)
# The token's own user, asked once per process (the forge remembers who it is): counted apart,
# as GitHub's token mints are.
GL_ONCE = ("GET", "/user")
GL_BLOCKING = re.compile(r"^(\d+) blocking finding")


@contextlib.contextmanager
def gitlab_world(root: Path, mode: str) -> Iterator[GitLabWorld]:
    """The GitLab stories' world (tests/e2e/gitlab_world.py) on a fresh fake GitLab, the bot
    under test in ``mode``, every webhook held for the benchmark to release."""
    fake = FakeGitLab(root / "fake-gitlab").start()
    database = ScratchDatabase() if mode == "postgres" else None
    try:
        with open_gitlab_world(fake, root, mode, database.url if database else None) as w:
            fake.webhook_mode = "manual"
            yield w
    finally:
        fake.stop()
        if database is not None:
            database.drop()


def gl_held(w: GitLabWorld, event: str, action: str | None = None) -> list:
    return [d for d in w.fake.pending_deliveries() if d.event == event and d.action == action]


def gl_release(w: GitLabWorld, deliveries: list) -> tuple[Counter, int]:
    """Send these held deliveries, run the bot until idle; the API calls and git fetches made."""
    w.fake.reset_calls()
    w.fake.deliver_pending([d.id for d in deliveries])
    w.bot.wait_idle(IDLE_TIMEOUT)
    return Counter(w.fake.calls), len(w.fake.git_fetches)


def gl_split(calls: Counter) -> tuple[int, int, int, dict[str, int]]:
    """(API calls without ``GET /user``, of which discussion writes, ``GET /user`` calls,
    calls by endpoint)."""
    once = calls.get(GL_ONCE, 0)
    by_endpoint = {f"{m} {t}": n for (m, t), n in sorted(calls.items()) if (m, t) != GL_ONCE}
    writes = sum(calls.get(k, 0) for k in GL_DISCUSSION_WRITES)
    return sum(calls.values()) - once, writes, once, by_endpoint


def gl_blocking(w: GitLabWorld, project: Any, sha: str) -> int:
    (status,) = w.fake.statuses(project, sha, name="compliance", latest=True)
    found = GL_BLOCKING.match(status.description or "")
    return int(found[1]) if found else 0


def gl_open_and_evaluate(
    w: GitLabWorld, project: Any, branch: str, files: dict[str, str]
) -> dict[str, Any]:
    """Push ``files`` on a new branch, open a merge request from it; deliveries released in turn."""
    fake = w.fake
    sha = fake.commit(project, branch, files, f"{len(files)} manifests", author="dev")
    steps: dict[str, tuple[Counter, int]] = {}
    steps["Push Hook (no MR yet)"] = gl_release(w, gl_held(w, "Push Hook"))
    mr = fake.open_mr(project, branch, title=f"{len(files)} manifests", author="dev")
    calls, fetches = gl_release(w, gl_held(w, "Merge Request Hook", "open"))
    steps["Merge Request Hook open (the evaluation)"] = (calls, fetches)
    (status,) = fake.statuses(project, sha, name="compliance", latest=True)
    assert status.status in ("success", "failed"), status
    total, writes, once, by_endpoint = gl_split(calls)
    steps["the bot's own Note Hooks (its note, its discussions)"] = gl_release(
        w, gl_held(w, "Note Hook", "create")
    )
    return {
        "mode": "",
        "files": len(files),
        "mr": mr.iid,
        "blocking": gl_blocking(w, project, sha),
        "status": status.status,
        "calls": total,
        "discussion_writes": writes,
        "constant": total - writes,
        "once_per_process": once,
        "by_endpoint": by_endpoint,
        "steps": steps,
        "sha": sha,
    }


def measure_gitlab_calls(
    root: Path, sizes: tuple[int, ...], mode: str, story: bool = True
) -> list[dict[str, Any]]:
    """API calls for each delivery of a merge request's story; ``story=False``: the opening."""
    rows = []
    with gitlab_world(root, mode) as w:
        fake = w.fake
        for n in sizes:
            project = w.add_project(f"acme/calls-{n}")
            files = manifests(n, SEED + n)
            row = gl_open_and_evaluate(w, project, "feature", files)
            row["case"] = "manifests"
            if story:
                # A later push to the MR by its author: GitLab sends Push Hook and Merge
                # Request Hook update.
                first = next(iter(files))
                head2 = fake.commit(
                    project, "feature", {first: files[first] + "# touched\n"}, "touch", author="dev"
                )
                row["steps"]["Push Hook (to the MR)"] = gl_release(w, gl_held(w, "Push Hook"))
                row["steps"]["Merge Request Hook update (after that push)"] = gl_release(
                    w, gl_held(w, "Merge Request Hook", "update")
                )
                fake.drop_pending()  # the bot's own Note Hooks, already measured once
                assert len(fake.statuses(project, head2, name="compliance", latest=True)) == 1
            rows.append(row)
            print(f"  gitlab calls: {n} files: {row['calls']} calls "
                  f"({row['discussion_writes']} discussion writes), {row['blocking']} blocking",
                  file=sys.stderr)  # fmt: skip
        project = w.add_project("acme/calls-clean")
        row = gl_open_and_evaluate(w, project, "clean", clean_manifests(10, SEED))
        row["case"] = "no findings"
        rows.append(row)
        for row in rows:
            row["mode"] = mode
            row["violations"] = len(fake.violations)
            row["deliveries"] = [
                {
                    "delivery": name,
                    "calls": gl_split(c)[0],
                    "discussion_writes": gl_split(c)[1],
                    "once_per_process": gl_split(c)[2],
                    "git_fetches": f,
                    "by_endpoint": gl_split(c)[3],
                }
                for name, (c, f) in row.pop("steps").items()
            ]
    return rows


class StatusWatcher(threading.Thread):
    """Polls the fake's ``compliance`` status on one head every 2 ms; notes when it finished."""

    def __init__(self, w: GitLabWorld, project: Any, sha: str) -> None:
        super().__init__(daemon=True)
        self.w, self.project, self.sha = w, project, sha
        self.completed: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.completed is None:
            found = self.w.fake.statuses(self.project, self.sha, name="compliance", latest=True)
            if found and found[0].status in ("success", "failed"):
                self.completed = time.perf_counter()
            time.sleep(0.002)


def measure_gitlab_status_time(root: Path, mode: str, runs: int, files: int) -> dict[str, Any]:
    """Runs on fresh heads, each a new merge request: from the release of its ``open``
    delivery to its ``compliance`` status finished on the fake, and to the bot idle (its
    summary note and discussions posted)."""
    samples = []
    with gitlab_world(root, mode) as w:
        fake = w.fake
        project = w.add_project("acme/latency")
        for i in range(runs + 1):  # run 0 warms up: first clone of the mirror, rules, imports
            branch = f"change-{i}"
            sha = fake.commit(
                project, branch, manifests(files, SEED + 1000 + i), "manifests", author="dev"
            )
            gl_release(w, gl_held(w, "Push Hook"))
            fake.open_mr(project, branch, title=f"change {i}", author="dev")
            watcher = StatusWatcher(w, project, sha)
            watcher.start()
            opened = gl_held(w, "Merge Request Hook", "open")
            cpu = time.process_time()
            t0 = time.perf_counter()
            fake.deliver_pending([d.id for d in opened])
            w.bot.wait_idle(IDLE_TIMEOUT)
            done = time.perf_counter()
            cpu = time.process_time() - cpu
            watcher.stop.set()
            watcher.join()
            fake.drop_pending()  # the bot's own Note Hooks
            sample = {
                "run": i,
                "completed_s": round((watcher.completed or done) - t0, 4),
                "job_idle_s": round(done - t0, 4),
                "process_cpu_s": round(cpu, 4),  # bot and fake (one process), git excluded
                "blocking": gl_blocking(w, project, sha),
            }
            samples.append(sample)
            print(f"  gitlab status {mode} run {i}: {sample}", file=sys.stderr)
    measured = samples[1:]
    completed = [s["completed_s"] for s in measured]
    idle = [s["job_idle_s"] for s in measured]
    return {
        "mode": mode,
        "files": files,
        "runs": runs,
        "warmup_completed_s": samples[0]["completed_s"],
        "median_s": round(statistics.median(completed), 3),
        "p90_s": round(quantile(completed, 0.9), 3),
        "min_s": round(min(completed), 3),
        "max_s": round(max(completed), 3),
        "median_job_idle_s": round(statistics.median(idle), 3),
        "blocking_median": statistics.median(s["blocking"] for s in measured),
        "process_cpu_median_s": round(statistics.median(s["process_cpu_s"] for s in measured), 3),
        "pass": statistics.median(completed) < 1.0,
        "samples": samples,
    }


# -- report ----------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


SERVERS = {
    "gunicorn": "`compliance-bot web` (gunicorn, 2 workers x 4 threads)",
    "waitress": "`serve`'s waitress (8 threads), consumer off",
}
STORES = {"postgres": "PostgreSQL + Redis", "sqlite": "SQLite + SQLite queue"}


def markdown(result: dict[str, Any]) -> str:
    out = [f"`python benchmarks/forge.py {' '.join(result['argv'])}`".replace("  ", " ") + "\n"]
    m = result["machine"]
    out.append(
        f"Machine: {m['cpus']} CPUs, Python {m['python']}, {m['platform']}; load average "
        f"{m['loadavg']} at start, {result.get('loadavg_end')} at end; {m['at']}.\n"
    )
    if "calls" in result:
        out.append("### REST calls per PR evaluation (`pull_request.opened`, fresh head)\n")
        out.append(
            "| store + queue | PR | changed files | annotations | REST calls | "
            "budget 2 + ceil(a/50) | within budget | token mints (separate) | calls by endpoint |"
        )
        out.append("|---|---|---:|---:|---:|---:|---|---:|---|")
        for r in result["calls"]:
            endpoints = ", ".join(f"`{k}` x{v}" for k, v in r["by_endpoint"].items())
            out.append(
                f"| {STORES[r['mode']]} | {r['case']} | {r['files']:,} | {r['annotations']:,} | "
                f"{r['calls']} | {r['budget']} | {'yes' if r['pass'] else '**no**'} | "
                f"{r['token_mints']} | {endpoints} |"
            )
        story = [r for r in result["calls"] if r["case"] == "manifests"]
        story = [r for r in story if r["mode"] == story[0]["mode"]]
        out.append(
            f"\nEvery delivery of the story ({STORES[story[0]['mode']]}), released one at a time: "
            "REST calls (token mints apart), annotations sent, git requests:\n"
        )
        out.append("| delivery | " + " | ".join(f"{r['files']:,} files" for r in story) + " |")
        out.append("|---|" + "---:|" * len(story))
        for i, first in enumerate(story[0]["deliveries"]):
            cells = []
            for r in story:
                d = r["deliveries"][i]
                extra = f" (+{d['token_mints']} mint)" if d["token_mints"] else ""
                ann = f", {d['annotations_sent']:,} ann." if d["annotations_sent"] else ""
                cells.append(f"{d['calls']}{extra}{ann}, {d['git_fetches']} git")
            out.append(f"| {first['delivery']} | " + " | ".join(cells) + " |")
        out.append("")
    if "check" in result:
        out.append("### Delivery to completed check (300 changed files, fresh head each run)\n")
        out.append(
            "| mode | bot idle before | annotations | runs | median | p90 | min | max | "
            "all annotations posted (median / p90) | CPU of bot + fake (median) | warm-up run | "
            "budget: median < 1 s |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in result["check"]:
            idle = f"{r['idle_s']:.0f} s" if r["idle_s"] else "no (workers just busy)"
            out.append(
                f"| {STORES[r['mode']]} | {idle} | {r['annotations_median']:.0f} | {r['runs']} | "
                f"{r['median_s']:.3f} s | {r['p90_s']:.3f} s | {r['min_s']:.3f} s | "
                f"{r['max_s']:.3f} s | {r['median_all_annotations_s']:.3f} / "
                f"{r['p90_all_annotations_s']:.3f} s | {r['process_cpu_median_s']:.3f} s | "
                f"{r['warmup_completed_s']:.3f} s | "
                f"{'yes' if r['pass'] else '**no**'} |"
            )
        out.append("")
    if "restart" in result:
        r = result["restart"]
        out.append(
            f"### First delivery after a restart ({r['files']} changed files, `serve` subprocess, "
            f"SQLite + SQLite queue; evaluation processes {r['pool']})\n"
        )
        out.append(
            "| delivery | runs | median | max | samples (completed check) | annotations (median) |"
        )
        out.append("|---|---:|---:|---:|---|---:|")
        for key, label in (
            ("first", f"first after a restart ({r['settle_s']:.0f} s after healthy)"),
            ("warm", "warm (same process, after the first)"),
        ):
            samples = ", ".join(f"{s['completed_s']:.3f}" for s in r[key])
            out.append(
                f"| {label} | {len(r[key])} | {r[key + '_median_s']:.3f} s | "
                f"{r[key + '_max_s']:.3f} s | {samples} | {r['annotations_median']:.0f} |"
            )
        out.append(
            f"\nFirst / warm (medians): **{r['ratio']:.2f}x** (target <= 1.5x): "
            f"{'met' if r['pass'] else '**NOT met**'}. Process start to `/healthz`: "
            f"{', '.join(f'{h:.2f}' for h in r['healthy_s'])} s. Unmeasured first PR (the "
            f"mirror's clone): {r['warmup_completed_s']:.3f} s.\n"
        )
    if "profile" in result:
        p = result["profile"]
        out.append(f"### Where a {p['files']}-file evaluation spends its time (median of 3)\n")
        out.append("| stage | seconds |")
        out.append("|---|---:|")
        for k, v in p["stages_median"].items():
            out.append(f"| {k} | {v} |")
        out.append(f"\nWhole job under cProfile: {p['job_s']} s.\n")
    if "edge" in result:
        out.append("### Webhook response latency, open loop\n")
        out.append(
            "| server | store + queue | rate | deliveries | p50 | p90 | p99 | max | "
            "generator lag p99 | over 50 ms (in how many seconds) | machine CPU busy | errors | "
            "lost (no row / no job) | budget: p99 < 50 ms, none lost |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
        for r in result["edge"]:
            errors = ", ".join(f"{k} x{v}" for k, v in r["errors"].items()) or "0"
            out.append(
                f"| {SERVERS[r['server']]} | {STORES[r['mode']]} | {r['rate']:.0f}/s | "
                f"{r['sent']:,} (+{r['warmup']} warm-up) | "
                f"{r['p50_ms']} ms | {r['p90_ms']} ms | {r['p99_ms']} ms | {r['max_ms']} ms | "
                f"{r['send_lag_p99_ms']} ms | "
                f"{r['over_50ms']} ({r['seconds_with_one_over_50ms']}) | "
                f"{r['machine_cpu_busy_pct']}% | {errors} | {r['lost_rows']} / {r['lost_jobs']} | "
                f"{'yes' if r['pass'] else '**no**'} |"
            )
        out.append("")
    out.extend(gitlab_markdown(result))
    return "\n".join(out)


def gitlab_markdown(result: dict[str, Any]) -> list[str]:
    out = []
    if "gitlab_calls" in result:
        rows = result["gitlab_calls"]
        out.append(
            "### GitLab: API calls per MR evaluation (`Merge Request Hook` open, fresh head)\n"
        )
        out.append(
            "| store + queue | MR | changed files | blocking findings | API calls | "
            "of which discussion writes | the rest | within budget | `GET /user` (separate) | "
            "calls by endpoint |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---|---:|---|")
        constant = max(r["constant"] for r in rows)
        for r in rows:
            endpoints = ", ".join(f"`{k}` x{v}" for k, v in r["by_endpoint"].items())
            out.append(
                f"| {STORES[r['mode']]} | {r['case']} | {r['files']:,} | {r['blocking']:,} | "
                f"{r['calls']} | {r['discussion_writes']} | {r['constant']} | "
                f"{'yes' if r['calls'] <= constant + r['discussion_writes'] else '**no**'} | "
                f"{r['once_per_process']} | {endpoints} |"
            )
        story = [r for r in rows if r["case"] == "manifests"]
        story = [r for r in story if r["mode"] == story[0]["mode"]]
        out.append(
            f"\nBudget: {constant} + one per discussion written (each inline discussion is one "
            "request on GitLab, at most 20 open per MR and check); `GET /user`, the token's "
            "own user, once per process.\n"
        )
        out.append(
            f"Every delivery of the story ({STORES[story[0]['mode']]}), released one at a time: "
            "API calls (discussion writes among them), git requests:\n"
        )
        out.append("| delivery | " + " | ".join(f"{r['files']:,} files" for r in story) + " |")
        out.append("|---|" + "---:|" * len(story))
        for i, first in enumerate(story[0]["deliveries"]):
            cells = []
            for r in story:
                d = r["deliveries"][i]
                writes = f" ({d['discussion_writes']} disc.)" if d["discussion_writes"] else ""
                once = " (+1 `/user`)" if d["once_per_process"] else ""
                cells.append(f"{d['calls']}{writes}{once}, {d['git_fetches']} git")
            out.append(f"| {first['delivery']} | " + " | ".join(cells) + " |")
        out.append("")
    if "gitlab_check" in result:
        out.append(
            "### GitLab: delivery to completed status (300 changed files, fresh head each run)\n"
        )
        out.append(
            "| mode | blocking findings | runs | median | p90 | min | max | "
            "bot idle: note and discussions posted (median) | CPU of bot + fake (median) | "
            "warm-up run | budget: median < 1 s |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in result["gitlab_check"]:
            out.append(
                f"| {STORES[r['mode']]} | {r['blocking_median']:.0f} | {r['runs']} | "
                f"{r['median_s']:.3f} s | {r['p90_s']:.3f} s | {r['min_s']:.3f} s | "
                f"{r['max_s']:.3f} s | {r['median_job_idle_s']:.3f} s | "
                f"{r['process_cpu_median_s']:.3f} s | {r['warmup_completed_s']:.3f} s | "
                f"{'yes' if r['pass'] else '**no**'} |"
            )
        out.append("")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, 10 s of load")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--save", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--only", default="calls,check,edge", help="calls,check,edge,restart (any of)"
    )
    parser.add_argument(
        "--forge", default="github,gitlab", help="github,gitlab (any of; edge is GitHub's)"
    )
    parser.add_argument("--profile", action="store_true", help="also profile one evaluation")
    parser.add_argument("--modes", default=None, help="sqlite,postgres (default: both if up)")
    parser.add_argument("--sizes", default=None, help="changed files for calls (10,300,3000)")
    parser.add_argument("--runs", type=int, default=None, help="check runs (default 9; quick 5)")
    parser.add_argument("--seconds", type=float, default=None, help="edge load (30; quick 10)")
    parser.add_argument("--rate", type=float, default=100.0, help="deliveries per second")
    parser.add_argument("--edge-repeat", type=int, default=1, help="measure each server N times")
    parser.add_argument(
        "--idle", type=float, default=None, help="bot idle before a check (20 s; quick 10; 0: off)"
    )
    parser.add_argument(
        "--poll-max-delay",
        type=float,
        default=None,
        help="A/B: SQLite-queue workers' longest poll interval (bot default 0.25; Huey's 10)",
    )
    parser.add_argument("--restarts", type=int, default=3, help="restart: rounds (default 3)")
    parser.add_argument(
        "--cold-pool", action="store_true", help="restart A/B: no evaluation processes at start"
    )
    parser.add_argument("--warm-runs", type=int, default=2, help="restart: warm PRs per round")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="restart: seconds from healthy to the delivery"
    )
    args = parser.parse_args()
    if args.poll_max_delay is not None:
        import bot.queue

        bot.queue.POLL_MAX_DELAY = args.poll_max_delay
    only = set(args.only.split(","))
    forges = set(args.forge.split(","))
    missing = services_available()
    modes = args.modes.split(",") if args.modes else ["sqlite", "postgres"]
    if missing and "postgres" in modes:
        print(f"skipping PostgreSQL + Redis: {missing}", file=sys.stderr)
        modes.remove("postgres")
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else SIZES
    runs = args.runs or (5 if args.quick else 9)
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    idle = args.idle if args.idle is not None else (10.0 if args.quick else 20.0)
    result: dict[str, Any] = {"machine": machine(), "argv": sys.argv[1:]}
    root = Path(tempfile.mkdtemp(prefix="cb-forge-bench-"))
    try:
        if "github" in forges:
            run_github(args, result, root, only, modes, sizes, runs, seconds, idle)
        if "gitlab" in forges:
            call_modes = modes if not args.quick else modes[:1]
            if "calls" in only:
                result["gitlab_calls"] = [
                    row
                    for m in call_modes
                    for row in measure_gitlab_calls(
                        root / f"gitlab-calls-{m}", sizes, m, story=not args.quick
                    )
                ]
            if "check" in only:
                result["gitlab_check"] = [
                    measure_gitlab_status_time(root / f"gitlab-check-{m}", m, runs, 300)
                    for m in call_modes
                ]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.save:
        args.save.write_text(json.dumps(result, indent=2, default=str), "utf-8")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(markdown(result))
        if "profile" in result:
            print("<details><summary>cProfile</summary>\n\n```\n" + result["profile"]["profile"])
            print("```\n</details>")
    return 0


def run_github(
    args: argparse.Namespace,
    result: dict[str, Any],
    root: Path,
    only: set[str],
    modes: list[str],
    sizes: tuple[int, ...],
    runs: int,
    seconds: float,
    idle: float,
) -> None:
    """The GitHub part: REST calls, delivery to completed check, --profile, webhook edge."""
    if "calls" in only:
        # REST calls don't depend on the store; one mode shows them (both in full runs).
        call_modes = modes if not args.quick else modes[:1]
        result["calls"] = [
            row
            for m in call_modes
            for row in measure_calls(root / f"calls-{m}", sizes, m, story=not args.quick)
        ]
    if "check" in only:
        check_modes = modes if not args.quick else modes[:1]
        result["check"] = []
        for m in check_modes:
            result["check"].append(measure_check_time(root / f"check-{m}", m, runs, 300))
            if idle:
                result["check"].append(measure_check_time(root / f"idle-{m}", m, 5, 300, idle=idle))
    if "restart" in only:
        result["restart"] = measure_restart(
            root / "restart", args.restarts, args.warm_runs, args.settle, cold_pool=args.cold_pool
        )
    if args.profile:
        result["profile"] = profile_evaluation(root / "profile", 300)
    if "edge" in only:
        body, _ = sample_payload(root)
        servers = [("gunicorn", "postgres"), ("gunicorn", "sqlite"), ("waitress", "sqlite")]
        result["edge"] = [
            measure_edge(root / f"edge-{k}", server, m, args.rate, seconds, body)
            for k in range(args.edge_repeat)
            for server, m in servers
            if m in modes
        ]


if __name__ == "__main__":
    sys.exit(main())
