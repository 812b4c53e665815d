"""REST handlers of the fake GitHub, one module per API area; importing this registers them.

Handlers translate between HTTP and the fake's operations: they resolve resources with GitHub's
visibility rules (via `Ctx`), call `FakeGitHub` methods for anything that changes state (so the
same webhooks follow as when a test acts), and render GitHub's JSON. They hold no state.
"""

from . import apps, checks, git_data, issues, oauth, orgs, pulls, repos  # noqa: F401
