"""Errors raised inside this package that callers outside it catch by name, importable without
the modules that raise them (``bot.forge.git`` starts subprocesses: a ``scan`` never loads it)."""


class GitError(RuntimeError):
    """A git command failed; the message says which and why, in git's words."""
