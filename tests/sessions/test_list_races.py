"""A list or a status that races the end of a session, and a room whose details cannot be read (issue 23).

A room that vanishes while it is being listed is listed as it was or not at all;
a failure reading one room's participants leaves that room out and never fails the
others. A status whose room vanishes answers as it was, or 404. On the real server,
then with a gateway that fails for one room only.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

import httpx
import pytest

from tests.support.apps import session_path
from tests.support.constants import BASE
from tests.support.livekit import unique_user_id
from tests.support.tokens import auth_header
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.core.domain import User
from voicecore.core.errors import GatewayError, SessionNotFound
from voicecore.core.ports import Participant
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

TRIALS = 50


async def test_a_list_racing_an_end_on_the_real_server_never_answers_5xx(
    livekit_client: httpx.AsyncClient,
) -> None:
    headers = auth_header(unique_user_id("list-race"))
    answers: Counter[int] = Counter()
    for _ in range(TRIALS):
        kept, doomed = [
            (await livekit_client.post(BASE, json={}, headers=headers)).json()["room_name"] for _ in range(2)
        ]
        listed, ended = await asyncio.gather(
            livekit_client.get(BASE, headers=headers),
            livekit_client.delete(session_path(doomed), headers=headers),
        )
        answers[listed.status_code] += 1
        assert ended.status_code == 200, ended.text
        assert listed.status_code == 200, listed.text
        names = {item["room_name"] for item in listed.json()["sessions"]}
        assert kept in names
        assert names <= {kept, doomed}  # the ended one as it was, or not at all
        assert (await livekit_client.delete(session_path(kept), headers=headers)).status_code == 200
    assert answers == {200: TRIALS}


async def test_a_status_racing_an_end_on_the_real_server_is_200_or_404_never_5xx(
    livekit_client: httpx.AsyncClient,
) -> None:
    headers = auth_header(unique_user_id("status-race"))
    answers: Counter[int] = Counter()
    for _ in range(TRIALS):
        room = (await livekit_client.post(BASE, json={}, headers=headers)).json()["room_name"]
        status, ended = await asyncio.gather(
            livekit_client.get(session_path(room), headers=headers),
            livekit_client.delete(session_path(room), headers=headers),
        )
        assert ended.status_code == 200, ended.text
        assert status.status_code in {200, 404}, status.text
        if status.status_code == 200:
            assert status.json()["room_name"] == room
        answers[status.status_code] += 1
    assert sum(answers.values()) == TRIALS


class OneRoomFailing(InMemoryRoomGateway):
    """The in-memory gateway, failing to list one room's participants; deleting it then, if asked.

    As LiveKit does for a room an end deletes while the read is under way.
    """

    failing_room = ""
    deleted_by_the_failure = False

    async def list_participants(self, name: str) -> Sequence[Participant]:
        if name == self.failing_room:
            if self.deleted_by_the_failure:
                await self.delete_room(name)
            raise GatewayError("list_participants", name, "simulated failure of one room")
        return await super().list_participants(name)


@pytest.fixture
def one_room_failing() -> OneRoomFailing:
    return OneRoomFailing()


async def test_a_room_whose_participants_cannot_be_read_is_left_out_and_the_others_listed(
    one_room_failing: OneRoomFailing, token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> None:
    sessions = VoiceSessions(one_room_failing, token_issuer, store=InProcessSessionStore(), recorder=recorder)
    alice = User("alice")
    rooms = [(await sessions.start(alice)).room_name for _ in range(3)]
    one_room_failing.failing_room = rooms[1]
    assert {s.room_name for s in await sessions.list(alice)} == {rooms[0], rooms[2]}


async def test_when_every_room_fails_the_list_fails_rather_than_answer_empty(
    one_room_failing: OneRoomFailing, token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> None:
    sessions = VoiceSessions(one_room_failing, token_issuer, store=InProcessSessionStore(), recorder=recorder)
    alice = User("alice")
    room = (await sessions.start(alice)).room_name
    one_room_failing.failing_room = room
    with pytest.raises(GatewayError):
        await sessions.list(alice)


async def test_a_status_whose_room_vanished_while_its_participants_were_read_is_not_found(
    one_room_failing: OneRoomFailing, token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> None:
    sessions = VoiceSessions(one_room_failing, token_issuer, store=InProcessSessionStore(), recorder=recorder)
    alice = User("alice")
    room = (await sessions.start(alice)).room_name
    one_room_failing.failing_room, one_room_failing.deleted_by_the_failure = room, True
    with pytest.raises(SessionNotFound):
        await sessions.status(alice, room)


async def test_a_status_whose_room_is_still_there_fails_as_livekit_failing(
    one_room_failing: OneRoomFailing, token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> None:
    sessions = VoiceSessions(one_room_failing, token_issuer, store=InProcessSessionStore(), recorder=recorder)
    alice = User("alice")
    room = (await sessions.start(alice)).room_name
    one_room_failing.failing_room = room
    with pytest.raises(GatewayError):
        await sessions.status(alice, room)
