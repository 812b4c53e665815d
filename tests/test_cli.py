"""End-to-end stories for the ``compliance-bot`` command: real git repositories, real processes."""

from __future__ import annotations

import contextlib
import io
import json
import os
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
        env={
            "PATH": "/usr/bin:/bin",
            "NO_COLOR": "1",
            "HOME": str(cwd or Path.cwd()),
            # (the suite's own cache folder, tests/conftest.py: never the checkout's .cache)
            "COMPLIANCE_BOT_CACHE_DIR": os.environ["COMPLIANCE_BOT_CACHE_DIR"],
        },
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
    assert finding["exception"]["expires"] == "2026-12-31"  # as written: through that day
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


@pytest.mark.parametrize(
    ("guess", "meant"),
    [
        ("k8s.host-network", "k8s.host-namespaces"),  # names the field the policy reads
        ("k8s.host-pid", "k8s.host-namespaces"),
        ("k8s.privilegd", "k8s.privileged"),
        ("k8s.read-only-root-filesystem", "k8s.read-only-root-fs"),
    ],
)
def test_unknown_policy_suggests_the_policy_meant(tmp_path: Path, guess: str, meant: str):
    proc = cli("scan", ".", "--policy", guess, cwd=tmp_path)
    assert proc.returncode == 2
    assert f"(did you mean '{meant}'?)" in proc.stderr


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


def test_policies_validate_nested_folders_every_schema_error_and_readable_cel(tmp_path: Path):
    root = Path(__file__).resolve().parents[1]
    good = (root / "policies/kubernetes/privileged.yaml").read_text()
    write(tmp_path, "pack/kubernetes/good.yaml", good.replace("k8s.privileged", "my.good"))
    write(tmp_path, "pack/kubernetes/schema.yaml", "id: my.schema\ntitle: 5\nseverity: huge\n")
    cel = good.replace("k8s.privileged", "my.cel").replace("condition: >\n", 'condition: >\n  "x\n')
    write(tmp_path, "pack/other/deeper/cel.yml", cel)
    proc = cli("policies", "validate", str(tmp_path / "pack"))
    assert proc.returncode == 2
    assert "ok   " in proc.stdout and "my.good (kubernetes, 3 fixtures)" in proc.stdout
    schema = [line for line in proc.stderr.splitlines() if "schema.yaml" in line]
    assert len(schema) >= 3, proc.stderr  # title, severity and the missing fields, not "1 more"
    assert not any("more)" in line for line in schema)
    assert any("severity: 'huge' is not one of low, medium, high, critical" in x for x in schema)
    assert any("missing required field 'target'" in line for line in schema)
    [cel_error] = [line for line in proc.stderr.splitlines() if "cel.yml" in line]
    assert "does not compile: condition:1:" in cel_error and "\\x0a" not in cel_error
    (tmp_path / "empty/sub").mkdir(parents=True)
    proc = cli("policies", "validate", str(tmp_path / "empty"))
    assert proc.returncode == 2 and "no policy files" in proc.stderr


def test_scanning_the_repository_root_does_not_read_its_rules_as_manifests(tmp_path: Path):
    write(tmp_path, "deploy/web.yaml", FIXED_POD)
    text = HEADER + entry() + "version: 1\n"  # a duplicate top-level key: the file is unusable
    write(tmp_path, ".compliance/exceptions.yaml", text)
    proc = cli("scan", ".", "--format", "json", "--now", NOW, cwd=tmp_path)
    out = json.loads(proc.stdout)
    assert [e["path"] for e in out["errors"]] == [".compliance/exceptions.yaml"], out["errors"]
    assert "exceptions file unusable" in out["errors"][0]["message"]
    assert not [f for f in out["findings"] if f["path"].startswith(".compliance/")]


@pytest.mark.parametrize(
    "args", [("policies", "list"), ("scan", "--repo", "examples/demo", "examples/demo")]
)
def test_a_reader_that_stops_early_is_not_an_error(args: tuple[str, ...]):
    # `compliance-bot ... | head`: the pipe closes before the output is written
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    assert proc.wait() == 141  # as if killed by SIGPIPE, like git
    assert proc.stderr.read() == b""


