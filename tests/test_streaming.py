"""Streamed reports: ``check(sink=writer.add)`` then ``writer.finish(report)`` writes the same
bytes as rendering the whole report, for every streamed format, view and input shape.

The CLI streams text, JSON and SARIF so that a scan's memory does not grow with its findings;
these tests hold it to the in-memory rendering (golden-tested elsewhere) byte for byte.
"""

from __future__ import annotations

import dataclasses
import io
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from bot import __version__
from bot.checking import Rules, check, load_rules
from bot.engine.model import Finding, PullRequestFacts, SourceFile
from bot.report import render_json, render_sarif, render_text, writer
from bot.report.model import Rendering, Report
from bot.report.text import ALL, View

NOW = datetime(2026, 12, 1, tzinfo=UTC)

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: shop
spec:
  hostPID: {host}
  containers:
    - name: web
      image: nginx:latest
      securityContext:
        privileged: true
"""

PR_POLICY = """\
id: repo.pr-ticket
title: Pull requests name a ticket
description: test
remediation: name a ticket in the title
severity: medium
enforcement: blocking
target: pull-request
condition: "!title.matches('[A-Z]+-[0-9]+') ? [{'title': title}] : []"
message: "title {title} names no ticket"
exceptions: {allowed: true}
standards: [test/example]
fixtures:
  - {expect: pass, content: ""}
  - {expect: fail, content: ""}
"""

CONFIG = "version: 1\nexclude: [legacy/**, nothing/**]\n"

EXCEPTIONS = """\
version: 1
exceptions:
  - id: EXC-1
    policy: k8s.privileged
    paths: ["apps/**"]
    reason: legacy workloads need raw sockets for now
    requested_by: alice
    expires: 2026-12-31
  - id: EXC-2
    policy: k8s.image-tag
    paths: ["apps/b*.yaml"]
    reason: placeholder images until the registry moves
    requested_by: bob
    expires: 2026-12-05
  - id: EXC-3
    policy: k8s.host-namespaces
    paths: ["apps/**"]
    reason: a deadline that has passed already
    requested_by: carol
    expires: 2026-06-01
  - id: EXC-4
    policy: k8s.host-ports
    paths: ["nowhere/**"]
    reason: a scope that matches nothing at all
    requested_by: dave
    expires: 2026-12-31
  - id: EXC-5
    policy: k8s.probes
    paths: ["apps/**"]
    expires: 2026-12-31
