"""The fake GitLab's world operations, one part of `FakeGitLab` per area.

Each part is a mixin over `WorldBase`: the methods a test calls to act as people do (push, open
a merge request, comment, approve, merge) and the REST handlers call to act for the bot.
"""

from .accounts import Accounts
from .discussions import Discussions
from .merge_requests import MergeRequests
from .projects import Projects
from .statuses import Statuses

__all__ = ["Accounts", "Discussions", "MergeRequests", "Projects", "Statuses"]
