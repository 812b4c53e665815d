"""Charts and kustomizations: recognised, refused when they would fetch or run, rendered, placed."""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.checking import check, load_rules
from bot.engine import render
from bot.engine.model import SourceFile
from bot.repoconfig import parse_config

NOW = datetime(2026, 1, 1, tzinfo=UTC)

TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "web.fullname" . }}
spec:
  template:
    spec:
      containers:
        - name: web
          image: "{{ .Values.image }}"
          securityContext:
            {{- toYaml .Values.securityContext | nindent 12 }}
"""

CHART = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "image: nginx:1.27\nsecurityContext: {}\n",
    "charts/web/templates/deployment.yaml": TEMPLATE,
}

BASE_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
"""

PRIVILEGED_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          securityContext:
            privileged: true
"""

OVERLAY = {
    "deploy/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    "deploy/base/deployment.yaml": BASE_DEPLOYMENT,
    "deploy/overlays/prod/kustomization.yaml": (
        "resources:\n  - ../../base\nnamePrefix: prod-\npatches:\n  - path: privileged.yaml\n"
    ),
    "deploy/overlays/prod/privileged.yaml": PRIVILEGED_PATCH,
}


@dataclass
class DictTree:
    files: dict[str, str]
    listed: int = 0

    def listing(self) -> list[str]:
        self.listed += 1
        return sorted(self.files)

    def read(self, paths):  # type: ignore[no-untyped-def]
        return {p: self.files[p].encode() for p in paths if p in self.files}


def never_run(argv, cwd, timeout, max_output):  # type: ignore[no-untyped-def]
    raise AssertionError(f"nothing may run, but {argv} was started")


def changed(tree: DictTree, paths: list[str]) -> list[SourceFile]:
    return [SourceFile(p, tree.files[p]) for p in paths if p in tree.files]


def kubectl() -> tuple[str, ...]:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed")
    return (found, "kustomize")


def run_check(tree: DictTree, paths: list[str], settings: render.Settings):  # type: ignore[no-untyped-def]
    rules = load_rules(lambda p: None, lambda d: [])
    expansion = render.expand(changed(tree, paths), paths, tree, settings)
    report = check(rules, expansion.files, now=NOW, place=expansion.placing)
    report.notes.extend(expansion.notes)
    report.errors.extend(expansion.errors)
    return report


# -- recognition ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "chart"),
    [
        ("charts/web/templates/deployment.yaml", "charts/web"),
        ("charts/web/values.yaml", "charts/web"),
        ("charts/web/Chart.yaml", "charts/web"),
        ("deploy/web.yaml", None),
        ("charts/webhook/templates/x.yaml", None),
    ],
)
def test_a_chart_is_the_nearest_folder_with_chart_yaml(path: str, chart: str | None) -> None:
    assert render.chart_of(path, set(CHART)) == chart


def test_a_chart_template_is_not_read_and_gets_a_note_without_helm() -> None:
    tree = DictTree(dict(CHART))
    report = run_check(tree, ["charts/web/templates/deployment.yaml"], render.Settings())
    assert report.errors == []
    assert report.conclusion == "success"
    assert len(report.notes) == 1
    assert "charts/web" in report.notes[0] and "not evaluated" in report.notes[0]
    assert render.HELM_ENV in report.notes[0]


def test_a_chart_that_must_be_rendered_fails_without_helm() -> None:
    tree = DictTree(dict(CHART))
    settings = render.Settings(require_chart_rendering=True)
    report = run_check(tree, ["charts/web/templates/deployment.yaml"], settings)
    assert [e.path for e in report.errors] == ["charts/web/Chart.yaml"]
    assert report.conclusion == "failure"


def test_config_asks_for_chart_rendering_and_values() -> None:
    config = parse_config(
        "charts:\n  require_rendering: true\n  values: {charts/web: [prod.yaml]}\n"
    )
    assert config.errors == []
    settings = render.settings_for(config)
    assert settings.require_chart_rendering
    assert settings.chart_values == {"charts/web": ("prod.yaml",)}


def test_template_syntax_outside_a_chart_is_a_note_unless_it_claims_to_be_a_manifest() -> None:
    files = {
        "ops/values.tmpl.yaml": "{{ range .Items }}\n{{ .Name }}: {{ .Value }}\n{{ end }}\n",
        "deploy/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  {{ .name }}: x\n",
    }
    tree = DictTree(files)
    report = run_check(tree, sorted(files), render.Settings())
    assert any("ops/values.tmpl.yaml" in n for n in report.notes)
    assert [e.path for e in report.errors] == ["deploy/pod.yaml"]  # it says it is a manifest


def test_plain_manifests_cost_no_listing() -> None:
    tree = DictTree({"README.md": "x"})
    expansion = render.expand(
        [SourceFile("README.md", "x")], ["README.md"], tree, render.Settings()
    )
    assert tree.listed == 0 and expansion.files == [SourceFile("README.md", "x")]
    assert expansion.placing is None  # nothing to place: check streams its findings as they come


def test_an_untouched_kustomization_is_not_built() -> None:
    tree = DictTree({**OVERLAY, "other/pod.yaml": "apiVersion: v1\nkind: Pod\n"})
    settings = render.Settings(kustomize=("kubectl", "kustomize"))
    expansion = render.expand([], ["other/pod.yaml"], tree, settings, runner=never_run)
    assert expansion.notes == [] and expansion.rendered == []


# -- refusal ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kustomization", "says"),
    [
        ("resources:\n  - https://example.com/deploy.yaml\n", "fetches a URL"),
        ("resources:\n  - github.com/org/repo//deploy?ref=v1\n", "fetches a URL"),
        ("resources:\n  - git@github.com:org/repo.git\n", "fetches a URL"),
        ("resources:\n  - example.com/org/repo/deploy\n", "fetches a URL"),
        ("bases:\n  - ssh://git.example.com/repo\n", "fetches a URL"),
        ("generators:\n  - gen.yaml\n", "runs a plugin"),
        ("transformers:\n  - t.yaml\n", "runs a plugin"),
        ("validators:\n  - v.yaml\n", "runs a plugin"),
        ("helmCharts:\n  - name: x\n    repo: https://charts.example.com\n", "runs a plugin"),
        ("openapi:\n  path: https://example.com/schema.json\n", "fetches a URL"),
    ],
)
def test_a_kustomization_that_fetches_or_runs_is_refused_without_running(
    kustomization: str, says: str
) -> None:
    tree = DictTree(
        {"k/kustomization.yaml": kustomization, "k/pod.yaml": "apiVersion: v1\nkind: Pod\n"}
    )
    settings = render.Settings(kustomize=("kubectl", "kustomize"))
    expansion = render.expand([], ["k/pod.yaml"], tree, settings, runner=never_run)
    assert len(expansion.notes) == 1
    assert "refused" in expansion.notes[0] and says in expansion.notes[0]
    assert expansion.errors == []


def test_a_remote_base_refuses_the_overlay_that_loads_it() -> None:
    tree = DictTree(
        {
            **OVERLAY,
            "deploy/base/kustomization.yaml": "resources:\n  - https://example.com/x.yaml\n",
        }
    )
    settings = render.Settings(kustomize=("kubectl", "kustomize"))
    paths = ["deploy/overlays/prod/privileged.yaml"]
    expansion = render.expand(changed(tree, paths), paths, tree, settings, runner=never_run)
    assert ["refused" in n for n in expansion.notes] == [True]


def test_a_local_folder_with_a_dot_is_not_remote() -> None:
    files = {"a/v1.2/pod.yaml"}
    assert not render.is_remote("v1.2", "a/v1.2", files, {"a/v1.2", "a"})


def test_a_helm_chart_with_a_remote_dependency_is_refused() -> None:
    tree = DictTree(
        {
            **CHART,
            "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n"
            "  - name: redis\n    repository: https://charts.example.com\n",
        }
    )
    settings = render.Settings(helm="/nonexistent/helm")
    paths = ["charts/web/templates/deployment.yaml"]
    expansion = render.expand(changed(tree, paths), paths, tree, settings, runner=never_run)
    assert "refused" in expansion.notes[0] and "https://charts.example.com" in expansion.notes[0]
    assert expansion.files == []


# -- rendering and placement ------------------------------------------------------------------


def test_an_overlay_making_a_deployment_privileged_fails_on_the_patch() -> None:
    tree = DictTree(dict(OVERLAY))
    paths = ["deploy/overlays/prod/privileged.yaml"]
    report = run_check(tree, paths, render.Settings(kustomize=kubectl()))
    assert report.errors == []
    privileged = [f.finding for f in report.findings if f.finding.policy == "k8s.privileged"]
    assert [(f.path, f.line) for f in privileged] == [("deploy/overlays/prod/privileged.yaml", 11)]
    assert privileged[0].resource.name == "prod-web"
    # the base's fields are placed on the base (an advisory finding on the container)
    others = {f.finding.path for f in report.findings} - {"deploy/overlays/prod/privileged.yaml"}
    assert others <= {"deploy/base/deployment.yaml"}


def test_a_base_change_is_checked_as_its_overlays_deploy_it() -> None:
    tree = DictTree(
        {
            **OVERLAY,
            "deploy/overlays/prod/privileged.yaml": PRIVILEGED_PATCH.replace("true", "false"),
        }
    )
    base = BASE_DEPLOYMENT.replace(
        "image: nginx:1.27\n", "image: nginx:1.27\n          securityContext: {privileged: true}\n"
    )
    tree.files["deploy/base/deployment.yaml"] = base
    report = run_check(tree, ["deploy/base/deployment.yaml"], render.Settings(kustomize=kubectl()))
    assert [f for f in report.findings if f.finding.policy == "k8s.privileged"] == []


def test_a_broken_kustomization_is_an_error_on_it() -> None:
    tree = DictTree(
        {**OVERLAY, "deploy/overlays/prod/kustomization.yaml": "resources: [missing]\n"}
    )
    paths = ["deploy/overlays/prod/kustomization.yaml"]
    report = run_check(tree, paths, render.Settings(kustomize=kubectl()))
    assert [e.path for e in report.errors] == ["deploy/overlays/prod/kustomization.yaml"]
    assert "kustomize build failed" in report.errors[0].message


def fake_helm(tmp_path: Path, script: str) -> str:
    helm = tmp_path / "helm"
    helm.write_text("#!/bin/sh\n" + script)
    helm.chmod(helm.stat().st_mode | stat.S_IEXEC)
    return str(helm)


def test_a_rendered_chart_is_judged_on_its_template(tmp_path: Path) -> None:
    rendered = PRIVILEGED_PATCH.replace("name: web\nspec", "name: release-web\nspec")
    helm = fake_helm(
        tmp_path,
        f"""test -f charts/web/Chart.yaml || exit 3
