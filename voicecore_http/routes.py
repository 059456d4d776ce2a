"""The voice-session endpoints: parse, call one use case, shape the answer.

Each endpoint is a named method of ``VoiceSessionEndpoints``, built per router
over one container's use cases; the caller comes from the router's own
get_current_user (voicecore_http.caller).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request

from voicecore.core.domain import AgentType
from voicecore.core.idempotency import KEY_TTL, MAX_KEY_LENGTH
from voicecore.core.sessions import StartedSession, VoiceSessions
from voicecore_http.caller import caller_of, caller_resolver
from voicecore_http.history import add_history_routes
from voicecore_http.invalid_requests import VoiceCoreRoute
from voicecore_http.openapi_errors import openapi_responses, openapi_start_unavailable
from voicecore_http.schemas import (
    CreateSessionRequest,
    RoomNameInPath,
    SessionCreated,
    SessionEnded,
    SessionList,
    SessionListItem,
    SessionRejoined,
    SessionStatusResponse,
)
from voicecore_http.token_source import ConnectionDetails, ConnectionDetailsRequest, check_request
from voicecore_http.usage import add_usage_route

TAG = "voice-sessions"
TAG_METADATA = {
    "name": TAG,
    "description": (
        "Voice sessions with an AI coach. Each session is a LiveKit room owned by the user who "
        "created it; only that user can see, list or end it. Every operation needs "
        "`Authorization: Bearer <JWT>`."
    ),
}
DEFAULT_PREFIX = "/api/v1/voice-sessions"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description=(
            "Makes a start safe to retry (IETF Idempotency-Key draft): the same key from the same user "
            f"within {KEY_TTL // timedelta(hours=1)} h answers the same session, with a fresh token. "
            f"1 to {MAX_KEY_LENGTH} printable ASCII characters; a UUID is a good choice."
        ),
    ),
]


class VoiceSessionEndpoints:
    """The endpoints over one container's use cases (``sessions``, a provider called per request).

    A body parameter is named ``request`` because the name titles the body's schema in
    the OpenAPI document; the HTTP request itself is ``http_request``.
    """

    def __init__(self, sessions: Callable[[], VoiceSessions]) -> None:
        self._sessions = sessions

    async def create_session(
        self,
        http_request: Request,
        request: Annotated[CreateSessionRequest | None, Body()] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> SessionCreated:
        agent_type = (request or CreateSessionRequest()).agent_type
        started = await self._sessions().start(
            caller_of(http_request), agent_type, idempotency_key=idempotency_key
        )
        return SessionCreated(**_credentials(started))

    async def connection_details(
        self,
        http_request: Request,
        agent_type: Annotated[
            AgentType, Query(description="The coach of a new session; ignored on rejoin.")
        ] = AgentType.GENERAL,
        request: Annotated[ConnectionDetailsRequest | None, Body()] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ConnectionDetails:
        use_cases = self._sessions()
        asked = check_request(
            request or ConnectionDetailsRequest(), caller_of(http_request), use_cases.agent_name
        )
        if asked.room_name is None:
            started = await use_cases.start(asked.user, agent_type, idempotency_key=idempotency_key)
        else:
            started = await use_cases.rejoin(asked.user, asked.room_name)
        return ConnectionDetails(
            server_url=started.livekit_url,
            participant_token=started.token,
            room_name=started.room_name,
            participant_name=asked.user.display_name,
            ends_at=started.ends_at,
        )

    async def rejoin_session(self, http_request: Request, room_name: RoomNameInPath) -> SessionRejoined:
        started = await self._sessions().rejoin(caller_of(http_request), room_name)
        return SessionRejoined(**_credentials(started))

    async def get_session(self, http_request: Request, room_name: RoomNameInPath) -> SessionStatusResponse:
        status = await self._sessions().status(caller_of(http_request), room_name)
        return SessionStatusResponse(
            room_name=status.room_name,
            active=status.active,
            participant_count=status.participant_count,
            agent_connected=status.agent_connected,
            agent_state=status.agent_state,
            created_at=status.created_at,
            ends_at=status.ends_at,
        )

    async def end_session(self, http_request: Request, room_name: RoomNameInPath) -> SessionEnded:
        await self._sessions().end(caller_of(http_request), room_name)
        return SessionEnded(room_name=room_name)

    async def list_sessions(self, http_request: Request) -> SessionList:
        summaries = await self._sessions().list(caller_of(http_request))
        return SessionList(
            sessions=[
                SessionListItem(
                    room_name=s.room_name,
                    agent_type=s.agent_type,
                    participant_count=s.participant_count,
                    agent_connected=s.agent_connected,
                    agent_state=s.agent_state,
                    created_at=s.created_at,
                    ends_at=s.ends_at,
                )
                for s in summaries
            ]
        )


def voice_sessions_router(
    *,
    sessions: Callable[[], VoiceSessions],
    get_current_user: Callable[..., Any],
    prefix: str = DEFAULT_PREFIX,
    usage_claim: str | None = None,
) -> APIRouter:
    """The endpoints, given where use cases come from and who the caller is.

    ``get_current_user`` is any FastAPI dependency returning an object with an
    ``id`` (and optionally an ``email``): the host's own, or the standalone JWT check.
    It runs once per request, before the endpoint, as the router's own dependency.
    """
    endpoints = VoiceSessionEndpoints(sessions)
    router = APIRouter(
        prefix=prefix,
        tags=[TAG],
        responses=openapi_responses(401, 500, 503),
        route_class=VoiceCoreRoute,
        dependencies=[Depends(caller_resolver(get_current_user, usage_claim))],
    )
    # First: /history and /usage must never be read as a room's name by the /{room_name} routes below.
    add_history_routes(router, sessions)
    add_usage_route(router, sessions)
    router.add_api_route(
        "",
        endpoints.create_session,
        methods=["POST"],
        status_code=201,
        operation_id="createVoiceSession",
        summary="Start a voice session",
        description="Creates a LiveKit room for the caller and returns a token that joins only that room.",
        responses={**openapi_responses(402, 409, 413, 422, 429), **openapi_start_unavailable()},
    )
    router.add_api_route(
        "/connection-details",
        endpoints.connection_details,
        methods=["POST"],
        status_code=201,
        operation_id="getConnectionDetails",
        summary="Connect through LiveKit's standard token endpoint",
        description=(
            "Speaks the client SDKs' `TokenSource.endpoint`: without `room_name` it starts a session "
            "(agent type from `?agent_type=`), with the caller's own live `room_name` it rejoins. "
            "Fields the caller may not set are refused with a `detail` naming the field, and nothing "
            "is created."
        ),
        responses={**openapi_responses(402, 403, 404, 409, 413, 422, 429), **openapi_start_unavailable()},
    )
    router.add_api_route(
        "/{room_name}/token",
        endpoints.rejoin_session,
        methods=["POST"],
        operation_id="rejoinVoiceSession",
        summary="Rejoin a voice session",
        description=(
            "A fresh token for the caller's own live session, with the same grants and lifetime as on "
            "creation. If the agent is configured by name and none is in the room or on its way, it is "
            "dispatched again. Nothing is created."
        ),
        responses=openapi_responses(403, 404),
    )
    router.add_api_route(
        "/{room_name}",
        endpoints.get_session,
        methods=["GET"],
        operation_id="getVoiceSession",
        summary="Get a voice session's status",
        description="Whether anyone is connected, how many (the agent included) and whether the agent is.",
        responses=openapi_responses(403, 404),
    )
    router.add_api_route(
        "/{room_name}",
        endpoints.end_session,
        methods=["DELETE"],
        operation_id="endVoiceSession",
        summary="End a voice session",
        description="Deletes the room; everyone in it is disconnected, and its tokens can no longer join.",
        responses=openapi_responses(403, 404),
    )
    router.add_api_route(
        "",
        endpoints.list_sessions,
        methods=["GET"],
        operation_id="listVoiceSessions",
        summary="List the caller's voice sessions",
        description="The caller's live sessions, newest first; other users' rooms never appear.",
    )
    return router


def _credentials(started: StartedSession) -> dict[str, Any]:
    return {
        "room_name": started.room_name,
        "token": started.token,
        "livekit_url": started.livekit_url,
        "agent_type": started.agent_type,
        "expires_at": started.expires_at,
        "ends_at": started.ends_at,
    }
