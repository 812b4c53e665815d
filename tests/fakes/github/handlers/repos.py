"""Repository-level REST endpoints: the repository, contents, compare, collaborators, CODEOWNERS."""

from __future__ import annotations

import base64
from typing import Any

from ..auth import ApiError, not_found
from ..codeowners import codeowners_errors
from ..router import ROUTER
from ..server import Ctx
from ..state import PERMISSION_ORDER

route = ROUTER.route


@route("GET", "/repos/{owner}/{repo}", permissions=("metadata:read",))
def get_repo(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    data = ctx.render.repository(r)
    if ctx.principal.kind == "user":
        perm = ctx.state.user_permission(r, ctx.actor)
        data["permissions"] = {
            "admin": perm == "admin",
            "maintain": perm in ("admin", "maintain"),
            "push": perm in ("admin", "maintain", "write"),
            "triage": perm in ("admin", "maintain", "write", "triage"),
            "pull": perm != "none",
        }
    return data


@route(
    "GET",
    "/repos/{owner}/{repo}/collaborators/{username}/permission",
    permissions=("metadata:read",),
)
def collaborator_permission(ctx: Ctx, owner: str, repo: str, username: str) -> Any:
    r = ctx.repo(owner, repo)
    account = ctx.state.account(username)
    if account is None:
        raise not_found()
    role = ctx.state.user_permission(r, username)
    if role == "none":
        raise ApiError(404, f"{account.login} is not a user")  # GitHub: not a collaborator
    # `permission` is the legacy four-level value; `role_name` the five-level role.
    legacy = {"maintain": "write", "triage": "read"}.get(role, role)
    user = ctx.render.user(account)
    assert user is not None
    user["permissions"] = {
        "admin": role == "admin",
        "maintain": PERMISSION_ORDER.index(role) >= PERMISSION_ORDER.index("maintain"),
        "push": PERMISSION_ORDER.index(role) >= PERMISSION_ORDER.index("write"),
        "triage": PERMISSION_ORDER.index(role) >= PERMISSION_ORDER.index("triage"),
        "pull": True,
    }
    user["role_name"] = role
    return {"permission": legacy, "role_name": role, "user": user}


@route(
    "GET",
    "/repos/{owner}/{repo}/contents/{path}",
    permissions=("contents:read",),
    multi_segment=("path",),
)
def get_contents(ctx: Ctx, owner: str, repo: str, path: str) -> Any:
    r = ctx.repo(owner, repo)
    ref = ctx.arg("ref") or r.default_branch
    sha = r.git.resolve(ref)
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    entry = r.git.entry(sha, path)
    if entry is None:
        raise not_found()
    base = f"{ctx.render.api}/repos/{r.full_name}/contents"
    if entry.type == "tree":
        return [
            _content_item(ctx, r.full_name, sha, e.path, e.type, e.sha, e.size, base)
            for e in r.git.ls_tree(f"{sha}:{path}")
        ]
    data = r.git.cat(entry.sha)
    item = _content_item(ctx, r.full_name, sha, path, entry.type, entry.sha, len(data), base)
    item["content"] = base64.encodebytes(data).decode()
    item["encoding"] = "base64"
    return item


def _content_item(
    ctx: Ctx,
    full_name: str,
    commit: str,
    path: str,
    kind: str,
    sha: str,
    size: int | None,
    base: str,
) -> dict[str, Any]:
    name = path.rsplit("/", 1)[-1]
    gtype = "dir" if kind == "tree" else "file"
    url = f"{base}/{path}?ref={commit}"
    git_url = (
        f"{ctx.render.api}/repos/{full_name}/git/{'trees' if kind == 'tree' else 'blobs'}/{sha}"
    )
    html = f"{ctx.render.web}/{full_name}/{'tree' if kind == 'tree' else 'blob'}/{commit}/{path}"
    return {
        "type": gtype,
        "size": size or 0,
        "name": name,
        "path": path,
        "sha": sha,
        "url": url,
        "git_url": git_url,
        "html_url": html,
        "download_url": None
        if kind == "tree"
        else f"{ctx.render.web}/{full_name}/raw/{commit}/{path}",
        "_links": {"self": url, "git": git_url, "html": html},
    }


@route("GET", "/repos/{owner}/{repo}/compare/{basehead}", permissions=("contents:read",))
def compare(ctx: Ctx, owner: str, repo: str, basehead: str) -> Any:
    r = ctx.repo(owner, repo)
    if "..." not in basehead:
        raise not_found()
    base_name, head_name = basehead.split("...", 1)
    base, head = r.git.resolve(base_name), r.git.resolve(head_name)
    if base is None or head is None:
        raise not_found()
    merge_base = r.git.merge_base(base, head)
    if merge_base is None:
        raise ApiError(404, f"No common ancestor between {base_name} and {head_name}.")
    ahead = r.git.commits_between(base, head)
    behind = r.git.commits_between(head, base)
    status = (
        "identical"
        if not ahead and not behind
        else "ahead"
        if not behind
        else "behind"
        if not ahead
        else "diverged"
    )
    files = r.git.diff_files(merge_base, head)
    commits = ctx.page(ahead, lambda sha: ctx.render.commit(r, sha))
    web = f"{ctx.render.web}/{r.full_name}/compare/{basehead}"
    data: dict[str, Any] = {
        "url": f"{ctx.render.api}/repos/{r.full_name}/compare/{basehead}",
        "html_url": web,
        "permalink_url": web,
        "diff_url": f"{web}.diff",
        "patch_url": f"{web}.patch",
        "base_commit": ctx.render.commit(r, base),
        "merge_base_commit": ctx.render.commit(r, merge_base),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": commits,
    }
    if ctx.int_arg("page", 1) == 1:
        # "up to 300 changed files for the entire comparison", on the first page only.
        data["files"] = [ctx.render.diff_entry(r, head, f) for f in files[:300]]
    return data


@route("GET", "/repos/{owner}/{repo}/commits/{ref}", permissions=("contents:read",))
def get_commit(ctx: Ctx, owner: str, repo: str, ref: str) -> Any:
    r = ctx.repo(owner, repo)
    sha = r.git.resolve(ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    info = r.git.commit_info(sha)
    parent = info.parents[0] if info.parents else None
    if parent:
        files = r.git.diff_files(parent, sha)
    else:
        files = r.git.diff_files("4b825dc642cb6eb9a060e54bf8d69288fbee4904", sha)
    return ctx.render.commit(r, sha, files=files)


@route("GET", "/repos/{owner}/{repo}/codeowners/errors", permissions=("contents:read",))
def get_codeowners_errors(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    ref = ctx.arg("ref") or r.default_branch
    sha = r.git.resolve(ref)
    if sha is None:
        raise not_found()
    for path in (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"):
        data = r.git.read_file(sha, path)
        if data is not None:
            return {"errors": codeowners_errors(ctx.state, r, path, data.decode(errors="replace"))}
    # GitHub answers 404 when the ref has no CODEOWNERS file.
    raise not_found()


# -- branches and labels ------------------------------------------------------------------------
def _branch(ctx: Ctx, r: Any, name: str, sha: str, full: bool) -> dict[str, Any]:
    base = f"{ctx.render.api}/repos/{r.full_name}/branches/{name}"
    data: dict[str, Any] = {
        "name": name,
        "commit": ctx.render.commit(r, sha)
        if full
        else {"sha": sha, "url": f"{ctx.render.api}/repos/{r.full_name}/commits/{sha}"},
        "protected": name in r.protected_branches,
        "protection_url": f"{base}/protection",
    }
    if full:
        data["_links"] = {"self": base, "html": f"{ctx.render.web}/{r.full_name}/tree/{name}"}
        data["protection"] = {
            "enabled": name in r.protected_branches,
            "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
        }
    return data


@route("GET", "/repos/{owner}/{repo}/branches", permissions=("contents:read",))
def list_branches(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    branches = sorted(r.git.refs("refs/heads/").items())
    wanted = ctx.arg("protected")
    if wanted in ("true", "false"):
        branches = [
            (ref, sha)
            for ref, sha in branches
            if (ref.removeprefix("refs/heads/") in r.protected_branches) == (wanted == "true")
        ]
    return ctx.page(
        branches,
        lambda pair: _branch(ctx, r, pair[0].removeprefix("refs/heads/"), pair[1], full=False),
    )


@route("GET", "/repos/{owner}/{repo}/branches/{branch}", permissions=("contents:read",))
def get_branch(ctx: Ctx, owner: str, repo: str, branch: str) -> Any:
    r = ctx.repo(owner, repo)
    sha = r.git.branch_sha(branch)
    if sha is None:
        raise ApiError(404, "Branch not found")
    return _branch(ctx, r, branch, sha, full=True)


@route("GET", "/repos/{owner}/{repo}/labels", permissions=("issues:read", "pull_requests:read"))
def list_repo_labels(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    labels = sorted(r.labels.values(), key=lambda label: label.name.lower())
    return ctx.page(labels, lambda label: ctx.render.label(r, label))


@route("POST", "/repos/{owner}/{repo}/labels", permissions=("issues:write", "pull_requests:write"))
def create_label(ctx: Ctx, owner: str, repo: str) -> Any:
    r = ctx.repo(owner, repo)
    name = ctx.body("name")
    if name.lower() in r.labels:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "Label", "code": "already_exists", "field": "name"}],
        )
    label = ctx.fake._ensure_label(r, name)
    label.color = (ctx.body("color") or label.color).lstrip("#")
    label.description = ctx.body("description")
    return 201, ctx.render.label(r, label)
