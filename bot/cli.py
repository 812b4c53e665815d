"""The ``compliance-bot`` command: check changes locally, manage policies and exceptions.

Local commands run exactly the logic the bot runs on pull requests (``bot.checking``). Exit codes:
0 no blocking finding, 1 blocking findings, 2 usage, configuration or input error. Errors go to
stderr in one line naming the file, line or option at fault; reports go to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot import __version__, exemptions, usercache
from bot.checking import Rules, check, load_rules, told
from bot.engine.loader import PolicyLoadError, load_bundled, load_policy_paths, policy_files
from bot.engine.model import SEVERITIES, PullRequestFacts, SourceFile, closest_policy
from bot.forge.errors import GitError
from bot.repoconfig import EXCEPTIONS_PATH
from bot.report import STREAMED_FORMATS, Report, ReportedFinding, writer
from bot.report.model import Rendering
from bot.report.text import View, count, when

if TYPE_CHECKING:
    from bot.forge.git import GitRepo

EXIT_OK, EXIT_BLOCKING, EXIT_ERROR = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # killed by SIGPIPE, as the shell reports it
FORMATS = ("text", "json", "jsonl", "sarif", "markdown")
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".tox"}
PROGRESS_MIN_FILES = 300  # smaller scans end before a progress line would tell anything


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=_plain_command(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    if getattr(args, "process", None) is None:  # a one-shot command, not one of the service's
        usercache.use(usercache.cache_root())
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, not after main returns
        return code
    except BrokenPipeError:
        # the reader stopped early (`| head`): not an error; end quietly, as git does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (UsageError, GitError, PolicyLoadError, OSError) as exc:
        print(f"compliance-bot: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


# The commands that end without Python's clean-up at exit (``run``).
HARD_EXIT_COMMANDS = ("scan", "check")


def run() -> None:
    """The ``compliance-bot`` command (``main`` is what the tests call in this process).

    ``scan`` and ``check`` end with ``os._exit`` once their output is flushed: by then the
    report is written, their temporary folders are removed and the processes they forked are
    waited for, and all that is left is freeing the heap of parsed manifests object by object,
    ~10 ms of a scan of 100 files that takes 0.1–0.2 s (benchmarks/engine.py; mypy ends the
    same way). The other commands (the service, the store's) end as Python ends."""
    argv = sys.argv[1:]
    code = main(argv)
    if _plain_command(argv) in HARD_EXIT_COMMANDS:
        with contextlib.suppress(OSError):  # (a closed pipe: ``main`` has said so already)
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _plain_command(argv: Sequence[str]) -> str | None:
    """The command, when it is plainly one of ours (``scan``, ``check``...): the parser then has
    that command alone (building every command's options is a few percent of a small scan).
    None for help, an unknown word or no command at all: they get the full parser, so they list
    every command."""
    command = next((a for a in argv if not a.startswith("-")), None)
    return command if command in _COMMANDS else None


def build_parser(*, only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: every command, or with ``only`` (a command of this module's,
    not a package's) that one alone."""
    parser = argparse.ArgumentParser(
        prog="compliance-bot",
        description="Compliance as code on pull requests, with governed, time-boxed opt-outs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")
    for name, add in _COMMANDS.items():
        if only is None or name == only:
            add(sub, name)
    # Commands registered by their own packages import the store (SQLAlchemy, Alembic), which
    # takes longer than a small scan: the parser has them only when it is not one command's.
    if only is None:
        from bot.audit.commands import add_commands as add_audit_commands

        add_audit_commands(sub)

        from bot.notify.commands import add_commands as add_notify_commands

        add_notify_commands(sub)
    return parser


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="text", help="output (default: text)")
    p.add_argument("--now", metavar="TS", help="judge deadlines at this RFC 3339 time")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    shown = p.add_argument_group(
        "what is listed",
        "These only narrow the findings listed, in every format; the output says how many "
        "were left out. The verdict and the exit code still count every finding: a hidden "
        "blocking finding still fails the check (exit 1).",
    )
    shown.add_argument(
        "--min-severity",
        choices=SEVERITIES,
        metavar="LEVEL",
        help=f"list only findings of this severity or above ({', '.join(SEVERITIES)})",
    )
    shown.add_argument(
        "--blocking-only",
        action="store_true",
        help="list only blocking findings (no advisory or excepted ones)",
    )


_PROCESSES = {
    "serve": "run everything in one process: web, worker and scheduler (embedded default)",
    "web": "run the webhook receiver under gunicorn (scale-out)",
    "worker": "run job workers (scale-out)",
    "clock": "run the scheduler; exactly one per deployment (scale-out)",
}


def _add_process(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help=_PROCESSES[name])
    if name in ("serve", "web"):
        p.add_argument("--host", help="listen address (default: $HOST or 127.0.0.1)")
        p.add_argument("--port", type=int, help="listen port (default: $PORT or 8000)")
    p.set_defaults(func=cmd_process, process=name)


def _add_expire(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="run the deadline sweep by hand")
    p.add_argument("--once", action="store_true", required=True, help="one sweep, then exit")
    p.add_argument("--repo", metavar="OWNER/NAME", help="only this repository (or GitLab project)")
    p.add_argument(
        "--forge",
        choices=("github", "gitlab"),
        help="only this forge (default: every configured one; with --repo: github if configured)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--now", metavar="TS", help="judge deadlines at this RFC 3339 time")
    p.set_defaults(func=cmd_expire)


def _add_ledger(sub: Any, name: str) -> None:
    led = sub.add_parser(name, help="the approval ledger").add_subparsers(metavar="ACTION")
    p = led.add_parser("rebuild", help="rebuild a repository's ledger from forge history")
    p.add_argument("--repo", required=True, metavar="OWNER/NAME")
    p.add_argument(
        "--forge",
        choices=("github", "gitlab"),
        help="where the repository is (default: github if configured, else gitlab)",
    )
    p.set_defaults(func=cmd_ledger_rebuild)


def _add_check(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="check the changes of HEAD (or --head) against a base ref")
    p.add_argument("--repo", type=Path, default=Path("."), help="git repository (default: .)")
    p.add_argument("--base", required=True, help="base ref: rules come from here")
    p.add_argument("--head", default="HEAD", help="head ref: files come from here")
    p.add_argument("--title", default=None, help="PR title for pull-request policies")
    p.add_argument("--body", default=None, help="PR body for pull-request policies")
    p.add_argument("--label", action="append", default=[], help="PR label (repeatable)")
    _output_options(p)
    p.set_defaults(func=cmd_check)


def _add_scan(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="check files and directories (no git needed)")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--policy", action="append", metavar="ID", help="only this policy (repeatable)")
    p.add_argument(
        "--repo",
        type=Path,
        default=None,
        help="the repository root: .compliance/ is read there, and paths in findings are "
        "relative to it (default: the nearest folder at or above the current one holding "
        ".compliance/ or .git, else the current folder)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="processes for large scans (default: one per CPU)",
    )
    _output_options(p)
    p.set_defaults(func=cmd_scan)


def _add_policies(sub: Any, name: str) -> None:
    pol = sub.add_parser(name, help="list, test and validate policies").add_subparsers(
        metavar="ACTION"
    )
    p = pol.add_parser("list", help="list the bundled policies")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--pack", action="append", help="only this pack (repeatable)")
    p.set_defaults(func=cmd_policies_list)
    p = pol.add_parser("test", help="run policies' pass/fail fixtures (default: bundled)")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    p.set_defaults(func=cmd_policies_test)
    p = pol.add_parser("validate", help="check policy files: schema, CEL, match")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.set_defaults(func=cmd_policies_validate)


def _add_exceptions(sub: Any, name: str) -> None:
    exc = sub.add_parser(name, help="validate, list and expire exceptions").add_subparsers(
        metavar="ACTION"
    )
    for action, func, help_text in (
        ("validate", cmd_exceptions_validate, "check .compliance/exceptions.yaml"),
        ("list", cmd_exceptions_list, "list exceptions and their state"),
        ("expire", cmd_exceptions_expire, "remove expired exceptions from the file"),
    ):
        p = exc.add_parser(action, help=help_text)
        p.add_argument("--repo", type=Path, default=Path("."), help="working tree (default: .)")
        p.add_argument("--now", metavar="TS", help="judge deadlines at this RFC 3339 time")
        if action == "list":
            p.add_argument("--format", choices=("text", "json"), default="text")
        if action == "expire":
            p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
        p.set_defaults(func=func)


# This module's commands, in the order ``--help`` lists them (the packages' come after).
_COMMANDS: dict[str, Callable[[Any, str], None]] = {
    **dict.fromkeys(_PROCESSES, _add_process),
    "expire": _add_expire,
    "ledger": _add_ledger,
    "check": _add_check,
    "scan": _add_scan,
    "policies": _add_policies,
    "exceptions": _add_exceptions,
}


# -- helpers ----------------------------------------------------------------------------------


def parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--now: {text!r} is not an RFC 3339 time (e.g. 2026-05-01T12:00:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def use_color(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or "NO_COLOR" in os.environ:
        return False
    return sys.stdout.isatty()


class Output:
    """Where ``check`` and ``scan`` write their report, as asked by ``--format`` and the view.

    Text, JSON, JSON Lines and SARIF are written as the findings are judged (``sink``), so a
    large scan holds counts, not findings; markdown, the check run's summary, needs them all."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.format = args.format
        self.out = out
        self.view = View(min_severity=args.min_severity, blocking_only=args.blocking_only)
        self.writer = None
        if self.format in STREAMED_FORMATS:
            color = use_color(args.color) if self.format == "text" else False
            self.writer = writer(self.format, out, color=color, view=self.view)

    @property
    def sink(self) -> Callable[[ReportedFinding], None] | None:
        return self.writer.add if self.writer is not None else None

    @property
    def rendering(self) -> Rendering | None:
        return self.writer.rendering() if self.writer is not None else None

    def __enter__(self) -> Output:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()  # (its temporary folder, also when the report was cut short)

    def emit(self, report: Report) -> int:
        """Finish the report; the exit code is the report's, whatever the view hides."""
        if self.writer is not None:
            self.writer.finish(report)
        else:  # (markdown: the one format not written as findings come)
            from bot.report.markdown import render_markdown

            self.out.write(render_markdown(report, view=self.view))
        for error in report.errors if self.format != "text" else ():
            print(f"compliance-bot: error: {error}", file=sys.stderr)
        return report.exit_code


def decode(data: bytes, path: str) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # binary: no policy reads it


def working_tree_rules(repo: Path) -> Rules:
    """Rules from a working tree (``scan`` and ``exceptions``), not from a commit."""
    root = repo.resolve()

    def read(path: str) -> str | None:
        file = root / path
        return file.read_text("utf-8") if file.is_file() else None

    def list_dir(path: str) -> list[str]:
        folder = root / path
        if not folder.is_dir():
            return []
        return [str(p.relative_to(root)) for p in sorted(folder.iterdir()) if p.is_file()]

    return load_rules(read, list_dir)


# -- processes --------------------------------------------------------------------------------


def cmd_process(args: argparse.Namespace) -> int:
    import dataclasses

    from bot import server
    from bot.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise UsageError(f"configuration: {exc}") from None
    overrides = {
        k: v
        for k, v in (("host", getattr(args, "host", None)), ("port", getattr(args, "port", None)))
        if v is not None
    }
    settings = dataclasses.replace(settings, **overrides)
    try:
        getattr(server, args.process)(settings)
    except ConfigError as exc:
        raise UsageError(f"configuration: {exc}") from None
    return EXIT_OK


def _app_services(forge: str | None = None):  # type: ignore[no-untyped-def]
    """Services for the commands that act on a forge; ``forge`` must be configured (None: any).

    Returns the services and the forge to act on when one is needed."""
    from bot.config import ConfigError, Settings
    from bot.server import check_reachable
    from bot.services import Services

    try:
        settings = Settings.from_env()
        check_reachable(settings)  # one line naming the variable, not a migration's traceback
        services = Services(settings)
    except ConfigError as exc:
        raise UsageError(f"configuration: {exc}") from None
    github = services.settings.github_configured
    gitlab = bool(services.settings.gitlab_url and services.settings.gitlab_token)
    if forge == "gitlab" and not gitlab:
        raise UsageError("configuration: GitLab is not configured: set GITLAB_URL and GITLAB_TOKEN")
    if (forge == "github" and not github) or (forge is None and not (github or gitlab)):
        raise UsageError(
            "configuration: the GitHub App is not configured: set GITHUB_APP_ID,"
            " GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH) and GITHUB_WEBHOOK_SECRET,"
            " or register the App on the setup page of `compliance-bot serve`"
            + ("" if forge else "; or GitLab: GITLAB_URL and GITLAB_TOKEN")
        )
    services.migrate()
    return services


def _default_forge(forge: str | None) -> str | None:
    """``--forge`` as given, else github when the App is configured, else gitlab when GitLab
    is; None when neither is (``_app_services`` then names what to set for each)."""
    if forge:
        return forge
    from bot.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise UsageError(f"configuration: {exc}") from None
    if settings.github_configured:
        return "github"
    return "gitlab" if settings.gitlab_url and settings.gitlab_token else None


def cmd_expire(args: argparse.Namespace) -> int:
    from bot.forge.base import ForgeError

    now = parse_now(args.now)
    forge = _default_forge(args.forge) if args.repo else args.forge
    services = _app_services(forge)
    try:
        targets: list[tuple[int | str, str]]
        if args.repo and forge == "gitlab":
            targets = [("gitlab", args.repo)]
        elif args.repo:
            installation_id, _ = services.github_app().repository(args.repo)
            targets = [(installation_id, args.repo)]
        else:
            targets = [
                (key, name)
                for key, name in services.installed_repositories()
                if forge is None or (key == "gitlab") == (forge == "gitlab")
            ]
        for installation_id, full_name in targets:
            summary = services.sweep(installation_id, full_name, now=now, dry_run=args.dry_run)
            actions = summary.get("actions") or ["nothing to do"]
            prefix = "would " if args.dry_run else ""
            for action in actions:
                print(f"{full_name}: {prefix}{action}")
            if summary.get("error"):
                print(f"{full_name}: error: {summary['error']}", file=sys.stderr)
    except ForgeError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK


def cmd_ledger_rebuild(args: argparse.Namespace) -> int:
    from bot.forge.base import ForgeError
    from bot.handlers.exception_review import rebuild_ledger

    forge = _default_forge(args.forge)
    parts = args.repo.split("/")
    nested_ok = forge == "gitlab"  # GitLab projects may live in subgroups: group/sub/name
    if len(parts) < 2 or (len(parts) > 2 and not nested_ok) or not all(parts):
        raise UsageError(f"--repo: {args.repo!r} is not OWNER/NAME")
    services = _app_services(forge)
    assert forge is not None  # one is configured, or _app_services said what to set
    try:
        counts = services.rebuild_ledger(args.repo, rebuild_ledger, forge=forge)
    except ForgeError as exc:
        raise UsageError(f"{args.repo}: {exc}") from None
    print(
        f"{args.repo}: {count(counts['pull_requests'], 'merged exception PR')}, "
        f"{count(counts['recorded'], 'entry', 'entries')} recorded, "
        f"{counts['unapproved']} merged without approval"
    )
    return EXIT_OK


# -- check and scan ---------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from bot.forge.git import GitRepo  # (git's commands: ``check`` alone runs them)

    now = parse_now(args.now)
    repo = GitRepo(args.repo)
    if not repo.is_repository():
        raise UsageError(f"--repo: {args.repo} is not a git repository")
    base, head, merge_base = history(repo, args.base, args.head)

    def read(path: str) -> str | None:
        data = repo.read_files(base, [path]).get(path)
        return None if data is None else decode(data, path)

    rules = load_rules(read, lambda d: repo.list_files(base, d))
    all_changes = repo.changed_files(merge_base, head)
    # As the App does: paths the base config's ``exclude:`` names are neither read nor rendered.
    evaluated, excluded = rules.config.split_excluded(c.path for c in all_changes)
    kept = set(evaluated)
    changes = [c for c in all_changes if c.status != "D" and c.path in kept]
    contents = repo.read_files(head, [c.path for c in changes])
    files = []
    for change in changes:
        data = contents.get(change.path)
        text = decode(data, change.path) if data is not None else None
        if text is not None:
            files.append(SourceFile(change.path, text))
    subject, body, author = repo.commit_message(head)
    facts = PullRequestFacts(
        title=args.title if args.title is not None else subject,
        body=args.body if args.body is not None else body,
        labels=tuple(args.label),
        author=author,
        changed_paths=tuple(c.path for c in all_changes),
        base_ref=args.base,
        head_ref=args.head,
    )
    from bot.engine import render as rendering  # charts and kustomizations: only here

    tree = rendering.GitTree(repo, head)
    settings = rendering.settings_for(rules.config)
    expansion = rendering.expand(files, evaluated, tree, settings)
    with Output(args, sys.stdout) as output:
        report = check(
            rules,
            expansion.files,
            now=now,
            facts=facts,
            place=expansion.placing,
            sink=output.sink,
            rendering=output.rendering,
        )
        return output.emit(told(report, expansion, excluded, base, head))


def history(repo: GitRepo, base_ref: str, head_ref: str) -> tuple[str, str, str]:
    """The base, head and merge-base commits. When a shallow clone lacks them, the error says
    what to fetch rather than what git could not find (``ci/compliance-check.sh`` fetches it
    itself; a hand-written CI job or a local shallow clone needs telling)."""
    commits = []
    for option, ref in (("--base", base_ref), ("--head", head_ref)):
        try:
            commits.append(repo.resolve(ref))
        except GitError:
            if not repo.is_shallow():
                raise
            raise UsageError(
                f"{option}: {ref!r} is not in this shallow clone; fetch it "
                f"(`{fetch_command(ref)}`) or the whole history (`git fetch --unshallow origin`;"
                " with actions/checkout, `fetch-depth: 0`)"
            ) from None
    base, head = commits
    try:
        return base, head, repo.merge_base(base, head)
    except GitError:
        if not repo.is_shallow():
            raise  # unrelated histories: git's words are the right ones
        raise UsageError(
            f"--base {base_ref!r} and --head {head_ref!r} have no common ancestor in this shallow"
            " clone: fetch more history, e.g. `git fetch --deepen=200 origin` (repeat until"
            " `check` finds one) or all of it with `git fetch --unshallow origin`; with"
            " actions/checkout, set `fetch-depth: 0`"
        ) from None


def fetch_command(ref: str) -> str:
    """The git command that brings ``ref`` into a clone: a remote-tracking branch
    (``origin/main``) is fetched into itself, anything else (a branch, a SHA) from origin."""
    remote, _, branch = ref.removeprefix("refs/remotes/").partition("/")
    if ref.startswith("refs/remotes/") or (branch and remote == "origin"):
        return f"git fetch {remote} {branch}:refs/remotes/{remote}/{branch}"
    return f"git fetch origin {ref.removeprefix('refs/heads/')}"


def collect_files(paths: Sequence[Path], root: Path) -> list[SourceFile]:
    """Files under the paths, named relative to ``root`` (where ``.compliance/`` lives).

    Each file is named by where it really is (a link, by what it links to): a folder's real
    path is worked out once for all its files, and a file's own only when it is a link (one
    system call per file rather than one per folder above it, thousands on a large scan)."""
    under = (_inside(root), _inside(Path.cwd()))  # (root first: its names win)
    found: list[SourceFile] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        if path.is_file():
            candidates = [(str(path), os.path.realpath(path))]
        else:
            candidates = []
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
                real_dir = os.path.realpath(dirpath)
                for name in sorted(filenames):
                    file = os.path.join(dirpath, name)
                    real = (
                        os.path.realpath(file)
                        if os.path.islink(file)
                        else os.path.join(real_dir, name)
                    )
                    candidates.append((file, real))
        for file, real in candidates:
            rel = next((real[len(prefix) :] for prefix in under if real.startswith(prefix)), None)
            if rel is None:
                rel = file.lstrip(os.sep)
            rel = rel.replace(os.sep, "/")
            try:
                with open(real, "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                raise UsageError(f"{file}: cannot read: {exc.strerror}") from None
            text = decode(data, rel)
            if text is not None:
                found.append(SourceFile(rel, text))
    return found


def _inside(folder: Path) -> str:
    """The prefix of the real paths of the files inside ``folder``."""
    return os.path.join(os.path.realpath(folder), "")


def repository_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds ``.compliance/`` or ``.git`` (a
    folder, or a file in a worktree or submodule); ``start`` itself when none does."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".compliance").is_dir() or (folder / ".git").exists():
            return folder
    return start


def scan_root(repo: Path | None) -> Path:
    """Where ``scan`` reads the rules: ``--repo`` as given, or the repository around us."""
    if repo is None:
        return repository_root(Path.cwd())
    if not repo.exists():
        raise UsageError(f"--repo: {repo}: no such directory")
    if not repo.is_dir():
        raise UsageError(f"--repo: {repo}: not a directory")
    return repo


def cmd_scan(args: argparse.Namespace) -> int:
    now = parse_now(args.now)
    root = scan_root(args.repo)
    rules = working_tree_rules(root)
    if args.policy:
        known = {p.id for p in rules.policies}
        for policy_id in args.policy:
            if policy_id not in known:
                hint = closest_policy(policy_id, rules.policies)
                suggestion = f" (did you mean {hint!r}?)" if hint else ""
                raise UsageError(f"--policy: no policy {policy_id!r}{suggestion}")
    files = collect_files(args.paths, root)
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    with Output(args, sys.stdout) as output:
        return _scan(args, rules, files, now, jobs, output)


def _scan(
    args: argparse.Namespace,
    rules: Rules,
    files: list[SourceFile],
    now: datetime,
    jobs: int,
    output: Output,
) -> int:
    # JSON Lines goes out as it comes: on a terminal, a progress line would be written over it
    quiet = args.format == "jsonl" and sys.stdout.isatty()
    line = (
        None
        if quiet or not shows_progress(len(files), sys.stderr)
        else ProgressLine(len(files), sys.stderr)
    )
    if line is not None:
        line.show(0)
    try:
        report = check(
            rules,
            files,
            now=now,
            policy_ids=args.policy,
            jobs=jobs,
            sink=output.sink,
            rendering=output.rendering,
            progress=line.show if line is not None else None,
        )
    finally:
        if line is not None:
            line.close()  # before the report is written out, and on ^C too
    return output.emit(report)


# -- progress ---------------------------------------------------------------------------------


def shows_progress(files: int, stream: TextIO) -> bool:
    """A progress line only for a scan long enough to need one, and only for a person: never
    in a pipe, a log or a file, where the carriage returns would be noise."""
    return files > PROGRESS_MIN_FILES and stream.isatty()


def progress_text(done: int, total: int) -> str:
    return f"scanning {total:,} files… {done:,}/{total:,}"


class ProgressLine:
    """One line on a terminal, rewritten in place and erased at the end."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream

    def show(self, done: int) -> None:
        self.stream.write(f"\r{progress_text(min(done, self.total), self.total)}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()


# -- policies ---------------------------------------------------------------------------------


def cmd_policies_list(args: argparse.Namespace) -> int:
    policies = load_bundled(args.pack)
    if args.format == "json":
        print(json.dumps([p.summary() for p in policies], indent=2))
        return EXIT_OK
    width = max((len(p.id) for p in policies), default=10)
    for p in policies:
        print(f"{p.id:<{width}}  {p.severity:<8}  {p.enforcement:<8}  {p.target:<12}  {p.title}")
    packs = len({p.pack for p in policies})
    print(f"{count(len(policies), 'policy', 'policies')} in {count(packs, 'pack')}")
    return EXIT_OK


def cmd_policies_test(args: argparse.Namespace) -> int:
    from bot.engine.fixtures import run_fixtures

    policies = load_policy_paths(args.paths) if args.paths else load_bundled()
    failures = 0
    ran = 0
    for policy in policies:
        for result in run_fixtures(policy):
            ran += 1
            if not result.ok:
                failures += 1
                print(f"FAIL {result.describe()}")
    checked = count(len(policies), "policy", "policies")
    print(f"{ran - failures} passed, {failures} failed ({checked})")
    return EXIT_OK if failures == 0 else EXIT_BLOCKING


def cmd_policies_validate(args: argparse.Namespace) -> int:
    errors = 0
    for path in args.paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        if not policy_files([path]):
            raise UsageError(f"{path}: no policy files (*.yaml, *.yml) in it or its subfolders")
    for file in policy_files(args.paths):
        try:
            policy = load_policy_paths([file])[0]
            fixtures = count(len(policy.fixtures), "fixture")
            print(f"ok   {file}: {policy.id} ({policy.target}, {fixtures})")
        except PolicyLoadError as exc:
            errors += 1
            for line in exc.lines():
                print(f"compliance-bot: error: {line}", file=sys.stderr)
    return EXIT_OK if errors == 0 else EXIT_ERROR


# -- exceptions -------------------------------------------------------------------------------


def _exceptions_text(repo: Path) -> tuple[Path, str]:
    path = repo / EXCEPTIONS_PATH
    if not path.is_file():
        raise UsageError(f"{path}: no exceptions file")
    return path, path.read_text("utf-8")


def _validated(repo: Path, now: datetime):  # type: ignore[no-untyped-def]
    path, text = _exceptions_text(repo)
    rules = working_tree_rules(repo)
    parsed, problems = exemptions.parse(text, EXCEPTIONS_PATH)
    if parsed is not None:
        policies = {p.id: p for p in rules.policies}
        problems = problems + exemptions.validate(
            parsed, policies, now, require_ticket=rules.config.require_ticket
        )
    return path, text, parsed, sorted(problems, key=lambda p: (p.line or 0, p.message)), rules


def cmd_exceptions_validate(args: argparse.Namespace) -> int:
    now = parse_now(args.now)
    path, _text, parsed, problems, rules = _validated(args.repo, now)
    for error in rules.errors:
        print(f"compliance-bot: error: {error}", file=sys.stderr)
    for problem in problems:
        print(f"{EXCEPTIONS_PATH}:{problem.line}: {problem.message}", file=sys.stderr)
    if problems or parsed is None or rules.errors:
        print(f"{path}: {count(len(problems), 'problem')}", file=sys.stderr)
        return EXIT_ERROR
    print(f"{path}: {count(len(parsed.entries), 'exception')}, all valid")
    return EXIT_OK


def cmd_exceptions_list(args: argparse.Namespace) -> int:
    now = parse_now(args.now)
    if args.repo.is_dir() and not (args.repo / EXCEPTIONS_PATH).exists():
        # a repository without exceptions is the normal state, not an error
        if args.format == "json":
            print("[]")
        else:
            print(f"no exceptions: {args.repo / EXCEPTIONS_PATH} does not exist")
        return EXIT_OK
    _path, _text, parsed, problems, rules = _validated(args.repo, now)
    if parsed is None:
        for problem in problems:
            print(f"{EXCEPTIONS_PATH}:{problem.line}: {problem.message}", file=sys.stderr)
        return EXIT_ERROR
    bad = {p.entry_id for p in problems if p.entry_id}
    soon_days = rules.config.expiring_soon_days
    rows = []
    for entry in parsed.entries:
        if entry.is_expired(now):
            state = "expired"
        elif entry.id in bad:
            state = "invalid"
        elif (entry.expires - now).days < soon_days:
            state = "expiring"
        else:
            state = "active"
        rows.append(
            {
                "id": entry.id,
                "policy": entry.policy,
                "state": state,
                "expires": entry.deadline,
                "paths": list(entry.paths),
                "requested_by": entry.requested_by,
                "ticket": entry.ticket,
                "reason": entry.reason,
                "line": entry.line,
                "verified": False,
            }
        )
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(
                f"{r['id']:<16} {r['state']:<9} {r['policy']:<28} until {when(r['expires'])}  "
                f"{', '.join(r['paths'])}  (not verified)"
            )
        print(count(len(rows), "exception"))
    return EXIT_ERROR if problems and any(r["state"] == "invalid" for r in rows) else EXIT_OK


def cmd_exceptions_expire(args: argparse.Namespace) -> int:
    now = parse_now(args.now)
    path, text = _exceptions_text(args.repo)
    parsed, problems = exemptions.parse(text, EXCEPTIONS_PATH)
    if parsed is None:
        for problem in problems:
            print(f"{EXCEPTIONS_PATH}:{problem.line}: {problem.message}", file=sys.stderr)
        return EXIT_ERROR
    expired = [e for e in parsed.entries if e.is_expired(now)]
    if not expired:
        print("no expired exceptions")
        return EXIT_OK
    for entry in expired:
        print(f"expired: {entry.id} ({entry.policy}) on {entry.deadline}, line {entry.line}")
    new_text = exemptions.remove_entries(text, [e.id for e in expired])
    if args.dry_run:
        import difflib

        diff = difflib.unified_diff(
            text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            f"a/{EXCEPTIONS_PATH}",
            f"b/{EXCEPTIONS_PATH}",
        )
        sys.stdout.writelines(diff)
        print(f"dry run: would remove {count(len(expired), 'exception')}; nothing changed")
        return EXIT_OK
    path.write_text(new_text, "utf-8")
    print(f"removed {count(len(expired), 'expired exception')} from {path}")
    return EXIT_OK


if __name__ == "__main__":
    run()
