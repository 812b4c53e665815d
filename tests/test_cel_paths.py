"""The two CEL interpreters give one answer (bot/engine/cel.py).

Google's C++ CEL runs first and the Rust interpreter is the reference: here every bundled
condition is held to the same result on both, over every fixture of every policy, the
benchmarks' generated manifests, the labelled corpus where it is present, and pod specs that
hypothesis builds with the wrong type in every field. Where the fast interpreter errs, the
reference answers, so errors read as they always did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine import cel as celx
from bot.engine.evaluate import Engine
from bot.engine.loader import load_bundled
from bot.engine.model import SourceFile
from bot.engine.targets import FileTarget

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "kubernetes"
POLICIES = load_bundled()
ENGINE = Engine(POLICIES)


def _result(value: Any) -> Any:
    """A condition's result as the engine uses it: its violations become findings, which are
    sorted, so their order does not count (CEL leaves a map's iteration order open, and the two
    iterate maps in different orders)."""
    value = _plain(value)
    return sorted(value, key=repr) if isinstance(value, list) else value


def _plain(value: Any) -> Any:
    """Results compared as data: the two give maps' keys in different orders."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _both(program: celx.Program, variables: dict[str, Any]) -> tuple[Any, Any]:
    """(fast, reference): each a result, or ("error", text) where it could not evaluate."""
    context = celx.Context(variables, ENGINE._functions)
    fast = program.fast.eval(context.activation())
    fast_result = (
        ("error", str(fast.value())) if fast.type() == celx.google_cel.Type.ERROR
        else _result(fast.plain_value())
    )  # fmt: skip
    try:
        reference = _result(program.reference.execute(context.reference()))
    except Exception as exc:
        reference = ("error", f"{type(exc).__name__}: {exc}")
    return fast_result, reference


def _erred(result: Any) -> bool:
    return isinstance(result, tuple) and result[0] == "error"


def _disagreements(
    files: list[SourceFile], reference_may_err: bool = False
) -> tuple[int, list[str]]:
    compared, wrong = 0, []
    for file in files:
        for compiled in ENGINE.policies_for(file.path):
            target = compiled.target
            assert isinstance(target, FileTarget)
            try:
                subjects = target.subjects(file)
            except Exception:
                continue  # not readable as this target: no condition runs
            for subject in subjects:
                for selected in target.select(compiled.match, subject):
                    fast, reference = _both(compiled.program, selected.variables)
                    compared += 1
                    # an error on the fast side is fine: the reference answers then
                    if fast == reference or _erred(fast):
                        continue
                    # where only the reference errs, the fast answer is the specification's
                    # (NaN compared, say: DESIGN.md, "CEL"); allowed for hostile input only
                    if not (reference_may_err and _erred(reference)):
                        wrong.append(f"{compiled.policy.id} on {file.path}: {fast} != {reference}")
    return compared, wrong


def test_every_bundled_condition_runs_on_the_fast_interpreter():
    slow = [p.id for p in POLICIES if celx.compile_expression(p.condition).fast is None]
    assert slow == []


def test_fixtures_agree():
    files = [SourceFile(fixture.path, fixture.content) for p in POLICIES for fixture in p.fixtures]
    compared, wrong = _disagreements(files)
    assert compared > 500
    assert wrong == []


@pytest.mark.parametrize("writer", ["ManifestWriter", "HeavyWriter"])
def test_generated_manifests_agree(writer, bench_engine):
    bench = bench_engine
    make = getattr(bench, writer)(bench.SEED)
    files = [SourceFile(*make.file(i)) for i in range(60)]
    compared, wrong = _disagreements(files)
    assert compared > 1000
    assert wrong == []


@pytest.mark.skipif(not (CORPUS / "labels.json").exists(), reason="shared corpus not present")
def test_labelled_corpus_agrees():
    files = [
        SourceFile(p.relative_to(CORPUS).as_posix(), p.read_text("utf-8"))
        for p in sorted(CORPUS.rglob("*.yaml"))
    ]
    compared, wrong = _disagreements(files)
    assert compared > 5000
    assert wrong == []


# Pod specs with anything anywhere: the places where interpreters part are wrong types, nulls,
# missing fields and empty strings, so every field may be any of those.
_anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 70000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "x", "latest", "caf\u00e9:1.0", "\u00e9\u00e9"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(["a"]), inner),
    max_leaves=3,
)


