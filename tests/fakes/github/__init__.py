"""A stateful fake of GitHub for end-to-end tests: REST, webhooks and git over HTTP on 127.0.0.1.

    from fakes.github import FakeGitHub

See `fake.py` for the test-facing API and `fixtures.py` for the `fake_github` pytest fixture.
"""

from .fake import FakeGitHub

__all__ = ["FakeGitHub"]
