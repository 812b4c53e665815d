"""``GET /metrics``: Prometheus text exposition of the bot's metrics (``bot.metrics``).

With ``COMPLIANCE_BOT_METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>``
(compared in constant time); without it, 401. Reading the store is cached by ``bot.metrics``, so
scraping often is cheap.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, current_app, request

from bot import metrics

blueprint = Blueprint("metrics", __name__)
COLLECTOR = "compliance-bot-metrics"


@blueprint.get("/metrics")
def scrape() -> Any:
    services = current_app.extensions["compliance-bot"]
    token = services.settings.metrics_token
    if token and not _bearer_matches(request.headers.get("Authorization", ""), token):
        return Response(
            "a bearer token is required\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            mimetype="text/plain",
        )
    collector = current_app.extensions.get(COLLECTOR)
    if collector is None:  # one per app: its cache is shared by the requests it serves
        collector = current_app.extensions.setdefault(
            COLLECTOR, metrics.StoreCollector(services.store, services.huey, clock=services.clock)
        )
    body, content_type = metrics.exposition(
        collector, services.settings, request.headers.get("Accept")
    )
    return Response(body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"})


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )
