"""Checking a change: the rules of the base commit applied to the files of the head.

This is the one place where policies, repo config, the exceptions file and the engine meet, so the
CLI (``check``, ``scan``) and the bot's check run give the same verdict for the same inputs. It is
pure: callers hand in a way to read files at the base and the changed files at the head.

Fail closed: a policy, config or exceptions file that can't be read becomes an error on the
report, and an error fails the check. An exceptions file that can't be read grants nothing.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import exemptions
from bot.engine.evaluate import Engine, Evaluation
from bot.engine.loader import PolicyLoadError, check_unique, load_bundled, load_policy_text
from bot.engine.model import EvalError, Finding, Policy, PullRequestFacts, SourceFile
from bot.exemptions.model import ExemptionEntry
from bot.repoconfig import (
    CONFIG_PATH,
    EXCEPTIONS_PATH,
    POLICIES_DIR,
    RepoConfig,
    apply_config,
    parse_config,
    unknown_enforced,
)
from bot.report.model import ExceptionUse, Report, ReportedFinding

Reader = Callable[[str], "str | None"]  # path at the base -> text, None when absent
Lister = Callable[[str], "list[str]"]  # directory at the base -> file paths in it
Verifier = Callable[[ExemptionEntry], "Approval | None"]

NOT_VERIFIED_NOTE = (
    "Exceptions are applied but not verified: this run has no approval records, so it can't "
    "tell an exception approved in a reviewed pull request from one pushed directly."
)


@dataclass(frozen=True)
class Approval:
    """Proof that an exception's exact content was approved (from the ledger)."""

    approvers: tuple[str, ...] = ()
    pull_request: int | None = None
    merged_at: datetime | None = None  # when the approving pull request merged
    renewal_count: int = 0  # how many times this exception was extended before this version


@dataclass
class Rules:
    """Everything read from the base commit that decides a verdict."""

    policies: list[Policy]
    config: RepoConfig
    exemptions_text: str | None
    errors: list[EvalError] = field(default_factory=list)
    # of the repository's own rules (config and policies): a verdict that rests on other rules
    # than the base has now is judged again (``bot.handlers.rejudge``)
    digest: str = ""


def load_rules(read: Reader, list_dir: Lister, *, bundled: Sequence[Policy] | None = None) -> Rules:
    """Policies, config and exceptions as the base commit has them."""
    errors: list[EvalError] = []
    config_text = read(CONFIG_PATH)
    config = parse_config(config_text)
    digest = hashlib.sha256(f"{CONFIG_PATH}\0{config_text}\0".encode("utf-8", "replace"))
    errors.extend(config.errors)
    try:
        policies = list(bundled) if bundled is not None else load_bundled(config.packs)
    except PolicyLoadError as exc:
        errors.append(EvalError(exc.message, path=exc.source, line=exc.line))
        policies = []
    if bundled is not None and config.packs is not None:
        policies = [p for p in policies if p.pack in config.packs]
    for path in sorted(p for p in list_dir(POLICIES_DIR) if p.endswith((".yaml", ".yml"))):
        text = read(path)
        if text is None:
            continue
        digest.update(f"{path}\0{text}\0".encode("utf-8", "replace"))
        try:
            policies.append(load_policy_text(text, path, pack="repository"))
        except PolicyLoadError as exc:
            errors.extend(EvalError(m, path=exc.source, line=n) for n, m in exc.problems())
    try:
        check_unique(policies)
    except PolicyLoadError as exc:
        errors.append(EvalError(exc.message, path=exc.source, line=exc.line))
        seen: set[str] = set()
        policies = [p for p in policies if not (p.id in seen or seen.add(p.id))]  # type: ignore[func-returns-value]
    errors.extend(unknown_enforced(policies, config))
    return Rules(
        apply_config(policies, config),
        config,
        read(EXCEPTIONS_PATH),
        errors,
        digest=digest.hexdigest(),
    )


def check(
    rules: Rules,
    files: Iterable[SourceFile],
    *,
    now: datetime,
    facts: PullRequestFacts | None = None,
    verify: Verifier | None = None,
    policy_ids: Sequence[str] | None = None,
    jobs: int = 1,
    pool: Callable[[], Executor | None] | None = None,
    place: Callable[[list[Finding]], list[Finding]] | None = None,
) -> Report:
    """Evaluate the files and apply the exceptions; ``verify=None`` applies them unverified.

    Files the config's ``exclude:`` globs match are not evaluated; the report lists them by glob
    (``report.excluded``) and, always, the globs in force (``report.exclude``).

    ``place`` moves findings before exceptions are matched (rendered charts and kustomizations:
    to the file and line that set the field, see ``bot.engine.render``).

    ``jobs > 1`` spreads large file sets over that many processes (forked: only for a process
    without threads, such as the CLI; the bot's workers evaluate in their own thread).
    """
    policies = rules.policies
    if policy_ids is not None:
        wanted = set(policy_ids)
        policies = [p for p in policies if p.id in wanted]
    report = Report(policies={p.id: p for p in rules.policies}, errors=list(rules.errors))
    config = rules.config
    report.exclude = config.exclude
    kept = []
    for file in files:
        glob = config.excluding(file.path) if config.exclude else None
        if glob is None:
            kept.append(file)
        else:
            report.excluded.setdefault(glob, []).append(file.path)
    evaluation = _evaluate(policies, kept, facts, jobs, pool)
    if place is not None:
        evaluation.findings = place(evaluation.findings)
    if config.exclude:  # placed on an excluded file (a rendered base, say): excluded too
        evaluation.findings = [
            f for f in evaluation.findings if not f.path or config.excluding(f.path) is None
        ]
    report.files_checked = evaluation.files
    report.errors.extend(evaluation.errors)

    entries = _valid_entries(rules, report, now, verify)
    application = exemptions.apply(entries, evaluation.findings, now)
    uses: dict[str, ExceptionUse] = {}
    for entry, covered in application.applied.items():
        uses[entry.id] = _use(entry, "applied", len(covered), verify)
        report.applied.append(uses[entry.id])
    for entry in application.expired:
        report.expired.append(_use(entry, "expired", 0, verify))
    for entry in application.unused:
        report.unused.append(_use(entry, "unused", 0, verify))
    soon = now + timedelta(days=rules.config.expiring_soon_days)
    report.expiring_soon = [uses[e.id] for e in application.applied if e.expires <= soon]
    for finding in evaluation.findings:
        entry = application.covering.get(finding)
        report.findings.append(ReportedFinding(finding, uses[entry.id] if entry else None))
    if verify is None and (report.applied or report.unused):
        report.notes.append(NOT_VERIFIED_NOTE)
    return report


