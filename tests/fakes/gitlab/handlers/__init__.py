"""REST handlers of the fake GitLab, one module per API area; importing this registers them.

Handlers translate between HTTP and the fake's operations: they resolve resources with GitLab's
visibility rules (via `Ctx`), call `FakeGitLab` methods for anything that changes state (so the
same webhooks follow as when a test acts), and render GitLab's JSON. They hold no state.
"""

from . import merge_requests, notes, oauth, projects, repository, users  # noqa: F401
