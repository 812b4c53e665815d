"""``GitLabForge`` against the fake GitLab, with the real python-gitlab and the real git.

Stories per port method: a merge request is opened in the fake, the forge is asked or acts, and
the fake's state (statuses, notes, threads, branches, merge requests, issues) and its call
counts show what GitLab would hold. Faults are injected where GitLab would make them: the fake's
own 429s, and 5xx answers put on the wire by a ``requests`` response hook after the fake has done
the work (the fake has no 5xx of its own), so the bot's retry and look-before-retry paths run
against a write that really happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from fakes.github.git import GitRepo as FakeRepo
from fakes.github.git import Person
from fakes.gitlab import FakeGitLab
from fakes.gitlab.auth import ApiError
from fakes.gitlab.diffs import merge_request_diff
from fakes.gitlab.state import DEVELOPER, GUEST, MAINTAINER, OWNER, REPORTER
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import metrics
from bot.events import Repo
from bot.forge.base import (
    REQUEST_TRAILER,
    Annotation,
    BranchTaken,
    CheckOutput,
    Conclusion,
    ForgeError,
    TransientForgeError,
)
from bot.forge.git import GitRepo as MirrorRepo
from bot.forge.git import MirrorCache, hunk_added_lines
from bot.forge.gitlab import (
    GITALY_RENAMES,
    MAX_DISCUSSIONS,
    MAX_REFUSED,
    GitLabForge,
    _Memo,
    approved_head,
    noreply_login,
)

PATH = "acme/platform/shop"
POD = "kind: Pod\nmetadata:\n  name: app\nspec:\n  privileged: true\n"


@dataclass
class World:
    fake: FakeGitLab
    forge: GitLabForge
    token: str
    bot: Any
    repo: Repo
    seen: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)

    def feature_mr(self, branch: str = "feature", files: dict[str, str] | None = None) -> Any:
        changes: dict[str, str | bytes | None] = dict(files or {"deploy/pod.yaml": POD})
        self.fake.commit(PATH, branch, changes, "add pod", author="dev")
        return self.fake.open_mr(PATH, branch, title="Add pod", description="why", author="dev")

    def sha(self, branch: str) -> str:
        sha = self.fake.branch_sha(PATH, branch)
        assert sha is not None, branch
        return sha

    def text(self, ref: str, path: str) -> str:
        return str(self.fake.file_at(PATH, ref, path))

    def calls(self) -> int:
        return sum(self.fake.calls.values())


@pytest.fixture
def world(fake_gitlab: FakeGitLab, tmp_path: Path) -> Iterator[World]:
    fake = fake_gitlab
    fake.add_group("acme", members={"alice": 50})
    fake.add_group("acme/platform", members={"dev": DEVELOPER, "lead": MAINTAINER})
    fake.create_project(
        PATH,
        files={"README.md": "# shop\n", "deploy/app.yaml": "a\nb\nc\nd\ne\n"},
        author="alice",
    )
    fake.add_member(PATH, "rita", REPORTER)
    fake.add_member(PATH, "gus", GUEST)
    fake.add_user("mallory")
    fake.protect_branch(PATH, "main")
    token, bot = fake.project_token(PATH, access_level=DEVELOPER)
    seen: dict[tuple[str, int], dict[str, str]] = {}
    forge = GitLabForge(
        fake.web_url,
        token,
        MirrorCache(tmp_path / "mirrors", 10**9),
        approvals_seen=lambda path, iid: seen.get((path, iid), {}),
    )
    yield World(fake, forge, token, bot, Repo(PATH, default_branch="main"), seen)
    fake.wait_for_deliveries()


def output(
    conclusion: Conclusion | None = "failure",
    *,
    summary: str = "<!-- compliance-bot:check -->\n**1 blocking finding**",
    annotations: tuple[Annotation, ...] = (),
    name: str = "compliance",
) -> CheckOutput:
    return CheckOutput(
        name=name,
        title="1 blocking finding" if conclusion == "failure" else "compliance",
        summary=summary,
        conclusion=conclusion,
        annotations=annotations,
        details_url="https://bot.example.com/checks/1",
    )


def failure(path: str, line: int, message: str = "privileged container") -> Annotation:
    return Annotation(path, line, line, "failure", message, "k8s.privileged: Privileged")


def bot_notes(world: World, iid: int) -> list[Any]:
    return [n for n in world.fake.notes_of(PATH, iid) if n.author_id == world.bot.id]


def threads(world: World, iid: int) -> list[Any]:
    """The bot's diff threads on a merge request: their first notes."""
    return [n for n in bot_notes(world, iid) if n.type == "DiffNote"]


def fail_once(world: World, method: str, path_end: str, status: int = 502) -> Callable[[], int]:
    """Turn the first answer to ``method`` ``...path_end`` into ``status`` after GitLab did the
    work (a proxy timing out on the way back); returns how many answers were turned."""
    turned: list[int] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        request = response.request
        if (
            not turned
            and request.method == method
            and request.path_url.split("?")[0].endswith(path_end)
        ):
            turned.append(response.status_code)
            response.status_code = status
            response._content = b'{"message": "502 Bad Gateway"}'
        return response

    world.forge.gl.session.hooks["response"].append(hook)
    return lambda: len(turned)


# -- git ------------------------------------------------------------------------------------------
def test_fetch_brings_the_merge_request_head_with_the_token_out_of_urls(world: World) -> None:
    mr = world.feature_mr()
    forge = world.forge
    assert forge.pull_ref(mr.iid) == f"refs/merge-requests/{mr.iid}/head"
    mirror = forge.fetch(world.repo, ["refs/heads/main", forge.pull_ref(mr.iid)])
    assert mirror.resolve(forge.pull_ref(mr.iid)) == mr.head_sha
    assert forge.clone_url(world.repo) == f"{world.fake.web_url}/{PATH}.git"
    assert world.token not in forge.clone_url(world.repo)
    assert world.token not in (mirror.path / "config").read_text()
    assert world.fake.git_fetches
    assert all(
        f.project == PATH and world.bot.username in f.principal for f in world.fake.git_fetches
    )


def test_memo_is_bounded_and_expires() -> None:
    memo: _Memo[str, int] = _Memo(size=2, seconds=60)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1  # a is now the most recently used
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (1, None, 3)
    assert memo.remember("d", lambda: 4) == 4 and memo.remember("d", lambda: 5) == 4
    old: _Memo[str, int] = _Memo(seconds=0)
    old.put("a", 1)
    assert old.remember("a", lambda: 2) == 2


