"""JSON shapes of the fake's records, as GitLab's REST API (API::Entities) and hooks spell them.

One method per entity (UserBasic, Project, MergeRequest, Note, CommitStatus...) and per hook
attribute set (`hook_attrs` of projects, merge requests, issues, notes). Pure functions of the
state: nothing here mutates it.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

from ..github.git import CommitInfo, FileChange
from .state import (
    ACCESS_NAMES,
    Approval,
    ApprovalRule,
    Award,
    CommitStatus,
    Group,
    Hook,
    Issue,
    Member,
    MergeRequest,
    Note,
    Pipeline,
    Project,
    ProtectedBranch,
    State,
    User,
)

JsonDict = dict[str, Any]
ZERO_SHA = "0" * 40
VISIBILITY_LEVEL = {"private": 0, "internal": 10, "public": 20}


def ts(value: datetime | None) -> str | None:
    """GitLab's API timestamps: ISO 8601 in UTC with milliseconds and a Z."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def hook_ts(value: datetime | None) -> str | None:
    """The timestamp format of hook `*_attributes` (Rails' `attributes`): `... UTC`."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def git_ts(value: datetime | None) -> str | None:
    """Commit dates keep the committer's offset, as GitLab shows them."""
    return value.isoformat() if value is not None else None


class Renderer:
    def __init__(self, state: State, web_url: str) -> None:
        self.state = state
        self.web_url = web_url

    # -- users, groups, members -----------------------------------------------------------------
    def user(self, user: User | int | None) -> JsonDict | None:
        if isinstance(user, int):
            user = self.state.users.get(user)
        if user is None:
            return None
        return {
            "id": user.id,
            "username": user.username,
            "public_email": "",
            "name": user.name,
            "state": user.state,
            "locked": False,
            "avatar_url": f"{self.web_url}/uploads/-/system/user/avatar/{user.id}/avatar.png",
            "web_url": f"{self.web_url}/{user.username}",
        }

    def user_full(self, user: User, *, current: bool = False) -> JsonDict:
        out = dict(self.user(user) or {})
        out.update(
            {
                "created_at": ts(user.created_at),
                "bio": "",
                "location": "",
                "pronouns": None,
                "bot": user.bot,
                "job_title": "",
                "organization": "",
                "work_information": None,
            }
        )
        if current:
            out.update(
                {
                    "email": user.email,
                    "commit_email": user.email,
                    "is_admin": user.admin,
                    "can_create_group": not user.bot,
                    "can_create_project": not user.bot,
                    "two_factor_enabled": False,
                    "external": False,
                    "private_profile": False,
                    "last_sign_in_at": None,
                    "confirmed_at": ts(user.created_at),
                    "last_activity_on": None,
                    "projects_limit": 100000,
                    "identities": [],
                    "namespace_id": user.id,
                }
            )
        return out

    def hook_user(self, user: User) -> JsonDict:
        return {
            "id": user.id,
            "name": user.name,
            "username": user.username,
            "avatar_url": f"{self.web_url}/uploads/-/system/user/avatar/{user.id}/avatar.png",
            "email": "[REDACTED]",
        }

    def member(self, member: Member, *, group_saml: bool = False) -> JsonDict:
        user = self.state.users[member.user_id]
        out = dict(self.user(user) or {})
        out.update(
            {
                "access_level": member.access_level,
                "created_at": ts(member.created_at),
                "created_by": self.user(member.created_by) if member.created_by else None,
                "expires_at": member.expires_at.isoformat() if member.expires_at else None,
                "membership_state": "active",
                "member_role": None,
            }
        )
        return out

    def group(self, group: Group) -> JsonDict:
        return {
            "id": group.id,
            "web_url": f"{self.web_url}/groups/{group.full_path}",
            "name": group.name,
            "path": group.path,
            "description": group.description,
            "visibility": group.visibility,
            "full_name": " / ".join(g.name for g in reversed(self.state.ancestors(group))),
            "full_path": group.full_path,
            "parent_id": group.parent_id,
            "created_at": ts(group.created_at),
            "avatar_url": None,
            "request_access_enabled": False,
            "default_branch": None,
        }

    def namespace(self, project: Project) -> JsonDict:
        if project.namespace_kind == "group":
            g = self.state.groups[project.namespace_id]
            return {
                "id": g.id,
                "name": g.name,
                "path": g.path,
                "kind": "group",
                "full_path": g.full_path,
                "parent_id": g.parent_id,
                "avatar_url": None,
                "web_url": f"{self.web_url}/groups/{g.full_path}",
            }
        u = self.state.users[project.namespace_id]
        return {
            "id": u.id,
            "name": u.name,
            "path": u.username,
            "kind": "user",
            "full_path": u.username,
            "parent_id": None,
            "avatar_url": None,
            "web_url": f"{self.web_url}/{u.username}",
        }

    # -- projects ---------------------------------------------------------------------------
    def project_url(self, project: Project) -> str:
        return f"{self.web_url}/{project.path_with_namespace}"

    def project(self, project: Project, *, user: User | None = None) -> JsonDict:
        url = self.project_url(project)
        namespace = self.namespace(project)
        out: JsonDict = {
            "id": project.id,
            "description": project.description,
            "name": project.name,
            "name_with_namespace": f"{namespace['name']} / {project.name}",
            "path": project.path,
            "path_with_namespace": project.path_with_namespace,
            "created_at": ts(project.created_at),
            "default_branch": project.default_branch,
            "tag_list": [],
            "topics": [],
            "ssh_url_to_repo": f"git@127.0.0.1:{project.path_with_namespace}.git",
            "http_url_to_repo": f"{url}.git",
            "web_url": url,
            "readme_url": None,
            "forks_count": 0,
            "avatar_url": None,
            "star_count": 0,
            "last_activity_at": ts(project.last_activity_at),
            "namespace": namespace,
            "visibility": project.visibility,
            "archived": False,
            "empty_repo": not project.git.refs("refs/heads/"),
            "issues_enabled": True,
            "merge_requests_enabled": True,
            "creator_id": project.namespace_id if project.namespace_kind == "user" else None,
            "open_issues_count": sum(1 for i in project.issues.values() if i.state == "opened"),
            "merge_method": "merge",
            "squash_option": "default_off",
            "only_allow_merge_if_pipeline_succeeds": False,
            "only_allow_merge_if_all_discussions_are_resolved": False,
            "remove_source_branch_after_merge": True,
            "approvals_before_merge": project.approvals_before_merge,
            "_links": {
                "self": f"{self.web_url}/api/v4/projects/{project.id}",
                "issues": f"{self.web_url}/api/v4/projects/{project.id}/issues",
                "merge_requests": f"{self.web_url}/api/v4/projects/{project.id}/merge_requests",
                "repo_branches": (
                    f"{self.web_url}/api/v4/projects/{project.id}/repository/branches"
                ),
                "members": f"{self.web_url}/api/v4/projects/{project.id}/members",
            },
        }
        if user is not None:
            direct = project.members.get(user.id)
            group_access = None
            if project.namespace_kind == "group":
                level = self.state.group_access(self.state.groups[project.namespace_id], user.id)
                if level:
                    group_access = {"access_level": level, "notification_level": 3}
            out["permissions"] = {
                "project_access": (
                    {"access_level": direct.access_level, "notification_level": 3}
                    if direct
                    else None
                ),
                "group_access": group_access,
            }
        return out

    def hook_project(self, project: Project) -> JsonDict:
        url = self.project_url(project)
        return {
            "id": project.id,
            "name": project.name,
            "description": project.description,
            "web_url": url,
            "avatar_url": None,
            "git_ssh_url": f"git@127.0.0.1:{project.path_with_namespace}.git",
            "git_http_url": f"{url}.git",
            "namespace": self.namespace(project)["name"],
            "visibility_level": VISIBILITY_LEVEL[project.visibility],
            "path_with_namespace": project.path_with_namespace,
            "default_branch": project.default_branch,
            "ci_config_path": None,
            "homepage": url,
            "url": f"{url}.git",
            "ssh_url": f"git@127.0.0.1:{project.path_with_namespace}.git",
            "http_url": f"{url}.git",
        }

    def hook_repository(self, project: Project) -> JsonDict:
        url = self.project_url(project)
        return {
            "name": project.name,
            "url": f"{url}.git",
            "description": project.description,
            "homepage": url,
            "git_http_url": f"{url}.git",
            "git_ssh_url": f"git@127.0.0.1:{project.path_with_namespace}.git",
            "visibility_level": VISIBILITY_LEVEL[project.visibility],
        }

    # -- git ------------------------------------------------------------------------------------
    def commit(self, project: Project, sha: str) -> JsonDict:
        info: CommitInfo = project.git.commit_info(sha)
        title = info.message.split("\n", 1)[0]
        return {
            "id": info.sha,
            "short_id": info.sha[:8],
            "created_at": git_ts(info.committer.date),
            "parent_ids": info.parents,
            "title": title,
            "message": info.message,
            "author_name": info.author.name,
            "author_email": info.author.email,
            "authored_date": git_ts(info.author.date),
            "committer_name": info.committer.name,
            "committer_email": info.committer.email,
            "committed_date": git_ts(info.committer.date),
            "trailers": {},
            "extended_trailers": {},
            "web_url": f"{self.project_url(project)}/-/commit/{info.sha}",
        }

    def commit_detail(self, project: Project, sha: str, *, stats: bool = True) -> JsonDict:
        out = self.commit(project, sha)
        info = project.git.commit_info(sha)
        if stats:
            base = info.parents[0] if info.parents else "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
            _files, additions, deletions = project.git.diff_stats(base, sha)
            out["stats"] = {
                "additions": additions,
                "deletions": deletions,
                "total": additions + deletions,
            }
        pipeline = self.latest_pipeline(project, sha)
        out["status"] = self.pipeline_status(project, pipeline) if pipeline else None
        out["last_pipeline"] = self.pipeline(project, pipeline) if pipeline else None
        out["project_id"] = project.id
        return out

    def hook_commit(self, project: Project, sha: str, *, changes: bool = False) -> JsonDict:
        info = project.git.commit_info(sha)
        out: JsonDict = {
            "id": sha,
            "message": info.message,
            "title": info.message.split("\n", 1)[0],
            "timestamp": git_ts(info.author.date),
            "url": f"{self.project_url(project)}/-/commit/{sha}",
            "author": {"name": info.author.name, "email": info.author.email},
        }
        if changes:
            base = info.parents[0] if info.parents else "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
            added, modified, removed = [], [], []
            for change in project.git.diff_files(base, sha):
                if change.status == "added":
                    added.append(change.filename)
                elif change.status == "removed":
                    removed.append(change.filename)
                elif change.status == "renamed":
                    added.append(change.filename)
                    removed.append(change.previous_filename)
                else:
                    modified.append(change.filename)
            out.update({"added": added, "modified": modified, "removed": removed})
        return out

    def diff(self, change: FileChange) -> JsonDict:
        new_file = change.status == "added"
        deleted = change.status == "removed"
        return {
            "old_path": change.previous_filename or change.filename,
            "new_path": change.filename,
            "a_mode": "0" if new_file else "100644",
            "b_mode": "0" if deleted else "100644",
            "diff": (change.patch + "\n") if change.patch else "",
            "new_file": new_file,
            "renamed_file": change.status == "renamed",
            "deleted_file": deleted,
            "generated_file": False,
        }

    def branch(self, project: Project, name: str, sha: str, user: User | None) -> JsonDict:
        from . import auth

        protected = self.state.protected_branch(project, name)
        principal = auth.Principal(user=user)
        default_sha = project.git.branch_sha(project.default_branch)
        return {
            "name": name,
            "commit": self.commit(project, sha),
            "merged": bool(
                default_sha
                and name != project.default_branch
                and project.git.is_ancestor(sha, default_sha)
            ),
            "protected": protected is not None,
            "developers_can_push": bool(protected and protected.push_access_level <= 30),
            "developers_can_merge": bool(protected and protected.merge_access_level <= 30),
            "can_push": auth.can_push(self.state, principal, project, name),
            "default": name == project.default_branch,
            "web_url": f"{self.project_url(project)}/-/tree/{name}",
        }

    def protected_branch(self, pb: ProtectedBranch) -> JsonDict:
        def levels(level: int) -> list[JsonDict]:
            return [
                {
                    "id": pb.id * 10 + (1 if level == pb.push_access_level else 2),
                    "access_level": level,
                    "access_level_description": ACCESS_NAMES.get(level, "No one") + "s"
                    if level
                    else "No one",
                    "deploy_key_id": None,
                    "user_id": None,
                    "group_id": None,
                }
            ]

        return {
            "id": pb.id,
            "name": pb.name,
            "push_access_levels": levels(pb.push_access_level),
            "merge_access_levels": levels(pb.merge_access_level),
            "unprotect_access_levels": [],
            "allow_force_push": pb.allow_force_push,
            "code_owner_approval_required": pb.code_owner_approval_required,
            "inherited": False,
        }

    def file(self, project: Project, ref: str, sha: str, path: str, content: bytes) -> JsonDict:
        entry = project.git.entry(sha, path)
        log = project.git.run("log", "-1", "--format=%H", sha, "--", path).strip()
        return {
            "file_name": path.rsplit("/", 1)[-1],
            "file_path": path,
            "size": len(content),
            "encoding": "base64",
            "content": base64.b64encode(content).decode(),
            "content_sha256": hashlib.sha256(content).hexdigest(),
            "ref": ref,
            "blob_id": entry.sha if entry else None,
            "commit_id": sha,
            "last_commit_id": log or sha,
            "execute_filemode": bool(entry and entry.mode == "100755"),
        }

    # -- statuses and pipelines -----------------------------------------------------------------
    def latest_pipeline(
        self, project: Project, sha: str, ref: str | None = None
    ) -> Pipeline | None:
        candidates = [
            p for p in project.pipelines if p.sha == sha and (ref is None or p.ref == ref)
        ]
        return candidates[-1] if candidates else None

    def pipeline_status(self, project: Project, pipeline: Pipeline) -> str:
        """A pipeline's status from its latest statuses, as Ci::HasStatus composes it."""
        states = [
            s.status for s in project.statuses if s.pipeline_id == pipeline.id and not s.retried
        ]
        for wanted in ("running", "pending", "created"):
            if wanted in states:
                return wanted
        if "failed" in states:
            return "failed"
        if "canceled" in states:
            return "canceled"
        if states and all(s == "skipped" for s in states):
            return "skipped"
        return "success" if states else "created"

    def pipeline(self, project: Project, pipeline: Pipeline) -> JsonDict:
        return {
            "id": pipeline.id,
            "iid": pipeline.iid,
            "project_id": project.id,
            "sha": pipeline.sha,
            "ref": pipeline.ref,
            "status": self.pipeline_status(project, pipeline),
            "source": pipeline.source,
            "created_at": ts(pipeline.created_at),
            "updated_at": ts(pipeline.updated_at),
            "web_url": f"{self.project_url(project)}/-/pipelines/{pipeline.id}",
        }

    def status(self, project: Project, status: CommitStatus) -> JsonDict:
        return {
            "id": status.id,
            "sha": status.sha,
            "ref": status.ref,
            "status": status.status,
            "name": status.name,
            "target_url": status.target_url,
            "description": status.description,
            "created_at": ts(status.created_at),
            "started_at": ts(status.started_at),
            "finished_at": ts(status.finished_at),
            "allow_failure": False,
            "coverage": status.coverage,
            "pipeline_id": status.pipeline_id,
            "author": self.user(status.author_id),
        }

    # -- merge requests ---------------------------------------------------------------------
    def mr_url(self, project: Project, mr: MergeRequest) -> str:
        return f"{self.project_url(project)}/-/merge_requests/{mr.iid}"

    def diff_refs(self, project: Project, mr: MergeRequest) -> JsonDict:
        base = project.git.merge_base(mr.start_sha, mr.head_sha) or mr.start_sha
        return {"base_sha": base, "head_sha": mr.head_sha, "start_sha": mr.start_sha}

    def merge_status(self, project: Project, mr: MergeRequest) -> tuple[str, str]:
        """(merge_status, detailed_merge_status), computed at once (GitLab's is asynchronous)."""
        if mr.state != "opened":
            return "can_be_merged", "not_open"
        if mr.draft:
            return "can_be_merged", "draft_status"
        target = project.git.branch_sha(mr.target_branch)
        if target is None or project.git.merge_tree(target, mr.head_sha) is None:
            return "cannot_be_merged", "conflict"
        if self.approvals_left(project, mr) > 0:
            return "can_be_merged", "not_approved"
        unresolved = any(
            self.state.notes[n].resolvable and not self.state.notes[n].resolved
            for d in mr.discussions.values()
            for n in d.note_ids
        )
        if unresolved:
            return "can_be_merged", "mergeable"
        return "can_be_merged", "mergeable"

    def merge_request(self, project: Project, mr: MergeRequest, *, full: bool = True) -> JsonDict:
        merge_status, detailed = self.merge_status(project, mr)
        notes = [self.state.notes[n] for d in mr.discussions.values() for n in d.note_ids]
        out: JsonDict = {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": project.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": ts(mr.created_at),
            "updated_at": ts(mr.updated_at),
            "merged_by": self.user(mr.merged_by_id),
            "merge_user": self.user(mr.merged_by_id),
            "merged_at": ts(mr.merged_at),
            "closed_by": self.user(mr.closed_by_id),
            "closed_at": ts(mr.closed_at),
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "user_notes_count": sum(1 for n in notes if not n.system),
            "upvotes": sum(1 for a in mr.awards if a.name == "thumbsup"),
            "downvotes": sum(1 for a in mr.awards if a.name == "thumbsdown"),
            "author": self.user(mr.author_id),
            "assignees": [self.user(u) for u in mr.assignee_ids],
            "assignee": self.user(mr.assignee_ids[0]) if mr.assignee_ids else None,
            "reviewers": [self.user(u) for u in mr.reviewer_ids],
            "source_project_id": mr.source_project_id,
            "target_project_id": project.id,
            "labels": list(mr.labels),
            "draft": mr.draft,
            "work_in_progress": mr.draft,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": merge_status,
            "detailed_merge_status": detailed,
            "sha": mr.head_sha,
            "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": mr.squash_commit_sha,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": mr.force_remove_source_branch,
            "prepared_at": ts(mr.created_at),
            "reference": f"!{mr.iid}",
            "references": {
                "short": f"!{mr.iid}",
                "relative": f"!{mr.iid}",
                "full": f"{project.path_with_namespace}!{mr.iid}",
            },
            "web_url": self.mr_url(project, mr),
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "squash": mr.squash,
            "squash_on_merge": mr.squash,
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": merge_status == "cannot_be_merged",
            "blocking_discussions_resolved": True,
            "approvals_before_merge": None,
        }
        if full:
            pipeline = self.latest_pipeline(project, mr.head_sha)
            changes = len(
                project.git.diff_files(self.diff_refs(project, mr)["base_sha"], mr.head_sha)
            )
            out.update(
                {
                    "subscribed": False,
                    "changes_count": str(changes),
                    "latest_build_started_at": None,
                    "latest_build_finished_at": None,
                    "first_deployed_to_production_at": None,
                    "pipeline": self.pipeline(project, pipeline) if pipeline else None,
                    "head_pipeline": self.pipeline(project, pipeline) if pipeline else None,
                    "diff_refs": self.diff_refs(project, mr),
                    "merge_error": None,
                    "first_contribution": False,
                    "user": {"can_merge": True},
                }
            )
        return out

    def hook_merge_request(self, project: Project, mr: MergeRequest) -> JsonDict:
        merge_status, detailed = self.merge_status(project, mr)
        pipeline = self.latest_pipeline(project, mr.head_sha)
        return {
            "assignee_id": mr.assignee_ids[0] if mr.assignee_ids else None,
            "author_id": mr.author_id,
            "created_at": hook_ts(mr.created_at),
            "description": mr.description,
            "draft": mr.draft,
            "head_pipeline_id": pipeline.id if pipeline else None,
            "id": mr.id,
            "iid": mr.iid,
            "last_edited_at": None,
            "last_edited_by_id": None,
            "merge_commit_sha": mr.merge_commit_sha,
            "merge_error": None,
            "merge_params": {"force_remove_source_branch": str(int(mr.force_remove_source_branch))},
            "merge_status": merge_status,
            "merge_user_id": mr.merged_by_id,
            "merge_when_pipeline_succeeds": False,
            "milestone_id": None,
            "source_branch": mr.source_branch,
            "source_project_id": mr.source_project_id,
            "state_id": {"opened": 1, "closed": 2, "merged": 3, "locked": 4}[mr.state],
            "target_branch": mr.target_branch,
            "target_project_id": project.id,
            "time_estimate": 0,
            "title": mr.title,
            "updated_at": hook_ts(mr.updated_at),
            "updated_by_id": None,
            "prepared_at": hook_ts(mr.created_at),
            "assignee_ids": list(mr.assignee_ids),
            "blocking_discussions_resolved": True,
            "detailed_merge_status": detailed,
            "first_contribution": False,
            "human_time_change": None,
            "human_time_estimate": None,
            "human_total_time_spent": None,
            "labels": [],
            "last_commit": self.hook_commit(project, mr.head_sha),
            "reviewer_ids": list(mr.reviewer_ids),
            "source": self.hook_project(self.state.projects[mr.source_project_id]),
            "state": mr.state,
            "target": self.hook_project(project),
            "time_change": 0,
            "total_time_spent": 0,
            "url": self.mr_url(project, mr),
            "work_in_progress": mr.draft,
            "approval_rules": [],
            "position": 0,
        }

    # -- approvals ------------------------------------------------------------------------------
    def approval_rules(self, project: Project) -> list[ApprovalRule]:
        """The rules in force: none on Free (`ApprovalState#wrapped_approval_rules` is empty
        unless the `merge_request_approvers` feature is licensed)."""
        return project.approval_rules if project.tier != "free" else []

    def approvals_required(self, project: Project, mr: MergeRequest) -> int:
        rules = [r.approvals_required for r in self.approval_rules(project)]
        return (
            max([project.approvals_before_merge, *rules])
            if rules
            else project.approvals_before_merge
        )

    def rule_approvers(self, project: Project, rule: ApprovalRule) -> set[int]:
        eligible = set(rule.user_ids)
        for gid in rule.group_ids:
            eligible |= set(self.state.groups[gid].members)
        return eligible

    def rule_state(self, project: Project, mr: MergeRequest, rule: ApprovalRule) -> JsonDict:
        approvers = {a.user_id for a in mr.approvals}
        if rule.rule_type == "any_approver":
            eligible = set(self.state.all_project_members(project))
            approved_by = sorted(approvers)
        else:
            eligible = self.rule_approvers(project, rule)
            approved_by = sorted(approvers & eligible)
        return {
            "id": rule.id,
            "name": rule.name,
            "rule_type": rule.rule_type,
            "eligible_approvers": [self.user(u) for u in sorted(eligible)],
            "approvals_required": rule.approvals_required,
            "users": [self.user(u) for u in rule.user_ids],
            "groups": [self.group(self.state.groups[g]) for g in rule.group_ids],
            "contains_hidden_groups": False,
            "approved_by": [self.user(u) for u in approved_by],
            "source_rule": None,
            "approved": len(approved_by) >= rule.approvals_required,
            "overridden": False,
            "section": rule.section,
        }

    def approvals_left(self, project: Project, mr: MergeRequest) -> int:
        if self.approval_rules(project):
            left = 0
            for rule in self.approval_rules(project):
                state = self.rule_state(project, mr, rule)
                left = max(left, rule.approvals_required - len(state["approved_by"]))
            return left
        return max(0, project.approvals_before_merge - len(mr.approvals))

    def approvals(self, project: Project, mr: MergeRequest, user: User | None) -> JsonDict:
        merge_status, _ = self.merge_status(project, mr)
        left = self.approvals_left(project, mr)
        uid = user.id if user else None
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": project.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": ts(mr.created_at),
            "updated_at": ts(mr.updated_at),
            "merge_status": merge_status,
            "approved": left == 0
            if (self.approval_rules(project) or project.approvals_before_merge)
            else bool(mr.approvals),
            "approvals_required": self.approvals_required(project, mr),
            "approvals_left": left,
            "require_password_to_approve": False,
            "approved_by": [self.approval(a) for a in mr.approvals],
            "suggested_approvers": [],
            "approvers": [],
            "approver_groups": [],
            "user_has_approved": any(a.user_id == uid for a in mr.approvals),
            "user_can_approve": uid is not None and not any(a.user_id == uid for a in mr.approvals),
            "approval_rules_left": [],
            "has_approval_rules": bool(self.approval_rules(project)),
            "merge_request_approvers_available": True,
            "multiple_approval_rules_available": True,
            "invalid_approvers_rules": [],
        }

    def approval(self, approval: Approval) -> JsonDict:
        return {"user": self.user(approval.user_id), "approved_at": ts(approval.created_at)}

    def approval_state(self, project: Project, mr: MergeRequest) -> JsonDict:
        return {
            "approval_rules_overwritten": False,
            "rules": [self.rule_state(project, mr, r) for r in self.approval_rules(project)],
        }

    def project_approvals(self, project: Project) -> JsonDict:
        return {
            "approvers": [],
            "approver_groups": [],
            "approvals_before_merge": project.approvals_before_merge,
            "reset_approvals_on_push": project.reset_approvals_on_push,
            "selective_code_owner_removals": False,
            "disable_overriding_approvers_per_merge_request": False,
            "merge_requests_author_approval": project.merge_requests_author_approval,
            "merge_requests_disable_committers_approval": (
                project.merge_requests_disable_committers_approval
            ),
            "require_password_to_approve": False,
            "require_reauthentication_to_approve": False,
        }

    # -- notes, discussions, awards -------------------------------------------------------------
    def award(self, award: Award) -> JsonDict:
        return {
            "id": award.id,
            "name": award.name,
            "user": self.user(award.user_id),
            "created_at": ts(award.created_at),
            "updated_at": ts(award.updated_at),
            "awardable_id": award.awardable_id,
            "awardable_type": award.awardable_type,
            "url": None,
        }

    def note(self, note: Note) -> JsonDict:
        out: JsonDict = {
            "id": note.id,
            "type": note.type,
            "body": note.body,
            "author": self.user(note.author_id),
            "created_at": ts(note.created_at),
            "updated_at": ts(note.updated_at),
            "system": note.system,
            "noteable_id": note.noteable_id,
            "noteable_type": note.noteable_type,
            "project_id": note.project_id,
            "resolvable": note.resolvable,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
            "noteable_iid": note.noteable_iid,
            "commands_changes": {},
        }
        if note.resolvable:
            out["resolved"] = note.resolved
            out["resolved_by"] = self.user(note.resolved_by_id)
            out["resolved_at"] = ts(note.resolved_at)
        if note.position is not None:
            out["position"] = note.position
        return out

    def discussion(self, discussion: Any) -> JsonDict:
        return {
            "id": discussion.id,
            "individual_note": discussion.individual_note,
            "notes": [self.note(self.state.notes[n]) for n in discussion.note_ids],
        }

    def note_url(self, project: Project, note: Note) -> str:
        kind = "merge_requests" if note.noteable_type == "MergeRequest" else "issues"
        return f"{self.project_url(project)}/-/{kind}/{note.noteable_iid}#note_{note.id}"

    def hook_note(self, project: Project, note: Note, action: str) -> JsonDict:
        return {
            "attachment": None,
            "author_id": note.author_id,
            "change_position": None,
            "commit_id": None,
            "created_at": hook_ts(note.created_at),
            "discussion_id": note.discussion_id,
            "id": note.id,
            "line_code": None,
            "note": note.body,
            "noteable_id": note.noteable_id,
            "noteable_type": note.noteable_type,
            "original_position": note.position,
            "position": note.position,
            "project_id": project.id,
            "resolved_at": hook_ts(note.resolved_at),
            "resolved_by_id": note.resolved_by_id,
            "resolved_by_push": None,
            "st_diff": None,
            "system": note.system,
            "type": note.type,
            "updated_at": hook_ts(note.updated_at),
            "updated_by_id": None,
            "description": note.body,
            "url": self.note_url(project, note),
            "action": action,
        }

    # -- issues ---------------------------------------------------------------------------------
    def issue(self, project: Project, issue: Issue) -> JsonDict:
        return {
            "id": issue.id,
            "iid": issue.iid,
            "project_id": project.id,
            "title": issue.title,
            "description": issue.description,
            "state": issue.state,
            "created_at": ts(issue.created_at),
            "updated_at": ts(issue.updated_at),
            "closed_at": ts(issue.closed_at),
            "closed_by": self.user(issue.closed_by_id),
            "labels": list(issue.labels),
            "milestone": None,
            "assignees": [self.user(u) for u in issue.assignee_ids],
            "author": self.user(issue.author_id),
            "type": "ISSUE",
            "assignee": self.user(issue.assignee_ids[0]) if issue.assignee_ids else None,
            "user_notes_count": sum(
                1
                for d in issue.discussions.values()
                for n in d.note_ids
                if not self.state.notes[n].system
            ),
            "merge_requests_count": 0,
            "upvotes": sum(1 for a in issue.awards if a.name == "thumbsup"),
            "downvotes": sum(1 for a in issue.awards if a.name == "thumbsdown"),
            "due_date": None,
            "confidential": issue.confidential,
            "discussion_locked": None,
            "issue_type": "issue",
            "web_url": f"{self.project_url(project)}/-/issues/{issue.iid}",
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "task_completion_status": {"count": 0, "completed_count": 0},
            "references": {
                "short": f"#{issue.iid}",
                "relative": f"#{issue.iid}",
                "full": f"{project.path_with_namespace}#{issue.iid}",
            },
            "severity": "UNKNOWN",
        }

    def hook_issue(self, project: Project, issue: Issue, action: str | None = None) -> JsonDict:
        out: JsonDict = {
            "author_id": issue.author_id,
            "closed_at": hook_ts(issue.closed_at),
            "confidential": issue.confidential,
            "created_at": hook_ts(issue.created_at),
            "description": issue.description,
            "discussion_locked": None,
            "due_date": None,
            "id": issue.id,
            "iid": issue.iid,
            "last_edited_at": None,
            "last_edited_by_id": None,
            "milestone_id": None,
            "moved_to_id": None,
            "duplicated_to_id": None,
            "project_id": project.id,
            "relative_position": 0,
            "state_id": 1 if issue.state == "opened" else 2,
            "time_estimate": 0,
            "title": issue.title,
            "updated_at": hook_ts(issue.updated_at),
            "updated_by_id": None,
            "type": "Issue",
            "url": f"{self.project_url(project)}/-/issues/{issue.iid}",
            "total_time_spent": 0,
            "time_change": 0,
            "human_total_time_spent": None,
            "human_time_change": None,
            "human_time_estimate": None,
            "assignee_ids": list(issue.assignee_ids),
            "assignee_id": issue.assignee_ids[0] if issue.assignee_ids else None,
            "labels": [],
            "state": issue.state,
            "severity": "unknown",
            "weight": None,
            "health_status": None,
            "position": 0,
            "branch_name": None,
        }
        if action is not None:
            out["action"] = action
        return out

    # -- hooks ----------------------------------------------------------------------------------
    def hook(self, hook: Hook) -> JsonDict:
        flags = (
            "push_events",
            "tag_push_events",
            "merge_requests_events",
            "repository_update_events",
            "issues_events",
            "confidential_issues_events",
            "note_events",
            "confidential_note_events",
            "pipeline_events",
            "wiki_page_events",
            "deployment_events",
            "feature_flag_events",
            "job_events",
            "releases_events",
            "milestone_events",
            "emoji_events",
            "resource_access_token_events",
        )
        out: JsonDict = {
            "id": hook.id,
            "url": hook.url,
            "name": "",
            "description": "",
            "created_at": ts(hook.created_at),
            "enable_ssl_verification": hook.enable_ssl_verification,
            "alert_status": "executable",
            "disabled_until": None,
            "url_variables": [],
            "push_events_branch_filter": hook.push_events_branch_filter,
            "branch_filter_strategy": "wildcard",
            "custom_webhook_template": "",
            "custom_headers": [],
            "token_present": bool(hook.token),
            "signing_token_present": bool(hook.signing_token),
        }
        if hook.project_id is not None:
            out["project_id"] = hook.project_id
        else:
            out["group_id"] = hook.group_id
        for flag in flags:
            out[flag] = flag in hook.events
        return out
