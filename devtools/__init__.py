"""Development-only tools: never shipped (pyproject's package list leaves them out)."""
