"""Tests of the fake GitHub itself, driven with the real PyGithub, git and HTTP.

If the fake drifts from GitHub, every end-to-end test built on it lies; these tests pin the
behaviours the bot depends on (PLATFORM.md §1-7) and the fake's own bookkeeping (violations,
call counts, deliveries).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from github import (
    Auth,
    Github,
    GithubException,
    GithubIntegration,
    InputGitAuthor,
    InputGitTreeElement,
)
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from fakes.github import FakeGitHub
from fakes.github.auth import generate_key_pair
from fakes.github.state import App, Installation
from fakes.github.webhooks import signature

FAST: dict[str, Any] = {"retry": None, "seconds_between_requests": 0, "seconds_between_writes": 0}


class WebhookSink:
    """A tiny HTTP receiver on 127.0.0.1 that records every webhook POSTed to it."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._event = threading.Condition()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/github"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._event:
            self.received.append((dict(request.headers), request.get_data()))
            self._event.notify_all()
        return Response("", status=self.status)(environ, start_response)

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        return [
            json.loads(body)
            for headers, body in self.received
            if event is None or headers["X-Github-Event"] == event
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    receiver = WebhookSink()
    yield receiver
    receiver.close()


@pytest.fixture
def world(fake_github: FakeGitHub, sink: WebhookSink) -> Iterator[dict[str, Any]]:
    """acme/web with a default branch, people, a team, and the App installed on acme.

    Every webhook the fake sent during the test must match GitHub's payload schema.
    """
    fake = fake_github
    fake.add_org("acme", members=["alice", "bob"], admins=["olga"])
    fake.add_user("mallory")
    repo = fake.create_repo(
        "acme/web",
        files={"README.md": "hello\n", "deploy/app.yaml": "kind: Pod\n"},
        author="alice",
    )
    fake.add_collaborator(repo, "alice", "write")
    fake.add_collaborator(repo, "bob", "maintain")
    fake.add_team("acme", "security", members=["carol"], repos={"acme/web": "write"})
    fake.create_repo("other/secret", files={"x": "y\n"})
    app = fake.install_app(account="acme", webhook_url=sink.url, webhook_secret="s3cret")
    fake.wait_for_deliveries()
    yield {"fake": fake, "repo": repo, "app": app, "inst": fake.installation(app, "acme")}
    fake.wait_for_deliveries()
    for delivery in fake.deliveries:
        problems = fake.validator.check_webhook(delivery.event, delivery.action, delivery.payload)
        assert problems == [], (delivery.event, delivery.action, problems[:5])


def integration(fake: FakeGitHub, app: App, iss: int | str | None = None) -> GithubIntegration:
    auth = Auth.AppAuth(iss if iss is not None else app.id, app.private_key_pem)
    return GithubIntegration(auth=auth, base_url=fake.api_url, **FAST)


def as_installation(fake: FakeGitHub, inst: Installation) -> Github:
    token = fake.installation_token(inst)
    return Github(auth=Auth.Token(token), base_url=fake.api_url, per_page=100, **FAST)


def as_user(fake: FakeGitHub, login: str) -> Github:
    return Github(auth=Auth.Token(fake.user_token(login)), base_url=fake.api_url, **FAST)


def app_jwt(app: App, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iat": now - 60, "exp": now + 300, "iss": str(app.id), **claims}
    return jwt.encode(payload, app.private_key_pem, algorithm="RS256")


# -- App authentication -------------------------------------------------------------------------
def test_app_jwt_installation_token_and_repo_access_with_pygithub(world: dict[str, Any]) -> None:
    fake, app = world["fake"], world["app"]
    gi = integration(fake, app)
    assert gi.get_app().slug == app.slug
    assert [i.id for i in gi.get_installations()] == [world["inst"].id]
    inst = gi.get_repo_installation("acme", "web")
    assert inst.id == world["inst"].id
    token = gi.get_access_token(inst.id)
    assert token.token.startswith("ghs_")
    assert token.expires_at > datetime.now(UTC) + timedelta(minutes=55)
    gh = gi.get_github_for_installation(inst.id)
    assert gh.get_repo("acme/web").default_branch == "main"
    # The client id is accepted as the JWT issuer too (GitHub recommends it).
    assert integration(fake, app, iss=app.client_id).get_app().id == app.id


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": -10}, "'Expiration time' claim ('exp') must be"),
        ({"exp": 3600}, "too far in the future"),
        ({"iat": 600}, "'Issued at' claim ('iat')"),
        ({"iss": "999999"}, "Integration not found"),
    ],
)
def test_bad_app_jwts_are_refused(
    world: dict[str, Any], claims: dict[str, Any], message: str
) -> None:
    # times are offsets from when the test runs, not from collection (a loaded CI machine can
    # take minutes between the two)
    now = int(time.time())
    claims = {k: now + v if k in ("exp", "iat") else v for k, v in claims.items()}
    fake, app = world["fake"], world["app"]
    response = requests.get(
        f"{fake.api_url}/app", headers={"Authorization": f"Bearer {app_jwt(app, **claims)}"}
    )
    assert response.status_code == 401
    assert message in response.json()["message"]


def test_jwt_signed_with_another_key_is_refused(world: dict[str, Any]) -> None:
    fake, app = world["fake"], world["app"]
    other_key, _ = generate_key_pair()
    now = int(time.time())
    token = jwt.encode(
        {"iat": now, "exp": now + 60, "iss": str(app.id)}, other_key, algorithm="RS256"
    )
    response = requests.get(f"{fake.api_url}/app", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_app_endpoints_need_the_jwt_and_repo_endpoints_a_token(world: dict[str, Any]) -> None:
    fake, app, inst = world["fake"], world["app"], world["inst"]
    token = fake.installation_token(inst)
    assert (
        requests.get(f"{fake.api_url}/app", headers={"Authorization": f"token {token}"}).status_code
        == 401
    )
    jwt_headers = {"Authorization": f"Bearer {app_jwt(app)}"}
    assert requests.get(f"{fake.api_url}/repos/acme/web", headers=jwt_headers).status_code == 401


def test_token_reaches_only_its_installation_and_permissions(world: dict[str, Any]) -> None:
    fake, inst = world["fake"], world["inst"]
    gh = as_installation(fake, inst)
    with pytest.raises(GithubException) as missing:
        gh.get_repo("other/secret")
    assert missing.value.status == 404
    fake.create_repo("acme/api", files={"a": "b\n"})  # "all repositories": covered at once
    assert gh.get_repo("acme/api").name == "api"
    narrowed = Github(
        auth=Auth.Token(fake.installation_token(inst, repositories=["web"])),
        base_url=fake.api_url,
        **FAST,
    )
    assert narrowed.get_repo("acme/web").name == "web"
    with pytest.raises(GithubException) as outside:
        narrowed.get_repo("acme/api")
    assert outside.value.status == 404
    read_only = fake.installation_token(inst, permissions={"checks": "read"})
    response = requests.post(
        f"{fake.api_url}/repos/acme/web/check-runs",
        headers={"Authorization": f"token {read_only}"},
        json={"name": "compliance", "head_sha": fake.branch_sha("acme/web", "main")},
    )
    assert response.status_code == 403
    assert response.headers["X-Accepted-GitHub-Permissions"] == "checks=write"
    expired = fake.installation_token(inst)
    fake.expire_token(expired)
    response = requests.get(
        f"{fake.api_url}/repos/acme/web", headers={"Authorization": f"token {expired}"}
    )
    assert (response.status_code, response.json()["message"]) == (401, "Bad credentials")
    assert requests.get(f"{fake.api_url}/repos/acme/web").status_code == 404


# -- checks ---------------------------------------------------------------------------------------
def annotations(n: int, level: str = "failure", start: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "path": "deploy/app.yaml",
            "start_line": start + i,
            "end_line": start + i,
            "annotation_level": level,
            "message": f"finding {start + i}",
        }
        for i in range(n)
    ]


