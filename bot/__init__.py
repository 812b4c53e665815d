"""compliance-bot: compliance as code on pull requests, with governed opt-outs.

Importing this package does no I/O and reads no environment.
"""

__version__ = "0.1.0"
