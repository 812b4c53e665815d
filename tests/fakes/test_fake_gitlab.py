"""Tests of the fake GitLab itself, driven with the real python-gitlab, git and HTTP.

If the fake drifts from GitLab, every end-to-end test built on it lies; these tests pin the
behaviours the bot depends on (PLATFORM.md §8-11) and the fake's own bookkeeping (violations,
call counts, deliveries).
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests
from standardwebhooks.webhooks import Webhook
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from fakes.gitlab import FakeGitLab
from fakes.gitlab.state import DEVELOPER, MAINTAINER, REPORTER

SIGNING_TOKEN = "whsec_" + base64.b64encode(b"k" * 32).decode()
EXAMPLES = Path(__file__).parent / "gitlab" / "examples"


class WebhookSink:
    """A tiny HTTP receiver on 127.0.0.1 that records every webhook POSTed to it."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/gitlab"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self.received.append((dict(request.headers), request.get_data()))
        return Response("ok", status=self.status)(environ, start_response)

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        return [
            json.loads(body)
            for headers, body in self.received
            if event is None or headers["X-Gitlab-Event"] == event
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    receiver = WebhookSink()
    yield receiver
    receiver.close()


class World:
    """acme (alice: Owner) / platform (dev: Developer) / shop, a Reporter, a bot token, a hook."""

    def __init__(self, fake: FakeGitLab, sink: WebhookSink) -> None:
        self.fake = fake
        fake.add_group("acme", members={"alice": 50})
        fake.add_group("acme/platform", members={"dev": DEVELOPER})
        self.project = fake.create_project(
            "acme/platform/shop",
            files={"README.md": "# shop\n", "deploy/app.yaml": "kind: Pod\nname: app\n"},
            author="alice",
        )
        fake.add_member(self.project, "rita", REPORTER)
        fake.add_user("mallory")
        fake.protect_branch(self.project, "main")
        self.bot_token, self.bot = fake.project_token(self.project, access_level=DEVELOPER)
        self.hook = fake.add_hook(
            self.project, sink.url, token="s3cret", signing_token=SIGNING_TOKEN
        )
        self.tokens = {
            name: fake.personal_token(name) for name in ("alice", "dev", "rita", "mallory")
        }

    def gl(self, who: str = "bot", **kwargs: Any) -> gitlab.Gitlab:
        token = self.bot_token if who == "bot" else self.tokens[who]
        return gitlab.Gitlab(self.fake.web_url, private_token=token, **kwargs)


@pytest.fixture
def world(fake_gitlab: FakeGitLab, sink: WebhookSink) -> Iterator[World]:
    yield World(fake_gitlab, sink)
    fake_gitlab.wait_for_deliveries()


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run git with no credential helper and no prompt, so auth failures fail fast."""
    return subprocess.run(
        ["git", "-c", "credential.helper=", "-c", "protocol.version=2", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=check,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin", "HOME": str(cwd or "/tmp")},
    )


# -- users, projects, members ---------------------------------------------------------------
def test_python_gitlab_reads_the_current_user_and_projects_by_path_and_id(world: World) -> None:
    gl = world.gl()
    gl.auth()
    assert gl.user is not None and gl.user.username == world.bot.username and gl.user.bot
    by_path = gl.projects.get("acme/platform/shop")
    by_id = gl.projects.get(world.project.id)
    assert by_path.id == by_id.id == world.project.id
    assert by_path.path_with_namespace == "acme/platform/shop"
    assert by_path.namespace["full_path"] == "acme/platform"
    assert by_path.permissions["project_access"]["access_level"] == DEVELOPER
    assert world.fake.calls[("GET", "/projects/{id}")] == 2
    assert world.fake.calls[("GET", "/user")] == 1
    (found,) = gl.users.list(username="rita", get_all=True)
    assert found.username == "rita"
    token = gl.http_get("/personal_access_tokens/self")
    assert token["scopes"] == ["api"] and token["user_id"] == world.bot.id


def test_project_listing_paginates_with_gitlabs_headers(world: World) -> None:
    fake = world.fake
    for n in range(23):
        fake.create_project(f"acme/platform/svc-{n:02d}")
    gl = world.gl("dev")
    names = [p.path for p in gl.projects.list(membership=True, iterator=True, per_page=10)]
    assert len(names) == 24 and "shop" in names
    assert fake.calls[("GET", "/projects")] == 3
    response = requests.get(
        f"{fake.api_url}/projects",
        params={"membership": "true", "per_page": 10, "page": 2},
        headers={"PRIVATE-TOKEN": world.tokens["dev"]},
    )
    h = response.headers
    assert (h["X-Total"], h["X-Total-Pages"], h["X-Page"]) == ("24", "3", "2")
    assert (h["X-Next-Page"], h["X-Prev-Page"], h["X-Per-Page"]) == ("3", "1", "10")
    assert 'rel="next"' in h["Link"] and "page=3" in response.links["next"]["url"]
    # Mallory belongs nowhere: the private projects are invisible to her.
    assert world.gl("mallory").projects.list(membership=True, get_all=True) == []


def test_members_direct_inherited_and_group_members(world: World) -> None:
    gl = world.gl()
    project = gl.projects.get(world.project.id)
    dev = world.fake.user("dev")
    alice = world.fake.user("alice")
    direct = {m.username for m in project.members.list(get_all=True)}
    assert direct == {"rita", world.bot.username}
    assert project.members_all.get(dev.id).access_level == DEVELOPER
    assert project.members_all.get(alice.id).access_level == 50
    with pytest.raises(gitlab.GitlabGetError) as missing:
        project.members.get(dev.id)
    assert missing.value.response_code == 404
    group = gl.groups.get("acme/platform")
    assert [m.username for m in group.members.list(get_all=True)] == ["dev"]
    assert {m.username for m in group.members_all.list(get_all=True)} == {"alice", "dev"}


# -- git over HTTP ------------------------------------------------------------------------------
def test_git_clone_push_and_protected_branches_over_http(
    world: World, tmp_path: Path, sink: WebhookSink
) -> None:
    fake = world.fake
    dev_token = world.tokens["dev"]
    work = tmp_path / "work"
    git("clone", "-q", fake.git_url("acme/platform/shop", dev_token), str(work), cwd=tmp_path)
    assert (work / "README.md").read_text() == "# shop\n"
    (work / "new.txt").write_text("hello\n")
    git("add", "new.txt", cwd=work)
    git(
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.com",
        "commit",
        "-qm",
        "add new",
        cwd=work,
    )
    git("push", "-q", "origin", "HEAD:refs/heads/feature", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert fake.branch_sha(world.project, "feature") == head
    fake.wait_for_deliveries()
    (push,) = [p for p in sink.events("Push Hook") if p["ref"] == "refs/heads/feature"]
    assert push["after"] == head and push["before"] == "0" * 40
    assert push["user_username"] == "dev" and push["total_commits_count"] == 1
    assert push["commits"][0]["added"] == ["new.txt"]
    # main is protected (Maintainers push): a developer's push is declined by pre-receive.
    refused = git("push", "origin", "HEAD:refs/heads/main", cwd=work, check=False)
    assert refused.returncode != 0
    assert "You are not allowed to push code to protected branches" in refused.stderr
    assert fake.branch_sha(world.project, "main") != head
    # A bad token is asked again (401) and git gives up without a prompt.
    bad = git(
        "ls-remote", fake.git_url("acme/platform/shop", "glpat-wrong"), cwd=tmp_path, check=False
    )
    assert bad.returncode != 0 and "Authentication failed" in bad.stderr
    # Someone who cannot see the project gets a 404, not a hint that it exists.
    hidden = git(
        "ls-remote",
        fake.git_url("acme/platform/shop", world.tokens["mallory"]),
        cwd=tmp_path,
        check=False,
    )
    assert hidden.returncode != 0 and "not found" in hidden.stderr.lower()
    statuses = [(r.service, r.status) for r in fake.git_requests]
    assert ("git-receive-pack", 200) in statuses and ("git-upload-pack", 401) in statuses


# -- commits API -------------------------------------------------------------------------------
def test_commit_actions_create_a_branch_and_enforce_last_commit_id(world: World) -> None:
    fake = world.fake
    project = world.gl().projects.get(world.project.id)
    main_sha = fake.branch_sha(world.project, "main")
    readme_last = project.files.get("README.md", ref="main").last_commit_id
    commit = project.commits.create(
        {
            "branch": "bot/cleanup",
            "start_branch": "main",
            "commit_message": "Clean up\n\nBody",
            "author_name": "Compliance Bot",
            "author_email": "bot@example.com",
            "actions": [
                {"action": "create", "file_path": "docs/new.md", "content": "new\n"},
                {
                    "action": "update",
                    "file_path": "README.md",
                    "content": "# shop v2\n",
                    "last_commit_id": readme_last,
                },
                {
                    "action": "move",
                    "file_path": "deploy/pod.yaml",
                    "previous_path": "deploy/app.yaml",
                },
                {
                    "action": "create",
                    "file_path": "bin/run",
                    "content": base64.b64encode(b"#!/bin/sh\n").decode(),
                    "encoding": "base64",
                },
            ],
        }
    )
    assert commit.parent_ids == [main_sha] and commit.author_name == "Compliance Bot"
    assert commit.committer_name == world.bot.name and commit.title == "Clean up"
    assert fake.file_at(world.project, "bot/cleanup", "README.md") == "# shop v2\n"
    assert fake.file_at(world.project, "bot/cleanup", "deploy/app.yaml") is None
    assert project.files.raw("deploy/pod.yaml", ref="bot/cleanup") == b"kind: Pod\nname: app\n"
    assert fake.file_at(world.project, "bot/cleanup", "bin/run") == "#!/bin/sh\n"
    # README.md changed since readme_last on bot/cleanup: GitLab's optimistic lock refuses.
    with pytest.raises(gitlab.GitlabCreateError) as stale:
        project.commits.create(
            {
                "branch": "bot/cleanup",
                "commit_message": "again",
                "actions": [
                    {
                        "action": "update",
                        "file_path": "README.md",
                        "content": "x\n",
                        "last_commit_id": readme_last,
                    }
                ],
            }
        )
    assert stale.value.response_code == 400
    assert "has changed since you started editing it" in str(stale.value.error_message)
    with pytest.raises(gitlab.GitlabCreateError) as exists:
        project.commits.create(
            {
                "branch": "bot/cleanup",
                "commit_message": "dup",
                "actions": [{"action": "create", "file_path": "docs/new.md", "content": "x"}],
            }
        )
    assert "already exists" in str(exists.value.error_message)
    # A Developer cannot commit to the protected main branch through the API either.
    with pytest.raises(gitlab.GitlabCreateError) as protected:
        project.commits.create(
            {
                "branch": "main",
                "commit_message": "x",
                "actions": [{"action": "delete", "file_path": "README.md"}],
            }
        )
    assert protected.value.response_code == 403
    detail = project.commits.get(commit.id)
    assert detail.stats["additions"] >= 3 and detail.id == commit.id


def test_branches_protected_branches_tree_and_compare(world: World) -> None:
    fake = world.fake
    fake.commit(
        world.project, "feature", {"src/a.py": "a\n", "src/b.py": "b\n"}, "add src", author="dev"
    )
    project = world.gl().projects.get(world.project.id)
    assert {b.name for b in project.branches.list(get_all=True)} == {"main", "feature"}
    main = project.branches.get("main")
    assert main.protected and not main.can_push and main.default
    created = project.branches.create({"branch": "topic", "ref": "feature"})
    assert created.commit["id"] == fake.branch_sha(world.project, "feature")
    project.branches.delete("topic")
    assert fake.branch_sha(world.project, "topic") is None
    (protected,) = project.protectedbranches.list(get_all=True)
    assert (
        protected.name == "main" and protected.push_access_levels[0]["access_level"] == MAINTAINER
    )
    tree = project.repository_tree(ref="feature", recursive=True, get_all=True)
    assert {(e["path"], e["type"]) for e in tree} >= {("src", "tree"), ("src/a.py", "blob")}
    top = project.repository_tree(ref="feature", get_all=True)
    assert [e["name"] for e in top] == ["deploy", "src", "README.md"]
    result = project.repository_compare("main", "feature")
    assert [d["new_path"] for d in result["diffs"]] == ["src/a.py", "src/b.py"]
    assert result["commit"]["id"] == fake.branch_sha(world.project, "feature")


# -- merge requests ----------------------------------------------------------------------------
def open_feature_mr(world: World, files: int = 3) -> Any:
    fake = world.fake
    fake.commit(
        world.project,
        "feature",
        {f"deploy/f{n}.yaml": f"n: {n}\n" for n in range(files)},
        "add manifests",
        author="dev",
    )
    project = world.gl("dev").projects.get(world.project.id)
    return project.mergerequests.create(
        {"source_branch": "feature", "target_branch": "main", "title": "Add manifests"}
    )


def test_merge_request_diffs_are_paginated_and_changes_listed(
    world: World, sink: WebhookSink
) -> None:
    fake = world.fake
    mr = open_feature_mr(world, files=5)
    fake.wait_for_deliveries()
    (opened,) = sink.events("Merge Request Hook")
    assert opened["object_attributes"]["action"] == "open"
    assert opened["object_attributes"]["last_commit"]["id"] == mr.sha
    gl = world.gl()
    path = f"/projects/{world.project.id}/merge_requests/{mr.iid}/diffs"
    fake.reset_calls()
    diffs = list(gl.http_list(path, iterator=True, per_page=2))
    assert [d["new_path"] for d in diffs] == [f"deploy/f{n}.yaml" for n in range(5)]
    assert all(d["new_file"] and d["diff"].startswith("@@") for d in diffs)
    assert fake.calls[("GET", "/projects/{id}/merge_requests/{merge_request_iid}/diffs")] == 3
    project = gl.projects.get(world.project.id)
    same = project.mergerequests.get(mr.iid)
    assert len(same.changes()["changes"]) == 5
    assert same.diff_refs["head_sha"] == mr.sha
    assert same.diff_refs["start_sha"] == fake.branch_sha(world.project, "main")
    assert [c.title for c in same.commits()] == ["add manifests"]
    assert {p["username"] for p in same.participants()} == {"dev"}
    listed = project.mergerequests.list(state="opened", source_branch="feature", get_all=True)
    assert [m.iid for m in listed] == [mr.iid]
    assert project.mergerequests.list(state="merged", get_all=True) == []
    with pytest.raises(gitlab.GitlabCreateError) as duplicate:
        project.mergerequests.create(
            {"source_branch": "feature", "target_branch": "main", "title": "x"}
        )
    assert duplicate.value.response_code == 409


def test_update_close_reopen_and_reviewers_send_hooks(world: World, sink: WebhookSink) -> None:
    fake = world.fake
    mr = open_feature_mr(world)
    rita = fake.user("rita")
    mr.title = "Draft: Add manifests"
    mr.reviewer_ids = [rita.id]
    mr.save()
    mr.state_event = "close"
    mr.save()
    mr.state_event = "reopen"
    mr.save()
    fake.wait_for_deliveries()
    actions = [p["object_attributes"]["action"] for p in sink.events("Merge Request Hook")]
    assert actions == ["open", "update", "close", "reopen"]
    update = sink.events("Merge Request Hook")[1]
    assert update["changes"]["title"]["current"] == "Draft: Add manifests"
    assert update["changes"]["draft"] == {"previous": False, "current": True}
    assert update["reviewers"][0]["username"] == "rita"
    assert "oldrev" not in update["object_attributes"]


def test_pushing_to_the_source_sends_update_with_oldrev_and_resets_approvals(
    world: World, sink: WebhookSink
) -> None:
    fake = world.fake
    mr = open_feature_mr(world)
    fake.approve(world.project, mr.iid, user="alice")
    old = mr.sha
    new = fake.commit(world.project, "feature", {"deploy/more.yaml": "x\n"}, "more", author="dev")
    fake.wait_for_deliveries()
    update = sink.events("Merge Request Hook")[-1]
    assert update["object_attributes"]["action"] == "update"
    assert update["object_attributes"]["oldrev"] == old
    assert update["object_attributes"]["last_commit"]["id"] == new
    fresh = world.gl().projects.get(world.project.id).mergerequests.get(mr.iid)
    assert fresh.sha == new and fresh.approvals.get().approved_by == []
    assert len(fresh.diffs.list(get_all=True)) == 2  # python-gitlab's `diffs` are versions
    notes = [n.body for n in fresh.notes.list(get_all=True) if n.system]
    assert "added 1 commit" in notes


def test_approvals_sha_check_and_approval_hooks(world: World, sink: WebhookSink) -> None:
    fake = world.fake
    mr = open_feature_mr(world)
    fake.set_approval_settings(world.project, approvals_before_merge=2)
    alice_mr = world.gl("alice").projects.get(world.project.id).mergerequests.get(mr.iid)
    with pytest.raises(gitlab.GitlabMRApprovalError) as stale:
        alice_mr.approve(sha="0" * 40)
    assert stale.value.response_code == 409
    assert "SHA does not match HEAD of source branch" in str(stale.value.error_message)
    alice_mr.approve(sha=mr.sha)
    # GitLab answers 401 to an approval it refuses; python-gitlab raises its auth error.
    with pytest.raises(gitlab.GitlabAuthenticationError) as twice:
        alice_mr.approve()
    assert twice.value.response_code == 401
    with pytest.raises(gitlab.GitlabAuthenticationError) as own:
        mr.approve()  # dev is the author; authors may not approve by default
    assert own.value.response_code == 401
    with pytest.raises(gitlab.GitlabAuthenticationError):
        world.gl("rita").projects.get(world.project.id).mergerequests.get(mr.iid).approve()
    bot_mr = world.gl().projects.get(world.project.id).mergerequests.get(mr.iid)
    bot_mr.approve()
    approvals = bot_mr.approvals.get()
    assert approvals.approvals_required == 2 and approvals.approvals_left == 0
    assert {a["user"]["username"] for a in approvals.approved_by} == {"alice", world.bot.username}
    alice_mr.unapprove()
    fake.wait_for_deliveries()
    actions = [p["object_attributes"]["action"] for p in sink.events("Merge Request Hook")]
    assert actions == ["open", "approval", "approved", "unapproved"]
    assert bot_mr.approvals.get().approvals_left == 1
    with pytest.raises(gitlab.GitlabMRApprovalError) as again:
        alice_mr.unapprove()
    assert again.value.response_code == 404


def test_approval_state_reports_code_owner_rules(world: World) -> None:
    fake = world.fake
    fake.add_approval_rule(
        world.project, "Exceptions", rule_type="code_owner", users=["alice"], section="Exceptions"
    )
    mr = open_feature_mr(world)
    state = mr.approval_state.get()
    (rule,) = state.rules
    assert rule["rule_type"] == "code_owner" and rule["section"] == "Exceptions"
    assert not rule["approved"] and [u["username"] for u in rule["eligible_approvers"]] == ["alice"]
    fake.approve(world.project, mr.iid, user="alice")
    (rule,) = mr.approval_state.get().rules
    assert rule["approved"] and [u["username"] for u in rule["approved_by"]] == ["alice"]


def test_merge_checks_sha_and_makes_a_real_merge_commit(world: World, sink: WebhookSink) -> None:
    fake = world.fake
    mr = open_feature_mr(world)
    base_before = fake.branch_sha(world.project, "main")
    dev_mr = world.gl("dev").projects.get(world.project.id).mergerequests.get(mr.iid)
    with pytest.raises(gitlab.GitlabAuthenticationError) as not_allowed:
        dev_mr.merge()  # main is protected: only Maintainers merge
    assert not_allowed.value.response_code == 401
    alice_mr = world.gl("alice").projects.get(world.project.id).mergerequests.get(mr.iid)
    with pytest.raises(gitlab.GitlabMRClosedError) as stale:
        alice_mr.merge(sha="f" * 40)
    assert stale.value.response_code == 409
    alice_mr.merge(sha=mr.sha, should_remove_source_branch=True)
    assert alice_mr.state == "merged" and alice_mr.merged_by["username"] == "alice"
    info = world.project.git.commit_info(alice_mr.merge_commit_sha)
    assert info.parents == [base_before, mr.sha]
    assert info.message.startswith("Merge branch 'feature' into 'main'")
    assert fake.branch_sha(world.project, "main") == alice_mr.merge_commit_sha
    assert fake.branch_sha(world.project, "feature") is None
    fake.wait_for_deliveries()
    assert sink.events("Merge Request Hook")[-1]["object_attributes"]["action"] == "merge"
    pushes = {p["ref"]: p for p in sink.events("Push Hook")}
    assert pushes["refs/heads/main"]["after"] == alice_mr.merge_commit_sha
    assert pushes["refs/heads/feature"]["after"] == "0" * 40
    with pytest.raises(gitlab.GitlabMRClosedError) as merged:
        alice_mr.merge()
    assert merged.value.response_code == 405


# -- commit statuses --------------------------------------------------------------------------
def test_commit_status_state_machine_and_who_posted(world: World) -> None:
    fake = world.fake
    sha = fake.branch_sha(world.project, "main")
    assert sha is not None
    commit = world.gl().projects.get(world.project.id).commits.get(sha)
    commit.statuses.create({"state": "running", "name": "compliance", "description": "checking"})
    with pytest.raises(gitlab.GitlabCreateError) as again:
        commit.statuses.create({"state": "running", "name": "compliance"})
    assert again.value.response_code == 400
    assert "Cannot transition status via :run from :running" in str(again.value.error_message)
    done = commit.statuses.create(
        {"state": "failed", "name": "compliance", "target_url": "http://bot/r/1"}
    )
    assert done.status == "failed" and done.ref == "main"
    # A finished status is not reused: posting again starts a new one; the old is retried.
    commit.statuses.create({"state": "success", "name": "compliance"})
    latest = commit.statuses.list(get_all=True)
    assert [(s.name, s.status) for s in latest] == [("compliance", "success")]
    every = commit.statuses.list(all=True, get_all=True)
    assert [s.status for s in every] == ["failed", "success"]
    assert commit.statuses.list(name="other", get_all=True) == []
    (first, second) = fake.statuses(world.project, sha, name="compliance")
    assert first.history == ["created", "pending", "running", "failed"]
    assert first.retried and not second.retried
    assert second.author_id == world.bot.id
    assert second.token_id == fake.token_record(world.bot_token).id
    with pytest.raises(gitlab.GitlabCreateError) as pending:
        commit.statuses.create({"state": "pending", "name": "queued"})
        commit.statuses.create({"state": "pending", "name": "queued"})
    assert "via :enqueue from :pending" in str(pending.value.error_message)
    # Reporters may read statuses but not post them.
    rita_commit = world.gl("rita").projects.get(world.project.id).commits.get(sha)
    assert len(rita_commit.statuses.list(get_all=True)) == 2
    with pytest.raises(gitlab.GitlabCreateError) as forbidden:
        rita_commit.statuses.create({"state": "success", "name": "fake-green"})
    assert forbidden.value.response_code == 403


# -- notes, threads, emoji ----------------------------------------------------------------------
def test_notes_threads_positions_resolution_and_emoji(world: World, sink: WebhookSink) -> None:
    fake = world.fake
    mr_dev = open_feature_mr(world)
    mr = world.gl().projects.get(world.project.id).mergerequests.get(mr_dev.iid)
    note = mr.notes.create({"body": "<!-- compliance-bot:report -->\nAll good"})
    refs = mr.diff_refs
    position = {
        "position_type": "text",
        "base_sha": refs["base_sha"],
        "start_sha": refs["start_sha"],
        "head_sha": refs["head_sha"],
        "new_path": "deploy/f1.yaml",
        "old_path": "deploy/f1.yaml",
        "new_line": 1,
    }
    thread = mr.discussions.create({"body": "privileged pod here", "position": position})
    (first,) = thread.attributes["notes"]
    assert first["type"] == "DiffNote" and first["position"]["new_line"] == 1
    assert first["resolvable"] and not first["resolved"]
    with pytest.raises(gitlab.GitlabCreateError) as bad:
        mr.discussions.create({"body": "x", "position": {**position, "new_path": "nope.txt"}})
    assert bad.value.response_code == 400
    thread.notes.create({"body": "a reply"})
    fetched = mr.discussions.get(thread.id)
    assert len(fetched.attributes["notes"]) == 2
    fetched.resolved = True
    fetched.save()
    assert all(n["resolved"] for n in mr.discussions.get(thread.id).attributes["notes"])
    dev_note = (
        world.gl("dev").projects.get(world.project.id).mergerequests.get(mr.iid).notes.get(note.id)
    )
    dev_note.awardemojis.create({"name": "thumbsup"})
    assert [a.name for a in mr.notes.get(note.id).awardemojis.list(get_all=True)] == ["thumbsup"]
    note.body = "<!-- compliance-bot:report -->\nEdited"
    note.save()
    with pytest.raises(gitlab.GitlabUpdateError):
        dev_note.body = "hijack"
        dev_note.save()
    fake.wait_for_deliveries()
    notes = sink.events("Note Hook")
    assert [n["object_attributes"]["action"] for n in notes] == [
        "create",
        "create",
        "create",
        "update",
    ]
    assert notes[0]["merge_request"]["iid"] == mr.iid
    assert notes[1]["object_attributes"]["type"] == "DiffNote"
    assert notes[0]["user"]["username"] == world.bot.username
    (emoji,) = sink.events("Emoji Hook")
    assert emoji["event_type"] == "award" and emoji["object_attributes"]["awardable_id"] == note.id
    assert emoji["note"]["id"] == note.id and emoji["merge_request"]["iid"] == mr.iid
    resolved = sink.events("Merge Request Hook")[-1]
    assert resolved["object_attributes"]["action"] == "update"
    assert fake.state.notes[note.id].token_id == fake.token_record(world.bot_token).id


def test_issues_and_their_notes(world: World, sink: WebhookSink) -> None:
    project = world.gl().projects.get(world.project.id)
    issue = project.issues.create({"title": "Compliance dashboard", "description": "<!-- x -->"})
    issue.notes.create({"body": "first run"})
    issue.description = "<!-- x -->\nupdated"
    issue.save()
    issue.state_event = "close"
    issue.save()
    found = project.issues.list(author_username=world.bot.username, state="closed", get_all=True)
    assert [i.iid for i in found] == [issue.iid]
    assert project.issues.get(issue.iid).user_notes_count == 1
    world.fake.wait_for_deliveries()
    actions = [p["object_attributes"]["action"] for p in sink.events("Issue Hook")]
    assert actions == ["open", "update", "close"]
    (note,) = sink.events("Note Hook")
    assert (
        note["object_attributes"]["noteable_type"] == "Issue" and note["issue"]["iid"] == issue.iid
    )


# -- webhooks ------------------------------------------------------------------------------------
def test_deliveries_carry_gitlabs_headers_token_and_signature(
    world: World, sink: WebhookSink
) -> None:
    fake = world.fake
    open_feature_mr(world)
    fake.wait_for_deliveries()
    headers, body = next(
        (h, b) for h, b in sink.received if h["X-Gitlab-Event"] == "Merge Request Hook"
    )
    assert headers["X-Gitlab-Token"] == "s3cret"
    assert headers["User-Agent"].startswith("GitLab/")
    assert headers["X-Gitlab-Instance"] == fake.web_url
    assert headers["Content-Type"] == "application/json"
    for key in ("Idempotency-Key", "X-Gitlab-Event-Uuid", "X-Gitlab-Webhook-Uuid"):
        assert len(headers[key]) == 36, key
    assert headers["Webhook-Id"] == headers["Idempotency-Key"]
    assert abs(int(headers["Webhook-Timestamp"]) - time.time()) < 60
    payload = Webhook(SIGNING_TOKEN).verify(body, headers)
    assert payload["object_kind"] == "merge_request"
    with pytest.raises(Exception):  # noqa: B017 - any verification error will do
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(body, headers)


def test_redelivery_keeps_the_idempotency_key(world: World, sink: WebhookSink) -> None:
    fake = world.fake
    fake.comment(world.project, open_feature_mr(world).iid, "hello", user="rita")
    fake.wait_for_deliveries()
    delivery = fake.deliveries_of("Note Hook")[0]
    attempt = fake.redeliver(delivery)
    assert attempt.status == 200 and attempt.redelivery
    first, second = [h for h, _ in sink.received if h["X-Gitlab-Event"] == "Note Hook"]
    assert first["Idempotency-Key"] == second["Idempotency-Key"] == delivery.idempotency_key
    assert first["Webhook-Id"] == second["Webhook-Id"]
    assert first["X-Gitlab-Webhook-Uuid"] != second["X-Gitlab-Webhook-Uuid"]
    assert len(delivery.attempts) == 2 and delivery.status == "delivered"
    # The REST resend endpoint does the same.
    gl = world.gl("alice")
    gl.http_post(f"/projects/{world.project.id}/hooks/{world.hook.id}/events/{delivery.id}/resend")
    assert len(delivery.attempts) == 3
    assert [h["Idempotency-Key"] for h, _ in sink.received if h["X-Gitlab-Event"] == "Note Hook"][
        -1
    ] == (delivery.idempotency_key)


def test_manual_mode_holds_releases_and_drops(world: World, sink: WebhookSink) -> None:
    fake = world.fake
    fake.webhook_mode = "manual"
    mr = open_feature_mr(world)
    fake.comment(world.project, mr.iid, "one", user="rita")
    pending = fake.pending_deliveries()
    assert {d.event for d in pending} == {"Push Hook", "Merge Request Hook", "Note Hook"}
    assert sink.received == []
    note = fake.deliveries_of("Note Hook")[0]
    fake.drop_pending([note.id])
    released = fake.deliver_pending()
    assert [d.event for d in released] == ["Push Hook", "Merge Request Hook"]
    assert note.status == "failed" and note.attempts[-1].error == "dropped by the test"
    assert [h["X-Gitlab-Event"] for h, _ in sink.received] == ["Push Hook", "Merge Request Hook"]


def test_failed_delivery_records_the_response_status(fake_gitlab: FakeGitLab) -> None:
    failing = WebhookSink(status=500)
    try:
        fake_gitlab.create_project("alice/tools", files={"a": "b\n"})
        fake_gitlab.add_hook("alice/tools", failing.url)
        fake_gitlab.commit("alice/tools", "main", {"a": "c\n"}, author="alice")
        (delivery,) = fake_gitlab.deliveries
        assert delivery.status == "failed" and delivery.response_status == 500
        assert "X-Gitlab-Token" not in delivery.attempts[0].headers
        assert "webhook-signature" not in delivery.attempts[0].headers
    finally:
        failing.close()


def test_group_hooks_hear_the_projects_of_their_subgroups(fake_gitlab: FakeGitLab) -> None:
    receiver = WebhookSink()
    try:
        fake_gitlab.add_group("acme")
        fake_gitlab.add_group("acme/platform")
        fake_gitlab.create_project("acme/platform/shop", files={"a": "b\n"})
        fake_gitlab.add_hook("acme", receiver.url, group=True, events={"push_events"})
        fake_gitlab.commit("acme/platform/shop", "main", {"a": "c\n"}, author="alice")
        (push,) = receiver.events("Push Hook")
        assert push["project"]["path_with_namespace"] == "acme/platform/shop"
        assert "X-Gitlab-Token" not in receiver.received[0][0]
    finally:
        receiver.close()


def test_hooks_are_managed_through_the_api_and_signing_tokens_checked(
    world: World, sink: WebhookSink
) -> None:
    project = world.gl("alice").projects.get(world.project.id)
    hook = project.hooks.create(
        {"url": sink.url, "merge_requests_events": True, "push_events": False, "token": "t"}
    )
    assert hook.merge_requests_events and not hook.push_events and hook.token_present
    assert not hook.signing_token_present
    with pytest.raises(gitlab.GitlabCreateError) as bad:
        project.hooks.create({"url": sink.url, "signing_token": "not-a-secret"})
    assert bad.value.response_code == 400
    with pytest.raises(gitlab.GitlabListError) as dev:
        world.gl("dev").projects.get(world.project.id).hooks.list(get_all=True)
    assert dev.value.response_code == 403
    with pytest.raises(ValueError):
        world.fake.add_hook(world.project, sink.url, signing_token="whsec_short")


def test_payloads_have_the_keys_of_gitlabs_documented_examples(world: World) -> None:
    fake = world.fake
    mr = open_feature_mr(world)
    fake.comment(world.project, mr.iid, "hi", user="rita")
    issue = fake.create_issue(world.project, "t", author="rita", assignees=["dev"])
    note = fake.comment(world.project, issue.iid, "on issue", user="rita", on="Issue")
    fake.award(note, "thumbsup", user="alice")
    examples = {
        ("Push Hook", None): "push.json",
        ("Merge Request Hook", "MergeRequest"): "merge_request.json",
        ("Note Hook", "MergeRequest"): "note_merge_request.json",
        ("Note Hook", "Issue"): "note_issue.json",
        ("Issue Hook", None): "issue.json",
        ("Emoji Hook", None): "emoji.json",
    }
    # Fields of the documented examples the fake leaves out, with the reason.
    allowed_missing = {
        "escalation_status",  # incidents only
        "escalation_policy",  # incidents only
        "severity",  # incidents only (on issue notes)
        "assignee",  # deprecated single assignee, in the older merge request example only
    }
    seen = set()
    for delivery in fake.deliveries:
        noteable = delivery.payload.get("object_attributes", {}).get("noteable_type")
        key = (delivery.event, noteable if delivery.event == "Note Hook" else None)
        if delivery.event == "Merge Request Hook":
            key = (delivery.event, "MergeRequest")
        name = examples.get(key)
        if name is None:
            continue
        seen.add(name)
        example = json.loads((EXAMPLES / name).read_text())
        missing = _missing_keys(example, delivery.payload) - allowed_missing
        assert missing == set(), (name, sorted(missing))
    assert seen == set(examples.values())


def _missing_keys(example: Any, actual: Any, prefix: str = "") -> set[str]:
    """Keys of the example (recursively through objects) that the actual payload lacks.

    `changes` is left out: it holds whatever changed, and GitLab says to expect it empty.
    """
    out: set[str] = set()
    if isinstance(example, dict) and isinstance(actual, dict):
        for key, value in example.items():
            if key == "changes":
                continue
            if key not in actual:
                out.add(key)
            else:
                out |= _missing_keys(value, actual[key], f"{prefix}{key}.")
    return out


# -- authentication, authorization, rate limits ---------------------------------------------------
def test_bad_expired_and_revoked_tokens_are_401_and_scopes_403(world: World) -> None:
    fake = world.fake
    with pytest.raises(gitlab.GitlabAuthenticationError) as bad:
        gitlab.Gitlab(fake.web_url, private_token="glpat-nope").auth()
    assert bad.value.response_code == 401
    expired = fake.personal_token("dev", name="old")
    fake.expire_token(expired)
    response = requests.get(f"{fake.api_url}/user", headers={"PRIVATE-TOKEN": expired})
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    revoked = fake.personal_token("dev", name="gone")
    fake.revoke_token(revoked)
    response = requests.get(f"{fake.api_url}/user", headers={"Authorization": f"Bearer {revoked}"})
    assert response.status_code == 401
    assert requests.get(f"{fake.api_url}/user").status_code == 401
    reader = fake.personal_token("dev", scopes=["read_api"])
    gl = gitlab.Gitlab(fake.web_url, private_token=reader)
    project = gl.projects.get(world.project.id)
    with pytest.raises(gitlab.GitlabCreateError) as scope:
        project.issues.create({"title": "x"})
    assert scope.value.response_code == 403
    assert "insufficient_scope" in str(scope.value.error_message)
    # Invisible private projects are 404, not 403; anonymous callers see nothing private.
    with pytest.raises(gitlab.GitlabGetError) as hidden:
        world.gl("mallory").projects.get("acme/platform/shop")
    assert hidden.value.response_code == 404
    assert requests.get(f"{fake.api_url}/projects/{world.project.id}").status_code == 404
    fake.create_project("acme/open", visibility="public", files={"x": "y\n"})
    assert requests.get(f"{fake.api_url}/projects/acme%2Fopen").json()["visibility"] == "public"


def test_429_is_retried_by_python_gitlab_after_retry_after(world: World) -> None:
    fake = world.fake
    gl = world.gl()
    fake.throttle(1, retry_after=1)
    started = time.monotonic()
    project = gl.projects.get(world.project.id)
    assert project.id == world.project.id and time.monotonic() - started >= 1
    assert fake.calls[("GET", "/projects/{id}")] == 2
    assert [c.status for c in fake.call_log[-2:]] == [429, 200]
    fake.set_rate_limit(1, period=60, token=world.tokens["rita"])
    first = requests.get(f"{fake.api_url}/user", headers={"PRIVATE-TOKEN": world.tokens["rita"]})
    second = requests.get(f"{fake.api_url}/user", headers={"PRIVATE-TOKEN": world.tokens["rita"]})
    assert first.status_code == 200 and second.status_code == 429
    assert second.headers["RateLimit-Remaining"] == "0" and int(second.headers["Retry-After"]) >= 1
    assert second.headers["RateLimit-Limit"] == "1" and "RateLimit-Reset" in second.headers
    with pytest.raises(gitlab.GitlabHttpError) as exhausted:
        world.gl("rita").http_get("/user", obey_rate_limit=False)
    assert exhausted.value.response_code == 429


# -- the OpenAPI description ------------------------------------------------------------------
def test_openapi_validation_catches_a_bad_request(world: World) -> None:
    fake = world.fake
    sha = fake.branch_sha(world.project, "main")
    url = f"{fake.api_url}/projects/{world.project.id}/statuses/{sha}"
    headers = {"PRIVATE-TOKEN": world.bot_token}
    with fake.expect_violations() as caught:
        response = requests.post(
            url, json={"state": "green", "name": "compliance"}, headers=headers
        )
    assert response.status_code == 400
    assert response.json() == {"error": "state does not have a valid value"}
    (violation,) = caught
    assert violation.kind == "request" and violation.template == "/projects/{id}/statuses/{sha}"
    with fake.expect_violations() as caught:
        missing = requests.post(url, json={"name": "compliance"}, headers=headers)
    assert missing.status_code == 400 and missing.json() == {"error": "state is missing"}
    assert caught
    with fake.expect_violations() as caught:
        requests.post(url, json={"state": "success", "colour": "green"}, headers=headers)
    assert ["request body property 'colour' is not defined" in p for p in caught[0].problems] == [
        True
    ]
    with fake.expect_violations() as caught:
        gone = requests.get(
            f"{fake.api_url}/projects/{world.project.id}/pipelines", headers=headers
        )
    assert gone.status_code == 404 and caught[0].kind == "unimplemented"
    # Covered operations are validated; others are counted so that the gap is visible.
    world.gl().projects.get(world.project.id).mergerequests.list(get_all=True)
    assert ("GET", "/projects/{id}/merge_requests") in fake.validator.covered()
    assert (
        "GET",
        "/projects/{id}/merge_requests/{merge_request_iid}/notes",
    ) not in fake.validator.covered()


# -- OAuth: GitLab as the provider of a sign-in --------------------------------------------------
def test_oauth_sign_in_gives_a_read_api_token_for_the_persons_projects(
    fake_gitlab: FakeGitLab,
) -> None:
    """Authorize page, code exchange with PKCE, then the token reads /user and the projects
    the person is a member of, and nothing it has no scope for."""
    import hashlib
    from urllib.parse import parse_qs, urlencode, urlsplit

    from fakes.gitlab.handlers.oauth import register_application

    fake = fake_gitlab
    fake.add_group("acme", members={"alice": 30})
    fake.create_project("acme/shop")
    fake.create_project("acme/api")
    fake.create_project("solo/own")
    fake.add_member("solo/own", "alice", 10)
    fake.add_user("mallory")
    callback = "http://bot.test/dashboard/oauth/gitlab/callback"
    application = register_application(fake, callback)
    verifier = "a-verifier-of-more-than-43-characters-0123456789"
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def authorize(username: str, decision: str = "authorize", **extra: str) -> dict[str, str]:
        query = {
            "client_id": application.uid,
            "redirect_uri": callback,
            "response_type": "code",
            "state": "s1",
            "scope": "read_api",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        url = f"{fake.web_url}/oauth/authorize?{urlencode(query)}"
        back = requests.get(url, allow_redirects=False)
        if back.status_code == 200:  # the consent page; a bad request comes straight back
            assert "name=username" in back.text and "value=authorize" in back.text
            back = requests.post(
                url, data={"username": username, "decision": decision}, allow_redirects=False
            )
        assert back.status_code == 302, back.text
        location = urlsplit(back.headers["Location"])
        params = {k: v[0] for k, v in parse_qs(location.query).items()}
        return {"to": location._replace(query="").geturl(), **params}

    def exchange(code: str, **extra: str) -> requests.Response:
        body = {
            "client_id": application.uid,
            "client_secret": application.secret,
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": callback,
            "code_verifier": verifier,
            **extra,
        }
        return requests.post(f"{fake.web_url}/oauth/token", data=body)

    granted = authorize("alice")
    assert (granted["to"], granted["state"]) == (callback, "s1")
    wrong = exchange(granted["code"], code_verifier="x" * 43)
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert exchange(granted["code"], client_secret="nope").status_code == 401
    answer = exchange(granted["code"])
    assert answer.status_code == 200
    token = answer.json()
    assert (token["token_type"], token["scope"]) == ("bearer", "read_api")
    assert exchange(granted["code"]).json()["error"] == "invalid_grant"  # one use only

    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(f"{fake.api_url}/user", headers=headers).json()["username"] == "alice"
    listed = requests.get(
        f"{fake.api_url}/projects",
        params={"membership": "true", "min_access_level": 10, "simple": "true", "per_page": 1},
        headers=headers,
    )
    names = [p["path_with_namespace"] for p in listed.json()]
    assert listed.headers["X-Total"] == "3" and listed.headers["X-Next-Page"] == "2"
    assert len(names) == 1 and 'rel="next"' in listed.headers["Link"]
    write = requests.post(f"{fake.api_url}/projects/acme%2Fshop/issues", headers=headers)
    assert write.status_code == 403 and write.json()["error"] == "insufficient_scope"

    stranger = exchange(authorize("mallory")["code"]).json()["access_token"]
    mine = requests.get(
        f"{fake.api_url}/projects",
        params={"membership": "true", "min_access_level": 10},
        headers={"Authorization": f"Bearer {stranger}"},
    )
    assert mine.json() == []

    assert authorize("alice", decision="deny")["error"] == "access_denied"
    assert authorize("alice", scope="api")["error"] == "invalid_scope"
    elsewhere = requests.get(
        f"{fake.web_url}/oauth/authorize",
        params={"client_id": application.uid, "redirect_uri": "http://evil.test/cb"},
        allow_redirects=False,
    )
    assert elsewhere.status_code == 400  # doorkeeper shows an error page, never redirects there
    assert fake.calls[("POST", "/oauth/token")] == 5
