"""compliance-bot: compliance as code on pull requests, with governed opt-outs.

Importing this package does no I/O and reads no environment.
"""

__version__ = "0.1.0"


def create_app(settings=None):  # type: ignore[no-untyped-def]
    """The Flask app (webhooks, setup page, health); imports the web stack only when called."""
    from bot.web.app import create_app as _create_app

    return _create_app(settings)
