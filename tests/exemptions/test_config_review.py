"""The review check of a PR that loosens ``.compliance/config.yaml`` (DESIGN §5 item 21).

Same approval rules as an exception PR (tests/exemptions/test_review.py), with the config file's
code owners; these cases cover what differs: what is loosened, other files, a broken config.
"""

from __future__ import annotations

from typing import Any

from bot.engine.model import EvalError
from bot.exemptions.review import ReviewFacts, review_config
from bot.repoconfig import CONFIG_PATH, Loosening, RepoConfig
from tests.exemptions.test_review import HEAD, OLD, Profiles, Teams, approved

CODEOWNERS = "* @acme/devs\n/.compliance/ @acme/security\n/.compliance/config.yaml @acme/platform\n"
TEAMS = {("acme", "devs"): frozenset({"dev"}), ("acme", "platform"): frozenset({"pat"})}
EXCLUSION = Loosening("exclude", "adds the exclusion 'tests/fixtures/**'", 4)


def facts(**overrides: Any) -> ReviewFacts:
    values: dict[str, Any] = {
        "pr_number": 9,
        "author": "dev",
        "head_sha": HEAD,
        "changed_paths": (CONFIG_PATH,),
        "commit_people": ("dev",),
        "base_exceptions_text": None,
        "head_exceptions_text": None,
        "codeowners_path": ".github/CODEOWNERS",
        "codeowners_text": CODEOWNERS,
        "reviews": (),
    }
    values.update(overrides)
    return ReviewFacts(**values)


def run(facts_: ReviewFacts, loosened=(EXCLUSION,), errors=(), config=None):  # type: ignore[no-untyped-def]
    return review_config(
        facts_,
        list(loosened),
        list(errors),
        config or RepoConfig(),
        Teams(TEAMS),
        profiles=Profiles(),
    )


def test_a_loosening_waits_for_a_code_owner_of_the_config_file():
    verdict = run(facts())
    assert verdict.conclusion == "failure"
    assert verdict.title == "Failed: loosens the config; needs 1 code-owner approval"
    assert "needs an approval from a member of @acme/platform" in verdict.reasons
    assert "adds the exclusion 'tests/fixtures/\\*\\*'" in verdict.summary  # escaped markdown
    [note] = verdict.annotations
    assert (note.path, note.line, note.level) == (CONFIG_PATH, 4, "warning")
    assert verdict.loosenings == ("adds the exclusion 'tests/fixtures/**'",)


def test_an_owner_of_the_exceptions_file_is_not_an_owner_of_the_config():
    # @acme/security owns .compliance/, but the config's own rule comes later and wins
    verdict = run(facts(reviews=(approved("alice"),)))
    assert verdict.conclusion == "failure"
    assert "@alice is not a code owner of .compliance/config.yaml" in verdict.reasons


def test_the_config_owner_approving_the_head_passes_it():
    verdict = run(facts(reviews=(approved("pat"),)))
    assert (verdict.conclusion, verdict.approvers) == ("success", ("pat",))
    assert verdict.title == f"Passed: config loosening approved by 1 code owner on {HEAD[:7]}"


def test_an_approval_of_an_earlier_commit_does_not_count():
    verdict = run(facts(reviews=(approved("pat", OLD),)))
    assert verdict.conclusion == "failure"
    assert f"@pat's approval predates commit {HEAD[:7]}" in verdict.reasons


def test_the_base_config_decides_how_many_approvals():
    verdict = run(facts(reviews=(approved("pat"),)), config=RepoConfig(required_approvals=2))
    assert verdict.conclusion == "failure"
    assert any("needs 1 more approval" in r for r in verdict.reasons)


def test_other_files_in_the_same_pr_fail_it_whoever_approves():
    verdict = run(
        facts(changed_paths=(CONFIG_PATH, "tests/fixtures/bad.yaml"), reviews=(approved("pat"),))
    )
    assert verdict.conclusion == "failure"
    assert verdict.title == "Failed: 1 other file changed"
    assert "changes other files too: tests/fixtures/bad.yaml" in verdict.reasons[0]


def test_a_broken_config_fails_even_without_a_loosening():
    error = EvalError("exclude: '**' would exclude every file", path=CONFIG_PATH, line=3)
    verdict = run(facts(), loosened=(), errors=(error,))
    assert verdict.conclusion == "failure"
    assert verdict.title == "Failed: 1 problem in the config"
    assert [(a.line, a.level) for a in verdict.annotations] == [(3, "failure")]