def test_check_run_annotations_are_appended_across_updates(world: dict[str, Any]) -> None:
    fake = world["fake"]
    repo = as_installation(fake, world["inst"]).get_repo("acme/web")
    sha = fake.branch_sha("acme/web", "main")
    run = repo.create_check_run(
        name="compliance",
        head_sha=sha,
        status="in_progress",
        external_id="1:abc",
        details_url="https://bot.example/runs/1",
        output={"title": "Checking", "summary": "s", "annotations": annotations(50)},
    )
    run.edit(output={"title": "Checking", "summary": "s", "annotations": annotations(50, start=51)})
    run.edit(
        conclusion="failure",
        completed_at=datetime.now(UTC),
        output={"title": "2 blocking", "summary": "done"},
    )
    stored = fake.check_runs("acme/web", sha=sha, name="compliance")
    assert len(stored) == 1 and len(stored[0].annotations) == 100
    fetched = repo.get_check_run(run.id)
    assert (fetched.status, fetched.conclusion) == ("completed", "failure")
    assert fetched.output.annotations_count == 100
    assert fetched.output.title == "2 blocking" and fetched.external_id == "1:abc"
    assert fetched.app.id == world["app"].id
    assert [a.start_line for a in fetched.get_annotations()] == list(range(1, 101))
    listed = repo.get_commit(sha).get_check_runs(check_name="compliance")
    assert [r.id for r in listed] == [run.id]
    assert list(repo.get_commit(sha).get_check_runs(check_name="other")) == []
    assert fake.calls[("POST", "/repos/{owner}/{repo}/check-runs")] == 1
    assert fake.calls[("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}")] == 2


def test_more_than_50_annotations_is_refused_and_recorded(world: dict[str, Any]) -> None:
    fake = world["fake"]
    repo = as_installation(fake, world["inst"]).get_repo("acme/web")
    with fake.expect_violations() as caught, pytest.raises(GithubException) as refused:
        repo.create_check_run(
            name="compliance",
            head_sha=fake.branch_sha("acme/web", "main"),
            output={"title": "t", "summary": "s", "annotations": annotations(51)},
        )
    assert refused.value.status == 422
    assert any("annotations" in p for v in caught for p in v.problems)
    assert fake.check_runs("acme/web") == []


def test_users_cannot_write_check_runs_and_statuses_are_recorded(world: dict[str, Any]) -> None:
    fake = world["fake"]
    sha = fake.branch_sha("acme/web", "main")
    alice = as_user(fake, "alice").get_repo("acme/web")
    with pytest.raises(GithubException) as refused:
        alice.create_check_run(name="compliance", head_sha=sha)
    assert refused.value.status == 403
    alice.get_commit(sha).create_status("success", context="compliance", description="fake")
    _, statuses = alice.requester.requestJsonAndCheck(
        "GET", f"/repos/acme/web/commits/{sha}/statuses"
    )
    assert [(s["state"], s["context"], s["creator"]["login"]) for s in statuses] == [
        ("success", "compliance", "alice")
    ]
    assert alice.get_commit(sha).get_combined_status().state == "success"
    # PyGithub's Commit.get_statuses() uses GET /statuses/{sha}, which GitHub does not document.
    with fake.expect_violations() as caught, pytest.raises(GithubException):
        list(alice.get_commit(sha).get_statuses())
    assert [v.kind for v in caught] == ["request"]


def test_a_new_status_is_sent_to_the_apps_subscribed_to_status(
    world: dict[str, Any], sink: WebhookSink
) -> None:
    """Through REST or the fake's own method; the world's fixture checks each payload against
    GitHub's `status` webhook schema."""
    fake = world["fake"]
    sha = fake.branch_sha("acme/web", "main")
    watcher = fake.install_app(
        account="acme", name="Watcher", webhook_url=sink.url, webhook_secret="w", events=["status"]
    )
    fake.wait_for_deliveries()
    alice = as_user(fake, "alice").get_repo("acme/web")
    made = alice.get_commit(sha).create_status(
        "success", target_url="https://ci.example/1", description="fine", context="compliance"
    )
    fake.create_status("acme/web", sha[:12], "failure", context="ci/build", creator="mallory")
    fake.wait_for_deliveries()

    # Only the App that subscribed hears of it (the world's App did not).
    assert {d.app_id for d in fake.deliveries_of("status")} == {watcher.id}
    sent = sink.events("status")
    assert [(s["context"], s["state"], s["sender"]["login"], s["sha"]) for s in sent] == [
        ("compliance", "success", "alice", sha),
        ("ci/build", "failure", "mallory", sha),
    ]
    first = sent[0]
    assert "action" not in first and first["id"] == made.id
    assert (first["description"], first["target_url"]) == ("fine", "https://ci.example/1")
    assert first["commit"]["sha"] == sha and first["name"] == "acme/web"
    assert [b["name"] for b in first["branches"]] == ["main"]
    assert first["installation"]["id"] == fake.installation(watcher, "acme").id


# -- pull requests, reviews, comments -------------------------------------------------------------
def open_pr(fake: FakeGitHub, files: dict[str, str | None] | None = None, user: str = "alice"):
    fake.commit(
        "acme/web", "feature", files or {"deploy/app.yaml": "kind: Pod\nx: 1\n"}, author=user
    )
    return fake.open_pull("acme/web", "feature", title="Change deploy", user=user)


