"""Stories of the `compliance` check on the fake GitHub, in both store/queue modes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

from sqlalchemy import select

from bot.forge.github import GitHubApp
from bot.store.tables import AuditEvent

from .harness import normalised

PRIVILEGED = """\
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

EXCEPTION = """\
  - id: EXC-1
    policy: k8s.privileged
    paths: ["deploy/**"]
    reason: the web pod needs raw sockets for a legacy health probe
    requested_by: dev
    expires: {expires}
"""

CHECK_RUN_CALLS = (
    ("POST", "/repos/{owner}/{repo}/check-runs"),
    ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
)


def audit_actions(world) -> list[str]:
    with world.bot.services.store.session() as s:
        return [a.action for a in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_privileged_pod_fails_then_fix_passes(world, golden):
    _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    run = world.check(sha)
    assert (run.status, run.conclusion) == ("completed", "failure")
    failures = [a for a in run.annotations if a["annotation_level"] == "failure"]
    assert [(a["path"], a["start_line"]) for a in failures] == [("deploy/web.yaml", 11)]
    assert "container web runs privileged" in failures[0]["message"]
    assert "Blocking findings" in run.output["summary"]
    golden("privileged-pod.md", normalised(run.output["summary"]))
    assert "check.concluded" in audit_actions(world)

    fixed = world.fake.commit(
        world.repo, "feature", {"deploy/web.yaml": PRIVILEGED.replace("true", "false")}, "fix"
    )
    world.bot.wait_idle()
    assert world.check(fixed).conclusion == "success"
    assert world.check(sha).conclusion == "failure"  # the old head keeps its verdict


def test_120_findings_are_all_annotated_in_three_batches(world):
    letters = str.maketrans("0123456789", "ABCDFGHJKL")  # AWS key ids are [A-Z2-7]
    keys = "".join(f"key{i} = AKIA{f'{i:016d}'.translate(letters)}\n" for i in range(120))
    _, sha = world.open_pr({"config/keys.txt": keys})
    world.bot.wait_idle()
    run = world.check(sha)
    assert run.conclusion == "failure"
    secrets = [a for a in run.annotations if a["path"] == "config/keys.txt"]
    assert len(secrets) == 120
    assert sorted(a["start_line"] for a in secrets) == list(range(1, 121))
    # the create call carries the first 50; each update appends the next batch
    sizes = [len(u.get("output", {}).get("annotations", [])) for u in run.updates]
    assert [n for n in sizes if n] == [50, 20]
    assert world.fake.calls[CHECK_RUN_CALLS[0]] == 1


def test_rerequest_updates_the_same_check_run(world):
    _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    run = world.check(sha)
    annotations = len(run.annotations)
    world.fake.reset_calls()
    world.fake.rerequest_check_run(run, user="dev")
    world.bot.wait_idle()
    again = world.check(sha)  # still exactly one
    assert again.id == run.id and again.conclusion == "failure"
    assert len(again.annotations) == annotations  # nothing sent twice
    assert world.fake.calls[CHECK_RUN_CALLS[0]] == 0
    assert world.fake.calls[CHECK_RUN_CALLS[1]] == 1


def test_redelivery_does_nothing_twice(world):
    _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    opened = world.fake.deliveries_of("pull_request", "opened")[-1]
    deliveries = len(world.bot.deliveries())
    world.fake.reset_calls()
    attempt = world.fake.redeliver(opened.guid)
    assert attempt.status == 202
    world.bot.wait_idle()
    assert len(world.bot.deliveries()) == deliveries
    assert sum(world.fake.calls.values()) == 0
    assert len(world.checks(sha)) == 1


def test_bad_signature_is_401_and_nothing_queued(world):
    body = json.dumps({"action": "opened"}).encode()
    wrong = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{world.bot.url}/webhooks/github",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "forged-1",
            "X-Hub-Signature-256": wrong,
        },
    )
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("a forged delivery was accepted")
    except urllib.error.HTTPError as err:
        assert err.code == 401
    assert [d.id for d in world.bot.deliveries() if "forged" in d.id] == []
    assert world.bot.services.huey.pending_count() == 0
    assert "delivery.refused" in audit_actions(world)


