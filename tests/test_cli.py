"""End-to-end stories for the ``compliance-bot`` command: real git repositories, real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

NOW = "2026-12-01T00:00:00Z"

PRIVILEGED_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  containers:
    - name: web
      image: nginx:1.27
      securityContext:
        privileged: true
"""

FIXED_POD = PRIVILEGED_POD.replace("privileged: true", "privileged: false")

EXCEPTION = """\
  - id: EXC-1
    policy: k8s.privileged
    paths: ["deploy/**"]
    reason: the web pod needs raw sockets for a legacy health probe
    requested_by: alice
    expires: 2026-12-31
"""


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(cwd or Path.cwd())},
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def write(repo: Path, path: str, text: str) -> None:
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, "README.md", "demo\n")
    write(repo, ".compliance/exceptions.yaml", "version: 1\nexceptions: []\n")
    commit(repo, "initial")
    git(repo, "checkout", "-q", "-b", "feature")
    return repo


def check(repo: Path, *extra: str) -> tuple[int, dict]:
    proc = cli(
        "check", "--repo", str(repo), "--base", "main", "--format", "json", "--now", NOW, *extra
    )
    assert proc.returncode in (0, 1, 2), proc.stderr
    return proc.returncode, json.loads(proc.stdout) if proc.stdout else {}


def test_privileged_pod_blocks_then_fix_passes(repo: Path):
    write(repo, "deploy/web.yaml", PRIVILEGED_POD)
    commit(repo, "add web")
    code, out = check(repo)
    assert code == 1
    assert out["conclusion"] == "failure"
    [finding] = [f for f in out["findings"] if f["policy"] == "k8s.privileged"]
    assert finding["path"] == "deploy/web.yaml"
    assert finding["line"] == 11  # the `privileged: true` line
    assert finding["resource"] == {"kind": "Pod", "name": "web", "namespace": "shop"}
    assert "web" in finding["message"]
    assert finding["exception"] is None

    write(repo, "deploy/web.yaml", FIXED_POD)
    commit(repo, "fix web")
    code, out = check(repo)
    assert [f for f in out["findings"] if f["enforcement"] == "blocking"] == []
    assert code == 0 and out["conclusion"] == "success"


def test_only_changed_files_are_checked(repo: Path):
    git(repo, "checkout", "-q", "main")
    write(repo, "legacy/old.yaml", PRIVILEGED_POD)
    commit(repo, "legacy on main")
    git(repo, "checkout", "-q", "-b", "other")
    write(repo, "docs/x.md", "text\n")
    commit(repo, "docs only")
    code, out = check(repo)
    assert code == 0 and out["findings"] == []


def test_exception_added_in_the_same_change_does_not_apply(repo: Path):
    # catalogue item 1: rules and exceptions come from the base, never from the head
    write(repo, "deploy/web.yaml", PRIVILEGED_POD)
    write(repo, ".compliance/exceptions.yaml", "version: 1\nexceptions:\n" + EXCEPTION)
    commit(repo, "add web and exempt it")
    code, out = check(repo)
    assert code == 1
    assert out["exceptions"]["applied"] == []


def test_config_weakened_in_the_same_change_does_not_apply(repo: Path):
    # catalogue item 2: a head-side config choosing no packs changes nothing
    write(repo, "deploy/web.yaml", PRIVILEGED_POD)
    write(repo, ".compliance/config.yaml", "version: 1\npacks: [secrets]\n")
    commit(repo, "add web, turn off the kubernetes pack")
    code, _ = check(repo)
    assert code == 1


def test_exception_on_the_base_applies_unverified(repo: Path):
    git(repo, "checkout", "-q", "main")
    write(repo, ".compliance/exceptions.yaml", "version: 1\nexceptions:\n" + EXCEPTION)
    commit(repo, "approved exception")
    git(repo, "checkout", "-q", "-b", "with-exception")
    write(repo, "deploy/web.yaml", PRIVILEGED_POD)
    commit(repo, "add web")
    code, out = check(repo)
    assert code == 0, out
    [finding] = [f for f in out["findings"] if f["policy"] == "k8s.privileged"]
    assert finding["exception"] == {
        "id": "EXC-1",
        "expires": finding["exception"]["expires"],
        "verified": False,
    }
    assert finding["exception"]["expires"].startswith("2027-01-01T00:00:00")
    assert [e["id"] for e in out["exceptions"]["applied"]] == ["EXC-1"]
    # after the deadline the rule bites again (catalogue item 9)
    proc = cli(
        "check",
        "--repo",
        str(repo),
        "--base",
        "main",
        "--format",
        "json",
        "--now",
        "2027-01-01T00:00:00Z",
    )
    late = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert [e["id"] for e in late["exceptions"]["expired"]] == ["EXC-1"]