def test_pull_request_facts_and_files_come_from_git(world: dict[str, Any]) -> None:
    fake = world["fake"]
    fake.commit("acme/web", "feature", {"deploy/app.yaml": "kind: Pod\nx: 1\n", "new.txt": "n\n"})
    head = fake.commit("acme/web", "feature", {"README.md": None}, "drop readme")
    issue = fake.open_pull("acme/web", "feature", title="Change", user="alice")
    pr = as_installation(fake, world["inst"]).get_repo("acme/web").get_pull(issue.number)
    assert pr.head.sha == head and pr.head.ref == "feature"
    assert pr.base.sha == fake.branch_sha("acme/web", "main") and pr.base.ref == "main"
    assert (pr.commits, pr.changed_files, pr.mergeable, pr.user.login) == (2, 3, True, "alice")
    files = {f.filename: f.status for f in pr.get_files()}
    assert files == {"README.md": "removed", "deploy/app.yaml": "modified", "new.txt": "added"}


def test_pull_commits_carry_messages_and_users_their_public_name_and_email(
    world: dict[str, Any],
) -> None:
    # what the bot reads to tell co-authors (Co-authored-by lines) from reviewers
    fake = world["fake"]
    fake.add_user("erin", name="Erin Example", email="erin@acme.example")
    message = "Add EXC-1\n\nWhy it is needed.\n\nCo-authored-by: Erin Example <erin@acme.example>"
    first = fake.commit("acme/web", "feature", {"new.txt": "n\n"}, message, author="alice")
    second = fake.commit("acme/web", "feature", {"new.txt": "m\n"}, "Second", author="bob")
    issue = fake.open_pull("acme/web", "feature", title="Change", user="alice")
    gh = as_installation(fake, world["inst"])
    commits = list(gh.get_repo("acme/web").get_pull(issue.number).get_commits())
    assert [(c.sha, c.author.login, c.commit.message) for c in commits] == [
        (first, "alice", message),
        (second, "bob", "Second"),
    ]
    erin = gh.get_user("erin")
    assert (erin.login, erin.name, erin.email) == ("erin", "Erin Example", "erin@acme.example")
    with pytest.raises(GithubException) as missing:
        gh.get_user("nobody-here")
    assert missing.value.status == 404


def test_list_pulls_filters_by_state_head_and_base(world: dict[str, Any]) -> None:
    fake = world["fake"]
    first = open_pr(fake)
    fake.commit("acme/web", "other", {"o.txt": "o\n"})
    second = fake.open_pull("acme/web", "other", title="Other", user="bob")
    fake.close_pull("acme/web", second.number, user="bob")
    repo = as_installation(fake, world["inst"]).get_repo("acme/web")
    assert [p.number for p in repo.get_pulls()] == [first.number]
    assert [p.number for p in repo.get_pulls(state="closed")] == [second.number]
    assert [p.number for p in repo.get_pulls(state="all", head="acme:other")] == [second.number]
    assert list(repo.get_pulls(base="nope")) == []


def test_reviews_requested_reviewers_and_dismissal(world: dict[str, Any]) -> None:
    fake = world["fake"]
    issue = open_pr(fake)
    bot_pr = as_installation(fake, world["inst"]).get_repo("acme/web").get_pull(issue.number)
    bot_pr.create_review_request(reviewers=["bob"], team_reviewers=["security"])
    users, teams = bot_pr.get_review_requests()
    assert [u.login for u in users] == ["bob"] and [t.slug for t in teams] == ["security"]
    with pytest.raises(GithubException) as own:
        as_user(fake, "alice").get_repo("acme/web").get_pull(issue.number).create_review(
            event="APPROVE"
        )
    assert own.value.status == 422
    with pytest.raises(Exception, match="Unprocessable"):
        fake.review("acme/web", issue.number, user="alice", event="APPROVE")
    bob_pr = as_user(fake, "bob").get_repo("acme/web").get_pull(issue.number)
    approval = bob_pr.create_review(body="ok", event="APPROVE")
    fake.review("acme/web", issue.number, user="carol", event="COMMENT", body="hmm")
    users, teams = bot_pr.get_review_requests()
    assert [u.login for u in users] == [] and [t.slug for t in teams] == ["security"]
    reviews = list(bot_pr.get_reviews())
    assert [(r.user.login, r.state, r.commit_id) for r in reviews] == [
        ("bob", "APPROVED", issue.pull.head_sha),
        ("carol", "COMMENTED", issue.pull.head_sha),
    ]
    assert reviews[0].submitted_at is not None
    fake.dismiss_review("acme/web", issue.number, approval.id, user="olga", message="stale")
    assert [r.state for r in bot_pr.get_reviews()] == ["DISMISSED", "COMMENTED"]


def test_comments_reactions_and_their_webhooks(world: dict[str, Any], sink: WebhookSink) -> None:
    fake = world["fake"]
    issue = open_pr(fake)
    fake.comment("acme/web", issue.number, "/compliance help", user="bob")
    pr = as_installation(fake, world["inst"]).get_repo("acme/web").get_pull(issue.number)
    reply = pr.create_issue_comment("<!-- compliance-bot:help -->\nUsage ...")
    assert reply.user.login == f"{world['app'].slug}[bot]" and reply.user.type == "Bot"
    reply.edit("<!-- compliance-bot:help -->\nUsage v2")
    reply.create_reaction("eyes")
    bobs = next(c for c in pr.get_issue_comments() if c.user.login == "bob")
    bobs.create_reaction("+1")
    assert [c.body for c in pr.get_issue_comments()] == [
        "/compliance help",
        "<!-- compliance-bot:help -->\nUsage v2",
    ]
    reply.delete()
    assert [c.user for c in fake.comments_on("acme/web", issue.number)] == ["bob"]
    fake.wait_for_deliveries()
    comments = sink.events("issue_comment")
    assert [e["action"] for e in comments] == ["created", "created", "edited", "deleted"]
    assert all(
        e["issue"]["pull_request"]["url"].endswith(f"/pulls/{issue.number}") for e in comments
    )
    assert comments[2]["changes"] == {"body": {"from": "<!-- compliance-bot:help -->\nUsage ..."}}
    assert comments[0]["sender"]["login"] == "bob"


def test_dashboard_issue_create_edit_and_find_by_creator(world: dict[str, Any]) -> None:
    fake, app = world["fake"], world["app"]
    repo = as_installation(fake, world["inst"]).get_repo("acme/web")
    fake.create_issue("acme/web", title="Someone else's", user="alice", labels=["compliance"])
    issue = repo.create_issue(title="Compliance dashboard", body="v1", labels=["compliance"])
    issue.edit(body="<!-- compliance-bot:dashboard -->\nv2")
    mine = list(repo.get_issues(creator=app.bot_login, labels=["compliance"]))
    assert [(i.number, i.body) for i in mine] == [
        (issue.number, "<!-- compliance-bot:dashboard -->\nv2")
    ]
    issue.edit(state="closed")
    assert list(repo.get_issues(creator=app.bot_login)) == []
    assert [i.number for i in repo.get_issues(creator=app.bot_login, state="closed")] == [
        issue.number
    ]


