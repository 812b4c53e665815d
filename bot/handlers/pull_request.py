"""The ``compliance`` check: evaluate a head commit with the rules of its base, post the result.

Rules (policies, repo config, exceptions) come from the tip of the base branch, fetched at
evaluation time, never from the head: a change can't exempt itself or weaken a rule it breaks.
Changed files are the diff from the merge base to the head, read through the git mirror, so the
number of REST calls does not grow with the number of files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

from codeowners import CodeOwners

from bot import ledger, locks
from bot.checking import Rules, Verifier, check, load_rules, told
from bot.dashboard import links
from bot.engine import render
from bot.engine.model import EvalError, PullRequestFacts, SourceFile
from bot.events import CheckRequestEvent, PullRequest, PullRequestEvent, Repo
from bot.exemptions import gitlab_codeowners
from bot.exemptions.review import EXCEPTIONS_PATH
from bot.forge.base import Annotation, CheckOutput, Forge
from bot.forge.git import GitRepo
from bot.handlers import status
from bot.handlers.context import Context
from bot.notify import outbox
from bot.repoconfig import CONFIG_PATH
from bot.report.markdown import render_markdown
from bot.report.model import Report
from bot.report.text import count

log = logging.getLogger(__name__)

CHECK_NAME = "compliance"
EDIT_TRIGGERS = ("title", "body", "base")  # `edited` re-checks only when these changed


@dataclass(frozen=True)
class Target:
    """What to evaluate: a head commit, against a base branch, fetched through these refs."""

    head_sha: str
    base_ref: str
    head_fetch_ref: str  # a ref on the forge that contains head_sha
    pull: PullRequest | None = None
    base_sha: str | None = None  # pinned base (merge groups); default: the base branch tip

    @classmethod
    def of_pull(cls, pr: PullRequest, forge: Forge) -> Target:
        """A pull request's head, fetched through the forge's ref for it (forks too)."""
        return cls(pr.head_sha, pr.base_ref, forge.pull_ref(pr.number), pr)


def on_pull_request(event: PullRequestEvent, ctx: Context) -> None:
    pr = event.pull_request
    assert pr is not None and event.repo is not None
    if event.action == "edited" and not any(k in event.changes for k in EDIT_TRIGGERS):
        return
    if pr.state != "open":
        return
    if not pr.author:  # a webhook that names no author (some of GitLab's): ask
        pr = ctx.forge.pull_request(event.repo, pr.number)
    run_check(ctx, event.repo, Target.of_pull(pr, ctx.forge))


def on_check_request(event: CheckRequestEvent, ctx: Context) -> None:
    """check_run rerequested, check_suite requested/rerequested, merge_group checks_requested."""
    repo = event.repo
    assert repo is not None
    if event.name == "check_run" and event.check_name not in (None, CHECK_NAME):
        return
    if event.name == "merge_group":
        if not event.base_ref or not event.head_ref:
            return
        head_ref = event.head_ref
        if not head_ref.startswith("refs/"):
            head_ref = f"refs/heads/{head_ref}"
        run_check(
            ctx, repo, Target(event.head_sha, event.base_ref, head_ref, base_sha=event.base_sha)
        )
        return
    numbers = event.pull_numbers
    if not numbers:
        # Forks: the Checks API doesn't link their suites to PRs; find the PR by head SHA.
        numbers = tuple(
            p.number for p in ctx.forge.open_pull_requests(repo) if p.head_sha == event.head_sha
        )
    for number in numbers:
        pr = ctx.forge.pull_request(repo, number)
        if pr.state == "open" and pr.head_sha == event.head_sha:
            run_check(ctx, repo, Target.of_pull(pr, ctx.forge))


def run_check(ctx: Context, repo: Repo, target: Target) -> Report:
    # One evaluation at a time per head commit, so its check run is created once.
    with locks.hold(ctx.store, f"check:{ctx.forge.name}:{repo.full_name}:{target.head_sha}"):
        return _run_check(ctx, repo, target)


def _run_check(ctx: Context, repo: Repo, target: Target) -> Report:
    mirror = ctx.forge.fetch(repo, [f"refs/heads/{target.base_ref}", target.head_fetch_ref])
    verify = ledger.verifier(
        ctx.store, ctx.forge.name, repo.full_name, target.base_ref, repo.default_branch
    )
    report = evaluate(mirror, target, now=ctx.now(), verify=verify, pool=ctx.pool, jobs=ctx.jobs)
    # GitHub's CODEOWNERS errors matter when exceptions might: a PR with findings. Asking only
    # then keeps a clean PR at 2 REST calls (DESIGN §7) and costs a PR with findings the call
    # its first annotation batch leaves spare.
    report.notes.extend(
        codeowners_hygiene(ctx, repo, mirror, report.base or "", ask_forge=bool(report.findings))
    )
    if report.base:  # the base's notification routes: kept for the notifier, checked here
        report.errors.extend(
            outbox.config_read(
                ctx.store,
                ctx.settings,
                repository=repo.full_name,
                default_branch=target.base_ref == repo.default_branch,
                routes=rules_at(mirror, report.base).config.notifications,
                sha=report.base,
                now=ctx.now(),
                source=CONFIG_PATH,
            )
        )
    forged = status.forged_statuses(ctx, repo, target.head_sha)
    if forged:  # someone posted a status under the bot's name on this head: fail, say who
        report.errors.append(EvalError(status.summary_line(forged)))
    details_url = links.check_details_url(
        ctx.settings, ctx.forge.name, repo.full_name, target.head_sha, CHECK_NAME
    )
    output = check_output(report, target, details_url=details_url)
    if forged:
        output = status.overridden(output, forged, ctx.forge.name)
    ctx.actions.post_check(
        repo,
        target.head_sha,
        output,
        pull_request=target.pull.number if target.pull else None,
        policies=tuple(sorted({f.finding.policy for f in report.findings})),
        details={
            "blocking": len(report.blocking),
            "advisory": len(report.advisory),
            "excepted": len(report.excepted),
            "errors": len(report.errors),
            "files": report.files_checked,
            "base": report.base,
            "exceptions_applied": [u.id for u in report.applied],
            "exceptions_ignored": [u.id for u in report.unapproved + report.invalid],
            "forged_statuses": [f.to_json() for f in forged],
            "exclude": list(report.exclude),
            "excluded_files": sum(len(p) for p in report.excluded.values()),
        },
        base_ref=target.base_ref if target.pull else None,
        relied_on=relied_on(mirror, report),
        report=json.dumps(report.to_json(), separators=(",", ":")),
    )
    for use in report.unapproved:  # a bypass signal: visible in the audit stream
        ctx.actions.record(
            "exception.ignored",
            repository=repo.full_name,
            pull_request=target.pull.number if target.pull else None,
            sha=target.head_sha,
            details={
                "exception": use.id,
                "policy": use.policy,
                "reason": use.problem,
                "content_hash": use.content_hash,  # told once per version of the entry
                "requested_by": use.requested_by,
                "expires": use.expires,
            },
        )
    return report


def relied_on(mirror: GitRepo, report: Report) -> dict[str, object]:
    """What a verdict rests on: the exceptions file it read, the exceptions it applied, and the
    repository's own rules (config and policies) it was judged by."""
    rules = rules_at(mirror, report.base) if report.base else None
    return {
        "file": file_digest(rules.exemptions_text if rules else None),
        "rules": rules.digest if rules else None,
        "applied": [
            {"id": u.id, "hash": u.content_hash, "expires": u.expires} for u in report.applied
        ],
    }


