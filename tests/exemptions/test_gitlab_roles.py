"""The exception review on GitLab: ``@@role`` code owners and GitLab's own approval rules.

Role owners are the project's *direct* members with *exactly* that role (GitLab's codeowners
reference, "Add a role as a Code Owner": "Roles are not inclusive of higher roles", "Only direct
project members with the specified roles are eligible"); the forge lists them, and the review
judges their approvals by the same rules as any owner's. Where GitLab has approval rules of its
own (Premium), every code-owner rule that covers the exceptions file must be met too: on top of
the bot's head-bound count, never instead of it.

The story: ``dev`` wrote the MR; the direct Developers are dev, dora and bob, the Maintainers
mara and Max, the Owner olga; acme/security (alice, erin) is a group of code owners.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from bot.exemptions.review import (
    EXCEPTIONS_PATH,
    ApprovalRule,
    ReviewVerdict,
    review,
    review_config,
)
from bot.repoconfig import CONFIG_PATH, Loosening, RepoConfig
from bot.report.markdown import md
from tests.exemptions.test_review import (
    EXC_1,
    EXC_2,
    NOW,
    OLD,
    Profiles,
    Teams,
    approved,
    exceptions,
    facts,
)

ROLES: dict[str, frozenset[str] | None] = {
    "developer": frozenset({"dev", "dora", "bob"}),
    "maintainer": frozenset({"mara", "Max"}),
    "owner": frozenset({"olga"}),
}
TEAMS = {("acme", "security"): frozenset({"alice", "erin"})}


class Roles:
    """``role_members`` over a table, remembering which roles were asked about."""

    def __init__(self, roles: Mapping[str, frozenset[str] | None] = ROLES) -> None:
        self.roles = roles
        self.asked: list[str] = []

    def __call__(self, role: str) -> frozenset[str] | None:
        self.asked.append(role)
        return self.roles.get(role)


class Rules:
    """``approval_rules``: GitLab's answer (None: Free or CE), remembering whether it was asked."""

    def __init__(self, rules: Sequence[ApprovalRule] | None = None) -> None:
        self.rules = rules
        self.asked = 0

    def __call__(self) -> Sequence[ApprovalRule] | None:
        self.asked += 1
        return self.rules


def run(
    policies: Mapping[str, Any],
    codeowners: str,
    reviews: Sequence[Any] = (),
    *,
    roles: Roles | None = None,
    rules: Rules | None = None,
    **overrides: Any,
) -> ReviewVerdict:
    values: dict[str, Any] = {
        "codeowners_flavor": "gitlab",
        "codeowners_path": "CODEOWNERS",
        "codeowners_text": codeowners,
        "base_exceptions_text": exceptions(EXC_1),
        "head_exceptions_text": exceptions(EXC_1, EXC_2),
        "reviews": tuple(reviews),
    }
    return review(
        facts(**{**values, **overrides}),
        policies,
        RepoConfig(),
        NOW,
        Teams(TEAMS),
        lambda entry_id: 0,
        profiles=Profiles(),
        role_members=roles or Roles(),
        approval_rules=rules or Rules(),
    )


MAINTAINERS = "[Exceptions]\n/.compliance/exceptions.yaml @@maintainer\n"
TWO_ROLES = "[Exceptions][2]\n/.compliance/ @@maintainer @@owner\n"
TWO_SECTIONS = (
    "[Compliance]\n/.compliance/ @acme/security\n[Exceptions]\n/.compliance/ @@maintainer\n"
)


