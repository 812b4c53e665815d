"""Who hears what: the deployment's destinations (environment), a repository's routes (its
config, read from the default branch) and the choice of destinations for one notification."""

from __future__ import annotations

import base64
import json

import pytest

from bot.config import ConfigError, Settings
from bot.notify import destinations
from bot.notify.routes import Route, destinations_for, unknown_destinations
from bot.repoconfig import parse_config

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
DESTINATIONS = {
    "security-slack": {"type": "slack", "url": SLACK_URL},
    "security-teams": {"type": "teams", "url": "https://example.powerautomate.com/hook?sig=abc"},
    "siem": {"type": "webhook", "url": "https://siem.example/hooks", "secret": SECRET},
}


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv=None)


def test_destinations_inline_json_and_the_default_route():
    s = settings(
        COMPLIANCE_BOT_NOTIFY_DESTINATIONS=json.dumps(DESTINATIONS),
        COMPLIANCE_BOT_NOTIFY_DEFAULT_ROUTE="siem",
    )
    assert [(d.name, d.type) for d in s.notify_destinations] == [
        ("security-slack", "slack"),
        ("security-teams", "teams"),
        ("siem", "webhook"),
    ]
    assert s.notify_default_route == ("siem",)
    assert s.notify_destinations[2].secret == b"s" * 32
    assert SLACK_URL not in repr(s) and "XXXXSECRET" not in repr(s.notify_destinations)


def test_destinations_from_a_yaml_file(tmp_path):
    path = tmp_path / "destinations.yaml"
    path.write_text(
        f"security-slack:\n  type: slack\n  url: {SLACK_URL}\nsiem:\n  type: webhook\n"
        f"  url: https://siem.example/hooks\n  secret: {SECRET}\n  timeout: 2\n"
    )
    s = settings(COMPLIANCE_BOT_NOTIFY_DESTINATIONS=str(path))
    assert [d.name for d in s.notify_destinations] == ["security-slack", "siem"]
    assert s.notify_destinations[1].timeout == 2.0


def test_no_destinations_by_default():
    s = settings()
    assert s.notify_destinations == () and s.notify_default_route == ()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"x": {"type": "email", "url": SLACK_URL}},
            "x.type: expected one of slack, teams, webhook",
        ),
        (
            {"x": {"type": "slack", "url": "http://hooks.slack.com/XXXXSECRET"}},
            "x.url: expected an https://",
        ),
        ({"x": {"type": "slack"}}, "x.url"),
        (
            {"x": {"type": "webhook", "url": "https://a.example/XXXXSECRET"}},
            "x.secret: expected a whsec_",
        ),
        (
            {"x": {"type": "webhook", "url": "https://a.example", "secret": "whsec_!!XXXXSECRET"}},
            "x.secret: the part after whsec_ is not base64",
        ),
        (
            {"x": {"type": "webhook", "url": "https://a.example", "secret": "whsec_c2hvcnQ="}},
            "x.secret: expected 24 to 64 bytes",
        ),
        ({"x": {"type": "slack", "url": SLACK_URL, "secret": SECRET}}, "x.secret: only webhook"),
        (
            {"x": {"type": "slack", "url": SLACK_URL, "token": "XXXXSECRET"}},
            "x: 1 unknown field: token",
        ),
        (
            {"x": {"type": "slack", "url": SLACK_URL, "token": "XXXXSECRET", "to": "#a"}},
            "x: 2 unknown fields: to, token",
        ),
        ({"x": {"type": "slack", "url": SLACK_URL, "timeout": 90}}, "x.timeout"),
        ({"Bad Name": {"type": "slack", "url": SLACK_URL}}, "'Bad Name' is not a destination name"),
        (["x"], "expected an object of destinations by name"),
    ],
)
def test_destination_errors_name_the_variable_and_field_never_the_secret(spec, message):
    with pytest.raises(ConfigError) as raised:
        settings(COMPLIANCE_BOT_NOTIFY_DESTINATIONS=json.dumps(spec))
    text = str(raised.value)
    assert text.startswith("COMPLIANCE_BOT_NOTIFY_DESTINATIONS: ") and message in text
    assert "XXXXSECRET" not in text and "hooks.slack.com" not in text


def test_destination_errors_for_unreadable_values():
    with pytest.raises(ConfigError, match="not valid JSON"):
        settings(COMPLIANCE_BOT_NOTIFY_DESTINATIONS='{"x": ')
    with pytest.raises(ConfigError, match="neither a JSON object nor a readable file"):
        settings(COMPLIANCE_BOT_NOTIFY_DESTINATIONS="/nonexistent/destinations.json")


def test_the_default_route_names_known_destinations():
    with pytest.raises(ConfigError, match="COMPLIANCE_BOT_NOTIFY_DEFAULT_ROUTE: 'pager' is not"):
        settings(
            COMPLIANCE_BOT_NOTIFY_DESTINATIONS=json.dumps(DESTINATIONS),
            COMPLIANCE_BOT_NOTIFY_DEFAULT_ROUTE="siem, pager",
        )


def test_loopback_http_is_allowed_for_local_receivers():
    [d], _ = destinations.load(
        json.dumps({"local": {"type": "slack", "url": "http://127.0.0.1:8080/hook"}}), None
    )
    assert d.url == "http://127.0.0.1:8080/hook"


CONFIG = """\
version: 1
notifications:
  routes:
    - kinds: [exception.approved, bypass]
      to: [security-slack]
    - kinds: ["*"]
      to: [siem, audit-sink]
"""


def test_routes_from_the_repository_config():
    config = parse_config(CONFIG)
    assert config.errors == []
    assert [(r.kinds, r.to) for r in config.notifications] == [
        (("exception.approved", "bypass"), ("security-slack",)),
        (("*",), ("siem", "audit-sink")),
    ]


def test_an_unknown_destination_is_a_config_error_on_its_line():
    config = parse_config(CONFIG)
    [error] = unknown_destinations(config.notifications, {"security-slack", "siem"}, "cfg.yaml")
    assert error.line == 7 and error.path == "cfg.yaml"
    assert "no destination 'audit-sink'" in error.message
    assert "known: security-slack, siem" in error.message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            CONFIG.replace("bypass]", "bypass, exception.approvd]"),
            4,
            "unknown kind 'exception.approvd'",
        ),
        (CONFIG.replace("[siem, audit-sink]", "siem"), 7, "to: 'siem' is not a list"),
        (CONFIG.replace("to: [security-slack]", "to: []"), 5, "should be non-empty"),
        (CONFIG.replace('["*"]', '["Bypass!"]'), 6, "does not match"),
        ("notifications:\n  route: []\n", 1, "unknown field 'route'"),
    ],
)
def test_bad_routes_are_config_errors_naming_the_line(text, line, message):
    config = parse_config(text)
    [error] = config.errors
    assert error.line == line and message in error.message


def test_destinations_for_a_kind():
    routes = parse_config(CONFIG).notifications
    assert destinations_for("exception.approved", routes) == [
        "security-slack",
        "siem",
        "audit-sink",
    ]
    assert destinations_for("bypass.forged_status", routes, ("siem",)) == [
        "siem",
        "security-slack",
        "audit-sink",
    ]
    only_bypass = (Route(("bypass",), ("security-slack",)),)
    assert destinations_for("exception.expired", only_bypass) == []
    assert destinations_for("exception.expired", only_bypass, ("siem",)) == ["siem"]
    groups = (Route(("exception",), ("a",)), Route(("cleanup.opened",), ("b",)))
    assert destinations_for("exception.expiring", groups) == ["a"]
    assert destinations_for("cleanup.opened", groups) == ["b"]
