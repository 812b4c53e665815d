"""Reading the output of ``check`` and ``scan`` (issue 11, item 4): blocking findings first and
marked, ``--min-severity`` and ``--blocking-only``, several policies on one place grouped, a
progress line on a terminal, ``scan`` finding the repository root, ``check`` on a shallow clone
saying what to fetch, and the ``exclude:`` globs of the repository config shown in every format.

Real git repositories and real processes, as in ``test_cli.py`` (whose helpers these share);
the renderers' parts that need a report no repository produces are fed one built by hand.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema.validators import validator_for
from test_cli import NOW, PRIVILEGED_POD, cli, commit, git, write

from bot.cli import (
    ProgressLine,
    fetch_command,
    main,
    progress_text,
    repository_root,
    shows_progress,
)
from bot.engine.model import Finding, ResourceRef, SourceFile
from bot.report.markdown import render_markdown
from bot.report.model import ExceptionUse, Report, ReportedFinding
from bot.report.sarif import sarif_log
from bot.report.text import View, places, render_text

ROOT = Path(__file__).resolve().parents[1]
SARIF_SCHEMA = ROOT / "tests" / "vendor" / "sarif" / "sarif-schema-2.1.0.json"
WEB = "deploy/web.yaml"
LEGACY = "legacy/agent.yaml"
# k8s.privileged is blocking (high); the restricted-profile policies flag line 10 of the pod
# (its securityContext) together, and are advisory.
GROUPED_LINE = 10

LEGACY_EXCEPTION = """\
version: 1
exceptions:
  - id: EXC-1
    policy: k8s.privileged
    paths: ["legacy/**"]
    reason: the legacy agent needs raw sockets until it is retired
    requested_by: alice
    expires: 2026-12-31
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """``main`` excepts ``legacy/**`` from k8s.privileged; ``feature`` adds a privileged pod
    there and one in ``deploy/``: one blocking, many advisory, one excepted finding."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, ".compliance/exceptions.yaml", LEGACY_EXCEPTION)
    commit(repo, "initial")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, WEB, PRIVILEGED_POD)
    write(repo, LEGACY, PRIVILEGED_POD.replace("name: web", "name: agent"))
    commit(repo, "add pods")
    return repo


def check(repo: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("check", "--repo", str(repo), "--base", "main", "--now", NOW, *extra)


# -- blocking first, marked ------------------------------------------------------------------


def test_text_lists_blocking_then_advisory_then_excepted_each_blocking_line_marked(repo: Path):
    proc = check(repo)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    sections = [
        i for i, line in enumerate(lines) if re.match(r"(Blocking|Advisory|Excepted): ", line)
    ]
    assert [lines[i].split(":")[0] for i in sections] == ["Blocking", "Advisory", "Excepted"]
    assert lines[sections[0]] == "Blocking: 1 finding fails the check"
    blocking = lines[sections[0] : sections[1]]
    [privileged] = [line for line in blocking if "k8s.privileged" in line]
    assert privileged.startswith(f"  {WEB}:11  HIGH ")
    assert privileged.endswith("(BLOCKING)")
    assert not [line for line in lines[sections[1] :] if "(BLOCKING)" in line]
    excepted = lines[sections[2] :]
    assert any(LEGACY in line and "(excepted by EXC-1" in line for line in excepted)
    assert lines[-1].startswith("FAIL: 1 blocking finding, ")


def test_markdown_summary_has_the_same_order_with_excepted_findings_listed(repo: Path):
    proc = check(repo, "--format", "markdown")
    headings = re.findall(r"^### (\w+ \w+)", proc.stdout, re.M)
    assert headings[:3] == ["Blocking findings", "Advisory findings", "Excepted findings"]
    excepted = proc.stdout.split("### Excepted findings", 1)[1].split("###", 1)[0]
    assert f"| `{LEGACY}:11` | `k8s.privileged` (high) |" in excepted
    assert "| `EXC-1`, until 2026-12-31 |" in excepted


# -- --min-severity and --blocking-only ------------------------------------------------------


def test_min_severity_hides_lower_findings_and_says_how_many(repo: Path):
    everything = json.loads(check(repo, "--format", "json").stdout)
    below_high = [f for f in everything["findings"] if f["severity"] in ("low", "medium")]
    assert below_high  # the pod has advisory medium and low findings to hide

    proc = check(repo, "--min-severity", "high")
    assert proc.returncode == 1
    assert " MEDIUM " not in proc.stdout and " LOW " not in proc.stdout
    assert f"note: {len(below_high)} findings not shown (--min-severity high); " in proc.stdout
    assert proc.stdout.splitlines()[-1] == everything_verdict(everything)


def everything_verdict(out: dict) -> str:
    s = out["summary"]
    return (
        f"FAIL: {s['blocking']} blocking finding{'s' if s['blocking'] != 1 else ''}, "
        f"{s['advisory']} advisory, {s['excepted']} excepted ({s['files']} files checked)"
    )


def test_a_hidden_blocking_finding_still_fails_the_check(repo: Path):
    # k8s.privileged is high: --min-severity critical hides it, the exit code does not.
    proc = check(repo, "--min-severity", "critical")
    assert proc.returncode == 1
    assert "Blocking:" not in proc.stdout and "(BLOCKING)" not in proc.stdout
    assert "1 of them blocking" in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("FAIL: 1 blocking finding")
    markdown = check(repo, "--min-severity", "critical", "--format", "markdown")
    assert markdown.returncode == 1
    assert "❌ **Compliance check failed**: 1 blocking finding" in markdown.stdout
    assert "1 of them blocking" in markdown.stdout


def test_blocking_only_in_every_format(repo: Path):
    text = check(repo, "--blocking-only")
    assert text.returncode == 1
    assert "Advisory:" not in text.stdout and "Excepted:" not in text.stdout
    assert "(--blocking-only)" in text.stdout

    proc = check(repo, "--blocking-only", "--format", "json")
    out = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert [f["policy"] for f in out["findings"]] == ["k8s.privileged"]
    assert out["summary"]["advisory"] > 0 and out["summary"]["excepted"] == 1  # still counted
    assert out["hidden"]["findings"] == out["summary"]["advisory"] + 1
    assert out["hidden"]["blocking"] == 0 and out["hidden"]["blocking_only"] is True
    assert list(out)[:3] == ["conclusion", "findings", "hidden"]

    proc = check(repo, "--blocking-only", "--format", "sarif")
    run = json.loads(proc.stdout)["runs"][0]
    assert proc.returncode == 1
    assert [r["ruleId"] for r in run["results"]] == ["k8s.privileged"]
    assert run["properties"]["hidden"]["filter"] == "--blocking-only"
    assert run["properties"]["advisory"] == out["summary"]["advisory"]

    markdown = check(repo, "--blocking-only", "--format", "markdown").stdout
    assert "### Blocking findings (1)" in markdown
    assert "### Advisory findings" not in markdown and "### Excepted findings" not in markdown


def test_no_filter_means_no_hidden_key(repo: Path):
    out = json.loads(check(repo, "--format", "json").stdout)
    assert "hidden" not in out


def test_scan_takes_the_same_filters(tmp_path: Path):
    write(tmp_path, "k8s/web.yaml", PRIVILEGED_POD)
    proc = cli("scan", "k8s", "--blocking-only", "--format", "json", "--now", NOW, cwd=tmp_path)
    out = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert {f["enforcement"] for f in out["findings"]} == {"blocking"}
    assert out["hidden"]["findings"] == out["summary"]["advisory"] > 0


@pytest.mark.parametrize("command", [["scan", "."], ["check", "--base", "main"]])
def test_an_unknown_severity_is_a_usage_error_naming_the_option_and_the_levels(
    command: list[str], capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--min-severity", "severe"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--min-severity" in err and "'severe'" in err
    assert "'low', 'medium', 'high', 'critical'" in err


def test_help_says_the_exit_code_counts_hidden_findings(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--min-severity LEVEL" in help_text and "--blocking-only" in help_text
    assert "a hidden blocking finding still fails the check (exit 1)" in help_text


# -- several policies on one place -----------------------------------------------------------


def test_findings_on_one_place_are_grouped_in_text_and_markdown_not_in_json(repo: Path):
    out = json.loads(check(repo, "--format", "json").stdout)
    at_place = [f for f in out["findings"] if f["path"] == WEB and f["line"] == GROUPED_LINE]
    assert len(at_place) >= 3  # JSON: one entry per finding

    lines = check(repo).stdout.splitlines()
    heading = f"  {WEB}:{GROUPED_LINE}  [Pod/shop/web]: {len(at_place)} findings"
    start = lines.index(heading)
    beneath = lines[start + 1 : start + 1 + len(at_place)]
    assert all(line.startswith("    ") and WEB not in line for line in beneath), beneath
    assert {line.split()[1] for line in beneath} == {f["policy"] for f in at_place}
    assert sum(1 for line in lines if f"{WEB}:{GROUPED_LINE}" in line) == 1

    markdown = check(repo, "--format", "markdown").stdout
    rows = markdown.split("\n")
    first = next(i for i, row in enumerate(rows) if row.startswith(f"| `{WEB}:{GROUPED_LINE}` |"))
    assert "`Pod/shop/web`" in rows[first]
    assert all(row.startswith("|  | `k8s.") for row in rows[first + 1 : first + len(at_place)])
    assert markdown.count(f"`{WEB}:{GROUPED_LINE}`") == 1


def test_places_group_by_path_line_and_resource_most_severe_first():
    a, b = ResourceRef("Pod", "a"), ResourceRef("Pod", "b")
    findings = [
        _finding("p.low", "x.yaml", 3, a, severity="low"),
        _finding("p.high", "x.yaml", 3, a, severity="high"),
        _finding("p.other-resource", "x.yaml", 3, b),
        _finding("p.other-line", "x.yaml", 4, a),
    ]
    grouped = places(ReportedFinding(f) for f in findings)
    assert [[rf.finding.policy for rf in place] for place in grouped] == [
        ["p.high", "p.low"],
        ["p.other-resource"],
        ["p.other-line"],
    ]


def test_a_shortened_table_keeps_each_place_whole_and_counts_findings_left_out():
    policies = ("k8s.a", "k8s.b", "k8s.c")
    report = Report(
        findings=[
            ReportedFinding(_finding(p, f"deploy/app-{i:04d}.yaml", 10, ResourceRef("Pod", "x")))
            for i in range(600)
            for p in policies
        ],
        files_checked=600,
    )
    text = render_markdown(report, max_chars=20_000)
    assert len(text.encode("utf-8")) <= 20_000
    table = [row for row in text.split("\n") if row.startswith(("| `deploy/", "|  | "))]
    firsts = [i for i, row in enumerate(table) if row.startswith("| `deploy/")]
    assert all(b - a == 3 for a, b in zip(firsts, [*firsts[1:], len(table)], strict=True))
    [more] = re.findall(r"^… and (\d+) more", text, re.M)
    assert len(table) + int(more) == 1800  # findings, not rows


# -- progress on a terminal ------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("files", "stream", "shown"),
    [
        (300, Terminal(), False),  # small scans end before a line would help
        (301, Terminal(), True),
        (5000, io.StringIO(), False),  # a pipe, a log, a file: never
    ],
)
def test_a_progress_line_only_for_large_scans_on_a_terminal(files, stream, shown):
    assert shows_progress(files, stream) is shown


def test_progress_line_text_is_rewritten_in_place_then_erased():
    assert progress_text(600, 1200) == "scanning 1,200 files… 600/1,200"
    stream = Terminal()
    line = ProgressLine(1200, stream)
    line.show(600)
    line.close()
    assert stream.getvalue() == "\rscanning 1,200 files… 600/1,200\x1b[K\r\x1b[K"


def test_check_moves_the_progress_line_as_files_are_evaluated():
    from datetime import UTC, datetime

    from bot.checking import Rules, check
    from bot.engine.loader import load_bundled
    from bot.repoconfig import RepoConfig

    rules = Rules(load_bundled(["kubernetes"]), RepoConfig(), None)
    files = [SourceFile(f"k8s/{i:03d}.yaml", PRIVILEGED_POD) for i in range(120)]
    stream = Terminal()
    line = ProgressLine(len(files), stream)
    check(rules, files, now=datetime(2026, 12, 1, tzinfo=UTC), progress=line.show)
    done = re.findall(r"… ([\d,]+)/120", stream.getvalue())
    assert done == ["50", "100", "120"]


def test_scan_shows_progress_on_a_terminal_and_nowhere_else(tmp_path: Path):
    for i in range(320):
        write(tmp_path, f"k8s/{i:03d}.yaml", PRIVILEGED_POD.replace("name: web", f"name: w{i}"))
    args = [sys.executable, "-m", "bot.cli", "scan", "k8s", "--format", "json", "--now", NOW]
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(tmp_path)}

    piped = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, check=False)
    assert piped.returncode == 1 and piped.stderr == b""

    controller, terminal = pty.openpty()
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    stdout, _ = proc.communicate(timeout=120)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal is gone: everything has been read
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert proc.returncode == 1
    assert json.loads(stdout) == json.loads(piped.stdout)  # progress changes nothing else
    shown = seen.decode("utf-8")
    assert "scanning 320 files… 0/320" in shown and "scanning 320 files… 320/320" in shown
    assert shown.endswith("\r\x1b[K")  # erased at the end
    assert b"scanning" not in stdout


# -- scan finds the repository root ----------------------------------------------------------

ONLY_SECRETS = "version: 1\npacks: [secrets]\n"


def test_scan_from_a_subfolder_uses_the_rules_and_paths_of_the_root(tmp_path: Path):
    write(tmp_path, ".compliance/config.yaml", ONLY_SECRETS)
    write(tmp_path, "deploy/web.yaml", PRIVILEGED_POD)
    write(tmp_path, "deploy/app.env", "AWS_ACCESS_KEY_ID=AKIA" + "Q" * 16 + "\n")
    proc = cli("scan", ".", "--format", "json", "--now", NOW, cwd=tmp_path / "deploy")
    out = json.loads(proc.stdout)
    assert {f["policy"].split(".")[0] for f in out["findings"]} == {"secrets"}  # root's packs
    assert {f["path"] for f in out["findings"]} == {"deploy/app.env"}  # relative to the root


def test_scan_stops_at_a_git_folder(tmp_path: Path):
    outer = tmp_path / "outer"
    write(outer, ".compliance/config.yaml", ONLY_SECRETS)  # another repository's rules
    inner = outer / "inner"
    git(inner.parent, "init", "-q", str(inner))
    write(inner, "k8s/web.yaml", PRIVILEGED_POD)
    proc = cli("scan", ".", "--format", "json", "--now", NOW, cwd=inner / "k8s")
    out = json.loads(proc.stdout)
    assert proc.returncode == 1  # the bundled kubernetes pack: outer's config is not read
    assert {f["path"] for f in out["findings"]} == {"k8s/web.yaml"}


def test_repository_root_is_the_start_when_no_folder_above_has_a_marker(tmp_path: Path):
    start = tmp_path / "a" / "b"
    start.mkdir(parents=True)
    if any((p / ".git").exists() or (p / ".compliance").is_dir() for p in tmp_path.parents):
        pytest.skip("a folder above the temporary directory is a repository")
    assert repository_root(start) == start.resolve()
    (tmp_path / "a" / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    assert repository_root(start) == (tmp_path / "a").resolve()


@pytest.mark.parametrize("make", ["missing", "file"])
def test_a_bad_repo_option_is_a_usage_error_not_default_rules(tmp_path: Path, make: str):
    write(tmp_path, "k8s/web.yaml", PRIVILEGED_POD)
    target = tmp_path / "rules"
    if make == "file":
        target.write_text("not a folder\n")
    proc = cli("scan", "k8s", "--repo", str(target), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    expected = "no such directory" if make == "missing" else "not a directory"
    assert f"compliance-bot: error: --repo: {target}: {expected}" in proc.stderr


# -- check on a shallow clone ----------------------------------------------------------------


@pytest.fixture
def shallow(tmp_path: Path) -> Path:
    """A one-commit clone of ``feature``, which branched off ``main`` three commits ago."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    write(origin, "README.md", "demo\n")
    commit(origin, "initial")
    git(origin, "checkout", "-q", "-b", "feature")
    for i in range(3):
        write(origin, f"deploy/web{i}.yaml", PRIVILEGED_POD)
        commit(origin, f"feature {i}")
    git(origin, "checkout", "-q", "main")
    for i in range(3):
        write(origin, f"docs/{i}.md", "text\n")
        commit(origin, f"main {i}")
    clone = tmp_path / "clone"
    url = origin.as_uri()  # a file:// URL: a local path would ignore --depth
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "feature", url, str(clone))
    return clone


