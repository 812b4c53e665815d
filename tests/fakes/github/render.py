"""JSON shapes of the fake's records, as GitHub's REST API and webhook payloads spell them.

One function per GitHub schema (simple-user, repository, pull-request, check-run...), filled in
completely enough to validate against GitHub's OpenAPI response schemas, because PyGithub and
the bot read whichever field they like. Pure functions of the state: nothing here mutates it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .git import CommitInfo, FileChange, Person
from .state import (
    Account,
    App,
    CheckRun,
    CheckSuite,
    CommitStatus,
    Installation,
    Issue,
    IssueComment,
    Label,
    Reaction,
    Repository,
    Review,
    State,
    Team,
)

JsonDict = dict[str, Any]


def ts(value: datetime | None) -> str | None:
    """GitHub's timestamp format: ISO 8601 in UTC with a Z."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_REPO_URL_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


class Renderer:
    """Renders records for one running fake, whose URLs it knows."""

    def __init__(self, state: State, web_url: str, api_url: str) -> None:
        self.state = state
        self.web = web_url.rstrip("/")
        self.api = api_url.rstrip("/")

    # -- accounts ---------------------------------------------------------------------------
    def user(self, login: str | Account | None) -> JsonDict | None:
        if login is None:
            return None
        account = login if isinstance(login, Account) else self.state.account(login)
        if account is None:
            account = Account(id=0, login=str(login), type="User")
        u = f"{self.api}/users/{account.login}"
        return {
            "login": account.login,
            "id": account.id,
            "node_id": account.node_id,
            "avatar_url": f"{self.web}/avatars/{account.login}",
            "gravatar_id": "",
            "url": u,
            "html_url": f"{self.web}/{account.login}",
            "followers_url": f"{u}/followers",
            "following_url": f"{u}/following{{/other_user}}",
            "gists_url": f"{u}/gists{{/gist_id}}",
            "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{u}/subscriptions",
            "organizations_url": f"{u}/orgs",
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events{{/privacy}}",
            "received_events_url": f"{u}/received_events",
            "type": account.type,
            "user_view_type": "public",
            "site_admin": account.site_admin,
        }

    def org_simple(self, org: Account) -> JsonDict:
        u = f"{self.api}/orgs/{org.login}"
        return {
            "login": org.login,
            "id": org.id,
            "node_id": org.node_id,
            "url": u,
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events",
            "hooks_url": f"{u}/hooks",
            "issues_url": f"{u}/issues",
            "members_url": f"{u}/members{{/member}}",
            "public_members_url": f"{u}/public_members{{/member}}",
            "avatar_url": f"{self.web}/avatars/{org.login}",
            "description": None,
        }

    # -- repositories -----------------------------------------------------------------------
    def repository(self, repo: Repository, full: bool = True) -> JsonDict:
        base = f"{self.api}/repos/{repo.full_name}"
        data: JsonDict = {
            "id": repo.id,
            "node_id": repo.node_id,
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self.user(repo.owner),
            "html_url": f"{self.web}/{repo.full_name}",
            "description": repo.description,
            "fork": repo.fork_of is not None,
            "url": base,
        }
        data.update({key: base + suffix for key, suffix in _REPO_URL_TEMPLATES.items()})
        pushed = repo.created_at
        open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
        data.update(
            {
                "git_url": f"{self.web.replace('http', 'git', 1)}/{repo.full_name}.git",
                "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
                "clone_url": f"{self.web}/{repo.full_name}.git",
                "svn_url": f"{self.web}/{repo.full_name}",
                "mirror_url": None,
                "homepage": None,
                "language": None,
                "forks_count": 0,
                "forks": 0,
                "stargazers_count": 0,
                "watchers_count": 0,
                "watchers": 0,
                "size": 0,
                "default_branch": repo.default_branch,
                "open_issues_count": open_issues,
                "open_issues": open_issues,
                "is_template": False,
                "topics": [],
                "has_issues": True,
                "has_projects": False,
                "has_wiki": False,
                "has_pages": False,
                "has_downloads": True,
                "has_discussions": False,
                "archived": False,
                "disabled": False,
                "visibility": "private" if repo.private else "public",
                "pushed_at": ts(pushed),
                "created_at": ts(repo.created_at),
                "updated_at": ts(repo.created_at),
                "allow_forking": True,
                "web_commit_signoff_required": False,
                "license": None,
            }
        )
        if full:
            data.update(
                {
                    "network_count": 0,
                    "subscribers_count": 0,
                    "allow_merge_commit": True,
                    "allow_squash_merge": True,
                    "allow_rebase_merge": False,
                    "allow_auto_merge": False,
                    "delete_branch_on_merge": False,
                    "temp_clone_token": None,
                }
            )
            owner = self.state.account(repo.owner)
            if owner is not None and owner.type == "Organization":
                data["organization"] = self.user(owner)
        return data

    # -- issues and pull requests -----------------------------------------------------------
    def label(self, repo: Repository, label: Label) -> JsonDict:
        return {
            "id": label.id,
            "node_id": f"LA_{label.id}",
            "url": f"{self.api}/repos/{repo.full_name}/labels/{label.name}",
            "name": label.name,
            "description": label.description,
            "color": label.color,
            "default": False,
        }

    def _labels(self, repo: Repository, issue: Issue) -> list[JsonDict]:
        return [self.label(repo, repo.labels[n.lower()]) for n in issue.labels]

    def author_association(self, repo: Repository, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        account = self.state.account(login)
        if account is not None and account.type == "Bot":
            return "NONE"
        if repo.collaborators.get(login.lower()) or self.state.user_permission(repo, login) not in (
            "none",
            "read",
        ):
            return "COLLABORATOR"
        owner = self.state.account(repo.owner)
        if owner is not None and login.lower() in owner.members:
            return "MEMBER"
        return "NONE"

    def reactions_summary(self, url: str, reactions: list[Reaction]) -> JsonDict:
        names = {"+1": 0, "-1": 0, "laugh": 0, "confused": 0, "heart": 0, "hooray": 0}
        names.update({"eyes": 0, "rocket": 0})
        for r in reactions:
            names[r.content] += 1
        return {"url": url, "total_count": len(reactions), **names}

    def issue(self, repo: Repository, issue: Issue) -> JsonDict:
        base = f"{self.api}/repos/{repo.full_name}/issues/{issue.number}"
        app = self.state.apps.get(issue.app_id) if issue.app_id else None
        data: JsonDict = {
            "id": issue.id,
            "node_id": f"I_{issue.id}",
            "url": base,
            "repository_url": f"{self.api}/repos/{repo.full_name}",
            "labels_url": f"{base}/labels{{/name}}",
            "comments_url": f"{base}/comments",
            "events_url": f"{base}/events",
            "html_url": f"{self.web}/{repo.full_name}/"
            + ("pull" if issue.pull else "issues")
            + f"/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "title": issue.title,
            "body": issue.body,
            "user": self.user(issue.user),
            "labels": self._labels(repo, issue),
            "assignee": self.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user(a) for a in issue.assignees],
            "milestone": None,
            "locked": issue.locked,
            "active_lock_reason": None,
            "comments": len(issue.comments),
            "closed_at": ts(issue.closed_at),
            "created_at": ts(issue.created_at),
            "updated_at": ts(issue.updated_at),
            "closed_by": self.user(issue.closed_by),
            "author_association": self.author_association(repo, issue.user),
            "performed_via_github_app": self.app(app) if app else None,
            "reactions": self.reactions_summary(f"{base}/reactions", []),
            "timeline_url": f"{base}/timeline",
        }
        if issue.pull is not None:
            pull = f"{self.api}/repos/{repo.full_name}/pulls/{issue.number}"
            html = f"{self.web}/{repo.full_name}/pull/{issue.number}"
            data["draft"] = issue.pull.draft
            data["pull_request"] = {
                "url": pull,
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": ts(issue.pull.merged_at),
            }
        return data

    def branch_side(self, repo_name: str, ref: str, sha: str) -> JsonDict:
        repo = self.state.repo(repo_name)
        assert repo is not None
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(repo.owner),
            "repo": self.repository(repo, full=False),
        }

    def pull(self, repo: Repository, issue: Issue, *, simple: bool = False) -> JsonDict:
        assert issue.pull is not None
        p = issue.pull
        base = f"{self.api}/repos/{repo.full_name}/pulls/{issue.number}"
        html = f"{self.web}/{repo.full_name}/pull/{issue.number}"
        issue_url = f"{self.api}/repos/{repo.full_name}/issues/{issue.number}"
        statuses = f"{self.api}/repos/{repo.full_name}/statuses/{p.head_sha}"
        data: JsonDict = {
            "url": base,
            "id": issue.id,
            "node_id": f"PR_{issue.id}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": f"{base}/commits",
            "review_comments_url": f"{base}/comments",
            "review_comment_url": f"{self.api}/repos/{repo.full_name}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": statuses,
            "number": issue.number,
            "state": issue.state,
            "locked": issue.locked,
            "title": issue.title,
            "user": self.user(issue.user),
            "body": issue.body,
            "labels": self._labels(repo, issue),
            "milestone": None,
            "active_lock_reason": None,
            "created_at": ts(issue.created_at),
            "updated_at": ts(issue.updated_at),
            "closed_at": ts(issue.closed_at),
            "merged_at": ts(p.merged_at),
            "merge_commit_sha": p.merge_commit_sha,
            "assignee": self.user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user(a) for a in issue.assignees],
            "requested_reviewers": [self.user(u) for u in p.requested_reviewers],
            "requested_teams": [
                self.team(t)
                for slug in p.requested_teams
                if (t := self.state.team(repo.owner, slug)) is not None
            ],
            "head": self.branch_side(p.head_repo, p.head_ref, p.head_sha),
            "base": self.branch_side(repo.full_name, p.base_ref, p.base_sha),
            "_links": {
                "self": {"href": base},
                "html": {"href": html},
                "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"},
                "review_comments": {"href": f"{base}/comments"},
                "review_comment": {
                    "href": f"{self.api}/repos/{repo.full_name}/pulls/comments{{/number}}"
                },
                "commits": {"href": f"{base}/commits"},
                "statuses": {"href": statuses},
            },
            "author_association": self.author_association(repo, issue.user),
            "auto_merge": None,
            "draft": p.draft,
        }
        if simple:
            return data
        git = repo.git
        merge_base = git.merge_base(p.base_sha, p.head_sha) or p.base_sha
        changed, additions, deletions = git.diff_stats(merge_base, p.head_sha)
        mergeable: bool | None = None
        if issue.state == "open":
            mergeable = git.merge_tree(p.base_sha, p.head_sha) is not None
        data.update(
            {
                "merged": p.merged,
                "mergeable": mergeable,
                "rebaseable": False,
                "mergeable_state": (
                    "unknown" if mergeable is None else ("clean" if mergeable else "dirty")
                ),
                "merged_by": self.user(p.merged_by),
                "comments": len(issue.comments),
                "review_comments": 0,
                "maintainer_can_modify": p.maintainer_can_modify,
                "commits": len(git.commits_between(merge_base, p.head_sha)),
                "additions": additions,
                "deletions": deletions,
                "changed_files": changed,
            }
        )
        return data

    def diff_entry(self, repo: Repository, sha: str, change: FileChange) -> JsonDict:
        data: JsonDict = {
            "sha": change.sha,
            "filename": change.filename,
            "status": change.status,
            "additions": change.additions,
            "deletions": change.deletions,
            "changes": change.changes,
            "blob_url": f"{self.web}/{repo.full_name}/blob/{sha}/{change.filename}",
            "raw_url": f"{self.web}/{repo.full_name}/raw/{sha}/{change.filename}",
            "contents_url": f"{self.api}/repos/{repo.full_name}/contents/{change.filename}"
            f"?ref={sha}",
        }
        if change.patch is not None:
            data["patch"] = change.patch
        if change.previous_filename:
            data["previous_filename"] = change.previous_filename
        return data

    def review(self, repo: Repository, issue: Issue, review: Review) -> JsonDict:
        html = f"{self.web}/{repo.full_name}/pull/{issue.number}#pullrequestreview-{review.id}"
        pull_url = f"{self.api}/repos/{repo.full_name}/pulls/{issue.number}"
        data: JsonDict = {
            "id": review.id,
            "node_id": f"PRR_{review.id}",
            "user": self.user(review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pull_url,
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "commit_id": review.commit_id,
            "author_association": self.author_association(repo, review.user),
        }
        if review.submitted_at is not None:
            data["submitted_at"] = ts(review.submitted_at)
        return data

    def comment(self, repo: Repository, comment: IssueComment) -> JsonDict:
        url = f"{self.api}/repos/{repo.full_name}/issues/comments/{comment.id}"
        issue = repo.issues[comment.issue_number]
        kind = "pull" if issue.pull else "issues"
        app = self.state.apps.get(comment.app_id) if comment.app_id else None
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "url": url,
            "html_url": f"{self.web}/{repo.full_name}/{kind}/{comment.issue_number}"
            f"#issuecomment-{comment.id}",
            "body": comment.body,
            "user": self.user(comment.user),
            "created_at": ts(comment.created_at),
            "updated_at": ts(comment.updated_at),
            "issue_url": f"{self.api}/repos/{repo.full_name}/issues/{comment.issue_number}",
            "author_association": self.author_association(repo, comment.user),
            "performed_via_github_app": self.app(app) if app else None,
            "reactions": self.reactions_summary(f"{url}/reactions", comment.reactions),
        }

    def reaction(self, reaction: Reaction) -> JsonDict:
        return {
            "id": reaction.id,
            "node_id": f"REA_{reaction.id}",
            "user": self.user(reaction.user),
            "content": reaction.content,
            "created_at": ts(reaction.created_at),
        }

    # -- teams ------------------------------------------------------------------------------
    def team(self, team: Team, full: bool = False) -> JsonDict:
        # The form GitHub's OpenAPI examples show; PyGithub builds membership calls on it.
        url = f"{self.api}/teams/{team.id}"
        data: JsonDict = {
            "id": team.id,
            "node_id": f"T_{team.id}",
            "url": url,
            "html_url": f"{self.web}/orgs/{team.org}/teams/{team.slug}",
            "name": team.name,
            "slug": team.slug,
            "description": team.description,
            "privacy": team.privacy,
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "members_url": f"{url}/members{{/member}}",
            "repositories_url": f"{url}/repos",
            "type": "organization",
            "organization_id": self._org_id(team.org),
        }
        parent = self.state.team(team.org, team.parent) if team.parent else None
        if full:
            org = self.state.account(team.org)
            assert org is not None
            data.update(
                {
                    "parent": self.team(parent) if parent else None,
                    "members_count": len(team.members),
                    "repos_count": len(team.repos),
                    "created_at": ts(team.created_at),
                    "updated_at": ts(team.created_at),
                    "organization": self.organization(org),
                }
            )
        else:
            data["parent"] = self.team_simple(parent) if parent else None
        return data

    def team_simple(self, team: Team) -> JsonDict:
        data = self.team(team)
        data.pop("parent", None)
        return data

    def _org_id(self, login: str) -> int:
        org = self.state.account(login)
        return org.id if org else 0

    def organization(self, org: Account) -> JsonDict:
        data = self.org_simple(org)
        data.update(
            {
                "html_url": f"{self.web}/{org.login}",
                "type": "Organization",
                "has_organization_projects": False,
                "has_repository_projects": False,
                "public_repos": 0,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": ts(org.created_at),
                "updated_at": ts(org.created_at),
                "archived_at": None,
            }
        )
        return data

    # -- checks and statuses ----------------------------------------------------------------
    def app(self, app: App) -> JsonDict:
        return {
            "id": app.id,
            "slug": app.slug,
            "client_id": app.client_id,
            "node_id": f"A_{app.id}",
            "owner": self.user(app.owner),
            "name": app.name,
            "description": None,
            "external_url": f"{self.web}/apps/{app.slug}",
            "html_url": f"{self.web}/apps/{app.slug}",
            "created_at": ts(app.created_at),
            "updated_at": ts(app.created_at),
            "permissions": dict(app.permissions),
            "events": list(app.events),
            "installations_count": sum(
                1 for i in self.state.installations.values() if i.app_id == app.id
            ),
        }

    def pull_refs_for(self, repo: Repository, sha: str, branch: str | None) -> list[JsonDict]:
        """Open same-repository pull requests whose head is this commit or branch."""
        out = []
        for issue in repo.pulls():
            p = issue.pull
            assert p is not None
            if issue.state != "open" or p.head_repo.lower() != repo.full_name.lower():
                continue
            if p.head_sha != sha and p.head_ref != branch:
                continue
            out.append(
                {
                    "id": issue.id,
                    "number": issue.number,
                    "url": f"{self.api}/repos/{repo.full_name}/pulls/{issue.number}",
                    "head": {"ref": p.head_ref, "sha": p.head_sha, "repo": self._repo_ref(repo)},
                    "base": {"ref": p.base_ref, "sha": p.base_sha, "repo": self._repo_ref(repo)},
                }
            )
        return out

    def _repo_ref(self, repo: Repository) -> JsonDict:
        return {"id": repo.id, "url": f"{self.api}/repos/{repo.full_name}", "name": repo.name}

    def check_suite(self, repo: Repository, suite: CheckSuite, full: bool = True) -> JsonDict:
        app = self.state.apps[suite.app_id]
        runs = [r for r in repo.check_runs if r.suite_id == suite.id]
        data: JsonDict = {
            "id": suite.id,
            "node_id": f"CS_{suite.id}",
            "head_branch": suite.head_branch,
            "head_sha": suite.head_sha,
            "status": suite.status,
            "conclusion": suite.conclusion,
            "url": f"{self.api}/repos/{repo.full_name}/check-suites/{suite.id}",
            "before": None,
            "after": suite.head_sha,
            "pull_requests": self.pull_refs_for(repo, suite.head_sha, suite.head_branch),
            "app": self.app(app),
            "created_at": ts(suite.created_at),
            "updated_at": ts(suite.updated_at),
            "latest_check_runs_count": len(runs),
            "check_runs_url": f"{self.api}/repos/{repo.full_name}/check-suites/{suite.id}"
            "/check-runs",
            "rerequestable": True,
            "runs_rerequestable": True,
        }
        if full:
            data["repository"] = self.repository(repo, full=False)
            data["head_commit"] = self.simple_commit(repo, suite.head_sha)
        return data

    def check_run(self, repo: Repository, run: CheckRun) -> JsonDict:
        app = self.state.apps[run.app_id]
        suite = next(s for s in repo.check_suites if s.id == run.suite_id)
        url = f"{self.api}/repos/{repo.full_name}/check-runs/{run.id}"
        return {
            "id": run.id,
            "node_id": f"CR_{run.id}",
            "head_sha": run.head_sha,
            # GitHub reports an unset external id as "" (its webhook schema has no null).
            "external_id": run.external_id or "",
            "url": url,
            "html_url": f"{self.web}/{repo.full_name}/runs/{run.id}",
            "details_url": run.details_url or f"{self.web}/apps/{app.slug}",
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": ts(run.started_at),
            "completed_at": ts(run.completed_at),
            "output": {
                "title": run.output.get("title"),
                "summary": run.output.get("summary"),
                "text": run.output.get("text"),
                "annotations_count": len(run.annotations),
                "annotations_url": f"{url}/annotations",
            },
            "name": run.name,
            "check_suite": {"id": suite.id},
            "app": self.app(app),
            "pull_requests": self.pull_refs_for(repo, run.head_sha, suite.head_branch),
        }

    def annotation(self, repo: Repository, run: CheckRun, ann: dict[str, Any]) -> JsonDict:
        return {
            "path": ann["path"],
            "blob_href": f"{self.web}/{repo.full_name}/blob/{run.head_sha}/{ann['path']}",
            "start_line": ann["start_line"],
            "end_line": ann["end_line"],
            "start_column": ann.get("start_column"),
            "end_column": ann.get("end_column"),
            "annotation_level": ann.get("annotation_level"),
            "title": ann.get("title"),
            "message": ann.get("message"),
            "raw_details": ann.get("raw_details"),
        }

    def status(self, repo: Repository, status: CommitStatus) -> JsonDict:
        return {
            "url": f"{self.api}/repos/{repo.full_name}/statuses/{status.sha}",
            "avatar_url": None,
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": ts(status.created_at),
            "updated_at": ts(status.updated_at),
            "creator": self.user(status.creator),
        }

    # -- git --------------------------------------------------------------------------------
    def person(self, person: Person) -> JsonDict:
        return {"name": person.name, "email": person.email, "date": ts(person.date)}

    def verification(self, repo: Repository, sha: str) -> JsonDict:
        reason = repo.verified_commits.get(sha)
        if reason == "valid":
            return {
                "verified": True,
                "reason": "valid",
                "signature": "-----BEGIN PGP SIGNATURE-----\n\nfake\n-----END PGP SIGNATURE-----",
                "payload": f"tree {repo.git.commit_info(sha).tree}\n",
                "verified_at": ts(None),
            }
        return {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        }

    def git_commit(self, repo: Repository, info: CommitInfo) -> JsonDict:
        base = f"{self.api}/repos/{repo.full_name}/git"
        return {
            "sha": info.sha,
            "node_id": f"C_{info.sha}",
            "url": f"{base}/commits/{info.sha}",
            "html_url": f"{self.web}/{repo.full_name}/commit/{info.sha}",
            "author": self.person(info.author),
            "committer": self.person(info.committer),
            "message": info.message.rstrip("\n") if info.message.endswith("\n") else info.message,
            "tree": {"sha": info.tree, "url": f"{base}/trees/{info.tree}"},
            "parents": [
                {
                    "sha": p,
                    "url": f"{base}/commits/{p}",
                    "html_url": f"{self.web}/{repo.full_name}/commit/{p}",
                }
                for p in info.parents
            ],
            "verification": self.verification(repo, info.sha),
        }

    def commit(self, repo: Repository, sha: str, files: list[FileChange] | None = None) -> JsonDict:
        info = repo.git.commit_info(sha)
        git_commit = self.git_commit(repo, info)
        data: JsonDict = {
            "url": f"{self.api}/repos/{repo.full_name}/commits/{sha}",
            "sha": sha,
            "node_id": f"C_{sha}",
            "html_url": f"{self.web}/{repo.full_name}/commit/{sha}",
            "comments_url": f"{self.api}/repos/{repo.full_name}/commits/{sha}/comments",
            "commit": {
                "url": git_commit["url"],
                "author": git_commit["author"],
                "committer": git_commit["committer"],
                "message": git_commit["message"],
                "tree": git_commit["tree"],
                "comment_count": 0,
                "verification": git_commit["verification"],
            },
            "author": self._user_by_email(info.author.email),
            "committer": self._user_by_email(info.committer.email),
            "parents": [
                {
                    "sha": p,
                    "url": f"{self.api}/repos/{repo.full_name}/commits/{p}",
                    "html_url": f"{self.web}/{repo.full_name}/commit/{p}",
                }
                for p in info.parents
            ],
        }
        if files is not None:
            data["files"] = [self.diff_entry(repo, sha, f) for f in files]
            data["stats"] = {
                "additions": sum(f.additions for f in files),
                "deletions": sum(f.deletions for f in files),
                "total": sum(f.changes for f in files),
            }
        return data

    def _user_by_email(self, email: str) -> JsonDict | None:
        for account in self.state.accounts.values():
            if account.email and account.email.lower() == email.lower():
                return self.user(account)
        return None

    def simple_commit(self, repo: Repository, sha: str) -> JsonDict:
        info = repo.git.commit_info(sha)
        return {
            "id": sha,
            "tree_id": info.tree,
            "message": info.message,
            "timestamp": ts(info.committer.date),
            "author": {"name": info.author.name, "email": info.author.email},
            "committer": {"name": info.committer.name, "email": info.committer.email},
        }

    def git_ref(self, repo: Repository, ref: str, sha: str) -> JsonDict:
        kind = repo.git.object_type(sha) or "commit"
        return {
            "ref": ref,
            "node_id": f"REF_{ref}",
            "url": f"{self.api}/repos/{repo.full_name}/git/{ref}",
            "object": {
                "type": kind,
                "sha": sha,
                "url": f"{self.api}/repos/{repo.full_name}/git/{kind}s/{sha}",
            },
        }

    # -- apps and installations -------------------------------------------------------------
    def installation(self, inst: Installation) -> JsonDict:
        app = self.state.apps[inst.app_id]
        account = self.state.account(inst.account)
        assert account is not None
        return {
            "id": inst.id,
            "client_id": app.client_id,
            "account": self.user(account),
            "repository_selection": inst.repository_selection,
            "access_tokens_url": f"{self.api}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.web}/settings/installations/{inst.id}",
            "app_id": app.id,
            "app_slug": app.slug,
            "target_id": account.id,
            "target_type": account.type,
            "permissions": dict(inst.permissions),
            "events": list(inst.events),
            "created_at": ts(inst.created_at),
            "updated_at": ts(inst.created_at),
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": None,
            "suspended_at": ts(inst.suspended_at),
        }
