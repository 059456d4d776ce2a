"""The in-memory gateway (a test double) models what the real server does, where tests rely on it.

Each rule here is proven on the pinned server in test_livekit_facts.py.
"""

from __future__ import annotations

import asyncio

import pytest

from voicecore.core.errors import GatewayError
from voicecore.core.ports import AgentDispatch, ParticipantKind, RoomSpec
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway, RoomFull


def test_memory_gateway_models_max_participants_without_counting_agents(
    memory_gateway: InMemoryRoomGateway,
) -> None:
    spec = RoomSpec(name="r", metadata="", empty_timeout_seconds=300, max_participants=2)
    asyncio.run(memory_gateway.create_room(spec))
    memory_gateway.join("r", "a")
    memory_gateway.join("r", "agent", ParticipantKind.AGENT)
    memory_gateway.join("r", "b")
    with pytest.raises(RoomFull):
        memory_gateway.join("r", "c")
    memory_gateway.join("r", "a")  # the same identity again replaces, it does not add


async def test_the_memory_gateway_refuses_dispatch_calls_on_a_missing_room(
    memory_gateway: InMemoryRoomGateway,
) -> None:
    # As the server does with auto_create off (tests/livekit/test_livekit_facts.py).
    with pytest.raises(GatewayError):
        await memory_gateway.list_agent_dispatches("fitness-voice-alice-0123456789abcdef")
    with pytest.raises(GatewayError):
        await memory_gateway.dispatch_agent(
            "fitness-voice-alice-0123456789abcdef", AgentDispatch("coach", "{}")
        )
    assert memory_gateway.room_names == frozenset()
