"""The Flask application factory."""

from __future__ import annotations

import gc

from flask import Flask

from bot.config import Settings
from bot.services import Services
from bot.web import audit, github, health, metrics, setup

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB; anything larger isn't from it


def build_app(services: Services) -> Flask:
    app = Flask("compliance-bot")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["compliance-bot"] = services
    app.register_blueprint(github.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(setup.blueprint)
    app.register_blueprint(audit.blueprint)
    # What start-up built (modules, policies, the routing table) lives as long as the process:
    # moved out of the collector's reach, a full collection no longer walks it, which otherwise
    # stalled a webhook answer for ~100 ms now and then (benchmarks/forge.py --only edge).
    gc.collect()
    gc.freeze()
    return app


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    if services is None:
        services = Services(settings if settings is not None else Settings.from_env())
    return build_app(services)