def test_merge_makes_a_real_merge_commit_and_sends_closed_merged(
    world: dict[str, Any], sink: WebhookSink
) -> None:
    fake = world["fake"]
    issue = open_pr(fake)
    base_before = fake.branch_sha("acme/web", "main")
    head = issue.pull.head_sha
    result = as_user(fake, "bob").get_repo("acme/web").get_pull(issue.number).merge()
    assert result.merged
    git = fake.repo("acme/web").git
    assert git.commit_info(result.sha).parents == [base_before, head]
    assert fake.branch_sha("acme/web", "main") == result.sha
    assert fake.file_at("acme/web", "main", "deploy/app.yaml") == "kind: Pod\nx: 1\n"
    fake.wait_for_deliveries()
    closed = sink.events("pull_request")[-1]
    assert (closed["action"], closed["pull_request"]["merged"]) == ("closed", True)
    assert closed["pull_request"]["merge_commit_sha"] == result.sha
    assert sink.events("push")[-1]["after"] == result.sha


def test_squash_merge_has_one_parent(world: dict[str, Any]) -> None:
    fake = world["fake"]
    issue = open_pr(fake)
    base_before = fake.branch_sha("acme/web", "main")
    sha = fake.merge_pull("acme/web", issue.number, user="bob", method="squash")
    assert fake.repo("acme/web").git.commit_info(sha).parents == [base_before]


# -- team membership, permissions, CODEOWNERS -----------------------------------------------------
def test_team_membership_includes_child_teams_and_pending_state(world: dict[str, Any]) -> None:
    fake = world["fake"]
    fake.add_team("acme", "appsec", parent="security", members=["dave"], pending=["erin"])
    gh = as_installation(fake, world["inst"])
    requester = gh.requester
    _, data = requester.requestJsonAndCheck("GET", "/orgs/acme/teams/security/memberships/dave")
    assert (data["role"], data["state"]) == ("member", "active")
    _, data = requester.requestJsonAndCheck("GET", "/orgs/acme/teams/appsec/memberships/erin")
    assert data["state"] == "pending"
    with pytest.raises(GithubException) as absent:
        requester.requestJsonAndCheck("GET", "/orgs/acme/teams/security/memberships/mallory")
    assert absent.value.status == 404
    # PyGithub's own helper goes through the team's url: GitHub's legacy (deprecated) route.
    team = gh.get_organization("acme").get_team_by_slug("security")
    assert team.get_team_membership("carol").state == "active"
    assert ("GET", "/teams/{team_id}/memberships/{username}") in fake.deprecated_calls


def test_collaborator_permission_reports_role_and_legacy_permission(world: dict[str, Any]) -> None:
    fake = world["fake"]
    repo = as_installation(fake, world["inst"]).get_repo("acme/web")
    assert repo.get_collaborator_permission("bob") == "write"  # maintain -> legacy "write"
    _, data = repo.requester.requestJsonAndCheck(
        "GET", "/repos/acme/web/collaborators/bob/permission"
    )
    assert data["role_name"] == "maintain"
    assert repo.get_collaborator_permission("carol") == "write"  # through the team
    assert repo.get_collaborator_permission("olga") == "admin"  # organization owner


def test_codeowners_errors_are_computed_from_the_file_at_ref(world: dict[str, Any]) -> None:
    fake = world["fake"]
    fake.add_team("acme", "readers", members=["bob"], repos={"acme/web": "read"})
    sha = fake.commit(
        "acme/web",
        "main",
        {
            ".github/CODEOWNERS": "\n".join(
                [
                    "# owners",
                    "*            @alice",
                    ".compliance/ @acme/security  # the exceptions file",
                    "!deploy/     @bob",
                    "*.[ch]       @bob",
                    "docs/        @nobody @acme/readers",
                    "src/         not-an-owner",
                    "",
                ]
            )
        },
    )
    gh = as_installation(fake, world["inst"])
    _, data = gh.requester.requestJsonAndCheck(
        "GET", "/repos/acme/web/codeowners/errors", parameters={"ref": sha}
    )
    found = [(e["line"], e["column"], e["kind"]) for e in data["errors"]]
    assert found == [
        (4, 1, "Invalid pattern"),
        (5, 1, "Invalid pattern"),
        (6, 14, "Unknown owner"),
        (6, 22, "Unknown owner"),
        (7, 14, "Invalid owner"),
    ]
    assert data["errors"][2]["message"].startswith("Unknown owner on line 6: make sure @nobody")
    assert all(e["path"] == ".github/CODEOWNERS" for e in data["errors"])


# -- git over HTTP, Git Data API, GraphQL --------------------------------------------------------
def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        ["git", "-c", "credential.helper=", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=check,
    )


def test_git_fetch_over_http_needs_a_token_for_the_repo(
    world: dict[str, Any], tmp_path: Path
) -> None:
    fake = world["fake"]
    issue = open_pr(fake)
    token = fake.installation_token(world["inst"])
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    mirror = tmp_path / "mirror.git"
    git("init", "--bare", "-q", str(mirror))
    git(
        "-c",
        f"http.extraHeader=Authorization: Basic {basic}",
        "fetch",
        "-q",
        fake.git_url("acme", "web"),
        f"+refs/pull/{issue.number}/head:refs/pr/head",
        "+refs/heads/main:refs/heads/main",
        cwd=mirror,
    )
    assert git("rev-parse", "refs/pr/head", cwd=mirror).stdout.strip() == issue.pull.head_sha
    assert fake.git_fetches and fake.git_fetches[-1].repo == "acme/web"
    refused = git("ls-remote", fake.git_url("acme", "web"), cwd=mirror, check=False)
    assert refused.returncode != 0
    other = git(
        "-c",
        f"http.extraHeader=Authorization: Bearer {token}",
        "ls-remote",
        fake.git_url("other", "secret"),
        cwd=mirror,
        check=False,
    )
    assert other.returncode != 0 and "not found" in other.stderr.lower()
    bearer = git(
        "-c",
        f"http.extraHeader=Authorization: Bearer {token}",
        "ls-remote",
        fake.git_url("acme/web"),
        cwd=mirror,
    )
    assert "refs/heads/main" in bearer.stdout


