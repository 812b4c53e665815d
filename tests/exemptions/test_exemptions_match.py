"""Matching findings to exceptions: globs, resources, case, order, expiry, unused entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.engine.model import ResourceRef
from bot.exemptions import apply, parse
from bot.exemptions.model import ExemptionEntry

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def entry(
    entry_id: str = "E",
    paths: tuple[str, ...] = ("deploy/**",),
    resources: tuple[str, ...] = (),
    policy: str = "k8s.privileged",
    expires: str = "2026-03-01",
    line: int = 1,
) -> ExemptionEntry:
    data = {
        "id": entry_id,
        "policy": policy,
        "paths": list(paths),
        "reason": "a reason that is long enough",
        "expires": expires,
    }
    if resources:
        data["resources"] = list(resources)
    return ExemptionEntry.from_mapping(data, line=line)


GLOBS = [
    # (glob, path, covered)
    ("deploy/**", "deploy/a.yaml", True),
    ("deploy/**", "deploy/x/y/z.yaml", True),
    ("deploy/**", "Deploy/x.yaml", False),  # case-sensitive, like git
    ("deploy/**", "DEPLOY/x.yaml", False),
    ("deploy/**", "other/deploy/x.yaml", False),  # anchored at the root
    ("deploy/**", "deploy", False),
    ("deploy/app/**", "deploy/app-evil/x.yaml", False),  # no prefix matching
    ("deploy/*.yaml", "deploy/a.yaml", True),
    ("deploy/*.yaml", "deploy/sub/a.yaml", False),
    ("deploy/*.yaml", "deploy/a.yml", False),
    ("app.yaml", "app.yaml", True),
    ("app.yaml", "sub/app.yaml", False),
    ("deploy/a.yaml", "deploy/A.yaml", False),
    ("deploy", "deploy/x.yaml", True),  # a folder covers what is in it (gitignore)
    ("**/x.yaml", "a/b/x.yaml", True),
    ("deploy/[ab].yaml", "deploy/b.yaml", True),
    ("deploy/[ab].yaml", "deploy/c.yaml", False),
]


@pytest.mark.parametrize(("glob", "path", "covered"), GLOBS)
def test_globs(make_finding, glob, path, covered):
    assert entry(paths=(glob,)).covers(make_finding(path=path)) is covered


def test_any_of_several_paths(make_finding):
    e = entry(paths=("a/**", "b/x.yaml"))
    assert e.covers(make_finding(path="a/1.yaml"))
    assert e.covers(make_finding(path="b/x.yaml"))
    assert not e.covers(make_finding(path="b/y.yaml"))


def test_other_policy_is_not_covered(make_finding):
    assert not entry().covers(make_finding(policy="k8s.host-network"))


NE = ("DaemonSet/monitoring/node-exporter",)
RESOURCES = [
    # (entry resources, finding resource, covered)
    (NE, ResourceRef("DaemonSet", "node-exporter", "monitoring"), True),
    (NE, ResourceRef("DaemonSet", "node-exporter", "default"), False),
    (NE, ResourceRef("DaemonSet", "node-exporter"), False),
    (NE, ResourceRef("Deployment", "node-exporter", "monitoring"), False),
    (NE, ResourceRef("daemonset", "node-exporter", "monitoring"), False),
    (NE, ResourceRef("DaemonSet", "Node-Exporter", "monitoring"), False),
    # Kind/name names a resource whose manifest sets no namespace, not "any namespace"
    (("DaemonSet/node-exporter",), ResourceRef("DaemonSet", "node-exporter"), True),
    (("DaemonSet/node-exporter",), ResourceRef("DaemonSet", "node-exporter", "monitoring"), False),
    (("Pod/a", "Pod/ns/b"), ResourceRef("Pod", "b", "ns"), True),
    (("Pod/a",), ResourceRef("Pod", None), False),
    (("Pod/a",), None, False),
]  # fmt: skip


@pytest.mark.parametrize(("resources", "resource", "covered"), RESOURCES)
def test_resources(make_finding, resources, resource, covered):
    assert entry(resources=resources).covers(make_finding(resource=resource)) is covered


def test_without_resources_every_resource_in_the_paths_is_covered(make_finding):
    e = entry()
    assert e.covers(make_finding(resource=ResourceRef("Pod", "x", "y")))
    assert e.covers(make_finding(resource=None))


# -- apply ---------------------------------------------------------------------------------------


def test_first_entry_in_file_order_wins(make_finding):
    first, second = entry("FIRST", line=3), entry("SECOND", line=10)
    f = make_finding()
    result = apply([first, second], [f], NOW)
    assert result.entry_for(f) == first
    assert result.applied == {first: (f,)}
    assert result.unused == (second,)


def test_expired_entry_is_never_applied(make_finding):
    old = entry("OLD", expires="2026-01-14")
    fresh = entry("FRESH", paths=("other/**",))
    f = make_finding()
    result = apply([old, fresh], [f], NOW)
    assert result.entry_for(f) is None
    assert result.uncovered([f]) == [f]
    assert result.expired == (old,)
    assert result.applied == {}
    assert result.unused == (fresh,)


def test_expired_entry_yields_to_a_later_live_one(make_finding):
    old, live = entry("OLD", expires="2026-01-14"), entry("LIVE")
    f = make_finding()
    assert apply([old, live], [f], NOW).entry_for(f) == live


def test_expiry_boundary_in_apply(make_finding):
    e = entry(expires="2026-01-15")
    f = make_finding()
    end_of_day = datetime(2026, 1, 15, 23, 59, 59, tzinfo=UTC)
    assert apply([e], [f], end_of_day).entry_for(f) == e
    midnight = datetime(2026, 1, 16, tzinfo=UTC)
    result = apply([e], [f], midnight)
    assert result.entry_for(f) is None and result.expired == (e,)


def test_applied_lists_every_covered_finding_in_order(make_finding):
    a, b = entry("A", paths=("a/**",)), entry("B", paths=("b/**",))
    fa1, fb, fa2 = (
        make_finding(path="a/1.yaml"),
        make_finding(path="b/1.yaml"),
        make_finding(path="a/2.yaml"),
    )
    loose = make_finding(path="c/1.yaml")
    result = apply([a, b], [fa1, fb, fa2, loose], NOW)
    assert result.applied == {a: (fa1, fa2), b: (fb,)}
    assert list(result.applied) == [a, b]
    assert result.uncovered([fa1, fb, fa2, loose]) == [loose]
    assert result.unused == ()


def test_expiring_soon():
    soon = entry("SOON", expires="2026-01-20")
    later = entry("LATER", expires="2026-03-01")
    gone = entry("GONE", expires="2026-01-01")
    result = apply([later, soon, gone], [], NOW)
    assert result.expiring_soon(7) == (soon,)
    assert result.expiring_soon(60) == (soon, later)
    assert result.expiring_soon(0) == ()
    assert gone not in result.expiring_soon(365)


def test_apply_needs_an_aware_now(make_finding):
    with pytest.raises(ValueError, match="timezone-aware"):
        apply([entry()], [make_finding()], datetime(2026, 1, 15))


def test_apply_uses_only_the_given_now(make_finding):
    e, f = entry(expires="2026-01-15"), make_finding()
    assert apply([e], [f], NOW - timedelta(days=365)).entry_for(f) == e
    assert apply([e], [f], NOW + timedelta(days=1)).entry_for(f) is None


def test_parsed_entries_match_end_to_end(make_finding):
    parsed, problems = parse(
        "version: 1\nexceptions:\n  - id: EXC-7\n    policy: k8s.privileged\n"
        '    paths: ["deploy/node-exporter/**"]\n'
        '    resources: ["DaemonSet/monitoring/node-exporter"]\n'
        "    reason: node-exporter reads host metrics through hostPID\n"
        "    expires: 2026-12-31\n"
    )
    assert parsed is not None and problems == []
    hit = make_finding(
        path="deploy/node-exporter/ds.yaml",
        resource=ResourceRef("DaemonSet", "node-exporter", "monitoring"),
    )
    miss = make_finding(
        path="deploy/node-exporter/ds.yaml",
        resource=ResourceRef("DaemonSet", "other", "monitoring"),
    )
    result = apply(parsed.entries, [hit, miss], NOW)
    assert result.entry_for(hit) is not None and result.entry_for(hit).id == "EXC-7"
    assert result.entry_for(miss) is None
