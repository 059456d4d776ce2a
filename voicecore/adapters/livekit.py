"""RoomGateway and TokenIssuer on livekit-api: the only module that imports livekit.

Error translation happens here, once: every livekit-api ``ServerError`` and every
transport failure (``aiohttp.ClientError``, ``asyncio.TimeoutError``) leaves this
module as the core's ``GatewayError`` naming the operation and room. The one
expected Twirp error, ``not_found`` on delete, means "did not exist".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
from livekit import api

from voicecore.core.domain import User, room_name_prefix_for
from voicecore.core.errors import GatewayError
from voicecore.core.ports import (
    IssuedToken,
    Participant,
    ParticipantKind,
    Room,
    RoomGateway,
    RoomSpec,
    TokenIssuer,
)

_KINDS = {
    api.ParticipantInfo.Kind.STANDARD: ParticipantKind.STANDARD,
    api.ParticipantInfo.Kind.AGENT: ParticipantKind.AGENT,
    api.ParticipantInfo.Kind.INGRESS: ParticipantKind.INGRESS,
    api.ParticipantInfo.Kind.EGRESS: ParticipantKind.EGRESS,
    api.ParticipantInfo.Kind.SIP: ParticipantKind.SIP,
}

DEFAULT_REQUEST_TIMEOUT_SECONDS = 5.0


@contextlib.asynccontextmanager
async def _translated(operation: str, room_name: str | None, timeout_seconds: float) -> AsyncIterator[None]:
    try:
        # livekit-api 1.2 passes timeout=None on every request, which aiohttp reads
        # as "no timeout": the ClientTimeout given to LiveKitAPI never applies.
        # The deadline is therefore enforced here, around the whole call.
        async with asyncio.timeout(timeout_seconds):
            yield
    except api.ServerError as exc:
        raise GatewayError(operation, room_name, f"LiveKit answered {exc.code} (HTTP {exc.status})") from exc
    except TimeoutError as exc:
        raise GatewayError(operation, room_name, "LiveKit did not answer in time") from exc
    except aiohttp.ClientError as exc:
        raise GatewayError(operation, room_name, f"could not reach LiveKit ({type(exc).__name__})") from exc


def _room(info: api.Room) -> Room:
    return Room(name=info.name, metadata=info.metadata, sid=info.sid)


class LiveKitRoomGateway(RoomGateway):
    """Owns one ``LiveKitAPI`` client, and so one aiohttp session, for its life.

    livekit-api builds its aiohttp session in the constructor, which must run in
    the event loop that will use it; so the client is built by ``open()`` (or the
    first call) and closed by ``aclose()``. The app lifespan does both.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        self._url = url
        self._api_key = api_key
        self._api_secret = api_secret
        self._timeout_seconds = timeout_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._client: api.LiveKitAPI | None = None
        self._closed = False

    def _lk(self) -> api.LiveKitAPI:
        if self._client is None:
            if self._closed:
                # A late call after shutdown must not open a session nobody closes.
                raise GatewayError("connect", None, "the LiveKit client is closed")
            self._client = api.LiveKitAPI(self._url, self._api_key, self._api_secret, timeout=self._timeout)
        return self._client

    async def open(self) -> None:
        self._closed = False
        self._lk()

    async def aclose(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _call(self, operation: str, room_name: str | None) -> contextlib.AbstractAsyncContextManager[None]:
        return _translated(operation, room_name, self._timeout_seconds)

    async def create_room(self, spec: RoomSpec) -> Room:
        request = api.CreateRoomRequest(
            name=spec.name,
            metadata=spec.metadata,
            empty_timeout=spec.empty_timeout_seconds,
            max_participants=spec.max_participants,
        )
        if spec.agent_dispatch is not None:
            # Dispatch through CreateRoom: a token's room_config is ignored once
            # the room exists, and we always create the room first.
            request.agents.append(
                api.RoomAgentDispatch(
                    agent_name=spec.agent_dispatch.agent_name,
                    metadata=spec.agent_dispatch.metadata,
                )
            )
        async with self._call("create_room", spec.name):
            return _room(await self._lk().room.create_room(request))

    async def get_room(self, name: str) -> Room | None:
        # LiveKit has no GetRoom; ListRooms with names matches exactly.
        async with self._call("get_room", name):
            response = await self._lk().room.list_rooms(api.ListRoomsRequest(names=[name]))
        for info in response.rooms:
            if info.name == name:
                return _room(info)
        return None

    async def list_candidate_rooms(self, owner_id: str) -> Sequence[Room]:
        # LiveKit cannot filter by metadata or prefix, so this is a full scan,
        # narrowed here to names made for this owner before anything is decoded.
        prefix = room_name_prefix_for(owner_id)
        async with self._call("list_rooms", None):
            response = await self._lk().room.list_rooms(api.ListRoomsRequest())
        return [_room(info) for info in response.rooms if info.name.startswith(prefix)]

    async def list_participants(self, name: str) -> Sequence[Participant]:
        async with self._call("list_participants", name):
            response = await self._lk().room.list_participants(api.ListParticipantsRequest(room=name))
        return [
            Participant(identity=p.identity, kind=_KINDS.get(p.kind, ParticipantKind.OTHER))
            for p in response.participants
        ]

    async def delete_room(self, name: str) -> bool:
        async with self._call("delete_room", name):
            try:
                await self._lk().room.delete_room(api.DeleteRoomRequest(room=name))
            except api.ServerError as exc:
                if exc.code == api.TwirpErrorCode.NOT_FOUND:
                    return False
                raise
        return True

    async def ping(self) -> None:
        # The cheapest authenticated call: an exact-name lookup of a name we never use.
        async with self._call("ping", None):
            await self._lk().room.list_rooms(api.ListRoomsRequest(names=["voicecore-readiness-probe"]))


class LiveKitTokenIssuer(TokenIssuer):
    """Join tokens signed with the API secret: join one room, talk, nothing more."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self._api_key = api_key
        self._api_secret = api_secret

    def issue(self, user: User, room_name: str, ttl: timedelta) -> IssuedToken:
        grants = api.VideoGrants(
            room_join=True,
            room=room_name,
            can_publish=True,
            can_subscribe=True,
            can_publish_data=True,
        )
        token = (
            api.AccessToken(self._api_key, self._api_secret)
            .with_identity(user.id)
            .with_name(user.display_name)
            .with_grants(grants)
            .with_ttl(ttl)
        )
        signed = token.to_jwt()
        # AccessToken stamps exp from its own clock in whole seconds; read it back
        # (we signed it a line ago, so no need to verify) so expires_at == exp.
        claims = jwt.decode(signed, options={"verify_signature": False})
        return IssuedToken(token=signed, expires_at=datetime.fromtimestamp(claims["exp"], UTC))
