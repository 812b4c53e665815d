"""Parsing a comment into commands, immediate replies, and ignored lines.

``parse_comment`` is the entry point: it finds the command lines (``lines``), drops the comment
when the bot wrote it, marks every line ignored when a bot wrote it or the comment was edited or
deleted rather than created, reads at most ``MAX_COMMANDS`` commands, and parses each with
``parse_command``. It never raises on any text: whatever a comment holds becomes a ``Command``, a
``Reply`` or an ``Ignored``.

A command line is split like a shell line (``shlex``, POSIX rules, no ``#`` comments): double
or single quotes keep spaces and wildcards together, ``--name=value`` and ``--name value`` are
the same. Curly double quotes (“ ”), which phone keyboards type, count as ``"``; whitespace such
as a non-breaking space counts as a space. Outside quotes a backslash is accepted only before a
quote, a space or another backslash: anywhere else shell rules would silently drop it
(``deploy\\app`` would become ``deployapp``), so the line is refused instead.

The first word is the command (any case); a bare ``/compliance`` is ``help``. Then every value
is checked against the command's ``Spec``: required and repeated options, unknown options (with
a did-you-mean), stray words (with a hint to quote), lengths, control characters, and each
value's shape. Problems are all reported at once, in a reply that ends with the command's usage.

Whether the policy exists, whether the deadline is allowed, who may run the command: that is
for the caller, with the repository's facts. No I/O and no clock here.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, field
from typing import Any

from bot.commands.lines import Line, command_lines
from bot.commands.model import (
    Argument,
    Check,
    Command,
    Ignored,
    IgnoreReason,
    Option,
    Reply,
    Result,
    Spec,
)
from bot.commands.registry import COMMANDS, Help, lookup
from bot.commands.replies import (
    shown,
    too_many_reply,
    unknown_command_reply,
    usage_reply,
)
from bot.commands.values import forbidden_characters

MAX_COMMANDS = 10
"""Command lines read from one comment; the rest get one reply and do not run."""
MAX_IGNORED = 20
"""Ignored lines reported from one comment (enough to audit, bounded for a hostile comment)."""
MAX_LINE = 10_000
"""Characters of one command line."""
SOURCE_LENGTH = 200
"""Characters of a line kept in ``Command.source`` and ``Ignored.text``."""

_CURLY_DOUBLE = {ord(q): '"' for q in "“”„‟"}
_CURLY_SINGLE_OPEN = ("‘", "‚", "‛")


def parse_comment(
    body: str,
    *,
    action: str = "created",
    author: str = "",
    author_is_bot: bool = False,
    bot_login: str | None = None,
) -> list[Result]:
    """The results of one comment's command lines, in the comment's order.

    ``action`` is the webhook's ("created", "edited", "deleted"; GitLab notes are "created"):
    only a created comment runs anything. ``author_is_bot`` is the forge's account type; a login
    ending in ``[bot]`` is a bot too. A comment by ``bot_login`` (this bot, with or without
    ``[bot]``) gives no results at all: its own replies quote usage, and are not worth an audit.
    An empty list means the comment has no command line.
    """
    if not isinstance(body, str) or (bot_login and _login(author) == _login(bot_login)):
        return []
    is_bot = author_is_bot or author.lower().endswith("[bot]")
    results: list[Result] = []
    read = ignored = skipped = 0
    first_skipped = 0
    for line in command_lines(body):
        reason = line.ignored
        if reason is None and is_bot:
            reason = IgnoreReason.BOT
        elif reason is None and action != "created":
            reason = IgnoreReason.NOT_CREATED
        if reason is not None:
            if ignored < MAX_IGNORED:
                results.append(Ignored(reason, line.number, _cap(line.text)))
                ignored += 1
            continue
        if read == MAX_COMMANDS:
            skipped += 1
            first_skipped = first_skipped or line.number
            continue
        read += 1
        results.append(parse_line(line))
    if skipped:
        results.append(too_many_reply(MAX_COMMANDS, skipped, line=first_skipped))
    return results


def parse_line(line: Line) -> Command | Reply:
    """One live command line (see ``lines.command_lines``)."""
    return parse_command(line.arguments, line=line.number, source=line.text)


def parse_command(arguments: str, *, line: int = 0, source: str = "") -> Command | Reply:
    """The text after ``/compliance`` on one line, as a ``Command`` or a usage ``Reply``."""
    words = arguments.split(None, 1)
    first = words[0].strip("\"'“”") if words else ""
    if len(arguments) > MAX_LINE:
        problem = f"the line is {len(arguments):,} characters long; at most {MAX_LINE:,} are read"
        return _refused(first, [problem], line)
    text = "".join(" " if ch.isspace() else ch for ch in arguments.translate(_CURLY_DOUBLE))
    try:
        tokens = shlex.split(text, comments=False, posix=True)
    except ValueError as exc:
        return _refused(first, [_quoting_problem(str(exc))], line)
    if _drops_a_backslash(text):
        return _refused(first, [_BACKSLASH], line)
    if not tokens:
        return Help(line=line, source=_cap(source))
    command = lookup(tokens[0])
    if command is None:
        return unknown_command_reply(tokens[0], line=line)
    binding = _Binding(command.SPEC)
    binding.bind(tokens[1:])
    if binding.problems:
        return usage_reply(command.SPEC, binding.problems, line=line)
    return command(**binding.fields(), line=line, source=_cap(source))


def _refused(name: str, problems: list[str], line: int) -> Reply:
    command = lookup(name)
    if command is None:
        return unknown_command_reply(name, line=line)
    return usage_reply(command.SPEC, problems, line=line)


def _quoting_problem(error: str) -> str:
    if "escaped" in error:
        return "the line ends with a backslash (`\\`), which escapes nothing"
    return (
        'a quote (`"` or `\'`) is not closed. Quote text with spaces: `--reason "two words"`;'
        " an apostrophe opens a quote too, so put text that has one in double quotes"
        ' (`--reason "it\'s needed"`)'
    )


_BACKSLASH = (
    "a backslash (`\\`) outside quotes escapes the next character and is dropped;"
    " put the value in quotes if the backslash is meant (folders are separated by `/`)"
)


def _drops_a_backslash(text: str) -> bool:
    """Would POSIX splitting silently drop a backslash (``deploy\\app`` -> ``deployapp``)?

    Outside quotes a backslash escapes any character; there it is only accepted before a quote,
    a space or another backslash, where escaping is plainly what was meant.
    """
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif quote == '"':
            if ch == "\\":
                i += 1  # skip what it escapes; "\\x" stays as written inside double quotes
            elif ch == '"':
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "\\":
            if text[i + 1 : i + 2] not in ("", '"', "'", " ", "\\"):
                return True
            i += 1
        i += 1
    return False


def _login(login: str) -> str:
    return login.lower().removesuffix("[bot]")


def _cap(text: str) -> str:
    return text if len(text) <= SOURCE_LENGTH else text[: SOURCE_LENGTH - 1] + "…"


@dataclass
class _Binding:
    """Words after the command name, matched against its ``Spec``."""

    spec: Spec
    values: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def bind(self, tokens: list[str]) -> None:
        arguments = list(self.spec.arguments)
        stray: list[str] = []  # consecutive words that fit nowhere, reported together
        after: Option | None = None  # the option whose value came just before ``stray``
        last: Option | None = None  # the option whose value is the previous word
        i = 0
        while i < len(tokens):
            token = tokens[i]
            i += 1
            if token.startswith("--"):
                self._stray(stray, after)
                stray, after = [], None
                name, equals, value = token[2:].partition("=")
                option = self.spec.option(name)
                if option is None:
                    self.problems.append(self._unknown_option(f"--{name}"))
                    if not equals and i < len(tokens) and not tokens[i].startswith("--"):
                        i += 1  # its value, most likely: one problem is enough
                    last = None
                    continue
                if not equals:
                    if i >= len(tokens) or tokens[i].startswith("--"):
                        self.problems.append(
                            f"`{option.flag}` needs a value: `{option.flag} {option.metavar}`"
                        )
                        last = None
                        continue
                    value = tokens[i]
                    i += 1
                self._option(option, value)
                last = option
                continue
            if arguments and not stray:
                self._argument(arguments.pop(0), token)
            else:
                if not stray:
                    after = last
                stray.append(token)
            last = None
        self._stray(stray, after)
        for argument in arguments:
            if argument.required:
                self.problems.append(f"missing `{argument.metavar}`")
        for option in self.spec.options:
            if option.required and option.field not in self.values:
                self.problems.append(f"missing `{option.flag} {option.metavar}`")

    def fields(self) -> dict[str, Any]:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in self.values.items()}

    def _argument(self, argument: Argument, value: str) -> None:
        self.values[argument.field] = value
        who = f"`{argument.metavar}`"
        self.problems.extend(_value_problems(who, "", value, argument.max_length, argument.check))

    def _option(self, option: Option, value: str) -> None:
        count = self.counts[option.name] = self.counts.get(option.name, 0) + 1
        if option.repeatable:
            self.values.setdefault(option.field, []).append(value)
            if count == option.max_count + 1:
                self.problems.append(f"`{option.flag}` is given more than {option.max_count} times")
        else:
            self.values[option.field] = value
            if count == 2:
                self.problems.append(f"`{option.flag}` is given more than once")
        who = f"`{option.flag}` value"
        self.problems.extend(
            _value_problems(who, who + " ", value, option.max_length, option.check)
        )

    def _unknown_option(self, flag: str) -> str:
        flags = [o.flag for o in self.spec.options]
        known = [o.name for o in self.spec.options]
        close = difflib.get_close_matches(flag.removeprefix("--"), known, n=1, cutoff=0.6)
        if close:
            return f"unknown option {shown(flag)} (did you mean `--{close[0]}`?)"
        elsewhere = [c.SPEC.name for c in COMMANDS if any(o.flag == flag for o in c.SPEC.options)]
        if elsewhere:
            return (
                f"{shown(flag)} is not an option of `/compliance {self.spec.name}`"
                f" (it is one of `/compliance {elsewhere[0]}`)"
            )
        if not flags:
            return f"unknown option {shown(flag)}: `/compliance {self.spec.name}` has no options"
        return f"unknown option {shown(flag)}; the options are " + ", ".join(
            f"`{f}`" for f in flags
        )

    def _stray(self, words: list[str], after: Option | None) -> None:
        if not words:
            return
        text = shown(" ".join(words))
        if after is not None and after.metavar == "TEXT":
            self.problems.append(
                f"unexpected {text}: text with spaces must be quoted,"
                f' e.g. `{after.flag} "two words"`'
            )
        elif not self.spec.arguments and not self.spec.options:
            self.problems.append(
                f"unexpected {text}: `/compliance {self.spec.name}` takes no arguments"
            )
        else:
            self.problems.append(f"unexpected {text}")


def _value_problems(who: str, label: str, value: str, max_length: int, check: Check) -> list[str]:
    """What is wrong with one value: ``who`` names it when the value is too long to show,
    ``label`` goes before the shown value otherwise."""
    if len(value) > max_length:
        return [f"{who} is {len(value):,} characters long; at most {max_length:,} are allowed"]
    bad = forbidden_characters(value)
    if bad:
        return [f"{label}{shown(value)} contains control characters ({', '.join(bad)})"]
    if value.startswith(_CURLY_SINGLE_OPEN):
        return [
            f"{label}{shown(value)} starts with a curly quote; quote with `'` or `\"`"
            " (straight quotes)"
        ]
    phrase = check(value)
    if phrase is None:
        return []
    if not value.strip():  # nothing to show: "`--reason` value is empty"
        return [f"{who} {phrase}"]
    return [f"{label}{shown(value)} {phrase}"]
