"""Git Data REST endpoints: refs, blobs, trees and commits, written into the real repository.

Commits created here by an App without a custom author, committer or signature are marked
verified, as GitHub signs them (PLATFORM §7.6); the mark lives in the fake's state, not in git.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..auth import ApiError, not_found
from ..git import GitError, Person
from ..router import ROUTER
from ..server import Ctx
from ..state import Repository, now

route = ROUTER.route
READ = ("contents:read",)
WRITE = ("contents:write",)


def _ref_name(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/{ref}"


@route("GET", "/repos/{owner}/{repo}/git/ref/{ref}", permissions=READ, multi_segment=("ref",))
def get_ref(ctx: Ctx, owner: str, repo: str, ref: str) -> Any:
    r = ctx.repo(owner, repo)
    name = _ref_name(ref)
    sha = r.git.refs(name).get(name)
    if sha is None:
        raise not_found()
    return ctx.render.git_ref(r, name, sha)


@route(
    "GET",
    "/repos/{owner}/{repo}/git/matching-refs/{ref}",
    permissions=READ,
    multi_segment=("ref",),
)
def matching_refs(ctx: Ctx, owner: str, repo: str, ref: str) -> Any:
    r = ctx.repo(owner, repo)
    prefix = _ref_name(ref)
    refs = sorted(
        (n, s)
        for n, s in r.git.refs("refs/").items()
        if n.startswith(prefix) and not n.startswith("refs/pull/")
    )
    return ctx.page(refs, lambda pair: ctx.render.git_ref(r, pair[0], pair[1]))


@route("POST", "/repos/{owner}/{repo}/git/refs", permissions=WRITE)
def create_ref(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    name, sha = ctx.body("ref"), ctx.body("sha")
    if not name.startswith("refs/") or name.count("/") < 2:
        raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    if name in r.git.refs(name):
        raise ApiError(422, "Reference already exists")
    if r.git.object_type(sha) is None:
        raise ApiError(422, "Object does not exist")
    r.git.update_ref(name, sha)
    ctx.fake._after_ref_update(r, name, None, sha, ctx.actor)
    return 201, ctx.render.git_ref(r, name, sha)


@route("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}", permissions=WRITE, multi_segment=("ref",))
def update_ref(ctx: Ctx, owner: str, repo: str, ref: str) -> Any:
    r = ctx.repo(owner, repo)
    name = _ref_name(ref)
    before = r.git.refs(name).get(name)
    if before is None:
        raise ApiError(422, "Reference does not exist")
    sha = ctx.body("sha")
    if r.git.object_type(sha) is None:
        raise ApiError(422, "Object does not exist")
    force = bool(ctx.body("force", False))
    if not force and not r.git.is_ancestor(before, sha):
        raise ApiError(422, "Update is not a fast forward")
    r.git.update_ref(name, sha, before)
    ctx.fake._after_ref_update(r, name, before, sha, ctx.actor, forced=force and before != sha)
    return ctx.render.git_ref(r, name, sha)


@route("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}", permissions=WRITE, multi_segment=("ref",))
def delete_ref(ctx: Ctx, owner: str, repo: str, ref: str) -> Any:
    r = ctx.repo(owner, repo)
    name = _ref_name(ref)
    before = r.git.refs(name).get(name)
    if before is None:
        raise ApiError(422, "Reference does not exist")
    r.git.delete_ref(name)
    ctx.fake._after_ref_update(r, name, before, None, ctx.actor)
    return 204, None


# -- blobs ------------------------------------------------------------------------------------
@route("POST", "/repos/{owner}/{repo}/git/blobs", permissions=WRITE)
def create_blob(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    content, encoding = ctx.body("content"), ctx.body("encoding", "utf-8")
    if encoding == "base64":
        try:
            data = base64.b64decode(content, validate=False)
        except binascii.Error as exc:
            raise ApiError(422, "Invalid base64 content") from exc
    elif encoding in ("utf-8", "utf8"):
        data = content.encode()
    else:
        raise ApiError(422, f"encoding must be utf-8 or base64, not {encoding}")
    sha = r.git.hash_blob(data)
    return 201, {"url": f"{ctx.render.api}/repos/{r.full_name}/git/blobs/{sha}", "sha": sha}


@route("GET", "/repos/{owner}/{repo}/git/blobs/{file_sha}", permissions=READ)
def get_blob(ctx: Ctx, owner: str, repo: str, file_sha: str) -> Any:
    r = ctx.repo(owner, repo)
    if r.git.object_type(file_sha) != "blob":
        raise not_found()
    data = r.git.cat(file_sha)
    return {
        "sha": file_sha,
        "node_id": f"B_{file_sha}",
        "size": len(data),
        "url": f"{ctx.render.api}/repos/{r.full_name}/git/blobs/{file_sha}",
        "content": base64.encodebytes(data).decode(),
        "encoding": "base64",
    }


# -- trees ------------------------------------------------------------------------------------
def _tree_json(ctx: Ctx, r: Repository, sha: str, recursive: bool) -> dict[str, Any]:
    entries = r.git.ls_tree(sha, recursive=recursive)
    base = f"{ctx.render.api}/repos/{r.full_name}/git"
    return {
        "sha": sha,
        "url": f"{base}/trees/{sha}",
        "tree": [
            {
                "path": e.path,
                "mode": e.mode,
                "type": e.type,
                "sha": e.sha,
                **({"size": e.size} if e.size is not None else {}),
                "url": f"{base}/{e.type}s/{e.sha}",
            }
            for e in entries
        ],
        "truncated": False,
    }


@route("POST", "/repos/{owner}/{repo}/git/trees", permissions=WRITE)
def create_tree(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    base_tree = ctx.body("base_tree")
    if base_tree:
        resolved = r.git.run(
            "rev-parse", "--verify", "--quiet", f"{base_tree}^{{tree}}", check=False
        ).strip()
        if not resolved:
            raise ApiError(422, "base_tree is not a valid tree oid")
        base_tree = resolved
    changes: list[tuple[str, str, str | None]] = []
    for item in ctx.body("tree"):
        path, mode = item["path"].strip("/"), item["mode"]
        if "content" in item and item["content"] is not None:
            changes.append((path, mode, r.git.hash_blob(item["content"].encode())))
        elif item.get("sha") is None:
            changes.append((path, mode, None))
        else:
            if r.git.object_type(item["sha"]) is None and mode != "160000":
                raise ApiError(422, f"tree.sha {item['sha']} is not a valid {item.get('type')}")
            changes.append((path, mode, item["sha"]))
    try:
        sha = r.git.mktree_from(base_tree, changes)
    except KeyError as exc:
        raise ApiError(
            422, f"GitRPC::BadObjectState: tree.path {exc.args[0]} does not exist"
        ) from exc
    except GitError as exc:
        raise ApiError(422, "Invalid tree info") from exc
    return 201, _tree_json(ctx, r, sha, recursive=False)


@route("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}", permissions=READ)
def get_tree(ctx: Ctx, owner: str, repo: str, tree_sha: str) -> Any:
    r = ctx.repo(owner, repo)
    resolved = r.git.run(
        "rev-parse", "--verify", "--quiet", f"{tree_sha}^{{tree}}", check=False
    ).strip()
    if not resolved:
        raise not_found()
    recursive = ctx.arg("recursive") not in (None, "", "0", "false")
    return _tree_json(ctx, r, resolved, recursive)


# -- commits ----------------------------------------------------------------------------------
def _person(data: dict[str, Any] | None, fallback: Person) -> Person:
    if not data:
        return fallback
    from datetime import datetime

    date = data.get("date")
    when = datetime.fromisoformat(date.replace("Z", "+00:00")) if date else now()
    return Person(data.get("name") or fallback.name, data.get("email") or fallback.email, when)


@route("POST", "/repos/{owner}/{repo}/git/commits", permissions=WRITE)
def create_commit(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    tree = ctx.body("tree")
    if r.git.object_type(tree) != "tree":
        raise ApiError(422, "Tree SHA does not exist")
    parents = ctx.body("parents") or []
    for parent in parents:
        if r.git.object_type(parent) != "commit":
            raise ApiError(422, "Parent SHA does not exist or is not a commit object")
    actor = ctx.state.account(ctx.actor)
    default = Person(
        (actor.login if actor and actor.type == "Bot" else (actor.name if actor else ctx.actor))
        or ctx.actor,
        (actor.email if actor else None) or f"{ctx.actor}@users.noreply.github.com",
        now(),
    )
    custom = any(ctx.body(k) for k in ("author", "committer", "signature"))
    author = _person(ctx.body("author"), default)
    committer = _person(ctx.body("committer"), author if ctx.body("author") else default)
    if not custom and ctx.principal.kind == "installation":
        committer = Person("GitHub", "noreply@github.com", now())
    sha = r.git.commit_tree(tree, parents, ctx.body("message"), author, committer)
    if not custom and ctx.principal.kind == "installation":
        # "Signature verification for bots will only work if ... no custom author ..."
        r.verified_commits[sha] = "valid"
    return 201, ctx.render.git_commit(r, r.git.commit_info(sha))


@route("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}", permissions=READ)
def get_git_commit(ctx: Ctx, owner: str, repo: str, commit_sha: str) -> Any:
    r = ctx.repo(owner, repo)
    if r.git.object_type(commit_sha) != "commit":
        raise not_found()
    return ctx.render.git_commit(r, r.git.commit_info(commit_sha))
