"""For tests of voicecore and of the backends that use it: a room-service double and real servers.

A deliberate public testing module, never used by the production wiring:
``InMemoryRoomGateway`` (a double of the LiveKit behaviour the core relies on) and,
in its submodules, the pinned LiveKit server and redis-server on loopback
(``livekit_server``, ``redis_server``). A host backend can run its own integration
tests against a real LiveKit server with ``running_livekit_server()``. Binaries are
found through an environment variable or PATH, so it works from an installed wheel.
"""

from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

__all__ = ["InMemoryRoomGateway"]
