"""Replies generated from the registry: help, the README section, refusals; golden files."""

from __future__ import annotations

import re

import pytest

from bot.commands import (
    COMMANDS,
    MARKER,
    Command,
    Exempt,
    Recheck,
    combine_replies,
    help_markdown,
    parse_comment,
    readme_section,
    refusal,
)
from bot.commands.replies import shown

# The grammar of DESIGN.md §4 "Comment commands", word for word (help also takes a COMMAND).
DESIGN_USAGE = {
    "help": "/compliance help [COMMAND]",
    "recheck": "/compliance recheck",
    "explain": "/compliance explain POLICY",
    "list": "/compliance list",
    "exempt": "/compliance exempt POLICY [--paths GLOB]... [--resources R]... --reason TEXT"
    " --expires DATE|Nd [--ticket ID]",
    "extend": "/compliance extend EXCEPTION-ID --expires DATE|Nd --reason TEXT",
    "revoke": "/compliance revoke EXCEPTION-ID [--reason TEXT]",
}
PERMISSIONS = {
    "help": "anyone",
    "recheck": "author-or-write",
    "explain": "anyone",
    "list": "anyone",
    "exempt": "write",
    "extend": "write",
    "revoke": "write",
}


def test_the_registry_is_the_designs_grammar():
    assert {c.SPEC.name: c.SPEC.usage for c in COMMANDS} == DESIGN_USAGE
    assert {c.SPEC.name: c.SPEC.permission.value for c in COMMANDS} == PERMISSIONS


def test_help(golden):
    golden("help.md", help_markdown())


@pytest.mark.parametrize("name", [c.SPEC.name for c in COMMANDS])
def test_help_for_one_command(golden, name):
    text = help_markdown(name)
    assert text.startswith(f"{MARKER}\n### `/compliance {name}`\n")
    golden(f"help-{name}.md", text)


def test_help_for_an_unknown_topic_is_the_whole_help():
    assert help_markdown("nope") == help_markdown() == help_markdown(None)
    assert help_markdown("EXEMPT") == help_markdown("exempt")


def test_readme_section(golden):
    """The README carries it verbatim (``tests/test_readme.py``)."""
    golden("readme_section.md", readme_section())


def test_refusal(golden):
    [command] = parse_comment(
        "/compliance exempt k8s.privileged --reason 'hostPID for metrics' --expires 30d"
    )
    assert isinstance(command, Exempt)
    text = refusal(command, "alice does not have write access to this repository.")
    assert text.startswith(MARKER + "\n**`/compliance exempt` was not run**: alice does not")
    assert "Who may run it: people with write access to the repository." in text
    assert f"Usage: `{DESIGN_USAGE['exempt']}`" in text
    golden("refusal-exempt.md", text)


def test_refusal_escapes_the_reason(golden):
    text = refusal(Recheck(), "<!-- compliance-bot:check --> @alice is not #1 [x](y) `z`")
    assert "<!--" not in text.split("\n", 1)[1]
    assert "@\u200dalice" in text and "#\u200d1" in text
    assert "\\[x\\](y)" in text and "\\`z\\`" in text
    golden("refusal-hostile.md", text)


def test_refusal_takes_a_spec_too():
    assert refusal(Recheck.SPEC, "no") == refusal(Recheck(), "no")


def test_combine_replies_keeps_one_marker():
    one, two = refusal(Recheck(), "a"), help_markdown("list")
    combined = combine_replies([one, two])
    assert combined.count(MARKER) == 1 and combined.startswith(MARKER + "\n")
    assert "\n\n---\n\n### `/compliance list`" in combined


@pytest.mark.parametrize(
    "value, expected",
    [
        ("k8s.privileged", "`k8s.privileged`"),
        ("two words", "`two words`"),
        ("@alice", "`@alice`"),  # no mention inside a code span
        ("a`b", "a\\`b"),
        ("<b>", "&lt;b&gt;"),
        ("", "(empty)"),
        ("  ", "(blank)"),
        (" padded", " padded"),
        ("x" * 100, "`" + "x" * 79 + "…`"),
        ("bell\x07", "`bell\\x07`"),
    ],
)
def test_shown(value, expected):
    assert shown(value) == expected


def _replies() -> list[str]:
    texts = [help_markdown(), readme_section(), refusal(Recheck(), "x")]
    texts += [help_markdown(c.SPEC.name) for c in COMMANDS]
    texts += [r.text for r in parse_comment("/compliance exempt\n/compliance nope")]
    return texts


@pytest.mark.parametrize("text", _replies())
def test_replies_never_hold_a_command_line(text):
    """A reply quoted or pasted back can't run anything, not even without its marker."""
    assert not re.search(r"^ {0,3}/compliance", text, re.M | re.I)
    assert all(not isinstance(r, Command) for r in parse_comment(text, author="someone"))
