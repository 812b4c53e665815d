"""A stateful fake of GitLab for end-to-end tests: REST API v4, project webhooks and git over
HTTP on 127.0.0.1, backed by real git repositories.

    from fakes.gitlab import FakeGitLab

See `fake.py` for the test-facing API and `fixtures.py` for the `fake_gitlab` pytest fixture.
"""

from .fake import FakeGitLab

__all__ = ["FakeGitLab"]