def test_git_data_api_commit_without_author_is_verified(
    world: dict[str, Any], sink: WebhookSink
) -> None:
    fake = world["fake"]
    repo = as_installation(fake, world["inst"]).get_repo("acme/web")
    base = fake.branch_sha("acme/web", "main")
    base_tree = repo.get_git_tree(base)
    tree = repo.create_git_tree(
        [
            InputGitTreeElement(".compliance/exceptions.yaml", "100644", "blob", content="v: 1\n"),
            InputGitTreeElement("README.md", "100644", "blob", sha=None),
        ],
        base_tree=base_tree,
    )
    commit = repo.create_git_commit("Remove expired exceptions", tree, [repo.get_git_commit(base)])
    assert commit.raw_data["verification"]["verified"] is True
    repo.create_git_ref("refs/heads/bot/cleanup", commit.sha)
    assert fake.file_at("acme/web", "bot/cleanup", ".compliance/exceptions.yaml") == "v: 1\n"
    assert fake.file_at("acme/web", "bot/cleanup", "README.md") is None
    pr = repo.create_pull(base="main", head="bot/cleanup", title="Cleanup", body="...")
    assert pr.user.login == world["app"].bot_login
    assert [f.filename for f in pr.get_files()] == [".compliance/exceptions.yaml", "README.md"]
    content = repo.get_contents(".compliance/exceptions.yaml", ref="bot/cleanup")
    assert content.decoded_content == b"v: 1\n"
    custom = repo.create_git_commit(
        "custom", tree, [repo.get_git_commit(base)], author=InputGitAuthor("X", "x@example.com")
    )
    assert custom.raw_data["verification"]["verified"] is False
    ref = repo.get_git_ref("heads/bot/cleanup")
    with pytest.raises(GithubException) as not_ff:
        ref.edit(base)
    assert not_ff.value.status == 422
    fake.wait_for_deliveries()
    assert any(e["ref"] == "refs/heads/bot/cleanup" and e["created"] for e in sink.events("push"))


def test_graphql_create_commit_on_branch(world: dict[str, Any]) -> None:
    fake = world["fake"]
    gh = as_installation(fake, world["inst"])
    head = fake.branch_sha("acme/web", "main")
    _, data = gh.requester.graphql_named_mutation(
        "createCommitOnBranch",
        {
            "branch": {"repositoryNameWithOwner": "acme/web", "branchName": "main"},
            "message": {"headline": "Update"},
            "expectedHeadOid": head,
            "fileChanges": {
                "additions": [{"path": "a.txt", "contents": base64.b64encode(b"A\n").decode()}],
                "deletions": [{"path": "README.md"}],
            },
        },
        "commit { oid url }",
    )
    sha = data["commit"]["oid"]
    assert fake.branch_sha("acme/web", "main") == sha
    assert fake.repo("acme/web").verified_commits[sha] == "valid"
    assert fake.file_at("acme/web", sha, "a.txt") == "A\n"
    assert fake.calls[("GRAPHQL", "createCommitOnBranch")] == 1


# -- webhooks -------------------------------------------------------------------------------------
def test_signature_matches_githubs_test_vector() -> None:
    assert (
        signature("It's a Secret to Everybody", b"Hello, World!")
        == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_deliveries_are_signed_and_shaped_like_githubs(
    world: dict[str, Any], sink: WebhookSink
) -> None:
    fake = world["fake"]
    issue = open_pr(fake)
    fake.commit("acme/web", "feature", {"b.txt": "b\n"}, author="alice")
    fake.edit_pull("acme/web", issue.number, user="alice", title="New title", base="main")
    fake.set_draft("acme/web", issue.number, True, user="alice")
    fake.ready_for_review("acme/web", issue.number, user="alice")
    fake.review("acme/web", issue.number, user="bob", body="ok")
    fake.close_pull("acme/web", issue.number, user="alice")
    fake.reopen_pull("acme/web", issue.number, user="alice")
    fake.comment("acme/web", issue.number, "hi", user="bob")
    fake.wait_for_deliveries()
    for headers, body in sink.received:
        expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Hub-Signature-256"], expected)
        assert headers["User-Agent"] == "GitHub-Hookshot/fake"
        assert headers["X-Github-Hook-Id"] == str(world["app"].hook_id)
        assert len(headers["X-Github-Delivery"]) == 36
    pulls = sink.events("pull_request")
    assert [e["action"] for e in pulls] == [
        "opened",
        "synchronize",
        "edited",
        "converted_to_draft",
        "ready_for_review",
        "closed",
        "reopened",
    ]
    sync = pulls[1]
    assert sync["before"] == issue.pull.head_sha or sync["after"] == issue.pull.head_sha
    assert sync["after"] == sync["pull_request"]["head"]["sha"]
    assert pulls[2]["changes"] == {"title": {"from": "Change deploy"}}
    assert pulls[5]["pull_request"]["merged"] is False
    assert {e["installation"]["id"] for e in pulls} == {world["inst"].id}
    assert [e["action"] for e in sink.events("check_suite")] == ["requested", "requested"]
    review = sink.events("pull_request_review")[0]
    assert (review["action"], review["review"]["state"]) == ("submitted", "approved")
    for delivery in fake.deliveries:
        problems = fake.validator.check_webhook(delivery.event, delivery.action, delivery.payload)
        assert problems == [], (delivery.event, delivery.action, problems[:3])


def test_redelivery_keeps_the_delivery_id(world: dict[str, Any], sink: WebhookSink) -> None:
    fake = world["fake"]
    open_pr(fake)
    fake.wait_for_deliveries()
    first = fake.deliveries_of("pull_request", "opened")[0]
    count = len(sink.received)
    attempt = fake.redeliver(first.guid)
    assert attempt.redelivery and attempt.status == 202
    headers, body = sink.received[count]
    assert headers["X-Github-Delivery"] == first.guid and body == first.body
    # The App can ask for the redelivery through the REST API too.
    gi = integration(fake, world["app"])
    _, items = gi.requester.requestJsonAndCheck("GET", "/app/hook/deliveries")
    item = next(i for i in items if i["guid"] == first.guid)
    gi.requester.requestJsonAndCheck("POST", f"/app/hook/deliveries/{item['id']}/attempts")
    fake.wait_for_deliveries()
    assert [h["X-Github-Delivery"] for h, _ in sink.received].count(first.guid) == 3


def test_manual_mode_holds_deliveries_until_released_or_dropped(
    world: dict[str, Any], sink: WebhookSink
) -> None:
    fake = world["fake"]
    fake.webhook_mode = "manual"
    count = len(sink.received)
    issue = open_pr(fake)
    fake.comment("acme/web", issue.number, "/compliance recheck", user="bob")
    pending = fake.pending_deliveries()
    assert [d.event for d in pending] == ["push", "check_suite", "pull_request", "issue_comment"]
    assert len(sink.received) == count
    fake.drop_pending([pending[0].guid])
    released = fake.deliver_pending()
    assert [d.status for d in released] == ["delivered"] * 3
    assert [h["X-Github-Event"] for h, _ in sink.received[count:]] == [
        "check_suite",
        "pull_request",
        "issue_comment",
    ]
    assert pending[0].status == "failed"


def test_failed_delivery_is_recorded_with_its_status(
    world: dict[str, Any], sink: WebhookSink
) -> None:
    fake = world["fake"]
    sink.status = 500
    open_pr(fake)
    fake.wait_for_deliveries()
    assert {d.status for d in fake.deliveries_of("pull_request")} == {"failed"}
    assert fake.deliveries_of("pull_request")[0].response_status == 500


def test_rerequest_merge_group_and_installation_events(
    world: dict[str, Any], sink: WebhookSink
) -> None:
    fake, inst = world["fake"], world["inst"]
    issue = open_pr(fake)
    repo = as_installation(fake, inst).get_repo("acme/web")
    run = repo.create_check_run(
        name="compliance", head_sha=issue.pull.head_sha, conclusion="success"
    )
    fake.rerequest_check_run(run.id, user="bob")
    head_ref, sha = fake.enqueue_merge_group("acme/web", issue.number, user="bob")
    assert head_ref.startswith("refs/heads/gh-readonly-queue/main/pr-")
    fake.create_repo("acme/api", files={"a": "b\n"})
    fake.remove_installation_repos(inst, ["acme/api"])
    fake.wait_for_deliveries()
    rerequested = [e for e in sink.events("check_run") if e["action"] == "rerequested"]
    assert rerequested[0]["check_run"]["id"] == run.id
    group = sink.events("merge_group")[0]
    assert group["action"] == "checks_requested" and group["merge_group"]["head_sha"] == sha
    assert fake.repo("acme/web").git.commit_info(sha).parents[1] == issue.pull.head_sha
    removed = sink.events("installation_repositories")[0]
    assert [r["full_name"] for r in removed["repositories_removed"]] == ["acme/api"]
    assert sink.events("installation")[0]["action"] == "created"


# -- OpenAPI checking, ETags, pagination, rate limits --------------------------------------------
def test_requests_outside_githubs_api_are_404_and_violations(world: dict[str, Any]) -> None:
    fake = world["fake"]
    headers = {"Authorization": f"token {fake.installation_token(world['inst'])}"}
    with fake.expect_violations() as caught:
        unknown = requests.get(f"{fake.api_url}/repos/acme/web/no-such-thing", headers=headers)
        bad = requests.post(
            f"{fake.api_url}/repos/acme/web/check-runs",
            headers=headers,
            json={"head_sha": fake.branch_sha("acme/web", "main"), "status": "sideways"},
        )
        unimplemented = requests.get(f"{fake.api_url}/repos/acme/web/releases", headers=headers)
        extra = requests.get(f"{fake.api_url}/repos/acme/web/pulls?colour=red", headers=headers)
        wrong_base = requests.get(f"{fake.web_url}/repos/acme/web", headers=headers)
    assert (unknown.status_code, bad.status_code, unimplemented.status_code) == (404, 422, 404)
    assert (extra.status_code, wrong_base.status_code) == (200, 404)
    kinds = [(v.kind, v.template) for v in caught]
    assert kinds == [
        ("request", None),
        ("request", "/repos/{owner}/{repo}/check-runs"),
        ("unimplemented", "/repos/{owner}/{repo}/releases"),
        ("request", "/repos/{owner}/{repo}/pulls"),
        ("request", None),
    ]
    assert "not under /api/v3" in caught[-1].problems[0]
    assert any("'name' is a required property" in p for p in caught[1].problems)
    assert any("'sideways' is not one of" in p for p in caught[1].problems)
    assert fake.violations == []


def test_etag_gives_304_that_does_not_spend_rate_limit(world: dict[str, Any]) -> None:
    fake = world["fake"]
    headers = {"Authorization": f"token {fake.installation_token(world['inst'])}"}
    first = requests.get(f"{fake.api_url}/repos/acme/web", headers=headers)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    second = requests.get(
        f"{fake.api_url}/repos/acme/web", headers={**headers, "If-None-Match": etag}
    )
    assert second.status_code == 304 and second.content == b""
    assert second.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]
    repo = as_installation(fake, world["inst"]).get_repo("acme/web")
    assert repo.update() is False  # PyGithub's conditional refresh: not modified
    fake.commit("acme/web", "main", {"c.txt": "c\n"})
    issue = open_pr(fake)
    pull = repo.get_pull(issue.number)
    fake.edit_pull("acme/web", issue.number, user="alice", title="Changed")
    assert pull.update() is True and pull.title == "Changed"


