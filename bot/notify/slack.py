"""The Slack template: an incoming-webhook message in Block Kit, with a ``text`` fallback.

Block Kit limits are kept (header 150 characters, section text 3,000, at most 10 fields of 2,000
each). Everything that comes from people (reasons, names, titles) is escaped for Slack's mrkdwn
(``&``, ``<``, ``>``), so a reason can't mention ``<!channel>`` or hide a link.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.notify.destinations import Destination
from bot.notify.model import Notification, Outgoing

ICONS = {"info": ":information_source:", "warning": ":hourglass:", "alert": ":rotating_light:"}


def message(note: Notification) -> dict[str, Any]:
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{label}*\n{escape(value)}", 2000)}
        for label, value in note.facts()[:10]
    ]
    links = " · ".join(f"<{link.url}|{escape(link.title)}>" for link in note.links)
    text = _cut(f"{ICONS[note.severity]} {escape(note.text)}", 3000)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(note.title, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if links:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(links, 3000)}})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"compliance-bot · `{note.kind}`"}],
        }
    )
    where = f" ({note.repository})" if note.repository else ""
    return {"text": escape(f"{note.title}{where}"), "blocks": blocks}


def render(note: Notification, destination: Destination, now: datetime) -> Outgoing:
    body = json.dumps(message(note), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Outgoing(body, {"Content-Type": "application/json; charset=utf-8"})


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
