"""The fake GitHub's world operations, one part of `FakeGitHub` per area.

Each part is a mixin over `WorldBase`: the methods a test calls to act as people do (push, open a
pull request, review, comment, merge) and the REST handlers call to act for the bot.
"""

from .accounts import Accounts
from .apps import Apps
from .checks import Checks
from .issues import Issues
from .pulls import Pulls
from .repositories import Repositories

__all__ = ["Accounts", "Apps", "Checks", "Issues", "Pulls", "Repositories"]