def file_digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def evaluate(
    mirror: GitRepo,
    target: Target,
    *,
    now: datetime,
    verify: Verifier | None = None,
    pool: Callable[[], Executor | None] | None = None,
    jobs: int = 1,
) -> Report:
    base_sha = target.base_sha or mirror.resolve(f"refs/heads/{target.base_ref}")
    head_sha = mirror.resolve(target.head_sha)
    merge_base = mirror.merge_base(base_sha, head_sha)
    rules = rules_at(mirror, base_sha)
    all_changes = mirror.changed_files(merge_base, head_sha)
    # excluded paths (the base config's ``exclude:``) are neither read nor rendered
    evaluated, excluded = rules.config.split_excluded(c.path for c in all_changes)
    kept = set(evaluated)
    changes = [c for c in all_changes if c.status != "D" and c.path in kept]
    contents = mirror.read_files(head_sha, [c.path for c in changes])
    files = []
    for change in changes:
        data = contents.get(change.path)
        if data is None:
            continue
        try:
            files.append(SourceFile(change.path, data.decode("utf-8")))
        except UnicodeDecodeError:
            continue  # binary files have nothing for a policy to read
    pr = target.pull
    facts = PullRequestFacts(
        title=pr.title if pr else "",
        body=pr.body if pr else "",
        labels=pr.labels if pr else (),
        author=pr.author if pr else "",
        changed_paths=tuple(c.path for c in all_changes),
        base_ref=target.base_ref,
        head_ref=pr.head_ref if pr else target.head_fetch_ref,
        draft=pr.draft if pr else False,
    )
    # Charts and kustomizations the change touches are checked as rendered (bot.engine.render).
    expansion = render.expand(
        files,
        evaluated,
        render.GitTree(mirror, head_sha),
        render.settings_for(rules.config),
    )
    report = check(
        rules,
        expansion.files,
        now=now,
        facts=facts,
        verify=verify,
        pool=pool,
        jobs=jobs,
        place=expansion.place,
    )
    return told(report, expansion, excluded, base_sha, head_sha)


