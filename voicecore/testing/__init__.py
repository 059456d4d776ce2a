"""Real servers for tests and development: never used by the production wiring."""
