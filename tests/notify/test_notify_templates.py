"""Triggers and templates: each kind from its audit event, rendered for Slack, Teams and a signed
webhook. The rendered messages are golden files (``UPDATE_GOLDEN=1`` to accept a change)."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks
from notify_samples import AT, SAMPLES, event

from bot.notify import slack, teams, webhook
from bot.notify.destinations import Destination
from bot.notify.model import Notification
from bot.notify.triggers import KINDS, Site, notifications_for

SITE = Site("https://github.com")
SECRET = b"0123456789abcdef0123456789abcdef"
SIEM = Destination("siem", "webhook", "https://siem.example/hooks", SECRET)
WHSEC = "whsec_" + base64.b64encode(SECRET).decode()


def note(kind: str) -> Notification:
    [found] = [n for n in notifications_for(SAMPLES[kind], SITE) if n.kind == kind]
    return found


def test_every_kind_has_a_sample_and_comes_from_its_event():
    assert set(SAMPLES) == set(KINDS)
    for kind in KINDS:
        made = notifications_for(SAMPLES[kind], SITE)
        assert [n.kind for n in made].count(kind) == 1, kind


@pytest.mark.parametrize("action", ["check.concluded", "comment.posted", "notification.failed"])
def test_other_events_make_nothing(action):
    assert notifications_for(event(50, action, details={"destination": "siem"}), SITE) == []


@pytest.mark.parametrize("kind", KINDS)
def test_each_message_says_what_where_who_until_and_why_with_links(kind):
    n = note(kind)
    facts = dict(n.facts())
    assert n.title and n.text
    assert facts["Where"].startswith("acme/shop")
    assert "Who" in facts
    assert n.links and all(link.url.startswith("https://github.com/acme/shop") for link in n.links)
    if kind.startswith("exception."):
        assert "Why" in facts, kind
        if kind != "exception.revocation_requested":  # a revocation has no deadline to tell
            assert "Until" in facts, kind


def test_slack_messages(golden):
    rendered = {kind: slack.message(note(kind)) for kind in KINDS}
    golden("slack.json", json.dumps(rendered, indent=2, ensure_ascii=False) + "\n")
    for message in rendered.values():
        assert message["text"]
        header = message["blocks"][0]
        assert header["type"] == "header" and len(header["text"]["text"]) <= 150
        for block in message["blocks"]:
            assert len(block.get("fields", ())) <= 10


def test_slack_escapes_what_people_wrote():
    hostile = dataclasses.replace(
        SAMPLES["exception.approved"],
        details={
            **SAMPLES["exception.approved"].details,
            "reason": "<!channel> see <http://x|y> & more",
        },
    )
    [n] = notifications_for(hostile, SITE)
    text = json.dumps(slack.message(n))
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "&amp; more" in text


def test_teams_cards(golden, adaptive_card_errors):
    rendered = {kind: teams.message(note(kind)) for kind in KINDS}
    golden("teams.json", json.dumps(rendered, indent=2, ensure_ascii=False) + "\n")
    for kind, message in rendered.items():
        assert message["type"] == "message"
        [attachment] = message["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert adaptive_card_errors(attachment["content"]) == [], kind


def test_the_schema_check_catches_a_broken_card(adaptive_card_errors):
    card = teams.card(note("exception.approved"))
    card["body"][0]["type"] = "TextBlok"
    assert adaptive_card_errors(card)


def test_webhook_events(golden):
    now = datetime(2026, 3, 1, 12, 31, tzinfo=UTC)
    rendered = {}
    for kind in KINDS:
        out = webhook.render(note(kind), SIEM, now)
        rendered[kind] = {"headers": out.headers, "body": json.loads(out.body)}
    golden("webhook.json", json.dumps(rendered, indent=2, ensure_ascii=False) + "\n")


def test_webhook_signature_verifies_with_the_reference_library():
    receiver = standardwebhooks.Webhook(WHSEC)
    for kind in KINDS:
        out = webhook.render(note(kind), SIEM, datetime.now(UTC))
        payload = receiver.verify(out.body, out.headers)
        assert payload["type"] == kind and payload["data"]["kind"] == kind
    tampered = out.body.replace(b"acme/shop", b"acme/shoq")
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        receiver.verify(tampered, out.headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(
            out.body, out.headers
        )


def test_webhook_id_is_stable_per_notification_and_destination():
    n = note("exception.approved")
    first = webhook.render(n, SIEM, datetime.now(UTC))
    later = webhook.render(n, SIEM, datetime.now(UTC) + timedelta(minutes=3))
    other = webhook.render(n, dataclasses.replace(SIEM, name="audit-sink"), datetime.now(UTC))
    assert first.headers["webhook-id"] == later.headers["webhook-id"]
    assert first.body == later.body  # a retry sends the same bytes
    assert other.headers["webhook-id"] != first.headers["webhook-id"]


def test_a_repeated_signal_has_one_key():
    """An unapproved entry is ignored on every check: one notification per entry version."""
    sample = SAMPLES["bypass.unapproved_exception"]
    again = dataclasses.replace(sample, seq=99, pull_request=40)
    changed = dataclasses.replace(
        sample, seq=100, details={**sample.details, "content_hash": "e" * 64}
    )
    keys = [notifications_for(e, SITE)[0].key for e in (sample, again, changed)]
    assert keys[0] == keys[1] != keys[2]


def test_a_cleanup_pr_opens_once_and_each_expiry_is_told_once():
    first = SAMPLES["exception.expired"]
    update = dataclasses.replace(
        first,
        seq=60,
        details={
            "expired": ["EXC-1", "EXC-2"],
            "branch": "main",
            "entries": [
                first.details["entries"][0],
                {"exception": "EXC-2", "expires_as_written": "2026-03-20"},
            ],
        },
    )
    a, b = notifications_for(first, SITE), notifications_for(update, SITE)
    assert [n.kind for n in a] == ["exception.expired", "cleanup.opened"]
    assert [n.kind for n in b] == ["exception.expired", "exception.expired", "cleanup.opened"]
    assert a[0].key == b[0].key and a[1].key == b[2].key
    assert b[1].exception == "EXC-2" and b[1].key not in {n.key for n in a}


def test_removing_an_expired_entry_is_no_revocation():
    live = SAMPLES["exception.revoked"]
    past = dataclasses.replace(live, at=AT + timedelta(days=60))
    assert [n.kind for n in notifications_for(live, SITE)] == ["exception.revoked"]
    assert notifications_for(past, SITE) == []


def test_notifications_survive_the_store():
    for kind in KINDS:
        n = note(kind)
        assert Notification.from_json(json.loads(json.dumps(n.to_json()))) == n
