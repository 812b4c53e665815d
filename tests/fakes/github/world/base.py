"""What the parts of `FakeGitHub` in this package share: the attributes they rely on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..git import Person
from ..state import State

if TYPE_CHECKING:
    from ..events import Events
    from ..render import Renderer
    from ..webhooks import Dispatcher

# GitHub's own identity, which commits merges and the commits it signs for Apps.
WEB_FLOW = Person("GitHub", "noreply@github.com")


class WorldBase:
    """Attributes `FakeGitHub` sets up; declared here so that each part can use them."""

    root: Path
    git_root: Path
    state: State
    events: Events
    render: Renderer
    dispatcher: Dispatcher
    web_url: str