def rules_at(mirror: GitRepo, sha: str) -> Rules:
    return _rules_cached(str(mirror.path), sha)


@functools.lru_cache(maxsize=256)
def _rules_cached(path: str, sha: str) -> Rules:
    """Rules at a commit; a commit never changes, so the cache needs no invalidation to be right."""
    mirror = GitRepo(path)

    def read(path: str) -> str | None:
        data = mirror.read_files(sha, [path]).get(path)
        try:
            return None if data is None else data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    return load_rules(read, lambda d: mirror.list_files(sha, d))


def check_output(report: Report, target: Target, details_url: str | None) -> CheckOutput:
    blocking = len(report.blocking)
    if report.errors:
        title = f"{count(len(report.errors), 'error')}: could not check everything"
    elif blocking:
        title = count(blocking, "blocking finding")
    else:
        title = "No blocking findings"
    annotations = []
    for item in report.findings:
        f = item.finding
        if item.exception is not None:
            level, note = (
                "notice",
                f" (exception {item.exception.id} until {item.exception.expires})",
            )
        elif f.enforcement == "blocking":
            level, note = "failure", ""
        else:
            level, note = "warning", " (advisory)"
        annotations.append(
            Annotation(
                path=f.path or ".github",
                start_line=max(1, f.line),
                end_line=max(1, f.line),
                level=level,  # type: ignore[arg-type]
                message=f.message + note,
                title=f"{f.policy}: {f.title}"[:255],
            )
        )
    for error in report.errors:
        if error.path:
            annotations.append(
                Annotation(
                    error.path,
                    error.line or 1,
                    error.line or 1,
                    "failure",
                    error.message,
                    "compliance-bot: could not evaluate",
                )
            )
    return CheckOutput(
        name=CHECK_NAME,
        title=title,
        summary=render_markdown(report, details_url=details_url),
        conclusion=report.conclusion,
        annotations=tuple(annotations),
        details_url=details_url,
        external_id=f"{target.pull.number if target.pull else 'merge-group'}:{target.head_sha}",
    )


def codeowners_hygiene(
    ctx: Context, repo: Repo, mirror: GitRepo, base_sha: str, *, ask_forge: bool = True
) -> list[str]:
    """Warnings for the check summary when the exceptions file is not guarded by code owners."""
    if not base_sha:
        return []
    locations = ctx.forge.codeowners_locations
    texts = mirror.read_files(base_sha, list(locations))
    where = next((p for p in locations if p in texts), None)
    if where is None:
        return [
            f"No CODEOWNERS file on the base branch: nobody is required to approve changes to "
            f"`{EXCEPTIONS_PATH}`. Add `/.compliance/ @your-org/your-team` to "
            f"`{locations[0]}` and require code-owner approval on the default branch."
        ]
    text = texts[where].decode("utf-8", "replace")
    if ctx.forge.codeowners_flavor == "gitlab":
        rules = gitlab_codeowners.rules_for(gitlab_codeowners.parse(text, where), EXCEPTIONS_PATH)
        if any(r.owners for r in rules if not r.optional):
            return []
        return [
            f"No section of `{where}` gives `{EXCEPTIONS_PATH}` an owner, so exception merge "
            "requests can't get a code-owner approval. Add `[Compliance]` and "
            "`/.compliance/ @your-group/security`."
        ]
    owners, line, _pattern, _section = CodeOwners(text).matching_line(EXCEPTIONS_PATH)
    if not owners:
        return [
            f"No rule in `{where}` gives `{EXCEPTIONS_PATH}` an owner, so exception PRs can't "
            "get a code-owner approval. Add `/.compliance/ @your-org/your-team`."
        ]
    errors = _codeowners_errors(ctx, repo, base_sha) if ask_forge else []
    return [
        f"`{e.path}` line {e.line}, which owns `{EXCEPTIONS_PATH}`: {e.message}"
        for e in errors
        if e.path == where and e.line == line
    ]


_ERRORS_CACHE: dict[tuple[str, str], list] = {}


def _codeowners_errors(ctx: Context, repo: Repo, base_sha: str) -> list:
    """GitHub's view of CODEOWNERS errors, asked once per base commit (a commit never changes)."""
    key = (repo.full_name, base_sha)
    if key not in _ERRORS_CACHE:
        if len(_ERRORS_CACHE) > 1024:
            _ERRORS_CACHE.clear()
        _ERRORS_CACHE[key] = ctx.forge.codeowners_errors(repo, base_sha)
    return _ERRORS_CACHE[key]
