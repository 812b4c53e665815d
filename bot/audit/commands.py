"""``compliance-bot audit ...``: verify, list, export, trail, public-key, checkpoint.

Wired into the ``compliance-bot`` parser by :func:`add_commands`. Exit codes: ``verify`` 0 when the
log is intact and 1 when it is not (the first problem named); 2 for usage, configuration or input
errors, reported as one line by ``bot.cli.main``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.audit import checkpoints, query
from bot.audit.verify import Given, verify

EXIT_OK, EXIT_BROKEN, EXIT_ERROR = 0, 1, 2


def add_commands(sub: Any) -> None:
    """Add the ``audit`` command and its actions to the subparsers ``sub``."""
    audit = sub.add_parser("audit", help="verify, list, export and trace the audit log")
    actions = audit.add_subparsers(metavar="ACTION")

    p = actions.add_parser("verify", help="replay the hash chain against the signed checkpoints")
    p.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE_OR_URL",
        help="also compare with this checkpoint kept outside the database (repeatable)",
    )
    p.add_argument(
        "--public-key",
        type=Path,
        metavar="FILE",
        help="the key the checkpoints must be signed with (PEM or verifier key; default: this "
        "deployment's key)",
    )
    p.set_defaults(func=cmd_verify)

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repo", metavar="OWNER/NAME", help="only this repository")
        p.add_argument("--pr", type=int, metavar="N", help="only this pull request")
        p.add_argument("--exception", metavar="ID", help="only events naming this exception")
        p.add_argument("--action", help="this action, or a family: exception. or exception")
        p.add_argument("--actor", metavar="LOGIN", help="only events by this actor")
        p.add_argument("--since", metavar="WHEN", help="from this date or RFC 3339 time")
        p.add_argument("--until", metavar="WHEN", help="to this date (inclusive) or time")

    p = actions.add_parser("list", help="list events, newest last")
    filters(p)
    p.add_argument("--limit", type=int, default=100, help="the last N matching (default: 100)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("export", help="stream events as JSON Lines or CSV (for a SIEM)")
    filters(p)
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--output", type=Path, metavar="FILE", help="write here (default: stdout)")
    p.set_defaults(func=cmd_export)

    p = actions.add_parser("trail", help="the whole life of one exception, in order")
    p.add_argument("exception", metavar="EXCEPTION-ID")
    p.add_argument("--repo", required=True, metavar="OWNER/NAME")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_trail)

    p = actions.add_parser("public-key", help="print the key that signs checkpoints")
    p.set_defaults(func=cmd_public_key)

    p = actions.add_parser("checkpoint", help="sign and publish a checkpoint now")
    p.set_defaults(func=cmd_checkpoint)
    audit.set_defaults(func=lambda _args: _usage("audit: name an action (see --help)"))


def _usage(message: str) -> int:
    from bot.cli import UsageError

    raise UsageError(message)


def _settings():  # type: ignore[no-untyped-def]
    from bot.config import ConfigError, Settings

    try:
        return Settings.from_env()
    except ConfigError as exc:
        return _usage(f"configuration: {exc}")


def _store(settings):  # type: ignore[no-untyped-def]
    from bot.config import ConfigError
    from bot.server import check_reachable
    from bot.store import Store, migrate

    try:
        check_reachable(settings)
    except ConfigError as exc:
        _usage(f"configuration: {exc}")
    migrate(settings.sqlalchemy_url)
    return Store(settings.sqlalchemy_url)


def _filter(args: argparse.Namespace) -> query.Filter:
    try:
        since = query.parse_when(args.since) if args.since else None
        until = query.parse_when(args.until, end=True) if args.until else None
    except ValueError as exc:
        _usage(f"--since/--until: {exc}")
    return query.Filter(
        repository=args.repo,
        pull_request=args.pr,
        exception=args.exception,
        action=args.action,
        actor=args.actor,
        since=since,
        until=until,
    )


# -- verify -----------------------------------------------------------------------------------
def _read(source: str) -> str:
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=30) as response:
                return response.read(64 * 1024).decode("utf-8")
        return Path(source).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return str(_usage(f"--checkpoint {source}: cannot read: {exc}"))


def cmd_verify(args: argparse.Namespace) -> int:
    settings = _settings()
    verifier: checkpoints.Verifier | None
    if args.public_key:
        try:
            verifier = checkpoints.load_verifier(args.public_key.read_text("utf-8"))
        except (ValueError, OSError) as exc:
            return _usage(f"--public-key {args.public_key}: {exc}")
    else:
        signer = checkpoints.load_signer(settings, create=False)
        verifier = signer.verifier if signer else None
    given = []
    for source in args.checkpoint:
        try:
            note = checkpoints.parse_note(
                _read(source), key_name=verifier.name if verifier else None
            )
        except checkpoints.NoteError as exc:
            return _usage(f"--checkpoint {source}: {exc}")
        given.append(Given(note, source))
    store = _store(settings)
    try:
        report = verify(store, verifier, given)
    except checkpoints.NoKey as exc:
        return _usage(str(exc))
    finally:
        store.dispose()
    print(report.summary())
    return EXIT_OK if report.intact else EXIT_BROKEN


# -- people -----------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        return _usage("--limit: must be at least 1")
    store = _store(_settings())
    try:
        events = query.newest(store, _filter(args), args.limit)
    finally:
        store.dispose()
    if args.format == "json":
        print(json.dumps([query.as_dict(e) for e in events], indent=2, ensure_ascii=False))
    else:
        for event in events:
            print(f"#{event.seq}  {query.line(event)}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    where = _filter(args)
    store = _store(_settings())
    write: Callable[..., int] = query.write_csv if args.format == "csv" else query.write_jsonl
    opened = (
        args.output.open("w", encoding="utf-8", newline="") if args.output else nullcontext(None)
    )
    try:
        with opened as out:
            count = write(query.stream(store, where), out or sys.stdout)
    except BrokenPipeError:  # `... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        store.dispose()
    if args.output:
        print(f"{count} events written to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_trail(args: argparse.Namespace) -> int:
    store = _store(_settings())
    try:
        events = query.trail(store, args.repo, args.exception)
        if args.format == "json":
            print(json.dumps([query.as_dict(e) for e in events], indent=2, ensure_ascii=False))
            return EXIT_OK
        count = 0
        for event in events:
            print(query.line(event, with_repository=False))
            count += 1
    finally:
        store.dispose()
    if not count:
        print(f"no events for {args.exception} in {args.repo}", file=sys.stderr)
    return EXIT_OK


# -- keys and checkpoints ---------------------------------------------------------------------
def cmd_public_key(args: argparse.Namespace) -> int:
    signer = checkpoints.load_signer(_settings())
    assert signer is not None
    verifier = signer.verifier
    sys.stdout.write(verifier.pem)
    print(f"# key name: {verifier.name}\n# key id: {verifier.key_id}")
    print(f"# verifier key: {verifier.vkey}")
    return EXIT_OK


def cmd_checkpoint(args: argparse.Namespace) -> int:
    settings = _settings()
    store = _store(settings)
    try:
        taken = checkpoints.checkpoint(store, settings, datetime.now(UTC))
        if taken is None:
            taken = checkpoints.latest(store)
            print("the chain has not grown since the last checkpoint", file=sys.stderr)
    finally:
        store.dispose()
    if taken is not None:
        sys.stdout.write(taken.note())
    return EXIT_OK