"""


def rules_of(base: dict[str, str]) -> Rules:
    def list_dir(folder: str) -> list[str]:
        return sorted(p for p in base if p.startswith(folder + "/"))

    return load_rules(base.get, list_dir)


def pod(name: str, host: bool = False) -> str:
    return POD.format(name=name, host="true" if host else "false")


FILES = [
    SourceFile("zeta/last.yaml", pod("z", host=True)),
    SourceFile("apps/a.yaml", pod("a", host=True)),
    SourceFile("apps/b.yaml", pod("b") + "---\n" + pod("b")),
    SourceFile("apps-x.yaml", pod("x")),  # sorts between apps/ files' parents and their names
    SourceFile("legacy/old.yaml", pod("old", host=True)),  # excluded
    SourceFile("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x\n"),  # an error
    SourceFile("apps/a.yaml", pod("a2")),  # the same path twice
    SourceFile("notes/key.txt", "AKIAABCDEFGHIJKLMNOP\n"),
    SourceFile("apps/b.yaml", pod("b") + "---\n" + pod("b")),  # so each finding there twice
]

BASES = {
    "plain": {},
    "exceptions": {
        ".compliance/config.yaml": CONFIG,
        ".compliance/exceptions.yaml": EXCEPTIONS,
        ".compliance/policies/pr.yaml": PR_POLICY,
    },
    "broken exceptions": {".compliance/exceptions.yaml": "version: 1\nexceptions: [\n"},
    # pull-request findings come first, from this process, then the files' (laid out elsewhere)
    "pull-request policy": {".compliance/policies/pr.yaml": PR_POLICY},
}

VIEWS = [ALL, View(min_severity="high"), View(blocking_only=True), View("critical", True)]


def whole(report: Report, fmt: str, view: View, color: bool) -> str:
    if fmt == "text":
        return render_text(report, color=color, view=view)
    if fmt == "json":
        return render_json(report, view)
    return render_sarif(report, __version__, view)


def streamed(rules: Rules, files: list[SourceFile], fmt: str, view: View, color: bool = False,
             **options: Any) -> tuple[str, Report]:  # fmt: skip
    out = io.StringIO()
    stream = writer(fmt, out, color=color, view=view)
    report = check(rules, files, now=NOW, sink=stream.add, **options)
    stream.finish(report)
    return out.getvalue(), report


FACTS = PullRequestFacts(title="quick fix", author="mallory", changed_paths=("apps/a.yaml",))


@pytest.mark.parametrize("base", list(BASES))
@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.options() or "all")
def test_streamed_output_is_the_whole_report_rendered(base: str, fmt: str, view: View):
    rules = rules_of(BASES[base])
    for files, facts in ((FILES, FACTS), (FILES, None), ([], None), ([], FACTS)):
        report = check(rules, files, now=NOW, facts=facts)
        for color in (False, True) if fmt == "text" else (False,):
            text, streamed_report = streamed(rules, files, fmt, view, color, facts=facts)
            assert text == whole(report, fmt, view, color)
        assert streamed_report.exit_code == report.exit_code
        assert streamed_report.findings == []


def test_the_streamed_report_keeps_counts_and_exceptions_not_findings():
    rules = rules_of(BASES["exceptions"])
    report = check(rules, FILES, now=NOW, facts=FACTS)
    _, streamed_report = streamed(rules, FILES, "json", ALL, facts=FACTS)
    assert streamed_report.tally is not None and streamed_report.tally.findings == len(
        report.findings
    )
    assert streamed_report.counts() == report.counts()
    expected = report.to_json()
    expected.pop("findings")
    actual = streamed_report.to_json()
    assert actual.pop("findings") == []
    assert actual == expected
    assert [u.id for u in report.applied] == ["EXC-1", "EXC-2"]
    assert [u.id for u in report.expired] == ["EXC-3"]
    assert [u.id for u in report.unused] == ["EXC-4"]
    assert [u.id for u in report.invalid] == ["EXC-5"]
    # each finding of apps/b.yaml comes twice: covered twice, counted once (as exemptions.apply)
    tagged = [rf for rf in report.findings if rf.finding.policy == "k8s.image-tag"]
    assert sum(1 for rf in tagged if rf.finding.path == "apps/b.yaml") == 4
    assert {u.id: u.findings for u in report.applied}["EXC-2"] == 2


def test_a_pool_streams_the_same_as_one_process():
    rules = rules_of(BASES["exceptions"])
    files = [SourceFile(f"apps/{i:03d}.yaml", pod(f"w{i}", host=i % 3 == 0)) for i in range(230)]
    files += FILES
    alone, _ = streamed(rules, files, "sarif", ALL, facts=FACTS)
    with ThreadPoolExecutor(2) as executor:
        pooled, _ = streamed(rules, files, "sarif", ALL, facts=FACTS, jobs=2,
                             pool=lambda: executor)  # fmt: skip
        assert alone == pooled
        report = check(rules, files, now=NOW, facts=FACTS, jobs=2, pool=lambda: executor)
    assert pooled == render_sarif(report, __version__)


class CountingPool(ThreadPoolExecutor):
    """A pool that counts the chunks of work handed to it."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.chunks = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.chunks += 1
        return super().submit(fn, *args, **kwargs)


def test_a_few_files_with_much_text_are_spread_over_the_pool_too():
    from bot.checking import PARALLEL_MIN_CHARS, PARALLEL_MIN_FILES

    rules = rules_of(BASES["exceptions"])
    many = "---\n".join(pod(f"w{i}", host=i % 2 == 0) for i in range(400))
    files = [SourceFile(f"apps/{i:02d}.yaml", many) for i in range(12)]
    assert len(files) < PARALLEL_MIN_FILES <= 230
    assert sum(len(f.text) for f in files) >= PARALLEL_MIN_CHARS
    alone, _ = streamed(rules, files, "json", ALL, facts=FACTS)
    with CountingPool(2) as executor:
        spread, _ = streamed(rules, files, "json", ALL, facts=FACTS, jobs=2,
                             pool=lambda: executor)  # fmt: skip
    assert executor.chunks > 1 and spread == alone
    with CountingPool(2) as executor:  # a few files of little text: evaluated here
        streamed(rules, files[:1] + FILES, "json", ALL, facts=FACTS, jobs=2, pool=lambda: executor)
    assert executor.chunks == 0


def test_a_caller_whose_pool_has_no_processes_evaluates_here_never_by_forking(monkeypatch):
    """The bot passes its pool; with none configured it evaluates in its own thread: a process
    with threads must not fork (``bot.forked``)."""

    def no_fork() -> int:
        raise AssertionError("a process with a pool forked")

    monkeypatch.setattr(os, "fork", no_fork)
    rules = rules_of(BASES["plain"])
    files = [SourceFile(f"apps/{i:03d}.yaml", pod(f"w{i}", host=i % 3 == 0)) for i in range(230)]
    alone, _ = streamed(rules, files, "json", ALL)
    spread, _ = streamed(rules, files, "json", ALL, jobs=2, pool=lambda: None)
    assert spread == alone


