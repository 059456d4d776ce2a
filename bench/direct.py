"""The baseline: what a hand-written backend does with one warm ``LiveKitAPI`` client.

Nothing here goes through voicecore: names, metadata and tokens are made inline,
the way a backend without voicecore would make them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from livekit import api

TOKEN_TTL = timedelta(hours=6)


def room_name_for(user_id: str) -> str:
    return f"fitness-voice-{user_id}-{secrets.token_hex(8)}"


def metadata_for(user_id: str, agent_type: str = "workout") -> str:
    return json.dumps(
        {
            "v": 1,
            "user_id": user_id,
            "agent_type": agent_type,
            "mode": "voice",
            "created_at": datetime.now(UTC).isoformat(),
        },
        separators=(",", ":"),
    )


class DirectBackend:
    """create / status / list for one user, straight on livekit-api."""

    def __init__(self, lk: api.LiveKitAPI, api_key: str, api_secret: str) -> None:
        self._lk = lk
        self._api_key = api_key
        self._api_secret = api_secret

    async def create(self, user_id: str) -> tuple[str, str]:
        """CreateRoom plus a signed join token: the room name and the token."""
        name = room_name_for(user_id)
        await self._lk.room.create_room(
            api.CreateRoomRequest(
                name=name, metadata=metadata_for(user_id), empty_timeout=300, max_participants=2
            )
        )
        token = (
            api.AccessToken(self._api_key, self._api_secret)
            .with_identity(user_id)
            .with_name(user_id)
            .with_grants(
                api.VideoGrants(
                    room_join=True, room=name, can_publish=True, can_subscribe=True, can_publish_data=True
                )
            )
            .with_ttl(TOKEN_TTL)
            .to_jwt()
        )
        return name, token

    async def status(self, user_id: str, name: str) -> int:
        """ListRooms(names=[name]) and ListParticipants(room=name), concurrently; the head count."""
        rooms, participants = await asyncio.gather(
            self._lk.room.list_rooms(api.ListRoomsRequest(names=[name])),
            self._lk.room.list_participants(api.ListParticipantsRequest(room=name)),
        )
        room = next((r for r in rooms.rooms if r.name == name), None)
        if room is None or json.loads(room.metadata).get("user_id") != user_id:
            raise LookupError(name)
        return len(participants.participants)

    async def end(self, user_id: str, name: str) -> None:
        """ListRooms(names=[name]) to check the owner, then DeleteRoom."""
        rooms = (await self._lk.room.list_rooms(api.ListRoomsRequest(names=[name]))).rooms
        if not rooms or _owner(rooms[0].metadata) != user_id:
            raise LookupError(name)
        await self._lk.room.delete_room(api.DeleteRoomRequest(room=name))

    async def lookup(self, name: str) -> bool:
        """ListRooms(names=[name]) alone: what status (and get_room) asks LiveKit for."""
        return bool((await self._lk.room.list_rooms(api.ListRoomsRequest(names=[name]))).rooms)

    async def scan(self) -> int:
        """A bare full ListRooms: how many rooms LiveKit holds."""
        return len((await self._lk.room.list_rooms(api.ListRoomsRequest())).rooms)

    async def list_sessions(self, user_id: str) -> list[tuple[str, int]]:
        """Full ListRooms, filtered by name prefix and owner, then ListParticipants per owned room."""
        prefix = f"fitness-voice-{user_id}-"
        rooms = (await self._lk.room.list_rooms(api.ListRoomsRequest())).rooms
        return await self._head_counts(
            [r.name for r in rooms if r.name.startswith(prefix) and _owner(r.metadata) == user_id]
        )

    async def list_indexed(self, user_id: str, names: list[str]) -> list[tuple[str, int]]:
        """What a per-user index would leave to do: ListRooms(names=the user's rooms), then the counts.

        The index lookup itself (a dict, a Redis set) is left out: this is the LiveKit side.
        """
        rooms = (await self._lk.room.list_rooms(api.ListRoomsRequest(names=names))).rooms
        return await self._head_counts([r.name for r in rooms if _owner(r.metadata) == user_id])

    async def _head_counts(self, names: list[str]) -> list[tuple[str, int]]:
        """ListParticipants per room, concurrently."""
        counts = await asyncio.gather(
            *(self._lk.room.list_participants(api.ListParticipantsRequest(room=n)) for n in names)
        )
        return [(n, len(c.participants)) for n, c in zip(names, counts, strict=True)]


def _owner(metadata: str) -> object:
    try:
        decoded = json.loads(metadata)
    except ValueError:
        return None
    return decoded.get("user_id") if isinstance(decoded, dict) else None


async def create_rooms(
    lk: api.LiveKitAPI, names_and_metadata: Iterable[tuple[str, str]], *, concurrency: int = 16
) -> list[str]:
    """Create rooms (not timed) with bounded concurrency; empty_timeout keeps strays short-lived."""
    gate = asyncio.Semaphore(concurrency)

    async def one(name: str, metadata: str) -> str:
        async with gate:
            await lk.room.create_room(
                api.CreateRoomRequest(name=name, metadata=metadata, empty_timeout=900, max_participants=2)
            )
        return name

    return list(await asyncio.gather(*(one(n, m) for n, m in names_and_metadata)))


async def delete_rooms(lk: api.LiveKitAPI, names: Iterable[str], *, concurrency: int = 16) -> int:
    """Delete rooms (not timed) with bounded concurrency; the number that existed."""
    gate = asyncio.Semaphore(concurrency)

    async def one(name: str) -> bool:
        async with gate:
            try:
                await lk.room.delete_room(api.DeleteRoomRequest(room=name))
            except api.ServerError as exc:
                if exc.code == api.TwirpErrorCode.NOT_FOUND:
                    return False
                raise
        return True

    return sum(await asyncio.gather(*(one(n) for n in set(names))))
