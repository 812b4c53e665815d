"""Work spread over forked processes (``bot.forked``): every chunk once, results in order, the
processes stopped and their folder removed however the work ends.

Each story runs in a process of its own (``python -c``): forking the test runner, whose
threads may hold locks, is what ``bot.forked`` is documented not to be used for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

STORY = """
import json, os, sys, time
from bot import forked

mode, processes, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
PARENT = os.getpid()

def evaluate(k):
    with open(log, "a") as out:
        out.write(f"{k}\\n")
    if mode == "raise" and k == 5:
        raise ValueError(f"chunk {k} is bad")
    if mode == "die" and os.getpid() != PARENT:
        os._exit(3)  # (a forked process killed in the middle of a chunk)
    time.sleep(0.02 if mode == "stop" else 0.002)
    return [k, os.getpid()]

results, error = [], None
try:
    for result in forked.spread(evaluate, 40, processes):
        results.append(result)
        if mode == "stop" and len(results) == 3:
            break
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
try:
    os.waitpid(-1, os.WNOHANG)
    left = True
except ChildProcessError:
    left = False
print(json.dumps({"parent": PARENT, "results": results, "error": error, "left": left,
                  "temporary": sorted(os.listdir(os.environ["TMPDIR"]))}))
"""


def story(tmp_path: Path, mode: str, processes: int = 3) -> dict[str, Any]:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    log = tmp_path / "evaluated.log"
    env = {**os.environ, "TMPDIR": str(temporary)}
    proc = subprocess.run(
        [sys.executable, "-c", STORY, mode, str(processes), str(log)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    out["evaluated"] = [int(k) for k in log.read_text().split()]
    return out


def test_every_chunk_once_in_order_spread_over_the_processes(tmp_path: Path):
    out = story(tmp_path, "ok")
    assert [k for k, _ in out["results"]] == list(range(40)) and out["error"] is None
    assert sorted(out["evaluated"]) == list(range(40))  # each once, wherever
    pids = {pid for _, pid in out["results"]}
    assert out["parent"] in pids and len(pids) > 1  # this process worked too
    assert len(pids) <= 3
    assert not out["left"] and out["temporary"] == []


def test_one_process_is_this_one_alone(tmp_path: Path):
    out = story(tmp_path, "ok", processes=1)
    assert out["results"] == [[k, out["parent"]] for k in range(40)]


def test_an_error_in_a_chunk_is_raised_after_the_chunks_before_it(tmp_path: Path):
    out = story(tmp_path, "raise")
    assert out["error"] == "ValueError: chunk 5 is bad"
    # (raised in its turn when a forked process met it; at once when this one did)
    assert [k for k, _ in out["results"]] == list(range(len(out["results"])))
    assert len(out["results"]) <= 5
    assert not out["left"] and out["temporary"] == []


def test_a_forked_process_that_dies_is_an_error_not_a_hang(tmp_path: Path):
    out = story(tmp_path, "die")
    assert out["error"].startswith("ProcessEnded: an evaluation process ended")
    assert [k for k, _ in out["results"]] == list(range(len(out["results"])))
    assert len(out["results"]) < 40
    assert not out["left"] and out["temporary"] == []


def test_a_reader_that_stops_stops_the_processes(tmp_path: Path):
    out = story(tmp_path, "stop")
    assert [k for k, _ in out["results"]] == [0, 1, 2] and out["error"] is None
    assert len(out["evaluated"]) < 20  # (the rest of the 40 were never started)
    assert not out["left"] and out["temporary"] == []


@pytest.mark.parametrize("chunks", [0, 1])
def test_nothing_is_forked_for_one_chunk_or_none(chunks: int):
    from bot import forked

    assert list(forked.spread(lambda k: (k, os.getpid()), chunks, 4)) == [
        (k, os.getpid()) for k in range(chunks)
    ]
