"""Stories of exception PRs: CODEOWNERS approval, the ledger, provenance (DESIGN §5 items 1-7, 14).

The repository's CODEOWNERS (on main) gives `.compliance/` to @acme/security, whose member is
alice; dev and bob have write access but are not code owners.
"""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import select

from bot.store.tables import AuditEvent, LedgerEntry

from .harness import normalised
from .test_check_stories import PRIVILEGED

EXCEPTIONS = ".compliance/exceptions.yaml"


def entry(
    entry_id: str = "EXC-1",
    expires: str = "2099-01-01",
    paths: str = '["deploy/**"]',
    reason: str = "the web pod needs raw sockets for a legacy health probe",
) -> str:
    return (
        f"  - id: {entry_id}\n"
        "    policy: k8s.privileged\n"
        f"    paths: {paths}\n"
        f"    reason: {reason}\n"
        "    requested_by: dev\n"
        f"    expires: {expires}\n"
    )


def soon(days: int = 30) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def exceptions_file(*entries: str) -> str:
    return (
        "version: 1\nexceptions:\n" + "".join(entries)
        if entries
        else ("version: 1\nexceptions: []\n")
    )


def open_exception_pr(
    world, text: str, *, branch: str = "exc", user: str = "dev", extra: dict | None = None
):
    sha = world.fake.commit(
        world.repo, branch, {EXCEPTIONS: text, **(extra or {})}, "request an exception", author=user
    )
    issue = world.fake.open_pull(world.repo, branch, title="Exception for web", user=user)
    world.bot.wait_idle()
    return issue.number, sha


def review_check(world, sha):
    return world.check(sha, "compliance/exception-review")


def ledger_rows(world):
    with world.bot.services.store.session() as s:
        return list(s.scalars(select(LedgerEntry)))


