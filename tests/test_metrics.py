"""``GET /metrics``: the token, the facts read from the store, and several processes summed by one
scrape (the counters moving during a story: ``e2e/test_observability_stories.py``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics, standing
from bot.config import Settings
from bot.exemptions.model import ExemptionEntry
from bot.expiry import Plan
from bot.services import Services
from bot.store.tables import CheckRecord, Delivery
from bot.web.app import build_app

TOKEN = "s3cret-scrape-token"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scraped: dict, metric: str, /, **labels: str) -> float:
    return scraped.get((metric, tuple(sorted(labels.items()))), 0.0)


def total(scraped: dict, metric: str, /, **labels: str) -> float:
    """The sum over every sample of ``metric`` whose labels include ``labels``."""
    return sum(
        v for (n, have), v in scraped.items() if n == metric and set(labels.items()) <= set(have)
    )


@pytest.fixture
def services(tmp_path: Path) -> Services:
    s = Services(Settings(data_dir=tmp_path / "bot", metrics_token=TOKEN))
    s.migrate()
    return s


# -- the token ----------------------------------------------------------------------------------


def test_a_token_protects_the_scrape(services):
    client = build_app(services).test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert ok.headers["Content-Type"].startswith("text/plain")
    assert value(samples(ok.text), "compliance_bot_metrics_source_up", source="store") == 1


def test_without_a_token_anyone_may_scrape_and_openmetrics_is_offered(tmp_path):
    services = Services(Settings(data_dir=tmp_path / "bot"))
    services.migrate()
    client = build_app(services).test_client()
    assert client.get("/metrics").status_code == 200
    om = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert om.text.rstrip().endswith("# EOF")


def test_token_setting_is_read_from_the_environment_and_kept_out_of_repr():
    settings = Settings.from_env({"COMPLIANCE_BOT_METRICS_TOKEN": TOKEN}, dotenv=None)
    assert settings.metrics_token == TOKEN
    assert TOKEN not in repr(settings)


# -- facts read from the store --------------------------------------------------------------------


def test_store_facts_are_counted_and_cached(services):
    now = datetime.now(UTC)
    collector = metrics.StoreCollector(services.store, services.huey, ttl=60)
    with services.store.session() as s:
        for i, (event, status) in enumerate(
            [("pull_request", "done"), ("pull_request", "failed"), ("push", "received")]
        ):
            s.add(
                Delivery(
                    id=f"github:{i}",
                    forge="github",
                    event=event,
                    status=status,
                    received_at=now - timedelta(minutes=10),
                )
            )
        s.add(
            CheckRecord(
                forge="github",
                repository="acme/shop",
                head_sha="a" * 40,
                name="compliance",
                conclusion="failure",
                updated_at=now,
            )
        )
    standing.record(
        services.store,
        "github",
        "acme/shop",
        {
            "main": Plan(active=(_entry("a"), _entry("b")), expired=(_entry("c"),)),
            "release/1.x": Plan(unapproved=(_entry("d"),)),
        },
        now,
    )
    standing.record(
        services.store,
        "github",
        "acme/old",
        {"main": Plan(active=(_entry("e"),))},
        now - timedelta(days=2),
    )

    first = _collect(collector)
    assert value(first, "compliance_bot_deliveries", event="pull_request", status="done") == 1
    assert value(first, "compliance_bot_deliveries", event="pull_request", status="failed") == 1
    assert value(first, "compliance_bot_deliveries_waiting") == 1
    assert 590 < value(first, "compliance_bot_deliveries_waiting_oldest_seconds") < 700
    assert value(first, "compliance_bot_checks", name="compliance", conclusion="failure") == 1
    # the repository swept two days ago no longer counts
    states = {s: value(first, "compliance_bot_exceptions", state=s) for s in standing.STATES}
    assert states == {"active": 2, "expiring": 0, "expired": 1, "unapproved": 1, "invalid": 0}
    assert value(first, "compliance_bot_queue_tasks", state="pending") == 0
    assert ("compliance_bot_audit_chain_length", ()) in first

    # within the cache's life a scrape reads nothing new
    standing.record(
        services.store, "github", "acme/shop", {"main": Plan(expired=(_entry("a"),))}, now
    )
    assert _collect(collector) == first
    fresh = _collect(metrics.StoreCollector(services.store, services.huey, ttl=0))
    assert value(fresh, "compliance_bot_exceptions", state="expired") == 1
    assert value(fresh, "compliance_bot_exceptions", state="active") == 0


def _entry(entry_id: str) -> ExemptionEntry:
    return ExemptionEntry(
        id=entry_id,
        policy="no-privileged",
        paths=("deploy/**",),
        resources=(),
        reason="vendor image",
        ticket=None,
        requested_by="alice",
        expires=datetime(2027, 1, 1, tzinfo=UTC),
        expires_text="2026-12-31",
        line=1,
        end_line=6,
    )


def test_an_unreachable_queue_is_reported_not_fatal(services):
    class Down:
        def pending_count(self) -> int:
            raise ConnectionError("queue down")

    scraped = _collect(metrics.StoreCollector(services.store, Down(), ttl=0))
    assert value(scraped, "compliance_bot_metrics_source_up", source="queue") == 0
    assert value(scraped, "compliance_bot_metrics_source_up", source="store") == 1


def _collect(collector: metrics.StoreCollector) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in collector.collect()
        for s in family.samples
    }


# -- several processes, one scrape ---------------------------------------------------------------

COUNTING = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bot import metrics
    from bot.config import Settings

    metrics.configure(Settings(data_dir=Path(sys.argv[1])))
    for _ in range(int(sys.argv[2])):
        with metrics.measured_job("probe"):
            pass
    metrics.forge_response("github", "GET", 200, installation=7, remaining=int(sys.argv[3]))
    print("ready", flush=True)
    sys.stdin.readline()  # alive until told to end
    """
)

SCRAPING = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bot import metrics
    from bot.config import Settings
    from bot.services import Services
    from bot.web.app import build_app

    settings = Settings(data_dir=Path(sys.argv[1]))
    metrics.configure(settings)
    services = Services(settings)
    services.migrate()
    sys.stdout.write(build_app(services).test_client().get("/metrics").text)
    """
)


def test_one_scrape_sums_the_processes_sharing_the_data_dir(tmp_path):
    data = str(tmp_path / "bot")
    counters = []
    try:
        for runs, remaining in ((3, 4000), (4, 3999)):
            proc = subprocess.Popen(
                [sys.executable, "-c", COUNTING, data, str(runs), str(remaining)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            counters.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        scraped = samples(_run(SCRAPING, data))
        assert value(scraped, "compliance_bot_jobs_total", job="probe", outcome="done") == 7
        assert value(scraped, "compliance_bot_job_duration_seconds_count", job="probe") == 7
        assert (
            value(
                scraped,
                "compliance_bot_forge_requests_total",
                forge="github",
                method="GET",
                status="200",
            )
            == 2
        )
        # the most recent report of the rate limit wins, not a sum
        assert (
            value(
                scraped,
                "compliance_bot_forge_rate_limit_remaining",
                forge="github",
                installation="7",
            )
            == 3999
        )
    finally:
        for proc in counters:
            proc.communicate("\n", timeout=30)

    # a process starting on this host removes the files of processes that are gone
    scraped = samples(_run(SCRAPING, data))
    assert value(scraped, "compliance_bot_jobs_total", job="probe", outcome="done") == 0


def _run(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
