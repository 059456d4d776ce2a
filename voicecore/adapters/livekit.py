"""RoomGateway and TokenIssuer on livekit-api (webhooks: livekit_webhooks.py).

Error translation happens here, once: every livekit-api ``ServerError`` and every
transport failure (``aiohttp.ClientError``, ``asyncio.TimeoutError``) leaves this
module as the core's ``GatewayError`` naming the operation and room. The one
expected Twirp error, ``not_found`` on delete, means "did not exist".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
from livekit import api
from livekit.api.agent_dispatch_service import AgentDispatchService
from livekit.api.room_service import RoomService

from voicecore.core.domain import User
from voicecore.core.errors import GatewayError, GatewayFailure, WrongEventLoop
from voicecore.core.ports import (
    AgentDispatch,
    DispatchRecord,
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

# Server API tokens (the Authorization of each RoomService call) are signed with
# this lifetime and reused for half of it; room-admin tokens are per room, and
# only the most recently used ones are kept.
SERVER_TOKEN_TTL = timedelta(minutes=10)
_SERVER_TOKEN_REUSE_SECONDS = SERVER_TOKEN_TTL.total_seconds() / 2
_SERVER_TOKENS_KEPT = 1024


# OpenSSL's reasons when the other end does not speak TLS at all (it answered a
# ClientHello with plain HTTP): a wss:// or https:// URL for a server without TLS.
_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"})
# LiveKit answers a token signed with an unknown key or a wrong secret with HTTP 401
# (code "unknown" on v1.13.5, seen against the real server).
_REFUSED_STATUSES = frozenset({401, 403})
_REFUSED_CODES = frozenset({"unauthenticated", "permission_denied"})


def _server_error(operation: str, room_name: str | None, exc: api.ServerError) -> GatewayError:
    if exc.status in _REFUSED_STATUSES or exc.code in _REFUSED_CODES:
        return GatewayError(
            operation,
            room_name,
            f"LiveKit refused the API key and secret (HTTP {exc.status})",
            reason=GatewayFailure.CREDENTIALS_REFUSED,
        )
    return GatewayError(
        operation,
        room_name,
        f"LiveKit answered {exc.code} (HTTP {exc.status})",
        reason=GatewayFailure.ERROR_ANSWER,
    )


def _tls_error(operation: str, room_name: str | None, exc: aiohttp.ClientSSLError) -> GatewayError:
    cause = getattr(exc, "os_error", None)
    if getattr(cause, "reason", None) in _NOT_TLS_REASONS:
        return GatewayError(
            operation,
            room_name,
            "LIVEKIT_URL asks for TLS, and LiveKit answered without it",
            reason=GatewayFailure.TLS_TO_PLAIN_SERVER,
        )
    return GatewayError(
        operation,
        room_name,
        f"TLS to LiveKit failed ({type(exc).__name__})",
        reason=GatewayFailure.TLS_FAILED,
    )


@contextlib.asynccontextmanager
async def _translated(operation: str, room_name: str | None, timeout_seconds: float) -> AsyncIterator[None]:
    try:
        # livekit-api 1.2 passes timeout=None on every request, which aiohttp reads
        # as "no timeout": the ClientTimeout given to LiveKitAPI never applies.
        # The deadline is therefore enforced here, around the whole call.
        async with asyncio.timeout(timeout_seconds):
            yield
    except api.ServerError as exc:
        raise _server_error(operation, room_name, exc) from exc
    except TimeoutError as exc:
        raise GatewayError(
            operation, room_name, "LiveKit did not answer in time", reason=GatewayFailure.TIMEOUT
        ) from exc
    except aiohttp.ClientSSLError as exc:
        raise _tls_error(operation, room_name, exc) from exc
    except aiohttp.ClientError as exc:
        raise GatewayError(
            operation,
            room_name,
            f"could not reach LiveKit ({type(exc).__name__})",
            reason=GatewayFailure.UNREACHABLE,
        ) from exc


def _room(info: api.Room) -> Room:
    return Room(name=info.name, metadata=info.metadata, sid=info.sid)


@dataclass(frozen=True, slots=True)
class _ServerToken:
    grants: api.VideoGrants
    header: dict[str, str]
    renew_at: float


class ServerTokens:
    """Server API tokens, reused while fresh instead of signed for every call.

    livekit-api signs a new JWT for every RoomService call (about 0.1 ms of CPU,
    most of it in ``dataclasses.asdict``). Here each distinct set of grants is
    signed, by livekit-api's own ``AccessToken``, once per reuse period; a token
    is only ever reused for grants equal to the ones it carries.
    """

    def __init__(self, api_key: str, api_secret: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._api_key = api_key
        self._api_secret = api_secret
        self._clock = clock
        self._tokens: OrderedDict[tuple[object, ...], _ServerToken] = OrderedDict()

    def header(self, grants: api.VideoGrants) -> dict[str, str]:
        key = (grants.room_create, grants.room_list, grants.room_admin, grants.room)
        now = self._clock()
        cached = self._tokens.get(key)
        if cached is not None and cached.grants == grants and now < cached.renew_at:
            self._tokens.move_to_end(key)
            return cached.header
        signed = (
            api.AccessToken(self._api_key, self._api_secret).with_grants(grants).with_ttl(SERVER_TOKEN_TTL)
        )
        token = _ServerToken(
            grants=grants,
            header={"authorization": f"Bearer {signed.to_jwt()}"},
            renew_at=now + _SERVER_TOKEN_REUSE_SECONDS,
        )
        self._tokens[key] = token
        self._tokens.move_to_end(key)
        while len(self._tokens) > _SERVER_TOKENS_KEPT:
            self._tokens.popitem(last=False)
        return token.header

    def __len__(self) -> int:
        return len(self._tokens)


_AuthHeader = Callable[[api.VideoGrants | None, api.SIPGrants | None], dict[str, str]]


def _reused_header(
    tokens: ServerTokens,
    signed_per_call: _AuthHeader,
    grants: api.VideoGrants | None,
    sip: api.SIPGrants | None,
) -> dict[str, str]:
    if grants is None or sip is not None:
        return signed_per_call(grants, sip)
    return tokens.header(grants)


class _RoomService(RoomService):
    """livekit-api's RoomService, taking its Authorization from ``ServerTokens``."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, api_key: str, api_secret: str, tokens: ServerTokens
    ) -> None:
        super().__init__(session, url, api_key, api_secret)
        self._tokens = tokens

    def _auth_header(
        self, grants: api.VideoGrants | None, sip: api.SIPGrants | None = None
    ) -> dict[str, str]:
        return _reused_header(self._tokens, super()._auth_header, grants, sip)


