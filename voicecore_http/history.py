"""The history endpoints: a page of the caller's sessions, one record, and erasing what has ended.

Registered on the voice-session router before its ``/{room_name}`` routes, so that
``/history`` is never read as a room's name (and no room name is ever ``history``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime

from voicecore.core.domain import AgentType
from voicecore.core.history import history_item
from voicecore.core.journal import EndReason, JournalRecord
from voicecore.core.session_history import DEFAULT_PAGE, MAX_PAGE
from voicecore.core.sessions import VoiceSessions
from voicecore_http.caller import caller_of
from voicecore_http.error_table import JOURNAL_FAILED
from voicecore_http.openapi_errors import openapi_error, openapi_responses
from voicecore_http.schemas import HistoryItem, HistoryPage, RoomNameInPath

HISTORY_PATH = "/history"
# The history is the journal: its 503 is the journal's, not the session store's.
_JOURNAL: dict[int | str, dict[str, object]] = {503: openapi_error(JOURNAL_FAILED)}


def history_item_of(record: JournalRecord, now: datetime) -> HistoryItem:
    """The record as the API shows it: the core's one view of it (app events carry the same)."""
    return HistoryItem.model_validate(history_item(record, now))


class HistoryEndpoints:
    def __init__(self, sessions: Callable[[], VoiceSessions]) -> None:
        self._sessions = sessions

    async def list_history(
        self,
        http_request: Request,
        *,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Sessions per page.")] = DEFAULT_PAGE,
        cursor: Annotated[
            str | None, Query(max_length=1024, description="The `next_cursor` of the page before.")
        ] = None,
        agent_type: Annotated[AgentType | None, Query(description="Only sessions with this coach.")] = None,
        end_reason: Annotated[EndReason | None, Query(description="Only sessions that ended so.")] = None,
        since: Annotated[
            AwareDatetime | None,
            Query(description="Only sessions created at or after (ISO 8601, with offset)."),
        ] = None,
        until: Annotated[
            AwareDatetime | None, Query(description="Only sessions created before (ISO 8601, with offset).")
        ] = None,
    ) -> HistoryPage:
        page = await self._sessions().history(
            caller_of(http_request),
            limit=limit,
            cursor=cursor or None,  # an empty cursor, as some clients send, is the first page
            agent_type=agent_type,
            end_reason=end_reason,
            since=since,
            until=until,
        )
        return HistoryPage(
            sessions=[history_item_of(record, page.as_of) for record in page.sessions],
            next_cursor=page.next_cursor,
        )

    async def get_record(self, http_request: Request, room_name: RoomNameInPath) -> HistoryItem:
        sessions = self._sessions()
        record = await sessions.session_record(caller_of(http_request), room_name)
        return history_item_of(record, sessions.now())

    async def erase_history(self, http_request: Request) -> Response:
        await self._sessions().erase_history(caller_of(http_request))
        return Response(status_code=204)


def add_history_routes(router: APIRouter, sessions: Callable[[], VoiceSessions]) -> None:
    endpoints = HistoryEndpoints(sessions)
    router.add_api_route(
        HISTORY_PATH,
        endpoints.list_history,
        methods=["GET"],
        operation_id="listVoiceSessionHistory",
        summary="List the caller's session history",
        description=(
            "The caller's sessions, live and ended, newest first, a page at a time: follow `next_cursor` "
            "until it is null. Filters on the coach, the end reason and `created_at`."
        ),
        responses={**openapi_responses(422), **_JOURNAL},
    )
    router.add_api_route(
        f"{HISTORY_PATH}/{{room_name}}",
        endpoints.get_record,
        methods=["GET"],
        operation_id="getVoiceSessionRecord",
        summary="Get one session's record",
        description=(
            "One of the caller's sessions, live or ended: how a client learns why its session ended once "
            "the room is gone (status answers 404 for an ended session)."
        ),
        responses={**openapi_responses(403, 404), **_JOURNAL},
    )
    router.add_api_route(
        HISTORY_PATH,
        endpoints.erase_history,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        operation_id="eraseVoiceSessionHistory",
        responses=_JOURNAL,
        summary="Erase the caller's ended sessions",
        description=(
            "Erases every record of the caller's ended sessions. Live sessions stay, and are recorded when "
            "they end."
        ),
    )
