"""The long-running processes meet a bad environment: one line and exit 2 at start, a few quiet
lines (not a traceback a second) when Redis goes away while running, and no sweep without an App.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.config import ConfigError, Settings
from bot.queue import OUTAGE_MAX_DELAY, EmbeddedHuey, Outage, ResilientRedisHuey, make_huey
from bot.scheduler import sweep_deadlines
from bot.services import Services, store_credentials

CLOSED = "127.0.0.1:1"  # nothing listens there
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
APP = {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": PEM, "GITHUB_WEBHOOK_SECRET": "s3cret"}


# -- settings -----------------------------------------------------------------------------------


def test_log_level_is_one_of_the_known_names_in_any_case():
    assert Settings.from_env({}, dotenv=None).log_level == "INFO"
    assert Settings.from_env({"LOG_LEVEL": "debug"}, dotenv=None).log_level == "DEBUG"
    with pytest.raises(ConfigError, match="LOG_LEVEL: 'LOUD' is not one of DEBUG, INFO"):
        Settings.from_env({"LOG_LEVEL": "LOUD"}, dotenv=None)


def test_retention_settings():
    settings = Settings.from_env({}, dotenv=None)
    assert (settings.payload_retention_days, settings.delivery_retention_days) == (30, 365)
    custom = Settings.from_env(
        {
            "COMPLIANCE_BOT_PAYLOAD_RETENTION_DAYS": "7",
            "COMPLIANCE_BOT_DELIVERY_RETENTION_DAYS": "90",
        },
        dotenv=None,
    )
    assert (custom.payload_retention_days, custom.delivery_retention_days) == (7, 90)
    for name, value in (
        ("COMPLIANCE_BOT_PAYLOAD_RETENTION_DAYS", "0"),
        ("COMPLIANCE_BOT_PAYLOAD_RETENTION_DAYS", "3651"),
        ("COMPLIANCE_BOT_DELIVERY_RETENTION_DAYS", "a year"),
        ("COMPLIANCE_BOT_DELIVERY_RETENTION_DAYS", "36501"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value}, dotenv=None)


# -- at start: one line, exit 2 -----------------------------------------------------------------


def run(process: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "DATABASE_URL", "REDIS_URL", "COMPLIANCE_BOT", "LOG_"))
    }
    if process in ("web", "worker"):  # they refuse to start without an App, before anything
        clean.update(APP)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", process, *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused(proc: subprocess.CompletedProcess[str], name: str) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert name in proc.stderr
    assert "hunter2" not in output


def test_unknown_log_level_is_one_line_naming_it(tmp_path):
    assert_refused(run("serve", tmp_path, LOG_LEVEL="LOUD"), "LOG_LEVEL")


@pytest.mark.parametrize("process", ["serve", "web", "worker", "clock"])
def test_unreachable_database_is_one_line_naming_database_url(tmp_path, process):
    proc = run(process, tmp_path, DATABASE_URL=f"postgresql://bot:hunter2@{CLOSED}/bot")
    assert_refused(proc, "DATABASE_URL")
    assert "cannot connect to the database" in proc.stderr


@pytest.mark.parametrize("process", ["serve", "worker"])
def test_unreachable_redis_is_one_line_naming_redis_url(tmp_path, process):
    proc = run(process, tmp_path, REDIS_URL=f"redis://:hunter2@{CLOSED}/0")
    assert_refused(proc, "REDIS_URL")


def test_github_app_id_must_be_a_number(tmp_path):
    with pytest.raises(ConfigError, match="GITHUB_APP_ID: 'abc' is not a whole number"):
        Settings.from_env({**APP, "GITHUB_APP_ID": "abc"}, dotenv=None)
    assert_refused(run("serve", tmp_path, GITHUB_APP_ID="abc"), "GITHUB_APP_ID")


@pytest.mark.parametrize("command", [("ledger", "rebuild", "--repo", "o/r"), ("expire", "--once")])
def test_app_commands_name_the_variables_they_miss(tmp_path, command):
    proc = run(*command[:1], tmp_path, *command[1:], COMPLIANCE_BOT_DATA_DIR=str(tmp_path))
    assert_refused(proc, "GITHUB_APP_ID")
    assert "GITHUB_PRIVATE_KEY" in proc.stderr and "GITHUB_WEBHOOK_SECRET" in proc.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("ledger", "rebuild", "--forge", "gitlab", "--repo", "g/s/p"),
        ("expire", "--once", "--forge", "gitlab"),
    ],
)
def test_app_commands_on_gitlab_name_the_variables_they_miss(tmp_path, command):
    proc = run(*command[:1], tmp_path, *command[1:], COMPLIANCE_BOT_DATA_DIR=str(tmp_path))
    assert_refused(proc, "GITLAB_URL")
    assert "GITLAB_TOKEN" in proc.stderr


def test_port_in_use_is_one_line_naming_it_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = run("serve", tmp_path, "--port", port, LOG_LEVEL="WARNING")
    assert_refused(proc, f"127.0.0.1:{port}")
    assert "PORT" in proc.stderr and "already in use" in proc.stderr


def test_unusable_data_dir_is_one_line_naming_it(tmp_path):
    (tmp_path / "a-file").write_text("")
    proc = run("serve", tmp_path, COMPLIANCE_BOT_DATA_DIR=str(tmp_path / "a-file" / "data"))
    assert_refused(proc, "COMPLIANCE_BOT_DATA_DIR")


# -- while running: Redis goes away --------------------------------------------------------------


def test_worker_whose_redis_is_gone_says_so_once(caplog):
    huey = make_huey(Settings(redis_url=f"redis://{CLOSED}/0"))
    assert isinstance(huey, ResilientRedisHuey)
    huey.task(name="noop")(lambda: None)
    handlers = {
        sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    consumer = huey.create_consumer(workers=4, worker_type="thread", periodic=False)
    try:
        with caplog.at_level(logging.INFO):
            consumer.start()
            time.sleep(3)
            consumer.stop(graceful=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert "REDIS_URL" in problems[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert len(caplog.records) <= 12  # the consumer's own start and stop lines, and ours


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_outage_backs_off_exponentially_and_is_logged_once_each_way(caplog):
    clock = Clock()
    outage = Outage("the job queue (REDIS_URL)", clock=clock)
    assert outage.wait() == 0
    delays = []
    with caplog.at_level(logging.INFO, logger="bot.queue"):
        for _ in range(12):
            outage.failed(RedisConnectionError("Error 111 connecting"))
            delays.append(outage.wait())
            assert outage.wait() == delays[-1]  # the others wait too
            clock.now += delays[-1]
            assert outage.wait() == 0  # one caller probes...
            assert outage.wait() > 0  # ...and the rest keep waiting for its answer
        outage.succeeded()
        outage.succeeded()
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) == delays[-1] == OUTAGE_MAX_DELAY
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert outage.wait() == 0


def test_queue_reads_resume_when_redis_is_back(caplog):
    from e2e.harness import REDIS, require_services, services_available

    missing = services_available()
    if missing:
        if require_services():
            pytest.fail(f"COMPLIANCE_BOT_REQUIRE_SERVICES=1 but {missing}")
        pytest.skip(missing)
    huey = make_huey(Settings(redis_url=REDIS, queue_name=f"cb-test-{uuid.uuid4().hex[:8]}"))
    noop = huey.task(name="noop")(lambda: None)
    try:
        assert noop() is None  # results=False: nothing kept in Redis for nobody to read
        huey.outage.failed(RedisConnectionError("gone"))
        assert huey.dequeue() is None  # still backing off
        huey.outage.retry_at = 0
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bot.queue"):
            assert huey.dequeue() is not None
        assert not huey.outage.down
        assert [r.getMessage() for r in caplog.records] == [
            "the job queue (REDIS_URL) reachable again"
        ]
    finally:
        huey.storage.flush_all()


def test_embedded_queue_keeps_no_results(tmp_path):
    huey = make_huey(Settings(data_dir=tmp_path))
    assert isinstance(huey, EmbeddedHuey) and huey.results is False
    assert huey.task(name="noop")(lambda: None)() is None


def test_an_idle_embedded_worker_is_woken_by_a_task_enqueued_in_its_process(tmp_path, caplog):
    """``serve`` takes webhooks and runs jobs in one process: a task enqueued there is taken at
    once, and a stop is seen at once, not at the workers' next poll (here an hour away)."""
    huey = make_huey(Settings(data_dir=tmp_path))
    ran = threading.Event()
    task = huey.task(name="ring")(ran.set)
    handlers = {
        sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    consumer = huey.create_consumer(
        workers=2, worker_type="thread", periodic=False, initial_delay=3600, max_delay=3600,
        shutdown_timeout=60,
    )  # fmt: skip
    try:
        with caplog.at_level(logging.INFO, logger="huey.consumer"):
            consumer.start()
            time.sleep(0.3)  # (both workers find the queue empty and wait for their next poll)
            task()
            assert ran.wait(30)
            consumer.stop(graceful=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert not any(thread.is_alive() for _, thread in consumer.worker_threads)
    assert "All workers have stopped." in caplog.text  # (not "Shutdown timeout ... elapsed")


# -- scheduled jobs without an App ---------------------------------------------------------------


def test_sweep_without_an_app_is_skipped_quietly_until_one_is_registered(tmp_path, caplog):
    services = Services(Settings(data_dir=tmp_path))
    services.migrate()
    with caplog.at_level(logging.DEBUG):
        sweep_deadlines(services)
    assert services.huey.pending_count() == 0
    assert [r.levelname for r in caplog.records if r.name.startswith("bot")] == ["DEBUG"]
    # the setup page registers the App while `serve` runs: the next sweep is queued
    store_credentials(services.settings, {"id": 1, "pem": PEM, "webhook_secret": "s3cret"})
    sweep_deadlines(services)
    assert services.huey.pending_count() == 1


# -- evaluation processes: started warm by the job runner -----------------------------------------

# Run in a pool process by its name alone (``eval`` imports nothing): what that process has loaded.
PROBE = (
    "(__import__('os').getpid(), 'bot.engine.evaluate' in __import__('sys').modules,"
    " __import__('sys').modules['bot.engine.cel'].compile_expression.cache_info().currsize"
    " if 'bot.engine.cel' in __import__('sys').modules else 0)"
)


def test_the_job_runner_starts_the_evaluation_processes_warm_and_stops_them(tmp_path):
    from bot.engine.loader import load_bundled

    services = Services(Settings(data_dir=tmp_path, evaluation_processes=2))
    services.migrate()
    runner = services.runner("worker", check_worker_health=False)
    assert services._pool is None  # building a runner (as a web-only harness does) starts none
    handlers = {
        sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        runner.start()
        assert runner.warm is not None
        pids = runner.warm.result(timeout=120)
        pool = services.evaluation_pool()
        assert pool is not None and len(pids) == 2
        assert set(pids) == set(pool._processes)  # type: ignore[attr-defined]
        conditions = len({p.condition for p in load_bundled()})
        for pid, engine, compiled in pool.map(eval, [PROBE] * 8):
            assert pid in pids  # no process started for the work itself
            assert engine and compiled >= conditions
    finally:
        runner.stop()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        services.store.dispose()
    assert services._pool is None


BOT_KILLED_OUTRIGHT = """
import sys, time
from pathlib import Path
from bot.config import Settings
from bot.services import Services
services = Services(Settings(data_dir=Path(sys.argv[1]), evaluation_processes=2))
print(*services.warm_evaluation_pool().result(timeout=120), flush=True)
time.sleep(600)
"""


def test_evaluation_processes_exit_when_the_bot_is_killed_outright(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", BOT_KILLED_OUTRIGHT, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        pids = [int(pid) for pid in proc.stdout.readline().split()]
        assert len(pids) == 2
    finally:
        proc.kill()
        proc.wait()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)


# Run in a fresh interpreter: what a job runner's process holds after its warm-up, before any job.
WARM_PROBE = """\
import json, sys
from bot.checking import warm_job_process
from bot.engine import cel as celx
from bot import schemas
from bot.engine.loader import load_bundled

warm_job_process()
before = celx.compile_expression.cache_info().misses
programs = [celx.compile_expression(p.condition) for p in load_bundled()]
print(json.dumps({
    "jsonschema": "jsonschema" in sys.modules,
    "validators": schemas.validator.cache_info().currsize,
    "compiled_again": celx.compile_expression.cache_info().misses - before,
    "references": all(p._reference is not None for p in programs),
    "loaded": all(m in sys.modules for m in ("bot.exemptions.parsing", "bot.exemptions.match",
                                             "bot.exemptions.validation", "bot.report.markdown")),
}))
"""


def test_a_job_runner_process_is_warm_before_its_first_check():
    done = subprocess.run(
        [sys.executable, "-c", WARM_PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    warm = json.loads(done.stdout)
    assert warm == {
        "jsonschema": True, "validators": 3, "compiled_again": 0, "references": True,
        "loaded": True,
    }  # fmt: skip
