"""The calls phase counts every LiveKit API request an operation makes, on the real server."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

import pytest

from bench.phases.calls import count_side, direct_side, service_side
from bench.targets import ABSENT_AGENT, LiveKitAccess, Target, service_environment
from voicecore.testing.livekit_server import LocalLiveKitServer

AUTH_SECRET = "an-auth-secret-of-at-least-thirty-two-characters"
ROUNDS = 2
OWNED = 2


def access(server: LocalLiveKitServer) -> LiveKitAccess:
    return LiveKitAccess(server.url, server.api_key, server.api_secret)


async def test_a_hand_written_backend_s_calls_are_counted_exactly(livekit_server: LocalLiveKitServer) -> None:
    async with direct_side(access(livekit_server), f"bench-test-{secrets.token_hex(4)}") as side:
        counted = await count_side(side, rounds=ROUNDS, owned_rooms=OWNED)
    assert {operation: figures["by_method_median"] for operation, figures in counted.items()} == {
        "create": {"CreateRoom": 1},
        "status": {"ListRooms": 1, "ListParticipants": 1},
        "list": {"ListRooms": 1, "ListParticipants": OWNED},
        "end": {"ListRooms": 1, "DeleteRoom": 1},
    }
    assert all(figures["calls_min"] == figures["calls_max"] for figures in counted.values())
    assert [counted[op]["requests"] for op in ("create", "status", "list", "end")] == [
        ROUNDS * OWNED,
        ROUNDS,
        ROUNDS,
        ROUNDS * OWNED,
    ]


async def test_the_service_s_calls_go_through_the_proxy(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    def settings(target: Target, livekit: LiveKitAccess) -> Mapping[str, str]:
        return service_environment(target, livekit, AUTH_SECRET)

    target = Target(f"calls_test_{secrets.token_hex(3)}", "counted")
    async with service_side(
        access(livekit_server), target, settings, auth_secret=AUTH_SECRET, log_dir=tmp_path
    ) as side:
        counted = await count_side(side, rounds=1, owned_rooms=OWNED)
    # Whatever else a later version asks LiveKit, it makes one room per create and deletes one per end.
    assert counted["create"]["by_method_median"]["CreateRoom"] == 1
    assert counted["end"]["by_method_median"]["DeleteRoom"] == 1
    assert all(figures["calls_min"] >= 1 for figures in counted.values())


@pytest.mark.parametrize("agent_name", [None, ABSENT_AGENT], ids=["no agent configured", "agent pending"])
async def test_status_and_list_stay_within_issue_22s_livekit_calls(
    livekit_server: LocalLiveKitServer, tmp_path: Path, agent_name: str | None
) -> None:
    """status at most 2 calls, list at most 1 + one per owned room, ListDispatch on neither."""

    def settings(target: Target, livekit: LiveKitAccess) -> Mapping[str, str]:
        return service_environment(target, livekit, AUTH_SECRET)

    env = {} if agent_name is None else {"LIVEKIT_AGENT_NAME": agent_name}
    target = Target(f"calls_bound_{secrets.token_hex(3)}", "counted", env=env)
    async with service_side(
        access(livekit_server), target, settings, auth_secret=AUTH_SECRET, log_dir=tmp_path
    ) as side:
        counted = await count_side(side, rounds=ROUNDS, owned_rooms=OWNED)
    assert counted["status"]["calls_max"] <= 2
    assert counted["list"]["calls_max"] <= 1 + OWNED
    assert counted["status"]["by_method_median"] == {"ListRooms": 1, "ListParticipants": 1}
    assert counted["list"]["by_method_median"] == {"ListRooms": 1, "ListParticipants": OWNED}
    if agent_name is None:  # no agent can be dispatched: LiveKit is never asked about one
        assert all("ListDispatch" not in figures["by_method_median"] for figures in counted.values())
