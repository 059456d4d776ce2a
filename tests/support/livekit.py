"""Helpers for tests that talk to the real LiveKit server with real participants."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import TypeVar

from livekit import api, rtc

from voicecore.testing.livekit_server import LocalLiveKitServer, find_binary
from voicecore_http.webhooks import WEBHOOK_PATH

T = TypeVar("T")


def unique_user_id(prefix: str = "u") -> str:
    # The server is shared by the whole session: every test owns its users.
    return f"{prefix}-{secrets.token_hex(4)}"


async def room_names(lk: api.LiveKitAPI) -> set[str]:
    """Every room on the server now."""
    return {room.name for room in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms}


async def rooms_of(lk: api.LiveKitAPI, user: str) -> set[str]:
    """The rooms on the server whose name was made for ``user`` (a plain id: no escapes)."""
    return {name for name in await room_names(lk) if name.startswith(f"fitness-voice-{user}-")}


def raw_token(
    server: LocalLiveKitServer,
    identity: str,
    room: str,
    *,
    kind: api.AccessToken.ParticipantKind = "standard",
    ttl: timedelta = timedelta(minutes=10),
) -> str:
    """A join token made directly with livekit-api (an agent's, say)."""
    return (
        api.AccessToken(server.api_key, server.api_secret)
        .with_identity(identity)
        .with_kind(kind)
        .with_grants(api.VideoGrants(room_join=True, room=room, agent=kind == "agent"))
        .with_ttl(ttl)
        .to_jwt()
    )


@contextlib.asynccontextmanager
async def joined(url: str, token: str) -> AsyncIterator[rtc.Room]:
    """A real participant in the room for the duration of the block."""
    room = rtc.Room()
    await room.connect(url, token, rtc.RoomOptions(auto_subscribe=False, connect_timeout=10))
    try:
        yield room
    finally:
        await room.disconnect()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A loopback listener that accepts connections and never answers; yields its port."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read(-1)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


@contextlib.contextmanager
def livekit_sending_webhooks_to(port: int) -> Iterator[LocalLiveKitServer]:
    """A LiveKit server of its own whose webhooks go to a service on ``port`` (the real webhook client)."""
    binary = find_binary()
    assert binary is not None, "livekit-server is not installed: run `make setup`"
    server = LocalLiveKitServer(binary, webhook_urls=[f"http://127.0.0.1:{port}{WEBHOOK_PATH}"])
    server.start()
    try:
        yield server
    finally:
        server.cleanup()
