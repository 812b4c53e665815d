"""``parse_comment``: which lines are commands, what each command parses to, and every usage error.

Tables, one row per case. Usage-error replies are compared with golden files under ``golden/``
(``UPDATE_GOLDEN=1`` rewrites them); the table also names what each reply must say, so a golden
file can't silently accept a wrong message.
"""

from __future__ import annotations

import pytest

from bot.commands import (
    MARKER,
    MAX_COMMANDS,
    Exempt,
    Explain,
    Extend,
    Help,
    Ignored,
    IgnoreReason,
    ListExceptions,
    Recheck,
    Reply,
    ReplyKind,
    Revoke,
    parse_comment,
)
from bot.commands.parse import MAX_IGNORED, MAX_LINE, SOURCE_LENGTH

REASON = "node-exporter reads host metrics through hostPID"
EXEMPT = f"/compliance exempt k8s.privileged --reason '{REASON}' --expires 30d"

# -- commands that parse ---------------------------------------------------------------------------

VALID = [
    ("/compliance help", Help()),
    ("/compliance", Help()),
    ("/compliance   ", Help()),
    ("/compliance help exempt", Help(topic="exempt")),
    ("/compliance help EXEMPT", Help(topic="EXEMPT")),
    ("/compliance recheck", Recheck()),
    ("/Compliance Recheck", Recheck()),
    ("/COMPLIANCE RECHECK", Recheck()),
    ("   /compliance recheck", Recheck()),
    ("/compliance recheck   ", Recheck()),
    ("/compliance\trecheck", Recheck()),
    ("/compliance\u00a0recheck", Recheck()),  # a non-breaking space separates words too
    ("/compliance explain k8s.privileged", Explain(policy="k8s.privileged")),
    ("/compliance explain docker.root-user_2", Explain(policy="docker.root-user_2")),
    ("/compliance list", ListExceptions()),
    (
        EXEMPT,
        Exempt(policy="k8s.privileged", reason=REASON, expires="30d"),
    ),
    (
        "/compliance exempt k8s.privileged --paths 'deploy/node-exporter/**'"
        f' --reason "{REASON}" --expires 30d --ticket SEC-12',
        Exempt(
            policy="k8s.privileged",
            paths=("deploy/node-exporter/**",),
            reason=REASON,
            expires="30d",
            ticket="SEC-12",
        ),
    ),
    (  # options in any order, repeated --paths and --resources keep their order, --name=value
        f"/compliance exempt k8s.host-network --expires=2026-12-31 --reason={REASON!r}"
        " --paths 'a/**' --resources DaemonSet/monitoring/node-exporter --paths=b/c.yaml"
        " --resources Pod/web",
        Exempt(
            policy="k8s.host-network",
            paths=("a/**", "b/c.yaml"),
            resources=("DaemonSet/monitoring/node-exporter", "Pod/web"),
            reason=REASON,
            expires="2026-12-31",
        ),
    ),
    (  # curly double quotes from a phone keyboard are quotes
        "/compliance exempt k8s.privileged --reason “the exporter needs hostPID, really”"
        " --expires 2026-12-31T18:00:00Z",
        Exempt(
            policy="k8s.privileged",
            reason="the exporter needs hostPID, really",
            expires="2026-12-31T18:00:00Z",
        ),
    ),
    (  # escaped double quotes, an apostrophe inside double quotes, '#' is not a comment
        '/compliance exempt k8s.privileged --reason "it\'s the \\"exporter\\" that needs it"'
        " --expires 2026-12-31T18:00:00+02:00 --ticket #1234",
        Exempt(
            policy="k8s.privileged",
            reason='it\'s the "exporter" that needs it',
            expires="2026-12-31T18:00:00+02:00",
            ticket="#1234",
        ),
    ),
    (  # unicode survives, emoji with joiners included
        "/compliance exempt k8s.privileged --reason 'Überwachung braucht hostPID 👩\u200d💻 ok'"
        " --expires 7D",
        Exempt(
            policy="k8s.privileged",
            reason="Überwachung braucht hostPID 👩\u200d💻 ok",
            expires="7D",
        ),
    ),
    (  # a quoted backslash is kept, for the validator to refuse with the line named
        f"{EXEMPT} --paths 'deploy\\app/**' --ticket it\\'s\\ ok",
        Exempt(
            policy="k8s.privileged",
            paths=("deploy\\app/**",),
            reason=REASON,
            expires="30d",
            ticket="it's ok",
        ),
    ),
    (
        "/compliance extend EXC-7 --expires 30d --reason 'the upstream fix ships in v2.4'",
        Extend(exception_id="EXC-7", expires="30d", reason="the upstream fix ships in v2.4"),
    ),
    (
        "/compliance extend a.b_c-9 --reason 'x' --expires 366d",
        Extend(exception_id="a.b_c-9", expires="366d", reason="x"),
    ),
    ("/compliance revoke EXC-7", Revoke(exception_id="EXC-7")),
    (
        "/compliance revoke EXC-7 --reason 'no longer needed'",
        Revoke(exception_id="EXC-7", reason="no longer needed"),
    ),
]