def _field(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values | _anything


_capabilities = st.fixed_dictionaries(
    {}, optional={"add": _field(st.lists(st.sampled_from(["NET_RAW", "SYS_ADMIN", "CHOWN"]))),
                  "drop": _field(st.lists(st.sampled_from(["ALL", "NET_RAW"])))},
)  # fmt: skip
_security = st.fixed_dictionaries(
    {},
    optional={
        "privileged": _field(st.booleans()),
        "allowPrivilegeEscalation": _field(st.booleans()),
        "runAsNonRoot": _field(st.booleans()),
        "runAsUser": _field(st.integers(0, 2000)),
        "readOnlyRootFilesystem": _field(st.booleans()),
        "capabilities": _field(_capabilities),
        "procMount": _field(st.sampled_from(["Default", "Unmasked"])),
        "seccompProfile": _field(st.fixed_dictionaries(
            {"type": _field(st.sampled_from(["RuntimeDefault", "Unconfined", "Localhost"]))})),
        "seLinuxOptions": _field(st.fixed_dictionaries(
            {}, optional={"type": _field(st.sampled_from(["container_t", "spc_t"])),
                          "user": _field(st.sampled_from(["x"]))})),
        "appArmorProfile": _field(st.fixed_dictionaries(
            {"type": _field(st.sampled_from(["RuntimeDefault", "Unconfined"]))})),
        "windowsOptions": _field(st.fixed_dictionaries({"hostProcess": _field(st.booleans())})),
    },
)  # fmt: skip
_container = st.fixed_dictionaries(
    {"name": _field(st.sampled_from(["app", "side"]))},
    optional={
        "image": _field(st.sampled_from(["nginx", "nginx:latest", "nginx:1.27", "r:5000/a",
                                         "a@sha256:00"])),
        "securityContext": _field(_security),
        "resources": _field(st.fixed_dictionaries({}, optional={
            "requests": _field(st.fixed_dictionaries({}, optional={
                "cpu": _field(st.sampled_from(["100m", ""])),
                "memory": _field(st.sampled_from(["1Gi", ""]))})),
            "limits": _field(st.fixed_dictionaries({}, optional={
                "memory": _field(st.sampled_from(["1Gi", ""]))}))})),
        "ports": _field(st.lists(st.fixed_dictionaries({}, optional={
            "hostPort": _field(st.integers(0, 9000)), "containerPort": _field(st.integers(1, 90))}),
            max_size=2)),
        "livenessProbe": _field(st.fixed_dictionaries({})),
        "readinessProbe": _field(st.fixed_dictionaries({})),
        "volumeMounts": _field(st.lists(st.fixed_dictionaries({"name": st.just("v")}), max_size=1)),
    },
)  # fmt: skip
_pod_spec = st.fixed_dictionaries(
    {"containers": _field(st.lists(_container, max_size=2))},
    optional={
        "initContainers": _field(st.lists(_container, max_size=1)),
        "ephemeralContainers": _field(st.lists(_container, max_size=1)),
        "securityContext": _field(_security),
        "hostNetwork": _field(st.booleans()),
        "hostPID": _field(st.booleans()),
        "hostIPC": _field(st.booleans()),
        "hostUsers": _field(st.booleans()),
        "volumes": _field(st.lists(st.fixed_dictionaries(
            {"name": st.just("v")},
            optional={"hostPath": _field(st.fixed_dictionaries(
                          {"path": _field(st.sampled_from(["/var/run/docker.sock", "/data"]))})),
                      "emptyDir": st.just({}), "nfs": st.just({"server": "x"})}), max_size=2)),
    },
)  # fmt: skip
_manifest = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["v1", "apps/v1"]),
        "kind": st.sampled_from(["Pod", "Deployment"]),
        "metadata": _field(st.fixed_dictionaries({}, optional={
            "name": _field(st.just("web")), "namespace": _field(st.sampled_from(["default", "x"])),
            "annotations": _field(st.dictionaries(st.sampled_from([
                "container.apparmor.security.beta.kubernetes.io/app"]),
                _field(st.sampled_from(["runtime/default", "unconfined"]))))})),
        "spec": _pod_spec,
    }
)  # fmt: skip


def _as_resource(manifest: dict[str, Any]) -> dict[str, Any]:
    if manifest["kind"] == "Pod":
        return manifest
    template = {"metadata": {"labels": {"app": "web"}}, "spec": manifest["spec"]}
    return {**manifest, "spec": {"selector": {}, "template": template}}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_manifest)
def test_hostile_pod_specs_agree(manifest):
    import yaml

    text = yaml.safe_dump(_as_resource(manifest), sort_keys=False)
    _, wrong = _disagreements([SourceFile("deploy/app.yaml", text)], reference_may_err=True)
    assert wrong == []


def test_a_fast_error_is_answered_by_the_reference():
    # a list's contains is an extension of the reference's: the fast interpreter errs on it
    program = celx.compile_expression('["a", "b"].contains("b") && object.kind == "Pod"')
    assert program.fast is not None
    context = celx.Context({"object": {"kind": "Pod"}}, celx.extensions_used([program.source]))
    assert context.activation() is not None
    assert program.fast.eval(context.activation()).type() == celx.google_cel.Type.ERROR
    assert celx.run(program, context) is True


def test_errors_are_worded_by_the_reference():
    program = celx.compile_expression("object.spec.replicas > 1")
    with pytest.raises(celx.CELEvalError, match=r"^no such key: spec$"):
        celx.run(program, celx.Context({"object": {"kind": "Pod"}}))


