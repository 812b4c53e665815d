"""A command loads what it uses: a scan of a few files does not pay, at every start, for modules
that only other commands, large scans or rare conditions need (issue 14: start-up)."""

from __future__ import annotations

import json
from pathlib import Path

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
    - name: web
      image: nginx:latest
      securityContext: {privileged: true}
"""


# ``join`` is one of the reference's extension functions: the fast interpreter can't run it.
NAMES_POLICY = """\
id: local.names
title: Pods have one container, named web
severity: low
enforcement: advisory
target: kubernetes
condition: 'containers.map(c, c.name).join(",") == "web"'
message: "only {name} has them"
exceptions: {allowed: false}
standards: []
fixtures:
  - expect: fail
    name: one container, named web
    findings: 1
    content: |
      apiVersion: v1
      kind: Pod
      metadata: {name: one}
      spec: {containers: [{name: web, image: nginx}]}
  - expect: pass
    name: another name
    content: |
      apiVersion: v1
      kind: Pod
      metadata: {name: two}
      spec: {containers: [{name: api, image: nginx}]}
"""


def test_a_small_scan_loads_neither_the_reference_cel_nor_pools_git_exceptions_formats_or_globs(
    tmp_path: Path, fresh_scan
):
    folder = tmp_path / "repo"
    (folder / ".compliance").mkdir(parents=True)
    (folder / ".compliance" / "config.yaml").write_text("packs: [kubernetes]\n")
    (folder / "pod.yaml").write_text(POD)
    first = fresh_scan(folder, tmp_path / "cache")  # checks the config's schema, asks pathspec
    assert "pathspec" in first["loaded"]
    result = fresh_scan(folder, tmp_path / "cache")
    assert result["code"] == 1  # blocking findings
    policies = {f["policy"] for f in json.loads(result["report"])["findings"]}
    assert {"k8s.privileged", "k8s.image-tag"} <= policies  # image-tag calls ``contains``
    assert result["loaded"] == []


def test_a_condition_only_the_reference_runs_still_runs(tmp_path: Path, fresh_scan):
    folder = tmp_path / "repo"
    (folder / ".compliance" / "policies").mkdir(parents=True)
    (folder / ".compliance" / "config.yaml").write_text("packs: []\n")
    (folder / ".compliance" / "policies" / "names.yaml").write_text(NAMES_POLICY)
    (folder / "pod.yaml").write_text(POD)
    result = fresh_scan(folder, tmp_path / "cache")
    findings = json.loads(result["report"])["findings"]
    assert [(f["policy"], f["message"]) for f in findings] == [("local.names", "only web has them")]
    assert "cel" in result["loaded"]


def test_exceptions_load_when_the_repository_has_them(tmp_path: Path, fresh_scan):
    folder = tmp_path / "repo"
    (folder / ".compliance").mkdir(parents=True)
    (folder / ".compliance" / "config.yaml").write_text("packs: [kubernetes]\n")
    (folder / ".compliance" / "exceptions.yaml").write_text(
        "version: 1\nexceptions:\n  - id: legacy-web\n    policy: k8s.privileged\n"
        "    paths: [pod.yaml]\n    reason: the vendor's agent needs the host\n"
        "    ticket: OPS-1\n    expires: 2027-01-15\n    requested_by: alice\n"
    )
    (folder / "pod.yaml").write_text(POD)
    result = fresh_scan(folder, tmp_path / "cache", "--now", "2026-12-01T00:00:00Z")
    report = json.loads(result["report"])
    privileged = [f for f in report["findings"] if f["policy"] == "k8s.privileged"]
    assert [f["exception"]["id"] for f in privileged] == ["legacy-web"]
    assert "bot.exemptions.parsing" in result["loaded"]