@pytest.mark.parametrize("body, expected", VALID, ids=[v[0][:60] for v in VALID])
def test_valid_commands(body, expected):
    assert parse_comment(body) == [expected]


def test_a_command_keeps_its_line_and_source():
    [command] = parse_comment("thanks!\n\n  /compliance recheck  ")
    assert command == Recheck()
    assert (command.line, command.source) == (3, "  /compliance recheck  ")
    assert command.name == "recheck"
    long = parse_comment(EXEMPT + " --ticket " + "T" * 200)[0]
    assert isinstance(long, Exempt)
    assert len(long.source) == SOURCE_LENGTH


# -- usage errors (golden replies) ----------------------------------------------------------------

# name (golden file usage-NAME.md), comment, command, what the reply must say
USAGE = [
    ("exempt-nothing", "/compliance exempt", "exempt", ["missing `POLICY`", "missing `--reason"]),
    (
        "exempt-missing-options",
        "/compliance exempt k8s.privileged",
        "exempt",
        ["missing `--reason TEXT`", "missing `--expires DATE|Nd`"],
    ),
    (
        "exempt-policy-shape",
        f"/compliance exempt K8S.Privileged --reason '{REASON}' --expires 30d",
        "exempt",
        ["`K8S.Privileged` is not a policy id", "lowercase: `k8s.privileged`"],
    ),
    (
        "exempt-policy-wildcard",
        f"/compliance exempt 'k8s.*' --reason '{REASON}' --expires 30d",
        "exempt",
        ["`k8s.*` is not a policy id"],
    ),
    (
        "exempt-unknown-option",
        f"/compliance exempt k8s.privileged --reasn '{REASON}' --expires 30d",
        "exempt",
        ["unknown option `--reasn` (did you mean `--reason`?)", "missing `--reason TEXT`"],
    ),
    (
        "exempt-unknown-option-far",
        f"{EXEMPT} --force",
        "exempt",
        ["unknown option `--force`; the options are `--paths`"],
    ),
    (
        "exempt-repeated-option",
        f"{EXEMPT} --reason 'another reason entirely'",
        "exempt",
        ["`--reason` is given more than once"],
    ),
    (
        "exempt-too-many-paths",
        EXEMPT + "".join(f" --paths p{i}/**" for i in range(21)),
        "exempt",
        ["`--paths` is given more than 20 times"],
    ),
    (
        "exempt-option-without-value",
        f"/compliance exempt k8s.privileged --reason '{REASON}' --expires",
        "exempt",
        ["`--expires` needs a value: `--expires DATE|Nd`"],
    ),
    (
        "exempt-option-followed-by-option",
        "/compliance exempt k8s.privileged --reason --expires 30d",
        "exempt",
        ["`--reason` needs a value"],
    ),
    (
        "exempt-unquoted-reason",
        "/compliance exempt k8s.privileged --reason needs host metrics --expires 30d",
        "exempt",
        ["unexpected `host metrics`: text with spaces must be quoted"],
    ),
    (
        "exempt-two-policies",
        f"/compliance exempt k8s.privileged k8s.host-pid --reason '{REASON}' --expires 30d",
        "exempt",
        ["unexpected `k8s.host-pid`"],
    ),
    (
        "exempt-expires-no-unit",
        f"/compliance exempt k8s.privileged --reason '{REASON}' --expires 30",
        "exempt",
        ["`--expires` value `30` has no unit; write days as `30d`"],
    ),
    (
        "exempt-expires-zero-days",
        f"/compliance exempt k8s.privileged --reason '{REASON}' --expires 0d",
        "exempt",
        ["`0d` is not between `1d` and `366d`"],
    ),
    (
        "exempt-expires-too-many-days",
        f"/compliance exempt k8s.privileged --reason '{REASON}' --expires 367d",
        "exempt",
        ["`367d` is not between `1d` and `366d`"],
    ),
    (
        "exempt-expires-not-a-date",
        f"/compliance exempt k8s.privileged --reason '{REASON}' --expires 2026-02-30",
        "exempt",
        ["`2026-02-30` is not a real date"],
    ),
    (
        "exempt-expires-no-offset",
        f"/compliance exempt k8s.privileged --reason '{REASON}' --expires 2026-12-31T18:00:00",
        "exempt",
        ["`2026-12-31T18:00:00` is not a date"],
    ),
    (
        "exempt-expires-words",
        f"/compliance exempt k8s.privileged --reason '{REASON}' --expires tomorrow",
        "exempt",
        ["`tomorrow` is not a date (`2026-12-31`)"],
    ),
    (
        "exempt-resource-shape",
        f"{EXEMPT} --resources node-exporter",
        "exempt",
        ["`node-exporter` is not `Kind/name` or `Kind/namespace/name`"],
    ),
    (
        "exempt-empty-values",
        "/compliance exempt k8s.privileged --paths '' --reason \"  \" --expires 30d",
        "exempt",
        ["`--paths` value is empty; give a glob", "`--reason` value is empty"],
    ),
    (
        "exempt-control-characters",
        "/compliance exempt k8s.privileged --reason 'hostPID is needed \u202eevil\u202c ok'"
        " --paths 'a\x07b' --expires 30d",
        "exempt",
        ["contains control characters (U+202C, U+202E)", "contains control characters (U+0007)"],
    ),
    (
        "exempt-curly-single-quotes",
        f"{EXEMPT} --paths ‘deploy/**’",
        "exempt",
        ["starts with a curly quote"],
    ),
    (
        "exempt-reason-too-long",
        f"/compliance exempt k8s.privileged --reason '{'x' * 4001}' --expires 30d",
        "exempt",
        ["`--reason` value is 4,001 characters long; at most 4,000 are allowed"],
    ),
    (
        "exempt-unbalanced-quote",
        "/compliance exempt k8s.privileged --reason \"it's needed --expires 30d",
        "exempt",
        ["a quote (`\"` or `'`) is not closed"],
    ),
    (
        "exempt-apostrophe",
        "/compliance exempt k8s.privileged --reason it's-needed --expires 30d",
        "exempt",
        ["an apostrophe opens a quote too"],
    ),
    (
        "exempt-unquoted-backslash",
        f"{EXEMPT} --paths deploy\\app\\**",
        "exempt",
        ["a backslash (`\\`) outside quotes escapes the next character and is dropped"],
    ),
    (
        "exempt-trailing-backslash",
        f"{EXEMPT} \\",
        "exempt",
        ["the line ends with a backslash"],
    ),
    (
        "exempt-line-too-long",
        f"{EXEMPT} --ticket {'T' * MAX_LINE}",
        "exempt",
        [f"characters long; at most {MAX_LINE:,} are read"],
    ),
    (
        "extend-nothing",
        "/compliance extend",
        "extend",
        ["missing `EXCEPTION-ID`", "missing `--expires DATE|Nd`", "missing `--reason TEXT`"],
    ),
    (
        "extend-id-shape",
        "/compliance extend 'EXC 7' --expires 30d --reason 'needs longer'",
        "extend",
        ["`EXC 7` is not an exception id"],
    ),
    (
        "extend-option-of-another-command",
        "/compliance extend EXC-7 --paths 'a/**' --expires 30d --reason 'needs longer'",
        "extend",
        ["`--paths` is not an option of `/compliance extend` (it is one of `/compliance exempt`)"],
    ),
    (
        "revoke-nothing",
        "/compliance revoke --reason 'not needed'",
        "revoke",
        ["missing `EXCEPTION-ID`"],
    ),
    (
        "revoke-id-too-long",
        f"/compliance revoke {'E' * 65}",
        "revoke",
        ["is not an exception id"],
    ),
    (
        "recheck-arguments",
        "/compliance recheck now please",
        "recheck",
        ["unexpected `now please`: `/compliance recheck` takes no arguments"],
    ),
    (
        "recheck-option",
        "/compliance recheck --force",
        "recheck",
        ["unknown option `--force`: `/compliance recheck` has no options"],
    ),
    ("explain-nothing", "/compliance explain", "explain", ["missing `POLICY`"]),
    (
        "help-unknown-topic",
        "/compliance help frobnicate",
        "help",
        ["`frobnicate` is not a command; the commands are `help`, `recheck`"],
    ),
    (
        "list-hostile-argument",
        "/compliance list '<!-- compliance-bot:reply --> @alice #12 [x](http://e.vil)'",
        "list",
        ["unexpected &lt;\\!-- compliance-bot:reply --&gt; @\u200dalice #\u200d12"],
    ),
]


