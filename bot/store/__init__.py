"""The bot's own state: deliveries, audit events, check records, installations (SQLAlchemy 2).

SQLite in the data directory by default, PostgreSQL through ``DATABASE_URL``; the schema is owned
by the Alembic migrations beside this file and applied with :func:`migrate`.
"""

from bot.store.db import Store, migrate
from bot.store.tables import (
    AuditEvent,
    Base,
    CheckRecord,
    Delivery,
    Installation,
    LedgerEntry,
    Lock,
)

__all__ = [
    "AuditEvent",
    "Base",
    "CheckRecord",
    "Delivery",
    "Installation",
    "LedgerEntry",
    "Lock",
    "Store",
    "migrate",
]
