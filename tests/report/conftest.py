"""The golden-file fixture for the renderer tests.

Golden files live in ``tests/report/golden/``; ``UPDATE_GOLDEN=1 pytest tests/report`` rewrites
them from the current output (then review the diff like any other change).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """Compare ``text`` with ``golden/<name>``; ``UPDATE_GOLDEN=1`` rewrites the file instead."""

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if os.environ.get("UPDATE_GOLDEN") == "1":
            GOLDEN_DIR.mkdir(exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            return
        assert path.exists(), f"no golden file {path}: run UPDATE_GOLDEN=1 pytest tests/report"
        expected = path.read_bytes().decode("utf-8")
        assert text == expected, f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept)"

    return check
