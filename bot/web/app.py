"""The Flask application factory."""

from __future__ import annotations

import gc
import html
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from bot.config import Settings
from bot.services import Services
from bot.web import audit, dashboard, github, gitlab, health, metrics, setup, signin

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB; anything larger isn't from it


def build_app(services: Services) -> Flask:
    app = Flask("compliance-bot")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["compliance-bot"] = services
    app.register_blueprint(github.blueprint)
    app.register_blueprint(gitlab.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(setup.blueprint)
    app.register_blueprint(audit.blueprint)
    app.register_blueprint(signin.blueprint)
    app.register_blueprint(dashboard.blueprint)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(MethodNotAllowed, _method_not_allowed)
    # What start-up built (modules, policies, the routing table) lives as long as the process:
    # moved out of the collector's reach, a full collection no longer walks it, which otherwise
    # stalled a webhook answer for ~100 ms now and then (benchmarks/forge.py --only edge).
    gc.collect()
    gc.freeze()
    return app


ROUTES = (
    "<p>This is compliance-bot. It answers <code>GET /</code> (status or setup), "
    "<code>GET /healthz</code>, <code>GET /metrics</code> and <code>POST /webhooks/github</code>."
    "</p>"
)


def _not_found(_error: NotFound) -> Any:
    path = html.escape(request.path)
    return setup.page("Not found", f"<p>There is nothing at <code>{path}</code>.</p>" + ROUTES, 404)


def _method_not_allowed(error: MethodNotAllowed) -> Any:
    allowed = ", ".join(sorted(error.valid_methods or ()))
    body = (
        f"<p><code>{html.escape(request.path)}</code> does not answer "
        f"<code>{html.escape(request.method)}</code>; it answers <code>{allowed}</code>.</p>"
    )
    text, status, headers = setup.page("Method not allowed", body + ROUTES, 405)
    return text, status, {**headers, "Allow": allowed}


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    if services is None:
        services = Services(settings if settings is not None else Settings.from_env())
    return build_app(services)
