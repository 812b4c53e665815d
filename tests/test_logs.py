"""Log lines: ``LOG_FORMAT=json`` gives one JSON object per line, and a job's lines (in either
format) carry its delivery, repository, pull request, head SHA and job."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_serve import free_port

from bot import logs
from bot.config import ConfigError, Settings

EVENT = SimpleNamespace(
    repo=SimpleNamespace(full_name="acme/shop"),
    pull_request=SimpleNamespace(number=7, head_sha="f" * 40),
    pull_numbers=(),
    head_sha="",
)


@pytest.fixture
def capture() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """A logger whose lines go to a buffer through the handler ``logs.configure`` installs."""
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.configure("DEBUG", "json", stream=out)
    try:
        yield out, logging.getLogger("bot.test")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def parsed(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_parse_one_by_one_and_carry_the_bound_context(capture):
    out, log = capture
    log.info("before the job")
    with logs.bound(delivery="github:d1", job="process_delivery"):
        logs.bind_event(EVENT)
        log.info("checking %s", "acme/shop")
        try:
            raise RuntimeError("boom\non two lines")
        except RuntimeError:
            log.exception("it failed")
        log.info("given", extra={"repository": "other/repo"})
    log.warning("after the job")

    before, checking, failed, given, after = parsed(out)
    assert set(before) == {"timestamp", "level", "logger", "message"}
    assert (before["level"], before["logger"], before["message"]) == (
        "INFO",
        "bot.test",
        "before the job",
    )
    context = {
        "delivery": "github:d1",
        "job": "process_delivery",
        "repository": "acme/shop",
        "pull_request": 7,
        "sha": "f" * 40,
    }
    assert {k: checking[k] for k in context} == context
    assert checking["message"] == "checking acme/shop"
    assert "RuntimeError: boom\non two lines" in failed["exc_info"]  # still one line of output
    assert given["repository"] == "other/repo"  # a field given with extra= wins
    assert not set(context) & set(after)  # the context ends with the job


def test_text_lines_show_the_context_in_brackets():
    out = io.StringIO()
    handler = logs.configure("INFO", "text", stream=out)
    try:
        log = logging.getLogger("bot.test")
        log.info("plain")
        with logs.bound(delivery="github:d2", job="sweep_repository", repository="acme/shop"):
            log.info("swept")
    finally:
        logging.getLogger().removeHandler(handler)
    plain, swept = out.getvalue().splitlines()
    assert plain.endswith("INFO bot.test: plain")
    assert swept.endswith(
        "INFO bot.test: [delivery=github:d2 repository=acme/shop job=sweep_repository] swept"
    )


def test_each_thread_keeps_its_own_context(capture):
    out, log = capture
    ready = threading.Barrier(2)

    def job(delivery: str) -> None:
        with logs.bound(delivery=delivery):
            ready.wait()
            log.info("running")

    threads = [threading.Thread(target=job, args=(f"github:{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(line["delivery"] for line in parsed(out)) == ["github:0", "github:1"]


def test_log_format_is_text_or_json():
    assert Settings.from_env({}, dotenv=None).log_format == "text"
    assert Settings.from_env({"LOG_FORMAT": "JSON"}, dotenv=None).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT: 'xml' is not one of text, json"):
        Settings.from_env({"LOG_FORMAT": "xml"}, dotenv=None)


def test_a_real_process_logs_only_json_lines(tmp_path: Path):
    """`serve` with LOG_FORMAT=json: migrations, the server, the scheduler and the bot itself all
    write JSON, one object per line; /metrics answers only with the token."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "DATABASE_URL", "REDIS_URL", "COMPLIANCE_BOT", "LOG_"))
    }
    env.update(PORT=str(port), LOG_FORMAT="json", COMPLIANCE_BOT_METRICS_TOKEN="t0ken")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(url, timeout=2)
            except urllib.error.HTTPError as exc:
                status = exc.code
                break
            except OSError:
                time.sleep(0.2)
        assert status == 401
        authorised = urllib.request.Request(url, headers={"Authorization": "Bearer t0ken"})
        with urllib.request.urlopen(authorised, timeout=5) as r:
            assert "compliance_bot_deliveries_waiting 0.0" in r.read().decode()
        # serve keeps its measurements where every process on this host can sum them
        assert list((tmp_path / ".compliance-bot" / "metrics").iterdir())
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    assert any(line["message"].startswith("serving on") for line in lines)
    assert {"timestamp", "level", "logger", "message"} <= set(lines[0])