# -- merge requests -------------------------------------------------------------------------------
def test_pull_request_is_read_as_a_neutral_record(world: World) -> None:
    mr = world.feature_mr()
    pr = world.forge.pull_request(world.repo, mr.iid)
    assert (pr.number, pr.head_sha, pr.head_ref, pr.base_ref) == (
        mr.iid,
        mr.head_sha,
        "feature",
        "main",
    )
    assert pr.base_sha == world.fake.branch_sha(PATH, "main")
    assert (pr.title, pr.body, pr.author, pr.author_is_bot) == ("Add pod", "why", "dev", False)
    assert (pr.state, pr.merged, pr.merge_sha, pr.head_repo, pr.draft) == (
        "open",
        False,
        None,
        None,
        False,
    )
    (listed,) = world.forge.open_pull_requests(world.repo)
    assert listed.number == mr.iid and listed.head_sha == mr.head_sha
    assert listed.base_sha == ""  # a listing has no diff_refs

    world.fake.merge_mr(PATH, mr.iid, user="lead")
    merged = world.forge.pull_request(world.repo, mr.iid)
    assert merged.merged and merged.state == "closed" and merged.merged_by == "lead"
    assert merged.merge_sha and merged.merge_sha == world.fake.branch_sha(PATH, "main")
    assert merged.merged_at is not None
    assert [p.number for p in world.forge.merged_pull_requests(world.repo, "main")] == [mr.iid]
    assert world.forge.merged_pull_requests(world.repo, "other") == []
    assert world.forge.open_pull_requests(world.repo) == []


def test_a_token_bot_author_is_a_bot(world: World) -> None:
    world.fake.commit(PATH, "bot-branch", {"x.txt": "x\n"}, author=world.bot)
    mr = world.fake.open_mr(PATH, "bot-branch", author=world.bot)
    assert world.forge.pull_request(world.repo, mr.iid).author_is_bot


def test_protected_branches_keep_wildcards(world: World) -> None:
    world.fake.protect_branch(PATH, "release/*")
    assert sorted(world.forge.protected_branches(world.repo)) == ["main", "release/*"]


def test_unknown_merge_request_is_a_forge_error_naming_the_call(world: World) -> None:
    with pytest.raises(ForgeError) as caught:
        world.forge.pull_request(world.repo, 99)
    assert not isinstance(caught.value, TransientForgeError)
    assert "404" in str(caught.value) and f"/projects/{PATH}/merge_requests/99" in str(caught.value)


def test_a_bad_token_is_a_forge_error(world: World, tmp_path: Path) -> None:
    forge = GitLabForge(world.fake.web_url, "glpat-nope", MirrorCache(tmp_path / "m", 10**9))
    with pytest.raises(ForgeError, match="401"):
        forge.pull_request(world.repo, 1)


# -- checks: statuses -----------------------------------------------------------------------------
def test_status_is_posted_on_the_source_branch_and_a_running_repost_is_done(world: World) -> None:
    mr = world.feature_mr()
    forge, repo = world.forge, world.repo
    assert forge.find_check(repo, mr.head_sha, "compliance/exception-review") is None

    first = forge.post_check(
        repo, mr.head_sha, output(None, name="compliance/exception-review"), None
    )
    again = forge.post_check(
        repo,
        mr.head_sha,
        output(None, name="compliance/exception-review"),
        first,
        pull_request=mr.iid,
    )  # GitLab's 400 "Cannot transition status via :run from :running": nothing to do
    assert again.id == first.id and again.conclusion is None
    (status,) = world.fake.statuses(PATH, mr.head_sha, name="compliance/exception-review")
    assert status.status == "running" and status.author_id == world.bot.id

    done = forge.post_check(
        repo,
        mr.head_sha,
        output("success", name="compliance/exception-review"),
        again,
        pull_request=mr.iid,
    )
    (latest,) = world.fake.statuses(
        PATH, mr.head_sha, name="compliance/exception-review", latest=True
    )
    assert latest.status == "success" and latest.ref == "feature"
    assert latest.description == "compliance" and str(latest.target_url).endswith("/checks/1")
    found = forge.find_check(repo, mr.head_sha, "compliance/exception-review")
    assert found is not None and found.id == done.id == latest.id
    assert found.conclusion == "success"


def test_a_running_repost_without_a_record_finds_the_status(world: World) -> None:
    mr = world.feature_mr()
    first = world.forge.post_check(world.repo, mr.head_sha, output(None), None, pull_request=mr.iid)
    again = world.forge.post_check(world.repo, mr.head_sha, output(None), None, pull_request=mr.iid)
    assert again.id == first.id


def test_find_check_ignores_statuses_posted_by_anyone_else(world: World) -> None:
    mr = world.feature_mr()
    ours = world.forge.post_check(world.repo, mr.head_sha, output("failure"), None)
    world.fake.post_status(PATH, mr.head_sha, "success", user="dev", name="compliance")
    found = world.forge.find_check(world.repo, mr.head_sha, "compliance")
    assert found is not None and found.id == ours.id and found.conclusion == "failure"


def test_a_long_title_and_url_are_cut_or_left_out(world: World) -> None:
    mr = world.feature_mr()
    long = CheckOutput(
        name="compliance",
        title="x" * 400,
        summary="s",
        conclusion="action_required",
        details_url="https://bot.example.com/" + "y" * 300,
    )
    world.forge.post_check(world.repo, mr.head_sha, long, None)
    (status,) = world.fake.statuses(PATH, mr.head_sha, name="compliance")
    assert status.status == "failed" and status.description == "x" * 255
    assert status.target_url is None


# -- checks: the summary note ---------------------------------------------------------------------
def test_one_summary_note_per_check_is_edited_in_place(world: World) -> None:
    mr = world.feature_mr()
    forge, repo = world.forge, world.repo
    world.fake.comment(PATH, mr.iid, "<!-- compliance-bot:check:compliance -->\nforged", user="dev")

    ref = forge.post_check(repo, mr.head_sha, output("failure"), None, pull_request=mr.iid)
    forge.post_check(
        repo,
        mr.head_sha,
        output("failure", name="compliance/exception-review"),
        None,
        pull_request=mr.iid,
    )
    world.fake.reset_calls()
    forge.post_check(repo, mr.head_sha, output("failure"), ref, pull_request=mr.iid)  # replayed
    assert (
        world.fake.calls[
            ("PUT", "/projects/{id}/merge_requests/{merge_request_iid}/notes/{note_id}")
        ]
        == 0
    )
    assert (
        world.fake.calls[("POST", "/projects/{id}/merge_requests/{merge_request_iid}/notes")] == 0
    )

    fixed = output("success", summary="<!-- compliance-bot:check -->\nall good")
    forge.post_check(repo, mr.head_sha, fixed, ref, pull_request=mr.iid)
    notes = bot_notes(world, mr.iid)
    assert len(notes) == 2
    summary = next(
        n for n in notes if n.body.startswith("<!-- compliance-bot:check:compliance -->")
    )
    assert summary.body.endswith("all good")
    review = next(n for n in notes if "check:compliance/exception-review" in n.body)
    assert "1 blocking finding" in review.body