@pytest.mark.parametrize("name, body, command, says", USAGE, ids=[u[0] for u in USAGE])
def test_usage_errors(golden, name, body, command, says):
    [reply] = parse_comment(body)
    assert isinstance(reply, Reply)
    assert (reply.kind, reply.command, reply.line) == (ReplyKind.USAGE, command, 1)
    assert reply.text.startswith(MARKER + "\n")
    assert f"**`/compliance {command}` was not run**" in reply.text
    for phrase in says:
        assert phrase in reply.text
    golden(f"usage-{name}.md", reply.text)


UNKNOWN = [
    ("unknown-typo", "/compliance exemt k8s.privileged", "Did you mean `/compliance exempt`?"),
    ("unknown-word", "/compliance frobnicate", "**`frobnicate` is not a command.**"),
    ("unknown-option-first", "/compliance --help", "Did you mean `/compliance help`?"),
    (
        "unknown-hostile",
        "/compliance <img src=x onerror=alert(1)>",
        "**&lt;img is not a command.**",
    ),
]


@pytest.mark.parametrize("name, body, says", UNKNOWN, ids=[u[0] for u in UNKNOWN])
def test_unknown_commands_list_the_commands(golden, name, body, says):
    [reply] = parse_comment(body)
    assert isinstance(reply, Reply)
    assert (reply.kind, reply.command) == (ReplyKind.UNKNOWN_COMMAND, None)
    assert says in reply.text
    assert "| `/compliance exempt POLICY" in reply.text
    golden(f"{name}.md", reply.text)


