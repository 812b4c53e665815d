"""Neutral records of the policy engine: policies, the things they look at, and what they find.

These are plain frozen dataclasses so the core can pass them around, compare them in tests and
serialise them to the JSON contract. Nothing here parses, evaluates or does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, Literal

Severity = Literal["low", "medium", "high", "critical"]
Enforcement = Literal["blocking", "advisory"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A Kubernetes-style object inside a file: ``Deployment/prod/web``."""

    kind: str
    name: str | None
    namespace: str | None = None

    def __str__(self) -> str:
        parts = [self.kind, self.namespace, self.name or "?"]
        return "/".join(p for p in parts if p)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "namespace": self.namespace}

    def __reduce__(self) -> tuple[Any, ...]:
        return (ResourceRef, (self.kind, self.name, self.namespace))


@dataclass(frozen=True)
class ExceptionPolicy:
    """How a policy may be opted out of."""

    allowed: bool = True
    max_days: int = 90
    broad_paths: bool = False  # may an exception scope start with a wildcard (``**``, ``*.yaml``)?


@dataclass(frozen=True)
class Fixture:
    """An example a policy must flag (``fail``) or leave alone (``pass``)."""

    expect: Literal["pass", "fail"]
    path: str
    content: str
    line: int  # where the fixture is written in the policy file
    findings: int | None = None  # for ``fail``: exactly this many findings, when given
    pull_request: dict[str, Any] | None = field(default=None, hash=False)  # pull-request target
    name: str = ""


@dataclass(frozen=True)
class Policy:
    id: str
    title: str
    description: str
    remediation: str
    severity: Severity
    enforcement: Enforcement
    target: str
    files: tuple[str, ...]  # globs from the repository root; empty: the target's defaults
    exclude: tuple[str, ...]
    match: dict[str, Any] = field(hash=False)  # target-specific selection (kinds, pattern)
    condition: str
    message: str
    exceptions: ExceptionPolicy
    standards: tuple[str, ...]
    pack: str
    source: str  # the file it was loaded from
    line: int
    fixtures: tuple[Fixture, ...] = ()
    tags: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "enforcement": self.enforcement,
            "target": self.target,
            "standards": list(self.standards),
            "pack": self.pack,
            "exceptions": {
                "allowed": self.exceptions.allowed,
                "max_days": self.exceptions.max_days,
            },
        }


@dataclass(frozen=True)
class SourceFile:
    """A file as it is at the commit under review (or on disk, for ``scan``)."""

    path: str  # relative, forward slashes
    text: str


@dataclass
class Subject:
    """One thing a policy judges: a Kubernetes resource, a YAML document, a line, a PR."""

    path: str
    line: int
    variables: dict[str, Any]  # the CEL activation
    resource: ResourceRef | None = None
    locate: Callable[[str], int | None] = field(default=lambda _p: None, repr=False)
    # field path (``spec.containers[0].image``) -> line, for precise annotations
    key: str = ""  # groups subjects whose CEL context can be shared (one per document)


@dataclass(frozen=True, slots=True, init=False)  # one per finding: no per-instance __dict__
class Finding:
    policy: str
    severity: Severity
    enforcement: Enforcement
    path: str
    line: int
    message: str
    resource: ResourceRef | None = None
    title: str = ""

    def __init__(
        self,
        policy: str,
        severity: Severity,
        enforcement: Enforcement,
        path: str,
        line: int,
        message: str,
        resource: ResourceRef | None = None,
        title: str = "",
    ) -> None:
        # The generated ``__init__`` of a frozen dataclass calls ``object.__setattr__`` per
        # field; the slots' own setters do the same in 0.6 of the instructions, once per
        # finding (``tests/test_perfinding_records.py``: it behaves as the generated one).
        _set_policy(self, policy)
        _set_severity(self, severity)
        _set_enforcement(self, enforcement)
        _set_path(self, path)
        _set_line(self, line)
        _set_message(self, message)
        _set_resource(self, resource)
        _set_title(self, title)

    def sort_key(self) -> tuple[Any, ...]:
        return finding_order(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as the call that makes it: a quarter of the default's time either way, and
        # findings cross from the evaluation processes by the hundred thousand on large scans
        return (Finding, _finding_fields(self))


def slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The setter of field ``name`` of a dataclass with slots, which sets it on a frozen one
    too: for an ``__init__`` of one that is made once per finding."""
    return vars(cls)[name].__set__


_set_policy = slot_setter(Finding, "policy")
_set_severity = slot_setter(Finding, "severity")
_set_enforcement = slot_setter(Finding, "enforcement")
_set_path = slot_setter(Finding, "path")
_set_line = slot_setter(Finding, "line")
_set_message = slot_setter(Finding, "message")
_set_resource = slot_setter(Finding, "resource")
_set_title = slot_setter(Finding, "title")
_finding_fields = attrgetter(*(f.name for f in fields(Finding)))
# ``Finding.sort_key`` without a Python call per finding: a sort's key (report order).
finding_order: Callable[[Finding], tuple[Any, ...]] = attrgetter(
    "path", "line", "policy", "message"
)


@dataclass(frozen=True)
class EvalError:
    """Something could not be judged; fail-closed callers treat it as blocking."""

    message: str
    path: str | None = None
    line: int | None = None
    policy: str | None = None

    def __str__(self) -> str:
        where = self.path or ""
        if self.path and self.line:
            where += f":{self.line}"
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.message}" + (f" (policy {self.policy})" if self.policy else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "policy": self.policy,
            "message": self.message,
        }


@dataclass(frozen=True)
class PullRequestFacts:
    """What the ``pull-request`` target sees of a change (forge-neutral)."""

    title: str = ""
    body: str = ""
    labels: tuple[str, ...] = ()
    author: str = ""
    changed_paths: tuple[str, ...] = ()
    base_ref: str = ""
    head_ref: str = ""
    draft: bool = False

    def variables(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "body": self.body,
            "labels": list(self.labels),
            "author": self.author,
            "changed_paths": list(self.changed_paths),
            "base_ref": self.base_ref,
            "head_ref": self.head_ref,
            "draft": self.draft,
        }


def closest_policy(name: str, policies: Iterable[Policy]) -> str | None:
    """The id of the policy a mistyped or guessed ``name`` most likely means, or None.

    A guessed id often names the field a policy checks (``k8s.host-network`` for
    ``spec.hostNetwork``, which ``k8s.host-namespaces`` covers), which spelling distance alone
    gets wrong (it says ``k8s.host-ports``): so a policy whose condition reads that field wins.
    """
    policies = list(policies)
    words = re.split(r"[-_]", name.rsplit(".", 1)[-1])
    field_name = words[0] + "".join(w.capitalize() for w in words[1:])
    if len(words) > 1:
        pattern = re.compile(rf"\b{re.escape(field_name)}\b", re.IGNORECASE)
        readers = [p.id for p in policies if pattern.search(p.condition)]
        if len(readers) == 1:
            return readers[0]
    import difflib  # only for a mistyped id: not at every start

    close = difflib.get_close_matches(name, sorted(p.id for p in policies), n=1)
    return close[0] if close else None
