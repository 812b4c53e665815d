"""Checks requests (and, on demand, responses and webhook payloads) against GitHub's OpenAPI.

The fake must not accept what GitHub would refuse, nor let the bot drift onto operations GitHub
does not document. Every request is matched to an operation of the vendored description
(`api.github.com.subset.json`); its path and query parameters and its JSON body are validated
with `openapi-schema-validator`, which implements OpenAPI 3.0's schema dialect (`nullable`,
`readOnly`/`writeOnly`, `discriminator`) on top of `jsonschema`. This module reports problems as
strings and never decides the HTTP answer; the server does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import validators
from jsonschema.exceptions import best_match
from openapi_schema_validator import (
    OAS30ReadValidator,
    OAS30WriteValidator,
    oas30_format_checker,
)
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from ..router import group_name, template_regex

SUBSET = Path(__file__).with_name("api.github.com.subset.json")
SPEC_URI = "urn:github-openapi"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


@dataclass
class RequestCheck:
    """The outcome of checking one request."""

    template: str | None  # the operation's path template, None when GitHub has no such path
    operation_id: str | None = None
    deprecated: bool = False
    problems: list[str] = field(default_factory=list)
    # True when GitHub itself would refuse the request (422/400), not just a smell.
    refused: bool = False
    # The operation's template when GitHub has it but the vendored subset (the fake) does not.
    unserved: str | None = None
    # The body is not JSON at all (GitHub: 400 "Problems parsing JSON").
    unparsable: bool = False


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class OpenApiValidator:
    """Validation against one OpenAPI 3.0 document."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = Resource(contents=spec, specification=DRAFT4)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._operations: list[tuple[str, str, re.Pattern[str], dict[str, Any]]] = []
        for template, item in spec.get("paths", {}).items():
            for method in METHODS:
                op = item.get(method)
                if op is None:
                    continue
                params = self.parameters(item, op)
                multi = {
                    p["name"] for p in params if p["in"] == "path" and p.get("x-multi-segment")
                }
                regex = template_regex(template, multi)
                self._operations.append((method.upper(), template, regex, op))
        # Literal paths before templated ones, single-segment parameters before multi-segment.
        # Every other operation of GitHub's API, by name only (`x-github-operations`).
        self._others: list[tuple[str, str, re.Pattern[str]]] = [
            (method.upper(), template, template_regex(template, set()))
            for template, methods in spec.get("x-github-operations", {}).items()
            for method in methods
        ]
        self._operations.sort(
            key=lambda o: (".+" in o[2].pattern, -len(re.sub(r"\{[^}]+\}", "", o[1])))
        )

    @classmethod
    @cache
    def vendored(cls) -> OpenApiValidator:
        return cls(json.loads(SUBSET.read_text()))

    # -- look-ups ---------------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        while isinstance(node, Mapping) and "$ref" in node:
            parts = node["$ref"].lstrip("#/").split("/")
            target: Any = self.spec
            for part in parts:
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def parameters(self, item: dict[str, Any], op: dict[str, Any]) -> list[dict[str, Any]]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
            param = self.resolve(raw)
            merged[(param["name"], param["in"])] = param
        return list(merged.values())

    def find(self, method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]] | None:
        """(template, operation, path parameters) for a request, or None."""
        for op_method, template, regex, op in self._operations:
            if op_method != method:
                continue
            m = regex.match(path)
            if m:
                return template, op, m.groupdict()
        return None

    def path_exists(self, path: str) -> bool:
        return any(regex.match(path) for _, _, regex, _ in self._operations)

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        return self.spec.get("paths", {}).get(template, {}).get(method.lower())

    # -- requests ---------------------------------------------------------------------------
    def check_request(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        body: bytes,
        content_type: str | None,
    ) -> RequestCheck:
        found = self.find(method, path)
        if found is None:
            check = RequestCheck(template=None)
            unserved = next(
                (t for m, t, rx in self._others if m == method and rx.match(path)), None
            )
            if unserved is not None:
                check.unserved = unserved
                check.problems.append(f"the fake does not serve {method} {unserved}")
            elif self.path_exists(path):
                check.problems.append(f"{method} is not an operation of {path} in GitHub's API")
            else:
                check.problems.append(f"no operation {method} {path} in GitHub's API")
            return check
        template, op, path_params = found
        item = self.spec["paths"][template]
        check = RequestCheck(
            template=template,
            operation_id=op.get("operationId"),
            deprecated=bool(op.get("deprecated")),
        )
        params = self.parameters(item, op)
        for param in params:
            name, where = param["name"], param["in"]
            schema = param.get("schema", {})
            if where == "path":
                value = path_params.get(group_name(name))
                if value is not None:
                    self._check_value(check, f"path parameter {name!r}", schema, [value])
            elif where == "query":
                values = query.get(name)
                if not values:
                    if param.get("required"):
                        check.problems.append(f"missing required query parameter {name!r}")
                        check.refused = True
                    continue
                self._check_value(check, f"query parameter {name!r}", schema, values)
        declared = {p["name"] for p in params if p["in"] == "query"}
        for name in query:
            # GitHub accepts page/per_page everywhere; PyGithub sends them on any list.
            if name not in declared and name not in ("page", "per_page"):
                check.problems.append(f"query parameter {name!r} is not defined for {template}")
        self._check_body(check, template, method, op, body, content_type)
        return check

    def _check_value(
        self, check: RequestCheck, what: str, schema: dict[str, Any], values: list[str]
    ) -> None:
        schema = self.resolve(schema)
        if schema.get("type") == "array":
            items = self.resolve(schema.get("items", {}))
            instance: Any = [_coerce(v, items) for v in values]
        else:
            if len(values) > 1:
                check.problems.append(f"{what} given {len(values)} times")
            instance = _coerce(values[-1], schema)
        errors = list(self._validator(schema, write=True).iter_errors(instance))
        if errors:
            check.problems.append(f"{what}: {best_match(errors).message}")
            check.refused = True

    def _check_body(
        self,
        check: RequestCheck,
        template: str,
        method: str,
        op: dict[str, Any],
        body: bytes,
        content_type: str | None,
    ) -> None:
        request_body = self.resolve(op.get("requestBody")) if op.get("requestBody") else None
        if request_body is None:
            if body.strip() not in (b"", b"{}", b"null"):
                check.problems.append(f"{method} {template} takes no request body")
            return
        if not body.strip():
            if request_body.get("required"):
                check.problems.append("missing required JSON request body")
                check.refused = True
            return
        media = (content_type or "").split(";")[0].strip().lower()
        content = request_body.get("content", {})
        if media and media not in content and "application/json" not in content:
            check.problems.append(f"content type {media!r} is not accepted")
        try:
            instance = json.loads(body)
        except ValueError:
            check.problems.append("request body is not JSON")
            check.unparsable = True
            return
        if "application/json" not in content:
            return
        pointer = _pointer("paths", template, method.lower(), "requestBody")
        if "$ref" in op["requestBody"]:
            pointer = op["requestBody"]["$ref"]
        ref = f"{SPEC_URI}{pointer}/content/application~1json/schema"
        errors = list(self._validator({"$ref": ref}, write=True).iter_errors(instance))
        for error in errors[:5]:
            where = "/".join(str(p) for p in error.absolute_path) or "(body)"
            check.problems.append(f"request body at {where}: {error.message}")
        if errors:
            check.refused = True

    # -- responses and webhooks -------------------------------------------------------------
    def check_response(self, method: str, template: str, status: int, body: Any) -> list[str]:
        op = self.operation(method, template)
        if op is None:
            return [f"no operation {method} {template}"]
        responses = op.get("responses", {})
        key = str(status)
        if key not in responses:
            if status >= 400 or "default" in responses:
                return []
            return [f"{method} {template} does not document status {status}"]
        response = self.resolve(responses[key])
        if "application/json" not in response.get("content", {}) or body is None:
            return []
        pointer = _pointer("paths", template, method.lower(), "responses", key)
        if "$ref" in responses[key]:
            pointer = responses[key]["$ref"]
        return self._problems(f"{pointer}/content/application~1json/schema", body, "response")

    def check_webhook(self, event: str, action: str | None, payload: Any) -> list[str]:
        name = webhook_schema_name(event, action)
        hooks = self.spec.get("x-webhooks", {})
        if name not in hooks:
            return [f"no webhook {name!r} in GitHub's description"]
        pointer = _pointer("x-webhooks", name, "post", "requestBody")
        return self._problems(f"{pointer}/content/application~1json/schema", payload, name)

    def _problems(self, pointer: str, instance: Any, what: str) -> list[str]:
        errors = list(
            self._validator({"$ref": SPEC_URI + pointer}, write=False).iter_errors(instance)
        )
        out = []
        for error in errors[:10]:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            out.append(f"{what} at {where}: {error.message[:300]}")
        return out

    def _validator(self, schema: dict[str, Any], write: bool) -> Any:
        cls = _NullableWrite if write else _NullableRead
        return cls(schema, registry=self.registry, format_checker=oas30_format_checker)


