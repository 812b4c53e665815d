"""The Microsoft Teams template: a Workflows webhook message carrying one Adaptive Card (1.4).

The Workflows "send webhook alerts to a channel" flow posts each attachment of the message; the
card uses only elements of Adaptive Cards 1.4 (TextBlock, FactSet, Action.OpenUrl), which Teams
renders on desktop, web and mobile. The tests validate it against the published schema.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.notify.destinations import Destination
from bot.notify.model import Notification, Outgoing

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
COLORS = {"info": "Default", "warning": "Warning", "alert": "Attention"}
MAX_ACTIONS = 5  # Teams shows at most six actions on a card; keep the row short


def card(note: Notification) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": note.title,
            "size": "Medium",
            "weight": "Bolder",
            "color": COLORS[note.severity],
            "wrap": True,
        },
        {"type": "TextBlock", "text": note.text, "wrap": True},
    ]
    facts = [{"title": label, "value": value} for label, value in note.facts()]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    body.append(
        {
            "type": "TextBlock",
            "text": f"compliance-bot · {note.kind}",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    result: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "fallbackText": note.title,
    }
    if note.links:
        result["actions"] = [
            {"type": "Action.OpenUrl", "title": link.title, "url": link.url}
            for link in note.links[:MAX_ACTIONS]
        ]
    return result


def message(note: Notification) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card(note)}],
    }


def render(note: Notification, destination: Destination, now: datetime) -> Outgoing:
    body = json.dumps(message(note), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Outgoing(body, {"Content-Type": "application/json; charset=utf-8"})