def test_a_chunk_of_work_ends_at_its_share_of_text():
    """What a chunk found crosses back whole: a chunk of many files of much text would be
    held whole, several at once, by both processes."""
    from bot.checking import CHUNK_CHARS

    class SizingPool(CountingPool):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            _, groups, *_ = args[0]
            self.sizes.append([sum(len(f.text) for _, f in group) for group in groups])
            return super().submit(fn, *args, **kwargs)

    rules = rules_of({})
    # (a long comment: much text, little to evaluate)
    files = [
        SourceFile(f"apps/{i:03d}.yaml", pod(f"w{i}") + "# " + "x" * (CHUNK_CHARS // 2) + "\n")
        for i in range(40)
    ]
    with SizingPool(2) as executor:
        executor.sizes = []
        spread, _ = streamed(rules, files, "json", ALL, jobs=2, pool=lambda: executor)
    assert spread == streamed(rules, files, "json", ALL)[0]
    assert sum(map(len, executor.sizes)) == len(files)
    # each chunk stops at the first file that takes it to CHUNK_CHARS or past it
    assert all(sum(sizes[:-1]) < CHUNK_CHARS for sizes in executor.sizes)
    # two files a chunk, and one a chunk at the end, where a share of what is left is less
    counts = [len(sizes) for sizes in executor.sizes]
    assert counts[0] == 2 and counts[-1] == 1 and counts == sorted(counts, reverse=True)


def test_chunks_shrink_as_the_work_runs_out():
    """Guided: each chunk is a share of what is left, so the processes finish together
    instead of one running a large last chunk while the other waits."""

    class SizingPool(CountingPool):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.counts.append(len(args[0][1]))
            return super().submit(fn, *args, **kwargs)

    rules = rules_of({})
    files = [SourceFile(f"apps/{i:03d}.yaml", pod(f"w{i:03d}")) for i in range(600)]
    with SizingPool(2) as executor:
        executor.counts = []
        spread, _ = streamed(rules, files, "json", ALL, jobs=2, pool=lambda: executor)
    assert spread == streamed(rules, files, "json", ALL)[0]
    counts = executor.counts
    assert sum(counts) == len(files)
    assert counts == sorted(counts, reverse=True)
    assert counts[0] >= 600 // 4 - 1  # what is left over twice the two processes: a quarter
    assert counts[-1] <= 600 // 64 + 1  # the smallest: the whole over 32 times two, a 64th


def test_placed_findings_are_gathered_then_streamed_in_order():
    rules = rules_of(BASES["exceptions"])

    def place(findings: list[Finding]) -> list[Finding]:  # a rendered chart's findings go home
        moved = [
            dataclasses.replace(f, path="charts/web/values.yaml")
            if f.path == "zeta/last.yaml"
            else f
            for f in findings
        ]
        return sorted(moved, key=Finding.sort_key)

    report = check(rules, FILES, now=NOW, place=place)
    for fmt in ("text", "json", "sarif"):
        text, _ = streamed(rules, FILES, fmt, ALL, place=place)
        assert text == whole(report, fmt, ALL, False)


def test_json_lines_are_the_findings_then_the_rest_of_the_report():
    rules = rules_of(BASES["exceptions"])
    view = View(min_severity="high")
    text, _ = streamed(rules, FILES, "jsonl", view, facts=FACTS)
    report = check(rules, FILES, now=NOW, facts=FACTS)
    expected = json.loads(render_json(report, view))
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[:-1] == expected.pop("findings")
    assert lines[-1] == expected
    assert list(lines[-1])[:2] == ["conclusion", "hidden"]
    assert text.count("\n") == len(lines)


def test_json_lines_of_nothing_is_one_summary_line():
    text, report = streamed(rules_of({}), [], "jsonl", ALL)
    [line] = text.splitlines()
    assert json.loads(line)["summary"] == {
        "files": 0,
        "blocking": 0,
        "advisory": 0,
        "excepted": 0,
        "errors": 0,
    }
    assert report.exit_code == 0


class TakingRendering:
    """A writer's ``Rendering``, counting the paths it was handed laid out, keeping the pieces
    and the spill folder it gave."""

    def __init__(self, stream: Any) -> None:
        self.inner = stream.rendering()
        self.taken = 0
        self.pieces: list[Any] = []
        self.folders: list[str] = []

    def as_rendering(self) -> Rendering:
        return Rendering(self.inner.render, self.take, self.spill)

    def take(self, piece: Any) -> None:
        self.taken += 1
        self.pieces.append(piece)
        self.inner.take(piece)

    def spill(self) -> str:
        self.folders.append(self.inner.spill())
        return self.folders[-1]


@pytest.fixture(scope="module")
def processes():
    """Evaluation processes that share nothing with this one: what they get is pickled."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as executor:
        yield executor


@pytest.mark.parametrize("base", list(BASES))
@pytest.mark.parametrize("fmt", ["text", "json", "jsonl", "sarif"])
def test_findings_laid_out_where_they_are_found_read_the_same(base: str, fmt: str, processes):
    rules = rules_of(BASES[base])
    files = [SourceFile(f"apps/{i:03d}.yaml", pod(f"w{i}", host=i % 3 == 0)) for i in range(230)]
    files += FILES
    live = base == "exceptions"  # its entries are matched here: findings come one by one
    for view in VIEWS:
        for color in (False, True) if fmt == "text" else (False,):
            alone, report = streamed(rules, files, fmt, view, color, facts=FACTS)
            out = io.StringIO()
            stream = writer(fmt, out, color=color, view=view)
            rendering = stream.rendering()
            if fmt == "sarif":  # (rule indexes depend on the whole scan's findings)
                assert rendering is None
            counting = TakingRendering(stream) if rendering is not None else None
            spread = check(
                rules, files, now=NOW, facts=FACTS, jobs=2, pool=lambda: processes,
                sink=stream.add, rendering=counting.as_rendering() if counting else None,
            )  # fmt: skip
            stream.finish(spread)
            assert out.getvalue() == alone
            assert spread.counts() == report.counts() and spread.exit_code == report.exit_code
            if counting is not None:
                # (the bases without live entries have no config either: nothing excluded)
                assert counting.taken == (0 if live else len({f.path for f in files}))


@pytest.mark.parametrize("fmt", ["text", "json", "jsonl"])
def test_large_laid_out_pieces_cross_back_as_their_place_in_a_spill_folder(
    fmt: str, processes, tmp_path
):
    """A path's findings laid out past ``SPILL_MIN`` stay in the evaluating process's file of
    the writer's spill folder, and go from there to the output: decoded into a ``StringIO``,
    copied by the kernel into a file. The folder is gone once the report is written."""
    from bot.report.spool import SPILL_MIN, Segment

    rules = rules_of({})
    many = "---\n".join(pod(f"w{i}", host=i % 2 == 0) for i in range(40))
    files = [SourceFile(f"apps/{i:02d}.yaml", many) for i in range(40)]  # (spread: 312 KB)
    alone, report = streamed(rules, files, fmt, ALL, facts=FACTS)
    for into_file in (False, True):
        out = open(tmp_path / "out", "w", encoding="utf-8") if into_file else io.StringIO()  # noqa: SIM115
        stream = writer(fmt, out)
        counting = TakingRendering(stream)
        spread = check(
            rules, files, now=NOW, facts=FACTS, jobs=2, pool=lambda: processes,
            sink=stream.add, rendering=counting.as_rendering(),
        )  # fmt: skip
        stream.finish(spread)
        if into_file:
            out.close()
            written = (tmp_path / "out").read_text("utf-8")
        else:
            written = out.getvalue()
        assert written == alone and spread.counts() == report.counts()
        texts = [part for piece in counting.pieces for part in _texts(fmt, piece)]
        assert texts and all(isinstance(part, Segment) for part in texts)
        assert all(part.size >= SPILL_MIN for part in texts)
        [folder] = counting.folders
        assert not os.path.exists(folder)


def _texts(fmt: str, piece: Any) -> list[Any]:
    """The laid-out text(s) of a piece of ``fmt``, without the sections that found nothing."""
    if fmt == "text":
        return [part for part in piece[0] if part != ""]
    return [piece[0]]


def test_policies_cross_to_an_evaluation_process_once_not_once_per_chunk():
    """Each chunk of work names its policies; a process reads them back (and makes its engine)
    the first time only: the same pickle then names what it already holds."""
    import pickle

    from bot.checking import _Policies, _received

    policies = rules_of(BASES["pull-request policy"]).policies
    shipped = _Policies(policies)
    first = pickle.loads(pickle.dumps(shipped))
    again = pickle.loads(pickle.dumps(shipped))
    assert first is again and first.policies == policies and first.policies is not policies
    assert first.engine() is again.engine()
    assert shipped.engine() is not shipped.engine()  # (here, each chunk makes its own)
    other = pickle.loads(pickle.dumps(_Policies(policies[:1])))
    assert other is not first and [p.id for p in other.policies] == [policies[0].id]
    digest, payload = shipped.__reduce__()[1]
    assert _received(digest, payload) is first
