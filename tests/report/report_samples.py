"""Reports built by hand for the renderer tests: every section, every state, hostile strings.

Imported by the ``test_report_*`` modules of this directory (pytest puts it on ``sys.path``).
"""

from __future__ import annotations

from bot.engine.model import EvalError, ExceptionPolicy, Finding, Policy, ResourceRef
from bot.report.model import ExceptionUse, Report, ReportedFinding


def make_policy(
    pid: str,
    *,
    severity: str = "high",
    enforcement: str = "blocking",
    target: str = "kubernetes",
    allowed: bool = True,
    max_days: int = 90,
    title: str | None = None,
) -> Policy:
    return Policy(
        id=pid,
        title=title or f"{pid} title",
        description=f"What {pid} checks and why it matters.",
        remediation=f"How to fix {pid}.",
        severity=severity,  # type: ignore[arg-type]
        enforcement=enforcement,  # type: ignore[arg-type]
        target=target,
        files=(),
        exclude=(),
        match={},
        condition="true",
        message="{name}",
        exceptions=ExceptionPolicy(allowed=allowed, max_days=max_days),
        standards=(f"pss/baseline/{pid.split('.')[-1]}",),
        pack=pid.split(".")[0],
        source=f"policies/{pid}.yaml",
        line=1,
        tags=("kubernetes",) if target == "kubernetes" else (),
    )


def finding(policy: Policy, path: str, line: int, message: str, resource=None) -> Finding:
    return Finding(
        policy=policy.id,
        severity=policy.severity,
        enforcement=policy.enforcement,
        path=path,
        line=line,
        message=message,
        resource=resource,
        title=policy.title,
    )


PRIVILEGED = make_policy("k8s.privileged", title="Privileged containers")
HOST_PID = make_policy("k8s.host-pid", severity="critical", max_days=14, title="Host PID")
PROBES = make_policy("k8s.probes", severity="low", enforcement="advisory", title="Probes")
PR_TICKET = make_policy("pr.ticket", severity="medium", target="pull-request", title="PR ticket")
AWS_KEY = make_policy("secrets.aws-key", severity="critical", target="text", allowed=False)
POLICIES = {p.id: p for p in (PRIVILEGED, HOST_PID, PROBES, PR_TICKET, AWS_KEY)}

EXC_7 = ExceptionUse(
    id="EXC-7",
    policy="k8s.host-pid",
    state="applied",
    line=3,
    expires="2026-12-31T23:59:59+00:00",
    reason="node-exporter reads host metrics through hostPID",
    requested_by="alice",
    ticket="SEC-12",
    paths=("deploy/node-exporter/**",),
    resources=("DaemonSet/monitoring/node-exporter",),
    findings=1,
    verified=True,
    approvers=("bob",),
)


