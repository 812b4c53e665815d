"""Stories of charts and kustomizations on the fake GitHub: rendered, refused, noted."""

from __future__ import annotations

import shutil

import pytest

from tests.test_render import CHART, OVERLAY, PRIVILEGED_PATCH


def test_a_chart_template_change_gets_a_note_not_a_read_error(world):
    _, sha = world.open_pr(dict(CHART))
    world.bot.wait_idle()
    run = world.check(sha)
    assert run.conclusion == "success"
    assert [a for a in run.annotations if a["annotation_level"] == "failure"] == []
    assert "cannot read" not in run.output["summary"]
    summary = run.output["summary"].replace("\\", "")  # markdown escapes
    assert "Helm chart `charts/web` not evaluated" in summary
    assert "COMPLIANCE_BOT_HELM" in summary


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_an_overlay_making_a_deployment_privileged_fails_on_its_patch(world):
    base = {p: t for p, t in OVERLAY.items() if "/base/" in p}
    world.fake.commit(world.repo, "main", base, "a base")
    overlay = {p: t for p, t in OVERLAY.items() if "/overlays/" in p}
    _, sha = world.open_pr(overlay)
    world.bot.wait_idle()
    run = world.check(sha)
    assert run.conclusion == "failure"
    failures = [a for a in run.annotations if a["annotation_level"] == "failure"]
    assert [(a["path"], a["start_line"]) for a in failures] == [
        ("deploy/overlays/prod/privileged.yaml", 11)
    ]
    assert "container web runs privileged" in failures[0]["message"]


def test_a_kustomization_with_a_remote_resource_is_refused_with_a_note(world):
    _, sha = world.open_pr(
        {
            "deploy/kustomization.yaml": "resources:\n  - https://example.com/evil.yaml\n"
            "  - patch.yaml\n",
            "deploy/patch.yaml": PRIVILEGED_PATCH.replace("true", "false"),
        }
    )
    world.bot.wait_idle()
    run = world.check(sha)
    summary = run.output["summary"].replace("\\", "")
    assert "refused" in summary and "https://example.com/evil.yaml" in summary
    assert "fetches a URL" in summary


def test_a_kustomization_that_would_run_a_plugin_is_refused_with_a_note(world):
    _, sha = world.open_pr(
        {
            "deploy/kustomization.yaml": "resources:\n  - patch.yaml\ngenerators:\n  - gen.yaml\n",
            "deploy/gen.yaml": "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n"
            "  name: x\n  annotations:\n"
            "    config.kubernetes.io/function: 'exec: {path: ./evil.sh}'\n",
            "deploy/patch.yaml": PRIVILEGED_PATCH.replace("true", "false"),
        }
    )
    world.bot.wait_idle()
    run = world.check(sha)
    summary = run.output["summary"].replace("\\", "")
    assert "refused" in summary and "runs a plugin" in summary
    assert "deploy/kustomization.yaml" in summary