test -z "$GITHUB_TOKEN$AWS_SECRET_ACCESS_KEY" || exit 4
cat <<'EOF'
---
# Source: web/templates/deployment.yaml
{rendered}EOF
""",
    )
    tree = DictTree(dict(CHART))
    report = run_check(tree, ["charts/web/values.yaml"], render.Settings(helm=helm))
    assert report.errors == [] and report.notes == []
    privileged = [f.finding for f in report.findings if f.finding.policy == "k8s.privileged"]
    assert [f.path for f in privileged] == ["charts/web/templates/deployment.yaml"]


def test_rendering_is_stopped_by_its_time_and_size_limits(tmp_path: Path) -> None:
    tree = DictTree(dict(CHART))
    paths = ["charts/web/values.yaml"]
    slow = render.Settings(helm=fake_helm(tmp_path, "sleep 5\n"), timeout=0.5)
    report = run_check(tree, paths, slow)
    assert "took longer than 0.5 s" in report.errors[0].message
    big = render.Settings(helm=fake_helm(tmp_path, "yes 'a: b'\n"), max_output=100_000)
    report = run_check(tree, paths, big)
    assert "produced more than" in report.errors[0].message


def test_the_renderer_sees_no_secrets_of_the_bot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "secret")
    out = render.run_tool(["/usr/bin/env"], tmp_path, 5, 1_000_000)
    names = {line.split("=", 1)[0] for line in out.stdout.decode().splitlines()}
    assert "GITHUB_TOKEN" not in names and "PATH" in names and "HOME" in names
