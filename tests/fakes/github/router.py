"""The fake GitHub's routing table: which REST operations it serves, and the handler for each.

Routes are declared with GitHub's own path templates (`/repos/{owner}/{repo}/pulls`), exactly as
they appear in GitHub's OpenAPI description, so that call counts, violations and the vendored
OpenAPI subset all speak the same names. This module holds no state and performs no I/O; the
handlers live in `handlers/` and register themselves on `ROUTER` when that package is imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Authentication a route accepts: "app" = the App's JWT only; "token" = installation or user
# token; "none" = anonymous allowed (rate_limit, manifest conversion).
AUTH_KINDS = ("app", "token", "none")

Handler = Callable[..., Any]


@dataclass
class Route:
    """One REST operation served by the fake."""

    method: str
    template: str
    handler: Handler
    auth: str = "token"
    # Installation permissions that satisfy this route, e.g. ("checks:write",) or
    # ("issues:write", "pull_requests:write") when either one suffices.
    permissions: tuple[str, ...] = ()
    multi_segment: frozenset[str] = field(default_factory=frozenset)
    _regex: re.Pattern[str] | None = None

    def regex(self) -> re.Pattern[str]:
        if self._regex is None:
            self._regex = template_regex(self.template, self.multi_segment)
        return self._regex


def template_regex(template: str, multi_segment: Iterable[str] = ()) -> re.Pattern[str]:
    """Compile a path template; parameters in `multi_segment` may contain slashes."""
    multi = set(multi_segment)
    out = []
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            group = group_name(name)
            out.append(f"(?P<{group}>.+)" if name in multi else f"(?P<{group}>[^/]+)")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


def group_name(name: str) -> str:
    """A parameter name as a regex group name (GitHub has names like `enterprise-team`)."""
    return re.sub(r"\W", "_", name)


class Router:
    """An ordered table of routes; the first match wins, literal segments before parameters."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        template: str,
        *,
        auth: str = "token",
        permissions: Iterable[str] = (),
        multi_segment: Iterable[str] = (),
    ) -> Callable[[Handler], Handler]:
        assert auth in AUTH_KINDS, auth

        def register(handler: Handler) -> Handler:
            self.routes.append(
                Route(
                    method=method,
                    template=template,
                    handler=handler,
                    auth=auth,
                    permissions=tuple(permissions),
                    multi_segment=frozenset(multi_segment),
                )
            )
            return handler

        return register

    def operations(self) -> list[tuple[str, str]]:
        """(METHOD, template) of every served operation, in registration order."""
        return [(r.method, r.template) for r in self.routes]

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Find the route for a request: (route, path parameters, path known for some method)."""
        path_known = False
        for route in sorted(self.routes, key=_specificity):
            m = route.regex().match(path)
            if m is None:
                continue
            path_known = True
            if route.method == method:
                return route, m.groupdict(), True
        return None, {}, path_known


def _specificity(route: Route) -> tuple[int, int]:
    # More literal characters first, so /git/refs beats /git/refs/{ref} only when literal.
    literal = len(re.sub(r"\{[^}]+\}", "", route.template))
    return (len(route.multi_segment), -literal)


ROUTER = Router()
