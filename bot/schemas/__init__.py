"""The JSON Schemas of the files people write: policies, the repository config, exceptions."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def text(name: str) -> str:
    """One schema's text, read from this folder (without importing importlib.resources, which
    brings tempfile and shutil, at every start)."""
    return Path(__file__).with_name(name).read_text("utf-8")