def test_extension_calls_stay_on_the_reference():
    program = celx.compile_expression('object.names.join(",") == "a,b"')
    assert program.fast is None
    functions = celx.extensions_used([program.source])
    context = celx.Context({"object": {"names": ["a", "b"]}}, functions)
    assert celx.run(program, context) is True


def test_compile_errors_are_the_references():
    with pytest.raises(celx.CELCompileError) as caught:
        celx.compile_expression("object.kind ==")
    assert "condition" in str(caught.value)


def test_conditions_run_together_and_alone_when_one_errs():
    fine = celx.compile_expression('object.kind == "Pod"')
    listed = celx.compile_expression('[object.kind + " web"]')
    broken = celx.compile_expression("object.spec.replicas > 1")
    context = celx.Context({"object": {"kind": "Pod"}})
    # (alone for the first few resources, together from then on: the same results either way)
    for _ in range(celx.TOGETHER_AFTER + 2):
        assert celx.run_all((fine, listed), context) == [True, ["Pod web"]]
        first, error, last = celx.run_all((fine, broken, listed), context)
        assert (first, last) == (True, ["Pod web"])
        assert isinstance(error, celx.CELEvalError) and str(error) == "no such key: spec"
    assert celx._together((fine, listed)) is not None


def test_a_condition_ending_in_a_comment_runs_together():
    commented = celx.compile_expression('object.kind == "Pod" // the kind')
    other = celx.compile_expression("object.kind.size() > 10")
    assert celx._together((commented, other)) is not None
    context = celx.Context({"object": {"kind": "Pod"}})
    for _ in range(celx.TOGETHER_AFTER + 2):
        assert celx.run_all((commented, other), context) == [True, False]


def test_conditions_only_the_reference_runs_keep_their_place_among_the_others():
    joined = celx.compile_expression('object.names.join(",")')  # an extension: reference only
    fine = celx.compile_expression('object.kind == "Pod"')
    size = celx.compile_expression("object.names.size()")
    assert joined.fast is None and celx._together((fine, joined, size)) is not None
    context = celx.Context(
        {"object": {"kind": "Pod", "names": ["a", "b"]}}, celx.extensions_used([joined.source])
    )
    for _ in range(celx.TOGETHER_AFTER + 2):
        assert celx.run_all((fine, joined, size), context) == [True, "a,b", 2]


def test_a_list_of_the_wrong_length_is_not_matched_to_policies(monkeypatch):
    fine = celx.compile_expression('object.kind == "Pod"')
    other = celx.compile_expression('object.kind == "Job"')
    wrong = celx._fast_environment().compile("[true, true, true]", disable_check=True)
    monkeypatch.setattr(celx, "_together", lambda programs: (wrong, 2))
    monkeypatch.setitem(celx._runs, (fine, other), celx.TOGETHER_AFTER)
    context = celx.Context({"object": {"kind": "Pod"}})
    assert celx.run_all((fine, other), context) == [True, False]  # each alone instead


_LOCAL = """id: local.{n}
title: t
description: d
remediation: r
severity: low
enforcement: advisory
target: kubernetes
match: {{kinds: [Pod]}}
condition: '{condition}'
message: "found {{value}}"
exceptions: {{allowed: true, max_days: 30}}
standards: []
"""


@pytest.mark.parametrize("rounds", [1, celx.TOGETHER_AFTER + 2])  # alone, then together
def test_values_that_are_not_data_are_the_references_to_give(rounds):
    """A CEL type or bytes from the fast interpreter is not a finding's stuff: the reference
    evaluates those conditions, so they fail as they always did (and never crash a scan)."""
    from bot.engine.loader import load_policy_text

    conditions = ["type(1)", '[b"ab"]', '["plain"]']
    policies = [
        load_policy_text(_LOCAL.format(n=i, condition=c), "local.yaml", "local", trusted=True)
        for i, c in enumerate(conditions)
    ]
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n"
    engine = Engine(policies)
    for _ in range(rounds):
        result = engine.evaluate([SourceFile("a.yaml", pod)])
    assert [f.message for f in result.findings] == ["found plain"]
    assert [e.message for e in result.errors] == [
        "evaluation failed on Pod/a: condition returned str; it must return a bool or a list",
        "evaluation failed on Pod/a: condition returned a list holding bytes; "
        "items must be maps or strings",
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('size("héllo") == 5', True),  # code points, as the specification counts (cel: bytes)
        ('[{"a": 1}, {"s": {"p": true}}].exists(c, c.s.p)', True),  # the error absorbed
        ('[{"a": 1}, {"s": {"p": false}}].all(c, c.s.p)', False),
    ],
)
def test_where_both_answer_the_specifications_reading_holds(condition, expected):
    """DESIGN.md, "CEL": the corners where the reference reads CEL otherwise."""
    assert celx.run(celx.compile_expression(condition), celx.Context({})) is expected


def test_the_extension_names_written_out_are_the_reference_librarys():
    library = celx._reference_cel().stdlib.EXTENSIONS
    assert {name for group in library.values() for name in group} == celx.EXTENSIONS
