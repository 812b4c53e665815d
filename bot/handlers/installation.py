"""App installations: remember which accounts and repositories the App is installed on."""

from __future__ import annotations

from bot import audit
from bot.events import InstallationEvent
from bot.handlers.context import Context
from bot.store.tables import Installation


def on_installation(event: InstallationEvent, ctx: Context) -> None:
    if event.installation_id is None:
        return
    with ctx.store.session() as session:
        row = session.get(Installation, event.installation_id)
        if row is None:
            row = Installation(
                id=event.installation_id, forge="github", account=event.account, repositories=[]
            )
            session.add(row)
        repos = set(row.repositories or ())
        if event.name == "installation" and event.action == "created":
            repos = set(event.repositories_added)
        repos |= set(event.repositories_added)
        repos -= set(event.repositories_removed)
        row.repositories = sorted(repos)
        row.account = event.account or row.account
        row.suspended = event.action in ("suspend", "deleted")
        row.updated_at = ctx.now()
        audit.record(
            session,
            actor=event.sender or "github",
            action=f"installation.{event.action}",
            details={
                "installation": event.installation_id,
                "account": event.account,
                "added": list(event.repositories_added),
                "removed": list(event.repositories_removed),
            },
        )
