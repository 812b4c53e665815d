"""Who wants to hear what: a repository's routes (``notifications.routes`` in its config) and the
deployment's default route.

Pure: reading routes from a loaded config document, checking them, and choosing the destinations
of one notification. Where the routes of a repository are kept between reads is the outbox's
business (``bot.notify.outbox``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot import safeyaml
from bot.engine.model import EvalError
from bot.notify.triggers import ALL, GROUPS, KINDS, kind_matches, known_pattern


@dataclass(frozen=True)
class Route:
    kinds: tuple[str, ...]  # kinds, groups (bypass, exception, cleanup) or "*"
    to: tuple[str, ...]  # destination names
    line: int | None = None
    to_lines: tuple[int | None, ...] = ()  # the line of each name in ``to``

    def to_json(self) -> dict[str, Any]:
        return {"kinds": list(self.kinds), "to": list(self.to)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Route:
        return cls(tuple(data.get("kinds", ())), tuple(data.get("to", ())))


def parse_routes(doc: safeyaml.Document, source: str) -> tuple[tuple[Route, ...], list[EvalError]]:
    """Routes from a config document already valid against its schema; unknown kinds are errors."""
    section = (doc.value or {}).get("notifications") or {}
    routes, errors = [], []
    for i, item in enumerate(section.get("routes", ())):
        for j, kind in enumerate(item["kinds"]):
            if not known_pattern(kind):
                errors.append(
                    EvalError(
                        f"notifications.routes[{i}].kinds: unknown kind {kind!r}; expected one of"
                        f" {', '.join((ALL, *GROUPS, *KINDS))}",
                        path=source,
                        line=doc.line_of(["notifications", "routes", i, "kinds", j]),
                    )
                )
        routes.append(
            Route(
                tuple(item["kinds"]),
                tuple(item["to"]),
                doc.line_of(["notifications", "routes", i]),
                tuple(
                    doc.line_of(["notifications", "routes", i, "to", j])
                    for j in range(len(item["to"]))
                ),
            )
        )
    return tuple(routes), errors


def unknown_destinations(
    routes: Iterable[Route], known: Collection[str], source: str
) -> list[EvalError]:
    """A route naming a destination this deployment doesn't have: a config error on its line."""
    errors = []
    for route in routes:
        for k, name in enumerate(route.to):
            if name in known:
                continue
            have = f"known: {', '.join(sorted(known))}" if known else "it has none"
            errors.append(
                EvalError(
                    f"notifications: no destination {name!r} in this deployment ({have})",
                    path=source,
                    line=route.to_lines[k] if k < len(route.to_lines) else route.line,
                )
            )
    return errors


def destinations_for(
    kind: str, routes: Iterable[Route], default_route: Sequence[str] = ()
) -> list[str]:
    """The destinations of one notification, each once: the default route, then the
    repository's routes that match ``kind``."""
    names = list(default_route)
    for route in routes:
        if any(kind_matches(pattern, kind) for pattern in route.kinds):
            names.extend(route.to)
    return list(dict.fromkeys(names))