def full_report() -> Report:
    """Every section of the summary has something in it."""
    pod = ResourceRef("Pod", "badpod01")
    return Report(
        findings=[
            ReportedFinding(
                finding(PRIVILEGED, "deploy/a.yaml", 14, "container web runs privileged", pod)
            ),
            ReportedFinding(finding(AWS_KEY, "config/app.env", 3, "AWS access key id on line 3")),
            ReportedFinding(
                finding(
                    PROBES,
                    "deploy/a.yaml",
                    20,
                    "container web has no readiness probe",
                    ResourceRef("Deployment", "web", "prod"),
                )
            ),
            ReportedFinding(
                finding(
                    HOST_PID,
                    "deploy/node-exporter/ds.yaml",
                    12,
                    "hostPID is true",
                    ResourceRef("DaemonSet", "node-exporter", "monitoring"),
                ),
                EXC_7,
            ),
            ReportedFinding(finding(PR_TICKET, "", 1, "the title names no ticket (SEC-123)")),
        ],
        applied=[EXC_7],
        expiring_soon=[EXC_7],
        expired=[
            ExceptionUse(
                id="EXC-3",
                policy="k8s.privileged",
                state="expired",
                line=12,
                expires="2025-01-31T23:59:59+00:00",
                reason="legacy agent needs privileged mode until migration",
                requested_by="carol",
                paths=("deploy/legacy/**",),
                findings=1,
            )
        ],
        invalid=[
            ExceptionUse(
                id="EXC-9",
                policy="k8s.privileged",
                state="invalid",
                line=28,
                expires="2027-06-01T23:59:59+00:00",
                reason="because",
                problem="line 30: reason must be at least 20 characters",
            )
        ],
        unused=[
            ExceptionUse(
                id="EXC-2",
                policy="k8s.host-pid",
                state="unused",
                line=20,
                expires="2026-06-30T12:00:00+00:00",
                reason="a scope that matches nothing in this change",
                paths=("deploy/other/**",),
            )
        ],
        unapproved=[
            ExceptionUse(
                id="EXC-11",
                policy="k8s.privileged",
                state="unapproved",
                line=40,
                expires="2026-03-01T23:59:59+00:00",
                reason="added straight to the default branch",
                problem="no approved pull request added this exact entry",
            )
        ],
        errors=[
            EvalError(
                "CEL error: no such key: spec",
                path=".compliance/policies/custom.yaml",
                line=9,
                policy="custom.thing",
            ),
            EvalError("could not parse YAML: mapping values are not allowed", "deploy/c.yaml", 2),
        ],
        notes=["exceptions are not verified: the CLI has no approval ledger"],
        policies=dict(POLICIES),
        files_checked=12,
        base="main",
        head="abc123",
    )


def clean_report() -> Report:
    return Report(policies=dict(POLICIES), files_checked=3)


def advisory_only_report() -> Report:
    return Report(
        findings=[
            ReportedFinding(
                finding(PROBES, "deploy/a.yaml", 20, "container web has no readiness probe")
            )
        ],
        applied=[EXC_7],
        policies=dict(POLICIES),
        files_checked=4,
    )


HOSTILE_PATH = "deploy/<img src=x onerror=alert(1)>|`@admin` #1 [x](javascript:y).yaml"
HOSTILE_MESSAGE = (
    "\x1b[31mred\x1b[0m @org/security-team <!-- compliance-bot:check --> *bold* _it_ "
    "\u202eevil\u202c | col\nnew line $x$ ~~s~~ &amp; :tada: <script>alert(1)</script>"
)


def hostile_report() -> Report:
    """Everything a pull request's author controls, made as nasty as a file system allows."""
    bad = ExceptionUse(
        id="EXC-<b>@x",
        policy="k8s.privileged",
        state="invalid",
        line=5,
        reason="@everyone look | here",
        requested_by="@octocat",
        problem="id must match [A-Za-z0-9._-]: got 'EXC-<b>@x' | see `docs`",
    )
    applied = ExceptionUse(
        id="EXC-1",
        policy="k8s.host-pid",
        state="applied",
        expires="2026-12-31",
        reason="@admin approved this, trust me <b>",
        requested_by="mallory @admin",
        paths=(HOSTILE_PATH, "ok/**"),
        findings=1,
        verified=True,
        approvers=("@octocat", "eve|x"),
    )
    return Report(
        findings=[
            ReportedFinding(
                finding(
                    PRIVILEGED,
                    HOSTILE_PATH,
                    7,
                    HOSTILE_MESSAGE,
                    ResourceRef("Pod", "x|`y`@z", "ns<1>"),
                )
            ),
            ReportedFinding(finding(HOST_PID, HOSTILE_PATH, 9, "hostPID @admin"), applied),
            ReportedFinding(finding(PR_TICKET, "", 1, "title '@admin #1' names no ticket")),
        ],
        applied=[applied],
        invalid=[bad],
        errors=[EvalError("bad YAML near `@x` <b>", HOSTILE_PATH, 3)],
        notes=["note with @mention and <b>html</b>"],
        policies=dict(POLICIES),
        files_checked=2,
    )
