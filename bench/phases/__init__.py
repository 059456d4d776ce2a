"""The measured phases; each takes the ``Harness`` and returns its JSON block."""
