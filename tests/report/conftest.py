"""Renderer tests use the shared ``golden`` fixture of ``tests/conftest.py``."""
