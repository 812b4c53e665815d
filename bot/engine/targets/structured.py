"""Plain YAML and JSON files: one subject per document, for policies about any structured config."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from bot import safeyaml
from bot.engine.model import SourceFile, Subject
from bot.engine.targets.base import FileTarget, TargetError


class YAMLTarget(FileTarget):
    name = "yaml"
    default_files = ("**/*.yaml", "**/*.yml")
    variables: ClassVar[dict[str, str]] = {
        "document": "the document's value",
        "index": "its position in the stream, from 0",
        "path": "the file's path",
    }

    def subjects(self, file: SourceFile) -> list[Subject]:
        try:
            docs = safeyaml.load_all(file.text, safeyaml.MANIFEST)
        except safeyaml.YAMLError as exc:
            raise TargetError(exc.reason, exc.line) from None
        return [
            Subject(
                path=file.path,
                line=doc.line,
                variables={"document": doc.value, "index": i, "path": file.path},
                locate=doc.line_of,
                key=f"{file.path}#{i}",
            )
            for i, doc in enumerate(docs)
        ]


class JSONTarget(FileTarget):
    name = "json"
    default_files = ("**/*.json",)
    variables: ClassVar[dict[str, str]] = {
        "document": "the file's value",
        "path": "the file's path",
    }

    def subjects(self, file: SourceFile) -> list[Subject]:
        value, locate = _load_json(file.text)
        return [
            Subject(
                path=file.path,
                line=1,
                variables={"document": value, "path": file.path},
                locate=locate,
                key=file.path,
            )
        ]


def _load_json(text: str) -> tuple[Any, Any]:
    # Strict JSON first, for its exact error messages and duplicate-key refusal ...
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for k, v in pairs:
            if k in seen:
                raise ValueError(f"duplicate key {k!r}")
            seen[k] = v
        return seen

    try:
        value = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise TargetError(f"invalid JSON: {exc.msg}", exc.lineno) from None
    except ValueError as exc:
        raise TargetError(f"invalid JSON: {exc}") from None
    # ... then the YAML reader, which accepts JSON, for the line of each field.
    try:
        doc = safeyaml.load(text, safeyaml.MANIFEST)
        return value, doc.line_of
    except safeyaml.YAMLError:
        return value, lambda _path: None
