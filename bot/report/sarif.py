"""SARIF 2.1.0 rendering of a ``Report`` (``--format sarif``), shaped for GitHub code scanning.

One run; one rule per policy that appears (in findings or errors), with GitHub's
``security-severity`` so alerts get a severity, and one result per finding located in a file:
blocking findings are ``error``, advisory ``warning``, excepted ``note`` with an external,
accepted suppression that names the exception. ``partialFingerprints`` hash the policy, path,
resource and message but not the line, so an alert follows its finding when lines move.

Two decisions that a reader of the output should know:

- Findings of the pull-request target have no file (their path is ``""``). GitHub rejects the
  *whole* upload when any result lacks a physical location ("locationFromSarifResult: expected at
  least one location"), and there is no honest file to point at. So they are not results: they
  go to ``invocations[0].toolExecutionNotifications`` with the rule as ``associatedRule`` and the
  level a result would have. The pull request's own check run is where they are shown.
- Errors (something could not be judged) are notifications of level ``error`` as well, and they
  set ``executionSuccessful`` to false: the check fails closed, and the log says so.

What SARIF has no place for rides in the run's ``properties`` bag, the format's one extension
point: the counts and verdict, the ``exclude:`` globs of the repository config with the files
each kept out (``exclusions``, present whenever there are globs; excluded files were never
analysed, so they are not results or artifacts), and what a narrowed ``View`` left out
(``hidden``; its findings are neither results nor notifications).

``SarifWriter`` writes the same bytes from findings that come one at a time, in report order
(``check(sink=)``): results go to a spool as they come, the rules and notifications (which need
every finding's policy) are written once the findings are done. Apart from that writer, this
module builds data; it does no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, TextIO
from urllib.parse import quote

from bot.engine.model import EvalError, Finding, Policy
from bot.report import indented
from bot.report.model import Report, ReportedFinding
from bot.report.spool import MARKER, new_spool
from bot.report.text import ALL, View

# The ``$id`` of the OASIS schema (tests/vendor/sarif holds the copy the tests validate against).
SCHEMA_URI = (
    "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://github.com/compliance-bot/compliance-bot"
TOOL_NAME = "compliance-bot"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "complianceBotFinding/v1"

# GitHub maps security-severity to its levels: > 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium,
# 0.1-3.9 low. One value well inside each band.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def _level(rf: ReportedFinding) -> str:
    if rf.exception is not None:
        return "note"
    return "error" if rf.finding.enforcement == "blocking" else "warning"


def _rule_name(policy_id: str) -> str:
    # SARIF wants a readable identifier for ``name``: k8s.host-pid -> K8sHostPid.
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", policy_id) if w)


def _uri(path: str) -> str:
    """A repository path as a relative URI reference (spaces, ``#``, ``%``... percent-encoded)."""
    return quote(path.removeprefix("./"), safe="/")


def _physical(path: str, line: int | None) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": _uri(path), "uriBaseId": SRCROOT}}
    location["region"] = {"startLine": max(1, line or 1)}
    return {"physicalLocation": location}


def _rule(policy_id: str, policy: Policy | None, sample: Finding | None) -> dict[str, Any]:
    if policy is None:
        # A finding or error for a policy the report has no record of: describe what we know.
        title = (sample.title if sample else "") or policy_id
        severity = sample.severity if sample else "medium"
        enforcement = sample.enforcement if sample else "blocking"
        return {
            "id": policy_id,
            "name": _rule_name(policy_id),
            "shortDescription": {"text": title},
            "fullDescription": {"text": title},
            "defaultConfiguration": {"level": "error" if enforcement == "blocking" else "warning"},
            "properties": {
                "tags": ["compliance", "security"],
                "precision": "very-high",
                "security-severity": SECURITY_SEVERITY.get(severity, "5.5"),
                "severity": severity,
                "enforcement": enforcement,
            },
        }
    help_md = policy.remediation or policy.description
    if policy.standards:
        help_md += "\n\nStandards: " + ", ".join(f"`{s}`" for s in policy.standards)
    if not policy.exceptions.allowed:
        help_md += "\n\nThis policy does not allow exceptions."
    tags = list(dict.fromkeys(("compliance", "security", policy.pack, *policy.tags)))
    return {
        "id": policy.id,
        "name": _rule_name(policy.id),
        "shortDescription": {"text": policy.title},
        "fullDescription": {"text": policy.description or policy.title},
        "help": {"text": policy.remediation or policy.description, "markdown": help_md},
        "defaultConfiguration": {
            "level": "error" if policy.enforcement == "blocking" else "warning"
        },
        "properties": {
            "tags": [t for t in tags if t],
            "precision": "very-high",
            "security-severity": SECURITY_SEVERITY[policy.severity],
            "severity": policy.severity,
            "enforcement": policy.enforcement,
            "standards": list(policy.standards),
            "exceptions": {
                "allowed": policy.exceptions.allowed,
                "max_days": policy.exceptions.max_days,
            },
        },
    }


def fingerprint(finding: Finding) -> str:
    """Stable identity of a finding across edits: no line number in it."""
    resource = str(finding.resource) if finding.resource else ""
    material = "\x00".join((finding.policy, finding.path, resource, finding.message))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def _message(finding: Finding) -> str:
    return f"{finding.message} ({finding.resource})" if finding.resource else finding.message


def _result(rf: ReportedFinding, rule_index: int, print_: str) -> dict[str, Any]:
    f = rf.finding
    result: dict[str, Any] = {
        "ruleId": f.policy,
        "ruleIndex": rule_index,
        "level": _level(rf),
        "message": {"text": _message(f)},
        "locations": [_physical(f.path, f.line)],
        "partialFingerprints": {FINGERPRINT_KEY: print_},
        "properties": {
            "severity": f.severity,
            "enforcement": f.enforcement,
            "blocking": rf.blocking,
        },
    }
    if f.resource is not None:
        result["properties"]["resource"] = str(f.resource)
    if rf.exception is not None:
        use = rf.exception
        justification = f"exception {use.id}"
        if use.reason:
            justification += f": {use.reason}"
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": justification,
                "properties": {
                    "exception": use.id,
                    "expires": use.expires,
                    "verified": use.verified,
                    "approvers": list(use.approvers),
                },
            }
        ]
    return result


