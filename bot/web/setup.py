"""First run: register the GitHub App from ``app.yml`` through GitHub's App-manifest flow.

With no App configured, ``/`` shows a page whose button posts the manifest to GitHub; GitHub sends
the browser back to ``/setup/callback`` with a one-time code, which we exchange for the App's id,
private key and webhook secret (``POST /app-manifests/{code}/conversions``) and store in the data
directory, readable by the owner only. As Probot's first-run page does.
"""

from __future__ import annotations

import html
import ipaddress
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, current_app, redirect, request

from bot.services import CREDENTIALS_FILE, Services, store_credentials
from bot.store.tables import Installation

blueprint = Blueprint("setup", __name__)
_STATES: set[str] = set()


def manifest_text() -> str:
    packaged = resources.files("bot").joinpath("app.yml")
    if packaged.is_file():
        return packaged.read_text("utf-8")
    return (Path(__file__).resolve().parents[2] / "app.yml").read_text("utf-8")


def manifest(public_url: str) -> dict[str, Any]:
    data = yaml.safe_load(manifest_text())
    base = public_url.rstrip("/")
    data["url"] = data.get("url") or base
    data["hook_attributes"] = {"url": f"{base}/webhooks/github", "active": True}
    data["redirect_url"] = f"{base}/setup/callback"
    data["setup_url"] = f"{base}/"
    # where GitHub sends people back after they sign in to the dashboard with the App
    data["callback_urls"] = [f"{base}/dashboard/oauth/github/callback"]
    return data


def _services() -> Services:
    return current_app.extensions["compliance-bot"]


def page(title: str, body: str, status: int = 200) -> tuple[str, int, dict[str, str]]:
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;"
        "padding:0 1rem}button{font-size:1rem;padding:.5rem 1rem}code{background:#eee;"
        "padding:0 .2rem}</style>"
        f"<h1>{html.escape(title)}</h1>{body}</html>",
        status,
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action https: http:",
        },
    )


@blueprint.get("/")
def index() -> Any:
    services = _services()
    settings = services.settings
    if settings.github_configured:
        with services.store.session() as session:
            count = session.query(Installation).count()
        installations = "1 installation" if count == 1 else f"{count} installations"
        return page(
            "compliance-bot is running",
            f"<p>GitHub App <code>{html.escape(str(settings.github_app_id))}</code>, "
            f"{installations}. Webhooks: <code>/webhooks/github</code>.</p>"
            + ("" if count else _install_next(services)),
        )
    public = settings.public_url or request.host_url.rstrip("/")
    state = secrets.token_urlsafe(24)
    _STATES.add(state)
    org = request.args.get("org", "").strip()
    target = f"{settings.github_web_url}/settings/apps/new"
    owner = "your personal GitHub account (for an organization, open this page with "
    owner += "<code>?org=NAME</code>)"
    if org:
        quoted = urllib.parse.quote(org, safe="")
        target = f"{settings.github_web_url}/organizations/{quoted}/settings/apps/new"
        owner = f"the organization <code>{html.escape(org)}</code>"
    data = html.escape(json.dumps(manifest(public)))
    return page(
        "Set up compliance-bot",
        _unreachable_warning(public)
        + "<p>No GitHub App is configured yet. Register one from this server's "
        "<code>app.yml</code>: GitHub will ask you to confirm the name and then send you back "
        "here, and the App's credentials are stored in the data directory.</p>"
        f"<p>The App will belong to {owner}.</p>"
        f'<form method=post action="{html.escape(target)}?state={state}">'
        f'<input type=hidden name=manifest value="{data}">'
        "<button type=submit>Register the GitHub App</button></form>"
        "<p>To configure by hand instead, set <code>GITHUB_APP_ID</code>, "
        "<code>GITHUB_PRIVATE_KEY</code> and <code>GITHUB_WEBHOOK_SECRET</code>; for signing in "
        "to the web dashboard, also <code>GITHUB_CLIENT_ID</code> and "
        "<code>GITHUB_CLIENT_SECRET</code> (the App's client ID and a client secret), with "
        f"<code>{html.escape(public)}/dashboard/oauth/github/callback</code> as the App's "
        "<em>Callback URL</em>.</p>",
    )


