"""Every bundled policy passes its own fixtures, and the pack meets the contract of DESIGN §4."""

from __future__ import annotations

import pytest

from bot.engine.evaluate import Engine
from bot.engine.fixtures import run_fixtures
from bot.engine.loader import load_bundled
from bot.engine.model import SourceFile

POLICIES = load_bundled()


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
def test_fixtures(policy):
    results = run_fixtures(policy)
    assert {r.fixture.expect for r in results} == {"pass", "fail"}, "needs pass and fail fixtures"
    failed = [r.describe() for r in results if not r.ok]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
def test_contract_fields(policy):
    assert policy.standards, "every bundled policy declares the standards it implements"
    assert policy.description and policy.remediation
    assert "{" in policy.message or policy.target in ("pull-request",), (
        "messages name the offending container, field or value"
    )


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
def test_bundled_file_validates_against_the_policy_schema(policy):
    # load_bundled trusts the bundled files (for start-up time); this is where they are checked
    from pathlib import Path

    from bot import safeyaml
    from bot.engine.loader import bundled_dir, schema_errors

    path = Path(bundled_dir()) / policy.source.removeprefix("policies/")
    doc = safeyaml.load(path.read_text("utf-8"))
    assert schema_errors("policy.schema.json", doc, policy.source) == []


def test_cri_socket_finding_is_on_the_volume_not_on_the_volumes_line():
    pod = """\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: "nginx:1.27"}]
  volumes:
    - name: data
      emptyDir: {}
    - name: sock
      hostPath:
        path: /var/run/docker.sock
"""
    policies = [p for p in load_bundled(["kubernetes"]) if p.id == "k8s.cri-socket"]
    [finding] = Engine(policies).evaluate([SourceFile("pod.yaml", pod)]).findings
    assert finding.line == 11  # hostPath.path of the volume `sock`
