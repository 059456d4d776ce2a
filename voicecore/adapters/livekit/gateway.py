"""LiveKitRoomGateway: the RoomGateway on livekit-api's room and agent dispatch services.

The one expected Twirp error, ``not_found`` on delete, means "did not exist";
every other failure goes through translation.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from livekit import api
from livekit.api.agent_dispatch_service import AgentDispatchService
from livekit.api.room_service import RoomService

from voicecore.adapters.livekit.server_tokens import (
    ReusingAgentDispatchService,
    ReusingRoomService,
    ServerTokens,
)
from voicecore.adapters.livekit.translation import translated
from voicecore.core.errors import GatewayError, WrongEventLoop
from voicecore.core.ports import (
    AgentDispatch,
    DispatchRecord,
    Participant,
    ParticipantKind,
    Room,
    RoomGateway,
    RoomSpec,
)

_KINDS = {
    api.ParticipantInfo.Kind.STANDARD: ParticipantKind.STANDARD,
    api.ParticipantInfo.Kind.AGENT: ParticipantKind.AGENT,
    api.ParticipantInfo.Kind.INGRESS: ParticipantKind.INGRESS,
    api.ParticipantInfo.Kind.EGRESS: ParticipantKind.EGRESS,
    api.ParticipantInfo.Kind.SIP: ParticipantKind.SIP,
}

DEFAULT_REQUEST_TIMEOUT_SECONDS = 5.0


def _room(info: api.Room) -> Room:
    return Room(name=info.name, metadata=info.metadata, sid=info.sid)


_ENDED_JOBS = frozenset({api.JobStatus.JS_SUCCESS, api.JobStatus.JS_FAILED})


def _dispatch_record(dispatch: api.AgentDispatch) -> DispatchRecord:
    jobs = dispatch.state.jobs
    return DispatchRecord(
        agent_name=dispatch.agent_name,
        metadata=dispatch.metadata,
        created_at=datetime.fromtimestamp(dispatch.state.created_at / 1e9, UTC),  # nanoseconds
        finished=bool(jobs) and all(job.state.status in _ENDED_JOBS or job.state.ended_at for job in jobs),
        assigned_at=min(
            (
                datetime.fromtimestamp(job.state.started_at / 1e9, UTC)
                for job in jobs
                if job.state.participant_identity and job.state.started_at
            ),
            default=None,
        ),
    )


@dataclass(frozen=True, slots=True)
class _Client:
    session: aiohttp.ClientSession
    room: RoomService
    agent_dispatch: AgentDispatchService
    loop: asyncio.AbstractEventLoop


class LiveKitRoomGateway(RoomGateway):
    """Owns one aiohttp session and livekit-api's RoomService and AgentDispatchService on it.

    An aiohttp session must be built in the event loop that will use it; so the
    client is built by ``open()`` (or the first call) and closed by ``aclose()``.
    The app lifespan does both. It is what ``LiveKitAPI`` would build for these two
    services, except that server tokens are reused (``ServerTokens``).
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
        self._tokens = ServerTokens(api_key, api_secret)
        self._client: _Client | None = None
        self._closed = False

    def _lk(self) -> _Client:
        if self._client is not None and self._client.loop is not asyncio.get_running_loop():
            raise WrongEventLoop("LiveKit client")
        if self._client is None:
            if self._closed:
                # A late call after shutdown must not open a session nobody closes.
                raise GatewayError("connect", None, "the LiveKit client is closed")
            session = aiohttp.ClientSession(timeout=self._timeout)
            room = ReusingRoomService(session, self._url, self._api_key, self._api_secret, self._tokens)
            dispatch = ReusingAgentDispatchService(
                session, self._url, self._api_key, self._api_secret, self._tokens
            )
            self._client = _Client(session, room, dispatch, asyncio.get_running_loop())
        return self._client

    async def open(self) -> None:
        self._closed = False
        self._lk()

    async def aclose(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.session.close()

    def _call(self, operation: str, room_name: str | None) -> contextlib.AbstractAsyncContextManager[None]:
        return translated(operation, room_name, self._timeout_seconds)

    async def create_room(self, spec: RoomSpec) -> Room:
        request = api.CreateRoomRequest(
            name=spec.name,
            metadata=spec.metadata,
            empty_timeout=spec.empty_timeout_seconds,
            departure_timeout=spec.departure_timeout_seconds,
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
        return next((_room(info) for info in response.rooms if info.name == name), None)

    async def get_rooms(self, names: Sequence[str]) -> Sequence[Room]:
        if not names:
            return []
        wanted = set(names)
        async with self._call("get_rooms", None):
            response = await self._lk().room.list_rooms(api.ListRoomsRequest(names=list(names)))
        return [_room(info) for info in response.rooms if info.name in wanted]

    async def list_rooms(self) -> Sequence[Room]:
        async with self._call("list_rooms", None):
            response = await self._lk().room.list_rooms(api.ListRoomsRequest())
        return [_room(info) for info in response.rooms]

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

    async def update_room_metadata(self, name: str, metadata: str) -> bool:
        request = api.UpdateRoomMetadataRequest(room=name, metadata=metadata)
        async with self._call("update_room_metadata", name):
            try:
                await self._lk().room.update_room_metadata(request)
            except api.ServerError as exc:
                if exc.code == api.TwirpErrorCode.NOT_FOUND:
                    return False
                raise
        return True

    async def list_agent_dispatches(self, name: str) -> Sequence[DispatchRecord]:
        async with self._call("list_agent_dispatches", name):
            dispatches = await self._lk().agent_dispatch.list_dispatch(name)
        return [_dispatch_record(d) for d in dispatches]

    async def dispatch_agent(self, name: str, dispatch: AgentDispatch) -> str:
        request = api.CreateAgentDispatchRequest(
            room=name, agent_name=dispatch.agent_name, metadata=dispatch.metadata
        )
        async with self._call("dispatch_agent", name):
            created = await self._lk().agent_dispatch.create_dispatch(request)
        return str(created.id)

    async def ping(self) -> None:
        # The cheapest authenticated call: an exact-name lookup of a name we never use.
        async with self._call("ping", None):
            await self._lk().room.list_rooms(api.ListRoomsRequest(names=["voicecore-readiness-probe"]))
