"""The one GraphQL mutation the bot may use: `createCommitOnBranch` (PLATFORM §7.6).

No GraphQL engine: the request must carry the mutation with its input in `variables.input`, the
way PyGithub's `graphql_named_mutation` sends it. Anything else is answered with a GraphQL error
and recorded as a violation, so that a bot drifting onto unsupported GraphQL is noticed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from flask import Request, Response

from .. import auth
from ..auth import ApiError
from ..git import Person
from ..server import Violation
from ..state import now

if TYPE_CHECKING:
    from ..fake import FakeGitHub

JSON = "application/json; charset=utf-8"


def _answer(
    data: Any = None, errors: list[dict[str, Any]] | None = None, status: int = 200
) -> Response:
    body: dict[str, Any] = {}
    if data is not None:
        body["data"] = data
    if errors:
        body["errors"] = errors
    return Response(json.dumps(body), status=status, content_type=JSON)


def handle_graphql(fake: FakeGitHub, request: Request) -> Response:
    fake._count("POST", "/graphql")
    try:
        payload = json.loads(request.get_data() or b"{}")
    except ValueError:
        return _answer(errors=[{"message": "Problems parsing JSON"}], status=400)
    query = payload.get("query") or ""
    variables = payload.get("variables") or {}
    with fake.state.lock:
        try:
            principal = auth.identify(fake.state, request.headers.get("Authorization"))
        except ApiError as error:
            return Response(json.dumps(error.body()), status=error.status, content_type=JSON)
        if principal.kind == "anonymous":
            return _answer(
                errors=[{"message": "This endpoint requires you to be authenticated."}], status=401
            )
        if not re.search(r"^\s*mutation\b[^{]*\{\s*createCommitOnBranch\s*\(", query):
            fake._violate(
                Violation(
                    "graphql",
                    "POST",
                    "/graphql",
                    None,
                    ["the fake serves only the createCommitOnBranch mutation"],
                )
            )
            return _answer(errors=[{"message": "The fake does not implement this operation"}])
        fake._count("GRAPHQL", "createCommitOnBranch")
        try:
            with fake._handling_request():
                result = _create_commit_on_branch(fake, principal, variables.get("input") or {})
        except GraphQLError as error:
            return _answer(
                data={"createCommitOnBranch": None},
                errors=[
                    {"type": error.kind, "path": ["createCommitOnBranch"], "message": str(error)}
                ],
            )
        return _answer(data={"createCommitOnBranch": result})


class GraphQLError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _create_commit_on_branch(
    fake: FakeGitHub, principal: auth.Principal, data: dict[str, Any]
) -> dict[str, Any]:
    for key in ("branch", "message", "expectedHeadOid"):
        if key not in data:
            raise GraphQLError(
                "INVALID", f"Argument '{key}' on CreateCommitOnBranchInput is required"
            )
    branch = data["branch"]
    full_name = branch.get("repositoryNameWithOwner")
    name = branch.get("branchName")
    if not full_name or not name:
        raise GraphQLError("INVALID", "branch needs repositoryNameWithOwner and branchName")
    repo = fake.state.repo(full_name)
    if repo is None or not auth.repo_visible(fake.state, principal, full_name):
        raise GraphQLError(
            "NOT_FOUND", f"Could not resolve to a Repository with the name '{full_name}'."
        )
    try:
        auth.check_permission(fake.state, principal, ("contents:write",), repo.full_name)
    except ApiError as error:
        raise GraphQLError("FORBIDDEN", error.message) from error
    head = repo.git.branch_sha(name)
    if head is None:
        raise GraphQLError("NOT_FOUND", f'A ref named "refs/heads/{name}" does not exist.')
    if data["expectedHeadOid"] != head:
        raise GraphQLError(
            "STALE_DATA",
            f'Expected branch to point to "{data["expectedHeadOid"]}" but it did not. '
            "Pull and try again.",
        )
    files: dict[str, bytes | None] = {}
    changes = data.get("fileChanges") or {}
    for addition in changes.get("additions") or []:
        try:
            files[addition["path"]] = base64.b64decode(addition["contents"], validate=True)
        except (binascii.Error, KeyError) as exc:
            raise GraphQLError("INVALID", "contents must be Base64") from exc
    for deletion in changes.get("deletions") or []:
        if repo.git.entry(head, deletion["path"]) is None:
            raise GraphQLError(
                "INVALID",
                f"A path was requested for deletion which does not exist as of commit oid `{head}`",
            )
        files[deletion["path"]] = None
    message = data["message"].get("headline", "")
    if data["message"].get("body"):
        message += "\n\n" + data["message"]["body"]
    actor = fake.state.account(principal.user or "")
    author = Person(
        principal.user or "ghost",
        (actor.email if actor else None) or "noreply@github.com",
        now(),
    )
    sha = repo.git.commit_files(
        head,
        files,
        message,
        author,
        Person("GitHub", "noreply@github.com", now()),  # type: ignore[arg-type]
    )
    repo.verified_commits[sha] = "valid"
    repo.git.update_ref(f"refs/heads/{name}", sha, head)
    fake._after_ref_update(repo, f"refs/heads/{name}", head, sha, principal.user or "ghost")
    return {
        "clientMutationId": data.get("clientMutationId"),
        "commit": {
            "oid": sha,
            "url": f"{fake.web_url}/{repo.full_name}/commit/{sha}",
            "message": message,
        },
        "ref": {"name": name, "target": {"oid": sha}},
    }
