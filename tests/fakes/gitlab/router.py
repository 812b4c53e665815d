"""The fake GitLab's routing table: which REST operations it serves, and the handler for each.

Routes are declared with the path templates of GitLab's OpenAPI description, without the
`/api/v4` prefix (`/projects/{id}/merge_requests/{merge_request_iid}`), so that call counts,
violations and the vendored OpenAPI subset speak the same names. Matching is done on the raw
request path, before percent-decoding, because GitLab's `:id` and `:file_path` are URL-encoded
("acme%2Fshop"): a parameter is one raw segment, decoded afterwards. The table is the GitHub
fake's forge-neutral `Router`; a route's `permissions` hold the token scopes that may call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..github.router import Route, Router

__all__ = ["ROUTER", "Route", "route"]

ROUTER = Router()
READ_SCOPES = ("api", "read_api")
WRITE_SCOPES = ("api",)


def route(
    method: str,
    template: str,
    *,
    anonymous: bool = False,
    scopes: Iterable[str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a handler; `anonymous` routes also serve callers without a token (public
    projects), `scopes` defaults to read_api/api for GET and api for the rest."""
    if scopes is None:
        scopes = READ_SCOPES if method == "GET" else WRITE_SCOPES
    return ROUTER.route(method, template, auth="none" if anonymous else "token", permissions=scopes)
