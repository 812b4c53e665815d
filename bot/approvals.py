"""Which head commit each approval was given on, where the forge doesn't keep it (GitLab).

GitLab's approvals API lists who approved a merge request, not the commit they saw, and it does
not always reset approvals on push. The approval webhook names the head at that moment, so the
bot records it here; ``GitLabForge.reviews`` reads it back, and an approval the bot never saw
(or saw on an older head) can't count. Recording is idempotent: a redelivered webhook writes
the same row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.store import Store
from bot.store.tables import ApprovalSeen


def record(
    store: Store,
    *,
    forge: str,
    repository: str,
    pull_request: int,
    login: str,
    head_sha: str,
    at: datetime,
) -> None:
    """``login`` approved ``pull_request`` when its head was ``head_sha`` (the latest wins)."""
    key = (forge, repository, pull_request, login.lower())
    for _ in range(2):  # two deliveries of one approval at once: the loser updates the row
        try:
            with store.session() as session:
                row = session.get(ApprovalSeen, key)
                if row is None:
                    session.add(
                        ApprovalSeen(
                            forge=forge,
                            repository=repository,
                            pull_request=pull_request,
                            login=login.lower(),
                            head_sha=head_sha,
                            seen_at=at,
                        )
                    )
                else:
                    row.head_sha, row.seen_at = head_sha, at
            return
        except IntegrityError:
            continue


def forget(store: Store, *, forge: str, repository: str, pull_request: int, login: str) -> None:
    """``login`` withdrew their approval."""
    with store.session() as session:
        session.execute(
            delete(ApprovalSeen).where(
                ApprovalSeen.forge == forge,
                ApprovalSeen.repository == repository,
                ApprovalSeen.pull_request == pull_request,
                ApprovalSeen.login == login.lower(),
            )
        )


def seen(store: Store, forge: str, repository: str, pull_request: int) -> dict[str, str]:
    """login (lower-case) -> the head SHA their approval was given on."""
    with store.session() as session:
        rows = session.execute(
            select(ApprovalSeen.login, ApprovalSeen.head_sha).where(
                ApprovalSeen.forge == forge,
                ApprovalSeen.repository == repository,
                ApprovalSeen.pull_request == pull_request,
            )
        )
        return {login: sha for login, sha in rows}