def test_counts_are_written_in_words_not_with_plural_s_in_brackets(tmp_path: Path):
    proc = cli("policies", "list", "--pack", "secrets")
    assert proc.stdout.splitlines()[-1] == "6 policies in 1 pack"
    root = Path(__file__).resolve().parents[1]
    proc = cli("policies", "test", str(root / "policies/kubernetes/cri-socket.yaml"))
    assert proc.stdout.splitlines()[-1].endswith(" 0 failed (1 policy)")
    write(tmp_path, ".compliance/exceptions.yaml", HEADER + entry())
    proc = cli("exceptions", "list", "--repo", str(tmp_path), "--now", NOW)
    assert proc.stdout.splitlines()[-1] == "1 exception"


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


# -- `exceptions validate`: DESIGN §5 items 8, 13, 15 and 16, refused with exit 2 and the line --

HEADER = "version: 1\nexceptions:\n"


def entry(**fields: str) -> str:
    base = {
        "id": "EXC-1",
        "policy": "k8s.privileged",
        "paths": '["deploy/**"]',
        "reason": "the web pod needs raw sockets for a legacy health probe",
        "expires": "2026-12-20",
    }
    base.update(fields)
    lines = [f"  - id: {base.pop('id')}"] + [f"    {k}: {v}" for k, v in base.items()]
    return "\n".join(lines) + "\n"


BILLION_LAUGHS = (
    "version: 1\nexceptions: []\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))
)

CATALOGUE = {
    # item 8: deadlines, forbidden exceptions, over-broad scope, unknown policy
    "8-expires-beyond-max": (HEADER + entry(expires="2027-06-30"), 7, "90"),
    "8-expires-malformed": (HEADER + entry(expires="next tuesday"), 7, "expires"),
    "8-expires-past": (HEADER + entry(expires="2026-11-01"), 7, "expired on 2026-11-01"),
    "8-expires-missing": (HEADER + entry().replace("    expires: 2026-12-20\n", ""), 3, "expires"),
    "8-forbidden": (HEADER + entry(policy="secrets.aws-access-key"), 4, "does not allow"),
    "8-broad-scope": (HEADER + entry(paths='["**"]'), 5, "wildcard"),
    "8-unknown-policy": (HEADER + entry(policy="k8s.privilegd"), 4, "k8s.privileged"),
    "8-short-reason": (HEADER + entry(reason="because"), 6, "20"),
    # item 13: broken file
    "13-syntax": (HEADER + "  - id: [unclosed\n", 4, "invalid YAML"),
    "13-duplicate-ids": (HEADER + entry() + entry(), 8, "EXC-1"),
    "13-duplicate-keys": (
        HEADER + entry().replace("    reason:", "    policy: k8s.privileged\n    reason:"),
        6,
        "duplicate key",
    ),
    # item 15: hostile YAML
    "15-aliases": (BILLION_LAUGHS, 3, "anchor"),
    "15-custom-tag": (HEADER + entry(reason="!!python/object/apply:os.system [id]"), 6, "tag"),
    "15-depth": ("version: 1\nexceptions: []\nx: " + "[" * 200 + "]" * 200 + "\n", 3, "nest"),
    # item 16: path tricks
    "16-dotdot": (HEADER + entry(paths='["deploy/../secrets/**"]'), 5, ".."),
    "16-absolute": (HEADER + entry(paths='["/etc/**"]'), 5, "absolute"),
    "16-backslash": (HEADER + entry(paths='["deploy\\\\web\\\\**"]'), 5, "backslash"),
    "16-lookalike": (HEADER + entry(paths='["dеploy/**"]'), 5, "U+0435"),
}


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_exceptions_validate_refuses_catalogue_items(case: str, tmp_path: Path):
    text, line, fragment = CATALOGUE[case]
    write(tmp_path, ".compliance/exceptions.yaml", text)
    proc = cli("exceptions", "validate", "--repo", str(tmp_path), "--now", NOW)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"exceptions.yaml:{line}:" in proc.stderr, proc.stderr
    assert fragment.lower() in proc.stderr.lower(), proc.stderr


def test_exceptions_validate_huge_file_refused(tmp_path: Path):
    write(tmp_path, ".compliance/exceptions.yaml", HEADER + "# " + "x" * 3_000_000 + "\n")
    proc = cli("exceptions", "validate", "--repo", str(tmp_path))
    assert proc.returncode == 2 and "more than the 1,000,000 allowed" in proc.stderr


