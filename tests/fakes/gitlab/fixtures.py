"""pytest plugin: the `fake_gitlab` fixture, which fails the test if GitLab's API was misused.

Registered from tests/conftest.py (`pytest_plugins`). A test that makes a request GitLab's
OpenAPI description does not allow, or one the fake does not serve, fails at teardown with the
list of violations; a test that means to make one wraps it in `fake_gitlab.expect_violations()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .fake import FakeGitLab


@pytest.fixture
def fake_gitlab(tmp_path: Path) -> Iterator[FakeGitLab]:
    # Imported here so that collecting unrelated tests never depends on the fake's imports.
    from .fake import FakeGitLab

    fake = FakeGitLab(tmp_path / "fake-gitlab").start()
    try:
        yield fake
    finally:
        fake.stop()
    if fake.violations:
        lines = "\n".join(f"  - {v}" for v in fake.violations)
        pytest.fail(f"requests GitLab's OpenAPI description does not allow:\n{lines}")
