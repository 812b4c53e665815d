"""``render_sarif``: SARIF 2.1.0 valid against the vendored OASIS schema, and fit for GitHub."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from jsonschema.validators import validator_for
from report_samples import (
    HOSTILE_PATH,
    PRIVILEGED,
    clean_report,
    finding,
    full_report,
    hostile_report,
)

from bot.engine.model import ResourceRef
from bot.report.model import Report, ReportedFinding
from bot.report.sarif import FINGERPRINT_KEY, render_sarif, sarif_log

SCHEMA_PATH = Path(__file__).parents[1] / "vendor" / "sarif" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = validator_for(schema)
    # The schema against its metaschema, without format checks (upstream's ``language``
    # pattern is not a Python regex), tolerating only upstream's one known defect: ``region``'s
    # ``anyOf`` sits inside ``properties``. See tests/vendor/sarif/README.md.
    known = ["definitions", "region", "properties", "anyOf"]
    errors = [e for e in cls(cls.META_SCHEMA).iter_errors(schema) if list(e.absolute_path) != known]
    assert not errors, errors[0]
    return cls(schema)


def _run(report: Report) -> dict:
    return sarif_log(report, "1.2.3")["runs"][0]


@pytest.mark.parametrize("make", [full_report, clean_report, hostile_report])
def test_valid_against_the_oasis_schema(validator, make):
    log = json.loads(render_sarif(make(), "1.2.3"))
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1


@pytest.mark.parametrize("make", [full_report, clean_report, hostile_report])
def test_github_ingestion_rules(make):
    """What GitHub checks beyond the schema: a location with a file URI on every result."""
    run = _run(make())
    for result in run["results"]:
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        assert uri and not uri.startswith("/") and " " not in uri
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert physical["region"]["startLine"] >= 1
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    for rule in run["tool"]["driver"]["rules"]:
        assert 0.0 < float(rule["properties"]["security-severity"]) <= 10.0
        assert "security" in rule["properties"]["tags"]


def test_driver_describes_the_tool_and_one_rule_per_policy_that_appears():
    driver = _run(full_report())["tool"]["driver"]
    assert driver["name"] == "compliance-bot"
    assert driver["semanticVersion"] == "1.2.3"
    assert driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == [
        "k8s.host-pid",
        "k8s.privileged",
        "k8s.probes",
        "pr.ticket",
        "secrets.aws-key",
    ]
    rule = driver["rules"][1]
    assert rule == {
        "id": "k8s.privileged",
        "name": "K8sPrivileged",
        "shortDescription": {"text": "Privileged containers"},
        "fullDescription": {"text": "What k8s.privileged checks and why it matters."},
        "help": {
            "text": "How to fix k8s.privileged.",
            "markdown": "How to fix k8s.privileged.\n\nStandards: `pss/baseline/privileged`",
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {
            "tags": ["compliance", "security", "k8s", "kubernetes"],
            "precision": "very-high",
            "security-severity": "8.0",
            "severity": "high",
            "enforcement": "blocking",
            "standards": ["pss/baseline/privileged"],
            "exceptions": {"allowed": True, "max_days": 90},
        },
    }
    severities = {r["id"]: r["properties"]["security-severity"] for r in driver["rules"]}
    assert severities == {
        "k8s.host-pid": "9.5",
        "k8s.privileged": "8.0",
        "k8s.probes": "3.0",
        "pr.ticket": "5.5",
        "secrets.aws-key": "9.5",
    }
    assert driver["rules"][2]["defaultConfiguration"]["level"] == "warning"
    assert "does not allow exceptions" in driver["rules"][4]["help"]["markdown"]


def test_levels_blocking_error_advisory_warning_excepted_note():
    results = {r["ruleId"]: r for r in _run(full_report())["results"]}
    assert results["k8s.privileged"]["level"] == "error"
    assert results["secrets.aws-key"]["level"] == "error"
    assert results["k8s.probes"]["level"] == "warning"
    assert results["k8s.host-pid"]["level"] == "note"
    assert results["k8s.privileged"]["message"]["text"] == (
        "container web runs privileged (Pod/badpod01)"
    )
    assert results["k8s.privileged"]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "deploy/a.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 14},
    }


def test_excepted_findings_carry_an_accepted_external_suppression():
    results = {r["ruleId"]: r for r in _run(full_report())["results"]}
    (suppression,) = results["k8s.host-pid"]["suppressions"]
    assert suppression["kind"] == "external"
    assert suppression["status"] == "accepted"
    assert suppression["justification"] == (
        "exception EXC-7: node-exporter reads host metrics through hostPID"
    )
    assert suppression["properties"]["exception"] == "EXC-7"
    assert "suppressions" not in results["k8s.privileged"]


def test_pull_request_findings_are_notifications_not_unlocated_results():
    run = _run(full_report())
    assert all(r["ruleId"] != "pr.ticket" for r in run["results"])
    notes = run["invocations"][0]["toolExecutionNotifications"]
    (pr,) = [n for n in notes if n.get("associatedRule", {}).get("id") == "pr.ticket"]
    assert pr["level"] == "error"
    assert pr["message"]["text"] == "pull request: the title names no ticket (SEC-123)"
    rules = run["tool"]["driver"]["rules"]
    assert rules[pr["associatedRule"]["index"]]["id"] == "pr.ticket"


def test_errors_are_failed_execution_notifications():
    invocation = _run(full_report())["invocations"][0]
    assert invocation["executionSuccessful"] is False
    errors = [
        n
        for n in invocation["toolExecutionNotifications"]
        if "pull request" not in n["message"]["text"]
    ]
    assert [e["message"]["text"] for e in errors] == [
        "CEL error: no such key: spec",
        "could not parse YAML: mapping values are not allowed",
    ]
    assert errors[0]["level"] == "error"
    # custom.thing is not a known policy: no invented rule, the id is kept in properties.
    assert errors[0]["properties"] == {"policy": "custom.thing"}
    assert errors[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 9}
    assert _run(clean_report())["invocations"] == [{"executionSuccessful": True}]


def test_fingerprints_ignore_the_line_but_not_policy_path_resource_or_message():
    def print_of(**changes) -> str:
        f = replace(
            finding(PRIVILEGED, "deploy/a.yaml", 14, "runs privileged", ResourceRef("Pod", "a")),
            **changes,
        )
        (result,) = _run(Report(findings=[ReportedFinding(f)]))["results"]
        return result["partialFingerprints"][FINGERPRINT_KEY]

    base = print_of()
    assert print_of(line=40) == base
    assert print_of(path="deploy/b.yaml") != base
    assert print_of(message="runs privileged!") != base
    assert print_of(resource=ResourceRef("Pod", "b")) != base
    assert print_of(policy="k8s.other") != base


def test_identical_findings_in_one_file_get_distinct_fingerprints():
    same = [ReportedFinding(finding(PRIVILEGED, "a.yaml", n, "runs privileged")) for n in (3, 9)]
    prints = [
        r["partialFingerprints"][FINGERPRINT_KEY] for r in _run(Report(findings=same))["results"]
    ]
    assert prints[0] != prints[1]
    assert prints[0].split(":")[0] == prints[1].split(":")[0]


def test_hostile_paths_become_percent_encoded_uri_references():
    results = _run(hostile_report())["results"]
    uri = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.startswith("deploy/%3Cimg%20src%3Dx")
    assert "<" not in uri and "|" not in uri and "#" not in uri
    from urllib.parse import unquote

    assert unquote(uri) == HOSTILE_PATH


def test_line_zero_still_gives_a_valid_region():
    f = finding(PRIVILEGED, "a.yaml", 0, "whole file")
    (result,) = _run(Report(findings=[ReportedFinding(f)]))["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 1


def test_the_validator_is_not_vacuous(validator):
    log = sarif_log(full_report(), "1.2.3")
    log["runs"][0]["results"][0]["level"] = "fatal"
    del log["runs"][0]["tool"]["driver"]["name"]
    assert len(list(validator.iter_errors(log))) == 2
