"""Stories on GitLab (issue 12): the same loop as on GitHub, through merge requests, commit
statuses, notes and discussions, with the real python-gitlab against the fake GitLab."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from .gitlab_world import HOOK_TOKEN
from .test_check_stories import EXCEPTION, PRIVILEGED

SUMMARY_MARKER = "<!-- compliance-bot:check:compliance -->"


def summary_notes(world, iid: int) -> list:
    return [n for n in world.notes(iid) if SUMMARY_MARKER in (n.body or "")]


def finding_threads(world, iid: int, policy: str = "k8s.privileged") -> list:
    """The inline diff notes that start a thread about ``policy``."""
    return [n for n in world.notes(iid) if n.type == "DiffNote" and policy in (n.body or "")]


def test_a_blocked_mr_gets_a_failed_status_a_summary_note_and_a_discussion(gitlab_world):
    world = gitlab_world
    iid, sha = world.open_mr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    status = world.status(sha)
    assert status.status == "failed"
    assert status.author_id == world.bot_user.id  # posted by the bot's own token
    [note] = summary_notes(world, iid)
    assert "k8s.privileged" in note.body and "deploy/web.yaml" in note.body
    [thread] = finding_threads(world, iid)
    assert (thread.position["new_path"], thread.position["new_line"]) == ("deploy/web.yaml", 11)
    assert thread.resolvable and not thread.resolved


def test_fixing_the_mr_turns_it_green_and_resolves_the_discussion(gitlab_world):
    world = gitlab_world
    iid, _ = world.open_mr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    fixed = world.fake.commit(
        world.project,
        "feature",
        {"deploy/web.yaml": PRIVILEGED.replace("true", "false")},
        "not privileged",
        author="dev",
    )
    world.bot.wait_idle()
    assert world.status(fixed).status == "success"
    [note] = summary_notes(world, iid)  # edited in place, never a second one
    assert "No blocking findings" in note.body or "no blocking" in note.body.lower()
    threads = finding_threads(world, iid)
    assert threads and all(n.resolved for n in threads)


def test_a_redelivered_webhook_does_nothing_twice(gitlab_world):
    world = gitlab_world
    iid, _ = world.open_mr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    posts = world.fake.calls[("POST", "/projects/{id}/statuses/{sha}")]
    [opened] = world.fake.deliveries_of("Merge Request Hook", action="open")
    world.fake.redeliver(opened)
    world.bot.wait_idle()
    assert world.fake.calls[("POST", "/projects/{id}/statuses/{sha}")] == posts
    assert len(summary_notes(world, iid)) == 1
    rows = [d for d in world.bot.deliveries() if d.id.startswith("gitlab:")]
    assert len({d.id for d in rows}) == len(rows)


def test_a_webhook_with_a_bad_token_is_refused_and_runs_nothing(gitlab_world):
    world = gitlab_world
    request = urllib.request.Request(
        f"{world.bot.url}/webhooks/gitlab",
        data=json.dumps({"object_kind": "push"}).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Token": HOOK_TOKEN + "x",
            "Idempotency-Key": "2b1e7c54-0000-4000-8000-000000000001",
        },
        method="POST",
    )
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("a bad token was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    assert world.bot.deliveries() == []


EXEMPT = (
    '/compliance exempt k8s.privileged --reason "the web pod needs raw sockets for a legacy'
    ' probe" --expires 30d --ticket SEC-12'
)
REVIEW = "compliance/exception-review"


def bot_replies(world, iid: int) -> list:
    return [n for n in world.notes(iid) if "compliance-bot:reply" in (n.body or "")]


def exception_mr_from_exempt(world) -> tuple[int, str, int]:
    """A blocked MR, then `/compliance exempt` on it: (blocked iid, its head, exception iid)."""
    iid, sha = world.open_mr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    assert world.status(sha).status == "failed"
    comment = world.fake.comment(world.project, iid, f"Please:\n{EXEMPT}\n", user="dev")
    world.bot.wait_idle()
    assert [(a.name, a.user_id) for a in comment.awards] == [("eyes", world.bot_user.id)]
    [reply] = bot_replies(world, iid)
    assert "Opened !" in reply.body or "Opened #" in reply.body, reply.body
    opened = [
        mr
        for mr in world.fake.project(world.project).merge_requests.values()
        if mr.source_branch == "compliance/exception/EXC-1"
    ]
    assert len(opened) == 1
    return iid, sha, opened[0].iid


def test_exempt_opens_an_exception_mr_a_code_owner_approves_and_the_mr_turns_green(gitlab_world):
    world = gitlab_world
    _, sha, exception = exception_mr_from_exempt(world)
    mr = world.fake.mr(world.project, exception)
    text = world.fake.file_at(world.project, mr.head_sha, ".compliance/exceptions.yaml")
    assert text.count("- id:") == 1 and "id: EXC-1" in text and "ticket: SEC-12" in text
    assert world.status(mr.head_sha, REVIEW).status != "success"

    world.fake.approve(world.project, exception, user="bob")  # not a code owner
    world.bot.wait_idle()
    assert world.status(mr.head_sha, REVIEW).status != "success"
    world.fake.approve(world.project, exception, user="alice")  # acme/security, on the head
    world.bot.wait_idle()
    assert world.status(mr.head_sha, REVIEW).status == "success"

    world.fake.merge_mr(world.project, exception, user="lead")
    world.bot.wait_idle()
    assert world.status(sha).status == "success"  # the blocked MR, without a push


def test_an_approval_given_before_a_push_does_not_count(gitlab_world):
    world = gitlab_world
    _, _, exception = exception_mr_from_exempt(world)
    world.fake.approve(world.project, exception, user="alice")
    world.bot.wait_idle()
    mr = world.fake.mr(world.project, exception)
    assert world.status(mr.head_sha, REVIEW).status == "success"
    text = world.fake.file_at(world.project, mr.head_sha, ".compliance/exceptions.yaml")
    later = world.fake.commit(
        world.project,
        mr.source_branch,
        {".compliance/exceptions.yaml": text.replace("deploy/web.yaml", "deploy/**")},
        "widen the scope",
        author="dev",
    )
    world.bot.wait_idle()
    assert world.status(later, REVIEW).status != "success"


def test_the_author_of_an_exception_mr_cannot_approve_it(gitlab_world):
    world = gitlab_world
    text = "version: 1\nexceptions:\n" + EXCEPTION.format(expires="2099-01-01")
    exception, sha = world.open_mr(
        {".compliance/exceptions.yaml": text}, branch="exc", author="alice"
    )
    world.bot.wait_idle()
    world.fake.set_approval_settings(world.project, merge_requests_author_approval=True)
    world.fake.approve(world.project, exception, user="alice")
    world.bot.wait_idle()
    status = world.status(sha, REVIEW)
    assert status.status == "failed"


def test_an_exception_mr_that_changes_other_files_is_refused(gitlab_world):
    world = gitlab_world
    text = "version: 1\nexceptions:\n" + EXCEPTION.format(expires="2099-01-01")
    exception, sha = world.open_mr(
        {".compliance/exceptions.yaml": text, "deploy/web.yaml": PRIVILEGED}, branch="mixed"
    )
    world.bot.wait_idle()
    world.fake.approve(world.project, exception, user="alice")
    world.bot.wait_idle()
    assert world.status(sha, REVIEW).status == "failed"


def test_at_the_deadline_the_mr_turns_red_one_cleanup_mr_and_the_dashboard_issue(gitlab_world):
    world = gitlab_world
    _, sha, exception = exception_mr_from_exempt(world)  # expires in 30 days
    world.fake.approve(world.project, exception, user="alice")
    world.bot.wait_idle()
    world.fake.merge_mr(world.project, exception, user="lead")
    world.bot.wait_idle()
    assert world.status(sha).status == "success"

    def sweep(days: float) -> dict:
        when = datetime.now(UTC) + timedelta(days=days)
        summary = world.bot.services.sweep("gitlab", world.full_name, now=when)
        world.bot.wait_idle()
        return summary

    # 13 days before the deadline: one reminder, as a note on the exception MR
    sweep(17)
    sweep(17.1)
    reminders = [n for n in world.notes(exception) if "EXC-1" in n.body and "expires" in n.body]
    assert len(reminders) == 1, [n.body[:80] for n in world.notes(exception)]

    summary = sweep(31)
    assert summary["expired"] == ["EXC-1"]
    assert world.status(world.fake.mr(world.project, 1).head_sha).status == "failed"
    cleanups = [
        mr
        for mr in world.fake.project(world.project).merge_requests.values()
        if mr.source_branch.startswith("compliance/cleanup-expired") and mr.state == "opened"
    ]
    assert len(cleanups) == 1
    text = world.fake.file_at(world.project, cleanups[0].head_sha, ".compliance/exceptions.yaml")
    assert "EXC-1" not in text
    sweep(31.1)  # nothing new: nothing changes
    assert [
        mr.iid
        for mr in world.fake.project(world.project).merge_requests.values()
        if mr.source_branch.startswith("compliance/cleanup-expired") and mr.state == "opened"
    ] == [cleanups[0].iid]
    dashboards = [
        i
        for i in world.fake.project(world.project).issues.values()
        if "compliance-bot:dashboard" in (i.description or "")
    ]
    assert len(dashboards) == 1 and "EXC-1" in dashboards[0].description


def test_a_status_named_like_ours_posted_by_someone_else_is_a_forgery(gitlab_world):
    from sqlalchemy import select

    from bot.store.tables import AuditEvent

    world = gitlab_world
    iid, sha = world.open_mr({"deploy/web.yaml": PRIVILEGED.replace("true", "false")})
    world.bot.wait_idle()
    assert world.status(sha).status == "success"
    bad = world.fake.commit(world.project, "feature", {"deploy/web.yaml": PRIVILEGED}, "p")
    world.bot.wait_idle()
    assert world.status(bad).status == "failed"
    # a Developer posts a green `compliance` of their own: now the latest status of that name
    world.fake.post_status(world.project, bad, "success", user="bob", name="compliance")
    assert world.status(bad).status == "success"
    # GitLab sends no event for a status: the next evaluation finds it (here a re-run)
    world.fake.comment(world.project, iid, "/compliance recheck", user="dev")
    world.bot.wait_idle()
    latest = world.status(bad)
    assert (latest.status, latest.author_id) == ("failed", world.bot_user.id)
    [note] = summary_notes(world, iid)
    assert "Forged status" in note.body and "bob" in note.body
    with world.bot.services.store.session() as session:
        forged = list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == "status.forged"))
        )
    assert [(e.actor, e.details["context"]) for e in forged] == [("bob", "compliance")]


def test_an_exception_pushed_straight_to_main_is_ignored_and_audited(gitlab_world):
    from sqlalchemy import select

    from bot.store.tables import AuditEvent

    world = gitlab_world
    iid, sha = world.open_mr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    assert world.status(sha).status == "failed"
    soon = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    text = "version: 1\nexceptions:\n" + EXCEPTION.format(expires=soon)
    world.fake.commit(
        world.project, "main", {".compliance/exceptions.yaml": text}, "sneak", author="lead"
    )
    world.bot.wait_idle()
    # the MR stays red (an unapproved entry changes nothing, so nothing is re-judged); its next
    # evaluation lists the entry as unapproved
    assert world.status(sha).status == "failed"
    later = world.fake.commit(world.project, "feature", {"deploy/x.yaml": "a: 1\n"}, "more")
    world.bot.wait_idle()
    assert world.status(later).status == "failed"
    [note] = summary_notes(world, iid)
    assert "EXC-1" in note.body and "unapproved" in note.body.lower()
    with world.bot.services.store.session() as session:
        ignored = list(
            session.scalars(select(AuditEvent).where(AuditEvent.action == "exception.ignored"))
        )
    assert [e.details["exception"] for e in ignored] == ["EXC-1"]


def test_ledger_rebuild_from_gitlab_history_after_the_database_is_lost(gitlab_world, tmp_path):
    import subprocess
    import sys
    from dataclasses import replace

    from sqlalchemy import select

    from bot.store.tables import LedgerEntry

    from .harness import BotUnderTest, ScratchDatabase

    world = gitlab_world
    _, _, exception = exception_mr_from_exempt(world)
    world.fake.approve(world.project, exception, user="alice")
    world.bot.wait_idle()
    world.fake.merge_mr(world.project, exception, user="lead")
    world.bot.wait_idle()

    # a fresh database: neither the ledger nor the approval heads the webhooks gave survive
    world.bot.stop()
    scratch = ScratchDatabase() if world.bot.settings.database_url else None
    settings = replace(
        world.bot.settings,
        data_dir=tmp_path / "fresh",
        database_url=scratch.url if scratch else None,
    )
    fresh = BotUnderTest(settings, fake=world.fake).start()
    world.bot = fresh
    env = {
        "PATH": "/usr/bin:/bin",
        "COMPLIANCE_BOT_DATA_DIR": str(settings.data_dir),
        "GITLAB_URL": settings.gitlab_url,
        "GITLAB_TOKEN": settings.gitlab_token,
        "GITLAB_WEBHOOK_SECRET": settings.gitlab_webhook_secret,
    }
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bot.cli", "ledger", "rebuild", "--repo", "acme/shop"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        # the approval's head comes from GitLab itself (approved_at after the head's version)
        assert "1 entry recorded" in proc.stdout, proc.stdout
        with fresh.services.store.session() as session:
            rows = list(session.scalars(select(LedgerEntry)))
        assert [(r.exception_id, r.pull_request, r.approvers) for r in rows] == [
            ("EXC-1", exception, ["alice"])
        ]
    finally:
        fresh.stop()
        if scratch:
            scratch.drop()


def exception_text(days: int = 30) -> str:
    """The exceptions file with EXC-1, expiring in ``days``."""
    soon = (datetime.now(UTC) + timedelta(days=days)).date().isoformat()
    return "version: 1\nexceptions:\n" + EXCEPTION.format(expires=soon)


def review_note(world, iid: int):
    marker = f"<!-- compliance-bot:check:{REVIEW} -->"
    [note] = [n for n in world.notes(iid) if marker in (n.body or "")]
    return note


def test_role_code_owners_are_the_projects_direct_members_with_that_role(gitlab_world):
    world = gitlab_world
    # GitLab: "@@maintainer" means the project's direct members with exactly the Maintainer role
    world.fake.commit(
        world.project,
        "main",
        {"CODEOWNERS": "[Exceptions]\n/.compliance/exceptions.yaml @@maintainer\n"},
        "maintainers own the exceptions",
        author="lead",
    )
    world.fake.add_member(world.project, "mara", 40)  # a direct Maintainer
    world.bot.wait_idle()
    exception, sha = world.open_mr({".compliance/exceptions.yaml": exception_text()}, branch="exc")
    world.bot.wait_idle()
    assert world.status(sha, REVIEW).status == "failed"

    world.fake.approve(world.project, exception, user="bob")  # a Developer
    world.bot.wait_idle()
    assert world.status(sha, REVIEW).status == "failed"
    world.fake.approve(world.project, exception, user="lead")  # a Maintainer through the group
    world.bot.wait_idle()
    assert world.status(sha, REVIEW).status == "failed"
    world.fake.approve(world.project, exception, user="mara")
    world.bot.wait_idle()
    assert world.status(sha, REVIEW).status == "success"
    note = review_note(world, exception).body
    assert "a direct Maintainer of the project" in note and "mara" in note


def test_on_premium_gitlabs_own_code_owner_rule_must_be_approved_too(gitlab_world):
    world = gitlab_world
    # GitLab Premium made a code-owner rule for the file's CODEOWNERS entry (named after its
    # pattern) that wants two approvals; the bot's own reading of CODEOWNERS wants one
    world.fake.add_approval_rule(
        world.project,
        "/.compliance/",
        rule_type="code_owner",
        section="Compliance",
        users=["alice", "lead"],
        approvals_required=2,
    )
    exception, sha = world.open_mr({".compliance/exceptions.yaml": exception_text()}, branch="exc")
    world.bot.wait_idle()
    world.fake.approve(world.project, exception, user="alice")  # enough for the bot alone
    world.bot.wait_idle()
    status = world.status(sha, REVIEW)
    assert status.status == "failed"
    assert status.description == "Failed: 1 GitLab code-owner approval rule not approved"
    note = review_note(world, exception).body
    assert "GitLab's code-owner approval rule '/.compliance/' (section Compliance)" in note
    assert "is not approved (1 of 2 approvals)" in note

    world.fake.approve(world.project, exception, user="lead")
    world.bot.wait_idle()
    assert world.status(sha, REVIEW).status == "success"