def test_the_summary_note_is_cut_to_gitlabs_limit(world: World) -> None:
    mr = world.feature_mr()
    world.forge.post_check(
        world.repo, mr.head_sha, output(summary="z" * 1_200_000), None, pull_request=mr.iid
    )
    (note,) = bot_notes(world, mr.iid)
    assert len(note.body) == 1_000_000


def test_a_check_for_an_old_head_leaves_the_note_to_the_new_one(world: World) -> None:
    mr = world.feature_mr()
    old = mr.head_sha
    world.fake.commit(PATH, "feature", {"deploy/pod.yaml": POD + "# more\n"}, author="dev")
    world.forge.post_check(world.repo, old, output("failure"), None, pull_request=mr.iid)
    assert world.fake.statuses(PATH, old, name="compliance")
    assert bot_notes(world, mr.iid) == []


# -- checks: inline discussions -------------------------------------------------------------------
def test_added_lines_reads_unified_hunks() -> None:
    diff = (
        "@@ -1,3 +1,4 @@\n a\n-b\n+B\n+C\n c\n"
        "@@ -10,2 +11,2 @@ def f():\n x\n+y\n\\ No newline at end of file\n"
    )
    assert hunk_added_lines(diff) == {2, 3, 12}
    assert hunk_added_lines("") == set() and hunk_added_lines(None) == set()
    assert hunk_added_lines("@@ -0,0 +1,2 @@\n+++x\n+--y\n") == {1, 2}
    # a file header before the first hunk is not a line; a carriage return ends none
    assert hunk_added_lines("--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n-a\r\n+a\r\n+b\rc\n") == {1, 2}


def test_inline_discussions_go_only_on_added_lines(world: World) -> None:
    # deploy/app.yaml: line 3 changed, lines 1-2 and 4-5 are context; deploy/pod.yaml is new
    mr = world.feature_mr(files={"deploy/pod.yaml": POD, "deploy/app.yaml": "a\nb\nC\nd\ne\n"})
    annotations = (
        failure("deploy/pod.yaml", 5),
        failure("deploy/app.yaml", 3),
        failure("deploy/app.yaml", 1),  # context: GitLab would want old_line too
        failure("README.md", 1),  # not in the diff at all
        Annotation("deploy/pod.yaml", 2, 2, "warning", "advisory", "t"),  # not blocking
    )
    ref = world.forge.post_check(
        world.repo, mr.head_sha, output(annotations=annotations), None, pull_request=mr.iid
    )
    placed = sorted(
        (n.position["new_path"], n.position["new_line"]) for n in threads(world, mr.iid)
    )
    assert placed == [("deploy/app.yaml", 3), ("deploy/pod.yaml", 5)]
    assert ref.annotation_keys == {annotations[0].key, annotations[1].key}
    first = threads(world, mr.iid)[0]
    assert first.body.startswith("<!-- compliance-bot:finding:compliance:")
    assert "privileged container" in first.body and first.resolvable and not first.resolved


def test_inline_discussions_are_capped_resolved_when_gone_and_reopened_when_back(
    world: World,
) -> None:
    lines = "".join(f"line {i}\n" for i in range(1, 41))
    mr = world.feature_mr(files={"deploy/many.yaml": lines})
    forge, repo = world.forge, world.repo
    many = tuple(failure("deploy/many.yaml", i) for i in range(1, 41))

    ref = forge.post_check(repo, mr.head_sha, output(annotations=many), None, pull_request=mr.iid)
    assert len(threads(world, mr.iid)) == MAX_DISCUSSIONS == len(ref.annotation_keys)

    # replayed: nothing new, nothing twice
    world.fake.reset_calls()
    forge.post_check(repo, mr.head_sha, output(annotations=many), ref, pull_request=mr.iid)
    assert len(threads(world, mr.iid)) == MAX_DISCUSSIONS
    assert (
        world.fake.calls[("POST", "/projects/{id}/merge_requests/{merge_request_iid}/discussions")]
        == 0
    )

    # lines 1-5 fixed: their threads are resolved, and five more findings get one
    rest = many[5:]
    ref = forge.post_check(repo, mr.head_sha, output(annotations=rest), ref, pull_request=mr.iid)
    notes = threads(world, mr.iid)
    resolved = sorted(n.position["new_line"] for n in notes if n.resolved)
    assert resolved == [1, 2, 3, 4, 5]
    assert len([n for n in notes if not n.resolved]) == MAX_DISCUSSIONS
    assert len(ref.annotation_keys) == MAX_DISCUSSIONS

    # line 1 is back: its thread is reopened, not duplicated
    forge.post_check(
        repo, mr.head_sha, output(annotations=(many[0], *rest)), ref, pull_request=mr.iid
    )
    back = [n for n in threads(world, mr.iid) if n.position["new_line"] == 1]
    assert len(back) == 1 and not back[0].resolved

    # a thread a person resolved stays resolved
    person = next(n for n in threads(world, mr.iid) if n.position["new_line"] == 6)
    world.fake.resolve(PATH, mr.iid, person.discussion_id, user="dev")
    forge.post_check(
        repo, mr.head_sha, output(annotations=(many[0], *rest)), ref, pull_request=mr.iid
    )
    assert world.fake.state.notes[person.id].resolved

    # all fixed: every thread resolved
    forge.post_check(repo, mr.head_sha, output("success"), ref, pull_request=mr.iid)
    assert all(n.resolved for n in threads(world, mr.iid))


