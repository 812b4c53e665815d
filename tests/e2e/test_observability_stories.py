"""What an operator sees while a story runs: ``/metrics`` counters moving, and JSON log lines
that each parse and carry the delivery, repository, pull request, head SHA and job."""

from __future__ import annotations

import io
import json
import logging
import time
import urllib.request

from test_metrics import samples, total, value

from bot import logs, metrics

from .test_check_stories import PRIVILEGED
from .test_deadline_stories import approve_merge, at, day, sweep
from .test_exception_stories import EXCEPTIONS, entry, exceptions_file, open_exception_pr


def scrape(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        return samples(r.read().decode())


def test_counters_move_while_a_pr_with_a_blocking_finding_is_checked(world):
    before = scrape(world.bot.url)
    _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    assert world.check(sha).conclusion == "failure"

    # the store's facts are cached a few seconds: a scraper sees them by the next scrape
    deadline = time.monotonic() + metrics.CACHE_SECONDS + 5
    while True:
        after = scrape(world.bot.url)
        moved = value(
            after, "compliance_bot_checks", name="compliance", conclusion="failure"
        ) > value(before, "compliance_bot_checks", name="compliance", conclusion="failure")
        if moved or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    def grew(metric: str, /, **labels: str) -> bool:
        return total(after, metric, **labels) > total(before, metric, **labels)

    assert grew("compliance_bot_deliveries", event="pull_request", status="done")
    assert grew("compliance_bot_checks", name="compliance", conclusion="failure")
    assert grew("compliance_bot_jobs_total", job="process_delivery", outcome="done")
    assert grew("compliance_bot_job_duration_seconds_count", job="process_delivery")
    assert grew("compliance_bot_forge_requests_total", forge="github", method="POST")
    assert grew("compliance_bot_forge_requests_total", forge="github", status="200")
    remaining = total(
        after,
        "compliance_bot_forge_rate_limit_remaining",
        installation=str(world.installation.id),
    )
    assert 0 < remaining <= 5000
    assert total(after, "compliance_bot_audit_chain_length") > total(
        before, "compliance_bot_audit_chain_length"
    )


def done(number: int, text: str) -> bool:
    """Whether the JSON log lines in ``text`` say pull request ``number``'s delivery is done."""
    lines = [json.loads(line) for line in text.splitlines()]
    return any(x.get("pull_request") == number and " done in " in x["message"] for x in lines)


def test_json_log_lines_of_a_job_parse_and_carry_its_context(world):
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.configure("INFO", "json", stream=out)
    try:
        number, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
        world.bot.wait_idle()
        # A delivery is marked done before its worker thread logs that it is: wait_idle can
        # return between the two (seen once in CI), so the line is waited for, a little.
        deadline = time.monotonic() + 5
        while not done(number, out.getvalue()) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines and all({"timestamp", "level", "logger", "message"} <= set(x) for x in lines)
    mine = [x for x in lines if x.get("pull_request") == number]
    assert done(number, out.getvalue()), lines
    for line in mine:
        assert line["delivery"].startswith("github:")
        assert (line["repository"], line["sha"], line["job"]) == (
            world.full_name,
            sha,
            "process_delivery",
        )


def test_exceptions_by_state_are_what_the_last_sweep_found(world):
    number, exc_sha = open_exception_pr(
        world,
        exceptions_file(
            entry("EXC-1", expires=day(1)),
            entry("EXC-2", expires=day(60), paths='["charts/**"]'),
        ),
    )
    approve_merge(world, number, exc_sha)
    text = world.fake.file_at(world.repo, "main", EXCEPTIONS)
    sneaked = text + entry("EXC-3", expires=day(30), paths='["tools/**"]')
    world.fake.commit(world.repo, "main", {EXCEPTIONS: sneaked}, "sneak one in")
    world.bot.wait_idle()
    sweep(world, at(0))
    scraped = scrape(world.bot.url)
    states = {s: value(scraped, "compliance_bot_exceptions", state=s) for s in metrics.STATES}
    assert states == {"active": 1, "expiring": 1, "expired": 0, "unapproved": 1, "invalid": 0}