PARALLEL_MIN_FILES = 200  # below this, starting processes costs more than it saves


def _evaluate(
    policies: list[Policy],
    files: list[SourceFile],
    facts: PullRequestFacts | None,
    jobs: int,
    pool: Callable[[], Executor | None] | None = None,
) -> Evaluation:
    if jobs <= 1 or len(files) < PARALLEL_MIN_FILES:
        return Engine(policies).evaluate(files, facts)
    chunks = [files[i::jobs] for i in range(jobs)]  # interleaved, so big and small files mix
    work = [(policies, chunk) for chunk in chunks]
    executor = pool() if pool is not None else None
    if executor is not None:  # the bot's long-lived processes: nothing started per job
        parts = list(executor.map(_evaluate_chunk, work))
    else:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as own:
            parts = list(own.map(_evaluate_chunk, work))
    merged = Engine(policies).evaluate([], facts)  # the pull-request target, once
    for part in parts:
        merged.findings.extend(part.findings)
        merged.errors.extend(part.errors)
        merged.files += part.files
    merged.findings.sort(key=Finding.sort_key)
    return merged


def _evaluate_chunk(work: tuple[list[Policy], list[SourceFile]]) -> Evaluation:
    policies, files = work
    return Engine(policies).evaluate(files)


def live_entries(rules: Rules, now: datetime, verify: Verifier | None) -> list[ExemptionEntry]:
    """The entries that apply at ``now``: valid, approved as written (when verifying), and not
    past their deadline. What a result relied on must still be among these to stand."""
    scratch = Report(policies={p.id: p for p in rules.policies})
    return [
        e
        for e in _valid_entries(rules, scratch, now, verify)
        if e.expires is None or e.expires > now
    ]


def _valid_entries(
    rules: Rules, report: Report, now: datetime, verify: Verifier | None
) -> list[ExemptionEntry]:
    """Entries that may apply: valid, and (when verifying) approved exactly as written."""
    if rules.exemptions_text is None:
        return []
    parsed, problems = exemptions.parse(rules.exemptions_text, EXCEPTIONS_PATH)
    if parsed is None:
        # The file as a whole is unreadable: it grants nothing, and the check fails.
        report.errors.extend(
            EvalError(f"exceptions file unusable: {p.message}", path=EXCEPTIONS_PATH, line=p.line)
            for p in problems
        )
        return []
    policies = {p.id: p for p in rules.policies}
    problems = problems + exemptions.validate(
        parsed, policies, now, require_ticket=rules.config.require_ticket
    )
    bad: dict[str, list[str]] = {}
    for problem in problems:
        if problem.code == "expired":
            continue  # a past deadline is a state, not a defect: the entry is reported expired
        key = problem.entry_id or ""
        bad.setdefault(key, []).append(f"line {problem.line}: {problem.message}")
        if not problem.entry_id:
            report.errors.append(
                EvalError(problem.message, path=EXCEPTIONS_PATH, line=problem.line)
            )
    usable = []
    for entry in parsed.entries:
        if entry.id in bad:
            report.invalid.append(
                _use(entry, "invalid", 0, verify, problem="; ".join(bad[entry.id]))
            )
            continue
        if verify is not None and verify(entry) is None:
            report.unapproved.append(
                _use(
                    entry,
                    "unapproved",
                    0,
                    verify,
                    problem="no approved pull request added this exact entry",
                )
            )
            continue
        usable.append(entry)
    for entry_id, messages in bad.items():
        if entry_id and entry_id not in {e.id for e in parsed.entries}:
            report.invalid.append(
                ExceptionUse(id=entry_id, policy="", state="invalid", problem="; ".join(messages))
            )
    return usable


def _use(
    entry: ExemptionEntry,
    state: str,
    findings: int,
    verify: Verifier | None,
    problem: str | None = None,
) -> ExceptionUse:
    approval = verify(entry) if verify is not None else None
    return ExceptionUse(
        id=entry.id,
        policy=entry.policy,
        state=state,  # type: ignore[arg-type]
        line=entry.line,
        expires=entry.deadline,
        reason=entry.reason,
        requested_by=entry.requested_by,
        ticket=entry.ticket,
        paths=tuple(entry.paths),
        resources=tuple(entry.resources),
        findings=findings,
        verified=approval is not None,
        approvers=approval.approvers if approval else (),
        problem=problem,
        content_hash=entry.content_hash(),
    )
