"""Stories of co-authors approving exception PRs (DESIGN §5 item 22).

A ``Co-authored-by:`` line in a commit of the PR makes the person it names an author of the
exception: their approval does not count, just as the PR author's and the commit authors' do
not. As in test_exception_stories.py, @acme/security owns `.compliance/` and alice is a member;
here carol (and erin, with a public email) join the team, so that another owner can approve.
"""

from __future__ import annotations

import pytest

from bot.forge.github import noreply_login

from .test_exception_stories import (
    EXCEPTIONS,
    entry,
    exceptions_file,
    ledger_rows,
    review_check,
    soon,
)

PROFILE_READS = ("GET", "/users/{username}")


def join_security(world, login: str, **profile: str) -> None:
    world.fake.add_user(login, **profile)
    world.fake.add_team_member("acme", "security", login)
    world.fake.add_collaborator(world.repo, login, "write")
    world.bot.wait_idle()


def open_co_authored_pr(world, *co_authors: str) -> tuple[int, str]:
    """dev's exception PR; its commit's message credits ``co_authors`` ("Name <email>")."""
    trailers = "".join(f"Co-authored-by: {who}\n" for who in co_authors)
    message = f"Request an exception for the web pod\n\n{trailers}"
    text = exceptions_file(entry(expires=soon()))
    sha = world.fake.commit(world.repo, "exc", {EXCEPTIONS: text}, message, author="dev")
    issue = world.fake.open_pull(world.repo, "exc", title="Exception for web", user="dev")
    world.bot.wait_idle()
    return issue.number, sha


def approve(world, number: int, sha: str, login: str):
    world.fake.review(world.repo, number, user=login, event="APPROVE", commit_id=sha)
    world.bot.wait_idle()
    return review_check(world, sha)


def test_a_co_author_cannot_approve_and_another_owner_can(world):
    join_security(world, "carol", name="Carol Jones", email="carol@acme.example")
    alice_email = world.fake.state.account("alice").email
    number, sha = open_co_authored_pr(
        world, f"Alice <{alice_email}>", "Dave Contractor <dave@contractor.example>"
    )

    run = approve(world, number, sha, "alice")
    assert run.conclusion != "success"
    summary = run.output["summary"]
    assert f"alice co-authored commit {sha[:7]} (Co-authored-by trailer) and can't approve it" in (
        summary
    )
    assert run.output["title"] == f"Failed: needs 1 code-owner approval on {sha[:7]}"

    # carol wrote none of it: a trailer naming someone else does not stop her approval
    run = approve(world, number, sha, "carol")
    assert run.conclusion == "success", run.output["summary"]
    world.fake.merge_pull(world.repo, number, user="carol")
    world.bot.wait_idle()
    [row] = ledger_rows(world)
    assert (row.exception_id, row.approvers) == ("EXC-1", ["carol"])


@pytest.mark.parametrize(
    "trailer, co_author, reads_profile",
    [
        ("E. Example <ERIN@acme.example>", "erin", True),  # her public email, other case
        ("erin   EXAMPLE <erin@home.example>", "erin", True),  # her public name
        ("Someone <4242+alice@users.noreply.github.com>", "alice", False),  # her noreply address
    ],
    ids=["public email", "profile name", "noreply address"],
)
def test_a_co_author_is_recognised_by_email_name_or_noreply_address(
    world, trailer, co_author, reads_profile
):
    join_security(world, "erin", name="Erin Example", email="erin@acme.example")
    number, sha = open_co_authored_pr(world, trailer)
    world.fake.reset_calls()

    run = approve(world, number, sha, co_author)
    assert run.conclusion != "success"
    assert f"{co_author} co-authored commit {sha[:7]}" in run.output["summary"]
    assert (world.fake.calls[PROFILE_READS] > 0) is reads_profile


NOREPLY: list[tuple[str, str | None]] = [
    ("4242+alice@users.noreply.github.com", "alice"),
    ("alice@users.noreply.github.com", "alice"),  # accounts from before July 2017
    ("7+Alice-B@USERS.NOREPLY.GITHUB.COM", "Alice-B"),
    ("9+renovate[bot]@users.noreply.github.com", "renovate[bot]"),
    ("12+alice@users.noreply.ghe.example.com", "alice"),  # GitHub Enterprise Server
    (" 4242+alice@users.noreply.github.com ", "alice"),
    ("alice@github.com", None),
    ("alice@noreply.github.com", None),
    ("alice@users.noreply.github.com.evil.example@x", None),
    ("", None),
]


@pytest.mark.parametrize("email, login", NOREPLY)
def test_the_login_of_a_github_noreply_address(email, login):
    assert noreply_login(email) == login
