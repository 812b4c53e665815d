"""Running a policy's own pass/fail fixtures (``compliance-bot policies test`` and pytest)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.evaluate import Engine
from bot.engine.model import Fixture, Policy, PullRequestFacts, SourceFile


@dataclass(frozen=True)
class FixtureResult:
    policy: Policy
    fixture: Fixture
    ok: bool
    detail: str

    def describe(self) -> str:
        label = self.fixture.name or f"{self.fixture.expect} fixture"
        return f"{self.policy.source}:{self.fixture.line}: {self.policy.id}: {label}: {self.detail}"


def run_fixtures(policy: Policy) -> list[FixtureResult]:
    engine = Engine([policy])
    results = []
    for fixture in policy.fixtures:
        facts = None
        files = [SourceFile(fixture.path, fixture.content)] if fixture.content else []
        if fixture.pull_request is not None:
            pr = dict(fixture.pull_request)
            facts = PullRequestFacts(
                title=pr.get("title", ""),
                body=pr.get("body", ""),
                labels=tuple(pr.get("labels", ())),
                author=pr.get("author", ""),
                changed_paths=tuple(pr.get("changed_paths", ())),
                base_ref=pr.get("base_ref", "main"),
                head_ref=pr.get("head_ref", "feature"),
                draft=bool(pr.get("draft", False)),
            )
        evaluation = engine.evaluate(files, facts)
        n = len(evaluation.findings)
        if evaluation.errors:
            ok, detail = False, "errors: " + "; ".join(str(e) for e in evaluation.errors)
        elif fixture.expect == "pass":
            ok = n == 0
            detail = (
                "passed"
                if ok
                else f"expected no finding, got {n}: "
                + "; ".join(f.message for f in evaluation.findings)
            )
        elif fixture.findings is not None:
            ok = n == fixture.findings
            detail = _findings(n) + ("" if ok else f", expected {fixture.findings}")
        else:
            ok = n > 0
            detail = _findings(n) if ok else "expected a finding, got none"
        if ok and fixture.expect == "fail" and fixture.content:
            ok, detail = _lines_in_range(evaluation.findings, fixture.content, detail)
        results.append(FixtureResult(policy, fixture, ok, detail))
    return results


def _lines_in_range(findings: list, content: str, detail: str) -> tuple[bool, str]:
    last = content.count("\n") + 1
    bad = [f for f in findings if not 1 <= f.line <= last]
    if bad:
        return False, f"finding line {bad[0].line} outside the fixture (1..{last})"
    return True, detail


def _findings(n: int) -> str:
    return f"{n} finding" if n == 1 else f"{n} findings"