@pytest.mark.parametrize(
    ("codeowners", "reviews", "overrides", "conclusion", "fragment", "approvers"),
    [
        (MAINTAINERS, [approved("mara")], {}, "success", None, ("mara",)),
        (MAINTAINERS, [approved("max")], {}, "success", None, ("max",)),  # any case
        # exactly the role: a Developer is not a Maintainer, nor is an Owner ("not inclusive")
        (MAINTAINERS, [approved("bob")], {}, "failure", "@bob is not a code owner", ()),
        (MAINTAINERS, [approved("olga")], {}, "failure", "@olga is not a code owner", ()),
        # the rules every owner's approval is held to
        (MAINTAINERS, [approved("mara")], {"author": "mara"}, "failure",
         "@mara is the author", ()),
        (MAINTAINERS, [approved("mara")], {"commit_people": ("dev", "mara")}, "failure",
         "@mara authored or committed a commit", ()),
        (MAINTAINERS, [approved("mara", is_bot=True)], {}, "failure", "@mara is a bot", ()),
        (MAINTAINERS, [approved("mara", OLD)], {}, "failure", "@mara's approval predates", ()),
        (MAINTAINERS, [approved("mara", None)], {}, "failure",
         "@mara's approval is on a commit that no longer exists", ()),
        # plural roles, and roles as a section's default owners
        ("[Exceptions]\n/.compliance/ @@Developers\n", [approved("bob")], {}, "success", None,
         ("bob",)),
        ("[Exceptions] @@maintainer\n/.compliance/\n", [approved("mara")], {}, "success", None,
         ("mara",)),
        # [2]: one of each role counts; one alone is short
        (TWO_ROLES, [approved("mara"), approved("olga")], {}, "success", None, ("mara", "olga")),
        (TWO_ROLES, [approved("mara")], {}, "failure", "needs 1 more approval from", ("mara",)),
        # roles beside a group in one rule, and a section of roles beside a section of a group
        ("[Exceptions]\n/.compliance/ @@maintainer @acme/security\n", [approved("erin")], {},
         "success", None, ("erin",)),
        (TWO_SECTIONS, [approved("alice"), approved("mara")], {}, "success", None,
         ("alice", "mara")),
        (TWO_SECTIONS, [approved("alice")], {}, "failure",
         "section Exceptions: needs an approval from a direct Maintainer of the project"
         " (@@maintainer)", ("alice",)),
    ],
)  # fmt: skip
def test_role_owners_are_the_direct_members_with_exactly_that_role(
    policies, codeowners, reviews, overrides, conclusion, fragment, approvers
):
    verdict = run(policies, codeowners, reviews, **overrides)
    assert verdict.conclusion == conclusion, verdict.reasons
    assert verdict.approvers == approvers
    if fragment:
        assert any(fragment in r for r in verdict.reasons), verdict.reasons


def test_a_role_member_who_counts_is_named_by_the_role(policies):
    verdict = run(policies, MAINTAINERS, [approved("mara")])
    role = md("@@maintainer", 120)  # mentions are defused in the summary
    assert f"code owner (a direct Maintainer of the project, {role})" in verdict.summary
    assert f"Code owners of `{EXCEPTIONS_PATH}`: {role}" in verdict.summary


def test_when_the_forge_cannot_list_a_role_the_section_cannot_pass_and_says_why(policies):
    verdict = run(policies, MAINTAINERS, [approved("mara")], roles=Roles({"maintainer": None}))
    assert verdict.conclusion == "failure"
    assert verdict.approvers == ()
    assert any(
        "names role owners (@@maintainer), whose members" in r and "could not be listed" in r
        for r in verdict.reasons
    ), verdict.reasons
    assert verdict.title == "Failed: code owners of the exceptions file unknown"


def test_each_role_is_asked_once_and_only_when_a_section_names_it(policies):
    roles = Roles()
    run(
        policies,
        "[A]\n/.compliance/ @@maintainer\n[B]\n/.compliance/ @@maintainer @@developer\n",
        [approved("mara"), approved("bob")],
        roles=roles,
    )
    assert sorted(roles.asked) == ["developer", "maintainer"]
    roles = Roles()
    run(policies, "[Compliance]\n/.compliance/ @acme/security\n", [approved("alice")], roles=roles)
    assert roles.asked == []


def test_github_semantics_never_ask_for_roles_or_gitlab_rules(policies):
    roles, rules = Roles(), Rules([ApprovalRule("/.compliance/", "code_owner", approved=False)])
    verdict = review(
        facts(),
        policies,
        RepoConfig(),
        NOW,
        Teams(),
        lambda entry_id: 0,
        profiles=Profiles(),
        role_members=roles,
        approval_rules=rules,
    )
    assert verdict.conclusion == "success"
    assert (roles.asked, rules.asked) == ([], 0)


# -- GitLab's own approval rules (Premium) -------------------------------------------------------

SECURITY = "[Compliance]\n/.compliance/ @acme/security\n"


def rule(
    name: str = "/.compliance/",
    *,
    approved: bool,
    kind: str = "code_owner",
    section: str | None = "Compliance",
    by: tuple[str, ...] = (),
    required: int = 1,
) -> ApprovalRule:
    return ApprovalRule(name, kind, approved, section, required, by)


@pytest.mark.parametrize(
    ("rules", "reviewers", "overrides", "conclusion", "fragment"),
    [
        # Free or CE (None), or Premium with no rule: the bot's own check alone
        (None, ["alice"], {}, "success", None),
        ([], ["alice"], {}, "success", None),
        ([rule(approved=True, by=("alice",))], ["alice"], {}, "success", None),
        # GitLab's code-owner rule not met: fails, naming the rule, though the bot's count is met
        ([rule(approved=False)], ["alice"], {}, "failure",
         "GitLab's code-owner approval rule '/.compliance/' (section Compliance) is not approved"
         " (0 of 1 approvals)"),
        ([rule("*", approved=False, section="codeowners", by=("lead",), required=2)], ["alice"],
         {}, "failure", "rule '*' (the unnamed section) is not approved (1 of 2 approvals)"),
        # a rule for another changed file is not this file's (that file fails the MR anyway)
        ([rule("/docs/", approved=False)], ["alice"],
         {"changed_paths": (EXCEPTIONS_PATH, "docs/a.md")}, "failure", None),
        # a rule whose pattern matches none of the changed files: which file it is for can't be
        # told, so it counts
        ([rule("/elsewhere/", approved=False)], ["alice"], {}, "failure", "'/elsewhere/'"),
        # only code-owner rules are the file's
        ([rule("Security", kind="regular", approved=False, section=None),
          rule("All Members", kind="any_approver", approved=False, section=None)],
         ["alice"], {}, "success", None),
        # never a substitute: GitLab's rule met, the bot's own count not (a stale approval)
        ([rule(approved=True, by=("alice",))], [approved("alice", OLD)], {}, "failure",
         "@alice's approval predates"),
    ],
)  # fmt: skip
def test_gitlab_code_owner_rules_are_required_on_top_of_the_bots_count(
    policies, rules, reviewers, overrides, conclusion, fragment
):
    reviews = [approved(r) if isinstance(r, str) else r for r in reviewers]
    verdict = run(policies, SECURITY, reviews, rules=Rules(rules), **overrides)
    assert verdict.conclusion == conclusion, verdict.reasons
    if fragment:
        assert any(fragment in r for r in verdict.reasons), verdict.reasons
    if "changed_paths" in overrides:
        assert not any("GitLab's" in r for r in verdict.reasons), verdict.reasons


def test_an_unmet_gitlab_rule_is_in_the_title_the_summary_and_the_next_steps(policies):
    verdict = run(policies, SECURITY, [approved("alice")], rules=Rules([rule(approved=False)]))
    assert verdict.title == "Failed: 1 GitLab code-owner approval rule not approved"
    assert verdict.approvers == ("alice",)  # the bot's own count is met
    assert "GitLab's own code-owner approval rules that cover" in verdict.summary
    assert "Get GitLab's code-owner approval rules" in verdict.summary
    assert "Ask a code owner" not in verdict.summary  # nothing missing on the bot's side
    met = run(
        policies, SECURITY, [approved("alice")], rules=Rules([rule(approved=True, by=("alice",))])
    )
    assert met.title.startswith("Passed:") and "| ✅ yes | 1 of 1 |" in met.summary


def test_an_unmet_gitlab_rule_fails_rather_than_waits_for_a_team(policies):
    verdict = review(
        facts(
            codeowners_flavor="gitlab",
            codeowners_path="CODEOWNERS",
            codeowners_text="[Compliance]\n/.compliance/ @acme/ghosts\n",
            reviews=(approved("alice"),),
        ),
        policies,
        RepoConfig(),
        NOW,
        Teams({("acme", "ghosts"): None}),
        lambda entry_id: 0,
        profiles=Profiles(),
        approval_rules=Rules([rule(approved=False)]),
    )
    assert verdict.conclusion == "failure"


def test_a_removal_only_mr_needs_no_approval_and_asks_gitlab_nothing(policies):
    rules = Rules([rule(approved=False)])
    verdict = run(
        policies,
        SECURITY,
        rules=rules,
        base_exceptions_text=exceptions(EXC_1, EXC_2),
        head_exceptions_text=exceptions(EXC_1),
    )
    assert verdict.conclusion == "success" and rules.asked == 0


def test_a_config_loosening_is_held_to_gitlabs_rules_for_the_config(policies):
    def judge(rules: list[ApprovalRule]) -> ReviewVerdict:
        return review_config(
            facts(
                codeowners_flavor="gitlab",
                codeowners_path="CODEOWNERS",
                codeowners_text="[Compliance]\n/.compliance/ @acme/security\n",
                changed_paths=(CONFIG_PATH,),
                reviews=(approved("alice"),),
            ),
            [Loosening("exclude", "excludes deploy/legacy/**", 3)],
            [],
            RepoConfig(),
            Teams(TEAMS),
            profiles=Profiles(),
            approval_rules=Rules(rules),
        )

    assert judge([rule(approved=True, by=("alice",))]).conclusion == "success"
    verdict = judge([rule(approved=False)])
    assert verdict.conclusion == "failure"
    assert verdict.title == "Failed: 1 GitLab code-owner approval rule not approved"
