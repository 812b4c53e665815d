"""Property tests of the command grammar (hypothesis).

(a) No text crashes ``parse_comment``, whatever the action and author, and what it returns keeps
    its promises (bounded, markers on replies, commands only from live lines).
(b) Text inside a quote (``>``) or a fenced code block never yields a command or a reply,
    whatever it contains and whatever comes before (quotes) or after it.
(c) Help and the README section list every registered command with its usage, and every
    example in the registry parses to its own command.
(d) Any ``exempt`` command written with shell quoting, options in any order, parses back to
    exactly the values it was written from.
"""

from __future__ import annotations

import re
import shlex
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import (
    COMMANDS,
    MARKER,
    MAX_COMMANDS,
    Command,
    Exempt,
    Ignored,
    Reply,
    help_markdown,
    parse_comment,
    readme_section,
)
from bot.commands.parse import MAX_IGNORED
from bot.commands.values import POLICY_ID, RESOURCE, forbidden_characters

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
BREAK = re.compile(r"\r\n|\r|\n")
LIVE = re.compile(r" {0,3}/compliance(\s|$)", re.IGNORECASE)

# -- comments -------------------------------------------------------------------------------------

any_char = st.characters(exclude_categories=())  # lone surrogates and controls included
one_line = st.text(st.characters(exclude_categories=(), exclude_characters="\r\n"), max_size=40)
FRAGMENTS = [
    "/compliance",
    "/compliance ",
    "/Compliance recheck",
    "/compliance exempt k8s.privileged --reason 'hostPID for the exporter' --expires 30d",
    '/compliance extend EXC-1 --expires 2026-12-31 --reason "more"',
    "/compliance revoke EXC-1",
    "/compliance help exempt",
    "/compliance nope --x",
    "```",
    "````",
    "~~~",
    "```yaml",
    "~~~ `info`",
    "> ",
    ">",
    "   ",
    "    ",
    "\t",
    "- ",
    "1. ",
    "<!--",
    "-->",
    "<pre>",
    "</pre>",
    "<details>",
    '"',
    "'",
    "\\",
    "“",
    "‘",
    "--reason",
    "--paths=",
    "\u00a0",
    "\u2028",
    "\x00",
]
markdown_line = st.lists(st.sampled_from(FRAGMENTS) | one_line, max_size=5).map("".join)
separator = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def markdown(draw: st.DrawFn, max_lines: int = 25) -> str:
    lines = draw(st.lists(st.tuples(markdown_line, separator), max_size=max_lines))
    return "".join(text + sep for text, sep in lines)


comments = st.text(any_char, max_size=300) | markdown()


@SETTINGS
@given(
    body=comments,
    action=st.sampled_from(["created", "edited", "deleted", ""]),
    author=st.sampled_from(["alice", "dependabot[bot]", "compliance-bot[bot]", ""]),
    author_is_bot=st.booleans(),
    bot_login=st.sampled_from([None, "compliance-bot[bot]"]),
)
def test_a_parse_never_raises_and_keeps_its_promises(
    body, action, author, author_is_bot, bot_login
):
    results = parse_comment(
        body, action=action, author=author, author_is_bot=author_is_bot, bot_login=bot_login
    )
    assert all(isinstance(r, Command | Reply | Ignored) for r in results)
    answered = [r for r in results if not isinstance(r, Ignored)]
    assert len(answered) <= MAX_COMMANDS + 1
    assert len(results) - len(answered) <= MAX_IGNORED
    lines = BREAK.split(body)
    for result in answered:
        assert action == "created" and not author_is_bot and not author.endswith("[bot]")
        assert LIVE.match(lines[result.line - 1])
        if isinstance(result, Reply):
            assert result.text.startswith(MARKER + "\n")


# -- quotes and fences ----------------------------------------------------------------------------

command_like = st.sampled_from([f for f in FRAGMENTS if f.startswith("/")]) | st.builds(
    "/compliance {}".format, one_line
)
inner_line = command_like | markdown_line


@SETTINGS
@given(
    before=markdown(max_lines=8),
    quoted=st.lists(
        st.tuples(st.sampled_from([">", "> ", "> > ", "   > ", ">>", " >\t"]), inner_line),
        min_size=1,
        max_size=10,
    ),
    after=markdown(max_lines=8),
)
def test_nothing_in_a_quote_runs(before, quoted, after):
    start = len(BREAK.split(before + "\n")) - 1  # lines before the block ("\r\n" is one break)
    block = "\n".join(marker + text for marker, text in quoted)
    results = parse_comment(f"{before}\n{block}\n{after}")
    inside = range(start + 1, start + 1 + len(quoted))
    assert all(isinstance(r, Ignored) for r in results if r.line in inside)


