"""Stories of the `compliance` check on the fake GitHub, in both store/queue modes."""

from __future__ import annotations

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


def test_privileged_pod_fails_then_fix_passes(world):
    number, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    run = world.check(sha)
    assert (run.status, run.conclusion) == ("completed", "failure")
    failures = [a for a in run.annotations if a["annotation_level"] == "failure"]
    assert [(a["path"], a["start_line"]) for a in failures] == [("deploy/web.yaml", 11)]
    assert "container web runs privileged" in failures[0]["message"]
    assert "Blocking findings" in run.output["summary"]

    fixed = world.fake.commit(
        world.repo, "feature", {"deploy/web.yaml": PRIVILEGED.replace("true", "false")}, "fix"
    )
    world.bot.wait_idle()
    assert world.check(fixed).conclusion == "success"
    assert world.check(sha).conclusion == "failure"  # the old head keeps its verdict
