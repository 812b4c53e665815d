"""pytest plugin: the `fake_github` fixture, which fails the test if GitHub's API was misused.

Registered from tests/conftest.py (`pytest_plugins`). A test that makes a request GitHub's
OpenAPI description does not allow fails at teardown with the list of violations; a test that
means to make one wraps it in `fake_github.expect_violations()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .fake import FakeGitHub


@pytest.fixture
def fake_github(tmp_path: Path) -> Iterator[FakeGitHub]:
    # Imported here so that collecting unrelated tests never depends on the fake's imports.
    from .fake import FakeGitHub

    fake = FakeGitHub(tmp_path / "fake-github").start()
    try:
        yield fake
    finally:
        fake.stop()
    if fake.violations:
        lines = "\n".join(f"  - {v}" for v in fake.violations)
        pytest.fail(f"requests GitHub's OpenAPI description does not allow:\n{lines}")