def _notification(
    message: str, level: str, rule_index: dict[str, int], policy: str | None, **where: Any
) -> dict[str, Any]:
    note: dict[str, Any] = {"message": {"text": message}, "level": level}
    if where.get("path"):
        note["locations"] = [_physical(where["path"], where.get("line"))]
    if policy and policy in rule_index:
        note["associatedRule"] = {"id": policy, "index": rule_index[policy]}
    elif policy:
        note["properties"] = {"policy": policy}
    return note


def sarif_log(report: Report, tool_version: str, view: View = ALL) -> dict[str, Any]:
    """The SARIF log as data (``render_sarif`` serialises it)."""
    findings = view.shown(report.findings)
    samples: dict[str, Finding] = {}
    for rf in findings:
        samples.setdefault(rf.finding.policy, rf.finding)
    rule_index = _rule_index(report, samples)

    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for rf in sorted(findings, key=lambda x: x.finding.sort_key()):
        f = rf.finding
        if not f.path:
            notifications.append(_pull_request_notification(rf, rule_index))
            continue
        # Identical findings in one file (same policy, resource, message) stay distinct alerts.
        base = fingerprint(f)
        seen[base] = seen.get(base, 0) + 1
        results.append(_result(rf, rule_index[f.policy], f"{base}:{seen[base]}"))
    hidden = view.hidden(report.findings)
    return _log(
        report,
        tool_version,
        view,
        samples,
        rule_index,
        notifications,
        results,
        (len(hidden), sum(1 for rf in hidden if rf.blocking)),
    )


def _rule_index(report: Report, samples: dict[str, Finding]) -> dict[str, int]:
    # Errors name a rule only when the policy is known; otherwise the id rides in properties.
    wanted = set(samples) | {e.policy for e in report.errors if e.policy in report.policies}
    return {pid: i for i, pid in enumerate(sorted(wanted))}  # type: ignore[arg-type]


def _pull_request_notification(rf: ReportedFinding, rule_index: dict[str, int]) -> dict[str, Any]:
    f = rf.finding
    text = f"pull request: {_message(f)}"
    if rf.exception is not None:
        text += f" (excepted by {rf.exception.id})"
    return _notification(text, _level(rf), rule_index, f.policy)


