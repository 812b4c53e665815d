"""Repository endpoints: branches, protected branches, files, tree, compare, commits, statuses."""

from __future__ import annotations

from typing import Any

from flask import Response

from .. import auth
from ..auth import ApiError
from ..router import route
from ..server import Ctx
from ..state import DEVELOPER, REPORTER, Project

FILE_SCOPES = ("api", "read_api", "read_repository")


def _resolve(ctx: Ctx, project: Project, ref: str | None, what: str = "Commit") -> str:
    sha = (
        project.git.resolve(ref or project.default_branch)
        if (ref or project.default_branch)
        else None
    )
    if sha is None:
        raise auth.not_found(what)
    return sha


# -- branches ---------------------------------------------------------------------------------
@route("GET", "/projects/{id}/repository/branches", anonymous=True)
def list_branches(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require_code(project)
    branches = sorted(project.git.refs("refs/heads/").items())
    search = ctx.param("search")
    rows = [(name.removeprefix("refs/heads/"), sha) for name, sha in branches]
    if search:
        needle = str(search)
        if needle.startswith("^"):
            rows = [r for r in rows if r[0].startswith(needle[1:])]
        elif needle.endswith("$"):
            rows = [r for r in rows if r[0].endswith(needle[:-1])]
        else:
            rows = [r for r in rows if needle.lower() in r[0].lower()]
    user = ctx.principal.user
    return ctx.page(rows, lambda r: ctx.render.branch(project, r[0], r[1], user))


@route("GET", "/projects/{id}/repository/branches/{branch}", anonymous=True)
def get_branch(ctx: Ctx, id: str, branch: str) -> Any:
    project = ctx.project(id)
    ctx.require_code(project)
    sha = project.git.branch_sha(branch)
    if sha is None:
        raise auth.not_found("Branch")
    return ctx.render.branch(project, branch, sha, ctx.principal.user)


@route("POST", "/projects/{id}/repository/branches")
def create_branch(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, DEVELOPER)
    ctx.required("branch", "ref")
    name, ref = str(ctx.param("branch")), str(ctx.param("ref"))
    if project.git.branch_sha(name) is not None:
        raise ApiError(400, "Branch already exists")
    if not auth.can_push(ctx.state, ctx.principal, project, name):
        raise auth.forbidden()
    sha = project.git.resolve(ref)
    if sha is None:
        raise ApiError(400, "Invalid reference name: " + ref)
    project.git.update_ref(f"refs/heads/{name}", sha)
    ctx.fake._after_ref_update(project, f"refs/heads/{name}", None, sha, ctx.user)
    return 201, ctx.render.branch(project, name, sha, ctx.user)


@route("DELETE", "/projects/{id}/repository/branches/{branch}")
def delete_branch(ctx: Ctx, id: str, branch: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, DEVELOPER)
    sha = project.git.branch_sha(branch)
    if sha is None:
        raise auth.not_found("Branch")
    if branch == project.default_branch:
        raise ApiError(405, "The default branch of a project cannot be deleted.")
    if ctx.state.protected_branch(project, branch) is not None:
        raise ApiError(403, "Protected branch cant be deleted")
    project.git.delete_ref(f"refs/heads/{branch}")
    ctx.fake._after_ref_update(project, f"refs/heads/{branch}", sha, None, ctx.user)
    return 204, None


@route("GET", "/projects/{id}/protected_branches")
def list_protected(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, DEVELOPER)
    rows = list(project.protected_branches)
    search = ctx.param("search")
    if search:
        rows = [p for p in rows if str(search) in p.name]
    return ctx.page(rows, ctx.render.protected_branch)


@route("GET", "/projects/{id}/protected_branches/{name}")
def get_protected(ctx: Ctx, id: str, name: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, DEVELOPER)
    found = next((p for p in project.protected_branches if p.name == name), None)
    if found is None:
        raise auth.not_found("Protected Branch")
    return ctx.render.protected_branch(found)


# -- files and trees --------------------------------------------------------------------------
def _file(ctx: Ctx, project: Project, file_path: str, ref: str | None) -> tuple[str, bytes]:
    ctx.require_code(project)
    sha = project.git.resolve(ref) if ref else None
    if sha is None:
        raise auth.not_found("Commit")
    entry = project.git.entry(sha, file_path)
    if entry is None or entry.type != "blob":
        raise auth.not_found("File")
    return sha, project.git.cat(entry.sha)


@route("GET", "/projects/{id}/repository/files/{file_path}", anonymous=True, scopes=FILE_SCOPES)
def get_file(ctx: Ctx, id: str, file_path: str) -> Any:
    project = ctx.project(id)
    ctx.required("ref")
    ref = str(ctx.param("ref"))
    sha, content = _file(ctx, project, file_path, ref)
    return ctx.render.file(project, ref, sha, file_path, content)


@route("GET", "/projects/{id}/repository/files/{file_path}/raw", anonymous=True, scopes=FILE_SCOPES)
def get_raw_file(ctx: Ctx, id: str, file_path: str) -> Any:
    project = ctx.project(id)
    ref = ctx.param("ref") or project.default_branch
    sha, content = _file(ctx, project, file_path, ref)
    info = ctx.render.file(project, ref, sha, file_path, content)
    response = Response(content, status=200, content_type="text/plain; charset=utf-8")
    response.headers["X-Gitlab-File-Path"] = file_path
    response.headers["X-Gitlab-Ref"] = ref
    response.headers["X-Gitlab-Blob-Id"] = info["blob_id"]
    response.headers["X-Gitlab-Commit-Id"] = sha
    response.headers["X-Gitlab-Last-Commit-Id"] = info["last_commit_id"]
    response.headers["X-Gitlab-Size"] = str(len(content))
    return response


def _file_change(ctx: Ctx, id: str, file_path: str, action: str) -> Any:
    project = ctx.project(id)
    ctx.required("branch", "commit_message")
    entry = {"action": action, "file_path": file_path}
    for key in ("content", "encoding", "last_commit_id", "execute_filemode"):
        if ctx.param(key) is not None:
            entry[key] = ctx.param(key)
    branch = str(ctx.param("branch"))
    if not auth.can_push(ctx.state, ctx.principal, project, branch):
        raise ApiError(403, "You are not allowed to push into this branch")
    ctx.fake.commit_actions(
        project,
        branch=branch,
        message=str(ctx.param("commit_message")),
        actions=[entry],
        user=ctx.user,
        start_branch=ctx.param("start_branch"),
        author_name=ctx.param("author_name"),
        author_email=ctx.param("author_email"),
    )
    return {"file_path": file_path, "branch": branch}


@route("POST", "/projects/{id}/repository/files/{file_path}")
def create_file(ctx: Ctx, id: str, file_path: str) -> Any:
    return 201, _file_change(ctx, id, file_path, "create")


@route("PUT", "/projects/{id}/repository/files/{file_path}")
def update_file(ctx: Ctx, id: str, file_path: str) -> Any:
    return _file_change(ctx, id, file_path, "update")


@route("DELETE", "/projects/{id}/repository/files/{file_path}")
def delete_file(ctx: Ctx, id: str, file_path: str) -> Any:
    _file_change(ctx, id, file_path, "delete")
    return 204, None


@route("GET", "/projects/{id}/repository/tree", anonymous=True)
def tree(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require_code(project)
    sha = _resolve(ctx, project, ctx.param("ref"), "Tree")
    path = str(ctx.param("path") or "").strip("/")
    recursive = ctx.bool_param("recursive")
    if path:
        entry = project.git.entry(sha, path)
        if entry is None or entry.type != "tree":
            raise auth.not_found("Tree")
        treeish = f"{sha}:{path}"
    else:
        treeish = sha
    entries = project.git.ls_tree(treeish, recursive=recursive)
    rows = []
    for e in entries:
        full = f"{path}/{e.path}" if path else e.path
        rows.append(
            {
                "id": e.sha,
                "name": e.path.rsplit("/", 1)[-1],
                "type": "tree" if e.type == "tree" else "blob",
                "path": full,
                "mode": e.mode,
            }
        )
    if not recursive:
        rows.sort(key=lambda r: (r["type"] != "tree", r["name"]))
    return ctx.page(rows)


@route("GET", "/projects/{id}/repository/compare", anonymous=True)
def compare(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require_code(project)
    ctx.required("from", "to")
    a = project.git.resolve(str(ctx.param("from")))
    b = project.git.resolve(str(ctx.param("to")))
    if a is None or b is None:
        raise auth.not_found("Ref")
    base = a if ctx.bool_param("straight") else (project.git.merge_base(a, b) or a)
    shas = project.git.commits_between(base, b)
    diffs = [ctx.render.diff(c) for c in project.git.diff_files(base, b)]
    return {
        "commit": ctx.render.commit(project, shas[-1]) if shas else None,
        "commits": [ctx.render.commit(project, s) for s in shas],
        "diffs": diffs,
        "compare_timeout": False,
        "compare_same_ref": a == b,
        "web_url": f"{ctx.render.project_url(project)}/-/compare/{a}...{b}",
    }


# -- commits ----------------------------------------------------------------------------------
@route("GET", "/projects/{id}/repository/commits", anonymous=True)
def list_commits(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require_code(project)
    sha = _resolve(ctx, project, ctx.param("ref_name"))
    args = ["rev-list", sha]
    path = ctx.param("path")
    if path:
        args += ["--", str(path)]
    shas = project.git.run(*args).split()
    return ctx.page(shas, lambda s: ctx.render.commit(project, s))


@route("POST", "/projects/{id}/repository/commits")
def create_commit(ctx: Ctx, id: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, DEVELOPER)
    ctx.required("branch", "commit_message", "actions")
    branch = str(ctx.param("branch"))
    if not auth.can_push(ctx.state, ctx.principal, project, branch):
        raise ApiError(403, "You are not allowed to push into this branch")
    actions = ctx.param("actions")
    if not isinstance(actions, list):
        raise ApiError(400, error="actions is invalid")
    sha = ctx.fake.commit_actions(
        project,
        branch=branch,
        message=str(ctx.param("commit_message")),
        actions=actions,
        user=ctx.user,
        start_branch=ctx.param("start_branch"),
        start_sha=ctx.param("start_sha"),
        author_name=ctx.param("author_name"),
        author_email=ctx.param("author_email"),
        force=ctx.bool_param("force"),
    )
    return 201, ctx.render.commit_detail(project, sha, stats=ctx.bool_param("stats", True))


@route("GET", "/projects/{id}/repository/commits/{sha}", anonymous=True)
def get_commit(ctx: Ctx, id: str, sha: str) -> Any:
    project = ctx.project(id)
    ctx.require_code(project)
    commit = project.git.resolve(sha)
    if commit is None:
        raise auth.not_found("Commit")
    return ctx.render.commit_detail(project, commit, stats=ctx.bool_param("stats", True))


@route("GET", "/projects/{id}/repository/commits/{sha}/diff", anonymous=True)
def commit_diff(ctx: Ctx, id: str, sha: str) -> Any:
    project = ctx.project(id)
    ctx.require_code(project)
    commit = project.git.resolve(sha)
    if commit is None:
        raise auth.not_found("Commit")
    parents = project.git.commit_info(commit).parents
    base = parents[0] if parents else "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    return ctx.page(project.git.diff_files(base, commit), ctx.render.diff)


@route("GET", "/projects/{id}/repository/commits/{sha}/merge_requests", anonymous=True)
def commit_merge_requests(ctx: Ctx, id: str, sha: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, REPORTER)
    commit = project.git.resolve(sha)
    if commit is None:
        raise auth.not_found("Commit")
    found = []
    for mr in project.merge_requests.values():
        base = project.git.merge_base(mr.start_sha, mr.head_sha) or mr.start_sha
        if (
            commit in project.git.commits_between(base, mr.head_sha)
            or commit == mr.merge_commit_sha
        ):
            found.append(mr)
    return ctx.page(found, lambda m: ctx.render.merge_request(project, m, full=False))


# -- statuses ---------------------------------------------------------------------------------
@route("POST", "/projects/{id}/statuses/{sha}")
def post_status(ctx: Ctx, id: str, sha: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, DEVELOPER)
    ctx.required("state")
    coverage = ctx.param("coverage")
    status = ctx.fake.post_status(
        project,
        sha,
        str(ctx.param("state")),
        user=ctx.user,
        name=ctx.param("name") or ctx.param("context"),
        ref=ctx.param("ref"),
        target_url=ctx.param("target_url"),
        description=ctx.param("description"),
        coverage=float(coverage) if coverage is not None else None,
        pipeline_id=ctx.int_param("pipeline_id"),
        token_id=ctx.token_id,
    )
    return 201, ctx.render.status(project, status)


@route("GET", "/projects/{id}/repository/commits/{sha}/statuses", anonymous=True)
def list_statuses(ctx: Ctx, id: str, sha: str) -> Any:
    project = ctx.project(id)
    ctx.require(project, REPORTER)
    commit = project.git.resolve(sha)
    if commit is None:
        raise auth.not_found("Commit")
    rows = [s for s in project.statuses if s.sha == commit]
    if not ctx.bool_param("all"):
        rows = [s for s in rows if not s.retried]
    ref, name = ctx.param("ref"), ctx.param("name")
    if ref:
        rows = [s for s in rows if s.ref == ref]
    if name:
        rows = [s for s in rows if s.name == name]
    pipeline_id = ctx.int_param("pipeline_id")
    if pipeline_id is not None:
        rows = [s for s in rows if s.pipeline_id == pipeline_id]
    key = "pipeline_id" if ctx.param("order_by") == "pipeline_id" else "id"
    rows.sort(key=lambda s: getattr(s, key), reverse=ctx.param("sort") == "desc")
    return ctx.page(rows, lambda s: ctx.render.status(project, s))
