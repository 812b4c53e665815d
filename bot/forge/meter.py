"""Forge-call metrics from one point: the requester every GitHub API call of the bot goes through.

Like go-githubapp's client middleware, ``MeteredRequester`` wraps PyGithub's requester for one
installation and counts each response by method and status, and keeps the rate limit left that
GitHub reports in ``X-RateLimit-Remaining``; the forge code above it makes its calls unaware.
PyGithub offers no per-client transport hook (its connection classes can only be swapped for the
whole process, and doing so turns off connection reuse), so this wraps its public ``requestJson``
and performs the check ``requestJsonAndCheck`` would. The few calls made as the App itself
(minting an installation token, finding an installation) go through PyGithub's
``GithubIntegration`` and are not counted.
"""

from __future__ import annotations

import json
from typing import Any

from github.Requester import Requester

from bot import metrics


class MeteredRequester:
    """A PyGithub ``Requester`` whose JSON requests are counted (the rest is passed through)."""

    def __init__(self, requester: Requester, installation: int | None, forge: str = "github"):
        self._requester = requester
        self._installation = installation
        self._forge = forge

    def requestJsonAndCheck(  # PyGithub's name: the forge code calls it unchanged
        self,
        verb: str,
        url: str,
        parameters: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        input: Any | None = None,
    ) -> tuple[dict[str, Any], Any]:
        try:
            status, response_headers, body = self._requester.requestJson(
                verb, url, parameters, headers, input
            )
        except Exception:
            metrics.forge_response(self._forge, verb, "error", installation=self._installation)
            raise
        metrics.forge_response(
            self._forge,
            verb,
            status,
            installation=self._installation,
            remaining=_remaining(response_headers),
        )
        data = _json(body)
        if status >= 400:
            raise self._requester.createException(status, response_headers, data)
        return response_headers, data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._requester, name)


def _remaining(headers: dict[str, Any]) -> int | None:
    value = headers.get("x-ratelimit-remaining")  # PyGithub lower-cases response headers
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _json(body: str) -> Any:
    """The body as PyGithub's check reads it: None when empty, ``{"data": text}`` when not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        if body.lstrip().startswith(("{", "[")):
            raise
        return {"data": body}
