"""A repository's own settings, ``.compliance/config.yaml``, read from the base commit.

Repo config may tighten rules, never loosen them: ``enforce`` turns advisory policies blocking;
nothing here can turn a blocking policy advisory or raise an exception's limits.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot import safeyaml
from bot.engine.loader import schema_errors
from bot.engine.model import EvalError, Policy, closest_policy
from bot.notify.routes import Route, parse_routes

CONFIG_PATH = ".compliance/config.yaml"
EXCEPTIONS_PATH = ".compliance/exceptions.yaml"
POLICIES_DIR = ".compliance/policies"


@dataclass(frozen=True)
class RepoConfig:
    packs: tuple[str, ...] | None = None  # None: every bundled pack
    enforce: tuple[str, ...] = ()
    enforce_lines: tuple[int | None, ...] = ()  # the line of each ``enforce`` entry
    require_ticket: bool = False
    required_approvals: int = 1
    max_renewals: int = 3
    reminder_days: tuple[int, ...] = (14, 3)
    expiring_soon_days: int = 14
    dashboard: bool = True
    notifications: tuple[Route, ...] = ()  # who hears what (bot.notify.routes)
    require_chart_rendering: bool = False  # a touched chart helm can't render fails the check
    chart_values: tuple[tuple[str, tuple[str, ...]], ...] = ()  # chart dir -> values files
    errors: list[EvalError] = field(default_factory=list, compare=False)


def parse_config(text: str | None, source: str = CONFIG_PATH) -> RepoConfig:
    """The config (a missing file means the defaults); problems come back in ``errors``."""
    if text is None or not text.strip():
        return RepoConfig()
    try:
        doc = safeyaml.load(text, safeyaml.STRICT)
    except safeyaml.YAMLError as exc:
        return RepoConfig(errors=[EvalError(exc.reason, path=source, line=exc.line)])
    if doc.value is None:
        return RepoConfig()
    problems = schema_errors("config.schema.json", doc, source)
    if problems:
        return RepoConfig(errors=[EvalError(m, path=source, line=line) for line, m in problems])
    routes, route_errors = parse_routes(doc, source)
    if route_errors:
        return RepoConfig(errors=route_errors)
    data = doc.value
    exc_cfg = data.get("exceptions", {})
    return RepoConfig(
        packs=tuple(data["packs"]) if "packs" in data else None,
        enforce=tuple(data.get("enforce", ())),
        enforce_lines=tuple(
            doc.line_of(["enforce", i]) for i in range(len(data.get("enforce", ())))
        ),
        require_ticket=exc_cfg.get("require_ticket", False),
        required_approvals=exc_cfg.get("required_approvals", 1),
        max_renewals=exc_cfg.get("max_renewals", 3),
        reminder_days=tuple(sorted(set(exc_cfg.get("reminder_days", (14, 3))), reverse=True)),
        expiring_soon_days=exc_cfg.get("expiring_soon_days", 14),
        dashboard=data.get("dashboard", {}).get("enabled", True),
        notifications=routes,
        require_chart_rendering=data.get("charts", {}).get("require_rendering", False),
        chart_values=tuple(
            (d.strip("/"), tuple(v)) for d, v in data.get("charts", {}).get("values", {}).items()
        ),
    )


def unknown_enforced(
    policies: Iterable[Policy], config: RepoConfig, source: str = CONFIG_PATH
) -> list[EvalError]:
    """``enforce`` entries that match no policy: a typo would silently enforce nothing."""
    policies = list(policies)
    errors = []
    for i, pattern in enumerate(config.enforce):
        if any(fnmatch.fnmatchcase(p.id, pattern) for p in policies):
            continue
        guess = closest_policy(pattern, policies)
        hint = f" (did you mean {guess}?)" if guess else ""
        line = config.enforce_lines[i] if i < len(config.enforce_lines) else None
        errors.append(
            EvalError(f"enforce: {pattern} matches no policy{hint}", path=source, line=line)
        )
    return errors


def apply_config(policies: Iterable[Policy], config: RepoConfig) -> list[Policy]:
    """Policies with the repository's tightening applied (advisory -> blocking where enforced)."""
    out = []
    for policy in policies:
        if policy.enforcement == "advisory" and any(
            fnmatch.fnmatchcase(policy.id, pattern) for pattern in config.enforce
        ):
            policy = dataclasses.replace(policy, enforcement="blocking")
        out.append(policy)
    return out
