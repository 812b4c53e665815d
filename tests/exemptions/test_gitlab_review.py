"""The exception review with GitLab's CODEOWNERS semantics: every required section that owns
the exceptions file must approve, with its own ``[N]``; optional sections don't block; groups
are resolved through their direct members; role owners the forge can't list fail closed (role
owners resolved, and GitLab's own approval rules: test_gitlab_roles.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.exemptions.review import ReviewVerdict, review
from bot.repoconfig import RepoConfig
from tests.exemptions.test_review import (
    EXC_1,
    EXC_2,
    HEAD,
    NOW,
    OLD,
    Profiles,
    Teams,
    approved,
    exceptions,
    facts,
)

TEAMS = {
    ("acme", "security"): frozenset({"alice", "erin"}),
    ("acme", "platform"): frozenset({"pat", "quinn"}),
    ("acme", ""): frozenset({"dev", "alice", "pat"}),  # the top-level group
    ("carol", ""): frozenset(),  # a user, not a group: nobody
}


def run(policies, codeowners: str | None, reviews=(), **overrides: Any) -> ReviewVerdict:  # type: ignore[no-untyped-def]
    return review(
        facts(
            codeowners_flavor="gitlab",
            codeowners_path="CODEOWNERS" if codeowners is not None else None,
            codeowners_text=codeowners,
            base_exceptions_text=exceptions(EXC_1),
            head_exceptions_text=exceptions(EXC_1, EXC_2),
            reviews=tuple(reviews),
            **overrides,
        ),
        policies,
        RepoConfig(),
        NOW,
        Teams(TEAMS),
        lambda entry_id: 0,
        profiles=Profiles(),
    )


ONE_SECTION = "[Compliance]\n/.compliance/ @acme/security\n"
TWO_SECTIONS = (
    "[Compliance]\n/.compliance/ @acme/security\n[Platform][2]\n.compliance/ @acme/platform\n"
)


@pytest.mark.parametrize(
    ("codeowners", "reviewers", "conclusion", "fragment"),
    [
        (ONE_SECTION, ["alice"], "success", None),
        (ONE_SECTION, ["pat"], "failure", "@pat is not a code owner"),
        (TWO_SECTIONS, ["alice"], "failure", "section Platform: needs 2 more approvals"),
        (TWO_SECTIONS, ["alice", "pat"], "failure", "section Platform: needs 1 more approval"),
        (TWO_SECTIONS, ["alice", "pat", "quinn"], "success", None),
        # an optional section never blocks
        (
            "[Compliance]\n/.compliance/ @acme/security\n^[Docs]\n*.yaml @carol\n",
            ["erin"],
            "success",
            None,
        ),
        # default owners on the section line
        ("[Compliance] @acme/security\n/.compliance/\n", ["alice"], "success", None),
        # a plain name: a user...
        ("[Compliance]\n/.compliance/ @carol\n", ["carol"], "success", None),
        # ...or a top-level group, resolved through its members
        ("[Compliance]\n/.compliance/ @acme\n", ["pat"], "success", None),
        # the last match in a section wins; an exclusion takes the file out of its section
        (
            "[Compliance]\n/.compliance/ @acme/security\n!/.compliance/exceptions.yaml\n"
            "[Platform]\n/.compliance/ @acme/platform\n",
            ["pat"],
            "success",
            None,
        ),
        (
            "[Compliance]\n/.compliance/ @@maintainer\n",
            ["alice"],
            "failure",
            "names role owners (@@maintainer)",
        ),
        ("[Docs]\n/docs/ @acme/security\n", ["alice"], "failure", "no section of CODEOWNERS"),
        (None, ["alice"], "failure", "no CODEOWNERS file"),
    ],
)
def test_gitlab_sections_decide_who_approves(policies, codeowners, reviewers, conclusion, fragment):
    verdict = run(policies, codeowners, [approved(r) for r in reviewers])
    assert verdict.conclusion == conclusion, verdict.reasons
    if fragment:
        assert any(fragment in r for r in verdict.reasons), verdict.reasons


def test_a_gitlab_approval_of_an_older_head_does_not_count(policies):
    verdict = run(policies, ONE_SECTION, [approved("alice", OLD)])
    assert verdict.conclusion == "failure"
    assert f"@alice's approval predates commit {HEAD[:7]}" in verdict.reasons


def test_an_approval_the_bot_never_saw_does_not_count(policies):
    verdict = run(policies, ONE_SECTION, [approved("alice", None)])
    assert verdict.conclusion == "failure"
    assert "@alice's approval is on a commit that no longer exists" in verdict.reasons


def test_the_author_of_a_gitlab_mr_cannot_approve_it(policies):
    verdict = run(
        policies, ONE_SECTION, [approved("alice")], author="alice", commit_people=("alice",)
    )
    assert verdict.conclusion == "failure"
    assert "@alice is the author" in verdict.reasons
