"""``render_text``: what a person at a terminal reads."""

from __future__ import annotations

from dataclasses import replace

from report_samples import (
    HOSTILE_PATH,
    clean_report,
    full_report,
    hostile_report,
)

from bot.report.text import plain, render_text, when


def test_findings_are_grouped_by_file_with_location_severity_policy_message_resource():
    out = render_text(full_report(), color=False)
    lines = out.splitlines()
    header = lines.index("deploy/a.yaml")
    assert lines[header + 1] == (
        "  deploy/a.yaml:14  HIGH      k8s.privileged  container web runs privileged"
        "  [Pod/badpod01]  (BLOCKING)"
    )
    advisory = lines.index("deploy/a.yaml", header + 1)
    assert lines[advisory + 1].startswith("  deploy/a.yaml:20  LOW       k8s.probes")
    assert lines[advisory + 1].endswith("[Deployment/prod/web]  (advisory)")


def test_sections_are_blocking_then_advisory_then_excepted_each_in_path_order():
    lines = render_text(full_report(), color=False).splitlines()
    headers = [line for line in lines if line and not line.startswith(" ")]
    assert headers[
        : headers.index("Errors: the check fails because these could not be evaluated")
    ] == [
        "Blocking: 3 findings fail the check",
        "config/app.env",
        "deploy/a.yaml",
        "(pull request)",  # the pull request itself comes last
        "Advisory: 1 finding, for information only",
        "deploy/a.yaml",
        "Excepted: 1 finding covered by an exception",
        "deploy/node-exporter/ds.yaml",
    ]
    assert (
        "  (pull request)  MEDIUM    pr.ticket  the title names no ticket (SEC-123)  (BLOCKING)"
        in (lines)
    )


def test_excepted_findings_name_the_exception_and_its_expiry():
    out = render_text(full_report(), color=False)
    assert (
        "deploy/node-exporter/ds.yaml:12  CRITICAL  k8s.host-pid  hostPID is true"
        "  [DaemonSet/monitoring/node-exporter]  (excepted by EXC-7, expires 2026-12-31)"
    ) in out


def test_unverified_exceptions_say_so():
    report = hostile_report()
    report.applied[0] = replace(report.applied[0], verified=False, approvers=())
    report.findings[1] = replace(report.findings[1], exception=report.applied[0])
    out = render_text(report, color=False)
    assert "(excepted by EXC-1, expires 2026-12-31, not verified)" in out
    assert "not verified  covers 1 finding" in out


def test_errors_are_listed_with_file_line_and_policy():
    out = render_text(full_report(), color=False)
    assert "Errors: the check fails because these could not be evaluated" in out
    assert (
        "  .compliance/policies/custom.yaml:9  CEL error: no such key: spec  (policy custom.thing)"
        in out
    )
    assert "  deploy/c.yaml:2  could not parse YAML: mapping values are not allowed" in out


def test_exception_summary_covers_every_state():
    lines = render_text(full_report(), color=False).splitlines()
    summary = lines[lines.index("Exceptions") + 1 :]
    states = [line.split()[0] for line in summary if line.startswith("  ")][:6]
    assert states == ["applied", "expiring", "expired", "unapproved", "invalid", "unused"]
    text = "\n".join(summary)
    assert (
        "applied        EXC-7  k8s.host-pid  deploy/node-exporter/**, "
        "DaemonSet/monitoring/node-exporter  expires 2026-12-31  requested by alice"
        "  approved by bob  covers 1 finding"
    ) in text
    assert "expired        EXC-3  k8s.privileged  expired 2025-01-31: no longer applied" in text
    assert "ignored: no approved pull request added this exact entry" in text
    assert "ignored: line 30: reason must be at least 20 characters" in text
    assert "unused         EXC-2  k8s.host-pid  matched nothing (expires 2026-06-30 12:00 UTC)" in (
        text
    )


def test_the_last_line_is_the_verdict_with_counts():
    assert render_text(full_report(), color=False).splitlines()[-1] == (
        "FAIL: 3 blocking findings, 1 advisory, 1 excepted, 2 errors (12 files checked)"
    )
    clean = render_text(clean_report(), color=False)
    assert clean.splitlines()[-2:] == [
        "No findings.",
        "PASS: 0 blocking findings, 0 advisory, 0 excepted (3 files checked)",
    ]


def test_notes_are_shown():
    assert "note: exceptions are not verified" in render_text(full_report(), color=False)


def test_colour_only_when_asked():
    assert "\x1b" not in render_text(full_report(), color=False)
    coloured = render_text(full_report(), color=True)
    assert "\x1b[1;31mFAIL\x1b[0m" in coloured
    assert "\x1b[33m(advisory)\x1b[0m" in coloured
    assert "\x1b[1;32mPASS\x1b[0m" in render_text(clean_report(), color=True)


def test_repository_text_cannot_drive_the_terminal():
    out = render_text(hostile_report(), color=False)
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[31mred\\x1b[0m" in out
    assert "\\u202eevil\\u202c" in out
    assert "| col\\x0anew line" in out  # one finding, one line
    assert f"{HOSTILE_PATH}:7" in out


def test_plain_escapes_controls_formats_and_separators():
    assert plain("a\tb\nc\x7f\x9b\u2028\u200d\ufeff") == (
        "a\\x09b\\x0ac\\x7f\\x9b\\u2028\\u200d\\ufeff"
    )
    assert plain("ünïcødé ✓") == "ünïcødé ✓"


def test_when_shows_end_of_day_as_a_date_and_other_times_in_utc():
    assert when("2026-12-31T23:59:59+00:00") == "2026-12-31"
    assert when("2026-12-31") == "2026-12-31"
    assert when("2027-01-01T00:00:00+00:00") == "2026-12-31"  # how exemptions hold a date
    assert when("2027-01-01T01:00:00+01:00") == "2026-12-31"
    assert when("2026-06-30T14:00:00+02:00") == "2026-06-30 12:00 UTC"
    assert when(None) == "-"
    assert when("soon\x1b") == "soon\\x1b"
