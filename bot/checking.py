"""Checking a change: the rules of the base commit applied to the files of the head.

This is the one place where policies, repo config, the exceptions file and the engine meet, so the
CLI (``check``, ``scan``) and the bot's check run give the same verdict for the same inputs. It is
pure: callers hand in a way to read files at the base and the changed files at the head.

Fail closed: a policy, config or exceptions file that can't be read becomes an error on the
report, and an error fails the check. An exceptions file that can't be read grants nothing.

Files are judged one path at a time in path order, so findings come out in report order and can
be streamed to a writer (``check(sink=...)``) instead of kept: the CLI's memory then does not
grow with the number of findings. The check run keeps them all (it posts them in batches).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING, Any

from bot import exemptions, schemas
from bot.engine import cel as celx
from bot.engine.evaluate import Engine, Evaluation
from bot.engine.loader import PolicyLoadError, check_unique, load_bundled, load_policy_text
from bot.engine.model import EvalError, Finding, Policy, PullRequestFacts, SourceFile
from bot.repoconfig import (
    CONFIG_PATH,
    EXCEPTIONS_PATH,
    POLICIES_DIR,
    RepoConfig,
    apply_config,
    parse_config,
    unknown_enforced,
)
from bot.report import spool
from bot.report.model import ExceptionUse, Rendering, Report, ReportedFinding, Tally

if TYPE_CHECKING:  # (a pool is only started for large scans: concurrent.futures loads then)
    from concurrent.futures import Executor, Future

    from bot.engine.render import Expansion
    from bot.exemptions.match import Matcher
    from bot.exemptions.model import ExemptionEntry

Reader = Callable[[str], "str | None"]  # path at the base -> text, None when absent
Lister = Callable[[str], "list[str]"]  # directory at the base -> file paths in it
Verifier = Callable[["ExemptionEntry"], "Approval | None"]
Sink = Callable[[ReportedFinding], None]  # takes each finding as it is judged, in report order
Progress = Callable[[int], None]  # told how many files have been evaluated so far

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
    sink: Sink | None = None,
    rendering: Rendering | None = None,
    progress: Progress | None = None,
) -> Report:
    """Evaluate the files and apply the exceptions; ``verify=None`` applies them unverified.

    Files the config's ``exclude:`` globs match are not evaluated; the report lists them by glob
    (``report.excluded``) and, always, the globs in force (``report.exclude``).

    ``place`` moves findings before exceptions are matched (rendered charts and kustomizations:
    to the file and line that set the field, see ``bot.engine.render``).

    ``jobs > 1`` spreads large file sets over that many processes, this one among them (the
    others forked, ``bot.forked``: only for a process without threads, such as the CLI; the
    bot's workers pass ``pool``, their own long-lived processes).

    With ``sink``, the findings are not kept: each is handed to ``sink`` as soon as its file is
    judged, in report order (``Finding.sort_key``), and the report counts them
    (``report.tally``) instead of listing them, so memory is bounded by the largest file, not by
    the number of findings. The exception a streamed finding names is the entry as it stands;
    its count of findings is final only in ``report.applied``. With ``place``, findings can move
    to any file, so they are gathered first and then handed over in order.

    ``rendering`` (with ``sink``: the same writer's) lets the processes of a large scan lay out
    their findings themselves when no exception entry is live (``Rendering``); each path's are
    then handed to ``rendering.take`` instead of to ``sink`` one by one.
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
    # The exceptions file's own problems are reported after the evaluation's, as they always were.
    scratch = Report(policies=report.policies)
    entries = _valid_entries(rules, scratch, now, verify)
    report.invalid, report.unapproved = scratch.invalid, scratch.unapproved
    # (the exceptions modules load only for a repository that has entries to match)
    exempting: Matcher | _NoEntries = exemptions.Matcher(entries, now) if entries else _NoEntries()

    tally = Tally()
    judged: list[tuple[Finding, ExemptionEntry | None]] = []  # without a sink only
    standing: dict[str, ExceptionUse] = {}  # entry id -> the use streamed findings name
    last_path: list[str | None] = [None]

    def hand(findings: Iterable[Finding]) -> None:
        if sink is not None and not exempting.live:  # no entry can cover: each finding stands
            for finding in findings:
                reported = ReportedFinding(finding, None)
                tally.add(reported)
                sink(reported)
            return
        for finding in findings:
            if sink is not None and finding.path != last_path[0]:
                exempting.forget()  # findings come by path: equal ones can't come back
                last_path[0] = finding.path
            entry = exempting.entry_for(finding)
            if sink is None:
                judged.append((finding, entry))
                continue
            use = None
            if entry is not None:
                use = standing.get(entry.id)
                if use is None:
                    use = standing[entry.id] = _use(entry, "applied", 0, verify)
            reported = ReportedFinding(finding, use)
            tally.add(reported)
            sink(reported)

    errors: list[tuple[int, list[EvalError]]] = []
    gathered: list[Finding] = []
    render = spill = None
    if rendering is not None and sink is not None and place is None and not exempting.live:
        render = rendering.render  # (a live entry is matched here, in order: not there)
        spill = rendering.spill
    evaluations = _evaluations(policies, kept, facts, jobs, pool, progress, render, spill)
    with contextlib.closing(evaluations):  # (a sink that fails: other processes stop now)
        for position, evaluation in evaluations:
            report.files_checked += evaluation.files
            if evaluation.errors:
                errors.append((position, evaluation.errors))
            if isinstance(evaluation, _Rendered):
                assert rendering is not None
                tally.merge(evaluation.tally)
                rendering.take(evaluation.piece)
            elif place is not None:
                gathered.extend(evaluation.findings)
            else:
                hand(evaluation.findings)
    if place is not None:
        gathered = place(gathered)
        if config.exclude:  # placed on an excluded file (a rendered base, say): excluded too
            gathered = [f for f in gathered if not f.path or config.excluding(f.path) is None]
        hand(sorted(gathered, key=Finding.sort_key) if sink is not None else gathered)
    errors.sort(key=lambda item: item[0])  # in the order the files came, whatever the pool did
    for _, file_errors in errors:
        report.errors.extend(file_errors)
    report.errors.extend(scratch.errors)

    uses: dict[str, ExceptionUse] = {}
    for entry, covered in exempting.applied():
        uses[entry.id] = _use(entry, "applied", covered, verify)
        report.applied.append(uses[entry.id])
    for entry in exempting.expired:
        report.expired.append(_use(entry, "expired", 0, verify))
    for entry in exempting.unused():
        report.unused.append(_use(entry, "unused", 0, verify))
    soon = now + timedelta(days=rules.config.expiring_soon_days)
    report.expiring_soon = [uses[e.id] for e, _ in exempting.applied() if e.expires <= soon]
    if sink is None:
        report.findings = [
            ReportedFinding(finding, uses[entry.id] if entry else None) for finding, entry in judged
        ]
    else:
        report.tally = tally
    if verify is None and (report.applied or report.unused):
        report.notes.append(NOT_VERIFIED_NOTE)
    return report


# Evaluated once in each of the bot's evaluation processes as it starts: the YAML loader, the
# Kubernetes views, every bundled condition's first run (each builds its CEL environment then).
WARM_UP_SAMPLE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: warm-up
spec:
  selector:
    matchLabels: {app: warm-up}
  template:
    metadata:
      labels: {app: warm-up}
    spec:
      containers:
        - name: app
          image: nginx:latest
          securityContext: {privileged: true, runAsUser: 0}
          volumeMounts: [{name: sock, mountPath: /var/run/docker.sock}]
      volumes: [{name: sock, hostPath: {path: /var/run/docker.sock}}]
---
apiVersion: v1
kind: Service
metadata:
  name: warm-up
  namespace: default
spec:
  type: NodePort
  ports: [{port: 80, nodePort: 30080}]
"""


def start_evaluation_process(bot_pid: int) -> None:
    """What each of the bot's evaluation processes runs as it starts, before any task.

    It compiles the bundled packs (CEL programs are cached per process) and evaluates a sample
    with them, so the first large PR finds the process warm; and it exits when the bot process is
    gone: a pool process blocks on a queue whose both ends it holds, so a bot killed outright
    (SIGKILL, OOM) would leave it and the fork server running for ever. It lives here, not in
    ``bot.services``, because the process unpickles it by module: this one is loaded already (the
    fork server preloads it), ``bot.services`` would bring the forge clients and the store.
    """

    def exit_with_bot() -> None:  # (the pool process's own parent is the fork server)
        while True:
            time.sleep(1)
            try:
                os.kill(bot_pid, 0)
            except ProcessLookupError:
                os._exit(0)

    threading.Thread(target=exit_with_bot, name="exit-with-bot", daemon=True).start()
    # best effort: what fails here fails again, with its own message, in the first real task
    with contextlib.suppress(Exception):
        engine = _bundled_engine()
        # (once: the conditions of a resource run together only after some hundreds of
        # resources, which the first large PR reaches in a few milliseconds' compile)
        engine.evaluate([SourceFile("deploy/warm-up.yaml", WARM_UP_SAMPLE)])


def warm_job_process() -> None:
    """What a job runner's own process does once as it starts (on a thread of its own): load and
    compile the bundled packs, build the schema validators, and import what the command line
    imports only when used (the exceptions modules, the markdown of check summaries), which the
    first check after a start would otherwise pay for (jsonschema's import alone is ~0.1 s).
    Best effort: what fails here fails again, with its own message, in the first check."""
    with contextlib.suppress(Exception):
        _bundled_engine()
        for name in schemas.NAMES:
            schemas.validator(name)
        for name in ("parse", "validate", "Matcher"):
            getattr(exemptions, name)
        importlib.import_module("bot.report.markdown")


def _bundled_engine() -> Engine:
    """An engine of every bundled pack, each condition compiled by both interpreters (the
    command line has the reference compile one when first needed)."""
    engine = Engine(load_bundled())
    for compiled in engine.compiled:
        celx.check_compiles(compiled.program)
    return engine


# Below both of these, handing work to a caller's processes (the bot's) costs more than it saves.
# Text counts as well as files: 100 files of many short resources (0.4 MB, 12,000 findings) took
# 0.75–0.92 s alone and 0.58–0.70 s spread over two processes of a pool; 50 such files (62 KB)
# 0.40 s alone and 0.44 s spread (benchmarks/engine.py's finding-heavy corpus, 2026-12-03).
PARALLEL_MIN_FILES = 200
PARALLEL_MIN_CHARS = 256 * 1024
# Below both of these, forking processes for a scan (``bot.forked``) costs more than it saves:
# a fork costs far less than a pool did. Two processes against one (2026-12-04, interleaved, 11
# runs each): realistic files, 30 (68 KB) 88 -> 92 ms, 50 (116 KB) 97 -> 96 ms, 100 (0.2 MB)
# 120 -> 109 ms; finding-heavy files, 25 (18 KB) 91 -> 94 ms, 50 (62 KB) 114 -> 104 ms.
FORK_MIN_FILES = 80
FORK_MIN_CHARS = 128 * 1024
# Each chunk is the work still left divided by CHUNK_SHARE_PER_JOB times the processes, and no
# less than the whole divided by SMALLEST_CHUNK_PER_JOB times them (interleaved against chunks of
# an equal count of files, 2026-12-04: finding-heavy 100 files 413 -> 388 ms, 1,000 files
# 2,446 -> 2,378 ms, realistic 1,000 600 -> 540 ms). Results come back, in order, a chunk at a
# time.
CHUNK_SHARE_PER_JOB = 2
SMALLEST_CHUNK_PER_JOB = 32
FILE_CHARS = 128  # what a file costs besides its text, in characters' worth (~100 µs)
# A chunk ends at this much text too: what it found crosses back whole (laid out, its JSON is
# some fifteen times its text on finding-heavy manifests), and four chunks are in flight at once.
# Without it, 5,000 such files came in chunks of 1.3 MB and the scan peaked at 176 MB.
CHUNK_CHARS = 256 * 1024
PROGRESS_EVERY = 50  # files between progress reports when evaluating in this process


def _evaluations(
    policies: list[Policy],
    files: list[SourceFile],
    facts: PullRequestFacts | None,
    jobs: int,
    pool: Callable[[], Executor | None] | None = None,
    progress: Progress | None = None,
    render: Callable[[list[ReportedFinding]], Any] | None = None,
    spill: Callable[[], str] | None = None,
) -> Generator[tuple[int, Evaluation], None, None]:
    """The evaluation of each path, in path order (so findings come in report order), with the
    position of its first file in ``files`` (errors are reported in the order files came). The
    pull-request target comes first: its findings have no path, which sorts first.

    Where the paths are spread over processes and ``render`` is given, each path's findings
    come back laid out by it (``_Rendered``), with their tally, instead of one by one; with
    ``spill`` too, the large ones come back as where in its folder they were left."""
    engine = Engine(policies)
    pr = engine.evaluate([], facts)
    if pr.findings or pr.errors:
        yield len(files), pr  # its errors after every file's, as one evaluation gives them
    order = sorted(range(len(files)), key=lambda i: files[i].path)
    groups = [list(g) for _, g in groupby(order, key=lambda i: files[i].path)]
    text = sum(len(f.text) for f in files)
    if pool is not None:
        small = len(files) < PARALLEL_MIN_FILES and text < PARALLEL_MIN_CHARS
    else:
        small = len(files) < FORK_MIN_FILES and text < FORK_MIN_CHARS
    executor = pool() if pool is not None and jobs > 1 and not small else None
    # (a caller with a ``pool`` is one with threads, the bot: without processes it evaluates
    # here, never by forking)
    if jobs <= 1 or small or (pool is not None and executor is None):
        done = 0
        for group in groups:
            yield group[0], engine.evaluate([files[i] for i in group])
            done += len(group)
            if progress is not None and (done % PROGRESS_EVERY < len(group) or done == len(files)):
                progress(done)
        return
    # Chunks shrink as the work runs out (guided self-scheduling): each takes a share of what is
    # left, so that the last ones are small and no process runs one long chunk at the end while
    # the others wait. They are sized by text, what evaluating costs, with a file's own cost.
    weights = [sum(len(files[i].text) + FILE_CHARS for i in group) for group in groups]
    left = sum(weights)
    smallest = left / (jobs * SMALLEST_CHUNK_PER_JOB)
    chunks: list[list[list[int]]] = []
    chars = bound = 0.0
    for group, weight in zip(groups, weights, strict=True):
        if not chunks or chars >= bound:
            chunks.append([])
            chars = 0
            bound = min(CHUNK_CHARS, max(smallest, left / (jobs * CHUNK_SHARE_PER_JOB)))
        chunks[-1].append(group)
        chars += weight
        left -= weight
    folder = spill() if spill is not None and render is not None else None
    if executor is not None:  # the bot's long-lived processes: nothing started per job
        shipped = _Policies(policies)
        work: list[_Chunk] = [
            (shipped, [[(i, files[i]) for i in group] for group in chunk], render, folder)
            for chunk in chunks
        ]
        yield from _chunk_results(executor, work, 2 * jobs, len(files), progress)
        return
    # Processes forked for this scan, this one among them (``bot.forked``): they start with the
    # policies and the files, and nothing is pickled to them.
    from bot import forked

    here = _Policies(policies, kept=True, engine=engine)  # (made before the fork: theirs too)
    work = [
        (here, [[(i, files[i]) for i in group] for group in chunk], render, folder)
        for chunk in chunks
    ]
    done = 0
    spread = forked.spread(lambda k: _evaluate_chunk(work[k]), len(work), jobs)
    with contextlib.closing(spread):
        for k, results in enumerate(spread):
            yield from results
            done += sum(len(group) for group in work[k][1])
            if progress is not None:
                progress(min(done, len(files)))


_Chunk = tuple[
    "_Policies",
    list[list[tuple[int, SourceFile]]],
    "Callable[[list[ReportedFinding]], Any] | None",
    str | None,  # the spill folder (``Rendering.spill``)
]


def _chunk_results(
    executor: Executor,
    work: list[_Chunk],
    window: int,
    total: int,
    progress: Progress | None,
) -> Iterator[tuple[int, Evaluation]]:
    """Each chunk's evaluations in chunk order, with at most ``window`` chunks in flight: results
    never pile up faster than they are written out."""
    pending: deque[tuple[int, Future[list[tuple[int, Evaluation]]]]] = deque()
    queue = iter(work)

    def submit() -> None:
        for item in queue:
            files = sum(len(group) for group in item[1])
            pending.append((files, executor.submit(_evaluate_chunk, item)))
            return

    for _ in range(max(1, window)):
        submit()
    done = 0
    try:
        while pending:
            files, future = pending.popleft()
            results = future.result()
            submit()
            yield from results
            done += files
            if progress is not None:
                progress(min(done, total))
    finally:  # the reader stopped (^C, a closed pipe): no more work for the processes
        for _, future in pending:
            future.cancel()


def _evaluate_chunk(work: _Chunk) -> list[tuple[int, Evaluation]]:
    shipped, groups, render, folder = work
    if render is not None:
        spool.spill_into(folder)
    engine = shipped.engine()
    out: list[tuple[int, Evaluation]] = []
    for group in groups:
        evaluation = engine.evaluate([file for _, file in group])
        if render is not None:
            evaluation = _rendered(evaluation, render)
        out.append((group[0][0], evaluation))
    return out


class _Policies:
    """A check's policies on their way to the evaluation processes: pickled once here, and read
    back once in each process (with the engine made of them there), not once for each chunk of
    work. They were 150 KB of pickle with their fixtures, and their pickling here and reading
    there sat between one chunk's end and the next one's start: 2-3 ms of every switch, on
    scans of a few hundred milliseconds."""

    def __init__(
        self,
        policies: list[Policy],
        payload: bytes = b"",
        digest: bytes = b"",
        *,
        kept: bool = False,
        engine: Engine | None = None,
    ) -> None:
        self.policies = policies
        self._payload = payload  # the pickle, made when first sent
        self._digest = digest
        self._kept = kept  # received: this process's own, its engine kept for every chunk
        self._engine: Engine | None = engine if kept else None

    def engine(self) -> Engine:
        if self._engine is not None:
            return self._engine
        engine = Engine(self.policies)
        if self._kept:  # (here, where chunks may run on threads, each makes its own)
            self._engine = engine
        return engine

    def __reduce__(self) -> tuple[Any, ...]:
        if not self._payload:
            import pickle

            self._payload = pickle.dumps(self.policies, pickle.HIGHEST_PROTOCOL)
            self._digest = hashlib.sha256(self._payload).digest()
        return (_received, (self._digest, self._payload))


_RECEIVED: dict[bytes, _Policies] = {}  # in an evaluation process: digest -> policies read back


def _received(digest: bytes, payload: bytes) -> _Policies:
    got = _RECEIVED.get(digest)
    if got is None:
        import pickle

        if len(_RECEIVED) >= 16:  # (the bot's processes see many repositories' policies)
            _RECEIVED.clear()
        got = _RECEIVED[digest] = _Policies(pickle.loads(payload), payload, digest, kept=True)
    return got


@dataclass
class _Rendered(Evaluation):
    """An evaluation whose findings (none excepted) were laid out where they were found."""

    piece: Any = None  # what the writer's ``Rendering.render`` gave
    tally: Tally = field(default_factory=Tally)


def _rendered(evaluation: Evaluation, render: Callable[[list[ReportedFinding]], Any]) -> _Rendered:
    reported = [ReportedFinding(finding, None) for finding in evaluation.findings]
    return _Rendered(
        errors=evaluation.errors,
        files=evaluation.files,
        piece=render(reported),
        tally=Tally.of(reported),
    )


def told(
    report: Report,
    expansion: Expansion,
    excluded: dict[str, list[str]],
    base: str | None,
    head: str | None,
) -> Report:
    """A change's ``report`` with what its reader is told besides: the notes and errors of
    rendering its charts and kustomizations, the changed paths that the config's ``exclude:``
    left out (by glob), its base and head."""
    report.notes.extend(expansion.notes)
    report.errors.extend(expansion.errors)
    for glob, paths in excluded.items():
        report.excluded.setdefault(glob, []).extend(paths)
    report.base, report.head = base, head
    return report


def live_entries(rules: Rules, now: datetime, verify: Verifier | None) -> list[ExemptionEntry]:
    """The entries that apply at ``now``: valid, approved as written (when verifying), and not
    past their deadline. What a result relied on must still be among these to stand."""
    scratch = Report(policies={p.id: p for p in rules.policies})
    return [
        e
        for e in _valid_entries(rules, scratch, now, verify)
        if e.expires is None or e.expires > now
    ]


class _NoEntries:
    """A ``Matcher`` of no entries: nothing covers a finding, nothing is applied or unused."""

    live: tuple[ExemptionEntry, ...] = ()
    expired: tuple[ExemptionEntry, ...] = ()

    def entry_for(self, finding: Finding) -> None:
        return None

    def forget(self) -> None:
        pass

    def applied(self) -> list[tuple[ExemptionEntry, int]]:
        return []

    def unused(self) -> list[ExemptionEntry]:
        return []


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