def test_broken_exceptions_file_on_base_fails_closed(repo: Path):
    # catalogue item 13
    git(repo, "checkout", "-q", "main")
    write(repo, ".compliance/exceptions.yaml", "version: 1\nexceptions:\n" + EXCEPTION + EXCEPTION)
    commit(repo, "duplicate ids")
    git(repo, "checkout", "-q", "-b", "pr")
    write(repo, "deploy/web.yaml", PRIVILEGED_POD)
    commit(repo, "add web")
    code, out = check(repo)
    assert code in (1, 2) and out["conclusion"] == "failure"
    assert out["exceptions"]["applied"] == []
    problems = json.dumps(out["exceptions"]["invalid"]) + json.dumps(out["errors"])
    assert "duplicate" in problems.lower()


def test_bad_ref_exits_2_naming_it(repo: Path):
    proc = cli("check", "--repo", str(repo), "--base", "no-such-branch")
    assert proc.returncode == 2
    assert "no-such-branch" in proc.stderr
    assert proc.stdout == ""


def test_not_a_repository_exits_2(tmp_path: Path):
    proc = cli("check", "--repo", str(tmp_path), "--base", "main")
    assert proc.returncode == 2 and "not a git repository" in proc.stderr


def test_unreadable_manifest_exits_2_naming_file_and_line(repo: Path):
    write(repo, "deploy/broken.yaml", "apiVersion: v1\nkind: Pod\nspec: [\n")
    commit(repo, "broken")
    code, out = check(repo)
    assert code == 2
    assert out["conclusion"] == "failure"
    assert any(e["path"] == "deploy/broken.yaml" and e["line"] == 4 for e in out["errors"])


def test_scan_directory_and_policy_filter(tmp_path: Path):
    write(tmp_path, "k8s/web.yaml", PRIVILEGED_POD.replace("nginx:1.27", "nginx:latest"))
    proc = cli("scan", "k8s", "--format", "json", "--now", NOW, cwd=tmp_path)
    out = json.loads(proc.stdout)
    assert proc.returncode == 1
    policies = {f["policy"] for f in out["findings"]}
    assert {"k8s.privileged", "k8s.image-tag"} <= policies
    proc = cli("scan", "k8s", "--format", "json", "--policy", "k8s.image-tag", cwd=tmp_path)
    out = json.loads(proc.stdout)
    assert {f["policy"] for f in out["findings"]} == {"k8s.image-tag"}
    assert proc.returncode == 0  # image-tag is advisory by default


def test_scan_unknown_policy_and_missing_path(tmp_path: Path):
    proc = cli("scan", ".", "--policy", "k8s.privileged-containers", cwd=tmp_path)
    assert proc.returncode == 2 and "k8s.privileged" in proc.stderr
    proc = cli("scan", "nowhere", cwd=tmp_path)
    assert proc.returncode == 2 and "nowhere" in proc.stderr


def test_policies_list_json_contract():
    proc = cli("policies", "list", "--format", "json")
    assert proc.returncode == 0
    policies = json.loads(proc.stdout)
    assert len(policies) > 20
    for p in policies:
        assert {"id", "title", "severity", "enforcement", "target", "standards"} <= set(p)


def test_policies_test_runs_every_fixture():
    proc = cli("policies", "test")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith(tuple("123456789"))
    assert " 0 failed" in proc.stdout


def test_policies_validate_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent("""\
        id: my.policy
        title: Broken
        severity: high
        enforcement: blocking
        target: kubernetes
        condition: "containers.exists(c, "
        message: "x {name}"
        exceptions: {allowed: true}
        standards: []
        fixtures: [{expect: pass}, {expect: fail}]
        """)
    )
    proc = cli("policies", "validate", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:6:" in proc.stderr and "does not compile" in proc.stderr


def test_sample_quick_start():
    root = Path(__file__).resolve().parents[1]
    proc = cli(
        "scan",
        "--repo",
        "examples/demo",
        "examples/demo",
        "--now",
        NOW,
        "--format",
        "json",
        cwd=root,
    )
    out = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert [e["id"] for e in out["exceptions"]["applied"]] == ["EXC-1"]
    blocking = [f for f in out["findings"] if f["enforcement"] == "blocking" and not f["exception"]]
    assert {f["policy"] for f in blocking} >= {"k8s.privileged"}
