"""The engine: targets feed CEL; findings carry lines; failures are results, not crashes."""

from __future__ import annotations

import textwrap

import pytest

from bot.engine.evaluate import Engine
from bot.engine.loader import PolicyLoadError, load_policy_text
from bot.engine.model import Finding, PullRequestFacts, SourceFile


def policy(**overrides: str) -> str:
    fields = {
        "id": "t.example",
        "title": "Example policy",
        "severity": "high",
        "enforcement": "blocking",
        "target": "kubernetes",
        "condition": "containers.filter(c, c.image.endsWith(':latest'))"
        ".map(c, {'container': c.name, 'path': c._path + '.image'})",
        "message": "container {container} uses :latest",
        "extra": "",
    }
    fields.update(overrides)
    return (
        textwrap.dedent(
            f"""\
        id: {fields["id"]}
        title: {fields["title"]}
        description: test
        remediation: test
        severity: {fields["severity"]}
        enforcement: {fields["enforcement"]}
        target: {fields["target"]}
        condition: "{fields["condition"]}"
        message: "{fields["message"]}"
        exceptions: {{allowed: true}}
        standards: [test/example]
        fixtures:
          - {{expect: pass, content: ""}}
          - {{expect: fail, content: ""}}
        """
        )
        + fields["extra"]
    )


def run(policy_text: str, files: dict[str, str], facts: PullRequestFacts | None = None):
    engine = Engine([load_policy_text(policy_text, "p.yaml")])
    return engine.evaluate([SourceFile(p, t) for p, t in files.items()], facts)


POD_SPEC = """\
      containers:
        - name: app
          image: nginx:latest
      initContainers:
        - name: init
          image: busybox:latest
"""


def workload(kind: str) -> str:
    spec = textwrap.indent(textwrap.dedent(POD_SPEC), "  ")
    template = "template:\n  spec:\n" + textwrap.indent(spec, "  ")
    if kind == "Pod":
        body = "spec:\n" + spec
    elif kind == "CronJob":
        body = "spec:\n  jobTemplate:\n    spec:\n" + textwrap.indent(template, "      ")
    elif kind == "PodTemplate":
        body = template
    else:
        body = "spec:\n" + textwrap.indent(template, "  ")
    return f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: w\n  namespace: prod\n{body}"


@pytest.mark.parametrize(
    "kind",
    [
        "Pod",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
        "ReplicationController",
        "PodTemplate",
    ],
)
def test_every_workload_kind_exposes_its_pod(kind):
    text = workload(kind)
    result = run(policy(), {"deploy/w.yaml": text})
    assert not result.errors
    assert sorted(f.message for f in result.findings) == [
        "container app uses :latest",
        "container init uses :latest",
    ]
    lines = text.splitlines()
    for finding in result.findings:
        assert "image:" in lines[finding.line - 1], (kind, finding.line)
        assert str(finding.resource) == f"{kind}/prod/w"


def test_non_workloads_and_non_resources_are_skipped():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n---\njust: yaml\n"
    result = run(policy(), {"c.yaml": text})
    assert result.findings == [] and result.errors == []


def test_list_items_are_resources_with_their_own_lines():
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a}\n    spec:\n"
        "      containers: [{name: x, image: 'nginx:latest'}]\n"
    )
    result = run(policy(), {"l.yaml": text})
    assert [(f.line, str(f.resource)) for f in result.findings] == [(8, "Pod/a")]


def test_multi_document_lines():
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
    text = (
        pod
        + "    - {name: a, image: 'x:1'}\n---\n"
        + pod
        + "    - name: b\n      image: x:latest\n"
    )
    result = run(policy(), {"m.yaml": text})
    assert [(f.line, f.message) for f in result.findings] == [(14, "container b uses :latest")]


def test_files_not_matching_the_globs_are_not_read():
    result = run(policy(), {"README.md": "kind: Pod", "x.json": "{"})
    assert result.files == 0 and result.errors == []


def test_unreadable_manifest_is_an_error_naming_file_and_line():
    result = run(policy(), {"bad.yaml": "apiVersion: v1\nkind: Pod\nspec: [\n"})
    assert result.findings == []
    assert len(result.errors) == 1
    assert result.errors[0].path == "bad.yaml" and result.errors[0].line == 4
    assert "t.example" in result.errors[0].message


def test_evaluation_error_is_a_result_not_a_crash():
    text = policy(condition="object.spec.nothing.here == 1")
    result = run(text, {"p.yaml": workload("Pod")})
    assert result.findings == []
    assert len(result.errors) == 1 and result.errors[0].policy == "t.example"
    assert "Pod/prod/w" in result.errors[0].message


def test_missing_message_placeholder_is_an_error():
    result = run(policy(message="about {nobody}"), {"p.yaml": workload("Pod")})
    assert result.findings == [] and "placeholder {nobody}" in result.errors[0].message


def test_wrong_result_type_is_an_error():
    result = run(policy(condition="42"), {"p.yaml": workload("Pod")})
    assert "must return a bool or a list" in result.errors[0].message