def _unreachable_warning(public: str) -> str:
    """A warning when the webhook URL GitHub would be given points at this machine itself."""
    host = urllib.parse.urlsplit(public).hostname or ""
    try:
        address = ipaddress.ip_address(host)
        local = address.is_loopback or address.is_unspecified
    except ValueError:
        local = host == "localhost" or host.endswith(".localhost")
    if not local:
        return ""
    return (
        "<p><strong>GitHub can't reach this address.</strong> The App's webhook URL would be "
        f"<code>{html.escape(public)}/webhooks/github</code>, which is this machine itself, so "
        "GitHub's deliveries would never arrive. Make the bot reachable, through a tunnel "
        "(<code>ngrok http 8000</code>, <code>cloudflared tunnel</code>) or a reverse proxy, "
        "and set <code>COMPLIANCE_BOT_PUBLIC_URL</code> to that public address before "
        "registering.</p>"
    )


def _install_next(services: Services) -> str:
    """What to do when the App is installed nowhere yet: install it, then open a pull request."""
    stored = services.settings.data_dir / CREDENTIALS_FILE
    app_url = ""
    if stored.is_file():
        try:
            app_url = str(json.loads(stored.read_text("utf-8")).get("html_url") or "")
        except (OSError, ValueError):
            app_url = ""
    where = "the App's page on GitHub (<em>Install App</em>)"
    if app_url:
        where = f'<a href="{html.escape(app_url)}/installations/new">its installation page</a>'
    return (
        f"<p><strong>Next:</strong> install the App on the repositories to check, from {where}. "
        "Then open a pull request in one of them: a <code>compliance</code> check appears on "
        "it.</p>"
    )


@blueprint.get("/setup/callback")
def callback() -> Any:
    services = _services()
    if services.settings.github_configured:
        return redirect("/")
    code = request.args.get("code", "")
    state = request.args.get("state", "")
    if not code or state not in _STATES:
        return page("Setup failed", "<p>Unknown or expired setup request. Start again.</p>", 400)
    _STATES.discard(state)
    url = f"{services.settings.github_api_url}/app-manifests/{code}/conversions"
    req = urllib.request.Request(
        url, method="POST", headers={"Accept": "application/vnd.github+json"}, data=b""
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:  # the configured API URL
            conversion = json.loads(resp.read())
    except (urllib.error.URLError, ValueError) as exc:
        return page("Setup failed", f"<p>GitHub refused the code: {html.escape(str(exc))}</p>", 502)
    store_credentials(services.settings, conversion)
    services.reload_credentials()
    install = f"{conversion.get('html_url', '')}/installations/new"
    return page(
        "GitHub App registered",
        f"<p>App <code>{html.escape(str(conversion.get('slug', conversion.get('id'))))}</code> "
        "is registered and its credentials are stored. Next, "
        f'<a href="{html.escape(install)}">install it on your repositories</a>.</p>'
        + _sign_in_note(services, conversion),
    )


def _sign_in_note(services: Services, conversion: dict[str, Any]) -> str:
    """What the new App means for the web dashboard's sign-in: its OAuth client was stored with
    the other credentials (used unless GITHUB_CLIENT_ID names another)."""
    settings = services.settings
    if not conversion.get("client_id") or not conversion.get("client_secret"):
        return (
            "<p>GitHub sent no OAuth client with the App: to sign in to the web dashboard, set "
            "<code>GITHUB_CLIENT_ID</code> and <code>GITHUB_CLIENT_SECRET</code> from the App's "
            "settings page.</p>"
        )
    if settings.github_client_id != conversion["client_id"]:
        return (
            "<p>The App's client ID and secret are stored too, but <code>GITHUB_CLIENT_ID</code> "
            "names another OAuth client, which the web dashboard's sign-in keeps using.</p>"
        )
    return (
        "<p>The App's client ID (<code>"
        f"{html.escape(str(conversion['client_id']))}</code>) and secret are stored too: the web "
        "dashboard's sign-in with GitHub works with them (its callback URL is registered on the "
        "App). To run elsewhere, set them as <code>GITHUB_CLIENT_ID</code> and "
        "<code>GITHUB_CLIENT_SECRET</code>.</p>"
    )
