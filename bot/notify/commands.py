"""``compliance-bot notify ...``: how each destination is doing, and sending failed ones again.

Wired into the ``compliance-bot`` parser by :func:`add_commands`. Destinations are shown by name
and type, never by URL.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

EXIT_OK = 0


def add_commands(sub: Any) -> None:
    notify = sub.add_parser("notify", help="notification destinations: status, retry")
    actions = notify.add_subparsers(metavar="ACTION")
    p = actions.add_parser("status", help="notifications by destination and status")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_status)
    p = actions.add_parser("retry", help="send the failed notifications again (queued)")
    p.add_argument("--destination", metavar="NAME", help="only this destination")
    p.set_defaults(func=cmd_retry)
    notify.set_defaults(func=lambda _args: _usage("notify: name an action (see --help)"))


def cmd_status(args: argparse.Namespace) -> int:
    from bot.notify import outbox

    services = _services()
    try:
        counts = outbox.stats(services.store)
    finally:
        services.store.dispose()
    configured = {d.name: d.type for d in services.settings.notify_destinations}
    rows = []
    for name in sorted(set(configured) | set(counts)):
        entry = counts.get(name, {"attempts": 0, **dict.fromkeys(outbox.STATUSES, 0)})
        rows.append(
            {"destination": name, "type": configured.get(name, "(not configured)"), **entry}
        )
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no destinations (COMPLIANCE_BOT_NOTIFY_DESTINATIONS is unset)")
    for row in rows:
        line = ", ".join(f"{row[s]} {s}" for s in outbox.STATUSES)
        error = f"; last error: {row['last_error']}" if row.get("last_error") else ""
        print(f"{row['destination']} ({row['type']}): {line}{error}")
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    from bot.notify import outbox
    from bot.report.text import count

    services = _services()
    names = {d.name for d in services.settings.notify_destinations}
    if args.destination and args.destination not in names:
        return _usage(f"--destination: no destination {args.destination!r} is configured")
    try:
        queued = outbox.retry_failed(
            services.store,
            services.jobs.send_notification,
            datetime.now(UTC),
            destination=args.destination,
        )
    finally:
        services.store.dispose()
    print(f"{count(queued, 'failed notification')} queued again")
    return EXIT_OK


def _services():  # type: ignore[no-untyped-def]
    from bot.config import ConfigError, Settings
    from bot.server import check_reachable
    from bot.services import Services

    try:
        settings = Settings.from_env()
        check_reachable(settings)
        services = Services(settings)
    except ConfigError as exc:
        return _usage(f"configuration: {exc}")
    services.migrate()
    return services


def _usage(message: str) -> Any:
    from bot.cli import UsageError

    raise UsageError(message)
