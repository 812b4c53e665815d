"""The JSON Schemas of the files people write: policies, the repository config, exceptions."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import verdicts

if TYPE_CHECKING:  # imported when a schema is first checked: it slows start-up
    import jsonschema

NAMES = ("config.schema.json", "exceptions.schema.json", "policy.schema.json")


@functools.cache
def text(name: str) -> str:
    """One schema's text, read from this folder (without importing importlib.resources, which
    brings tempfile and shutil, at every start)."""
    return Path(__file__).with_name(name).read_text("utf-8")


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(text(name)))


def errors(
    name: str, value: Any, source_text: str | None = None
) -> list[jsonschema.ValidationError]:
    """jsonschema's errors for ``value`` against schema ``name``, in its order.

    Given the text that ``value`` was read from, a text found valid before (``bot.verdicts``,
    where the command line keeps them) is not checked again, and a valid one is remembered.
    """
    schema = text(name)
    if source_text is not None and verdicts.known_valid(schema, source_text):
        return []
    found = list(validator(name).iter_errors(value))
    if source_text is not None and not found:
        verdicts.remember_valid(schema, source_text)
    return found
