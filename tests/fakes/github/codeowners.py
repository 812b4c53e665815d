"""GitHub's CODEOWNERS error report (`GET /repos/{owner}/{repo}/codeowners/errors`).

GitHub skips invalid CODEOWNERS lines and lists them through this endpoint; the bot relies on it
to fail closed. The rules here follow GitHub's documentation: gitignore-style patterns without
`!` negation, `[ ]` ranges or `\\#` escapes; owners that are `@user`, `@org/team` or an email,
each of which must exist and have write access to the repository (teams must be visible).
Pure: reads the state, changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from .state import Repository, State, permission_at_least

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USER = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\[bot\])?$")
_TEAM = re.compile(r"^@([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+)$")


def codeowners_errors(state: State, repo: Repository, path: str, text: str) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        content = re.split(r"\s#", line, maxsplit=1)[0].rstrip()
        tokens = [(m.start() + 1, m.group()) for m in re.finditer(r"\S+", content)]
        if not tokens:
            continue
        column, pattern = tokens[0]
        problem = _pattern_problem(pattern)
        if problem is not None:
            errors.append(_error(path, number, column, "Invalid pattern", line, problem))
            continue
        for column, owner in tokens[1:]:
            kind = _owner_problem(state, repo, owner)
            if kind is None:
                continue
            suggestion = None
            if kind == "Unknown owner":
                suggestion = f"make sure {owner} exists and has write access to the repository"
            errors.append(_error(path, number, column, kind, line, suggestion))
    return errors


def _pattern_problem(pattern: str) -> str | None:
    if pattern.startswith("!"):
        return "Negation patterns are not supported"
    if "[" in pattern or "]" in pattern:
        return "Character ranges are not supported"
    if pattern.startswith("\\#"):
        return "Escaping a pattern starting with `#` is not supported"
    if "***" in pattern:
        return f"Did you mean `{re.sub(r'[*]{3,}', '**', pattern)}`?"
    if pattern == "/":
        return "The pattern `/` will never match anything, did you mean `*` instead?"
    return None


def _owner_problem(state: State, repo: Repository, owner: str) -> str | None:
    team = _TEAM.match(owner)
    if team is not None:
        org, slug = team.groups()
        found = state.team(org, slug)
        if (
            found is None
            or org.lower() != repo.owner.lower()
            or found.privacy == "secret"
            or not permission_at_least(state.team_permission(found, repo.full_name), "write")
        ):
            return "Unknown owner"
        return None
    if _USER.match(owner):
        account = state.account(owner[1:])
        if account is None or account.type == "Organization":
            return "Unknown owner"
        if not permission_at_least(state.user_permission(repo, account.login), "write"):
            return "Unknown owner"
        return None
    if _EMAIL.match(owner):
        for account in state.accounts.values():
            if (
                account.email
                and account.email.lower() == owner.lower()
                and permission_at_least(state.user_permission(repo, account.login), "write")
            ):
                return None
        return "Unknown owner"
    return "Invalid owner"


def _error(
    path: str, line: int, column: int, kind: str, source: str, suggestion: str | None
) -> dict[str, Any]:
    head = f"{kind} on line {line}:" + (f" {suggestion}" if suggestion else "")
    return {
        "line": line,
        "column": column,
        "kind": kind,
        "source": source,
        "suggestion": suggestion,
        "message": f"{head}\n\n  {source}\n  {' ' * (column - 1)}^",
        "path": path,
    }
