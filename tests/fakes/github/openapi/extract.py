"""Cut GitHub's OpenAPI description down to what the fake serves; write the vendored subset.

    python tests/fakes/github/openapi/extract.py                 # runs npm pack @octokit/openapi
    python tests/fakes/github/openapi/extract.py --spec FILE.json  # an unpacked description

Keeps exactly the operations registered on the fake's router and the webhook payload schemas of
the events the fake sends (`events.SENT`), plus every component they reference, transitively.
Drops examples (unused for validation) to keep the file small. Reads only what it is given or
what npm fetches; writes only `api.github.com.subset.json` beside this script.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[2]
PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
MEMBER = "package/generated/api.github.com.json"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


def load_spec(spec: Path | None, version: str) -> dict[str, Any]:
    if spec is not None:
        return json.loads(spec.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"{PACKAGE}@{version}", "--silent"], cwd=tmp, check=True)
        tarball = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(MEMBER)
            assert member is not None, MEMBER
            return json.loads(member.read())


def served() -> tuple[list[tuple[str, str]], list[str]]:
    sys.path.insert(0, str(TESTS))
    from fakes.github import handlers  # noqa: F401  (registers the routes)
    from fakes.github.events import SENT
    from fakes.github.openapi.validator import webhook_schema_name
    from fakes.github.router import ROUTER

    return ROUTER.operations(), [webhook_schema_name(e, a) for e, a in SENT]


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _strip_examples(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_examples(v) for k, v in node.items() if k not in ("examples", "example")}
    if isinstance(node, list):
        return [_strip_examples(v) for v in node]
    return node


# Defects in GitHub's description that would make the fake refuse what GitHub really accepts
# or sends. Each is (JSON pointer into the subset, what is wrong, the fix); the fixes are listed
# in the subset's info so nobody mistakes them for GitHub's text.
def _all_of_to_any_of(node: dict[str, Any]) -> None:
    assert "allOf" in node, "defect gone upstream? remove the patch"
    node["anyOf"] = node.pop("allOf")


def _accept_bare_label_array(node: dict[str, Any]) -> None:
    variants = node["oneOf"]
    assert len(variants) == 1, "defect gone upstream? remove the patch"
    variants.append({"type": "array", "minItems": 1, "items": {"type": "string"}})


def _drop_discriminator(node: dict[str, Any]) -> None:
    assert "discriminator" in node, "defect gone upstream? remove the patch"
    del node["discriminator"]


PATCHES: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
    (
        "/paths/~1repos~1{owner}~1{repo}~1contents~1{path}/get/responses/200/content"
        "/application~1json/schema",
        "a directory's contents are an array, which a `type` discriminator cannot select; "
        "keep the oneOf and drop the discriminator",
        _drop_discriminator,
    ),
    (
        "/paths/~1app~1installations/get/responses/200/content/application~1json/schema"
        "/items/properties/account",
        "account is allOf [Simple User, Enterprise], which nothing satisfies; the "
        "component schema `installation` says anyOf: use anyOf",
        _all_of_to_any_of,
    ),
    (
        "/paths/~1repos~1{owner}~1{repo}~1issues~1{issue_number}~1labels/post/requestBody"
        "/content/application~1json/schema",
        "the description says 'You can also pass an array of labels directly' (PyGithub "
        "does), but the schema only has the object form: add the array form",
        _accept_bare_label_array,
    ),
]


def _node(document: Any, pointer: str) -> Any:
    for part in pointer.lstrip("/").split("/"):
        document = document[part.replace("~1", "/").replace("~0", "~")]
    return document


def apply_patches(subset: dict[str, Any]) -> list[str]:
    applied = []
    for pointer, why, fix in PATCHES:
        fix(_node(subset, pointer))
        applied.append(f"{pointer}: {why}")
    return applied


def extract(spec: dict[str, Any], operations: list[tuple[str, str]], hooks: list[str]) -> dict:
    paths: dict[str, Any] = {}
    missing = []
    for method, template in operations:
        item = spec["paths"].get(template)
        if item is None or method.lower() not in item:
            missing.append(f"{method} {template}")
            continue
        out = paths.setdefault(template, {})
        if "parameters" in item:
            out["parameters"] = item["parameters"]
        out[method.lower()] = item[method.lower()]
    webhooks: dict[str, Any] = {}
    for name in hooks:
        if name not in spec.get("x-webhooks", {}):
            missing.append(f"webhook {name}")
            continue
        webhooks[name] = spec["x-webhooks"][name]
    if missing:
        raise SystemExit("not in GitHub's description: " + ", ".join(missing))
    paths = _strip_examples(paths)
    webhooks = _strip_examples(webhooks)
    components: dict[str, dict[str, Any]] = {}
    pending: set[str] = set()
    _refs([paths, webhooks], pending)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, section, name = ref.split("/", 3)
        if section == "examples":
            continue
        node = _strip_examples(spec["components"][section][name])
        components.setdefault(section, {})[name] = node
        _refs(node, pending)
    for section in components.values():
        for key in sorted(section):
            section[key] = section.pop(key)
    info = dict(spec["info"])
    info["x-subset-of"] = f"npm {PACKAGE}@{info.get('version')}, generated/api.github.com.json"
    others = {
        template: [m for m in item if m in METHODS and (m.upper(), template) not in operations]
        for template, item in spec["paths"].items()
    }
    return {
        "openapi": spec["openapi"],
        "info": info,
        "paths": dict(sorted(paths.items())),
        # Names of GitHub's other operations, so that a call the fake does not serve is
        # reported as "unserved" rather than as an unknown path.
        "x-github-operations": {t: m for t, m in sorted(others.items()) if m},
        "x-webhooks": dict(sorted(webhooks.items())),
        "components": dict(sorted(components.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, help="an unpacked api.github.com.json")
    parser.add_argument("--version", default=VERSION, help=f"{PACKAGE} version (default {VERSION})")
    parser.add_argument(
        "--out", type=Path, default=HERE / "api.github.com.subset.json", help="output file"
    )
    args = parser.parse_args(argv)
    spec = load_spec(args.spec, args.version)
    operations, hooks = served()
    subset = extract(spec, operations, hooks)
    subset["info"]["x-fake-patches"] = apply_patches(subset)
    args.out.write_text(json.dumps(subset, indent=1, sort_keys=False) + "\n")
    print(
        f"{args.out.name}: {len(operations)} operations, {len(hooks)} webhooks, "
        f"{sum(len(s) for s in subset['components'].values())} components"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