def test_too_many_commands_in_one_comment(golden):
    body = "\n".join(["/compliance recheck"] * (MAX_COMMANDS + 3))
    results = parse_comment(body)
    assert results[:MAX_COMMANDS] == [Recheck()] * MAX_COMMANDS
    [reply] = results[MAX_COMMANDS:]
    assert isinstance(reply, Reply)
    assert (reply.kind, reply.line) == (ReplyKind.TOO_MANY, MAX_COMMANDS + 1)
    assert "3 more were not run" in reply.text
    golden("too-many.md", reply.text)


def test_usage_errors_count_towards_the_limit():
    body = "\n".join(["/compliance nope"] * MAX_COMMANDS + ["/compliance recheck"])
    results = parse_comment(body)
    assert len(results) == MAX_COMMANDS + 1
    assert all(isinstance(r, Reply) for r in results)
    assert results[-1].kind is ReplyKind.TOO_MANY


# -- which lines are commands ---------------------------------------------------------------------

R = Recheck()


def ignored(reason: IgnoreReason, line: int) -> tuple[str, IgnoreReason, int]:
    return ("ignored", reason, line)


QUOTED, CODE, HTML = IgnoreReason.QUOTED, IgnoreReason.CODE, IgnoreReason.HTML

LINES = [
    # quotes
    ("quoted", "> /compliance recheck", [ignored(QUOTED, 1)]),
    ("quoted-no-space", ">/compliance recheck", [ignored(QUOTED, 1)]),
    ("quoted-nested", "> > /compliance recheck", [ignored(QUOTED, 1)]),
    ("quoted-indented", "   > /compliance recheck", [ignored(QUOTED, 1)]),
    (
        "quote-reply-then-command",
        "> /compliance exempt k8s.privileged\n> please?\n\n/compliance recheck",
        [ignored(QUOTED, 1), ("command", R, 4)],
    ),
    # a line without ">" that CommonMark folds into the quote is the commenter's own typing
    ("quote-lazy-continuation", "> can you?\n/compliance recheck", [("command", R, 2)]),
    # fenced code
    ("fence-backticks", "```\n/compliance recheck\n```", [ignored(CODE, 2)]),
    ("fence-tildes", "~~~\n/compliance recheck\n~~~", [ignored(CODE, 2)]),
    ("fence-info-string", "```shell title\n/compliance recheck\n```", [ignored(CODE, 2)]),
    ("fence-tilde-info", "~~~ yaml `x`\n/compliance recheck\n~~~", [ignored(CODE, 2)]),
    (
        "fence-then-command",
        "```\n/compliance recheck\n```\n/compliance recheck",
        [ignored(CODE, 2), ("command", R, 4)],
    ),
    (
        "fence-longer-not-closed-by-shorter",
        "````\n```\n/compliance recheck\n````\n/compliance recheck",
        [ignored(CODE, 3), ("command", R, 5)],
    ),
    (
        "fence-tilde-not-closed-by-backticks",
        "~~~\n```\n/compliance recheck\n~~~\n/compliance recheck",
        [ignored(CODE, 3), ("command", R, 5)],
    ),
    (
        "fence-nested-in-fence",
        "~~~~\n```\n~~~\n/compliance recheck\n```\n~~~~\n/compliance recheck",
        [ignored(CODE, 4), ("command", R, 7)],
    ),
    (
        "fence-unclosed",
        "```\n/compliance recheck\n\nstill code\n/compliance list",
        [ignored(CODE, 2), ignored(CODE, 5)],
    ),
    (
        "fence-closing-with-trailing-spaces",
        "```\n/compliance recheck\n```   \n/compliance recheck",
        [ignored(CODE, 2), ("command", R, 4)],
    ),
    (
        "fence-closing-with-text-does-not-close",
        "```\n```not-a-close\n/compliance recheck\n```\n/compliance recheck",
        [ignored(CODE, 3), ("command", R, 5)],
    ),
    ("fence-indented-3", "   ```\n/compliance recheck\n   ```", [ignored(CODE, 2)]),
    (
        "fence-in-list-item",
        "- ```\n  /compliance recheck\n  ```\n/compliance recheck",
        [ignored(CODE, 2), ("command", R, 4)],
    ),
    (
        # the list item ends at the unindented line, which opens a new top-level fence
        "fence-list-item-ended",
        "- ```\n  x\n```\n/compliance recheck\n```\n/compliance recheck",
        [ignored(CODE, 4), ("command", R, 6)],
    ),
    (
        "backticks-in-info-is-not-a-fence",
        "``` a`b\n/compliance recheck",
        [("command", R, 2)],
    ),
    ("two-backticks-is-not-a-fence", "``\n/compliance recheck", [("command", R, 2)]),
    (
        "fence-in-quote-ends-with-quote",
        "> ```\n> /compliance recheck\n\n/compliance recheck",
        [ignored(CODE, 2), ("command", R, 4)],
    ),
    # indentation
    ("indented-4", "    /compliance recheck", [ignored(CODE, 1)]),
    ("indented-tab", "\t/compliance recheck", [ignored(CODE, 1)]),
    ("indented-space-tab", " \t/compliance recheck", [ignored(CODE, 1)]),
    ("indented-after-paragraph", "text\n    /compliance recheck", [ignored(CODE, 1 + 1)]),
    # HTML
    (
        "html-comment",
        "<!--\n/compliance recheck\n-->\n/compliance recheck",
        [
            ignored(HTML, 2),
            ("command", R, 4),
        ],
    ),
    ("html-pre", "<pre>\n/compliance recheck\n</pre>", [ignored(HTML, 2)]),
    ("html-details-is-shown", "<details>\n/compliance recheck\n</details>", [("command", R, 2)]),
    # not at the start of a line
    ("mid-line", "please /compliance recheck", []),
    ("list-item", "- /compliance recheck", []),
    ("no-separator", "/compliancerecheck", []),
    ("hyphen", "/compliance-bot recheck", []),
    ("nbsp-before", "\u00a0/compliance recheck", []),
    ("zero-width-before", "\u200b/compliance recheck", []),
    ("backslash-before", "\\/compliance recheck", []),
    ("inline-code", "`/compliance recheck`", []),
    # line breaks: CommonMark's, not Python's
    ("crlf", "hi\r\n/compliance recheck\r\n", [("command", R, 2)]),
    ("cr", "hi\r/compliance recheck\r", [("command", R, 2)]),
    (
        "crlf-fence",
        "```\r\n/compliance recheck\r\n```\r\n/compliance list\r\n",
        [
            ignored(CODE, 2),
            ("command", ListExceptions(), 4),
        ],
    ),
    ("u2028-is-not-a-break", "hi\u2028/compliance recheck", []),
    ("nel-is-not-a-break", "hi\x85/compliance recheck", []),
    ("vt-is-not-a-break", "hi\x0b/compliance recheck", []),
    ("nul", "/compliance recheck\x00", [("reply", ReplyKind.UNKNOWN_COMMAND, 1)]),
    # several commands
    (
        "several",
        "Thanks!\n/compliance recheck\nand\n/compliance explain k8s.privileged\n/compliance x",
        [
            ("command", R, 2),
            ("command", Explain(policy="k8s.privileged"), 4),
            ("reply", ReplyKind.UNKNOWN_COMMAND, 5),
        ],
    ),
    ("empty", "", []),
    ("no-command", "LGTM, thanks", []),
]


