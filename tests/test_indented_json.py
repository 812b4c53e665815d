"""bot.report.indented writes what ``json.dumps(value, indent=2)`` writes, byte for byte."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.model import Finding, ResourceRef
from bot.report import indented
from bot.report.jsonout import FindingLayout
from bot.report.model import ExceptionUse, ReportedFinding

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()  # every code point: control characters, quotes, astral planes, lone surrogates
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(values, st.integers(min_value=0, max_value=4))
def test_same_text_as_json_dumps_at_any_depth(value, level):
    expected = json.dumps(value, indent=2).replace("\n", "\n" + "  " * level)
    assert indented.dumps(value, level) == expected


def test_values_json_spells_itself_go_to_json():
    """NaN, the infinities, tuples, non-string keys and subclasses come out as json has them."""

    class Text(str):
        pass

    for value in (
        {"x": math.nan, "y": [math.inf, -math.inf]},
        {"pair": (1, "a")},
        {1: "one", None: "none", 2.5: "half"},
        {"sub": Text("text"), "flag": True},
    ):
        assert indented.dumps(value, 1) == json.dumps(value, indent=2).replace("\n", "\n  ")


def test_a_finding_as_reports_write_it():
    finding = {
        "policy": "k8s.image-tag",
        "severity": "medium",
        "line": 12,
        "resource": {"kind": "Deployment", "name": "web", "namespace": None},
        "message": 'container web: image "nginx" has no tag \u2014 \x1b[31m',
        "exception": None,
        "tags": [],
        "extra": {},
    }
    assert indented.dumps(finding, 2) == json.dumps(finding, indent=2).replace("\n", "\n    ")


_text = st.text(max_size=12)
_findings = st.builds(
    Finding,
    policy=st.sampled_from(["k8s.a", "k8s.b", 'odd "id"']),
    severity=st.sampled_from(["low", "high"]),
    enforcement=st.sampled_from(["blocking", "advisory"]),
    path=st.sampled_from(["", "a.yaml", "dir/b.yaml"]),
    line=st.integers(0, 10**6),
    message=_text,
    resource=st.none() | st.builds(ResourceRef, _text, st.none() | _text, st.none() | _text),
)
_uses = st.none() | st.builds(
    ExceptionUse,
    id=st.sampled_from(["E1", "E2"]),
    policy=st.just("k8s.a"),
    state=st.just("applied"),
    expires=st.none() | st.sampled_from(["2027-01-31", "2027-01-31T10:00:00Z"]),
    verified=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_findings, _uses), max_size=12))
def test_a_finding_laid_out_in_pieces_is_its_json(pairs):
    """JsonWriter's layout keeps ReportedFinding.to_json's keys, order and text, whatever
    repeats (the pieces are reused per path and per exception)."""
    layout = FindingLayout()
    for finding, use in sorted(pairs, key=lambda p: p[0].path):
        rf = ReportedFinding(finding, use)
        assert layout.text(rf) == indented.dumps(rf.to_json(), 2)
