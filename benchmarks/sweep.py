"""The deadline sweep over many repositories with nothing to do: REST calls, git fetches, time.

    python benchmarks/sweep.py [--quick] [--repos N] [--json]

One fake GitHub (``tests/fakes/github``) holds N repositories (1,000; ``--quick``: 100) of one
organization, the App installed on all of them. Each repository has nothing to do: a README,
a CODEOWNERS file and ``.compliance/exceptions.yaml`` with no entries (``exceptions: []``), no
open pull requests. The sweep runs in-process as the scheduled job does, through ``Services``
(``installed_repositories()`` then ``sweep(installation_id, full_name)`` per repository), with
the SQLite store, one repository after the other.

Rounds:

- **setup** (not in the tables): the first sweep ever clones every repository into the mirror
  cache and opens each repository's dashboard issue; afterwards the dashboard matches, so every
  later sweep has nothing to do (the script checks that no sweep reports an action).
- **new process**: a fresh ``Services`` (empty in-memory caches; the same database and mirrors on
  disk), as after a restart.
- **same process**: the same ``Services`` sweeping again, as a long-lived worker does each round.

REST calls are read from the fake's call log, by endpoint, divided by the number of repositories;
a call answered ``304 Not Modified`` (a conditional request whose ETag matched) is counted as a
call and also shown apart, because GitHub does not charge it to the rate limit. "Charged" is
calls minus 304s. Calls made once per round (App installations, the installation's repository
list, a token) are in the same table, divided like the rest. Git fetches are ``git-upload-pack``
HTTP requests (the mirror's ``git fetch`` of the default branch: the ref advertisement and
``ls-refs``, so 2 per fetch when nothing changed), not REST. The script measures; it never fails
on a budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.services import Services  # noqa: E402
from tests.e2e.harness import bot_settings  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402

FILES = {
    "README.md": "# service\n",
    ".compliance/exceptions.yaml": "version: 1\nexceptions: []\n",
    ".github/CODEOWNERS": "/.compliance/ @acme/security\n",
}


def build_world(root: Path, count: int) -> tuple[FakeGitHub, Any, Any]:
    fake = FakeGitHub(root / "fake-github").start()
    fake.add_org("acme")
    fake.add_team("acme", "security")
    fake.webhook_mode = "manual"  # no bot web server here: webhooks are held, then dropped
    for i in range(count):
        fake.create_repo(f"acme/service-{i:04d}", files=FILES)
    app = fake.create_app(owner="acme", webhook_url="http://127.0.0.1:9/unused")
    installation = fake.install(app, "acme")
    # GitHub grants large installations up to 12,500-15,000 requests an hour; the fake's default
    # of 5,000 never resets, and a 1,000-repository setup alone spends that. Not what we measure.
    fake.set_rate_limit(installation, remaining=1_000_000)
    fake.drop_pending()
    return fake, app, installation


def sweep_round(fake: FakeGitHub, services: Services, now: datetime) -> dict[str, Any]:
    """Every installed repository swept once; calls, fetches and times of the round."""
    fake.reset_calls()
    start = time.perf_counter()
    repos = services.installed_repositories()
    listed = time.perf_counter()
    per_repo: list[float] = []
    busy: list[str] = []
    for installation_id, full_name in repos:
        t0 = time.perf_counter()
        summary = services.sweep(installation_id, full_name, now=now)
        per_repo.append(time.perf_counter() - t0)
        if summary.get("actions") or summary.get("error"):
            busy.append(f"{full_name}: {summary.get('actions') or summary.get('error')}")
    total = time.perf_counter() - start
    fake.drop_pending()  # webhooks the bot's own writes caused (setup round only)
    calls: Counter[str] = Counter()
    not_modified: Counter[str] = Counter()
    for record in list(fake.call_log):
        endpoint = f"{record.method} {record.template or record.path}"
        calls[endpoint] += 1
        if record.status == 304:
            not_modified[endpoint] += 1
    n = len(repos)
    return {
        "repositories": n,
        "total_s": round(total, 3),
        "listing_s": round(listed - start, 3),
        "per_repo_ms": {
            "mean": round(1000 * statistics.fmean(per_repo), 2),
            "p50": round(1000 * statistics.median(per_repo), 2),
            "p95": round(1000 * sorted(per_repo)[int(0.95 * (n - 1))], 2),
        },
        "calls": dict(calls.most_common()),
        "not_modified": dict(not_modified),
        "calls_per_repo": round(sum(calls.values()) / n, 3),
        "charged_per_repo": round((sum(calls.values()) - sum(not_modified.values())) / n, 3),
        "git_fetches_per_repo": round(len(fake.git_fetches) / n, 3),
        "with_actions": busy[:5],
        "with_actions_count": len(busy),
    }


def run(count: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="cb-sweep-bench-"))
    try:
        t0 = time.perf_counter()
        fake, app, _ = build_world(root, count)
        built = time.perf_counter() - t0
        try:
            settings = bot_settings(
                root, app=app, api_url=fake.api_url, mode="sqlite", database_url=None
            )
            now = datetime.now(UTC)
            first = Services(settings)
            first.migrate()
            setup = sweep_round(fake, first, now)
            first.store.dispose()
            services = Services(settings)
            rounds = {
                "setup": setup,
                "new process": sweep_round(fake, services, now),
                "same process": sweep_round(fake, services, now),
            }
            services.store.dispose()
        finally:
            fake.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "repositories": count,
        "world_build_s": round(built, 1),
        "rounds": rounds,
        "machine": machine(),
    }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.now(UTC).date().isoformat(),
    }


def markdown(result: dict[str, Any]) -> str:
    rounds = {k: v for k, v in result["rounds"].items() if k != "setup"}
    names = list(rounds)
    lines = [
        f"{result['repositories']} repositories, nothing to do; SQLite; "
        f"Python {result['machine']['python']}, {result['machine']['cpus']} CPUs, "
        f"load {result['machine']['loadavg']}, {result['machine']['date']}",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]

    def row(label: str, cell) -> None:  # type: ignore[no-untyped-def]
        lines.append(f"| {label} | " + " | ".join(cell(rounds[n]) for n in names) + " |")

    row("REST calls per repository", lambda r: f"{r['calls_per_repo']:.3f}")
    row("of which 304 (free)", lambda r: f"{r['calls_per_repo'] - r['charged_per_repo']:.3f}")
    row("charged to the rate limit", lambda r: f"{r['charged_per_repo']:.3f}")
    row("git upload-pack requests per repository", lambda r: f"{r['git_fetches_per_repo']:.3f}")
    row("wall time, total", lambda r: f"{r['total_s']:.1f} s")
    row("listing the repositories", lambda r: f"{r['listing_s']:.2f} s")
    row(
        "per repository (mean / p50 / p95)",
        lambda r: "{mean:.1f} / {p50:.1f} / {p95:.1f} ms".format(**r["per_repo_ms"]),
    )
    row("repositories with an action", lambda r: str(r["with_actions_count"]))
    endpoints = sorted({e for r in rounds.values() for e in r["calls"]})
    lines += ["", "REST calls per repository, by endpoint (304s in brackets):", ""]
    lines += ["| endpoint | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    n = result["repositories"]
    for endpoint in endpoints:
        cells = []
        for name in names:
            r = rounds[name]
            calls, free = r["calls"].get(endpoint, 0), r["not_modified"].get(endpoint, 0)
            cells.append(f"{calls / n:.3f}" + (f" ({free / n:.3f})" if free else ""))
        lines.append(f"| `{endpoint}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 repositories")
    parser.add_argument("--repos", type=int, default=None, help="number of repositories")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args()
    count = args.repos or (100 if args.quick else 1000)
    result = run(count)
    print(json.dumps(result, indent=2) if args.json else markdown(result))


if __name__ == "__main__":
    main()
