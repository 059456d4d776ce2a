"""Shared test helpers: plain modules, imported by tests; the plugins are registered in pyproject."""