def _log(
    report: Report,
    tool_version: str,
    view: View,
    samples: dict[str, Finding],
    rule_index: dict[str, int],
    notifications: list[dict[str, Any]],
    results: list[Any],
    hidden: tuple[int, int],
) -> dict[str, Any]:
    rules = [_rule(pid, report.policies.get(pid), samples.get(pid)) for pid in rule_index]
    notifications.extend(_error_notification(e, rule_index) for e in report.errors)
    counts = report.counts()
    invocation: dict[str, Any] = {"executionSuccessful": not report.errors}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "informationUri": INFORMATION_URI,
                "semanticVersion": tool_version,
                "version": tool_version,
                "rules": rules,
            }
        },
        "invocations": [invocation],
        "results": results,
        "properties": {
            "conclusion": report.conclusion,
            "blocking": counts.blocking,
            "advisory": counts.advisory,
            "excepted": counts.excepted,
            "errors": len(report.errors),
            "files": report.files_checked,
        },
    }
    if report.head:
        run["properties"]["head"] = report.head
    if report.base:
        run["properties"]["base"] = report.base
    if report.exclude:
        run["properties"]["exclusions"] = {
            "globs": list(report.exclude),
            "excluded": {glob: list(report.excluded.get(glob, [])) for glob in report.exclude},
        }
    if view.active:
        run["properties"]["hidden"] = {
            "findings": hidden[0],
            "blocking": hidden[1],
            "filter": view.options(),
        }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


class SarifWriter:
    """``render_sarif`` for findings handed over one at a time, in report order.

    A result names its rule by index in the sorted rules, which are known only at the end: it is
    spooled with a provisional index (its policy's order of first appearance) and renumbered as
    the spool is copied out. Fingerprints count identical findings per file, and a file's
    findings come together, so the counts are kept for the current file only.
    """

    INDENT = " " * 8  # a result's depth: runs[0].results[i]
    RULE_INDEX = INDENT + '  "ruleIndex": '  # the one key of a result at that depth so named

    def __init__(self, out: TextIO, tool_version: str, view: View = ALL) -> None:
        self.out = out
        self.tool_version = tool_version
        self.view = view
        self.spool = new_spool()
        self.samples: dict[str, Finding] = {}
        self.first: dict[str, int] = {}  # policy -> provisional rule index
        self.pull_request: list[ReportedFinding] = []
        self.path: str | None = None
        self.seen: dict[str, int] = {}
        self.results = self.hidden = self.hidden_blocking = 0

    def add(self, rf: ReportedFinding) -> None:
        if not self.view.shows(rf):
            self.hidden += 1
            self.hidden_blocking += rf.blocking
            return
        f = rf.finding
        self.samples.setdefault(f.policy, f)
        if not f.path:
            self.pull_request.append(rf)
            return
        if f.path != self.path:
            self.path = f.path
            self.seen.clear()
        base = fingerprint(f)
        self.seen[base] = self.seen.get(base, 0) + 1
        index = self.first.setdefault(f.policy, len(self.first))
        text = indented.dumps(_result(rf, index, f"{base}:{self.seen[base]}"), level=4)
        separator = ",\n" if self.results else ""
        self.spool.write(separator + self.INDENT + text)  # level 4 is INDENT's depth
        self.results += 1

    def rendering(self) -> None:
        """None: a result's provisional rule index is its policy's order of first appearance
        in the whole scan, which no process that sees only some paths can know."""
        return None

    def close(self) -> None:
        self.spool.close()

    def finish(self, report: Report) -> None:
        rule_index = _rule_index(report, self.samples)
        notifications = [_pull_request_notification(rf, rule_index) for rf in self.pull_request]
        results: list[Any] = [MARKER] if self.results else []
        log = _log(
            report,
            self.tool_version,
            self.view,
            self.samples,
            rule_index,
            notifications,
            results,
            (self.hidden, self.hidden_blocking),
        )
        text = json.dumps(log, indent=2) + "\n"
        if not self.results:
            self.out.write(text)
            return
        # Rules and notifications come first and hold repository text; a line that is the marker
        # alone, at a result's depth, can only be the results' place.
        head, _, tail = text.partition("\n" + self.INDENT + json.dumps(MARKER) + "\n")
        self.out.write(head + "\n")
        renumber = {old: rule_index[policy] for policy, old in self.first.items()}
        if all(old == new for old, new in renumber.items()):
            self.spool.copy_to(self.out)
        else:
            prefix = self.RULE_INDEX
            for line in self.spool.rewound():
                if line.startswith(prefix):
                    old, comma = line[len(prefix) :].rstrip("\n").split(",")
                    line = f"{prefix}{renumber[int(old)]},{comma}\n"
                self.out.write(line)
            self.spool.close()
        self.out.write("\n" + tail)


def _error_notification(error: EvalError, rule_index: dict[str, int]) -> dict[str, Any]:
    return _notification(
        error.message, "error", rule_index, error.policy, path=error.path, line=error.line
    )


def render_sarif(report: Report, tool_version: str, view: View = ALL) -> str:
    return json.dumps(sarif_log(report, tool_version, view), indent=2) + "\n"
