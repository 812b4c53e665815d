"""The records of the comment-command layer: how a command is described, and what parsing returns.

A command is described once, by a ``Spec``: its name, its positional ``Argument``s and its
``Option``s (each with the shape check of its values and a line of help), who may run it
(``Permission``), a one-line summary and examples. The usage line is generated from the spec, so
the grammar the parser enforces and the usage people read can't drift apart.

Parsing a comment returns ``Result``s, each one of:

- a ``Command``: a frozen dataclass whose fields are the typed arguments (``registry`` holds the
  concrete ones); nothing has been checked against the repository yet;
- a ``Reply``: the bot answers at once (usage error, unknown command, too many commands), and
  runs nothing for that line;
- an ``Ignored``: a ``/compliance`` line that runs nothing and gets no answer (quoted, in code,
  written by a bot, or in an edited comment), kept so the caller can audit it (DESIGN §5 item 11).

No I/O, no forge, no clock here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar


class Permission(enum.Enum):
    """Who may run a command; the caller knows the facts (author, write access)."""

    ANYONE = "anyone"
    AUTHOR_OR_WRITE = "author-or-write"
    WRITE = "write"

    def allows(self, *, is_author: bool, can_write: bool) -> bool:
        """May someone run the command? ``is_author``: they opened the pull request;
        ``can_write``: they have write access (or more) to the repository."""
        if self is Permission.ANYONE:
            return True
        if self is Permission.AUTHOR_OR_WRITE:
            return is_author or can_write
        return can_write

    @property
    def who(self) -> str:
        """For people: who may run a command with this permission."""
        return _WHO[self]


_WHO = {
    Permission.ANYONE: "anyone",
    Permission.AUTHOR_OR_WRITE: "the pull request's author, or anyone with write access",
    Permission.WRITE: "people with write access to the repository",
}

Check = Callable[[str], str | None]
"""A value's shape check: ``None`` when fine, else a Markdown phrase completing "VALUE ..."."""


@dataclass(frozen=True)
class Argument:
    """A positional argument: ``field`` names the command's dataclass field it fills."""

    field: str
    metavar: str
    help: str
    check: Check
    required: bool = True
    max_length: int = 128


@dataclass(frozen=True)
class Option:
    """A ``--name VALUE`` (or ``--name=VALUE``) option; it fills the field ``name``, or, when
    repeatable, the tuple field ``name``."""

    name: str
    metavar: str
    help: str
    check: Check
    required: bool = False
    repeatable: bool = False
    max_count: int = 1
    max_length: int = 256

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def field(self) -> str:
        return self.name.replace("-", "_")

    @property
    def usage(self) -> str:
        text = f"{self.flag} {self.metavar}"
        if self.required:
            return text
        return f"[{text}]..." if self.repeatable else f"[{text}]"


@dataclass(frozen=True)
class Spec:
    """Everything about one command that is not its handler: grammar, permission and help."""

    name: str
    permission: Permission
    summary: str  # one sentence, Markdown
    arguments: tuple[Argument, ...] = ()
    options: tuple[Option, ...] = ()
    examples: tuple[str, ...] = ()  # whole command lines, ``/compliance`` included
    notes: tuple[str, ...] = ()  # extra Markdown paragraphs for ``help COMMAND``

    @property
    def usage(self) -> str:
        """The usage line, e.g. ``/compliance revoke EXCEPTION-ID [--reason TEXT]``."""
        words = [f"/compliance {self.name}"]
        for arg in self.arguments:
            words.append(arg.metavar if arg.required else f"[{arg.metavar}]")
        words.extend(option.usage for option in self.options)
        return " ".join(words)

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


@dataclass(frozen=True, kw_only=True)
class Command:
    """A parsed command; subclasses add the typed arguments as fields and set ``SPEC``."""

    SPEC: ClassVar[Spec]
    line: int = field(default=0, compare=False)  # 1-based line of the comment it was on
    source: str = field(default="", compare=False, repr=False)  # the line as typed (capped)

    @property
    def name(self) -> str:
        return self.SPEC.name

    @property
    def permission(self) -> Permission:
        return self.SPEC.permission


class ReplyKind(enum.Enum):
    USAGE = "usage"  # a known command, wrongly written
    UNKNOWN_COMMAND = "unknown-command"
    TOO_MANY = "too-many"  # more commands in one comment than are read


@dataclass(frozen=True)
class Reply:
    """An immediate answer; ``text`` is the whole comment body, hidden marker first."""

    kind: ReplyKind
    text: str
    line: int = 0
    command: str | None = None  # the command's name, when it is a known one


class IgnoreReason(enum.Enum):
    QUOTED = "quoted"  # in a ``>`` quote: someone else's words, or the author's earlier ones
    CODE = "code"  # in a fenced code block, or indented by four columns or more
    HTML = "html"  # in an HTML comment or a <pre>/<script>/<style>/<textarea> block
    BOT = "bot"  # the comment's author is a bot
    NOT_CREATED = "not-created"  # the comment was edited or deleted, not created


@dataclass(frozen=True)
class Ignored:
    """A ``/compliance`` line that runs nothing and gets no answer."""

    reason: IgnoreReason
    line: int
    text: str  # the line, capped


Result = Command | Reply | Ignored
