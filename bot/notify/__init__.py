"""Notifications: people hear about exceptions and bypass signals in Slack, Teams or a signed
webhook, fed from the audit stream and never called by handlers (DESIGN §2).

Kept apart as Argo CD Notifications keeps them:

- *what happened*: the audit event; ``triggers`` says which actions make which kind of
  ``model.Notification`` (one builder per kind);
- *who wants to hear*: ``routes`` (a repository's ``notifications.routes`` and the deployment's
  default route) over ``destinations`` (the deployment's, from the environment);
- *how to say it*: one template per sink, ``slack``, ``teams`` and ``webhook``;
- ``outbox`` reads the stream past its cursor, makes one row per notification and destination,
  and sends each from the job queue with retries.

Importing this package does nothing; nothing here reads configuration at import time.
"""
