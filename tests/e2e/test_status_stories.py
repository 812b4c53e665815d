"""Stories of commit statuses posted under the bot's check names (DESIGN §5 item 12).

Branch protection that requires `compliance` without pinning the App accepts a commit status of
that name from anyone with write access. The bot reports only through check runs, so such a
status is noticed, audited once, and the bot's own check on that head fails, naming who posted it.
mallory has write access to acme/shop; the App subscribes to `status`, as app.yml says.
"""

from __future__ import annotations

import pytest
from github import Auth, Github

from bot import audit
from bot.events import PayloadError, StatusEvent, parse_github
from bot.forge.base import CheckOutput
from bot.handlers.status import Forgery, overridden
from bot.report.markdown import MARKER, MAX_SUMMARY

from .harness import normalised
from .test_exception_stories import entry, exceptions_file, open_exception_pr, review_check, soon

CLEAN = {"docs/notes.md": "# notes\n"}
REVIEW = "compliance/exception-review"


@pytest.fixture
def status_world(world):
    world.fake.add_user("mallory")
    world.fake.add_collaborator(world.repo, "mallory", "write")
    world.installation.events.append("status")  # app.yml's default_events include it
    return world


def post_status(world, sha: str, context: str, state: str = "success", user: str = "mallory"):
    """A person posts a commit status through the REST API, with their own token."""
    github = Github(auth=Auth.Token(world.fake.user_token(user)), base_url=world.fake.api_url)
    status = (
        github.get_repo(world.full_name)
        .get_commit(sha)
        .create_status(state, description="all good", context=context)
    )
    world.bot.wait_idle()
    return status


def forged_events(world) -> list:
    with world.bot.services.store.session() as session:
        return audit.events(session, action="status.forged")


def test_forged_compliance_status_fails_the_check_once(status_world, golden):
    world = status_world
    _, sha = world.open_pr(CLEAN)
    world.bot.wait_idle()
    run = world.check(sha)
    assert run.conclusion == "success"

    status = post_status(world, sha, "compliance")
    run = world.check(sha)  # the same check run, updated
    assert run.conclusion == "failure"
    summary = run.output["summary"]
    assert "mallory" in summary and "not by compliance-bot" in summary
    assert "pin the App" in summary
    assert summary.index("Forged status") < summary.index("Compliance check failed")
    assert "mallory" in run.output["title"]
    golden("forged-status.md", normalised(summary))

    [event] = forged_events(world)
    assert (event.actor, event.repository, event.sha) == ("mallory", world.full_name, sha)
    assert event.details["context"] == "compliance" and event.details["state"] == "success"
    assert event.details["status_id"] == status.id

    # GitHub redelivers the same webhook: nothing is recorded twice.
    [delivery] = world.fake.deliveries_of("status")
    assert world.fake.redeliver(delivery.guid).status == 202
    world.bot.wait_idle()
    assert len(forged_events(world)) == 1
    assert world.check(sha).conclusion == "failure"


def test_the_failure_survives_a_rerun_of_the_check(status_world):
    world = status_world
    _, sha = world.open_pr(CLEAN)
    world.bot.wait_idle()
    post_status(world, sha, "compliance")
    run = world.check(sha)
    assert run.conclusion == "failure"
    updates = len(run.updates)

    world.fake.rerequest_check_run(run, user="dev")
    world.bot.wait_idle()
    again = world.check(sha)
    assert again.id == run.id and again.conclusion == "failure"
    assert len(again.updates) > updates  # evaluated and posted again, still failing
    assert "mallory" in again.output["summary"]
    assert len(forged_events(world)) == 1

    # A new commit is a new head: nobody forged anything on it.
    fixed = world.fake.commit(world.repo, "feature", {"docs/more.md": "more\n"}, "more")
    world.bot.wait_idle()
    assert world.check(fixed).conclusion == "success"


def test_a_status_with_another_name_or_from_the_bot_changes_nothing(status_world):
    world = status_world
    _, sha = world.open_pr(CLEAN)
    world.bot.wait_idle()
    updates = len(world.check(sha).updates)
    post_status(world, sha, "ci/build")
    # The bot posts no statuses; one from its own login would not be a forgery either.
    world.fake.create_status(
        world.repo, sha, "success", context="compliance", creator=world.app.bot_login
    )
    world.bot.wait_idle()
    run = world.check(sha)
    assert run.conclusion == "success" and len(run.updates) == updates
    assert forged_events(world) == []
    assert len(world.fake.deliveries_of("status")) == 2  # both were heard


def test_forged_review_status_fails_the_review_check(status_world):
    world = status_world
    number, sha = open_exception_pr(world, exceptions_file(entry(expires=soon())))
    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    assert review_check(world, sha).conclusion == "success"

    post_status(world, sha, REVIEW)
    run = review_check(world, sha)
    assert run.conclusion == "failure"
    assert "mallory" in run.output["summary"] and f"`{REVIEW}`" in run.output["summary"]
    assert run.output["summary"].startswith("<!-- compliance-bot:exception-review -->\n⛔")
    [event] = forged_events(world)
    assert event.details["context"] == REVIEW


def test_status_payloads_parse_tolerantly():
    payload = {
        "id": 7,
        "sha": "a" * 40,
        "context": "compliance",
        "state": "success",
        "description": None,
        "target_url": 42,  # not text: dropped, not refused
        "sender": {"login": "other-ci[bot]", "type": "Bot"},
        "repository": {"full_name": "acme/shop"},
        "installation": {"id": 3},
    }
    event = parse_github("status", "d-1", payload)
    assert isinstance(event, StatusEvent)
    assert (event.status_id, event.sha, event.context, event.state) == (
        7,
        "a" * 40,
        "compliance",
        "success",
    )
    assert (event.creator, event.creator_is_bot, event.target_url) == ("other-ci[bot]", True, None)
    for missing in ("id", "sha", "context"):
        with pytest.raises(PayloadError, match=missing):
            parse_github("status", "d-2", {k: v for k, v in payload.items() if k != missing})
    with pytest.raises(PayloadError):
        parse_github("status", "d-3", {**payload, "id": {"n": 7}})


def test_the_notice_keeps_a_full_summary_within_github_limit():
    rows = "".join(f"| `deploy/{i}.yaml` | finding {i} |\n" for i in range(4000))
    output = CheckOutput("compliance", "2 blocking findings", f"{MARKER}\n{rows}", "failure")
    forged = [Forgery(i, "compliance", f"user{i}", "success") for i in range(12)]
    out = overridden(output, forged)
    assert len(out.summary.encode("utf-8")) <= MAX_SUMMARY
    assert out.summary.startswith(f"{MARKER}\n⛔ **Forged status**")
    assert "and 2 more such statuses" in out.summary
    assert out.summary.endswith("… (shortened: see the annotations)\n")
    assert all(line.startswith("| ") for line in out.summary.splitlines()[2:-1] if line)
    assert (out.conclusion, out.title) == ("failure", "Forged status: compliance posted by user0")