def test_a_failed_discussion_write_is_found_again_not_repeated(world: World) -> None:
    mr = world.feature_mr()
    turned = fail_once(world, "POST", "/discussions")
    annotations = (failure("deploy/pod.yaml", 5),)
    with pytest.raises(TransientForgeError):
        world.forge.post_check(
            world.repo,
            mr.head_sha,
            output(annotations=annotations),
            None,
            pull_request=mr.iid,
        )
    assert turned() == 1 and len(threads(world, mr.iid)) == 1  # GitLab made it before the 502
    ref = world.forge.post_check(
        world.repo, mr.head_sha, output(annotations=annotations), None, pull_request=mr.iid
    )  # the job's retry
    assert len(threads(world, mr.iid)) == 1 and ref.annotation_keys == {annotations[0].key}


def test_a_failed_summary_note_write_is_looked_for_before_another(world: World) -> None:
    mr = world.feature_mr()
    turned = fail_once(world, "POST", f"/merge_requests/{mr.iid}/notes")
    world.forge.post_check(world.repo, mr.head_sha, output(), None, pull_request=mr.iid)
    assert turned() == 1 and len(bot_notes(world, mr.iid)) == 1


# Files where git and GitLab could disagree on which lines a merge request adds, and the lines
# it does add (new line numbers). "far" keeps 4 of 10 lines: a rename only at Gitaly's 30 %.
TEN = "".join(f"line number {i}\n" for i in range(1, 11))
FAR = TEN.replace("line", "far line")
TRICKY_BASE: dict[str, str | bytes | None] = {
    "crlf.txt": "one\r\ntwo\r\nthree\r\n",
    "tail.txt": "x\ny\nz",
    "moved/old.yaml": TEN,
    "far/old.yaml": FAR,
    "gone.txt": "bye\n",
}
TRICKY_HEAD: dict[str, str | bytes | None] = {
    "crlf.txt": "one\r\nTWO\r\nthree\r\nfour\r\n",
    "tail.txt": "x\ny\nz\nw",  # "z" gains its newline: removed and added again
    "moved/old.yaml": None,
    "moved/new.yaml": TEN.replace("line number 10", "line number ten"),
    "far/old.yaml": None,
    "far/new.yaml": "".join(
        f"far line number {i}\n" if i <= 3 or i == 10 else f"changed {i}\n" for i in range(1, 11)
    ),
    "new.yaml": "p\nq",
    "gone.txt": None,
    "bin.dat": b"\x00\x01\x02\n",
}
TRICKY_ADDED = {
    "crlf.txt": ("crlf.txt", {2, 4}),
    "tail.txt": ("tail.txt", {3, 4}),
    "moved/new.yaml": ("moved/old.yaml", {10}),
    "far/new.yaml": ("far/old.yaml", {4, 5, 6, 7, 8, 9}),
    "new.yaml": ("new.yaml", {1, 2}),
    "bin.dat": ("bin.dat", set()),
}
DIFFS = ("GET", "/projects/{id}/merge_requests/{merge_request_iid}/diffs")
DISCUSSIONS = ("POST", "/projects/{id}/merge_requests/{merge_request_iid}/discussions")


def tricky_mr(world: World) -> Any:
    world.fake.commit(PATH, "main", TRICKY_BASE, "tricky files")
    world.fake.commit(PATH, "tricky", TRICKY_HEAD, "edit them", author="dev")
    return world.fake.open_mr(PATH, "tricky", title="Tricky", author="dev")


def every_line(name: str = "x") -> tuple[Annotation, ...]:
    """A blocking finding on every line of every text file the change leaves."""
    out = []
    for path, text in TRICKY_HEAD.items():
        if isinstance(text, str):
            for line in range(1, text.count("\n") + 2):
                out.append(failure(path, line, f"{name} {path}:{line}"))
    return tuple(out)


def placed(world: World, iid: int, name: str = "compliance") -> dict[str, tuple[str, set[int]]]:
    out: dict[str, tuple[str, set[int]]] = {}
    for n in threads(world, iid):
        if f"compliance-bot:finding:{name}:" in n.body:
            where = out.setdefault(n.position["new_path"], (n.position["old_path"], set()))
            where[1].add(n.position["new_line"])
    return out


def test_added_lines_come_from_the_mirror_and_agree_with_gitlab(world: World) -> None:
    """Renames (at Gitaly's 30 %), new and deleted files, CRLF, a last line without newline and
    a binary file: a discussion goes on every line the merge request adds and on no other, the
    fake (which checks positions as GitLab does) refuses none, and no diffs are asked."""
    mr = tricky_mr(world)
    forge = world.forge
    forge.fetch(world.repo, ["refs/heads/main", forge.pull_ref(mr.iid)])  # as the handler does
    world.fake.reset_calls()
    forge.post_check(
        world.repo, mr.head_sha, output(annotations=every_line()), None,
        pull_request=mr.iid,
    )  # fmt: skip
    expected = {path: lines for path, lines in TRICKY_ADDED.items() if lines[1]}
    assert placed(world, mr.iid) == expected
    assert world.fake.calls[DIFFS] == 0
    assert world.fake.calls[DISCUSSIONS] == sum(len(lines) for _, lines in expected.values())
    posted = [c.status for c in world.fake.call_log if (c.method, c.template) == DISCUSSIONS]
    assert set(posted) == {201}


def test_the_fake_refuses_the_positions_gitlab_refuses(world: World) -> None:
    """The premise of the story above: a line the merge request doesn't add has no line code
    on GitLab (a 400). (GitLab diffs only a position's own paths, so a wrong old path can pass
    for a new file: the story checks the old paths the bot sends itself.)"""
    mr = tricky_mr(world)
    refs = world.forge.pull_request(world.repo, mr.iid)
    record = world.fake.mr(PATH, mr.iid).versions[-1]
    shas = {"base_sha": record.base_sha, "start_sha": record.start_sha, "head_sha": refs.head_sha}

    def discuss(new_path: str, old_path: str, line: int, old_line: int | None = None) -> None:
        position = {"position_type": "text", **shas, "new_path": new_path, "old_path": old_path}
        position |= (
            {"new_line": line} if old_line is None else {"new_line": line, "old_line": old_line}
        )
        world.fake.discuss(PATH, mr.iid, "x", user="dev", position=position)

    discuss("crlf.txt", "crlf.txt", 2)  # added
    discuss("crlf.txt", "crlf.txt", 3, old_line=3)  # context, both numbers
    discuss("far/new.yaml", "far/old.yaml", 9)
    for bad in (
        lambda: discuss("crlf.txt", "crlf.txt", 1),  # context, new number only
        lambda: discuss("crlf.txt", "crlf.txt", 3, old_line=2),  # numbers that don't match
        lambda: discuss("far/new.yaml", "far/old.yaml", 2),  # kept from the old file
        lambda: discuss("gone.txt", "gone.txt", 1),
    ):
        with pytest.raises(ApiError) as refused:
            bad()
        assert refused.value.status == 400


