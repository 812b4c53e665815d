"""Addresses: the forge's pages for a repository's pull requests and commits, and the
dashboard's own page for a check (the "Details" link of every check the bot posts)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from bot.config import Settings


def forge_base(settings: Settings, forge: str) -> str | None:
    if forge == "gitlab":
        return settings.gitlab_url.rstrip("/") if settings.gitlab_url else None
    return settings.github_web_url


def repository_url(settings: Settings, forge: str, repository: str) -> str | None:
    base = forge_base(settings, forge)
    return f"{base}/{quote(repository)}" if base else None


def pull_url(settings: Settings, forge: str, repository: str, number: int) -> str | None:
    repo = repository_url(settings, forge, repository)
    if repo is None:
        return None
    return f"{repo}/-/merge_requests/{number}" if forge == "gitlab" else f"{repo}/pull/{number}"


def commit_url(settings: Settings, forge: str, repository: str, sha: str) -> str | None:
    repo = repository_url(settings, forge, repository)
    if repo is None:
        return None
    return f"{repo}/-/commit/{sha}" if forge == "gitlab" else f"{repo}/commit/{sha}"


def check_path(forge: str, repository: str, sha: str, name: str = "compliance") -> str:
    path = f"/dashboard/checks/{forge}/{quote(repository)}/-/{sha}"
    return path if name == "compliance" else f"{path}?{urlencode({'name': name})}"


def exception_path(forge: str, repository: str, exception_id: str) -> str:
    return f"/dashboard/exceptions/{forge}/{quote(repository)}/-/{quote(exception_id)}"


def check_details_url(
    settings: Settings, forge: str, repository: str, sha: str, name: str
) -> str | None:
    """Where a check's "Details" link goes: its page on the dashboard when the dashboard is on
    and the bot knows its public address; else the bot's public address, or nothing."""
    if not settings.public_url:
        return None
    base = settings.public_url.rstrip("/")
    if not settings.dashboard_forges:
        return base
    return base + check_path(forge, repository, sha, name)
