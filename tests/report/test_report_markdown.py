"""``render_markdown``: the check-run summary, against golden files, within GitHub's size cap."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from report_samples import (
    AWS_KEY,
    HOST_PID,
    POLICIES,
    PRIVILEGED,
    PROBES,
    advisory_only_report,
    clean_report,
    finding,
    full_report,
    hostile_report,
)

from bot.engine.model import EvalError, ResourceRef
from bot.report.markdown import MARKER, MAX_SUMMARY, md, render_markdown
from bot.report.model import Report, ReportedFinding

SECTION_ORDER = [
    "Blocking findings",
    "Errors",
    "Advisory findings",
    "Excepted findings",
    "Applied exceptions",
    "Expiring soon",
    "Expired exceptions",
    "Unapproved exceptions",
    "Invalid exceptions",
    "Unused exceptions",
    "How to request an exception",
    "Notes",
]


@pytest.mark.parametrize(
    "name, make",
    [
        ("full", full_report),
        ("clean", clean_report),
        ("advisory_only", advisory_only_report),
        ("hostile", hostile_report),
    ],
)
def test_golden(golden, name, make):
    golden(f"{name}.md", render_markdown(make()))


def _headings(text: str) -> list[str]:
    return [re.sub(r" \(\d+\)$", "", h) for h in re.findall(r"^### (.+)$", text, re.M)]


def test_starts_with_the_marker_then_the_verdict():
    text = render_markdown(full_report())
    first, second = text.splitlines()[:2]
    assert first == MARKER
    assert second.startswith("❌ **Compliance check failed**: 3 blocking findings, 2 errors")
    assert (
        render_markdown(clean_report())
        .splitlines()[1]
        .startswith("✅ **Compliance check passed**: no blocking findings")
    )


def test_sections_in_order_and_only_when_non_empty():
    assert _headings(render_markdown(full_report())) == SECTION_ORDER
    assert _headings(render_markdown(clean_report())) == []
    assert _headings(render_markdown(advisory_only_report())) == [
        "Advisory findings",
        "Applied exceptions",
    ]


def test_errors_say_the_check_failed_and_name_file_and_line():
    text = render_markdown(full_report())
    assert "The check failed because these could not be evaluated" in text
    assert "| `.compliance/policies/custom.yaml:9` | `custom.thing` |" in text
    errors_only = Report(errors=[EvalError("boom", ".compliance/config.yaml", 4)])
    out = render_markdown(errors_only)
    assert "❌ **Compliance check failed**: 1 error (could not evaluate)" in out
    assert "How to request an exception" not in out


def test_applied_exceptions_show_scope_expiry_requester_and_approval():
    text = render_markdown(full_report())
    assert (
        "| `EXC-7` | `k8s.host-pid` | `deploy/node-exporter/**`<br>"
        "`DaemonSet/monitoring/node-exporter` | 2026-12-31 | alice | bob | 1 finding |"
    ) in text
    unverified = advisory_only_report()
    unverified.applied[0] = type(unverified.applied[0])(
        id="EXC-8", policy="k8s.probes", state="applied", requested_by="dan"
    )
    assert "| dan | not verified |" in render_markdown(unverified)


def test_how_to_request_prefills_the_first_exemptible_blocking_finding():
    text = render_markdown(full_report())
    # secrets.aws-key is the most severe blocking finding but forbids exceptions.
    assert (
        "```\n/compliance exempt k8s.privileged --paths 'deploy/a.yaml' "
        '--reason "..." --expires 30d --ticket ID\n```'
    ) in text
    assert "| `secrets.aws-key` | not allowed: fix the finding |" in text
    assert "| `k8s.privileged` | 90 days |" in text
    assert "`.compliance/exceptions.yaml` by hand in a dedicated pull request" in text


def test_how_to_request_respects_a_short_maximum_and_a_policy_without_exceptions():
    short = Report(
        findings=[ReportedFinding(finding(HOST_PID, "ds.yaml", 3, "hostPID is true"))],
        policies=dict(POLICIES),
    )
    text = render_markdown(short)
    assert "--expires 14d" in text and "| `k8s.host-pid` | 14 days |" in text
    forbidden = Report(
        findings=[ReportedFinding(finding(AWS_KEY, "app.env", 1, "key"))], policies=dict(POLICIES)
    )
    text = render_markdown(forbidden)
    assert "/compliance exempt" not in text
    assert "do not allow exceptions: fix them" in text


def test_hostile_strings_are_inert():
    text = render_markdown(hostile_report())
    assert text.count(MARKER) == 1 and text.count("<!--") == 1
    assert "<img" not in text and "<script" not in text and "<b>" not in text
    assert "\x1b" not in text and "\u202e" not in text
    # Nobody is mentioned, no issue is linked.
    assert not re.search(r"@[A-Za-z0-9]", text)
    assert not re.search(r"#[0-9]", text)
    # Every table row has as many cells as its header: no pipe or newline got through.
    _assert_tables_whole(text)
    # Unsafe paths are not offered in the suggested command.
    assert "--paths 'PATH'" in text


def test_details_url_is_linked_in_truncation_notes_when_safe():
    report = _huge_report(300)
    text = render_markdown(report, details_url="https://ci.example/run/1", max_chars=6000)
    assert "see [details](https://ci.example/run/1), annotations" in text
    evil = render_markdown(report, details_url="javascript:alert(1)", max_chars=6000)
    assert "javascript" not in evil


def _huge_report(n: int) -> Report:
    findings = [
        ReportedFinding(
            finding(
                PRIVILEGED if i % 3 else PROBES,
                f"deploy/app-{i:05d}/deployment.yaml",
                i + 1,
                f"container c{i} runs privileged; see policy docs for the reason and the fix",
                ResourceRef("Deployment", f"app-{i:05d}", "prod"),
            )
        )
        for i in range(n)
    ]
    return Report(
        findings=findings,
        errors=[EvalError(f"could not parse YAML ({i})", f"bad/{i}.yaml", 1) for i in range(40)],
        notes=["exceptions are not verified: the CLI has no approval ledger"],
        policies=dict(POLICIES),
        files_checked=n,
    )


def _assert_tables_whole(text: str) -> None:
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith("| ") and lines[i + 1].startswith("|---"):
            cells = _cells(lines[i])
            assert lines[i + 1] == "|" + "---|" * cells
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                assert lines[i].endswith(" |"), lines[i]
                assert _cells(lines[i]) == cells, lines[i]
                i += 1
            assert i == len(lines) or lines[i] == "", "a table ends with a blank line"
        i += 1


def _cells(row: str) -> int:
    return len(re.findall(r"(?<!\\)\|", row)) - 1


def test_5000_findings_fit_githubs_limit_with_a_truncation_note():
    text = render_markdown(_huge_report(5000))
    assert len(text.encode("utf-8")) <= MAX_SUMMARY
    assert len(text) <= 65535
    note = r"… and \d+ more \(see annotations / run `compliance-bot check` locally\)"
    assert re.search(note, text)
    _assert_tables_whole(text)
    # Errors and blocking findings are kept before advisory ones; the fixed parts are all there.
    assert "could not parse YAML (39)" in text
    assert _headings(text) == [
        "Blocking findings",
        "Errors",
        "Advisory findings",
        "How to request an exception",
        "Notes",
    ]
    assert text.endswith("- exceptions are not verified: the CLI has no approval ledger\n")
    sections = _by_section(text)
    for title, total in (("Blocking findings", 3333), ("Advisory findings", 1667)):
        rows, more = sections[title]
        assert rows + more == total, title
    assert sections["Blocking findings"][0] > 100
    assert sections["Errors"] == (40, 0)


def _by_section(text: str) -> dict[str, tuple[int, int]]:
    """Section title -> (table rows shown, the N of its "… and N more" line, or 0)."""
    out = {}
    for chunk in text.split("\n### ")[1:]:
        title = re.sub(r" \(\d+\)$", "", chunk.split("\n", 1)[0])
        rows = len(re.findall(r"^\| (?!File |Exception |Policy )", chunk, re.M))
        more = re.search(r"^… and (\d+) more", chunk, re.M)
        out[title] = (rows, int(more.group(1)) if more else 0)
    return out


@pytest.mark.parametrize("limit", [3000, 10000, 40000])
def test_any_limit_is_respected_and_nothing_is_cut_mid_table(limit):
    text = render_markdown(_huge_report(800), max_chars=limit)
    assert len(text.encode("utf-8")) <= limit
    _assert_tables_whole(text)
    assert text.startswith(MARKER + "\n❌")


def test_a_report_that_fits_is_not_truncated():
    text = render_markdown(full_report())
    assert "… and" not in text


@given(st.text())
def test_md_output_is_inert(value):
    out = md(value, limit=None)
    assert "\n" not in out and "\r" not in out
    assert "<" not in out and ">" not in out
    assert not re.search(r"(?<!\\)(?:\\\\)*[|`*_\[\]~$!]", out)
    assert not re.search(r"[@#][^\u200d]", out + " ")