def test_pagination_follows_link_headers_and_caps_per_page(world: dict[str, Any]) -> None:
    fake = world["fake"]
    issue = open_pr(fake)
    for i in range(120):
        fake.comment("acme/web", issue.number, f"c{i}", user="bob")
    token = fake.installation_token(world["inst"])
    url = f"{fake.api_url}/repos/acme/web/issues/{issue.number}/comments"
    page = requests.get(url, params={"per_page": 50}, headers={"Authorization": f"token {token}"})
    assert len(page.json()) == 50
    assert 'rel="next"' in page.headers["Link"] and "page=3" in page.headers["Link"]
    capped = requests.get(
        url, params={"per_page": 500}, headers={"Authorization": f"token {token}"}
    )
    assert len(capped.json()) == 100
    gh = as_installation(fake, world["inst"])
    comments = gh.get_repo("acme/web").get_issue(issue.number).get_comments()
    assert [c.body for c in comments] == [f"c{i}" for i in range(120)]


def test_rate_limit_headers_and_exhaustion(world: dict[str, Any]) -> None:
    fake, inst = world["fake"], world["inst"]
    headers = {"Authorization": f"token {fake.installation_token(inst)}"}
    response = requests.get(f"{fake.api_url}/repos/acme/web", headers=headers)
    assert response.headers["x-ratelimit-limit"] == "5000"
    assert int(response.headers["x-ratelimit-reset"]) > time.time()
    fake.set_rate_limit(inst, remaining=0)
    exhausted = requests.get(f"{fake.api_url}/repos/acme/web", headers=headers)
    assert exhausted.status_code == 403
    assert exhausted.headers["x-ratelimit-remaining"] == "0"
    assert requests.get(f"{fake.api_url}/rate_limit", headers=headers).status_code == 200


def test_manifest_conversion_creates_a_working_app(fake_github: FakeGitHub) -> None:
    manifest = {
        "name": "compliance-bot",
        "url": "https://bot.example",
        "hook_attributes": {"url": "https://bot.example/webhooks/github"},
        "default_events": ["pull_request"],
        "default_permissions": {"checks": "write"},
    }
    code = fake_github.manifest_code(manifest)
    response = requests.post(f"{fake_github.api_url}/app-manifests/{code}/conversions")
    assert response.status_code == 201
    data = response.json()
    assert data["slug"] == "compliance-bot" and data["pem"].startswith("-----BEGIN RSA")
    assert data["webhook_secret"] and data["client_secret"] and data["client_id"]
    gi = GithubIntegration(
        auth=Auth.AppAuth(data["id"], data["pem"]), base_url=fake_github.api_url, **FAST
    )
    assert gi.get_app().permissions == {"checks": "write"}
    again = requests.post(f"{fake_github.api_url}/app-manifests/{code}/conversions")
    assert again.status_code == 404


