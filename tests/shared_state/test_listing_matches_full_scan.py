"""The indexed listing against round 1's full scan, on the real server, as rooms come and go.

Rooms are created and ended through the service, expire by empty_timeout, are
deleted behind the service's back, and are made behind its back with valid
metadata. At every step a user's listing lies between two full scans taken
around it (rooms only ever vanish on their own, so a scan after can only have
fewer); a session made behind the service's back is missing only until the
index is repaired, and after a repair the listing is exactly the full scan.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from livekit import api

from tests.support import full_scan
from tests.support.apps import LoopHarness, service_container, session_path
from tests.support.constants import BASE
from tests.support.full_scan import sessions_by_full_scan
from tests.support.livekit import unique_user_id
from tests.support.strategies import user_ids
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.core.domain import AgentType, SessionMode, utc_now
from voicecore.core.metadata import RoomMetadata
from voicecore.core.naming import new_room_name
from voicecore.testing.livekit_server import LocalLiveKitServer

EMPTY_TIMEOUT_SECONDS = 1


class ListingMachine(RuleBasedStateMachine):
    server: LocalLiveKitServer
    rooms = Bundle("rooms")

    def __init__(self) -> None:
        super().__init__()
        tag = unique_user_id("scan")
        self.users = [f"{tag}|a", f"{tag}|a-1", f"{tag}:b"]  # ids that extend each other, escaped
        self.room_prefix = f"fitness-voice-{tag}~"  # every room of these users, and only theirs
        self.container = service_container(
            self.server.url,
            self.server.api_key,
            self.server.api_secret,
            SESSION_EMPTY_TIMEOUT_SECONDS=str(EMPTY_TIMEOUT_SECONDS),
            SESSION_RECONCILE_INTERVAL_SECONDS="0",
        )
        self.harness = LoopHarness(self.container)
        self.unindexed: set[str] = set()  # sessions made behind the service's back
        self.lk = self.harness.run(self._livekit_api())

    async def _livekit_api(self) -> api.LiveKitAPI:
        return api.LiveKitAPI(self.server.url, self.server.api_key, self.server.api_secret)  # in the loop

    def teardown(self) -> None:
        self.harness.run(self.lk.aclose())
        self.harness.close()

    def call(self, method: str, url: str, user: str, **kwargs: Any) -> httpx.Response:
        return self.harness.run(self.harness.client.request(method, url, headers=auth_header(user), **kwargs))

    @rule(target=rooms, user=st.integers(0, 2))
    def create(self, user: int) -> tuple[int, str]:
        response = self.call("POST", BASE, self.users[user], json={})
        assert response.status_code == 201, response.text
        return user, response.json()["room_name"]

    @rule(room=rooms)
    def end(self, room: tuple[int, str]) -> None:
        response = self.call("DELETE", session_path(room[1]), self.users[room[0]])
        assert response.status_code in (200, 404)

    @rule(room=rooms)
    def delete_behind_the_services_back(self, room: tuple[int, str]) -> None:
        with contextlib.suppress(api.TwirpError):  # not_found: ended or expired already
            self.harness.run(self.lk.room.delete_room(api.DeleteRoomRequest(room=room[1])))

    @rule(target=rooms, user=st.integers(0, 2))
    def make_a_session_behind_the_services_back(self, user: int) -> tuple[int, str]:
        owner = self.users[user]
        name = new_room_name(owner)
        metadata = RoomMetadata(owner, AgentType.DIET, SessionMode.VOICE, utc_now()).encode()
        request = api.CreateRoomRequest(name=name, metadata=metadata, empty_timeout=EMPTY_TIMEOUT_SECONDS)
        self.harness.run(self.lk.room.create_room(request))
        self.unindexed.add(name)
        return user, name

    @rule()
    def let_empty_rooms_expire(self) -> None:
        """Nobody joins these rooms: wait until LiveKit has closed each one there is now."""

        async def ours() -> set[str]:
            rooms = (await self.lk.room.list_rooms(api.ListRoomsRequest())).rooms
            return {room.name for room in rooms if room.name.startswith(self.room_prefix)}

        now = self.harness.run(ours())
        self.harness.run(
            eventually(
                ours,
                lambda left: not left & now,
                what=f"LiveKit to close the empty rooms (empty_timeout {EMPTY_TIMEOUT_SECONDS} s)",
                within=30,
            )
        )

    @rule()
    def repair_the_index(self) -> None:
        assert self.harness.run(self.container.repair().run_once()) is not None
        # Nothing is left unindexed: the invariant now holds the listing to exactly the scan
        # (bracketed by one before and one after, as a room may expire between two reads).
        self.unindexed.clear()

    def listed(self, user: str) -> set[str]:
        response = self.call("GET", BASE, user)
        assert response.status_code == 200, response.text
        return {item["room_name"] for item in response.json()["sessions"]}

    @invariant()
    def the_listing_is_the_full_scan_but_for_what_the_index_has_not_met(self) -> None:
        for user in self.users:
            before = self.harness.run(sessions_by_full_scan(self.server, user))
            listed = self.listed(user)
            after = self.harness.run(sessions_by_full_scan(self.server, user))
            assert listed <= before
            assert after - self.unindexed <= listed


@pytest.mark.slow
def test_the_indexed_listing_equals_the_full_scan(livekit_server: LocalLiveKitServer) -> None:
    ListingMachine.server = livekit_server
    run_state_machine_as_test(
        ListingMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# --- the full scan itself: it reads ownership as documented, on its own -----------------

_HEX = "0123456789abcdef"


def _metadata(user_id: str, **changes: object) -> str:
    fields: dict[str, object] = {
        "v": 1,
        "user_id": user_id,
        "agent_type": "diet",
        "mode": "voice",
        "created_at": "2026-11-26T12:00:00+00:00",
    }
    return json.dumps({**fields, **changes})


@pytest.mark.parametrize(
    ("room_name", "metadata", "owner"),
    [
        (f"fitness-voice-auth0~7C42-{_HEX}", _metadata("auth0|42"), "auth0|42"),
        (f"fitness-voice-a.b_c-{_HEX}", _metadata("a.b_c"), "a.b_c"),
        (f"fitness-voice-~7E-{_HEX}", _metadata("~"), "~"),
        (f"fitness-voice-auth0~7c42-{_HEX}", _metadata("auth0|42"), None),  # lowercase escape
        (f"fitness-voice-auth0|42-{_HEX}", _metadata("auth0|42"), None),  # not escaped
        (f"fitness-voice-42-7-{_HEX}", _metadata("42"), None),  # made for "42-7", metadata says "42"
        (f"fitness-voice-42-{_HEX.upper()}", _metadata("42"), None),
        (f"fitness-voice-42-{_HEX[:-1]}", _metadata("42"), None),
        (f"fitness-voice-42-{_HEX}", _metadata("42", v=True), None),
        (f"fitness-voice-42-{_HEX}", _metadata("42", v=2), None),
        (f"fitness-voice-42-{_HEX}", _metadata("42", agent_type="yoga"), None),
        (f"fitness-voice-42-{_HEX}", _metadata("42", mode="video"), None),
        (f"fitness-voice-42-{_HEX}", _metadata("42", created_at="2026-11-26T12:00:00"), None),
        (f"fitness-voice-42-{_HEX}", _metadata("42", extra=1), None),
        (f"fitness-voice-42-{_HEX}", json.dumps({"user_id": "42"}), None),
        (f"fitness-voice-42-{_HEX}", "{not json", None),
        (f"lobby-42-{_HEX}", _metadata("42"), None),
    ],
)
def test_the_full_scan_reads_ownership_as_documented(
    room_name: str, metadata: str, owner: str | None
) -> None:
    assert full_scan.owner(room_name, metadata) == owner


@given(user_ids, st.sampled_from(AgentType))
def test_the_full_scan_and_voicecore_agree_on_every_room_voicecore_makes(
    user_id: str, agent_type: AgentType
) -> None:
    """The two readings agree where they must; the full scan shares no code with voicecore's."""
    name = new_room_name(user_id)
    metadata = RoomMetadata(user_id, agent_type, SessionMode.VOICE, utc_now()).encode()
    assert full_scan.owner(name, metadata) == user_id
    made_for_another = f"fitness-voice-{full_scan.escaped(user_id)}-7-{_HEX}"  # for user_id + "-7"
    assert full_scan.owner(made_for_another, metadata) is None