class _AgentDispatchService(AgentDispatchService):
    """livekit-api's AgentDispatchService, taking its Authorization from ``ServerTokens``."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, api_key: str, api_secret: str, tokens: ServerTokens
    ) -> None:
        super().__init__(session, url, api_key, api_secret)
        self._tokens = tokens

    def _auth_header(
        self, grants: api.VideoGrants | None, sip: api.SIPGrants | None = None
    ) -> dict[str, str]:
        return _reused_header(self._tokens, super()._auth_header, grants, sip)


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
            room = _RoomService(session, self._url, self._api_key, self._api_secret, self._tokens)
            dispatch = _AgentDispatchService(
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
        return _translated(operation, room_name, self._timeout_seconds)

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


class LiveKitTokenIssuer(TokenIssuer):
    """Join tokens signed with the API secret: join one room, talk, nothing more.

    ``server_url`` is handed to clients with each token, exactly as given.
    """

    def __init__(self, api_key: str, api_secret: str, *, server_url: str) -> None:
        self._api_key = api_key
        self._api_secret = api_secret
        self._server_url = server_url

    def issue(self, user: User, room_name: str, ttl: timedelta) -> IssuedToken:
        grants = api.VideoGrants(
            room_join=True,
            room=room_name,
            can_publish=True,
            can_subscribe=True,
            can_publish_data=True,
        )
        signed = (
            api.AccessToken(self._api_key, self._api_secret)
            .with_identity(user.id)
            .with_name(user.display_name)
            .with_grants(grants)
            .with_ttl(ttl)
            .to_jwt()
        )
        # AccessToken stamps exp from its own clock in whole seconds; read it back
        # (we signed it a line ago, so no need to verify) so expires_at == exp.
        claims = jwt.decode(signed, options={"verify_signature": False})
        return IssuedToken(
            token=signed, expires_at=datetime.fromtimestamp(claims["exp"], UTC), server_url=self._server_url
        )
