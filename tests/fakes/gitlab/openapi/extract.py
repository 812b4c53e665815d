"""Cut GitLab's OpenAPI (Swagger 2.0) description down to what the fake serves.

    python tests/fakes/gitlab/openapi/extract.py --spec path/to/openapi_v2.yaml

`openapi_v2.yaml` is `doc/api/openapi/openapi_v2.yaml` of gitlab-org/gitlab (mirrored as
gitlabhq/gitlabhq on GitHub). Keeps the operations registered on the fake's router (under
`/api/v4`), reduced to what validation reads: `operationId`, `deprecated`, the parameters' names,
places and JSON-schema keywords (descriptions and examples dropped), and the definitions their
request bodies reference, transitively. Response schemas are dropped: the fake does not check its
answers against GitLab's entities, which the description types loosely. Then applies the patches
below, each a defect of GitLab's description that would make the fake refuse what GitLab accepts.
Reads only the file it is given; writes only `openapi_v2.subset.json` beside this script.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[2]
PREFIX = "/api/v4"
METHODS = ("get", "put", "post", "patch", "delete", "head")
PARAM_KEYS = (
    "in",
    "name",
    "type",
    "format",
    "enum",
    "items",
    "required",
    "default",
    "minimum",
    "maximum",
    "schema",
)
SCHEMA_KEYS = (
    "type",
    "format",
    "enum",
    "items",
    "properties",
    "required",
    "default",
    "minimum",
    "maximum",
    "$ref",
    "additionalProperties",
)
SOURCE = {
    "repository": "gitlab-org/gitlab (GitHub mirror gitlabhq/gitlabhq)",
    "path": "doc/api/openapi/openapi_v2.yaml",
    "commit": "0338625c4996c8b4dde44bd86d1767b654121ee7",
    "licence": "MIT (GitLab Community Edition), Copyright (c) 2011-present GitLab Inc.",
}


def served() -> list[tuple[str, str]]:
    sys.path.insert(0, str(TESTS))
    from fakes.gitlab import handlers  # noqa: F401  (registers the routes)
    from fakes.gitlab.router import ROUTER

    return ROUTER.operations()


def _reduce_schema(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key not in SCHEMA_KEYS:
                continue
            if key == "properties":
                out[key] = {name: _reduce_schema(prop) for name, prop in value.items()}
            else:
                out[key] = _reduce_schema(value)
        return out
    if isinstance(node, list):
        return [_reduce_schema(v) for v in node]
    return node


def _reduce_param(param: dict[str, Any]) -> dict[str, Any]:
    out = {k: param[k] for k in PARAM_KEYS if k in param}
    if "items" in out:
        out["items"] = _reduce_schema(out["items"])
    if "schema" in out:
        out["schema"] = _reduce_schema(out["schema"])
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


# -- patches: defects of GitLab's description (each asserts the defect is still there) -----------
def _branch_is_a_string(subset: dict[str, Any]) -> str:
    op = subset["paths"][f"{PREFIX}/projects/{{id}}/repository/branches/{{branch}}"]["get"]
    param = next(p for p in op["parameters"] if p["name"] == "branch")
    assert param.get("type") == "integer", "defect gone upstream? remove the patch"
    param.pop("format", None)
    param["type"] = "string"
    return (
        "GET /projects/{id}/repository/branches/{branch}: `branch` is declared an integer "
        "(the other operations of the path say string, and GitLab takes branch names): string"
    )


def _commit_actions_body(subset: dict[str, Any]) -> str:
    definition = subset["definitions"]["postApiV4ProjectsIdRepositoryCommits"]
    assert list(definition.get("properties", {})) == ["file"], "defect gone upstream?"
    action = {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["create", "delete", "move", "update", "chmod"]},
            "file_path": {"type": "string"},
            "previous_path": {"type": "string"},
            "content": {"type": "string"},
            "encoding": {"type": "string", "enum": ["text", "base64"]},
            "last_commit_id": {"type": "string"},
            "execute_filemode": {"type": "boolean"},
        },
        "required": ["action", "file_path"],
    }
    subset["definitions"]["postApiV4ProjectsIdRepositoryCommits"] = {
        "type": "object",
        "properties": {
            "branch": {"type": "string"},
            "commit_message": {"type": "string"},
            "start_branch": {"type": "string"},
            "start_sha": {"type": "string"},
            "start_project": {"type": "string"},
            "actions": {"type": "array", "items": action},
            "author_email": {"type": "string"},
            "author_name": {"type": "string"},
            "stats": {"type": "boolean"},
            "force": {"type": "boolean"},
        },
        "required": ["branch", "commit_message", "actions"],
    }
    return (
        "POST /projects/{id}/repository/commits: the body is declared as a multipart `file` "
        "(a Workhorse artefact); GitLab reads the JSON parameters of doc/api/commits.md "
        "(branch, commit_message, actions[] ...): those, from that page"
    )


PATCHES: list[Callable[[dict[str, Any]], str]] = [_branch_is_a_string, _commit_actions_body]


def extract(spec: dict[str, Any], operations: list[tuple[str, str]]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    missing = []
    for method, template in operations:
        item = spec.get("paths", {}).get(PREFIX + template)
        op = item.get(method.lower()) if item else None
        if op is None:
            missing.append(f"{method} {template}")
            continue
        reduced: dict[str, Any] = {"operationId": op.get("operationId")}
        if op.get("deprecated"):
            reduced["deprecated"] = True
        reduced["parameters"] = [_reduce_param(p) for p in op.get("parameters", [])]
        paths.setdefault(PREFIX + template, {})[method.lower()] = reduced
    wanted: set[str] = set()
    _refs(paths, wanted)
    definitions: dict[str, Any] = {}
    while wanted:
        name = wanted.pop()
        if name in definitions:
            continue
        definitions[name] = _reduce_schema(spec["definitions"][name])
        _refs(definitions[name], wanted)
    subset = {
        "swagger": spec.get("swagger", "2.0"),
        "info": {**spec.get("info", {}), "x-subset-of": SOURCE},
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
        "x-not-vendored": sorted(missing),
    }
    subset["info"]["x-fake-patches"] = [patch(subset) for patch in PATCHES]
    return subset


def main(argv: list[str] | None = None) -> int:
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True, help="openapi_v2.yaml")
    parser.add_argument("--out", type=Path, default=HERE / "openapi_v2.subset.json")
    args = parser.parse_args(argv)
    spec = yaml.safe_load(args.spec.read_text())
    subset = extract(spec, served())
    args.out.write_text(json.dumps(subset, indent=1) + "\n")
    print(
        f"{args.out.name}: {sum(len(v) for v in subset['paths'].values())} operations, "
        f"{len(subset['definitions'])} definitions, {len(subset['x-not-vendored'])} not vendored"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
