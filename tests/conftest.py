"""Shared pytest configuration: the fake forge fixtures and the golden-file fixture."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

pytest_plugins = ["fakes.github.fixtures"]


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare ``text`` with ``golden/<name>`` beside the test file.

    ``UPDATE_GOLDEN=1 pytest ...`` rewrites the files from the current output instead; review the
    diff like any other change. Golden files hold user-visible text (check summaries, replies).
    """
    directory = request.path.parent / "golden"

    def check(name: str, text: str) -> None:
        path = directory / name
        if os.environ.get("UPDATE_GOLDEN") == "1":
            directory.mkdir(exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            return
        assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1 to create it"
        expected = path.read_bytes().decode("utf-8")
        assert text == expected, f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept)"

    return check
