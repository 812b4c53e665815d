"""What a handler works with: the forge of the event's installation, actions, store, clock."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

from bot.actions import Actions
from bot.config import Settings
from bot.forge.base import Forge
from bot.store import Store


@dataclass
class Context:
    settings: Settings
    store: Store
    forge: Forge
    actions: Actions
    now: Callable[[], datetime]
    # processes for PRs of many files, started on first use (threads share one interpreter lock)
    pool: Callable[[], Executor | None] | None = None
    jobs: int = 1
