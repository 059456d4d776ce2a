"""Real servers for tests: the pinned LiveKit server (and Redis), started on loopback.

A deliberate public testing module: a host backend can run its own integration
tests against a real LiveKit server with ``running_livekit_server()``. Binaries
are found through an environment variable or PATH, so it works from an installed
wheel. Never used by the production wiring.
"""
