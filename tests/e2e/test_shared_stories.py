"""Stories that hold on every forge, told once and played on GitHub and on GitLab, each in both
store/queue modes (SQLite + SQLite queue; PostgreSQL + Redis).

The vocabulary is ``worlds.ForgeWorld``: changes, checks and their summaries, comments,
approvals, merges. Stories about what only one forge has (check-run annotations, inline
discussions, forged commit statuses, merge groups) stay in that forge's own story files.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .test_check_stories import EXCEPTION, PRIVILEGED
from .test_command_stories import EXEMPT
from .worlds import EXCEPTIONS, ForgeWorld, GitHubForgeWorld, GitLabForgeWorld

REVIEW = "compliance/exception-review"
UNPRIVILEGED = PRIVILEGED.replace("privileged: true", "privileged: false")


@pytest.fixture(params=["github", "gitlab"])
def forge_world(request: pytest.FixtureRequest, mode: str) -> ForgeWorld:
    # `mode` is asked for here so that both forges run in both store/queue modes: the fixture
    # worlds below depend on it, and a fixture looked up by name cannot add parameters
    if request.param == "github":
        return GitHubForgeWorld(request.getfixturevalue("world"))
    return GitLabForgeWorld(request.getfixturevalue("gitlab_world"))


def blocked_change(world: ForgeWorld) -> int:
    number = world.open_change({"deploy/web.yaml": PRIVILEGED})
    assert world.check(number) == "failure"
    return number


def exempted(world: ForgeWorld) -> tuple[int, int]:
    """A blocked change and `/compliance exempt` on it: (the change, the exception change)."""
    number = blocked_change(world)
    world.comment(number, f"Please:\n{EXEMPT}\n")
    [exception] = world.exception_changes()
    [reply] = world.replies(number)
    # GitLab's reference to a merge request is !N (#N would link an issue)
    assert f"Opened {world.ref(exception)} " in reply, reply
    return number, exception


def test_a_privileged_container_fails_naming_policy_and_file_and_the_fix_passes(forge_world):
    world = forge_world
    number = blocked_change(world)
    summary = world.summary(number)
    assert "Blocking findings" in summary
    assert "k8s.privileged" in summary and "deploy/web.yaml" in summary

    world.push(number, {"deploy/web.yaml": UNPRIVILEGED})
    assert world.check(number) == "success"
    assert "Blocking findings" not in world.summary(number)


def test_exempt_opens_an_exception_change_a_code_owner_approval_and_merge_unblock_it(
    forge_world,
):
    world = forge_world
    number, exception = exempted(world)
    blocked_head = world.head(number)
    text = world.file_at(exception, EXCEPTIONS)
    assert text is not None and text.count("- id:") == 1
    assert "id: EXC-1" in text and "deploy/web.yaml" in text and "ticket: SEC-12" in text
    assert world.check(exception, REVIEW) != "success"

    world.approve(exception, "bob")  # may write, but is no code owner of .compliance/
    assert world.check(exception, REVIEW) != "success"
    world.approve(exception, "alice")  # acme/security, on the head
    assert world.check(exception, REVIEW) == "success"

    world.merge(exception)
    assert world.exception_changes() == []
    assert world.head(number) == blocked_head  # no push: the bot checked it again itself
    assert world.check(number) == "success"
    assert "EXC-1" in world.summary(number)


def test_the_author_of_an_exception_change_cannot_approve_it(forge_world):
    world = forge_world
    soon = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    text = "version: 1\nexceptions:\n" + EXCEPTION.format(expires=soon)
    # alice is a code owner, so her approval would count on anyone else's change (story above)
    exception = world.open_change({EXCEPTIONS: text}, branch="exc", author="alice")
    assert world.check(exception, REVIEW) != "success"

    world.approve_own(exception)
    assert world.check(exception, REVIEW) == "failure"
    assert "alice is the author" in world.summary(exception, REVIEW)  # refused, and why


def test_a_redelivered_webhook_does_nothing_twice(forge_world):
    world = forge_world
    number, exception = exempted(world)
    recorded, writes, replies = world.deliveries_recorded(), world.writes(), world.replies(number)
    assert writes > 0  # the count below can move: the bot did write to get here

    assert world.redeliver_last("comment") == 202
    assert world.redeliver_last("opened") == 202
    assert world.exception_changes() == [exception]  # no second exception change
    assert world.replies(number) == replies  # no second reply
    assert world.writes() == writes
    assert world.deliveries_recorded() == recorded
    assert world.check(number) == "failure"


def test_a_webhook_with_the_wrong_secret_is_refused_and_nothing_is_recorded(forge_world):
    world = forge_world
    recorded, calls = world.deliveries_recorded(), world.api_calls()
    assert world.post_forged_webhook() == 401
    assert world.deliveries_recorded() == recorded
    assert world.bot.services.huey.pending_count() == 0
    assert world.api_calls() == calls
    assert "delivery.refused" in world.audit_actions()


def test_at_the_deadline_the_change_turns_red_and_one_cleanup_change_removes_it(forge_world):
    world = forge_world
    number, exception = exempted(world)  # expires in 30 days
    world.approve(exception, "alice")
    world.merge(exception)
    assert world.check(number) == "success"

    summary = world.sweep(29)  # still in force
    assert summary["expired"] == []
    assert world.check(number) == "success"
    assert world.cleanup_changes() == []

    summary = world.sweep(31)
    assert summary["expired"] == ["EXC-1"]
    assert world.check(number) == "failure"
    [cleanup] = world.cleanup_changes()
    text = world.file_at(cleanup, EXCEPTIONS)
    assert text is not None and "EXC-1" not in text

    world.sweep(31.1)  # nothing new: nothing changes
    assert world.cleanup_changes() == [cleanup]
    assert world.check(number) == "failure"