@pytest.mark.parametrize(
    ("overrides", "line", "fragment"),
    [
        ({"condition": "containers.exists(c, "}, 8, "condition does not compile"),
        ({"severity": "urgent"}, 5, "severity: 'urgent' is not one of"),
        ({"target": "cobol"}, 7, "target: 'cobol' is not one of"),
        ({"id": "Bad Id"}, 1, "id: 'Bad Id' does not match"),
        (
            {"extra": "match: {pattern: x}\n"},
            15,
            "1 match key not known to target 'kubernetes': pattern",
        ),
        (
            {"extra": "match: {a: 1, b: 2}\n"},
            15,
            "2 match keys not known to target 'kubernetes': a, b",
        ),
        ({"title": "[a, b]"}, 2, "title: a list is not text"),
        ({"severity": "{high: 1}"}, 5, "severity: a mapping is not one of low, medium"),
        ({"extra": "colour: red\n"}, 1, "(top level): unknown field 'colour'"),
        ({"extra": "colour: red\nshape: round\n"}, 1, "unknown fields 'colour', 'shape'"),
        ({"extra": "id: again\n"}, 15, "duplicate key 'id'"),
    ],
)
def test_load_errors_name_the_line(overrides, line, fragment):
    with pytest.raises(PolicyLoadError) as err:
        load_policy_text(policy(**overrides), "policies/x.yaml")
    assert err.value.source == "policies/x.yaml"
    assert err.value.line == line, str(err.value)
    assert fragment in err.value.message


def test_yaml_and_json_targets_locate_fields():
    cond = "has(document.debug) && document.debug == true ? [{'path': 'debug'}] : []"
    yaml_policy = policy(target="yaml", condition=cond, message="debug is on")
    result = run(yaml_policy, {"conf/app.yaml": "name: a\n\ndebug: true\n"})
    assert [(f.path, f.line) for f in result.findings] == [("conf/app.yaml", 3)]
    json_policy = policy(target="json", condition=cond, message="debug is on")
    result = run(json_policy, {"app.json": '{\n  "name": "a",\n  "debug": true\n}\n'})
    assert [(f.path, f.line) for f in result.findings] == [("app.json", 3)]
    result = run(json_policy, {"bad.json": '{\n  "a": 1,\n}\n'})
    assert result.errors[0].line == 3 and "invalid JSON" in result.errors[0].message


def test_pull_request_target():
    cond = (
        "changed_paths.exists(p, p.startsWith('deploy/prod/')) && !title.matches('[A-Z]+-[0-9]+')"
    )
    text = policy(target="pull-request", condition=cond, message="PR by {author} needs a ticket")
    facts = PullRequestFacts(
        title="quick fix", author="mallory", changed_paths=("deploy/prod/a.yaml",)
    )
    result = run(text, {}, facts)
    assert [(f.path, f.line, f.message) for f in result.findings] == [
        ("", 1, "PR by mallory needs a ticket")
    ]
    facts = PullRequestFacts(title="SEC-12 fix", changed_paths=("deploy/prod/a.yaml",))
    assert run(text, {}, facts).findings == []


def test_cel_extension_functions_are_available_to_conditions():
    cond = (
        "containers.map(c, c.name).size() > 1"
        " ? [{'names': containers.map(c, c.name).join(', ')}] : []"
    )
    result = run(
        policy(condition=cond, message="several containers: {names}"), {"p.yaml": workload("Pod")}
    )
    assert [f.message for f in result.findings] == ["several containers: init, app"]


def test_a_long_lived_process_pool_gives_the_same_report():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from datetime import UTC, datetime

    from bot.checking import Rules, check
    from bot.engine.loader import load_bundled
    from bot.repoconfig import RepoConfig

    rules = Rules(load_bundled(["kubernetes"]), RepoConfig(), None)
    files = [
        SourceFile(f"k8s/{i:03d}.yaml", workload("Deployment").replace("name: w", f"name: w{i}"))
        for i in range(210)
    ]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    alone = check(rules, files, now=now)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        pooled = check(rules, files, now=now, pool=lambda: pool, jobs=2)
    assert pooled.to_json() == alone.to_json()
    assert len(alone.findings) > 210


def test_messages_fill_placeholders_from_the_violation_then_the_subjects_scalars():
    text = policy(
        condition="containers.map(c, {'container': c.name, 'kind': 'shadowed'})",
        message="{kind} {name}: {container} in {namespace} {}",
    )
    result = run(text, {"p.yaml": workload("Deployment")})
    assert sorted(f.message for f in result.findings) == [
        "shadowed w: app in prod {}",
        "shadowed w: init in prod {}",
    ]
    # a list or a map of the subject has no one-line text: naming it is an error, as before
    result = run(policy(message="{containers}"), {"p.yaml": workload("Pod")})
    assert result.findings == [] and "placeholder {containers}" in result.errors[0].message


def test_a_message_placeholder_with_a_null_value_reads_null():
    text = policy(condition="[{'who': null}]", message="by {who}, {name}")
    result = run(text, {"p.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {}\n"})
    assert [f.message for f in result.findings] == ["by null, null"]