def test_responses_validate_against_githubs_schemas(tmp_path: Path, sink: WebhookSink) -> None:
    """The fake's answers match GitHub's response schemas for every operation exercised here."""
    with FakeGitHub(tmp_path / "gh", validate_responses=True) as fake:
        fake.add_org("acme", members=["alice", "bob"])
        fake.create_repo("acme/web", files={"a.yaml": "x: 1\n", "d/b.txt": "b\n"})
        fake.add_collaborator("acme/web", "bob", "write")
        fake.add_team("acme", "security", members=["bob"], repos={"acme/web": "write"})
        fake.commit("acme/web", "main", {".github/CODEOWNERS": "* @bob\n!x @nobody\n"})
        app = fake.install_app(account="acme", webhook_url=sink.url)
        inst = fake.installation(app, "acme")
        fake.commit("acme/web", "feature", {"a.yaml": "x: 2\n"})
        issue = fake.open_pull("acme/web", "feature", title="t", user="alice")
        gi = integration(fake, app)
        gi.get_app()
        list(gi.get_installations())
        gi.get_repo_installation("acme", "web")
        gi.get_access_token(inst.id)
        gh = as_installation(fake, inst)
        gh.requester.requestJsonAndCheck("GET", "/installation/repositories")
        repo = gh.get_repo("acme/web")
        pr = repo.get_pull(issue.number)
        list(repo.get_pulls(state="all"))
        list(pr.get_files())
        list(pr.get_commits())
        pr.is_merged()
        pr.create_review_request(reviewers=["bob"], team_reviewers=["security"])
        pr.get_review_requests()
        pr.delete_review_request(reviewers=[], team_reviewers=["security"])
        review = (
            as_user(fake, "bob")
            .get_repo("acme/web")
            .get_pull(pr.number)
            .create_review(body="ok", event="APPROVE")
        )
        list(pr.get_reviews())
        pr.get_review(review.id)
        review.dismiss("stale")
        comment = pr.create_issue_comment("hi")
        comment.create_reaction("+1")
        list(comment.get_reactions())
        comment.edit("hello")
        repo.get_issue(pr.number).get_comment(comment.id)
        list(pr.get_issue_comments())
        pr.add_to_labels("compliance")
        list(pr.get_labels())
        repo.create_label("blocked", "ff0000")
        list(repo.get_labels())
        run = repo.create_check_run(
            name="c",
            head_sha=pr.head.sha,
            output={"title": "t", "summary": "s", "annotations": annotations(2)},
        )
        run.edit(conclusion="success")
        list(run.get_annotations())
        list(repo.get_commit(pr.head.sha).get_check_runs())
        list(repo.get_commit(pr.head.sha).get_check_suites())
        fake.create_status("acme/web", pr.head.sha, "success", context="c", creator="bob")
        repo.get_commit(pr.head.sha).get_combined_status()
        repo.get_collaborator_permission("bob")
        repo.get_contents("a.yaml")
        repo.get_contents("d")
        repo.compare("main", "feature")
        repo.get_branch("main")
        list(repo.get_branches())
        dash = repo.create_issue(title="dash", body="b")
        dash.edit(body="c")
        list(repo.get_issues())
        repo.get_git_ref("heads/main")
        list(repo.get_git_matching_refs("heads/"))
        repo.get_git_commit(pr.head.sha)
        repo.get_git_tree(pr.head.sha, recursive=True)
        blob = repo.create_git_blob("hello", "utf-8")
        repo.get_git_blob(blob.sha)
        tree = repo.create_git_tree(
            [InputGitTreeElement("n.txt", "100644", "blob", sha=blob.sha)],
            base_tree=repo.get_git_tree(pr.head.sha),
        )
        commit = repo.create_git_commit("m", tree, [repo.get_git_commit(pr.head.sha)])
        ref = repo.create_git_ref("refs/heads/bot/x", commit.sha)
        ref.edit(commit.sha)
        cleanup = repo.create_pull(base="main", head="bot/x", title="cleanup", body="b")
        cleanup.merge(merge_method="merge")
        ref.delete()
        gh.requester.requestJsonAndCheck("GET", "/repos/acme/web/codeowners/errors")
        gh.requester.requestJsonAndCheck("GET", "/orgs/acme/teams/security/memberships/bob")
        org = gh.get_organization("acme")
        org.get_team_by_slug("security")
        list(org.get_teams())
        gh.requester.requestJsonAndCheck("GET", "/orgs/acme/teams/security/members")
        gh.get_user("alice")
        gh.requester.requestJsonAndCheck("GET", "/rate_limit")
        problems = [str(v) for v in fake.violations]
    assert problems == []


def test_fork_pull_request_head_is_fetched_into_the_base_repository(
    world: dict[str, Any], sink: WebhookSink
) -> None:
    fake = world["fake"]
    fake.fork_repo("acme/web", "mallory")
    first = fake.commit("mallory/web", "evil", {"deploy/app.yaml": "privileged: true\n"})
    issue = fake.open_pull("acme/web", "mallory:evil", title="Innocent", user="mallory")
    assert issue.pull.head_repo == "mallory/web"
    git = fake.repo("acme/web").git
    assert git.rev_parse(f"refs/pull/{issue.number}/head") == first
    second = fake.commit("mallory/web", "evil", {"x.txt": "x\n"}, author="mallory")
    assert git.rev_parse(f"refs/pull/{issue.number}/head") == second
    repo = as_installation(fake, world["inst"]).get_repo("acme/web")
    pr = repo.get_pull(issue.number)
    assert (pr.head.repo.full_name, pr.head.sha, pr.head.label) == (
        "mallory/web",
        second,
        "mallory:evil",
    )
    run = repo.create_check_run(name="compliance", head_sha=second, status="in_progress")
    assert run.pull_requests == []  # GitHub lists no pull requests for fork heads
    fake.wait_for_deliveries()
    sync = [e for e in sink.events("pull_request") if e["action"] == "synchronize"]
    assert [(e["before"], e["after"]) for e in sync] == [(first, second)]


