"""Shared pytest configuration: registers the fake forge fixtures (tests/fakes)."""

pytest_plugins = ["fakes.github.fixtures"]
