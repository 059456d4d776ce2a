"""The framework-free core: domain, ports and use cases. Imports nothing outside the stdlib."""
