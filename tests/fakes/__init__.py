"""Stateful fake forges for compliance-bot's end-to-end tests.

Each fake speaks a forge's real HTTP API on 127.0.0.1, backed by real git repositories, so that
the bot runs unmodified against it. The fakes are test infrastructure: nothing in `bot/` may
import them, and they must never reach the network beyond the loopback interface.
"""