def test_broken_exceptions_file_on_base_fails_naming_file_and_line(world):
    world.fake.commit(
        world.repo,
        "main",
        {".compliance/exceptions.yaml": "version: 1\nexceptions:\n  - id: [oops\n"},
        "break the exceptions file",
    )
    _, sha = world.open_pr({"docs/readme.md": "harmless\n"})
    world.bot.wait_idle()
    run = world.check(sha)
    assert run.conclusion == "failure"
    assert ".compliance/exceptions.yaml" in run.output["summary"]
    errors = [a for a in run.annotations if a["path"] == ".compliance/exceptions.yaml"]
    assert errors and errors[0]["start_line"] == 4


def test_pr_adding_its_own_exception_stays_red(world):
    exceptions = "version: 1\nexceptions:\n" + EXCEPTION.format(expires="2099-01-01")
    _, sha = world.open_pr(
        {"deploy/web.yaml": PRIVILEGED, ".compliance/exceptions.yaml": exceptions}
    )
    world.bot.wait_idle()
    run = world.check(sha)
    assert run.conclusion == "failure"
    assert any(a["annotation_level"] == "failure" for a in run.annotations)


def test_merge_group_is_evaluated(world):
    number, _sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    head_ref, group_sha = world.fake.enqueue_merge_group(world.repo, number, user="dev")
    world.bot.wait_idle()
    run = world.check(group_sha)
    assert run.conclusion == "failure"
    assert head_ref.startswith("refs/heads/gh-readonly-queue/main/")


def test_rate_limited_job_waits_for_the_reset_then_completes(world):

    fake = world.fake
    # mint the token first so the limit hits the evaluation itself
    GitHubApp(world.bot.settings).installation_token(world.installation.id)
    fake.set_rate_limit(world.installation, remaining=0)
    [limit] = [x for x in fake.state.rate_limits.values() if x.used >= x.limit]
    # x-ratelimit-reset: ten seconds from now, so that a slow first attempt on a busy machine
    # still meets the limit (the bot is not woken up before the reset either way)
    limit.reset = int(time.time()) + 10
    started = time.monotonic()
    _, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and not world.bot.services.huey.scheduled_count():
        time.sleep(0.05)
    assert world.bot.services.huey.scheduled_count() >= 1  # retried later, not slept on
    assert world.checks(sha) == []
    errors = [d.error or "" for d in world.bot.deliveries()]
    assert any("rate limit" in e for e in errors), errors
    limit.used = 0  # the window resets
    world.bot.wait_idle(timeout=30)
    assert world.check(sha).conclusion == "failure"
    assert time.monotonic() - started >= 2  # it waited for x-ratelimit-reset


def test_installation_repositories_are_recorded_and_audited(world):
    from bot.store.tables import Installation

    world.fake.create_repo("acme/api", files={"README.md": "api\n"})
    world.fake.add_installation_repos(world.installation, ["acme/api"], sender="alice")
    world.bot.wait_idle()
    with world.bot.services.store.session() as s:
        row = s.get(Installation, world.installation.id)
        assert row is not None and "acme/api" in row.repositories
    assert "installation.added" in audit_actions(world)
    world.fake.remove_installation_repos(world.installation, ["acme/api"], sender="alice")
    world.bot.wait_idle()
    with world.bot.services.store.session() as s:
        assert "acme/api" not in s.get(Installation, world.installation.id).repositories


def test_codeowners_hygiene_warns_when_exceptions_are_unguarded(world):
    _, sha = world.open_pr({"docs/a.md": "a\n"})
    world.bot.wait_idle()
    assert "CODEOWNERS" not in world.check(sha).output["summary"]  # guarded: no warning
    world.fake.commit(
        world.repo,
        "main",
        {".github/CODEOWNERS": "*.md @acme/docs-team\n"},
        "codeowners: drop the .compliance rule",
    )
    _, sha = world.open_pr({"docs/b.md": "b\n"}, branch="other")
    world.bot.wait_idle()
    summary = world.check(sha).output["summary"]
    assert "gives `.compliance/exceptions.yaml` an owner" in summary.replace("\\", "")
