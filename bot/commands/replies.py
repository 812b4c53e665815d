"""What the bot answers to comment commands: help, usage errors, refusals, and the README section.

All of it is generated from the registry (``registry.COMMANDS``), so the usage people read is the
grammar the parser enforces. Every reply starts with the hidden ``MARKER``, by which the bot knows
its own comments. Text that came from a comment (a mistyped command or option, a bad value) is
shown through ``shown()``: a code span when it is a plain token, else escaped by the report's
``md()`` (Markdown and HTML inert, no @-mentions or #-links, control characters visible), and cut
to a few dozen characters. No reply line starts with ``/compliance``, so a reply quoted or pasted
back can't run anything.

Pure formatting: no I/O, and no decision about what runs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from bot.commands.model import Command, Reply, ReplyKind, Spec
from bot.commands.registry import COMMANDS, lookup, names
from bot.report.markdown import md
from bot.report.text import plain

MARKER = "<!-- compliance-bot:reply -->"
SHOWN_LENGTH = 80
_CODE_SPAN_UNSAFE = frozenset("`<>")

INTRO = (
    "Comment on a pull request with one command per line, each line starting with"
    ' `/compliance`. Quote values that have spaces or wildcards: `--reason "two words"`,'
    " `--paths 'deploy/**'`. Lines in quoted replies (`>`), code blocks and HTML comments are"
    " not run, nor are comments written by bots; editing a comment runs nothing (write a new"
    " one). A command that is not run is answered with the reason."
)


def shown(value: str) -> str:
    """Text from a comment, inert and short, for a reply (outside tables).

    A code span when that is safe: nothing in it is Markdown, a mention or a link, and it can't
    carry a hidden marker (no ``<``, ``>``), a backtick, or control characters. Else escaped text.
    """
    text = plain(value)
    text = text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"
    if not text.strip():
        return "(blank)" if text else "(empty)"
    if _CODE_SPAN_UNSAFE.isdisjoint(text) and text == text.strip():
        return f"`{text}`"
    return md(text, limit=None)


def _spec(command: Command | Spec) -> Spec:
    return command if isinstance(command, Spec) else command.SPEC


def _cell(text: str) -> str:
    # GFM splits table cells on "|" even inside code spans, unless it is escaped.
    return text.replace("|", "\\|")


def _table() -> list[str]:
    rows = ["| Command | Who may run it | What it does |", "|---|---|---|"]
    for command in COMMANDS:
        spec = command.SPEC
        cells = (f"`{spec.usage}`", spec.permission.who, spec.summary)
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return rows


def command_help(spec: Spec) -> str:
    """One command's usage, who may run it, its arguments and options, and examples."""
    parts = [f"`{spec.usage}`", f"{spec.summary} Who may run it: {spec.permission.who}."]
    items = [f"- `{arg.metavar}`: {arg.help}" for arg in spec.arguments]
    for option in spec.options:
        many = f". Repeatable, up to {option.max_count} times" if option.repeatable else ""
        items.append(f"- `{option.flag} {option.metavar}`: {option.help}{many}")
    if items:
        parts.append("\n".join(items))
    parts.extend(spec.notes)
    if spec.examples:
        label = "Example" if len(spec.examples) == 1 else "Examples"
        examples = "\n".join(f"- `{example}`" for example in spec.examples)
        parts.append(f"{label}:\n\n{examples}")
    return "\n\n".join(parts)


def _commands_text(heading: str) -> str:
    examples = [
        f"- `{example}`"
        for c in COMMANDS
        if c.SPEC.options or any(a.required for a in c.SPEC.arguments)
        for example in c.SPEC.examples
    ]
    return "\n\n".join(
        [
            heading,
            INTRO,
            "\n".join(_table()),
            "Examples:\n\n" + "\n".join(examples),
            "`/compliance help COMMAND` shows a command's options.",
        ]
    )


def help_markdown(topic: str | None = None) -> str:
    """The reply to ``/compliance help`` (every command) or ``/compliance help COMMAND``."""
    command = lookup(topic) if topic else None
    if command is None:
        return f"{MARKER}\n{_commands_text('### compliance-bot commands')}\n"
    return f"{MARKER}\n### `/compliance {command.SPEC.name}`\n\n{command_help(command.SPEC)}\n"


def readme_section() -> str:
    """The README's "Comment commands" section: the table, then each command in full."""
    details = [f"### `/compliance {c.SPEC.name}`\n\n{command_help(c.SPEC)}" for c in COMMANDS]
    return "\n\n".join([_commands_text("## Comment commands"), *details]) + "\n"


def _usage_footer(spec: Spec) -> str:
    return (
        f"Usage: `{spec.usage}`\n\n"
        f"Who may run it: {spec.permission.who}. `/compliance help {spec.name}` says more."
    )


def usage_reply(spec: Spec, problems: Sequence[str], *, line: int = 0) -> Reply:
    """A known command written wrongly; ``problems`` are Markdown, user text already shown."""
    head = f"**`/compliance {spec.name}` was not run**"
    if len(problems) == 1:
        lead = f"{head}: {problems[0]}."
    else:
        lead = f"{head}:\n\n" + "\n".join(f"- {p}" for p in problems)
    text = f"{MARKER}\n{lead}\n\n{command_help(spec)}\n"
    return Reply(ReplyKind.USAGE, text, line, spec.name)


def unknown_command_reply(name: str, *, line: int = 0) -> Reply:
    """A ``/compliance WORD`` line whose word is not a command: the list of commands."""
    close = difflib.get_close_matches(name.lower(), names(), n=1, cutoff=0.6)
    hint = f" Did you mean `/compliance {close[0]}`?" if close else ""
    lead = f"**{shown(name)} is not a command.**{hint}"
    text = f"{MARKER}\n{lead}\n\n" + "\n".join(_table()) + "\n"
    return Reply(ReplyKind.UNKNOWN_COMMAND, text, line)


def too_many_reply(limit: int, skipped: int, *, line: int = 0) -> Reply:
    """More command lines in one comment than are read."""
    more = "1 more was" if skipped == 1 else f"{skipped} more were"
    text = (
        f"{MARKER}\n**Only the first {limit} commands of a comment are read**; {more} not run."
        " Write them in another comment.\n"
    )
    return Reply(ReplyKind.TOO_MANY, text, line)


def refusal(command: Command | Spec, reason: str) -> str:
    """The reply to a command that will not run: why (plain text, escaped here) and its usage.

    ``reason`` is the caller's sentence, e.g. "alice does not have write access to this
    repository" or "policy k8s.x does not allow exceptions"; it may quote user text safely.
    """
    spec = _spec(command)
    because = md(reason.strip().rstrip("."), limit=500) or "refused"
    head = f"**`/compliance {spec.name}` was not run**: {because}."
    return f"{MARKER}\n{head}\n\n{_usage_footer(spec)}\n"


def combine_replies(texts: Iterable[str]) -> str:
    """Several replies to one comment as one comment, one marker at the top."""
    bodies = [t.removeprefix(MARKER).strip("\n") for t in texts]
    return f"{MARKER}\n" + "\n\n---\n\n".join(bodies) + "\n"