@st.composite
def fenced(draw: st.DrawFn) -> tuple[str, int, bool]:
    """A fenced block at the start of a comment: its text, its line count, whether closed."""
    char = draw(st.sampled_from("`~"))
    length = draw(st.integers(3, 6))
    indent = " " * draw(st.integers(0, 3))
    info = draw(one_line.filter(lambda s: char != "`" or "`" not in s))
    closing = re.compile(rf" {{0,3}}{re.escape(char)}{{{length},}}[ \t]*")
    inner = draw(st.lists(inner_line.filter(lambda s: not closing.fullmatch(s)), max_size=10))
    closed = draw(st.booleans())
    lines = [indent + char * length + info, *inner]
    if closed:
        lines.append(" " * draw(st.integers(0, 3)) + char * draw(st.integers(length, 8)))
    return "\n".join(lines), len(lines), closed


@SETTINGS
@given(block=fenced(), after=markdown(max_lines=8))
def test_nothing_in_a_fenced_block_runs(block, after):
    text, count, closed = block
    if closed:
        results = parse_comment(f"{text}\n{after}")
        assert all(isinstance(r, Ignored) for r in results if r.line <= count)
    else:  # an unclosed fence runs to the end of the comment
        assert all(isinstance(r, Ignored) for r in parse_comment(text))


# -- help is generated from the registry ----------------------------------------------------------


@given(command=st.sampled_from(COMMANDS))
def test_help_lists_every_command_with_its_usage(command):
    spec = command.SPEC
    usage_cell = spec.usage.replace("|", "\\|")  # GFM table cells escape pipes
    in_table = f"| `{usage_cell}` | {spec.permission.who} |"
    assert in_table in help_markdown()
    assert in_table in readme_section()
    assert f"`{spec.usage}`" in help_markdown(spec.name)
    assert f"### `/compliance {spec.name}`\n\n`{spec.usage}`" in readme_section()
    for option in spec.options:
        assert f"- `{option.flag} {option.metavar}`: " in help_markdown(spec.name)
    for example in spec.examples:
        [parsed] = parse_comment(example)
        assert type(parsed) is command


# -- exempt round trip ----------------------------------------------------------------------------


def _plain(text: str) -> bool:
    """Text that reads back as written: no characters the parser refuses or rewrites."""
    return (
        bool(text.strip())
        and not forbidden_characters(text)
        and not any(ch.isspace() and ch != " " for ch in text)
        and not any(ch in "“”„‟" for ch in text)
        and not text.startswith(("‘", "‚", "‛"))
    )


value = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30).filter(_plain)
expires = (
    st.integers(1, 366).map("{}d".format)
    | st.dates()
    .map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}")
    .filter(lambda s: not s.startswith("9999-12-31"))
    | st.sampled_from(["2026-12-31T18:00:00Z", "2026-01-01T00:00:00.5+05:30"])
)


@st.composite
def exempt_commands(draw: st.DrawFn) -> tuple[str, Exempt]:
    policy = draw(st.from_regex(POLICY_ID, fullmatch=True))
    resource = st.from_regex(RESOURCE, fullmatch=True).filter(_plain)
    options = [("paths", p) for p in draw(st.lists(value, max_size=4))]
    options += [("resources", r) for r in draw(st.lists(resource, max_size=3))]
    options += [("reason", draw(value)), ("expires", draw(expires))]
    ticket = draw(st.none() | value)
    if ticket is not None:
        options.append(("ticket", ticket))
    options = draw(st.permutations(options))
    words = [f"/compliance exempt {policy}"]
    for name, text in options:
        joined = text.startswith("--") or draw(st.booleans())
        words.append(f"--{name}={shlex.quote(text)}" if joined else f"--{name} {shlex.quote(text)}")
    single = dict(options)
    expected = Exempt(
        policy=policy,
        paths=tuple(t for n, t in options if n == "paths"),  # in the order written
        resources=tuple(t for n, t in options if n == "resources"),
        reason=single["reason"],
        expires=single["expires"],
        ticket=ticket,
    )
    return " ".join(words), expected


@SETTINGS
@given(case=exempt_commands())
def test_exempt_round_trip(case):
    line, expected = case
    assert parse_comment(line) == [expected]


# -- cost -----------------------------------------------------------------------------------------

HOSTILE = {
    "commands": "/compliance recheck\n" * 5000,
    "quoted commands": "> /compliance recheck\n" * 5000,
    "fences": "```\n" * 25000,
    "nested quotes": "> " * 50000,
    "nested lists": "\n".join("  " * i + "- x" for i in range(400)),
    "long command": "/compliance exempt " + "a" * 99_000,
    "quotes": "/compliance exempt '" + "\"'" * 4000,
    "brackets": "[" * 100_000,
    "html": "<!--\n" * 20000,
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_comments_are_cheap(name):
    started = time.perf_counter()
    parse_comment(HOSTILE[name])
    assert time.perf_counter() - started < 2.0
