"""Kubernetes manifests: every resource of a multi-document YAML file, with its pod spec exposed.

Each document with a string ``apiVersion`` and ``kind`` is a resource (items of a ``kind: List``
too). For workloads (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
ReplicationController, PodTemplate) the pod template is found once here, so a policy about pods
is written once and judges every controller by its template, as the Pod Security Standards do.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, ClassVar

from bot import safeyaml
from bot.engine.model import ResourceRef, SourceFile, Subject
from bot.engine.targets.base import FileTarget, MatchError, TargetError

# kind -> path of the pod template (metadata + spec) inside the resource
POD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
WORKLOAD_KINDS = tuple(POD_TEMPLATES)


def _dotted(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _dig(value: Any, parts: Iterable[str]) -> Any:
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class KubernetesTarget(FileTarget):
    name = "kubernetes"
    default_files = ("**/*.yaml", "**/*.yml")
    # the bot's own files (exceptions, config, repository policies) are YAML but not manifests
    default_exclude = (".compliance/**",)
    match_keys = frozenset({"kinds"})
    variables: ClassVar[dict[str, str]] = {
        "object": "the resource as written",
        "kind": "its kind",
        "name": "metadata.name, or null",
        "namespace": "metadata.namespace, or null (in messages: `namespace` is a reserved "
        "word in CEL, so conditions read metadata.namespace)",
        "metadata": "the resource's metadata, defaulted to {}",
        "pod": "for workloads: {metadata, spec, path} of the pod template "
        "(metadata has labels and annotations, spec has securityContext, defaulted to {}, and "
        "volumes, each with _path); "
        "null otherwise",
        "containers": "every container, init container and ephemeral container of the pod, "
        "each with securityContext defaulted to {} plus _type (containers, initContainers, "
        "ephemeralContainers) and _path (the field path of the container); [] otherwise",
    }

    def compile_match(self, match: dict[str, Any]) -> Any:
        super().compile_match(match)
        kinds = match.get("kinds", [])
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise MatchError("match.kinds must be a list of kind names")
        expanded: set[str] = set()
        for kind in kinds:
            # "Pod" in a policy means "anything that makes pods": the controllers are judged too
            expanded.update(WORKLOAD_KINDS if kind == "Pod" else (kind,))
        return frozenset(expanded)

    def select(self, compiled_match: Any, subject: Subject) -> Iterable[Subject]:
        if not compiled_match or (subject.resource and subject.resource.kind in compiled_match):
            return (subject,)
        return ()

    def selection_key(self, subject: Subject) -> Any:
        return subject.resource.kind if subject.resource else None  # (``select`` reads no more)

    def subjects(self, file: SourceFile) -> list[Subject]:
        try:
            docs = safeyaml.load_all(file.text, safeyaml.MANIFEST)
        except safeyaml.YAMLError as exc:
            raise TargetError(exc.reason, exc.line) from None
        out: list[Subject] = []
        for index, doc in enumerate(docs):
            value = doc.value
            if not _is_resource(value):
                continue
            if value["kind"] == "List" and isinstance(value.get("items"), list):
                for i, item in enumerate(value["items"]):
                    if _is_resource(item):
                        line = doc.line_of(["items", i]) or doc.line
                        out.append(
                            _subject(file.path, item, line, doc, ("items", i), f"{index}.{i}")
                        )
                continue
            out.append(_subject(file.path, value, doc.line, doc, (), str(index)))
        return out


def _is_resource(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("apiVersion"), str)
        and isinstance(value.get("kind"), str)
    )


def _subject(
    path: str,
    obj: dict[str, Any],
    line: int,
    doc: safeyaml.Document,
    prefix: tuple[Any, ...],
    key: str,
) -> Subject:
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = metadata.get("name") if isinstance(metadata.get("name"), str) else None
    namespace = metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else None
    kind = obj["kind"]
    pod, containers = _pod_view(kind, obj)

    located: dict[str, int | None] = {}  # several policies often name the same field

    def locate(field_path: str) -> int | None:
        found = located.get(field_path, 0)
        if found == 0:
            found = located[field_path] = doc.line_of(prefix + _field_parts(field_path))
        return found

    return Subject(
        path=path,
        line=line,
        resource=ResourceRef(kind, name, namespace),
        variables={
            "object": obj,
            "metadata": metadata,
            "kind": kind,
            "name": name,
            "namespace": namespace,
            "pod": pod,
            "containers": containers,
        },
        locate=locate,
        key=f"{path}#{key}",
    )


@functools.lru_cache(maxsize=1024)
def _field_parts(field_path: str) -> tuple[Any, ...]:
    """``spec.containers[0].image`` as keys, split once per distinct path in the process (the
    same few paths come back on every resource)."""
    return tuple(safeyaml.split_path(field_path))


@functools.cache  # (one entry per kind of workload: POD_TEMPLATES)
def _template_paths(where: tuple[str, ...]) -> tuple[str, str]:
    """The field paths of a pod template's spec and metadata."""
    return _dotted([*where, "spec"]), _dotted([*where, "metadata"])


def _pod_view(kind: str, obj: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Any]]:
    where = POD_TEMPLATES.get(kind)
    if where is None:
        return None, []
    template = _dig(obj, where) if where else obj
    if not isinstance(template, dict):
        return None, []
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return None, []
    metadata = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    spec_path, metadata_path = _template_paths(where)
    spec_view = dict(spec)
    if not isinstance(spec_view.get("securityContext"), dict):
        spec_view["securityContext"] = {}
    volumes = spec.get("volumes") if isinstance(spec.get("volumes"), list) else []
    spec_view["volumes"] = [
        {**v, "_path": f"{spec_path}.volumes[{i}]"} if isinstance(v, dict) else v
        for i, v in enumerate(volumes)
    ]
    meta_view = {
        "labels": metadata.get("labels") if isinstance(metadata.get("labels"), dict) else {},
        "annotations": metadata.get("annotations")
        if isinstance(metadata.get("annotations"), dict)
        else {},
        "path": metadata_path,
    }
    containers: list[dict[str, Any]] = []
    for list_name in CONTAINER_LISTS:
        items = spec.get(list_name)
        if not isinstance(items, list):
            continue
        for i, container in enumerate(items):
            if not isinstance(container, dict):
                continue
            view = dict(container)
            if not isinstance(view.get("securityContext"), dict):
                view["securityContext"] = {}
            if not isinstance(view.get("name"), str):
                view["name"] = f"{list_name}[{i}]"
            view["_type"] = list_name
            view["_path"] = f"{spec_path}.{list_name}[{i}]"
            containers.append(view)
    pod = {"metadata": meta_view, "spec": spec_view, "path": spec_path}
    return pod, containers
