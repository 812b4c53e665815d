"""The CI entry points, run for real: the GitHub Action's script against shallow git clones, and
the pre-commit hook through ``pre-commit try-repo``.

The Action itself (``action.yml``) only sets up Python, installs this repository and uploads the
SARIF; everything that decides is ``ci/compliance-check.sh``, which these stories run locally in
clones shaped like the ones actions/checkout makes (``--depth 1``, a PR's merge ref).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest
import yaml
from e2e.test_check_stories import PRIVILEGED
from jsonschema.validators import validator_for

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "ci" / "compliance-check.sh"
SARIF_SCHEMA = ROOT / "tests" / "vendor" / "sarif" / "sarif-schema-2.1.0.json"

UNPRIVILEGED = PRIVILEGED.replace("privileged: true", "privileged: false")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,  # the machine's git config must not shape the stories
    "GIT_CONFIG_NOSYSTEM": "1",
    # The venv's compliance-bot and pre-commit first, as if installed.
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
}


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "COMPLIANCE_"))}
    return {**base, **GIT_ENV, **extra}


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env(), capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "add", "--", *files)
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A repository whose ``feature`` adds a privileged Pod and ``clean`` a harmless one, both
    branched from ``main`` a few commits back, so a one-commit clone lacks their merge base."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, {"README.md": "# shop\n"}, "start")
    fork = git(repo, "rev-parse", "HEAD")
    for i in range(3):
        commit(repo, {"README.md": f"# shop\n\nrelease {i}\n"}, f"main {i}")
    for branch, manifest in (("feature", PRIVILEGED), ("clean", UNPRIVILEGED)):
        git(repo, "checkout", "--quiet", "-b", branch, fork)
        for i in range(3):
            commit(repo, {"notes.txt": f"step {i}\n"}, f"{branch} {i}")
        commit(repo, {"deploy/web.yaml": manifest}, "the web pod")
    git(repo, "checkout", "--quiet", "main")
    return repo


def shallow_clone(origin: Path, branch: str, into: Path) -> Path:
    git(origin.parent, "clone", "--quiet", "--depth", "1", "--branch", branch,
        origin.as_uri(), str(into))  # fmt: skip
    return into


def run_script(clone: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """Run the Action's script in ``clone``; returns the process and its $GITHUB_OUTPUT."""
    outputs = clone.parent / f"{clone.name}.outputs"
    outputs.write_text("")
    proc = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=clone,
        env=env(GITHUB_OUTPUT=str(outputs), **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    pairs = (line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    return proc, dict(pairs)


@pytest.fixture(scope="module")
def sarif_validator():
    schema = json.loads(SARIF_SCHEMA.read_text("utf-8"))
    return validator_for(schema)(schema)  # the schema itself is checked in tests/report


def valid_sarif(path: Path, validator) -> dict:
    log = json.loads(path.read_text("utf-8"))
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(log)]
    assert not errors, errors[:5]
    return log


def is_shallow(repo: Path) -> bool:
    return git(repo, "rev-parse", "--is-shallow-repository") == "true"


# -- the Action's script --------------------------------------------------------------------------


def test_shallow_clone_fetches_what_it_needs_and_fails_on_a_privileged_pod(
    origin, tmp_path, sarif_validator
):
    clone = shallow_clone(origin, "feature", tmp_path / "clone")
    base = git(origin, "rev-parse", "main")
    assert is_shallow(clone)
    assert subprocess.run(["git", "cat-file", "-e", base], cwd=clone).returncode != 0

    proc, outputs = run_script(clone, COMPLIANCE_BASE=base, COMPLIANCE_FETCH_DEPTH="1")

    assert proc.returncode == 1, proc.stderr
    assert f"fetching the base {base}" in proc.stderr
    assert "deepening by 1" in proc.stderr  # the merge base was beyond the first fetch
    assert outputs == {"exit-code": "1", "sarif": "compliance-bot.sarif"}
    log = valid_sarif(clone / "compliance-bot.sarif", sarif_validator)
    blocking = [r for r in log["runs"][0]["results"] if r["level"] == "error"]
    assert [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in blocking
    ] == [("k8s.privileged", "deploy/web.yaml")]
    # The text report, to the log.
    assert "deploy/web.yaml:11  HIGH      k8s.privileged" in proc.stdout
    assert "FAIL: 1 blocking finding" in proc.stdout


def test_pull_request_merge_ref_checkout_with_base_branch_name(origin, tmp_path):
    """What actions/checkout does on ``pull_request``: one commit of refs/pull/N/merge."""
    git(origin, "checkout", "--quiet", "--detach", "main")
    git(origin, "merge", "--quiet", "--no-ff", "-m", "Merge feature into main", "feature")
    git(origin, "update-ref", "refs/pull/1/merge", "HEAD")
    git(origin, "checkout", "--quiet", "main")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    git(workspace, "init", "--quiet")
    git(workspace, "remote", "add", "origin", origin.as_uri())
    git(workspace, "fetch", "--quiet", "--no-tags", "--depth=1", "origin",
        "+refs/pull/1/merge:refs/remotes/pull/1/merge")  # fmt: skip
    git(workspace, "checkout", "--quiet", "refs/remotes/pull/1/merge")

    # The Action's fallback when there is no base SHA: github.base_ref, a branch name.
    proc, outputs = run_script(workspace, COMPLIANCE_BASE="main", COMPLIANCE_SARIF="out/r.sarif")

    assert proc.returncode == 1, proc.stderr
    assert outputs["sarif"] == "out/r.sarif" and (workspace / "out" / "r.sarif").is_file()
    assert "k8s.privileged" in proc.stdout
    assert "2 files checked" in proc.stdout  # deploy/web.yaml and notes.txt: the PR's changes


def test_clean_change_exits_0(origin, tmp_path, sarif_validator):
    clone = shallow_clone(origin, "clean", tmp_path / "clone")
    proc, outputs = run_script(clone, COMPLIANCE_BASE=git(origin, "rev-parse", "main"))
    assert proc.returncode == 0, proc.stderr
    assert outputs["exit-code"] == "0"
    log = valid_sarif(clone / "compliance-bot.sarif", sarif_validator)
    assert not [r for r in log["runs"][0]["results"] if r["level"] == "error"]


def test_findings_do_not_fail_the_step_when_asked_not_to(origin, tmp_path):
    clone = shallow_clone(origin, "feature", tmp_path / "clone")
    proc, outputs = run_script(
        clone,
        COMPLIANCE_BASE=git(origin, "rev-parse", "main"),
        COMPLIANCE_FAIL_ON_FINDINGS="false",
        COMPLIANCE_FETCH_ROUNDS="0",  # straight to the whole history
    )
    assert proc.returncode == 0, proc.stderr
    assert "fetching the whole history" in proc.stderr
    assert not is_shallow(clone)
    assert outputs["exit-code"] == "1" and outputs["sarif"]


@pytest.fixture
def echo_args(tmp_path: Path) -> Path:
    """A stand-in for compliance-bot that prints its arguments as JSON and exits 1."""
    stub = tmp_path / "echo-args"
    stub.write_text(
        f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\nsys.exit(1)\n"
    )
    stub.chmod(0o755)
    return stub


def test_pull_request_title_body_and_labels_reach_the_check(origin, tmp_path, echo_args):
    clone = shallow_clone(origin, "clean", tmp_path / "clone")
    proc, _ = run_script(
        clone,
        COMPLIANCE_BASE=git(origin, "rev-parse", "main"),
        COMPLIANCE_TITLE="Add the web pod",
        COMPLIANCE_BODY="",
        COMPLIANCE_LABELS_JSON='["needs review", "k8s"]',
        COMPLIANCE_ARGS="--format json",  # the script's own --format comes after, and wins
        COMPLIANCE_BOT=str(echo_args),
    )
    assert proc.returncode == 1  # the stand-in's exit code
    args = json.loads((clone / "compliance-bot.sarif").read_text())  # what the SARIF run got
    assert args[args.index("--title") + 1 : args.index("--title") + 4] == [
        "Add the web pod",
        "--body",
        "",
    ]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--label"] == ["needs review", "k8s"]
    assert args[-2:] == ["--format", "sarif"]


def test_unfetchable_base_says_to_add_fetch_depth_0_and_exits_2(origin, tmp_path):
    clone = shallow_clone(origin, "feature", tmp_path / "clone")
    base = git(origin, "rev-parse", "main")
    git(clone, "remote", "set-url", "origin", (tmp_path / "gone").as_uri())

    proc, outputs = run_script(clone, COMPLIANCE_BASE=base)

    assert proc.returncode == 2
    assert f"cannot fetch the base {base} from origin" in proc.stderr
    assert "fetch-depth: 0" in proc.stderr and "actions/checkout@v4" in proc.stderr
    assert outputs == {"exit-code": "2"}  # no sarif: the upload step is skipped
    assert not (clone / "compliance-bot.sarif").exists()


def test_missing_base_is_a_usage_error(origin, tmp_path):
    clone = shallow_clone(origin, "feature", tmp_path / "clone")
    proc, outputs = run_script(clone)
    assert proc.returncode == 2
    assert "no base" in proc.stderr and outputs == {"exit-code": "2"}


def test_action_runs_the_script_and_keeps_user_text_out_of_shell():
    action = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    check = next(s for s in steps if s.get("id") == "check")
    assert check["run"] == 'bash "$GITHUB_ACTION_PATH/ci/compliance-check.sh"'
    for step in steps:
        assert "${{" not in step.get("run", ""), f"expression pasted into shell: {step['run']}"
    upload = next(s for s in steps if "upload-sarif" in s.get("uses", ""))
    assert upload["if"].startswith("always()")
    assert set(action["inputs"]) >= {"base", "head", "sarif", "fail-on-findings", "args"}
    assert "python-version" in action["inputs"]


def test_hook_manifest_runs_scan():
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert hook["id"] == "compliance-scan"
    assert hook["entry"] == "compliance-bot scan" and hook["language"] == "python"
    assert hook["pass_filenames"] is True and hook["require_serial"] is False


# -- the pre-commit hook --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree as its own one-commit repository.

    ``try-repo`` on a local path uses the last commit plus changes to *tracked* files, so a new,
    uncommitted hook file would not be seen; a snapshot of the tree (tracked and untracked,
    minus what .gitignore drops) tests exactly what is on disk.
    """
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    buffer = BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in names:
            if name and (ROOT / name).is_file():
                tar.add(ROOT / name, arcname=name)
    repo = tmp_path_factory.mktemp("hooks")
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        tar.extractall(repo, filter="data")
    git(repo, "init", "--quiet")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "snapshot")
    return repo


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")  # the hook's venv, built once per module


def try_repo(user: Path, hooks: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), "compliance-scan", *args],
        cwd=user,
        env=env(PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never"),
        capture_output=True,
        text=True,
        timeout=600,  # the first run installs the package and its dependencies from PyPI
    )


@pytest.mark.slow
def test_hook_fails_on_a_staged_privileged_pod_and_passes_a_good_one(
    tmp_path, hooks_repo, pre_commit_home
):
    pytest.importorskip("pre_commit")
    user = tmp_path / "user"
    (user / "deploy").mkdir(parents=True)
    git(user, "init", "--quiet")
    (user / "deploy" / "web.yaml").write_text(PRIVILEGED)
    (user / "deploy" / "ok.yaml").write_text(UNPRIVILEGED)
    git(user, "add", "deploy/web.yaml")  # ok.yaml stays unstaged: not scanned by default

    bad = try_repo(user, hooks_repo, pre_commit_home)  # the staged files, as on `git commit`
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "compliance-bot scan" in bad.stdout and "Failed" in bad.stdout
    assert "deploy/web.yaml:11  HIGH      k8s.privileged" in bad.stdout
    assert "deploy/ok.yaml" not in bad.stdout

    good = try_repo(user, hooks_repo, pre_commit_home, "--files", "deploy/ok.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout
