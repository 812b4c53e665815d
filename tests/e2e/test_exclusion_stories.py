"""Stories of governed exclusions and config loosening (issue 11 item 2, DESIGN §5 item 21).

An ``exclude:`` glob in ``.compliance/config.yaml`` keeps paths out of evaluation, so it is an
opt-out: the PR adding it needs the code owners of the config (alice, through @acme/security),
it takes effect only once merged (rules come from the base), every check lists it, and a merge
without approval is audited as a bypass.
"""

from __future__ import annotations

from bot.report.markdown import ZWJ

from .test_check_stories import PRIVILEGED
from .test_deadline_stories import dashboards, sweep
from .test_exception_stories import audit_actions, review_check

CONFIG = ".compliance/config.yaml"
FIXTURE = "tests/fixtures/bad/privileged.yaml"
EXCLUDING = "version: 1\nexclude:\n  - tests/fixtures/bad/**\n"


def open_config_pr(world, text: str, *, branch: str = "config", extra: dict | None = None):
    sha = world.fake.commit(
        world.repo, branch, {CONFIG: text, **(extra or {})}, "change the config", author="dev"
    )
    issue = world.fake.open_pull(world.repo, branch, title="Config", user="dev")
    world.bot.wait_idle()
    return issue.number, sha


def summary_of(run) -> str:
    """The summary as read: without markdown escapes and the joiner that keeps @ from mentioning."""
    return run.output["summary"].replace("\\", "").replace(ZWJ, "")


def test_an_exclusion_needs_code_owner_approval_and_then_lets_the_fixture_pr_pass(world):
    _, fixture_sha = world.open_pr({FIXTURE: PRIVILEGED}, branch="fixtures")
    world.bot.wait_idle()
    assert world.check(fixture_sha).conclusion == "failure"

    number, sha = open_config_pr(world, EXCLUDING)
    run = review_check(world, sha)
    assert run.conclusion != "success"
    text = summary_of(run)
    assert "adds the exclusion 'tests/fixtures/bad/**'" in text
    assert "acme/security" in text
    [warning] = [a for a in run.annotations if a["annotation_level"] == "warning"]
    assert (warning["path"], warning["start_line"]) == (CONFIG, 3)
    # rules come from the base: the exclusion does nothing before it merges
    assert world.check(fixture_sha).conclusion == "failure"

    world.fake.review(world.repo, number, user="bob", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    run = review_check(world, sha)
    assert run.conclusion != "success"
    assert "@bob is not a code owner of .compliance/config.yaml" in summary_of(run)

    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    assert review_check(world, sha).conclusion == "success"

    world.fake.merge_pull(world.repo, number, user="alice")
    world.bot.wait_idle()
    actions = audit_actions(world)
    assert "config.loosened" in actions and "config.merged_unapproved" not in actions
    # the merge's job run again (a retry after a later step failed): audited once all the same
    from bot.handlers.exception_review import on_merged

    ctx = world.bot.services.context_for_installation(world.installation.id)
    repo = world.bot.services.github_app().repository(world.full_name)[1]
    merged = ctx.forge.pull_request(repo, number)
    on_merged(ctx, repo, merged, actor="alice")
    assert audit_actions(world).count("config.loosened") == 1
    # the fixture PR is judged again without a push, and says what kept its file out
    run = world.check(fixture_sha)
    assert run.conclusion == "success", run.output["summary"]
    text = summary_of(run)
    assert "tests/fixtures/bad/**" in text and FIXTURE in text


def test_excluded_paths_are_listed_on_every_check_and_on_the_dashboard(world):
    world.fake.commit(world.repo, "main", {CONFIG: EXCLUDING}, "exclude the bad fixtures")
    _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED.replace("true", "false")})
    world.bot.wait_idle()
    run = world.check(sha)
    assert run.conclusion == "success"
    assert "tests/fixtures/bad/**" in summary_of(run)  # even when nothing here matched it

    _, sha = world.open_pr({FIXTURE: PRIVILEGED, "deploy/web.yaml": PRIVILEGED}, branch="both")
    world.bot.wait_idle()
    run = world.check(sha)
    assert run.conclusion == "failure"
    assert [a["path"] for a in run.annotations if a["annotation_level"] == "failure"] == [
        "deploy/web.yaml"
    ]
    assert FIXTURE in summary_of(run)

    from datetime import UTC, datetime

    sweep(world, datetime.now(UTC))
    [issue] = dashboards(world)
    assert "Excluded paths (1)" in issue.body
    assert "tests/fixtures/bad/**" in issue.body.replace("\\", "")


def test_dropping_an_enforced_policy_needs_approval_and_tightening_does_not(world):
    world.fake.commit(
        world.repo, "main", {CONFIG: "version: 1\nenforce: [k8s.image-tag]\n"}, "enforce"
    )
    _, sha = open_config_pr(world, "version: 1\nenforce: []\n", branch="loosen")
    run = review_check(world, sha)
    assert run.conclusion == "failure"
    assert "stops enforcing k8s.image-tag" in summary_of(run)

    _, sha = open_config_pr(
        world, "version: 1\nenforce: [k8s.image-tag, k8s.privileged]\n", branch="tighten"
    )
    assert world.checks(sha, "compliance/exception-review") == []
    assert world.check(sha).conclusion == "success"


def test_a_loosening_that_changes_other_files_fails_the_review(world):
    number, sha = open_config_pr(world, EXCLUDING, extra={FIXTURE: PRIVILEGED})
    world.fake.review(world.repo, number, user="alice", event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    run = review_check(world, sha)
    assert run.conclusion == "failure"
    assert f"changes other files too: {FIXTURE}" in summary_of(run)


def test_a_loosening_merged_without_approval_is_audited_as_a_bypass(world):
    number, sha = open_config_pr(world, EXCLUDING)
    assert review_check(world, sha).conclusion != "success"
    world.fake.merge_pull(world.repo, number, user="alice")  # an admin merge past protection
    world.bot.wait_idle()
    actions = audit_actions(world)
    assert "config.merged_unapproved" in actions and "config.loosened" not in actions