def test_without_the_mirror_gitlabs_diffs_say_the_same(world: World, tmp_path: Path) -> None:
    mr = tricky_mr(world)
    # a forge with an empty mirror cache (nothing fetched), and one whose mirror lacks the head
    bare = GitLabForge(world.fake.web_url, world.token, MirrorCache(tmp_path / "none", 10**9))
    stale = GitLabForge(world.fake.web_url, world.token, MirrorCache(tmp_path / "stale", 10**9))
    stale.fetch(world.repo, ["refs/heads/main"])
    expected = {path: lines for path, lines in TRICKY_ADDED.items() if lines[1]}
    for name, forge in (("bare", bare), ("stale", stale)):
        world.fake.reset_calls()
        forge.post_check(
            world.repo, mr.head_sha,
            output(annotations=every_line(name), name=name), None,
            pull_request=mr.iid,
        )  # fmt: skip
        assert placed(world, mr.iid, name) == expected, name
        assert world.fake.calls[DIFFS] == 1, name  # one page: fewer than 100 files


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    old=st.lists(st.sampled_from(["a", "b", "c", "", "a\r"]), max_size=8),
    new=st.lists(st.sampled_from(["a", "b", "c", "d", "", "b\r"]), max_size=8),
    old_end=st.booleans(),
    new_end=st.booleans(),
)
def test_git_and_gitlab_agree_on_added_lines(
    tmp_path: Path, old: list[str], new: list[str], old_end: bool, new_end: bool
) -> None:
    """The mirror's answer (no context; renames paired over the whole diff, then the wanted
    files diffed alone) is GitLab's diff (Gitaly's flags, three lines of context): the same
    added lines, the same rename."""
    repo = FakeRepo.init_bare(tmp_path / f"p{uuid.uuid4().hex}.git", "main")
    who = Person("t", "t@example.com")
    text = "\n".join(old) + ("\n" if old_end and old else "")
    base = repo.commit_files(None, {"f.txt": text, "g.txt": TEN}, "base", who)
    changed = "\n".join(new) + ("\n" if new_end and new else "")
    head = repo.commit_files(
        base, {"f.txt": changed, "g.txt": None, "h.txt": TEN + "x\n"}, "h", who
    )
    gitlab = {
        f.new_path: (f.old_path, set(f.added))
        for f in merge_request_diff(repo, base, head)
        if f.status != "D"
    }
    mirror = MirrorRepo(repo.path).added_lines(
        base, head, ["f.txt", "h.txt"], renames=GITALY_RENAMES
    )
    assert {p: (old_path, set(lines)) for p, (old_path, lines) in mirror.items()} == gitlab
    assert mirror["h.txt"] == ("g.txt", frozenset({11}))


