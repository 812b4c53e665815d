"""The README's first command: `compliance-bot serve` on embedded defaults, in a real process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_on_embedded_defaults_and_stops_cleanly(tmp_path: Path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "DATABASE_URL", "REDIS_URL", "COMPLIANCE_BOT"))
    }
    env["PORT"] = str(port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    health = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.2)
        assert health == {"status": "ok", "database": True, "queue": True}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert "Register the GitHub App" in r.read().decode()
        # embedded state lives in ./.compliance-bot
        data = tmp_path / ".compliance-bot"
        assert (data / "compliance-bot.db").is_file() and (data / "queue.db").is_file()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"serving on http://127.0.0.1:{port}" in out


def test_serve_refuses_bad_configuration(tmp_path: Path):
    env = {**os.environ, "PORT": "not-a-port"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "PORT: 'not-a-port' is not a whole number" in proc.stderr