def test_a_violation_with_a_key_that_is_not_a_string_still_fills_its_message():
    text = policy(condition="[{1: 'one', 'who': 'x'}, {'who': 'y'}]", message="by {who}")
    result = run(text, {"p.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {}\n"})
    assert result.errors == []
    assert [f.message for f in result.findings] == ["by x", "by y"]


def test_findings_share_their_repeated_message_texts():
    files = {f"k8s/{i}.yaml": workload("Deployment") for i in range(3)}
    result = run(policy(message="container {container} uses :latest"), files)
    assert len(result.findings) == 6
    texts = {f.message: f.message for f in result.findings}
    assert all(f.message is texts[f.message] for f in result.findings)


def test_a_condition_is_compiled_once_per_process():
    from bot.engine import cel as celx
    from bot.engine.evaluate import compile_policy

    condition = "containers.exists(c, c.name == 'compiled-once-test')"
    before = celx.compile_expression.cache_info()
    first = load_policy_text(policy(id="t.one", condition=condition), "one.yaml")
    second = load_policy_text(policy(id="t.two", condition=condition), "two.yaml")
    after = celx.compile_expression.cache_info()
    assert after.misses == before.misses + 1  # two policies, one condition: one compile
    assert compile_policy(first).program is compile_policy(second).program
    assert Engine([first]).compiled[0] is compile_policy(first)  # loading compiled it already


def test_a_policy_text_is_loaded_once_per_process_and_errors_are_not_kept():
    text = policy(id="t.cached")
    assert load_policy_text(text, "p.yaml") is load_policy_text(text, "p.yaml")
    assert load_policy_text(text, "p.yaml") is not load_policy_text(text, "q.yaml")
    broken = policy(condition="containers.(")
    for _ in range(2):
        with pytest.raises(PolicyLoadError, match="does not compile"):
            load_policy_text(broken, "p.yaml")


def test_findings_cross_processes_whole():
    """Findings come back from the evaluation processes pickled (by their fields, for speed)."""
    import pickle

    from bot.engine.model import ResourceRef

    with_resource = Finding(
        "k8s.x", "high", "blocking", "a.yaml", 3, "m", ResourceRef("Pod", "web", "ns"), "T"
    )
    for finding in (with_resource, Finding("k8s.y", "low", "advisory", "b.yaml", 1, "n")):
        copy = pickle.loads(pickle.dumps(finding, protocol=pickle.HIGHEST_PROTOCOL))
        assert copy == finding and copy.resource == finding.resource and copy.title == finding.title


def test_the_reference_compiles_a_bundled_condition_when_first_needed():
    """A condition of the bundled packs (known to compile) has its reference form compiled when
    the reference is first asked to evaluate it; a repository's, when it is loaded, so that its
    compile errors show then."""
    from bot.engine import cel as celx
    from bot.engine.evaluate import compile_policy

    bundled = load_policy_text(
        policy(id="t.lazy", condition="containers.exists(c, c.name == 'lazily-compiled')"),
        "policies/test/lazy.yaml",
        "test",
        trusted=True,
    )
    program = compile_policy(bundled).program
    assert program.fast is not None and program._reference is None
    context = celx.Context({"containers": [{"image": "x"}]})  # no name: the fast one errs
    with pytest.raises(celx.CELEvalError, match="name"):
        celx.run(program, context)
    assert program._reference is not None

    local = load_policy_text(
        policy(id="t.eager", condition="containers.exists(c, c.name == 'compiled-at-load')"),
        "local.yaml",
    )
    assert compile_policy(local).program._reference is not None


MIXED_KINDS = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  hostNetwork: true
  containers: [{name: app, image: nginx, securityContext: {privileged: true}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers: [{name: app, image: nginx:latest}]
---
apiVersion: v1
kind: Service
metadata: {name: other}
spec: {type: NodePort, ports: [{port: 81, nodePort: 30081}]}
"""


def test_policies_chosen_once_per_kind_judge_as_when_chosen_per_resource():
    """The Kubernetes target decides which policies judge a resource by its kind alone
    (``selection_key``): choosing them once per kind finds what asking each policy about each
    resource finds, resource by resource, kinds interleaved."""
    from bot.engine.loader import load_bundled
    from bot.engine.targets import TARGETS
    from bot.engine.targets.kubernetes import KubernetesTarget

    class AskEachTime(KubernetesTarget):
        def selection_key(self, subject):  # type: ignore[no-untyped-def]
            return None

    policies = load_bundled(["kubernetes"])
    targets = {**TARGETS, "kubernetes": AskEachTime()}
    files = [SourceFile("mixed.yaml", MIXED_KINDS), SourceFile("again.yaml", MIXED_KINDS)]
    chosen = Engine(policies).evaluate(files)
    asked = Engine(policies, targets).evaluate(files)
    assert chosen.findings == asked.findings and chosen.errors == asked.errors == []
    by_policy = {f.policy for f in chosen.findings}
    assert {"k8s.node-port", "k8s.privileged", "k8s.image-tag"} <= by_policy
    assert sum(f.policy == "k8s.node-port" for f in chosen.findings) == 4  # two Services, twice