def _nullable_aware(keyword: str, base: Any) -> Any:
    """`keyword` of `base`, except that null passes wherever the schema says `nullable: true`.

    openapi-schema-validator follows OpenAPI 3.0.3 to the letter: `nullable` only widens a
    `type` in the same schema object, so `{nullable: true, enum: [a, b]}` and
    `{nullable: true, anyOf: [...]}` still refuse null. GitHub's description means null is
    allowed there, and GitHub sends it (a commit `author` that is no GitHub user, an open check
    run's `conclusion`); so the fake reads `nullable` the way GitHub writes it.
    """
    original = base.VALIDATORS[keyword]

    def check(validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
        if instance is None and schema.get("nullable") is True:
            return
        yield from original(validator, value, instance, schema) or ()

    return check


def _with_nullable(base: Any) -> Any:
    keywords = ("enum", "anyOf", "oneOf", "allOf", "$ref", "type")
    return validators.extend(base, {k: _nullable_aware(k, base) for k in keywords})


_NullableRead = _with_nullable(OAS30ReadValidator)
_NullableWrite = _with_nullable(OAS30WriteValidator)


def webhook_schema_name(event: str, action: str | None) -> str:
    """The `x-webhooks` key of an event: `pull_request` + `opened` -> `pull-request-opened`."""
    name = event.replace("_", "-")
    return f"{name}-{action.replace('_', '-')}" if action else name


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """A query or path string as the type its schema declares (what GitHub's server does)."""
    kind = schema.get("type")
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value