def test_exceptions_validate_list_and_expire(tmp_path: Path):
    text = HEADER + "  # keep this comment\n" + entry() + entry(id="EXC-2", expires="2026-12-02")
    write(tmp_path, ".compliance/exceptions.yaml", text)
    proc = cli("exceptions", "validate", "--repo", str(tmp_path), "--now", NOW)
    assert proc.returncode == 0, proc.stderr
    assert "2 exceptions, all valid" in proc.stdout
    proc = cli("exceptions", "list", "--repo", str(tmp_path), "--now", NOW, "--format", "json")
    assert [(r["id"], r["state"]) for r in json.loads(proc.stdout)] == [
        ("EXC-1", "active"),
        ("EXC-2", "expiring"),
    ]
    later = "2026-12-10T00:00:00Z"
    proc = cli("exceptions", "expire", "--dry-run", "--repo", str(tmp_path), "--now", later)
    assert proc.returncode == 0
    assert "-  - id: EXC-2" in proc.stdout and "nothing changed" in proc.stdout
    assert (tmp_path / ".compliance/exceptions.yaml").read_text() == text
    proc = cli("exceptions", "expire", "--repo", str(tmp_path), "--now", later)
    assert proc.returncode == 0
    after = (tmp_path / ".compliance/exceptions.yaml").read_text()
    assert after == HEADER + "  # keep this comment\n" + entry()


def test_a_date_deadline_is_shown_as_written_everywhere(tmp_path: Path):
    # `expires: 2026-12-31` holds until 2027-01-01T00:00Z; nowhere may it read as the 1st
    write(tmp_path, ".compliance/exceptions.yaml", HEADER + entry(expires="2026-12-31"))
    write(tmp_path, "deploy/web.yaml", PRIVILEGED_POD)
    scan = ("scan", str(tmp_path / "deploy"), "--repo", str(tmp_path), "--now", NOW)
    outputs = [
        cli(*scan).stdout,
        cli(*scan, "--format", "markdown").stdout,
        cli("exceptions", "list", "--repo", str(tmp_path), "--now", NOW).stdout,
    ]
    out = json.loads(cli(*scan, "--format", "json").stdout)
    [excepted] = [f for f in out["findings"] if f["exception"]]
    assert excepted["exception"]["expires"] == out["exceptions"]["applied"][0]["expires"]
    listed = cli("exceptions", "list", "--repo", str(tmp_path), "--now", NOW, "--format", "json")
    assert json.loads(listed.stdout)[0]["expires"] == excepted["exception"]["expires"]
    assert excepted["exception"]["expires"] == "2026-12-31"
    for text in outputs:
        assert "2026-12-31" in text and "2027-01-01" not in text, text


def test_parallel_scan_finds_exactly_what_a_single_process_finds(tmp_path: Path):
    for i in range(220):
        pod = PRIVILEGED_POD.replace("name: web", f"name: web{i}")
        if i % 3:
            pod = pod.replace("privileged: true", "privileged: false")
        write(tmp_path, f"k8s/{i:03d}.yaml", pod)
    outputs = []
    for jobs in ("1", "2"):
        proc = cli("scan", "k8s", "--format", "json", "--now", NOW, "--jobs", jobs, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1]
    privileged = [f for f in outputs[0]["findings"] if f["policy"] == "k8s.privileged"]
    assert len(privileged) == 74  # every third pod
    assert outputs[0]["summary"]["files"] == 220


def many_findings(repo: Path) -> tuple[dict[str, str], Path]:
    """30 files of 60 privileged pods under ``k8s/`` (360 KB: a scan spreads them over its
    processes), and the environment for the command, with a ``TMPDIR`` of its own."""
    pods = "---\n".join(PRIVILEGED_POD.replace("name: web", f"name: web{i}") for i in range(60))
    for i in range(30):
        write(repo, f"k8s/{i:02d}.yaml", pods)
    temp = repo / "tmp"
    temp.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo), "TMPDIR": str(temp),
           "COMPLIANCE_BOT_CACHE_DIR": os.environ["COMPLIANCE_BOT_CACHE_DIR"]}  # fmt: skip
    return env, temp


