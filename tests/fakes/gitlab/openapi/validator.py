"""Checks requests against GitLab's OpenAPI (Swagger 2.0) description, where it covers them.

GitLab generates `doc/api/openapi/openapi_v2.yaml` from its Grape API; the vendored subset
(`openapi_v2.subset.json`) holds the operations the fake serves. Each request the fake receives
is looked up by its route template: when the description covers the operation, its path and
query parameters and its JSON body are checked with `jsonschema` (Swagger 2.0 schemas are JSON
Schema draft 4). Grape merges the query string and the body, so body properties may arrive in
the query and are checked as body properties. Problems are reported as strings; the ones Grape
itself would refuse (a missing required parameter, a value outside an `enum`, a wrong type) are
also returned as Grape's 400 message. This module never decides the HTTP answer; the server
does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SUBSET = Path(__file__).with_name("openapi_v2.subset.json")
SPEC_URI = "urn:gitlab-openapi-v2"
PREFIX = "/api/v4"
# Accepted on every GitLab endpoint (authentication, impersonation, pagination).
ALWAYS_ALLOWED = {"private_token", "sudo", "page", "per_page"}
PARAM_KEYS = ("type", "format", "enum", "items", "minimum", "maximum", "default")


@dataclass
class RequestCheck:
    """The outcome of checking one request."""

    covered: bool  # the description has this operation
    operation_id: str | None = None
    deprecated: bool = False
    problems: list[str] = field(default_factory=list)
    # Grape's 400 message when GitLab would refuse the request, else None.
    refusal: str | None = None

    def refuse(self, message: str) -> None:
        self.problems.append(message)
        if self.refusal is None:
            self.refusal = message


def _schema_of(param: dict[str, Any]) -> dict[str, Any]:
    schema = {k: v for k, v in param.items() if k in PARAM_KEYS}
    return _jsonschema(schema)


def _jsonschema(node: Any) -> Any:
    """A Swagger 2.0 schema as draft-4 JSON Schema: `type: file` becomes unconstrained."""
    if isinstance(node, dict):
        out = {k: _jsonschema(v) for k, v in node.items() if k != "example"}
        if out.get("type") == "file":
            del out["type"]
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            # Resolve against the whole description, wherever the schema is used from.
            out["$ref"] = SPEC_URI + ref
        return out
    if isinstance(node, list):
        return [_jsonschema(v) for v in node]
    return node


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """A query or path string as the type its schema declares (what Grape coerces)."""
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
        return {"true": True, "false": False, "1": True, "0": False}.get(value.lower(), value)
    return value


class OpenApiValidator:
    """Validation against one Swagger 2.0 document."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = Resource(contents=_jsonschema(spec), specification=DRAFT4)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)

    @classmethod
    @cache
    def vendored(cls) -> OpenApiValidator:
        return cls(json.loads(SUBSET.read_text()))

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        return self.spec.get("paths", {}).get(PREFIX + template, {}).get(method.lower())

    def covered(self) -> set[tuple[str, str]]:
        return {
            (method.upper(), path.removeprefix(PREFIX))
            for path, item in self.spec.get("paths", {}).items()
            for method in item
            if method in ("get", "post", "put", "patch", "delete", "head")
        }

    def definition(self, ref: str) -> dict[str, Any]:
        name = ref.rsplit("/", 1)[-1]
        return self.spec["definitions"][name]

    def _validator(self, schema: dict[str, Any]) -> Draft4Validator:
        return Draft4Validator(_jsonschema(schema), registry=self.registry)

    def check_request(
        self,
        method: str,
        template: str,
        path_params: dict[str, str],
        query: dict[str, list[str]],
        raw_body: bytes,
        content_type: str | None,
        body: Any,
    ) -> RequestCheck:
        op = self.operation(method, template)
        if op is None:
            return RequestCheck(covered=False)
        check = RequestCheck(
            covered=True,
            operation_id=op.get("operationId"),
            deprecated=bool(op.get("deprecated")),
        )
        params = op.get("parameters", [])
        body_param = next((p for p in params if p.get("in") == "body"), None)
        body_schema: dict[str, Any] = {}
        if body_param is not None:
            schema = body_param.get("schema", {})
            body_schema = self.definition(schema["$ref"]) if "$ref" in schema else schema
        form = [p for p in params if p.get("in") == "formData"]
        body_props = set(body_schema.get("properties", {})) | {p["name"] for p in form}
        declared_query = {p["name"] for p in params if p.get("in") == "query"}
        for param in params:
            where, name = param.get("in"), param.get("name")
            if where == "path":
                value = path_params.get(name)
                if value is not None:
                    self._check_value(check, name, _schema_of(param), [value])
            elif where == "query":
                values = query.get(name) or query.get(f"{name}[]")
                if not values:
                    if param.get("required"):
                        check.refuse(f"{name} is missing")
                    continue
                self._check_value(check, name, _schema_of(param), values)
        merged: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
        for name, values in query.items():
            base = name.removesuffix("[]")
            if base in declared_query or base in ALWAYS_ALLOWED:
                continue
            if base in body_props:
                # Grape reads body parameters from the query string too.
                schema = body_schema.get("properties", {}).get(base) or next(
                    (_schema_of(p) for p in form if p["name"] == base), {}
                )
                kind = schema.get("type")
                coerced = (
                    [_coerce(v, schema.get("items", {})) for v in values]
                    if kind == "array"
                    else _coerce(values[-1], schema)
                )
                merged.setdefault(base, coerced)
                continue
            check.problems.append(f"query parameter {name!r} is not defined for {template}")
        if body_param is None and not form:
            if raw_body.strip() not in (b"", b"{}", b"null"):
                check.problems.append(f"{method} {template} takes no request body")
            return check
        if raw_body.strip() and body is None:
            check.refuse("the request body is not valid JSON")
            return check
        for extra in sorted(set(merged) - body_props):
            check.problems.append(f"request body property {extra!r} is not defined for {template}")
        if form:
            for param in form:
                name = param["name"]
                if name not in merged:
                    if param.get("required"):
                        check.refuse(f"{name} is missing")
                    continue
                self._check_body_value(check, name, _schema_of(param), merged[name])
        if body_schema:
            for name in body_schema.get("required", []):
                if name not in merged:
                    check.refuse(f"{name} is missing")
            validator = self._validator(body_schema)
            for error in sorted(validator.iter_errors(merged), key=lambda e: list(e.path)):
                where = "][".join(str(p) for p in error.absolute_path)
                if error.validator == "required":
                    continue  # reported above, with Grape's wording
                name = where.replace("][", "[", 1) + "]" if "][" in where else where
                what = "does not have a valid value" if error.validator == "enum" else "is invalid"
                check.refuse(f"{name or 'body'} {what}")
                check.problems.append(f"request body at {where or '(body)'}: {error.message[:200]}")
        return check

    def _check_value(
        self, check: RequestCheck, name: str, schema: dict[str, Any], values: list[str]
    ) -> None:
        if schema.get("type") == "array":
            instance: Any = [_coerce(v, schema.get("items", {})) for v in values]
        else:
            instance = _coerce(values[-1], schema)
        self._check_body_value(check, name, schema, instance)

    def _check_body_value(
        self, check: RequestCheck, name: str, schema: dict[str, Any], instance: Any
    ) -> None:
        errors = list(self._validator(schema).iter_errors(instance))
        if errors:
            what = "does not have a valid value" if errors[0].validator == "enum" else "is invalid"
            check.refuse(f"{name} {what}")
