"""Comment commands: ``/compliance ...`` lines in pull request comments, parsed into data.

The pure layer between a comment and the handler that acts on it (DESIGN §4 "Comment
commands", §5 item 11):

- ``registry``: every command, declared once with its grammar, permission, help and examples,
  as a frozen dataclass of typed arguments (``Exempt``, ``Extend``, ``Revoke``, ...);
- ``lines``: which lines of a comment are commands (not quoted, not in code or hidden HTML);
- ``parse``: ``parse_comment`` turns a comment into ``Command``s, immediate ``Reply``s (usage
  errors, unknown commands) and ``Ignored`` lines, and never raises;
- ``replies``: help, usage errors, refusals and the README section, generated from the
  registry, each reply starting with a hidden marker;
- ``values``: the shape of argument values, and ``resolve_expires`` for ``--expires``.

No forge, no I/O, no clock: the caller passes the comment, its author and action, and ``now``
when a deadline must be resolved. Permission checks, the repository's facts (does the policy
exist, is the deadline allowed) and the effects belong to the handler.
"""

from bot.commands.model import (
    Command,
    Ignored,
    IgnoreReason,
    Permission,
    Reply,
    ReplyKind,
    Result,
    Spec,
)
from bot.commands.parse import MAX_COMMANDS, parse_command, parse_comment
from bot.commands.registry import (
    COMMANDS,
    Exempt,
    Explain,
    Extend,
    Help,
    ListExceptions,
    Recheck,
    Revoke,
    lookup,
)
from bot.commands.replies import (
    MARKER,
    combine_replies,
    help_markdown,
    readme_section,
    refusal,
)
from bot.commands.values import expires_text, resolve_expires

__all__ = [
    "COMMANDS",
    "MARKER",
    "MAX_COMMANDS",
    "Command",
    "Exempt",
    "Explain",
    "Extend",
    "Help",
    "IgnoreReason",
    "Ignored",
    "ListExceptions",
    "Permission",
    "Recheck",
    "Reply",
    "ReplyKind",
    "Result",
    "Revoke",
    "Spec",
    "combine_replies",
    "expires_text",
    "help_markdown",
    "lookup",
    "parse_command",
    "parse_comment",
    "readme_section",
    "refusal",
    "resolve_expires",
]
