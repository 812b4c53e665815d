"""Deadlines: an expired exception stops applying, its PRs turn red, one cleanup PR cleans up,
reminders come once per threshold, the dashboard issue shows every state (DESIGN §5 item 9).

Time is injected: the sweep runs as of a chosen instant, so no test waits for a deadline.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from .test_check_stories import PRIVILEGED
from .test_exception_stories import EXCEPTIONS, entry, exceptions_file, open_exception_pr

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).date().isoformat()


def at(offset_days: float) -> datetime:
    return TODAY + timedelta(days=offset_days)


def approve_merge(world, number, sha):
    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    world.fake.merge_pull(world.repo, number, user="alice")
    world.bot.wait_idle()


def sweep(world, when: datetime, *, dry_run: bool = False) -> dict:
    summary = world.bot.services.sweep(
        world.installation.id, world.full_name, now=when, dry_run=dry_run
    )
    world.bot.wait_idle()
    return summary


def cleanup_pulls(world):
    return [p for p in world.repo.pulls() if p.pull.head_ref == "compliance/cleanup-expired"]


def dashboards(world):
    return [
        i
        for i in world.repo.issues.values()
        if i.pull is None and "compliance-bot:dashboard" in (i.body or "")
    ]


def test_expiry_flips_the_pr_red_and_one_cleanup_pr_tracks_every_expiry(world):
    _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED}, branch="feature")
    number, exc_sha = open_exception_pr(
        world,
        exceptions_file(
            entry("EXC-1", expires=day(1)),
            entry("EXC-2", expires=day(20), paths='["charts/**"]'),
        ),
    )
    approve_merge(world, number, exc_sha)
    assert world.check(sha).conclusion == "success"

    # the day after the deadline: the rule bites again, a cleanup PR removes EXC-1
    summary = sweep(world, at(2.5))
    assert summary["expired"] == ["EXC-1"]
    assert world.check(sha).conclusion == "failure"
    [cleanup] = cleanup_pulls(world)
    text = world.fake.file_at(world.repo, cleanup.pull.head_sha, EXCEPTIONS)
    assert "EXC-1" not in text and "EXC-2" in text
    assert "EXC-1" in cleanup.body and "@dev" in cleanup.body

    # nothing new: the same sweep changes nothing
    sweep(world, at(2.6))
    assert len(cleanup_pulls(world)) == 1

    # a second expiry updates the same PR
    sweep(world, at(22))
    [again] = cleanup_pulls(world)
    assert again.number == cleanup.number
    text = world.fake.file_at(world.repo, again.pull.head_sha, EXCEPTIONS)
    assert "EXC-1" not in text and "EXC-2" not in text
    assert "EXC-2" in again.body

    # merging it closes the loop: nothing expired remains, nothing is reopened
    world.fake.review(
        world.repo, again.number, user="alice", event="APPROVE", commit_id=again.pull.head_sha
    )
    world.bot.wait_idle()
    world.fake.merge_pull(world.repo, again.number, user="alice")
    world.bot.wait_idle()
    summary = sweep(world, at(23))
    assert summary["expired"] == []
    assert [p for p in cleanup_pulls(world) if p.state == "open"] == []


def test_dashboard_issue_reflects_every_state_and_is_never_duplicated(world):
    number, exc_sha = open_exception_pr(
        world,
        exceptions_file(
            entry("EXC-1", expires=day(1)),
            entry("EXC-2", expires=day(10), paths='["charts/**"]'),
            entry("EXC-3", expires=day(60), paths='["apps/**"]'),
        ),
    )
    approve_merge(world, number, exc_sha)
    text = world.fake.file_at(world.repo, "main", EXCEPTIONS)
    world.fake.commit(
        world.repo,
        "main",
        {EXCEPTIONS: text + entry("EXC-4", expires=day(30), paths='["tools/**"]')},
        "sneak one in",
    )
    world.bot.wait_idle()
    sweep(world, at(2))
    [issue] = dashboards(world)
    body = issue.body
    for fragment in ("EXC-1", "EXC-2", "EXC-3", "EXC-4"):
        assert fragment in body
    lowered = body.lower()
    assert "expired" in lowered and "unapproved" in lowered and "expiring" in lowered
    assert "unused" in lowered  # none of them matches a finding on main
    sweep(world, at(2.1))
    assert len(dashboards(world)) == 1


def test_reminders_fire_once_per_threshold(world):
    number, exc_sha = open_exception_pr(world, exceptions_file(entry("EXC-1", expires=day(20))))
    approve_merge(world, number, exc_sha)

    def reminders():
        return [
            c
            for c in world.fake.comments_on(world.repo, number)
            if "compliance-bot:reminder" in c.body
        ]

    sweep(world, at(1))
    assert reminders() == []  # 19 days left: no threshold crossed
    sweep(world, at(7))
    assert len(reminders()) == 1 and "@dev" in reminders()[0].body  # 14-day threshold
    sweep(world, at(8))
    assert len(reminders()) == 1  # once per threshold
    sweep(world, at(18))
    assert len(reminders()) == 2  # 3-day threshold


def test_dry_run_changes_nothing(world):
    _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED}, branch="feature")
    number, exc_sha = open_exception_pr(world, exceptions_file(entry("EXC-1", expires=day(1))))
    approve_merge(world, number, exc_sha)
    world.fake.reset_calls()
    before = audit_count(world)
    env = {
        "PATH": "/usr/bin:/bin",
        "COMPLIANCE_BOT_DATA_DIR": str(world.bot.settings.data_dir),
        "GITHUB_APP_ID": world.bot.settings.github_app_id,
        "GITHUB_PRIVATE_KEY": world.bot.settings.github_private_key,
        "GITHUB_WEBHOOK_SECRET": world.bot.settings.github_webhook_secret,
        "GITHUB_API_URL": world.bot.settings.github_api_url,
        **(
            {"DATABASE_URL": world.bot.settings.database_url}
            if world.bot.settings.database_url
            else {}
        ),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "expire",
            "--once",
            "--repo",
            "acme/shop",
            "--dry-run",
            "--now",
            at(3).isoformat(),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "would open cleanup PR removing EXC-1" in proc.stdout
    writes = {
        k: v for k, v in world.fake.calls.items() if k[0] in ("POST", "PATCH", "PUT", "DELETE")
    }
    assert writes == {("POST", "/app/installations/{installation_id}/access_tokens"): 1} or all(
        k[1].endswith("access_tokens") for k in writes
    )
    assert cleanup_pulls(world) == [] and dashboards(world) == []
    assert world.check(sha).conclusion == "success"
    assert audit_count(world) == before  # DryRunActions: not even a decision recorded


def audit_count(world) -> int:
    from sqlalchemy import func, select

    from bot.store.tables import AuditEvent

    with world.bot.services.store.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent))


def test_lost_webhook_is_reconciled(world):
    world.fake.webhook_mode = "manual"
    sha = world.fake.commit(world.repo, "lost", {"deploy/web.yaml": PRIVILEGED}, "lost push")
    world.fake.open_pull(world.repo, "lost", user="dev")
    world.fake.drop_pending()  # GitHub never delivered them
    world.fake.webhook_mode = "auto"
    assert world.checks(sha) == []
    sweep(world, at(0))
    assert world.check(sha).conclusion == "failure"


def test_dashboard_can_be_switched_off(world):
    world.fake.commit(
        world.repo,
        "main",
        {
            ".compliance/config.yaml": "version: 1\ndashboard: {enabled: false}\n",
            EXCEPTIONS: exceptions_file(entry("EXC-1", expires=day(30))),
        },
        "no dashboard here",
    )
    world.bot.wait_idle()
    sweep(world, at(1))
    assert dashboards(world) == []