def shape(results: list) -> list[tuple]:
    out: list[tuple] = []
    for r in results:
        if isinstance(r, Ignored):
            out.append(("ignored", r.reason, r.line))
        elif isinstance(r, Reply):
            out.append(("reply", r.kind, r.line))
        else:
            out.append(("command", r, r.line))
    return out


@pytest.mark.parametrize("name, body, expected", LINES, ids=[x[0] for x in LINES])
def test_command_lines(name, body, expected):
    assert shape(parse_comment(body)) == expected


# -- who wrote it, and what happened to the comment -----------------------------------------------

BODY = "> /compliance list\n/compliance recheck\n```\n/compliance recheck\n```"


@pytest.mark.parametrize(
    "author, author_is_bot",
    [("renovate", True), ("dependabot[bot]", False), ("Some-App[BOT]", False)],
)
def test_bots_run_nothing(author, author_is_bot):
    results = parse_comment(BODY, author=author, author_is_bot=author_is_bot)
    assert shape(results) == [
        ignored(QUOTED, 1),
        ignored(IgnoreReason.BOT, 2),
        ignored(CODE, 4),
    ]


@pytest.mark.parametrize("author", ["compliance-bot[bot]", "Compliance-Bot", "compliance-bot"])
def test_this_bot_is_not_even_audited(author):
    assert parse_comment(BODY, author=author, bot_login="compliance-bot[bot]") == []
    assert parse_comment(BODY, author=author, bot_login="compliance-bot") == []


def test_a_human_with_a_bot_like_name_is_not_a_bot():
    assert shape(parse_comment(BODY, author="robot-fan")) == [
        ignored(QUOTED, 1),
        ("command", R, 2),
        ignored(CODE, 4),
    ]


@pytest.mark.parametrize("action", ["edited", "deleted", "", "CREATED", "unknown"])
def test_only_created_comments_run(action):
    results = parse_comment(BODY + "\n/compliance nope", action=action)
    assert shape(results) == [
        ignored(QUOTED, 1),
        ignored(IgnoreReason.NOT_CREATED, 2),
        ignored(CODE, 4),
        ignored(IgnoreReason.NOT_CREATED, 6),
    ]


def test_ignored_lines_are_capped_and_keep_their_text():
    body = "\n".join(f"> /compliance recheck {i}" for i in range(MAX_IGNORED + 5))
    results = parse_comment(body)
    assert len(results) == MAX_IGNORED
    assert results[3] == Ignored(QUOTED, 4, "> /compliance recheck 3")


@pytest.mark.parametrize("body", [None, 42, b"/compliance recheck"])
def test_not_text(body):
    assert parse_comment(body) == []  # type: ignore[arg-type]