def audit_actions(world):
    with world.bot.services.store.session() as s:
        return [a.action for a in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_approved_exception_pr_merges_and_the_blocked_pr_turns_green(world, golden):
    _, blocked_sha = world.open_pr({"deploy/web.yaml": PRIVILEGED}, branch="feature")
    world.bot.wait_idle()
    assert world.check(blocked_sha).conclusion == "failure"

    number, sha = open_exception_pr(world, exceptions_file(entry(expires=soon())))
    run = review_check(world, sha)
    assert run.conclusion in (None, "failure") or run.status != "completed"
    golden("review-needs-approval.md", normalised(run.output["summary"]))
    assert "@acme/security" in run.output["summary"] or "acme/security" in run.output["summary"]

    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    assert review_check(world, sha).conclusion == "success"
    golden("review-approved.md", normalised(review_check(world, sha).output["summary"]))

    world.fake.merge_pull(world.repo, number, user="alice")
    world.bot.wait_idle()
    [row] = ledger_rows(world)
    assert (row.exception_id, row.pull_request, row.approvers) == ("EXC-1", number, ["alice"])
    assert "exception.approved" in audit_actions(world)
    # without a push, the blocked PR is checked again and passes under the approved exception
    run = world.check(blocked_sha)
    assert run.conclusion == "success", run.output["summary"]
    golden("blocked-pr-green.md", normalised(run.output["summary"]))


def test_author_and_commit_author_approvals_do_not_count(world):
    # item 3: alice (an owner) authors the PR and approves it herself
    number, sha = open_exception_pr(world, exceptions_file(entry(expires=soon())), user="alice")
    # GitHub itself refuses a self-approval; the fake can stage one, as an attacker might try
    world.fake.review(
        world.repo, number, user="alice", event="APPROVE", commit_id=sha, allow_own=True
    )
    world.bot.wait_idle()
    run = review_check(world, sha)
    assert run.conclusion != "success"
    assert "alice" in run.output["summary"]


def test_approval_before_a_later_commit_does_not_count(world):
    # item 4
    number, sha = open_exception_pr(world, exceptions_file(entry(expires=soon())))
    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    assert review_check(world, sha).conclusion == "success"
    later = world.fake.commit(
        world.repo,
        "exc",
        {EXCEPTIONS: exceptions_file(entry(paths='["deploy/**", "charts/**"]', expires=soon()))},
        "widen the scope",
        author="dev",
    )
    world.bot.wait_idle()
    run = review_check(world, later)
    assert run.conclusion != "success"
    assert sha[:7] in run.output["summary"]


def test_non_owner_approval_does_not_count(world):
    # item 5
    number, sha = open_exception_pr(world, exceptions_file(entry(expires=soon())))
    world.fake.review(world.repo, number, user="bob", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    run = review_check(world, sha)
    assert run.conclusion != "success"
    assert "bob" in run.output["summary"]


def test_exception_pr_changing_other_files_fails(world):
    # item 7
    number, sha = open_exception_pr(
        world, exceptions_file(entry(expires=soon())), extra={"deploy/web.yaml": PRIVILEGED}
    )
    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    run = review_check(world, sha)
    assert run.conclusion == "failure"
    assert "deploy/web.yaml" in run.output["summary"]


def test_direct_push_is_ignored_and_rebuild_restores_only_approved(world, tmp_path):
    # item 6: an approved exception via a PR, and one pushed straight to main
    number, sha = open_exception_pr(world, exceptions_file(entry("EXC-1", expires=soon())))
    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    world.fake.merge_pull(world.repo, number, user="alice")
    world.bot.wait_idle()
    text = world.fake.file_at(world.repo, "main", EXCEPTIONS)
    world.fake.commit(
        world.repo,
        "main",
        {EXCEPTIONS: text + entry("EXC-2", expires=soon(), paths='["charts/**"]')},
        "sneak one in",
        author="dev",
    )
    world.bot.wait_idle()

    _, pr_sha = world.open_pr(
        {"deploy/web.yaml": PRIVILEGED, "charts/web.yaml": PRIVILEGED.replace("web", "chart")},
        branch="feature",
    )
    world.bot.wait_idle()
    run = world.check(pr_sha)
    assert run.conclusion == "failure"  # charts/ is not covered: EXC-2 is unapproved
    assert "EXC-2" in run.output["summary"]
    assert "exception.ignored" in audit_actions(world)

    # a fresh database: rebuild the ledger from GitHub history
    from dataclasses import replace

    from .harness import BotUnderTest, ScratchDatabase

    world.bot.stop()
    scratch = ScratchDatabase() if world.bot.settings.database_url else None
    settings = replace(
        world.bot.settings,
        data_dir=tmp_path / "fresh",
        database_url=scratch.url if scratch else None,
    )
    fresh = BotUnderTest(settings, fake=world.fake)
    world.bot = fresh.start()
    world.app.webhook_url = f"{fresh.url}/webhooks/github"
    env = {
        "PATH": "/usr/bin:/bin",
        "COMPLIANCE_BOT_DATA_DIR": str(fresh.settings.data_dir),
        "GITHUB_APP_ID": fresh.settings.github_app_id,
        "GITHUB_PRIVATE_KEY": fresh.settings.github_private_key,
        "GITHUB_WEBHOOK_SECRET": fresh.settings.github_webhook_secret,
        "GITHUB_API_URL": fresh.settings.github_api_url,
    }
    if fresh.settings.database_url:
        env["DATABASE_URL"] = fresh.settings.database_url
    if fresh.settings.redis_url:
        env["REDIS_URL"] = fresh.settings.redis_url
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ledger", "rebuild", "--repo", "acme/shop"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    try:
        assert "1 entry recorded" in proc.stdout, proc.stdout
        assert [r.exception_id for r in ledger_rows(world)] == ["EXC-1"]
        # the approved exception is honoured again; the direct push still is not
        world.fake.commit(world.repo, "feature", {"deploy/other.yaml": PRIVILEGED}, "more")
        world.bot.wait_idle()
        head = world.fake.branch_sha(world.repo, "feature")
        summary = world.check(head).output["summary"]
        assert world.check(head).conclusion == "failure"
        assert "EXC-2" in summary and "EXC-1" in summary
    finally:
        fresh.stop()
        if scratch:
            scratch.drop()


def approve_and_merge(world, number, sha):
    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    assert review_check(world, sha).conclusion == "success", review_check(world, sha).output
    world.fake.merge_pull(world.repo, number, user="alice")
    world.bot.wait_idle()


def test_renewals_are_counted_and_capped(world):
    # item 14: every extension needs a fresh approval and is counted; the cap comes from config
    world.fake.commit(
        world.repo,
        "main",
        {".compliance/config.yaml": "version: 1\nexceptions:\n  max_renewals: 1\n"},
        "cap renewals at one",
    )
    number, sha = open_exception_pr(world, exceptions_file(entry(expires=soon(10))))
    approve_and_merge(world, number, sha)
    number, sha = open_exception_pr(
        world, exceptions_file(entry(expires=soon(40))), branch="renew-1"
    )
    approve_and_merge(world, number, sha)
    counts = sorted((r.exception_id, r.renewal_count) for r in ledger_rows(world))
    assert counts == [("EXC-1", 0), ("EXC-1", 1)]
    number, sha = open_exception_pr(
        world, exceptions_file(entry(expires=soon(70))), branch="renew-2"
    )
    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    run = review_check(world, sha)
    assert run.conclusion == "failure"
    assert "renew" in run.output["summary"].lower()
    # a bypass signal in the audit stream (and so in notifications and metrics)
    assert "exception.renewal_capped" in audit_actions(world)


def test_codeowners_change_on_main_rejudges_open_exception_prs(world):
    number, sha = open_exception_pr(world, exceptions_file(entry(expires=soon())))
    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    assert review_check(world, sha).conclusion == "success"
    world.fake.add_team("acme", "platform", members=["bob"], repos={"acme/shop": "write"})
    world.fake.commit(
        world.repo,
        "main",
        {".github/CODEOWNERS": "/.compliance/ @acme/platform\n"},
        "hand exceptions to platform",
        author="bob",
    )
    world.bot.wait_idle()
    run = review_check(world, sha)  # the same run, judged again with the new owners
    assert run.conclusion != "success"
    assert "platform" in run.output["summary"]
