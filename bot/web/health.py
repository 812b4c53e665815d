"""``GET /healthz``: is the database reachable, is the queue reachable."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Any:
    services = current_app.extensions["compliance-bot"]
    checks = {"database": services.store.healthy(), "queue": services.queue_healthy()}
    ok = all(checks.values())
    return jsonify(status="ok" if ok else "unavailable", **checks), 200 if ok else 503
