"""``review``: the ``compliance/exception-review`` verdict, one case per rule (DESIGN §5 items
3, 4, 5, 7, 14 and 22), and golden files for the summaries of representative verdicts.

The base story: the base file holds EXC-1; the PR adds EXC-2 (valid on 2026-01-15). The base
CODEOWNERS gives ``.compliance/`` to ``@acme/security`` and ``@carol``; ``dev`` wrote the PR;
``carol`` approved the head commit; no commit credits a co-author. Each case changes one thing
and states the conclusion, a fragment of every reason it expects, and who counts as an approver.

Golden files live in ``tests/exemptions/golden/``; ``UPDATE_GOLDEN=1 pytest tests/exemptions``
rewrites them from the current output (then review the diff like any other change).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.exemptions.review import (
    EXCEPTIONS_PATH,
    MARKER,
    CoAuthor,
    CodeownersError,
    Profile,
    ReviewFacts,
    ReviewRecord,
    ReviewVerdict,
    co_authors_in,
    code_owners_rule,
    is_co_author,
    latest_reviews,
    review,
)
from bot.repoconfig import RepoConfig
from bot.report.markdown import ZWJ

GOLDEN_DIR = Path(__file__).parent / "golden"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # as tests/exemptions/conftest.py
HEAD = "c0ffee1" + "0" * 33
OLD = "badcafe" + "1" * 33
CO = "d00d123" + "2" * 33  # a commit of the PR whose message credits co-authors
CODEOWNERS = "* @acme/devs\n/.compliance/ @acme/security @carol\n"
TEAMS: dict[tuple[str, str], frozenset[str] | None] = {
    ("acme", "devs"): frozenset({"dev", "dave"}),
    ("acme", "security"): frozenset({"Alice", "erin", "frank"}),
    ("acme", "ghosts"): None,  # the forge can't tell
}

EXC_1 = {"id": "EXC-1", "policy": "k8s.privileged", "expires": "2026-03-01"}
EXC_2 = {"id": "EXC-2", "policy": "k8s.host-network", "expires": "2026-02-01"}
REASON = "the app needs host access for its metrics"


def exceptions(*entries: Mapping[str, str]) -> str:
    """A file whose entry ``i`` starts on line ``3 + 5 * i`` (id, policy, paths, reason, expires);
    a ``ticket`` adds a sixth line."""
    out = ["version: 1", "exceptions:"]
    for entry in entries:
        e = {"paths": '["deploy/app/**"]', "reason": REASON, **entry}
        out.append(f"  - id: {e['id']}")
        for key in ("policy", "paths", "reason", "expires", "ticket"):
            if key in e:
                out.append(f"    {key}: {e[key]}")
    return "\n".join(out) + "\n"


def approved(login: str, commit: str | None = HEAD, **kw: Any) -> ReviewRecord:
    return ReviewRecord(login, "APPROVED", commit, **kw)


def facts(**overrides: Any) -> ReviewFacts:
    values: dict[str, Any] = {
        "pr_number": 7,
        "author": "dev",
        "head_sha": HEAD,
        "changed_paths": (EXCEPTIONS_PATH,),
        "commit_people": ("dev",),
        "base_exceptions_text": exceptions(EXC_1),
        "head_exceptions_text": exceptions(EXC_1, EXC_2),
        "codeowners_path": ".github/CODEOWNERS",
        "codeowners_text": CODEOWNERS,
        "codeowners_errors": (),
        "reviews": (approved("carol"),),
    }
    values.update(overrides)
    return ReviewFacts(**values)


# Public profiles: alice shows her name and email; carol her name only; erin's can't be read.
PROFILES: dict[str, Profile | None] = {
    "alice": Profile("Alice", "Alice Liddell", "alice@acme.example"),
    "carol": Profile("carol", "Carol Jones", None),
    "erin": None,
}
ALICE = CoAuthor("A. Liddell", "Alice@Acme.example", CO)  # her public email, other case
BOB = CoAuthor("Bob Builder", "bob@example.org", CO)  # nobody who reviews


class Profiles:
    """``profiles`` over ``PROFILES`` (others: a profile without name or email), remembering
    whom it was asked about."""

    def __init__(self, profiles: Mapping[str, Profile | None] = PROFILES) -> None:
        self.profiles = profiles
        self.asked: list[str] = []

    def __call__(self, login: str) -> Profile | None:
        self.asked.append(login)
        return self.profiles.get(login.lower(), Profile(login))


class Teams:
    """``team_members`` over ``TEAMS``, remembering which teams were asked about."""

    def __init__(self, teams: Mapping[tuple[str, str], frozenset[str] | None] = TEAMS) -> None:
        self.teams = teams
        self.asked: list[tuple[str, str]] = []

    def __call__(self, org: str, slug: str) -> frozenset[str] | None:
        self.asked.append((org, slug))
        return self.teams.get((org, slug), frozenset())


def run(
    policies: Mapping[str, Any],
    facts_: ReviewFacts | None = None,
    *,
    config: RepoConfig | None = None,
    renewals: Mapping[str, int] | None = None,
    teams: Teams | None = None,
    profiles: Profiles | None = None,
) -> ReviewVerdict:
    counts = renewals or {}
    return review(
        facts_ or facts(),
        policies,
        config or RepoConfig(),
        NOW,
        teams or Teams(),
        lambda entry_id: counts.get(entry_id, 0),
        profiles=profiles or Profiles(),
    )


# -- the rules, one case each --------------------------------------------------------------------

RENEWED = {**EXC_1, "expires": "2026-04-01"}
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, list[str], tuple[str, ...]]] = [
    # (name, facts overrides, run kwargs, conclusion, reason fragments, approvers)
    ("user owner approves the head", {}, {}, "success", [], ("carol",)),
    ("team owner resolved (item 5)", {"reviews": (approved("alice"),)}, {}, "success", [],
     ("alice",)),
    ("the author approves (item 3)",
     {"author": "carol", "commit_people": ("carol",)}, {}, "failure",
     ["needs an approval from a member of @acme/security or @carol", "@carol is the author"], ()),
    ("a commit author approves (item 3)",
     {"commit_people": ("dev", "alice"), "reviews": (approved("alice"),)}, {}, "failure",
     ["@alice authored or committed a commit of this pull request"], ()),
    ("a co-author approves: their public email (item 22)",
     {"co_authors": (BOB, ALICE), "reviews": (approved("alice"),)}, {}, "failure",
     ["@alice co-authored commit d00d123 (Co-authored-by trailer) and can't approve it"], ()),
    ("a co-author approves: the login the forge read from a noreply address (item 22)",
     {"co_authors": (CoAuthor("Someone", "7+ALICE@users.noreply.github.com", CO, "ALICE"),),
      "reviews": (approved("alice"),)}, {}, "failure", ["@alice co-authored commit d00d123"], ()),
    ("a co-author approves: their profile name (item 22)",
     {"co_authors": (CoAuthor("carol  JONES", "carol@home.example", CO),)}, {}, "failure",
     ["@carol co-authored commit d00d123"], ()),
    ("a co-author approves: their login as the name (item 22)",
     {"co_authors": (CoAuthor("Carol", "", CO),)}, {}, "failure",
     ["@carol co-authored commit d00d123"], ()),
    ("a co-author's approval does not stop another owner's (item 22)",
     {"co_authors": (ALICE,), "reviews": (approved("alice"), approved("carol"))}, {}, "success",
     [], ("carol",)),
    ("a co-author who does not review changes nothing (item 22)",
     {"co_authors": (BOB,)}, {}, "success", [], ("carol",)),
    ("co-authors credited, a profile can't be read: fail closed (item 22)",
     {"co_authors": (BOB,), "reviews": (approved("erin"),)}, {}, "failure",
     ["@erin's profile could not be read, so the bot can't tell whether a Co-authored-by"], ()),
    ("approval of an older commit (item 4)", {"reviews": (approved("alice", OLD),)}, {},
     "failure", ["@alice's approval predates commit c0ffee1"], ()),
    ("approval of a commit that is gone (item 4)", {"reviews": (approved("alice", None),)}, {},
     "failure", ["@alice's approval is on a commit that no longer exists"], ()),
    ("approval by a non-owner (item 5)", {"reviews": (approved("dave"),)}, {}, "failure",
     ["@dave is not a code owner of .compliance/exceptions.yaml"], ()),
    ("team unresolvable -> pending (item 5)",
     {"codeowners_text": "/.compliance/ @acme/ghosts\n", "reviews": (approved("erin"),)}, {},
     "pending",
     ["members of @acme/ghosts could not be resolved", "@erin's membership of @acme/ghosts"], ()),
    ("team unresolvable, no approval at all: failure, not pending",
     {"codeowners_text": "/.compliance/ @acme/ghosts\n", "reviews": ()}, {}, "failure",
     ["needs an approval from a member of @acme/ghosts"], ()),
    ("team unresolvable but a user owner approved: it does not matter",
     {"codeowners_text": "/.compliance/ @acme/ghosts @carol\n",
      "reviews": (approved("erin"), approved("carol"))}, {}, "success", [], ("carol",)),
    ("team unresolvable, other files changed: failure",
     {"codeowners_text": "/.compliance/ @acme/ghosts\n", "reviews": (approved("erin"),),
      "changed_paths": (EXCEPTIONS_PATH, "README.md")}, {}, "failure",
     ["other files besides .compliance/exceptions.yaml: README.md"], ()),
    ("other files changed (item 7)",
     {"changed_paths": (EXCEPTIONS_PATH, "deploy/app.yaml", ".github/CODEOWNERS")}, {},
     "failure",
     ["changes other files besides .compliance/exceptions.yaml: .github/CODEOWNERS, "
      "deploy/app.yaml"], ("carol",)),
    ("renewal within the cap (item 14)",
     {"head_exceptions_text": exceptions(RENEWED)}, {"renewals": {"EXC-1": 2}}, "success", [],
     ("carol",)),
    ("renewal past the cap (item 14)",
     {"head_exceptions_text": exceptions(RENEWED)}, {"renewals": {"EXC-1": 3}}, "failure",
     ["exception EXC-1: this would be renewal 4, but this repository allows at most 3"],
     ("carol",)),
    ("renewal with another field changed still counts (item 14)",
     {"head_exceptions_text": exceptions({**RENEWED, "reason": REASON + " and logs"})},
     {"renewals": {"EXC-1": 3}}, "failure", ["this would be renewal 4"], ("carol",)),
    ("renewal cap from the repository config (item 14)",
     {"head_exceptions_text": exceptions(RENEWED)},
     {"config": RepoConfig(max_renewals=0)}, "failure",
     ["this would be renewal 1, but this repository allows at most 0"], ("carol",)),
    ("a matching rule without owners leaves the file unowned",
     {"codeowners_text": "/.compliance/ @carol\n/.compliance/exceptions.yaml\n"}, {}, "failure",
     ["line 2 of .github/CODEOWNERS ('/.compliance/exceptions.yaml') matches "
      ".compliance/exceptions.yaml but names no owners"], ()),
    ("owners unknown: approvals are not judged one by one",
     {"codeowners_text": "docs/ @carol\n", "reviews": (approved("carol"), approved("dev"))}, {},
     "failure", ["no rule in .github/CODEOWNERS", "@dev is the author"], ()),
    ("no rule covers the file", {"codeowners_text": "docs/ @carol\n"}, {}, "failure",
     ["no rule in .github/CODEOWNERS covers .compliance/exceptions.yaml"], ()),
    ("no CODEOWNERS file on the base",
     {"codeowners_path": None, "codeowners_text": None}, {}, "failure",
     ["the base branch has no CODEOWNERS file"], ()),
    ("last matching rule wins",
     {"codeowners_text": "/.compliance/ @dave\n/.compliance/*.yaml @carol\n",
      "reviews": (approved("dave"),)}, {}, "failure",
     ["needs an approval from @carol", "@dave is not a code owner"], ()),
    ("an owner named in an inline comment is no owner",
     {"codeowners_text": "/.compliance/ @carol # was @dave\n", "reviews": (approved("dave"),)},
     {}, "failure", ["@dave is not a code owner"], ()),
    ("removal only: no approval needed",
     {"base_exceptions_text": exceptions(EXC_1, EXC_2), "head_exceptions_text": exceptions(EXC_1),
      "reviews": ()}, {}, "success", [], ()),
    ("deleting the file removes every entry",
     {"head_exceptions_text": None, "reviews": (), "codeowners_text": None}, {}, "success", [],
     ()),
    ("removal and addition in one PR needs approval",
     {"base_exceptions_text": exceptions(EXC_1), "head_exceptions_text": exceptions(EXC_2),
      "reviews": ()}, {}, "failure", ["needs an approval"], ()),
    ("only comments change: approval still needed",
     {"head_exceptions_text": exceptions(EXC_1) + "# why EXC-1 exists\n", "reviews": ()}, {},
     "failure", ["needs an approval"], ()),
    ("CHANGES_REQUESTED after APPROVED by the same owner",
     {"reviews": (approved("carol"), ReviewRecord("carol", "CHANGES_REQUESTED", HEAD))}, {},
     "failure", ["@carol requested changes"], ()),
    ("COMMENTED after APPROVED keeps the approval",
     {"reviews": (approved("carol"), ReviewRecord("carol", "COMMENTED", HEAD),
                  ReviewRecord("carol", "PENDING", None))}, {}, "success", [], ("carol",)),
    ("APPROVED after CHANGES_REQUESTED counts",
     {"reviews": (ReviewRecord("carol", "CHANGES_REQUESTED", OLD), approved("carol"))}, {},
     "success", [], ("carol",)),
    ("DISMISSED drops the approval",
     {"reviews": (approved("carol"), ReviewRecord("carol", "DISMISSED", HEAD))}, {}, "failure",
     ["@carol's review was dismissed"], ()),
    ("a bot approver is ignored (flagged by the forge)",
     {"codeowners_text": "/.compliance/ @carol @helper\n",
      "reviews": (approved("helper", is_bot=True),)}, {}, "failure", ["@helper is a bot"], ()),
    ("a bot approver is ignored ([bot] login)",
     {"codeowners_text": "/.compliance/ @carol @acme/devs\n",
      "reviews": (approved("renovate[bot]"),)}, {}, "failure", ["@renovate[bot] is a bot"], ()),
    ("required_approvals=2, one given",
     {}, {"config": RepoConfig(required_approvals=2)}, "failure",
     ["needs 1 more approval from a member of @acme/security or @carol (2 required, "
      "1 counted: @carol)"], ("carol",)),
    ("required_approvals=2, two given",
     {"reviews": (approved("carol"), approved("erin"))},
     {"config": RepoConfig(required_approvals=2)}, "success", [], ("carol", "erin")),
    ("case-insensitive logins: owners and team members",
     {"reviews": (approved("CAROL"), approved("aLiCe"))},
     {"config": RepoConfig(required_approvals=2)}, "success", [], ("CAROL", "aLiCe")),
    ("case-insensitive logins: the author",
     {"author": "Carol", "reviews": (approved("cArOl"),)}, {}, "failure",
     ["@cArOl is the author"], ()),
    ("case-insensitive logins: commit people",
     {"commit_people": ("ALICE",), "reviews": (approved("alice"),)}, {}, "failure",
     ["@alice authored or committed"], ()),
    ("email owners only: can't be matched to logins",
     {"codeowners_text": "/.compliance/ carol@example.com\n"}, {}, "failure",
     ["only email addresses (carol@example.com), which the bot can't match"], ()),
    ("email owner beside a user: the email is not counted",
     {"codeowners_text": "/.compliance/ carol@example.com @erin\n"}, {}, "failure",
     ["@carol is not a code owner of .compliance/exceptions.yaml (owners given as email "
      "addresses can't be matched to logins)"], ()),
    ("CODEOWNERS error on the matching line fails, naming the line",
     {"codeowners_errors": (CodeownersError(".github/CODEOWNERS", 2, "Unknown owner",
                                            "Invalid owner"),)}, {}, "failure",
     ["line 2 of .github/CODEOWNERS ('/.compliance/ @acme/security @carol') has an error "
      "GitHub reports (Invalid owner: Unknown owner)"], ()),
    ("CODEOWNERS error on an unrelated line is ignored",
     {"codeowners_text": CODEOWNERS + "docs/ @nobody\n",
      "codeowners_errors": (CodeownersError(".github/CODEOWNERS", 3, "Unknown owner"),)}, {},
     "success", [], ("carol",)),
    ("CODEOWNERS error in another CODEOWNERS file is ignored",
     {"codeowners_errors": (CodeownersError("docs/CODEOWNERS", 2, "Unknown owner"),)}, {},
     "success", [], ("carol",)),
    ("an unreadable CODEOWNERS line after the rule fails closed",
     {"codeowners_text": CODEOWNERS + "/.compliance/[e @dave\n"}, {}, "failure",
     ["line 3 of .github/CODEOWNERS ('/.compliance/[e @dave') can't be read"], ()),
    ("added entry past its policy's max_days",
     {"head_exceptions_text": exceptions(EXC_1, {**EXC_2, "expires": "2026-03-01"})}, {},
     "failure", [".compliance/exceptions.yaml:12: exception EXC-2: expires 2026-03-01 is 45 days"
                 " away; at most 30 are allowed"], ("carol",)),
    ("added entry for a policy that forbids exceptions",
     {"head_exceptions_text": exceptions(EXC_1, {**EXC_2, "policy": "k8s.no-exceptions"})}, {},
     "failure", [":9: exception EXC-2: policy k8s.no-exceptions does not allow exceptions"],
     ("carol",)),
    ("added entry without a ticket the config requires",
     {"base_exceptions_text": None, "head_exceptions_text": exceptions(EXC_2)},
     {"config": RepoConfig(require_ticket=True)}, "failure",
     [":3: exception EXC-2: a ticket is required"], ("carol",)),
    ("added entry already expired",
     {"head_exceptions_text": exceptions(EXC_1, {**EXC_2, "expires": "2026-01-01"})}, {},
     "failure", [":12: exception EXC-2: expired on 2026-01-01 (end of day, UTC)"], ("carol",)),
    ("an untouched expired entry does not fail the PR",
     {"base_exceptions_text": exceptions({**EXC_1, "expires": "2026-01-01"}),
      "head_exceptions_text": exceptions({**EXC_1, "expires": "2026-01-01"}, EXC_2)}, {},
     "success", [], ("carol",)),
    ("an unreadable head file fails",
     {"head_exceptions_text": "version: 1\nexceptions: [\n"}, {}, "failure",
     [".compliance/exceptions.yaml:"], ("carol",)),
]  # fmt: skip


@pytest.mark.parametrize(
    "overrides, kwargs, conclusion, fragments, approvers",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rules(policies, overrides, kwargs, conclusion, fragments, approvers):
    verdict = run(policies, facts(**overrides), **kwargs)
    assert verdict.conclusion == conclusion, verdict.reasons
    for fragment in fragments:
        assert any(fragment in reason for reason in verdict.reasons), (fragment, verdict.reasons)
    assert verdict.approvers == approvers
    if conclusion == "success":
        assert verdict.reasons == ()
    else:
        assert verdict.reasons, "a verdict that is not success must say why"
    assert verdict.summary.startswith(MARKER + "\n")
    assert verdict.summary.count(MARKER) == 1


def test_the_briefs_example_says_exactly_what_is_missing(policies):
    verdict = run(
        policies,
        facts(
            codeowners_text="/.compliance/ @acme/security\n",
            author="bob",
            reviews=(approved("alice", OLD), approved("bob")),
        ),
    )
    assert verdict.conclusion == "failure"
    assert verdict.reasons == (
        "needs an approval from a member of @acme/security",
        "@alice's approval predates commit c0ffee1",
        "@bob is the author",
    )
    assert verdict.title == "Failed: needs 1 code-owner approval on c0ffee1"


# -- co-authors ----------------------------------------------------------------------------------

TRAILERS: list[tuple[str, str, list[tuple[str, str]]]] = [
    # (name, commit message, the (name, email) pairs credited)
    ("none", "Add EXC-2\n\nSigned-off-by: Dev <dev@acme.example>\n", []),
    ("one", "Add EXC-2\n\nCo-authored-by: Alice <alice@acme.example>\n",
     [("Alice", "alice@acme.example")]),
    ("the key in any case", "x\n\nco-AUTHORED-BY: Alice <a@x.example>",
     [("Alice", "a@x.example")]),
    ("several in one message",
     "x\n\nCo-authored-by: A <a@x.example>\nCo-authored-by: B <b@x.example>",
     [("A", "a@x.example"), ("B", "b@x.example")]),
    ("outside the trailer block, as GitHub reads it",
     "x\n\nCo-authored-by: A <a@x.example>\n\nmore text after it", [("A", "a@x.example")]),
    ("the same person twice", "Co-authored-by: A <a@x.example>\nCo-authored-by: A <a@x.example>",
     [("A", "a@x.example")]),
    ("blanks before the key, around the colon and the address",
     "  Co-authored-by :  Alice  Liddell   < a@x.example > ", [("Alice  Liddell", "a@x.example")]),
    ("no blanks at all", "Co-authored-by:A<a@x.example>", [("A", "a@x.example")]),
    ("CRLF line ends", "x\r\n\r\nCo-authored-by: A <a@x.example>\r\n", [("A", "a@x.example")]),
    ("no address: the name still counts", "Co-authored-by: Alice", [("Alice", "")]),
    ("no name", "Co-authored-by: <a@x.example>", [("", "a@x.example")]),
    ("nothing after the colon", "Co-authored-by:   \n", []),
    ("not at the start of a line", "as in Co-authored-by: A <a@x.example>", []),
    ("other keys", "Co-authored: A <a@x.example>\nAuthored-by: B <b@x.example>\n"
     "Co-authored-by-bot: C <c@x.example>\nCo-authored-by A <a@x.example>", []),
]  # fmt: skip


@pytest.mark.parametrize(
    "message, expected", [t[1:] for t in TRAILERS], ids=[t[0] for t in TRAILERS]
)
def test_co_authors_in_a_commit_message(message, expected):
    assert co_authors_in(message) == expected


_TEXT = st.text(st.characters(blacklist_characters="<>", blacklist_categories=("Cc", "Zl", "Zp")))


@given(
    before=st.lists(st.text().filter(lambda t: "co-authored-by" not in t.lower())),
    name=_TEXT,
    email=_TEXT.filter(lambda t: t.strip() != ""),
    key=st.sampled_from(["Co-authored-by", "co-authored-by", "CO-AUTHORED-BY"]),
)
def test_a_co_author_line_is_found_whatever_surrounds_it(before, name, email, key):
    message = "\n".join([*before, f"{key}: {name} <{email}>", *before])
    assert (name.strip(), email.strip()) in co_authors_in(message)


ALICE_PROFILE = PROFILES["alice"]
MATCHES: list[tuple[str, CoAuthor, str, Profile | None, bool]] = [
    # (name, co-author, reviewer login, the reviewer's profile, is it them?)
    ("the login read from a noreply address", CoAuthor("x", "1+alice@u.example", CO, "Alice"),
     "alice", None, True),
    ("the login as the name", CoAuthor(" ALICE ", "x@y.example", CO), "alice", None, True),
    ("the profile's email, any case", CoAuthor("A.", "ALICE@acme.example", CO), "alice",
     ALICE_PROFILE, True),
    ("the profile's name, blanks collapsed", CoAuthor('"alice   liddell"', "p@x.example", CO),
     "alice", ALICE_PROFILE, True),
    ("someone else", CoAuthor("Bob", "bob@example.org", CO), "alice", ALICE_PROFILE, False),
    ("without the profile only the login can tell",
     CoAuthor("Alice Liddell", "alice@acme.example", CO), "alice", None, False),
    ("the email's local part is not the login", CoAuthor("x", "alice@elsewhere.example", CO),
     "alice", ALICE_PROFILE, False),
    ("no email never matches a profile without one", CoAuthor("x", "", CO), "carol",
     Profile("carol"), False),
    ("no name never matches a profile without one", CoAuthor("", "a@x.example", CO), "carol",
     Profile("carol", None, "c@x.example"), False),
]  # fmt: skip


@pytest.mark.parametrize(
    "co_author, login, profile, expected", [m[1:] for m in MATCHES], ids=[m[0] for m in MATCHES]
)
def test_is_co_author(co_author, login, profile, expected):
    assert is_co_author(co_author, login, profile) is expected


def test_profiles_are_read_only_for_approvers_the_trailers_do_not_name_outright(policies):
    profiles = Profiles()
    run(policies, facts(reviews=(approved("carol"), approved("alice"))), profiles=profiles)
    assert profiles.asked == []  # no commit credits a co-author
    profiles = Profiles()
    reviews = (
        approved("alice"),  # named by login: no lookup
        approved("carol"),
        ReviewRecord("erin", "CHANGES_REQUESTED", HEAD),  # not an approval
        approved("dev"),  # the author
    )
    co_authors = (CoAuthor("alice", "", CO), BOB)
    verdict = run(policies, facts(co_authors=co_authors, reviews=reviews), profiles=profiles)
    assert profiles.asked == ["carol"]
    assert verdict.approvers == ("carol",)


# -- changes -------------------------------------------------------------------------------------


def test_changes_name_added_changed_renewed_and_removed_entries(policies):
    exc_3 = {"id": "EXC-3", "policy": "k8s.privileged", "expires": "2026-02-15"}
    base = exceptions(EXC_1, EXC_2, exc_3)
    head = exceptions(RENEWED, {**EXC_2, "paths": '["deploy/other/**"]'}, {**EXC_2, "id": "EXC-4"})
    verdict = run(
        policies,
        facts(base_exceptions_text=base, head_exceptions_text=head),
        renewals={"EXC-1": 1},
    )
    kinds = [(c.id, c.kind, c.renewal, c.line, c.policy) for c in verdict.changes]
    assert kinds == [
        ("EXC-1", "changed", True, 3, "k8s.privileged"),
        ("EXC-2", "changed", False, 8, "k8s.host-network"),
        ("EXC-4", "added", False, 13, "k8s.host-network"),
        ("EXC-3", "removed", False, None, "k8s.privileged"),
    ]
    renewal = verdict.changes[0]
    assert (renewal.expires, renewal.previous_expires) == ("2026-04-01", "2026-03-01")
    assert verdict.changes[3].content_hash is None
    assert "| `EXC-1` | `k8s.privileged` | renewal (2 of at most 3) |" in verdict.summary
    assert "2026-04-01 (was 2026-03-01)" in verdict.summary
    assert "| `EXC-3` | `k8s.privileged` | removed | 2026-02-15 |" in verdict.summary


def test_content_hash_is_the_head_entrys_for_the_ledger(policies):
    from bot.exemptions import parse

    verdict = run(policies)
    head, _ = parse(facts().head_exceptions_text or "")
    assert head is not None
    (added,) = verdict.changes
    assert added.content_hash == head.by_id("EXC-2").content_hash()


def test_an_expires_moved_earlier_is_a_change_not_a_renewal(policies):
    earlier = exceptions({**EXC_1, "expires": "2026-02-01"})
    verdict = run(policies, facts(head_exceptions_text=earlier), renewals={"EXC-1": 99})
    assert verdict.conclusion == "success"
    assert [(c.kind, c.renewal) for c in verdict.changes] == [("changed", False)]


def test_a_formatting_only_edit_changes_no_entry(policies):
    reformatted = exceptions(EXC_1).replace("expires: 2026-03-01", "expires: '2026-03-01'")
    verdict = run(policies, facts(head_exceptions_text=reformatted))
    assert verdict.changes == ()


def test_a_base_file_that_cannot_be_read_makes_every_head_entry_new(policies):
    verdict = run(policies, facts(base_exceptions_text="exceptions: [\n", reviews=()))
    assert [(c.id, c.kind) for c in verdict.changes] == [("EXC-1", "added"), ("EXC-2", "added")]
    assert verdict.conclusion == "failure"


# -- annotations ---------------------------------------------------------------------------------


def test_invalid_head_file_annotates_the_offending_lines(policies):
    bad = {**EXC_2, "paths": '["deploy/../secrets/**"]', "expires": "2026-06-01"}
    verdict = run(policies, facts(head_exceptions_text=exceptions(EXC_1, bad)))
    assert verdict.conclusion == "failure"
    failures = [(a.path, a.line) for a in verdict.annotations if a.level == "failure"]
    assert failures == [(EXCEPTIONS_PATH, 10), (EXCEPTIONS_PATH, 12)]  # paths, then expires
    assert "contains a '..' segment" in verdict.annotations[0].message
    assert "at most 30 are allowed" in verdict.annotations[1].message
    assert "| `.compliance/exceptions.yaml:10` |" in verdict.summary
    assert "| `.compliance/exceptions.yaml:12` |" in verdict.summary


def test_an_entry_the_schema_refuses_is_annotated_at_its_line(policies):
    short = {**EXC_2, "reason": "too short"}
    verdict = run(policies, facts(head_exceptions_text=exceptions(EXC_1, short)))
    assert verdict.conclusion == "failure"
    assert [(a.line, a.level) for a in verdict.annotations] == [(11, "failure")]
    assert "reason must be at least 20 characters" in verdict.annotations[0].message


def test_unparsable_head_file_is_annotated_at_the_yaml_error(policies):
    verdict = run(policies, facts(head_exceptions_text="version: 1\nexceptions:\n  - id: [\n"))
    assert verdict.conclusion == "failure"
    assert [a.line for a in verdict.annotations] == [4]
    assert verdict.changes == ()
    assert "can't be read (see Problems)" in verdict.summary


def test_duplicate_ids_in_the_head_fail_and_are_not_removals(policies):
    head = exceptions(EXC_1, {**EXC_2, "id": "EXC-1"})
    verdict = run(policies, facts(head_exceptions_text=head, reviews=()))
    assert verdict.conclusion == "failure"
    assert all(c.kind != "removed" for c in verdict.changes)
    assert any("EXC-1" in r for r in verdict.reasons)


def test_an_untouched_expired_entry_is_a_warning(policies):
    old = {**EXC_1, "expires": "2026-01-01"}
    verdict = run(
        policies,
        facts(base_exceptions_text=exceptions(old), head_exceptions_text=exceptions(old, EXC_2)),
    )
    assert verdict.conclusion == "success"
    assert [(a.line, a.level) for a in verdict.annotations] == [(7, "warning")]
    assert "cleanup pull request" in verdict.annotations[0].message


def test_the_renewal_cap_annotates_the_expires_line(policies):
    verdict = run(policies, facts(head_exceptions_text=exceptions(RENEWED)), renewals={"EXC-1": 5})
    assert [(a.line, a.level) for a in verdict.annotations] == [(7, "failure")]
    assert "exceptions.max_renewals" in verdict.annotations[0].message


# -- approvals in detail -------------------------------------------------------------------------


def test_latest_reviews_skips_comments_and_keeps_the_last_opinion():
    reviews = [
        approved("carol"),
        ReviewRecord("Dave", "CHANGES_REQUESTED", HEAD),
        ReviewRecord("CAROL", "COMMENTED", HEAD),
        ReviewRecord("dave", "approved", HEAD),  # webhook payloads use lower case
        ReviewRecord("erin", "PENDING", None),
    ]
    latest = latest_reviews(reviews)
    assert {k: r.state for k, r in latest.items()} == {"carol": "APPROVED", "dave": "approved"}


def test_teams_are_looked_up_once_and_only_when_needed(policies):
    teams = Teams()
    run(
        policies, facts(reviews=(approved("alice"), approved("erin"), approved("dev"))), teams=teams
    )
    assert teams.asked == [("acme", "security")]  # dev is the author: no lookup for him
    teams = Teams()
    run(policies, facts(base_exceptions_text=exceptions(EXC_1, EXC_2), reviews=()), teams=teams)
    assert teams.asked == []  # removal only: nothing to resolve


def test_a_change_request_by_another_reviewer_does_not_block(policies):
    reviews = (approved("carol"), ReviewRecord("dave", "CHANGES_REQUESTED", HEAD))
    verdict = run(policies, facts(reviews=reviews))
    assert verdict.conclusion == "success"
    assert "| @\u200ddave | changes requested | ❌ no | @\u200ddave requested changes |" in (
        verdict.summary
    )


def test_non_counting_approvals_are_listed_even_on_success(policies):
    verdict = run(policies, facts(reviews=(approved("carol"), approved("dev"))))
    assert verdict.conclusion == "success"
    assert "@\u200ddev is the author" in verdict.summary


def test_code_owners_rule_reads_githubs_semantics():
    rule, problems = code_owners_rule(
        "# owners\n* @acme/devs\n/.compliance/ @acme/security @Carol carol@example.com # @x\n",
        ".github/CODEOWNERS",
    )
    assert problems == []
    assert rule is not None
    assert (rule.line, rule.pattern) == (3, "/.compliance/")
    assert rule.users == ("Carol",)
    assert rule.teams == (("acme", "security"),)
    assert rule.emails == ("carol@example.com",)


def test_a_broken_earlier_rule_that_also_matches_fails_closed():
    text = "/.compliance/ @typo-team\n/.compliance/exceptions.yaml @carol\n"
    errors = (CodeownersError(".github/CODEOWNERS", 1, "Unknown owner", "Invalid owner"),)
    _, problems = code_owners_rule(text, ".github/CODEOWNERS", errors)
    assert len(problems) == 1 and problems[0].startswith("line 1 of .github/CODEOWNERS")


def test_a_line_separator_inside_a_codeowners_line_fails_closed():
    # GitHub reads one line (owners '@x', '/.compliance/', '@mallory'); splitlines() reads two
    text = "/.compliance/ @carol\ndocs/ @x\u2028/.compliance/ @mallory\n"
    rule, problems = code_owners_rule(text, ".github/CODEOWNERS")
    assert rule is not None and rule.users == ("carol",)
    assert problems == [
        "line 2 of .github/CODEOWNERS ('docs/ @x\\u2028/.compliance/ @mallory') can't be read"
        " (it contains a line or paragraph separator character), so the bot can't tell whether"
        " it owns .compliance/exceptions.yaml; fix it on the default branch"
    ]


def test_a_huge_codeowners_file_is_not_loaded():
    text = "/.compliance/ @carol\n" + "# padding\n" * 400_000
    rule, problems = code_owners_rule(text, "CODEOWNERS")
    assert rule is None
    assert problems == ["CODEOWNERS is larger than 3 MB, so GitHub does not load it"]


# -- the summary ---------------------------------------------------------------------------------


def test_no_login_or_repository_text_can_mention_or_forge_the_marker(policies):
    hostile_path = f"{MARKER}@everyone [x](https://evil.example)"
    verdict = run(
        policies,
        facts(
            author="mallory",
            changed_paths=(EXCEPTIONS_PATH, hostile_path),
            reviews=(approved("mallory"), approved("dave", OLD)),
        ),
    )
    summary = verdict.summary
    assert summary.count(MARKER) == 1
    assert summary.count("<!--") == 1
    for name in ("mallory", "dave", "carol", "everyone", "acme/security"):
        assert f"@{name}" not in summary, name
        assert f"@{ZWJ}{name}" in summary, name
    assert "[x](https" not in summary
    assert "@" not in verdict.title and "mallory" not in verdict.title


def test_reasons_are_plain_text_for_people(policies):
    verdict = run(policies, facts(reviews=(approved("dave"),)))
    assert ZWJ not in "".join(verdict.reasons)
    assert "`" not in "".join(verdict.reasons)


def test_the_summary_stays_within_githubs_cap(policies):
    many = [
        {"id": f"EXC-{i}", "policy": "nope.unknown", "expires": "2026-02-01"} for i in range(900)
    ]
    others = tuple(f"file-{i}.txt" for i in range(500))
    verdict = run(
        policies,
        facts(
            head_exceptions_text=exceptions(*many),
            changed_paths=(EXCEPTIONS_PATH, *others),
            reviews=tuple(approved(f"user{i}", OLD) for i in range(300)),
        ),
    )
    assert verdict.conclusion == "failure"
    assert len(verdict.summary.encode("utf-8")) <= 65535
    assert "… and " in verdict.summary
    assert len(verdict.annotations) == 900  # every problem is annotated, whatever the summary


GOLDEN: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "approved",
        {"reviews": (approved("dev"), approved("alice"), ReviewRecord("dave", "COMMENTED", HEAD))},
        {},
    ),
    (
        "missing_approval",
        {
            "author": "bob",
            "commit_people": ("bob", "frank"),
            "reviews": (
                approved("alice", OLD),
                approved("bob"),
                approved("frank"),
                approved("dave"),
                approved("renovate[bot]"),
                approved("erin"),
                ReviewRecord("erin", "DISMISSED", HEAD),
            ),
        },
        {},
    ),
    (
        "other_files_invalid_and_renewal_cap",
        {
            "changed_paths": (EXCEPTIONS_PATH, "deploy/app/daemonset.yaml"),
            "head_exceptions_text": exceptions(
                RENEWED, {**EXC_2, "reason": "needed", "expires": "2026-06-01"}
            ),
        },
        {"renewals": {"EXC-1": 3}},
    ),
    (
        "co_author",
        {
            "co_authors": (BOB, ALICE),
            "reviews": (approved("alice"), approved("dave")),
        },
        {},
    ),
    (
        "pending_team",
        {
            "codeowners_text": "/.compliance/ @acme/ghosts\n",
            "reviews": (approved("erin"),),
        },
        {},
    ),
    (
        "removal_only",
        {
            "base_exceptions_text": exceptions(EXC_1, EXC_2),
            "head_exceptions_text": exceptions(EXC_1),
        },
        {},
    ),
    (
        "unowned",
        {
            "codeowners_text": "/.compliance/ @acme/security\n/.compliance/exceptions.yaml\n",
            "codeowners_path": "CODEOWNERS",
        },
        {"config": RepoConfig(required_approvals=2)},
    ),
]


@pytest.mark.parametrize("name, overrides, kwargs", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_summaries(golden, policies, name, overrides, kwargs):
    verdict = run(policies, facts(**overrides), **kwargs)
    golden(f"{name}.md", verdict.summary)
    golden(f"{name}.title.txt", verdict.title + "\n")


def test_golden_files_cover_every_conclusion(policies):
    conclusions = {run(policies, facts(**o), **k).conclusion for _, o, k in GOLDEN}
    assert conclusions == {"success", "failure", "pending"}


def test_verdicts_are_deterministic(policies):
    first = run(policies, facts(reviews=(approved("alice", OLD), approved("dave"))))
    second = run(policies, facts(reviews=(approved("alice", OLD), approved("dave"))))
    assert dataclasses.asdict(first) == dataclasses.asdict(second)
