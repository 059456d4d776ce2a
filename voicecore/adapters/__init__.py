"""Implementations of the core ports."""
