"""No result outlives the rules it rested on (issue 9, items 1 and 2; DESIGN §5 item 19).

A PR kept green by an exception turns red, without a push, when that exception is revoked,
narrowed or reaches its deadline, on the default branch and on any other base branch; each
base branch with expired exceptions gets its own cleanup PR, and the dashboard names the branch.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.store.tables import AuditEvent, CheckRecord

from .test_check_stories import PRIVILEGED
from .test_deadline_stories import approve_merge, at, dashboards, day, sweep
from .test_exception_stories import EXCEPTIONS, entry, exceptions_file, open_exception_pr

RELEASE = "release/1.x"


def green_by_exception(world, *, paths: str = '["deploy/**"]', expires: str | None = None):
    """A PR with a blocking finding, kept green by an approved exception EXC-1."""
    _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED}, branch="feature")
    world.bot.wait_idle()
    assert world.check(sha).conclusion == "failure"
    number, exc_sha = open_exception_pr(
        world, exceptions_file(entry("EXC-1", paths=paths, expires=expires or day(30)))
    )
    approve_merge(world, number, exc_sha)
    assert world.check(sha).conclusion == "success"
    return sha


def test_revoking_an_exception_turns_the_prs_it_kept_green_red(world):
    sha = green_by_exception(world)
    number, revoke_sha = open_exception_pr(world, exceptions_file(), branch="revoke")
    approve_merge(world, number, revoke_sha)
    run = world.check(sha)
    assert run.conclusion == "failure"  # without a push to the PR
    assert "EXC-1" not in run.output["summary"].split("## ")[0]
    with world.bot.services.store.session() as s:
        record = s.scalar(select(CheckRecord).where(CheckRecord.head_sha == sha))
        assert record.relied_on["applied"] == []


def test_narrowing_an_exception_rejudges_and_a_direct_push_does_too(world):
    sha = green_by_exception(world)
    # narrowed in a reviewed PR: the PR's file is no longer in scope
    narrowed = exceptions_file(entry("EXC-1", paths='["deploy/other/**"]', expires=day(30)))
    number, narrow_sha = open_exception_pr(world, narrowed, branch="narrow")
    approve_merge(world, number, narrow_sha)
    assert world.check(sha).conclusion == "failure"

    # widened by a direct push: not approved, so it must not turn the PR green
    world.fake.commit(
        world.repo,
        "main",
        {EXCEPTIONS: exceptions_file(entry("EXC-1", paths='["deploy/*"]', expires=day(30)))},
        "widen",
        author="bob",
    )
    world.bot.wait_idle()
    assert world.check(sha).conclusion == "failure"


def test_a_shortened_deadline_is_what_the_sweep_enforces(world):
    sha = green_by_exception(world, expires=day(60))
    number, short_sha = open_exception_pr(
        world, exceptions_file(entry("EXC-1", expires=day(3))), branch="shorten"
    )
    approve_merge(world, number, short_sha)
    assert world.check(sha).conclusion == "success"  # still excepted, until the new deadline
    with world.bot.services.store.session() as s:
        record = s.scalar(select(CheckRecord).where(CheckRecord.head_sha == sha))
        [applied] = record.relied_on["applied"]
        assert day(3) <= applied["expires"][:10] < day(5)  # the new deadline (end of day 3)
    sweep(world, at(5))
    assert world.check(sha).conclusion == "failure"


def release_branch(world) -> None:
    """``release/1.x`` cut from main (its own exceptions file and CODEOWNERS)."""
    world.fake.commit(world.repo, RELEASE, {"RELEASE": "1.x\n"}, "cut 1.x", base="main")
    world.bot.wait_idle()


def approved_on_release(world, *, expires: str) -> None:
    """EXC-1 added to ``release/1.x`` by an exception PR a code owner approved, merged."""
    world.fake.commit(
        world.repo,
        "exc-1x",
        {EXCEPTIONS: exceptions_file(entry("EXC-1", expires=expires))},
        "exception on 1.x",
        base=RELEASE,
    )
    exc = world.fake.open_pull(world.repo, "exc-1x", base=RELEASE, user="dev")
    world.bot.wait_idle()
    approve_merge(world, exc.number, exc.pull.head_sha)


def test_exceptions_on_another_base_branch_expire_with_their_own_cleanup_pr(world):
    release_branch(world)
    world.fake.commit(world.repo, "fix-1x", {"deploy/web.yaml": PRIVILEGED}, base=RELEASE)
    pr = world.fake.open_pull(world.repo, "fix-1x", base=RELEASE, user="dev")
    world.bot.wait_idle()
    sha = pr.pull.head_sha
    assert world.check(sha).conclusion == "failure"

    approved_on_release(world, expires=day(1))
    assert world.check(sha).conclusion == "success"

    summary = sweep(world, at(2.5))
    assert summary["branches"][RELEASE]["expired"] == ["EXC-1"]
    assert world.check(sha).conclusion == "failure"  # the rule bites on 1.x too
    cleanups = [p for p in world.repo.pulls() if p.pull.head_ref.startswith("compliance/cleanup")]
    assert [(p.pull.head_ref, p.pull.base_ref) for p in cleanups] == [
        (f"compliance/cleanup-expired-for/{RELEASE}", RELEASE)
    ]
    [cleanup] = cleanups
    assert "EXC-1" not in world.fake.file_at(world.repo, cleanup.pull.head_sha, EXCEPTIONS)
    [dashboard] = dashboards(world)
    assert f"`{RELEASE}`" in dashboard.body and "| Branch |" in dashboard.body

    sweep(world, at(2.6))  # nothing new: nothing changes
    again = [p for p in world.repo.pulls() if p.pull.head_ref.startswith("compliance/cleanup")]
    assert [p.number for p in again] == [cleanup.number]
    with world.bot.services.store.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "cleanup.updated"))
        assert [e.details["branch"] for e in events] == [RELEASE]


def test_a_protected_branch_is_swept_even_without_open_prs(world):
    release_branch(world)
    approved_on_release(world, expires=day(1))

    assert RELEASE not in sweep(world, at(2.5))["branches"]  # no PR into it, not protected
    world.fake.protect_branch(world.repo, RELEASE)
    summary = sweep(world, at(2.6))
    assert summary["branches"][RELEASE]["expired"] == ["EXC-1"]
    cleanups = [p for p in world.repo.pulls() if p.pull.head_ref.startswith("compliance/cleanup")]
    assert [p.pull.base_ref for p in cleanups] == [RELEASE]


def test_a_revoked_exception_pushed_back_directly_is_not_approved_again(world):
    sha = green_by_exception(world)
    approved = world.fake.file_at(world.repo, "main", EXCEPTIONS)
    number, revoke_sha = open_exception_pr(world, exceptions_file(), branch="revoke")
    approve_merge(world, number, revoke_sha)
    assert world.check(sha).conclusion == "failure"
    # the exact content a code owner once approved, pushed back without a review
    world.fake.commit(world.repo, "main", {EXCEPTIONS: approved}, "restore", author="bob")
    world.bot.wait_idle()
    world.fake.rerequest_check_run(world.check(sha), user="dev")
    world.bot.wait_idle()
    run = world.check(sha)
    assert run.conclusion == "failure"
    assert "EXC-1" in run.output["summary"]  # listed as unapproved, not applied
    with world.bot.services.store.session() as s:
        retired = s.scalars(select(AuditEvent).where(AuditEvent.action == "exception.retired"))
        assert [e.details["exception"] for e in retired] == ["EXC-1"]


def test_an_approval_on_one_branch_does_not_count_on_another(world):
    release_branch(world)
    approved_on_release(world, expires=day(30))
    # the same entry copied onto main by a direct push: approved for 1.x, not for main
    copied = world.fake.file_at(world.repo, RELEASE, EXCEPTIONS)
    world.fake.commit(world.repo, "main", {EXCEPTIONS: copied}, "copy", author="bob")
    world.bot.wait_idle()
    _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED}, branch="feature")
    world.bot.wait_idle()
    assert world.check(sha).conclusion == "failure"