@pytest.mark.parametrize("fmt", ["json", "jsonl", "text"])
def test_a_parallel_scan_of_many_findings_writes_what_one_process_writes(tmp_path: Path, fmt):
    """Each file's findings are laid out where they are found; large ones wait in a spill
    folder and go to the output from there, into a file or a pipe. Nothing is left behind."""
    env, temp = many_findings(tmp_path)
    outputs = []
    for jobs, into in (("1", "pipe"), ("2", "pipe"), ("2", "file")):
        argv = [sys.executable, "-m", "bot.cli", "scan", "k8s", "--format", fmt, "--now", NOW,
                "--jobs", jobs]  # fmt: skip
        if into == "file":
            with open(tmp_path / "out", "wb") as out:
                proc = subprocess.run(argv, cwd=tmp_path, env=env, stdout=out, check=False)
            outputs.append((tmp_path / "out").read_bytes())
        else:
            proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, check=False)
            outputs.append(proc.stdout)
        assert proc.returncode == 1, proc.stderr
        assert list(temp.iterdir()) == []
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0].count(b"k8s.privileged") >= 30 * 60


def test_a_parallel_scan_whose_reader_stops_ends_quietly_and_leaves_nothing(tmp_path: Path):
    """The reader of a large report goes away early (``| head``): the scan stops its processes,
    removes its temporary folders and ends as a closed pipe ends a command (141), without a
    traceback."""
    env, temp = many_findings(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "scan", "k8s", "--format", "jsonl", "--jobs", "2"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # (the reader stops)
    assert proc.wait(timeout=60) == 141
    assert json.loads(first)["policy"].startswith("k8s.")
    assert proc.stderr.read() == b""
    assert list(temp.iterdir()) == []


def _help(argv: list[str], only: str | None) -> str:
    from bot.cli import build_parser

    parser = build_parser(only=only)
    out = io.StringIO()
    with pytest.raises(SystemExit), contextlib.redirect_stdout(out):
        parser.parse_args(argv)
    return out.getvalue()


@pytest.mark.parametrize(
    "argv",
    [["scan", "--help"], ["check", "--help"], ["serve", "--help"], ["expire", "--help"],
     ["policies", "test", "--help"], ["exceptions", "list", "--help"], ["ledger", "--help"]],
)  # fmt: skip
def test_a_command_parsed_alone_is_read_as_by_the_whole_parser(argv: list[str]):
    # ``main`` builds the named command's parser alone when the command is plainly one of ours
    assert _help(argv, only=argv[0]) == _help(argv, only=None)


def test_scanned_files_are_named_by_where_they_really_are(tmp_path: Path):
    repo = tmp_path / "repo"
    write(repo, ".compliance/config.yaml", "packs: [kubernetes]\n")
    write(repo, "k8s/web.yaml", PRIVILEGED_POD)
    (repo / "k8s" / "again.yaml").symlink_to(repo / "k8s" / "web.yaml")  # a link inside
    (repo / "linked").symlink_to(repo / "k8s", target_is_directory=True)  # not walked into
    write(tmp_path, "elsewhere/pod.yaml", PRIVILEGED_POD)  # outside the repository
    proc = cli(
        "scan", "k8s", "linked/web.yaml", "../elsewhere", "--format", "json",
        "--policy", "k8s.privileged", cwd=repo,
    )  # fmt: skip
    paths = [f["path"] for f in json.loads(proc.stdout)["findings"]]
    # the link is named by the file it links to; a path outside both the repository and the
    # folder the command runs in keeps the name it was given
    assert sorted(paths) == ["../elsewhere/pod.yaml", "k8s/web.yaml", "k8s/web.yaml",
                             "k8s/web.yaml"]  # fmt: skip
    proc = cli(
        "scan", "repo/k8s", "elsewhere", "--repo", "repo", "--format", "json",
        "--policy", "k8s.privileged", cwd=tmp_path,
    )  # fmt: skip
    paths = sorted(f["path"] for f in json.loads(proc.stdout)["findings"])
    assert paths == ["elsewhere/pod.yaml", "k8s/web.yaml", "k8s/web.yaml"]  # under the cwd
