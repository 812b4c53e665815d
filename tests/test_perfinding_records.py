"""Findings and reported findings are built by hand-written constructors (a finding-heavy scan
makes hundreds of thousands): they must behave as the dataclasses' generated ones did."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from bot.engine.model import Finding, ResourceRef, finding_order
from bot.report import indented
from bot.report.jsonout import MESSAGES_KEPT, FindingLayout
from bot.report.model import ExceptionUse, ReportedFinding

WEB = ResourceRef("Deployment", "web", "shop")


def _finding(**changes: object) -> Finding:
    fields = {
        "policy": "k8s.privileged",
        "severity": "high",
        "enforcement": "blocking",
        "path": "deploy/web.yaml",
        "line": 12,
        "message": "container web runs privileged",
        "resource": WEB,
        "title": "No privileged containers",
    }
    fields.update(changes)
    return Finding(**fields)  # type: ignore[arg-type]


def test_a_finding_is_the_same_by_position_or_by_name():
    by_name = _finding()
    by_position = Finding(
        "k8s.privileged",
        "high",
        "blocking",
        "deploy/web.yaml",
        12,
        "container web runs privileged",
        WEB,
        "No privileged containers",
    )
    assert by_position == by_name
    assert hash(by_position) == hash(by_name)
    assert repr(by_position) == repr(by_name)


def test_a_finding_has_its_defaults_and_refuses_missing_or_unknown_fields():
    bare = Finding("p", "low", "advisory", "a.yaml", 1, "m")
    assert (bare.resource, bare.title) == (None, "")
    with pytest.raises(TypeError):
        Finding("p", "low", "advisory", "a.yaml", 1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Finding("p", "low", "advisory", "a.yaml", 1, "m", colour="red")  # type: ignore[call-arg]


def test_a_finding_stays_frozen_and_has_no_dict():
    finding = _finding()
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.line = 13  # type: ignore[misc]
    assert not hasattr(finding, "__dict__")


def test_a_finding_is_replaced_pickled_and_ordered_as_before():
    finding = _finding()
    moved = dataclasses.replace(finding, path="charts/web.yaml", line=3)
    assert (moved.path, moved.line, moved.policy) == ("charts/web.yaml", 3, finding.policy)
    assert pickle.loads(pickle.dumps(finding, protocol=pickle.HIGHEST_PROTOCOL)) == finding
    order = ("deploy/web.yaml", 12, "k8s.privileged", "container web runs privileged")
    assert finding.sort_key() == order
    assert finding_order(finding) == order
    assert _finding(line=3) != finding and _finding(line=3) != ReportedFinding(finding)


def test_a_reported_finding_behaves_as_a_frozen_dataclass():
    finding = _finding()
    use = ExceptionUse(id="EX-1", policy=finding.policy, state="applied")
    reported = ReportedFinding(finding, use)
    assert reported == ReportedFinding(finding=finding, exception=use)
    assert hash(reported) == hash(ReportedFinding(finding, use))
    assert ReportedFinding(finding).exception is None
    assert dataclasses.replace(reported, exception=None) == ReportedFinding(finding)
    assert pickle.loads(pickle.dumps(reported)) == reported
    with pytest.raises(dataclasses.FrozenInstanceError):
        reported.exception = None  # type: ignore[misc]


def test_layout_pieces_kept_between_findings_give_each_its_own_text():
    """Resources and messages are kept between findings; each text is still the finding's own,
    also when the messages kept are let go and when resources alternate."""
    other = ResourceRef("Pod", "db", None)
    findings = [
        _finding(line=n, resource=(WEB, other, None)[n % 3], message=f"message {n % 5}")
        for n in range(MESSAGES_KEPT + 20)
    ]
    findings += [_finding(path="b.yaml", message=f"message {n}") for n in range(MESSAGES_KEPT + 3)]
    layout = FindingLayout()
    for finding in findings:
        rf = ReportedFinding(finding)
        assert layout.text(rf, "> ") == "> " + indented.dumps(rf.to_json(), 2)
