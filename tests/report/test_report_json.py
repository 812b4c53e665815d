"""``render_json``: the machine contract of DESIGN §4, key for key."""

from __future__ import annotations

import json

from report_samples import clean_report, full_report

from bot.report.jsonout import render_json

FINDING_KEYS = [
    "policy",
    "severity",
    "enforcement",
    "path",
    "line",
    "resource",
    "message",
    "exception",
]


def test_top_level_keys_start_with_the_documented_ones_in_order():
    data = json.loads(render_json(full_report()))
    assert list(data)[:4] == ["conclusion", "findings", "exceptions", "errors"]
    assert data["conclusion"] == "failure"
    assert json.loads(render_json(clean_report()))["conclusion"] == "success"


def test_finding_keys_are_exactly_the_documented_ones():
    data = json.loads(render_json(full_report()))
    for item in data["findings"]:
        assert list(item) == FINDING_KEYS
    first = data["findings"][0]
    assert first == {
        "policy": "k8s.privileged",
        "severity": "high",
        "enforcement": "blocking",
        "path": "deploy/a.yaml",
        "line": 14,
        "resource": {"kind": "Pod", "name": "badpod01", "namespace": None},
        "message": "container web runs privileged",
        "exception": None,
    }


def test_an_excepted_finding_names_its_exception():
    data = json.loads(render_json(full_report()))
    excepted = [f for f in data["findings"] if f["exception"]]
    assert excepted == [
        {
            **excepted[0],
            "exception": {"id": "EXC-7", "expires": "2026-12-31T23:59:59+00:00", "verified": True},
        }
    ]


def test_exception_lists_include_the_documented_states():
    data = json.loads(render_json(full_report()))
    assert {"applied", "expired", "invalid", "unused"} <= set(data["exceptions"])
    assert [e["id"] for e in data["exceptions"]["applied"]] == ["EXC-7"]
    assert data["exceptions"]["invalid"][0]["problem"].startswith("line 30")


def test_errors_carry_path_line_policy_message():
    data = json.loads(render_json(full_report()))
    assert data["errors"][0] == {
        "path": ".compliance/policies/custom.yaml",
        "line": 9,
        "policy": "custom.thing",
        "message": "CEL error: no such key: spec",
    }


def test_output_is_the_model_serialised_with_a_trailing_newline():
    text = render_json(full_report())
    assert text.endswith("}\n")
    assert json.loads(text) == full_report().to_json()
    assert text == json.dumps(full_report().to_json(), indent=2) + "\n"