def test_refused_positions_are_few_and_not_asked_again_on_that_head(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitLab may refuse a position git's diff allows (a file too large for GitLab's diffs):
    after MAX_REFUSED refusals the evaluation stops trying, and the head never asks again."""
    lines = "".join(f"line {i}\n" for i in range(1, 11))
    mr = world.feature_mr(files={"deploy/huge.yaml": lines})
    world.forge.fetch(world.repo, ["refs/heads/main", world.forge.pull_ref(mr.iid)])

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ApiError(400, '400 Bad request - Note {:line_code=>["can\'t be blank"]}')

    monkeypatch.setattr(world.fake, "_checked_position", refuse)
    many = tuple(failure("deploy/huge.yaml", i) for i in range(1, 11))

    def asked() -> list[int]:
        return [
            c.body["position"]["new_line"]
            for c in world.fake.call_log
            if (c.method, c.template) == DISCUSSIONS
        ]

    ref = world.forge.post_check(
        world.repo, mr.head_sha, output(annotations=many), None, pull_request=mr.iid
    )
    assert asked() == [1, 2, 3][:MAX_REFUSED] and not ref.annotation_keys
    world.fake.reset_calls()
    world.forge.post_check(
        world.repo, mr.head_sha, output(annotations=many), ref, pull_request=mr.iid
    )
    assert asked() == [4, 5, 6][:MAX_REFUSED]  # not the refused ones again
    assert len(bot_notes(world, mr.iid)) == 1  # the summary note only: it lists every finding


@pytest.mark.parametrize("files", [10, 300])
def test_api_calls_of_one_evaluation_do_not_grow_with_files(world: World, files: int) -> None:
    paths = {f"deploy/app{i:03}.yaml": POD for i in range(files)}
    mr = world.feature_mr(files=paths)
    world.forge.fetch(world.repo, ["refs/heads/main", world.forge.pull_ref(mr.iid)])
    annotations = tuple(failure(path, 5) for path in paths)
    world.fake.reset_calls()
    existing = world.forge.find_check(world.repo, mr.head_sha, "compliance")
    ref = world.forge.post_check(
        world.repo, mr.head_sha, output(annotations=annotations), existing, pull_request=mr.iid
    )
    # GET /user, statuses; GET MR, POST status, GET discussions, POST note; one POST per
    # discussion, at most MAX_DISCUSSIONS; nothing per file or per page of files
    assert world.calls() == 6 + min(files, MAX_DISCUSSIONS), dict(world.fake.calls)
    assert world.fake.calls[DIFFS] == 0

    world.fake.reset_calls()
    world.forge.post_check(
        world.repo, mr.head_sha, output(annotations=annotations), ref, pull_request=mr.iid
    )
    assert world.calls() == 3, dict(world.fake.calls)  # GET MR, POST status, GET discussions


def test_api_calls_of_a_clean_evaluation(world: World) -> None:
    mr = world.feature_mr(files={f"deploy/app{i:03}.yaml": POD for i in range(300)})
    world.fake.reset_calls()
    existing = world.forge.find_check(world.repo, mr.head_sha, "compliance")
    world.forge.post_check(
        world.repo, mr.head_sha, output("success"), existing, pull_request=mr.iid
    )
    # GET /user, statuses; GET MR, POST status, GET discussions, POST note: no diffs asked
    assert world.calls() == 6, dict(world.fake.calls)


# -- approvals and people -------------------------------------------------------------------------
VERSIONS = ("GET", "/projects/{id}/merge_requests/{merge_request_iid}/versions")


def test_reviews_carry_the_head_the_bot_saw_each_approval_on(world: World) -> None:
    mr = world.feature_mr()
    first = mr.head_sha
    world.fake.approve(PATH, mr.iid, user="alice")
    world.fake.approve(PATH, mr.iid, user="lead")
    world.fake.approve(PATH, mr.iid, user=world.bot)
    # the webhook named an older head for alice: what the bot saw wins over GitLab's times
    world.seen[(PATH, mr.iid)] = {"Alice": "0" * 40, "lead": first, world.bot.username: first}
    world.fake.reset_calls()
    reviews = {r.login: r for r in world.forge.reviews(world.repo, mr.iid)}
    assert set(reviews) == {"alice", "lead", world.bot.username}
    assert all(r.state == "APPROVED" for r in reviews.values())
    assert reviews["alice"].commit_id == "0" * 40 and not reviews["alice"].is_bot
    assert reviews["lead"].commit_id == first
    assert reviews[world.bot.username].is_bot
    assert reviews["alice"].submitted_at is not None
    assert world.fake.calls[VERSIONS] == 0  # every approval was seen: nothing more to ask


def test_an_approval_after_the_last_push_counts_without_its_webhook(world: World) -> None:
    """A lost webhook, or a ledger rebuilt after the database was lost: GitLab's times say
    the approval was given on the current head."""
    mr = world.feature_mr()
    head = world.fake.commit(PATH, "feature", {"deploy/more.yaml": "a: 1\n"}, "more", author="dev")
    world.fake.approve(PATH, mr.iid, user="alice")
    world.fake.reset_calls()
    [review] = world.forge.reviews(world.repo, mr.iid)
    assert review.login == "alice" and review.commit_id == head
    assert world.fake.calls[VERSIONS] == 1


def test_an_approval_before_the_last_push_does_not_count(world: World) -> None:
    world.fake.set_approval_settings(PATH, reset_approvals_on_push=False)  # the approval stays
    mr = world.feature_mr()
    world.fake.approve(PATH, mr.iid, user="alice")
    world.fake.commit(PATH, "feature", {"deploy/more.yaml": "a: 1\n"}, "more", author="dev")
    [review] = world.forge.reviews(world.repo, mr.iid)
    assert review.login == "alice" and review.commit_id is None


def test_missing_approval_or_version_times_fail_closed(world: World) -> None:
    mr = world.feature_mr()
    world.fake.approve(PATH, mr.iid, user="alice")
    record = world.fake.mr(PATH, mr.iid)
    approval, version = record.approvals[0], record.versions[-1]
    approval.created_at = None  # a GitLab before approved_at
    assert world.forge.reviews(world.repo, mr.iid)[0].commit_id is None
    approval.created_at = datetime.now(UTC)
    version.created_at = None
    assert world.forge.reviews(world.repo, mr.iid)[0].commit_id is None
    version.created_at = approval.created_at - timedelta(seconds=1)
    assert world.forge.reviews(world.repo, mr.iid)[0].commit_id == mr.head_sha


T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def version(n: int, at: datetime | str | None, head: str | None = None) -> dict[str, Any]:
    when = at.isoformat().replace("+00:00", "Z") if isinstance(at, datetime) else at
    return {"id": n, "head_commit_sha": head or f"{n:040d}", "created_at": when}


@pytest.mark.parametrize(
    ("approved_at", "versions", "head"),
    [
        (T0 + timedelta(milliseconds=1), [version(1, T0)], f"{1:040d}"),
        (T0, [version(1, T0)], None),  # at the same moment: can't tell which came first
        (T0 - timedelta(seconds=1), [version(1, T0)], None),  # before the push
        # ids, not list order, say which version is the latest (GitLab lists newest first)
        (T0 + timedelta(hours=2), [version(2, T0 + timedelta(hours=1)), version(1, T0)],
         f"{2:040d}"),
        (T0 + timedelta(minutes=30), [version(2, T0 + timedelta(hours=1)), version(1, T0)], None),
        (T0 + timedelta(hours=2), [version(2, T0), version(1, T0 + timedelta(hours=1))], None),
        (T0 + timedelta(hours=2), [version(2, T0), version(1, T0)], None),
        (T0 + timedelta(hours=2), [version(2, T0), version(1, None)], None),
        (T0 + timedelta(hours=2), [version(1, "2026-07-01T12:00:00")], None),  # no zone
        (T0 + timedelta(hours=2), [version(1, "yesterday")], None),
        (T0 + timedelta(hours=2), [{"id": 1, "created_at": "2026-07-01T12:00:00Z"}], None),
        (T0 + timedelta(hours=2), [], None),
        (None, [version(1, T0)], None),
        (datetime(2026, 7, 1, 13, 0), [version(1, T0)], None),  # naive
    ],
)  # fmt: skip
def test_approved_head_from_gitlabs_times(
    approved_at: datetime | None, versions: list[dict[str, Any]], head: str | None
) -> None:
    assert approved_head(approved_at, versions) == head


def test_commit_people_maps_emails_to_usernames_and_reads_co_authors(world: World) -> None:
    alice = world.fake.user("alice")
    world.fake.commit(
        PATH,
        "feature",
        {"a.txt": "a\n"},
        f"change\n\nCo-authored-by: Alice <{alice.id}-alice@users.noreply.example.com>\n"
        "Co-authored-by: Someone <someone@example.org>\n",
        author="dev",
    )
    world.fake.commit(
        PATH, "feature", {"b.txt": "b\n"}, "more", author=Person("Stranger", "stranger@example.org")
    )
    mr = world.fake.open_mr(PATH, "feature", author="dev")
    people = world.forge.commit_people(world.repo, mr.iid)
    assert set(people.logins) == {"dev", "stranger"}  # dev by name, stranger by local part
    assert [(c.name, c.login) for c in people.co_authors] == [
        ("Alice", "alice"),
        ("Someone", None),
    ]
    assert noreply_login("12-bob@users.noreply.gitlab.com") == "bob"
    assert noreply_login("bob@example.com") is None


def test_profile_and_team_members(world: World) -> None:
    profile = world.forge.profile("dev")
    assert profile is not None and profile.login == "dev" and profile.name == "Dev"
    assert world.forge.profile("nobody-at-all") is None
    assert world.forge.team_members("acme", "platform") == {"dev", "lead"}
    assert world.forge.team_members("acme", "") == {"alice"}
    assert world.forge.team_members("acme", "missing") is None
    assert world.forge.team_members("alice", "") == frozenset()  # a user's name: no group
    assert world.forge.team_members("nobody-at-all", "") is None  # hidden or absent: can't tell
    assert world.forge.codeowners_errors(world.repo, "main") == []


MEMBERS = ("GET", "/projects/{id}/members")


def test_role_members_are_the_direct_members_with_exactly_that_role(world: World) -> None:
    """``@@role`` code owners (GitLab's codeowners reference, "Add a role as a Code Owner"):
    "Roles are not inclusive of higher roles", "Only direct project members ... are eligible"."""
    fake = world.fake
    fake.add_member(PATH, "mara", MAINTAINER)
    fake.add_member(PATH, "dora", DEVELOPER)
    fake.add_member(PATH, "olga", OWNER)
    fake.add_member(PATH, "blake", MAINTAINER)
    fake.block_user("blake")
    fake.reset_calls()
    before = answers("GET", "200")
    # lead (Maintainer of acme/platform) and alice (Owner of acme) are inherited: not counted
    assert world.forge.role_members(world.repo, "maintainer") == {"mara"}
    assert world.forge.role_members(world.repo, "owner") == {"olga"}
    # a Developer is a Developer, not a Maintainer or Owner; the bot's token user is one too
    assert world.forge.role_members(world.repo, "developer") == {"dora", world.bot.username}
    assert fake.calls[MEMBERS] == 3  # one listing per question, none remembered for later
    assert answers("GET", "200") - before == 3  # metered like every call
    assert world.forge.role_members(world.repo, "guest") is None  # no such code-owner role
    assert world.forge.role_members(Repo("acme/nowhere"), "maintainer") is None  # can't tell


def test_approval_rules_on_premium_free_and_ce(world: World) -> None:
    fake = world.fake
    fake.add_approval_rule(
        PATH, "/.compliance/", rule_type="code_owner", users=["alice"], section="Compliance"
    )
    fake.add_approval_rule(PATH, "Security", users=["lead"], approvals_required=1)
    mr = world.feature_mr()
    owners, security = world.forge.approval_rules(world.repo, mr.iid) or []
    assert (owners.name, owners.section) == ("/.compliance/", "Compliance")
    assert owners.kind == "code_owner"
    assert (owners.approved, owners.approvals_required, owners.approved_by) == (False, 1, ())
    assert (security.kind, security.approved) == ("regular", False)
    fake.approve(PATH, mr.iid, user="alice")
    owners, _ = world.forge.approval_rules(world.repo, mr.iid) or []
    assert owners.approved and owners.approved_by == ("alice",)
    # Free: GitLab EE answers without rules, as it has none in force
    fake.set_tier(PATH, "free")
    assert world.forge.approval_rules(world.repo, mr.iid) == []
    # a token that may not read the approval state (a Guest's here): no rules to offer
    guest = GitLabForge(fake.web_url, fake.personal_token("gus"), world.forge.mirrors)
    assert guest.approval_rules(world.repo, mr.iid) is None
    # the Community Edition has no such route
    fake.set_tier(PATH, "premium")
    fake.edition = "ce"
    assert world.forge.approval_rules(world.repo, mr.iid) is None


@pytest.mark.parametrize(
    ("login", "permission"),
    [
        ("alice", "admin"),  # Owner, inherited from acme
        ("lead", "maintain"),  # Maintainer, from acme/platform
        ("dev", "write"),  # Developer
        ("rita", "read"),  # Reporter
        ("gus", "none"),  # Guest
        ("mallory", "none"),  # not a member
        ("nobody-at-all", "none"),  # no such user
    ],
)
def test_permission_maps_access_levels_to_githubs_words(
    world: World, login: str, permission: str
) -> None:
    assert world.forge.permission(world.repo, login) == permission


def test_a_blocked_member_has_no_permission(world: World) -> None:
    world.fake.block_user("dev")
    assert world.forge.permission(world.repo, "dev") == "none"


# -- the conversation -----------------------------------------------------------------------------
def test_comments_comment_and_react(world: World) -> None:
    mr = world.feature_mr()
    forge, repo = world.forge, world.repo
    asked = world.fake.comment(PATH, mr.iid, "/compliance help", user="dev")
    world.fake.approve(PATH, mr.iid, user="alice")  # a system note: not a comment
    mine = forge.comment(repo, mr.iid, "<!-- compliance-bot:reply -->\nhello")
    assert forge.comments(repo, mr.iid) == [
        (asked.id, "/compliance help", "dev"),
        (mine, "<!-- compliance-bot:reply -->\nhello", world.bot.username),
    ]
    forge.react(repo, asked.id, "eyes")
    forge.react(repo, asked.id, "eyes")  # GitLab's 404 for the second: taken as done
    awards = world.fake.state.notes[asked.id].awards
    assert [(a.name, a.user_id) for a in awards] == [("eyes", world.bot.id)]


def test_react_needs_the_merge_request_of_a_note(world: World, tmp_path: Path) -> None:
    mr = world.feature_mr()
    asked = world.fake.comment(PATH, mr.iid, "/compliance help", user="dev")
    fresh = GitLabForge(world.fake.web_url, world.token, MirrorCache(tmp_path / "m", 10**9))
    world.fake.reset_calls()
    fresh.react(world.repo, asked.id, "eyes")  # unknown iid: skipped, nothing asked
    assert world.calls() == 0
    fresh.react(world.repo, asked.id, "eyes", number=mr.iid)
    assert [a.name for a in world.fake.state.notes[asked.id].awards] == ["eyes"]


def answers(method: str, status: str) -> float:
    """GitLab answers counted so far by the process's metrics (``bot.metrics``)."""
    labels = {"forge": "gitlab", "method": method, "status": status}
    return metrics.PROCESS.get_sample_value("compliance_bot_forge_requests_total", labels) or 0.0


def test_rate_limits_are_waited_in_place_when_short_and_queued_when_long(world: World) -> None:
    mr = world.feature_mr()
    refused = answers("GET", "429")
    world.fake.throttle(1, retry_after=1)
    assert world.forge.pull_request(world.repo, mr.iid).number == mr.iid
    assert answers("GET", "429") == refused + 1  # every answer is counted, retried ones too
    world.fake.throttle(1, retry_after=1)
    world.forge.comment(world.repo, mr.iid, "a POST refused with 429 was not done: sent again")
    assert len(bot_notes(world, mr.iid)) == 1
    world.fake.throttle(1, retry_after=120)
    with pytest.raises(TransientForgeError) as caught:
        world.forge.pull_request(world.repo, mr.iid)
    assert caught.value.retry_after == 120


def test_a_5xx_is_repeated_for_a_read_and_not_for_a_comment(world: World) -> None:
    mr = world.feature_mr()
    turned = fail_once(world, "GET", f"/merge_requests/{mr.iid}")
    assert world.forge.pull_request(world.repo, mr.iid).number == mr.iid
    assert turned() == 1
    turned = fail_once(world, "POST", f"/merge_requests/{mr.iid}/notes")
    with pytest.raises(TransientForgeError) as caught:
        world.forge.comment(world.repo, mr.iid, "once")
    assert caught.value.retry_after is None and "502" in str(caught.value)
    assert len(bot_notes(world, mr.iid)) == 1  # made once, and not made again


def test_an_unreachable_gitlab_is_transient(world: World, tmp_path: Path) -> None:
    forge = GitLabForge("http://127.0.0.1:9", world.token, MirrorCache(tmp_path / "m", 10**9))
    with pytest.raises(TransientForgeError, match="cannot reach GitLab") as caught:
        forge.pull_request(world.repo, 1)
    assert caught.value.retry_after is None and world.token not in str(caught.value)


# -- changes the bot proposes ---------------------------------------------------------------------
def change(world: World, request: str = "req-1", text: str = "version: 1\n", **kw: Any) -> Any:
    base = world.sha("main")
    return world.forge.open_change(
        world.repo,
        base_branch="main",
        base_sha=base,
        base_tree="unused-on-gitlab",
        branch=kw.pop("branch", "compliance-bot/cleanup-main"),
        files={".compliance/exceptions.yaml": text, "README.md": "# shop\nupdated\n"},
        message="Remove expired exceptions",
        title="Remove expired exceptions",
        body="<!-- compliance-bot:cleanup -->",
        request=request,
        **kw,
    )


def test_open_change_makes_one_branch_one_commit_one_merge_request(world: World) -> None:
    number, url = change(world)
    branch = "compliance-bot/cleanup-main"
    head = world.sha(branch)
    project = world.fake.project(PATH)
    message = project.git.commit_info(head).message
    assert f"{REQUEST_TRAILER} req-1" in message
    assert project.git.commit_info(head).parents == [world.sha("main")]
    assert world.text(branch, ".compliance/exceptions.yaml") == "version: 1\n"
    mr = world.fake.mr(PATH, number)
    assert mr.source_branch == branch and mr.target_branch == "main"
    assert mr.force_remove_source_branch and url.endswith(f"/merge_requests/{number}")

    again = change(world)  # the same request again (a retried job)
    assert again == (number, url)
    assert world.fake.branch_sha(PATH, branch) == head  # same change: the head (and approvals) kept
    assert len(world.fake.project(PATH).merge_requests) == 1
    assert world.fake.calls[("POST", "/projects/{id}/repository/commits")] == 2  # 2nd refused


def test_open_change_moves_its_own_branch_and_refuses_anyone_elses(world: World) -> None:
    number, _ = change(world)
    branch = "compliance-bot/cleanup-main"
    moved = change(world, text="version: 1\nexceptions: []\n")  # same request, new content
    assert moved[0] == number
    head = world.sha(branch)
    assert world.text(head, ".compliance/exceptions.yaml").endswith("[]\n")
    assert world.fake.project(PATH).git.commit_info(head).parents == [world.sha("main")]
    with pytest.raises(BranchTaken):
        change(world, request="req-2")
    world.fake.commit(PATH, "people-branch", {"x": "x\n"}, author="dev")
    with pytest.raises(BranchTaken):
        change(world, branch="people-branch")
    assert world.fake.branch_sha(PATH, branch) == head


def test_open_change_after_a_5xx_that_came_after_the_write(world: World) -> None:
    turned = fail_once(world, "POST", "/repository/commits")
    number, _ = change(world)
    assert turned() == 1
    assert world.fake.calls[("POST", "/projects/{id}/repository/commits")] == 1  # not made twice
    turned = fail_once(world, "POST", "/merge_requests")
    again = change(world, branch="compliance-bot/other", request="req-3")
    assert turned() == 1 and again[0] != number
    assert len(world.fake.project(PATH).merge_requests) == 2


def test_merge_requests_the_bot_keeps(world: World) -> None:
    number, _ = change(world)
    forge, repo = world.forge, world.repo
    world.feature_mr()
    assert forge.open_branches(repo, "compliance-bot/") == ["compliance-bot/cleanup-main"]
    assert forge.open_pull_for_branch(repo, "compliance-bot/cleanup-main") == number
    assert forge.open_pull_for_branch(repo, "nope") is None
    forge.edit_pull(repo, number, title="New title", body="New body")
    mr = world.fake.mr(PATH, number)
    assert (mr.title, mr.description) == ("New title", "New body")

    forge.request_reviewers(repo, number, ["alice", "nobody-at-all"], ["platform"])
    reviewers = {world.fake.state.users[u].username for u in mr.reviewer_ids}
    assert reviewers == {"alice", "dev", "lead"}
    forge.request_reviewers(repo, number, ["rita"], ["acme/platform"])
    assert {world.fake.state.users[u].username for u in mr.reviewer_ids} == reviewers | {"rita"}
    forge.request_reviewers(repo, number, ["acme"], [])  # a plain @name that is a group's
    assert "alice" in {world.fake.state.users[u].username for u in mr.reviewer_ids}

    forge.close_pull(repo, number)
    assert world.fake.mr(PATH, number).state == "closed"
    assert forge.open_pull_for_branch(repo, "compliance-bot/cleanup-main") is None


def test_the_dashboard_issue_is_found_by_its_marker(world: World) -> None:
    forge, repo = world.forge, world.repo
    marker = "<!-- compliance-bot:dashboard -->"
    world.fake.create_issue(PATH, "Forged", description=f"{marker}\nnot ours", author="dev")
    world.fake.create_issue(
        PATH, "Other", description="compliance-bot:dashboard no marker", author=world.bot
    )
    assert forge.find_issue(repo, marker) is None
    number = forge.create_issue(repo, "Compliance dashboard", f"{marker}\nall good")
    assert forge.find_issue(repo, marker) == (number, f"{marker}\nall good")
    forge.edit_issue(repo, number, body=f"{marker}\n2 expiring")
    assert world.fake.issue(PATH, number).description.endswith("2 expiring")
    forge.edit_issue(repo, number, state="closed")
    assert world.fake.issue(PATH, number).state == "closed"
    assert forge.find_issue(repo, marker) is None
    forge.edit_issue(repo, number, state="open")
    assert world.fake.issue(PATH, number).state == "opened"
