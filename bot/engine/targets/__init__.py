"""The registry of targets, by the name policies use in their ``target`` field.

Adding a target is one line here and one module beside this file; the engine does not change.
"""

from __future__ import annotations

from bot.engine.targets.base import ChangeTarget, FileTarget, MatchError, Target, TargetError
from bot.engine.targets.kubernetes import KubernetesTarget
from bot.engine.targets.pull_request import PullRequestTarget
from bot.engine.targets.structured import JSONTarget, YAMLTarget
from bot.engine.targets.text import TextTarget

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (KubernetesTarget(), YAMLTarget(), JSONTarget(), TextTarget(), PullRequestTarget())
}

__all__ = ["TARGETS", "ChangeTarget", "FileTarget", "MatchError", "Target", "TargetError"]