def test_shallow_clone_without_the_base_says_what_to_fetch(shallow: Path):
    proc = cli("check", "--repo", str(shallow), "--base", "origin/main")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("compliance-bot: error: --base: 'origin/main' is not in this")
    assert "shallow clone" in proc.stderr
    assert "`git fetch origin main:refs/remotes/origin/main`" in proc.stderr
    assert "`git fetch --unshallow origin`" in proc.stderr and "fetch-depth: 0" in proc.stderr


def test_shallow_clone_without_a_merge_base_says_how_to_deepen_and_that_works(shallow: Path):
    git(shallow, "fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main")
    proc = cli("check", "--repo", str(shallow), "--base", "origin/main")
    assert proc.returncode == 2
    assert "have no common ancestor in this shallow clone" in proc.stderr
    assert "`git fetch --deepen=200 origin`" in proc.stderr and "fetch-depth: 0" in proc.stderr
    assert "git merge-base" not in proc.stderr

    git(shallow, "fetch", "-q", "--deepen=200", "origin")  # what the message says to do
    proc = cli("check", "--repo", str(shallow), "--base", "origin/main", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["summary"]["files"] == 3


def test_unrelated_histories_in_a_full_clone_keep_gits_words(tmp_path: Path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    write(repo, "a.md", "a\n")
    commit(repo, "a")
    git(repo, "checkout", "-q", "--orphan", "other")
    write(repo, "b.md", "b\n")
    commit(repo, "b")
    proc = cli("check", "--repo", str(repo), "--base", "main")
    assert proc.returncode == 2
    assert "have no common ancestor" in proc.stderr and "shallow" not in proc.stderr


@pytest.mark.parametrize(
    ("ref", "command"),
    [
        ("origin/main", "git fetch origin main:refs/remotes/origin/main"),
        ("refs/remotes/upstream/dev", "git fetch upstream dev:refs/remotes/upstream/dev"),
        ("main", "git fetch origin main"),
        ("feature/x", "git fetch origin feature/x"),
        ("0123abcd", "git fetch origin 0123abcd"),
    ],
)
def test_fetch_command_for_a_missing_ref(ref: str, command: str):
    assert fetch_command(ref) == command


# -- exclusions --------------------------------------------------------------------------------


def _finding(
    policy: str,
    path: str,
    line: int,
    resource: ResourceRef | None = None,
    *,
    severity: str = "medium",
    enforcement: str = "advisory",
    message: str = "",
) -> Finding:
    return Finding(
        policy=policy,
        severity=severity,  # type: ignore[arg-type]
        enforcement=enforcement,  # type: ignore[arg-type]
        path=path,
        line=line,
        message=message or f"{policy} says no",
        resource=resource,
    )


def excluding_report() -> Report:
    """A change where three ``exclude`` globs are in force: one kept out 12 files, one a
    single file, one nothing; and findings of several policies on one place."""
    pod = ResourceRef("Pod", "web", "shop")
    use = ExceptionUse(
        id="EXC-2", policy="k8s.probes", state="applied", expires="2026-12-31", findings=1
    )
    return Report(
        findings=[
            ReportedFinding(
                _finding("k8s.privileged", WEB, 11, pod, severity="high", enforcement="blocking")
            ),
            ReportedFinding(_finding("k8s.run-as-non-root", WEB, 10, pod)),
            ReportedFinding(_finding("k8s.read-only-root-fs", WEB, 10, pod)),
            ReportedFinding(
                _finding("k8s.host-pid", WEB, 10, pod, severity="critical", enforcement="blocking")
            ),
            ReportedFinding(_finding("k8s.probes", WEB, 8, pod, severity="low"), use),
        ],
        applied=[use],
        exclude=("generated/**", "vendor/chart/**", "docs/*|`@x`.md"),
        excluded={
            "generated/**": [f"generated/{i:02d}.yaml" for i in range(12)],
            "vendor/chart/**": ["vendor/chart/values.yaml"],
        },
        files_checked=1,
        base="b" * 40,
        head="c" * 40,
    )


def test_golden_text_and_markdown_with_places_and_exclusions(golden):
    golden("cli_output.txt", render_text(excluding_report()))
    golden("cli_output.md", render_markdown(excluding_report()))


def test_text_lists_each_glob_with_up_to_ten_paths_then_how_many_more():
    lines = render_text(excluding_report()).splitlines()
    start = lines.index("Excluded by .compliance/config.yaml")
    section = lines[start + 1 : lines.index("", start)]
    assert section[0] == "  generated/**  kept out 12 files"
    assert section[1:11] == [f"    generated/{i:02d}.yaml" for i in range(10)]
    assert section[11] == "    and 2 more"
    assert section[12:14] == ["  vendor/chart/**  kept out 1 file", "    vendor/chart/values.yaml"]
    assert section[14] == "  docs/*|`@x`.md  no file of this change matched"


def test_markdown_shows_the_globs_even_when_nothing_was_excluded():
    report = Report(exclude=("vendor/**",), files_checked=2, head="c" * 40)
    text = render_markdown(report)
    assert "### Excluded by `.compliance/config.yaml` (1)" in text
    assert "| `vendor/**` | no file of this change matched |" in text
    assert "Excluded by" not in render_markdown(Report(files_checked=2))


def test_markdown_exclusions_escape_repository_text_and_cut_long_lists():
    text = render_markdown(excluding_report())
    assert "| docs/\\*\\|\\`@\u200dx\\`.md | no file of this change matched |" in text
    generated = next(row for row in text.splitlines() if row.startswith("| `generated/**` |"))
    assert generated.count("`generated/") == 11  # the glob and ten paths
    assert generated.endswith(", … and 2 more |")


def test_a_scan_says_scanned_files_not_change():
    report = Report(exclude=("vendor/**",))
    assert "vendor/**  no file of the scanned files matched" in render_text(report)


def test_sarif_puts_exclusions_in_the_run_properties_only_and_stays_valid():
    log = sarif_log(excluding_report(), "1.2.3")
    schema = json.loads(SARIF_SCHEMA.read_text("utf-8"))
    errors = list(validator_for(schema)(schema).iter_errors(log))
    assert not errors, errors[0].message
    run = log["runs"][0]
    assert run["properties"]["exclusions"] == {
        "globs": ["generated/**", "vendor/chart/**", "docs/*|`@x`.md"],
        "excluded": {
            "generated/**": [f"generated/{i:02d}.yaml" for i in range(12)],
            "vendor/chart/**": ["vendor/chart/values.yaml"],
            "docs/*|`@x`.md": [],
        },
    }
    uris = json.dumps(run["results"]) + json.dumps(run["invocations"])
    assert "generated/" not in uris and "artifacts" not in run  # never analysed: not results
    assert "exclusions" not in sarif_log(Report(), "1.2.3")["runs"][0]["properties"]


def test_json_keeps_one_entry_per_finding_of_a_place():
    from bot.report.jsonout import render_json

    out = json.loads(render_json(excluding_report(), View(min_severity="medium")))
    assert [f["line"] for f in out["findings"]] == [11, 10, 10, 10]
    assert out["hidden"] == {
        "findings": 1,
        "blocking": 0,
        "min_severity": "medium",
        "blocking_only": False,
    }
    assert out["exclusions"]["globs"][0] == "generated/**"


def test_check_lists_what_the_base_configs_exclude_kept_out(repo: Path):
    git(repo, "checkout", "-q", "main")
    write(repo, ".compliance/config.yaml", "version: 1\nexclude: [legacy/**, docs/**]\n")
    commit(repo, "exclude legacy")
    git(repo, "checkout", "-q", "feature")
    git(repo, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "rebase", "-q", "main")
    proc = check(repo, "--format", "json")
    out = json.loads(proc.stdout)
    assert not [f for f in out["findings"] if f["path"] == LEGACY]
    assert out["exclusions"]["excluded"] == {"legacy/**": [LEGACY]}
    text = check(repo).stdout
    assert "  legacy/**  kept out 1 file\n    legacy/agent.yaml\n" in text
    assert "  docs/**  no file of this change matched\n" in text


def test_a_small_scan_starts_no_pool_and_imports_no_store(tmp_path: Path):
    # a pre-commit hook runs `scan` on a few files: it must not pay for what it doesn't use
    for i in range(3):
        write(tmp_path, f"k8s/{i}.yaml", PRIVILEGED_POD)
    code = (
        "import sys\n"
        "from bot.cli import main\n"
        "code = main(['scan', 'k8s', '--format', 'json', '--jobs', '4', '--now', sys.argv[1]])\n"
        "heavy = ('sqlalchemy', 'alembic', 'flask', 'github', 'gitlab', 'jsonschema',\n"
        "         'multiprocessing', 'concurrent.futures.process')\n"
        "print([m for m in heavy if m in sys.modules], code, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, NOW], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.stderr.strip() == "[] 1", proc.stderr


def test_audit_and_notify_commands_are_still_listed_and_run():
    proc = cli("--help")
    assert " audit " in proc.stdout and " notify " in proc.stdout
    assert "usage: compliance-bot audit" in cli("audit", "--help").stdout
