"""GitLab's webhooks read as the neutral events GitHub's give (``bot.events.parse_gitlab``), so
that one routing table serves both forges: GitLab's documented examples, variations of them
for each mapping, the payloads the fake GitLab sends through a merge request's life, the fields
that can't be missing, and a property: no JSON object makes the parser raise anything but
PayloadError."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.events import (
    CommentEvent,
    Event,
    PayloadError,
    PullRequestEvent,
    PushEvent,
    Repo,
    ReviewEvent,
    parse_gitlab,
)
from bot.handlers import route

EXAMPLES = Path(__file__).parent / "fakes" / "gitlab" / "examples"
HEAD = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"  # last_commit.id of merge_request.json


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))


def merge_request(action: Any, changes: Any = None, **attrs: Any) -> dict[str, Any]:
    """GitLab's documented Merge Request Hook with ``object_attributes.action`` (None: absent),
    ``changes`` (None: none) and attributes replaced (None: removed)."""
    payload = example("merge_request")
    payload["changes"] = {} if changes is None else changes
    target = payload["object_attributes"]
    target.pop("action")
    if action is not None:
        target["action"] = action
    for key, value in attrs.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return payload


def note(kind: str, **attrs: Any) -> dict[str, Any]:
    payload = example(f"note_{kind}")
    for key, value in attrs.items():
        if value is None:
            payload["object_attributes"].pop(key, None)
        else:
            payload["object_attributes"][key] = value
    return payload


def without(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    target = payload
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return payload


def replaced(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


MR = "Merge Request Hook"
NOTE = "Note Hook"
DRAFT_LIFTED = {"draft": {"previous": True, "current": False}}

# -- merge requests -----------------------------------------------------------------------------

# (case, payload, name, action, what else the event says)
MERGE_REQUESTS = [
    ("open", merge_request("open"), "pull_request", "opened", {}),
    ("reopen", merge_request("reopen"), "pull_request", "reopened", {}),
    ("close", merge_request("close", state="closed"), "pull_request", "closed", {"merged": False}),
    (
        "push to the source branch",
        merge_request("update", oldrev="95790bf891e76fee5e1747ab589903a6a1f80f22"),
        "pull_request",
        "synchronize",
        {},
    ),
    (
        "title edited",
        merge_request("update", {"title": {"previous": "Old", "current": "MS-Viewport"}}),
        "pull_request",
        "edited",
        {"changes": {"title": {"from": "Old"}}},
    ),
    (
        "description edited",
        merge_request("update", {"description": {"previous": "was", "current": ""}}),
        "pull_request",
        "edited",
        {"changes": {"body": {"from": "was"}}},
    ),
    (
        "target branch changed",
        merge_request("update", {"target_branch": {"previous": "main", "current": "master"}}),
        "pull_request",
        "edited",
        {"changes": {"base": {"ref": {"from": "main"}}}},
    ),
    (
        "the documented update: draft lifted",
        merge_request("update", example("merge_request")["changes"]),
        "pull_request",
        "ready_for_review",
        {},
    ),
    (
        "draft lifted by editing the title",
        merge_request(
            "update", {"title": {"previous": "Draft: x", "current": "x"}, **DRAFT_LIFTED}
        ),
        "pull_request",
        "ready_for_review",
        {"changes": {"title": {"from": "Draft: x"}}},
    ),
    ("an update with no changes", merge_request("update"), MR, None, {}),
    (
        "labels changed",
        merge_request("update", {"labels": {"previous": [], "current": []}}),
        MR,
        None,
        {},
    ),
    (
        "made a draft",
        merge_request("update", {"draft": {"previous": False, "current": True}}),
        MR,
        None,
        {},
    ),
    ("an action GitLab may add", merge_request("rebase"), MR, None, {}),
    ("no action", merge_request(None), MR, None, {}),
    ("an action that is not a string", merge_request(["open"]), MR, None, {}),
]


@pytest.mark.parametrize(
    ("payload", "name", "action", "expected"),
    [pytest.param(p, n, a, e, id=case) for case, p, n, a, e in MERGE_REQUESTS],
)
def test_merge_request_hooks_are_pull_request_events(payload, name, action, expected):
    event = parse_gitlab(MR, "key-1", payload)
    assert isinstance(event, PullRequestEvent) and not isinstance(event, ReviewEvent)
    assert (event.name, event.action) == (name, action)
    assert bool(route(event)) == (name == "pull_request")
    assert (event.forge, event.installation_id, event.delivery_id) == ("gitlab", None, "key-1")
    pr = event.pull_request
    assert pr is not None
    for field, value in expected.items():
        assert (getattr(event, field, None) if field == "changes" else getattr(pr, field)) == value


def test_the_documented_merge_request_in_full():
    event = parse_gitlab(MR, "key-1", merge_request("open"))
    assert event.repo == Repo(
        full_name="gitlabhq/gitlab-test",
        default_branch="master",
        clone_url="http://example.com/gitlabhq/gitlab-test.git",
        private=False,  # visibility_level 20
    )
    assert (event.sender, event.sender_is_bot) == ("root", False)
    pr = event.pull_request
    assert pr is not None
    assert (pr.number, pr.head_sha, pr.head_ref, pr.base_ref, pr.base_sha) == (
        1,
        HEAD,
        "ms-viewport",
        "master",
        "",
    )
    assert (pr.title, pr.body, pr.labels, pr.draft, pr.state) == (
        "MS-Viewport",
        "",
        ("API",),
        False,
        "open",
    )
    # `user` (id 1) is who acted; the author is named by id only (51): unknown here
    assert (pr.author, pr.head_repo, pr.merged, pr.merged_by) == (
        "",
        "awesome_space/awesome_project",
        False,
        None,
    )


def test_the_author_is_known_when_the_actor_is_the_author():
    event = parse_gitlab(MR, "k", merge_request("open", author_id=1))
    assert event.pull_request is not None and event.pull_request.author == "root"
    bot = replaced(merge_request("open", author_id=1), ("user", "username"), "project_7_bot_3f")
    event = parse_gitlab(MR, "k", bot)
    assert event.pull_request is not None and event.pull_request.author_is_bot
    assert event.sender_is_bot


def test_diff_refs_draft_and_labels_of_older_payloads():
    payload = merge_request(
        "open",
        diff_refs={"base_sha": "b" * 40, "head_sha": HEAD, "start_sha": "b" * 40},
        draft=None,
        work_in_progress=True,
        labels=None,
    )
    pr = parse_gitlab(MR, "k", payload).pull_request
    assert pr is not None
    assert (pr.base_sha, pr.draft, pr.labels) == ("b" * 40, True, ("API",))  # top-level labels


@pytest.mark.parametrize(
    ("updated_at", "merged_at"),
    [
        ("2013-12-03T17:23:34Z", datetime(2013, 12, 3, 17, 23, 34, tzinfo=UTC)),
        ("2015-05-17 18:21:36 UTC", datetime(2015, 5, 17, 18, 21, 36, tzinfo=UTC)),
        ("not a time", None),
    ],
)
def test_a_merge_is_closed_and_merged_by_the_actor(updated_at, merged_at):
    payload = merge_request(
        "merge", state="merged", merge_commit_sha="c" * 40, updated_at=updated_at
    )
    event = parse_gitlab(MR, "k", payload)
    assert (event.name, event.action) == ("pull_request", "closed") and route(event)
    pr = event.pull_request
    assert pr is not None
    assert (pr.merged, pr.state, pr.merge_sha, pr.merged_by, pr.merged_at) == (
        True,
        "closed",
        "c" * 40,
        "root",
        merged_at,
    )


def test_merged_at_is_read_when_gitlab_sends_it():
    payload = merge_request("merge", state="merged", merged_at="2024-01-02 03:04:05 UTC")
    pr = parse_gitlab(MR, "k", payload).pull_request
    assert pr is not None and pr.merged_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("gitlab_action", "action", "state"),
    [
        ("approval", "submitted", "APPROVED"),
        ("approved", "submitted", "APPROVED"),  # sent instead of `approval` by the last needed
        ("unapproval", "dismissed", "DISMISSED"),
        ("unapproved", "dismissed", "DISMISSED"),
    ],
)
def test_approvals_are_reviews_on_the_head_they_were_given_on(gitlab_action, action, state):
    event = parse_gitlab(MR, "k", merge_request(gitlab_action))
    assert isinstance(event, ReviewEvent)
    assert (event.name, event.action, event.reviewer, event.state, event.commit_id) == (
        "pull_request_review",
        action,
        "root",
        state,
        HEAD,
    )
    assert route(event) and event.pull_request is not None
    assert event.pull_request.number == 1


# -- notes --------------------------------------------------------------------------------------


def test_a_comment_on_a_merge_request():
    event = parse_gitlab(NOTE, "k", note("merge_request"))
    assert isinstance(event, CommentEvent) and route(event)
    assert (event.name, event.action, event.comment_id, event.number) == (
        "issue_comment",
        "created",
        1244,
        1,  # the merge request's iid, not its id (7)
    )
    assert (event.body, event.author, event.author_is_bot, event.on_pull_request) == (
        "This MR needs work.",
        "root",
        False,
        True,
    )
    assert event.repo is not None and event.repo.full_name == "gitlab-org/gitlab-test"
    assert event.repo.private  # visibility_level 10: internal


def test_a_comment_on_an_issue():
    event = parse_gitlab(NOTE, "k", note("issue"))
    assert isinstance(event, CommentEvent) and route(event)
    assert (event.action, event.comment_id, event.number, event.on_pull_request) == (
        "created",
        1241,
        17,
        False,
    )


@pytest.mark.parametrize(
    ("payload", "name", "action"),
    [
        pytest.param(note("merge_request", action=None), "issue_comment", "created", id="older"),
        pytest.param(note("merge_request", action="update"), "issue_comment", "edited", id="edit"),
        pytest.param(note("merge_request", system=True), NOTE, None, id="system note"),
        pytest.param(note("merge_request", noteable_type="Commit"), NOTE, None, id="on a commit"),
        pytest.param(note("merge_request", noteable_type="Snippet"), NOTE, None, id="snippet"),
        pytest.param(note("merge_request", noteable_type=None), NOTE, None, id="on nothing"),
        pytest.param(note("issue", action="delete"), NOTE, None, id="an unknown action"),
        pytest.param(note("issue", action=7), NOTE, None, id="an action not a string"),
    ],
)
def test_note_variations(payload, name, action):
    event = parse_gitlab(NOTE, "k", payload)
    assert (event.name, event.action) == (name, action)
    assert bool(route(event)) == (action == "created")


def test_a_bot_users_comment_is_marked_as_a_bots():
    payload = replaced(note("merge_request"), ("user", "username"), "group_12_bot_9a0f1c")
    event = parse_gitlab(NOTE, "k", payload)
    assert isinstance(event, CommentEvent) and event.author_is_bot and event.sender_is_bot


# -- pushes and the rest ------------------------------------------------------------------------


def test_a_push_of_more_commits_than_listed_has_unknown_paths():
    payload = example("push")  # 4 commits pushed, 2 listed
    event = parse_gitlab("Push Hook", "k", payload)
    assert isinstance(event, PushEvent) and route(event)
    assert (event.name, event.action, event.ref, event.sender) == (
        "push",
        None,
        "refs/heads/master",
        "jsmith",
    )
    assert (event.before, event.after) == (payload["before"], payload["after"])
    assert event.paths == ()
    assert event.repo is not None and event.repo.private  # visibility_level 0


def test_a_push_whose_commits_are_all_listed_has_their_paths():
    payload = example("push")
    payload["total_commits_count"] = len(payload["commits"])
    event = parse_gitlab("Push Hook", "k", payload)
    assert isinstance(event, PushEvent)
    assert event.paths == ("CHANGELOG", "app/controller/application.rb")


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Emoji Hook", "emoji"),
        ("Issue Hook", "issue"),
        ("Pipeline Hook", "merge_request"),
        ("Tag Push Hook", "push"),
        ("Confidential Note Hook", "note_issue"),
    ],
)
def test_other_hooks_are_acknowledged_events_no_route_takes(header, name):
    event = parse_gitlab(header, "k", example(name))
    assert type(event) is Event
    assert (event.forge, event.name, event.action) == ("gitlab", header, None)
    assert not route(event)


# -- what can't be missing ----------------------------------------------------------------------

OPEN = merge_request("open")
APPROVAL = merge_request("approval")
ON_MR = note("merge_request")
ON_ISSUE = note("issue")
PUSH = example("push")
MISSING = [
    ("object_attributes", MR, without(OPEN, "object_attributes"), "object_attributes"),
    ("object_attributes a list", MR, replaced(OPEN, ("object_attributes",), []), "object_attr"),
    ("iid", MR, without(OPEN, "object_attributes", "iid"), "object_attributes.iid"),
    ("iid a word", MR, replaced(OPEN, ("object_attributes", "iid"), "x"), "object_attributes.iid"),
    ("iid 2**70", MR, replaced(OPEN, ("object_attributes", "iid"), 2**70), "object_attributes.iid"),
    (
        "head",
        MR,
        without(OPEN, "object_attributes", "last_commit"),
        "object_attributes.last_commit.id",
    ),
    (
        "head a number",
        MR,
        replaced(OPEN, ("object_attributes", "last_commit", "id"), 5),
        "object_attributes.last_commit.id",
    ),
    (
        "target branch",
        MR,
        without(OPEN, "object_attributes", "target_branch"),
        "object_attributes.target_branch",
    ),
    ("project", MR, without(OPEN, "project"), "project.path_with_namespace"),
    (
        "project path without a group",
        MR,
        replaced(OPEN, ("project", "path_with_namespace"), "shop"),
        "project.path_with_namespace",
    ),
    ("approver", MR, without(APPROVAL, "user"), "user.username"),
    ("note id", NOTE, without(ON_MR, "object_attributes", "id"), "object_attributes.id"),
    ("merge request iid", NOTE, without(ON_MR, "merge_request", "iid"), "merge_request.iid"),
    ("issue iid", NOTE, without(ON_ISSUE, "issue", "iid"), "issue.iid"),
    ("note author", NOTE, replaced(ON_MR, ("user", "username"), 5), "user.username"),
    ("note project", NOTE, without(ON_MR, "project"), "project.path_with_namespace"),
    ("push project", "Push Hook", without(PUSH, "project"), "project.path_with_namespace"),
]


@pytest.mark.parametrize(
    ("header", "payload", "field"),
    [pytest.param(h, p, f, id=case) for case, h, p, f in MISSING],
)
def test_a_missing_fact_is_a_payload_error_naming_the_field(header, payload, field):
    with pytest.raises(PayloadError, match=field.replace(".", r"\.")):
        parse_gitlab(header, "k", payload)


def test_a_payload_that_is_not_an_object_is_refused():
    with pytest.raises(PayloadError, match="not a JSON object"):
        parse_gitlab(MR, "k", [1, 2])  # type: ignore[arg-type]


# -- read again by the worker --------------------------------------------------------------------

ROUTED = [
    (MR, merge_request("open")),
    (MR, merge_request("update", DRAFT_LIFTED)),
    (MR, merge_request("update", oldrev="0" * 40)),
    (MR, merge_request("update", {"title": {"previous": "a", "current": "b"}})),
    (MR, merge_request("merge", state="merged")),
    (MR, merge_request("approved")),
    (MR, merge_request("unapproval")),
    (NOTE, note("merge_request")),
    (NOTE, note("issue")),
    ("Push Hook", example("push")),
]


@pytest.mark.parametrize(("header", "payload"), ROUTED)
def test_a_recorded_event_reads_the_same_under_its_neutral_name(header, payload):
    """The edge records an event under its neutral name; the worker parses the payload again
    under that name, and must get the same event."""
    event = parse_gitlab(header, "key-1", payload)
    assert route(event)
    assert parse_gitlab(event.name, "key-1", payload) == event


# -- the payloads the fake GitLab sends ----------------------------------------------------------


def test_a_merge_requests_life_in_the_fake_reads_as_github_events(fake_gitlab):
    fake = fake_gitlab
    fake.add_group("acme", members={"alice": 50})
    fake.add_group("acme/platform", members={"dev": 30})
    project = fake.create_project("acme/platform/shop", files={"README.md": "# shop\n"})
    fake.webhook_mode = "manual"  # held, and read here: nothing listens
    fake.add_hook(project, "http://127.0.0.1:9/webhooks/gitlab", token="s3cret")
    fake.commit(project, "feature", {"deploy/pod.yaml": "kind: Pod\n"}, "add pod", author="dev")
    mr = fake.open_mr(project, "feature", title="Draft: Add a pod", author="dev")
    fake.edit_mr(project, mr.iid, user="dev", title="Add a pod")
    fake.edit_mr(project, mr.iid, user="dev", description="node-exporter needs it")
    fake.commit(project, "feature", {"deploy/more.yaml": "x: 1\n"}, "more", author="dev")
    fake.comment(project, mr.iid, "/compliance help", user="alice")
    fake.approve(project, mr.iid, user="alice")
    fake.unapprove(project, mr.iid, user="alice")
    fake.approve(project, mr.iid, user="alice")
    fake.merge_mr(project, mr.iid, user="alice")
    deliveries = fake.pending_deliveries()
    fake.drop_pending()

    events = [parse_gitlab(d.event, d.idempotency_key, d.payload) for d in deliveries]
    assert [(e.name, e.action) for e in events] == [
        ("push", None),
        ("pull_request", "opened"),
        ("pull_request", "ready_for_review"),
        ("pull_request", "edited"),
        ("push", None),
        ("pull_request", "synchronize"),
        ("issue_comment", "created"),
        ("pull_request_review", "submitted"),
        ("pull_request_review", "dismissed"),
        ("pull_request_review", "submitted"),
        ("push", None),
        ("pull_request", "closed"),
    ]
    assert all(route(e) and e.forge == "gitlab" for e in events)
    assert {e.repo.full_name for e in events if e.repo} == {"acme/platform/shop"}
    opened, ready, edited = events[1:4]
    assert isinstance(opened, PullRequestEvent) and opened.pull_request is not None
    assert opened.pull_request.author == "dev"  # the opener is the author
    assert opened.pull_request.draft and not ready.pull_request.draft  # type: ignore[union-attr]
    assert edited.changes == {"body": {"from": ""}}  # type: ignore[attr-defined]
    sync = events[5]
    assert isinstance(sync, PullRequestEvent) and sync.pull_request is not None
    assert sync.pull_request.head_sha == fake.branch_sha(project, "feature")
    comment = events[6]
    assert isinstance(comment, CommentEvent)
    assert (comment.author, comment.number, comment.on_pull_request) == ("alice", mr.iid, True)
    approval = events[7]
    assert isinstance(approval, ReviewEvent)
    assert (approval.reviewer, approval.commit_id) == ("alice", sync.pull_request.head_sha)
    merged = events[-1]
    assert isinstance(merged, PullRequestEvent) and merged.pull_request is not None
    pr = merged.pull_request
    assert (pr.merged, pr.merged_by, pr.state) == (True, "alice", "closed")
    assert pr.merge_sha == fake.branch_sha(project, "main")
    assert merged.sender == "alice"


# -- never anything but PayloadError ------------------------------------------------------------

HEADERS = [MR, NOTE, "Push Hook", "Emoji Hook", "pull_request", "issue_comment", "push"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
VALID = [(h, p) for h, p in ROUTED] + [("Emoji Hook", example("emoji"))]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            found.extend(_paths(item, (*prefix, key)))
    return found


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(HEADERS), st.dictionaries(st.text(max_size=20), JSON, max_size=8))
def test_any_json_object_is_an_event_or_a_payload_error(header, payload):
    with contextlib.suppress(PayloadError):
        assert isinstance(parse_gitlab(header, "k", payload), Event)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_any_field_of_a_real_payload_replaced_is_an_event_or_a_payload_error(valid, data):
    header, payload = valid
    payload = copy.deepcopy(payload)
    for _ in range(data.draw(st.integers(1, 3))):
        *parents, last = data.draw(st.sampled_from(_paths(payload)[1:]))
        target = payload
        for key in parents:
            target = target[key]
        target[last] = data.draw(JSON)
    with contextlib.suppress(PayloadError):
        assert isinstance(parse_gitlab(header, "k", payload), Event)


# -- pipelines -----------------------------------------------------------------------------------


def pipeline(source: str = "push", status: str = "created", mr: bool = True) -> dict[str, Any]:
    """A ``Pipeline Hook`` with the fields GitLab documents (webhook_events.md, Pipeline events)."""
    payload: dict[str, Any] = {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": 31,
            "iid": 3,
            "ref": "ms-viewport",
            "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
            "source": source,
            "status": status,
        },
        "user": {"id": 1, "username": "root"},
        "project": example("merge_request")["project"],
    }
    if mr:
        payload["merge_request"] = {"id": 1, "iid": 1, "title": "Test", "state": "opened"}
    return payload


def test_a_ci_pipeline_starting_on_an_mr_asks_for_the_statuses_again():
    event = parse_gitlab("Pipeline Hook", "k", pipeline())
    assert (event.name, event.action) == ("pipeline", "requested")
    assert event.head_sha == "bcbb5ec396a2c0f828686f14fac9b80b780504f2"
    assert event.pull_numbers == (1,)
    assert route(event)  # the statuses are posted again into the new pipeline
    assert parse_gitlab(event.name, "k", pipeline()) == event  # read again by the worker


@pytest.mark.parametrize(
    "payload",
    [
        pipeline(source="external"),  # the bot's own statuses make these: never a loop
        pipeline(status="success"),  # finished: the statuses were in it, or are posted after
        pipeline(mr=False),  # a branch pipeline of no merge request
    ],
)
def test_other_pipelines_are_acknowledged_and_not_run(payload):
    assert route(parse_gitlab("Pipeline Hook", "k", payload)) == ()