def test_push_over_http_needs_contents_write_and_sends_push(
    world: dict[str, Any], sink: WebhookSink, tmp_path: Path
) -> None:
    fake = world["fake"]
    inst = world["inst"]
    work = tmp_path / "work"
    token = fake.installation_token(inst)
    header = f"http.extraHeader=Authorization: Bearer {token}"
    git("-c", header, "clone", "-q", fake.git_url("acme/web"), str(work))
    (work / "pushed.txt").write_text("pushed\n")
    git("add", "pushed.txt", cwd=work)
    git("-c", "user.name=Bot", "-c", "user.email=bot@example.com", "commit", "-qm", "p", cwd=work)
    read_only = fake.installation_token(inst, permissions={"contents": "read"})
    refused = git(
        "-c",
        f"http.extraHeader=Authorization: Bearer {read_only}",
        "push",
        "-q",
        "origin",
        "HEAD:refs/heads/pushed",
        cwd=work,
        check=False,
    )
    assert refused.returncode != 0 and fake.branch_sha("acme/web", "pushed") is None
    git("-c", header, "push", "-q", "origin", "HEAD:refs/heads/pushed", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert fake.branch_sha("acme/web", "pushed") == head
    fake.wait_for_deliveries()
    push = sink.events("push")[-1]
    assert (push["ref"], push["after"], push["created"]) == ("refs/heads/pushed", head, True)
    assert push["sender"]["login"] == world["app"].bot_login


def test_requested_action_goes_only_to_the_runs_app(
    world: dict[str, Any], sink: WebhookSink
) -> None:
    fake = world["fake"]
    other_sink = WebhookSink()
    try:
        fake.install_app(
            account="acme", name="other-bot", webhook_url=other_sink.url, webhook_secret="x"
        )
        repo = as_installation(fake, world["inst"]).get_repo("acme/web")
        sha = fake.branch_sha("acme/web", "main")
        run = repo.create_check_run(
            name="compliance",
            head_sha=sha,
            conclusion="action_required",
            details_url="https://bot.example/x",
            actions=[{"label": "Re-evaluate", "description": "Run again", "identifier": "reeval"}],
        )
        fake.request_check_action(run.id, "reeval", user="bob")
        fake.wait_for_deliveries()
        mine = [e for e in sink.events("check_run") if e["action"] == "requested_action"]
        assert mine[0]["requested_action"] == {"identifier": "reeval"}
        assert [e["action"] for e in other_sink.events("check_run")] == ["created", "completed"]
    finally:
        other_sink.close()


# -- OAuth: signing in with a GitHub App ---------------------------------------------------------
def test_oauth_sign_in_gives_a_user_token_for_the_apps_installations(
    tmp_path: Path, sink: WebhookSink
) -> None:
    """Authorize page, code exchange with PKCE, then what the user token may list: the App's
    installations and their repositories where the person has explicit access."""
    import base64
    from urllib.parse import parse_qs, urlencode, urlsplit

    from fakes.github.handlers.oauth import set_callback_urls

    with FakeGitHub(tmp_path / "gh", validate_responses=True) as fake:
        fake.add_org("acme", members=["alice", "mallory"])
        for name in ("acme/web", "acme/api", "acme/vault"):
            fake.create_repo(name)
        fake.create_repo("acme/docs", private=False)  # everyone reads it: not explicit access
        fake.add_collaborator("acme/web", "alice", "write")
        fake.add_team("acme", "ops", members=["alice"], repos={"acme/api": "read"})
        fake.add_collaborator("acme/vault", "alice", "admin")
        app = fake.install_app(
            account="acme", repositories=["web", "api", "docs"], webhook_url=sink.url
        )
        fake.install_app(account="acme", name="other-bot", webhook_url=sink.url)
        callback = "http://bot.test/dashboard/oauth/github/callback"
        set_callback_urls(fake, app, callback)
        verifier = "a-verifier-of-more-than-43-characters-0123456789"
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

        def authorize(login: str, decision: str = "authorize", **extra: str) -> dict[str, Any]:
            query = {
                "client_id": app.client_id,
                "redirect_uri": callback,
                "state": "s1",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                **extra,
            }
            url = f"{fake.web_url}/login/oauth/authorize?{urlencode(query)}"
            back = requests.get(url, allow_redirects=False)
            if back.status_code == 200:  # the consent page; a bad request comes straight back
                assert "Authorize compliance-bot" in back.text and "name=login" in back.text
                back = requests.post(
                    url, data={"login": login, "decision": decision}, allow_redirects=False
                )
            assert back.status_code == 302
            location = urlsplit(back.headers["Location"])
            params = {k: v[0] for k, v in parse_qs(location.query).items()}
            return {"to": location._replace(query="").geturl(), **params}

        def exchange(code: str, **extra: str) -> dict[str, Any]:
            body = {
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "code": code,
                "redirect_uri": callback,
                "code_verifier": verifier,
                **extra,
            }
            answer = requests.post(
                f"{fake.web_url}/login/oauth/access_token",
                data=body,
                headers={"Accept": "application/json"},
            )
            assert answer.status_code == 200  # GitHub refuses with a 200 and an error
            return answer.json()

        granted = authorize("alice")
        assert (granted["to"], granted["state"]) == (callback, "s1")
        assert exchange(granted["code"], code_verifier="x" * 43)["error"] == "bad_verification_code"
        assert exchange(granted["code"], client_secret="wrong")["error"] == (
            "incorrect_client_credentials"
        )
        token = exchange(granted["code"])
        assert token["access_token"].startswith("ghu_") and token["token_type"] == "bearer"
        assert (token["expires_in"], token["scope"]) == (28800, "")
        assert exchange(granted["code"])["error"] == "bad_verification_code"  # one use only

        headers = {"Authorization": f"Bearer {token['access_token']}"}
        me = requests.get(f"{fake.api_url}/user", headers=headers).json()
        assert me["login"] == "alice"
        listed = requests.get(f"{fake.api_url}/user/installations", headers=headers).json()
        assert listed["total_count"] == 1 and listed["installations"][0]["app_id"] == app.id
        inst_id = listed["installations"][0]["id"]
        repos = requests.get(
            f"{fake.api_url}/user/installations/{inst_id}/repositories", headers=headers
        ).json()
        names = {r["full_name"]: r["permissions"]["push"] for r in repos["repositories"]}
        assert names == {"acme/api": False, "acme/web": True}  # not docs, not vault

        stranger = exchange(authorize("mallory")["code"])["access_token"]
        theirs = {"Authorization": f"Bearer {stranger}"}
        none = requests.get(f"{fake.api_url}/user/installations", headers=theirs).json()
        assert none == {"total_count": 0, "installations": []}
        url = f"{fake.api_url}/user/installations/{inst_id}/repositories"
        assert requests.get(url, headers=theirs).status_code == 404
        personal = {"Authorization": f"token {fake.user_token('alice')}"}
        listing = requests.get(f"{fake.api_url}/user/installations", headers=personal)
        assert listing.status_code == 403  # a personal token is no App's

        mismatch = authorize("alice", redirect_uri="http://evil.test/cb")
        assert (mismatch["to"], mismatch["error"]) == (callback, "redirect_uri_mismatch")
        denied = authorize("alice", decision="cancel")
        assert (denied["error"], denied["state"]) == ("access_denied", "s1")
        assert fake.calls[("POST", "/login/oauth/access_token")] == 5
        problems = [str(v) for v in fake.violations]
    assert problems == []
