"""``GET /usage``: the caller's minutes in the current period, their allowance, and their live sessions."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request

from voicecore.core.sessions import VoiceSessions
from voicecore_http.caller import caller_of
from voicecore_http.error_table import JOURNAL_FAILED
from voicecore_http.openapi_errors import openapi_error
from voicecore_http.schemas import UsageResponse

USAGE_PATH = "/usage"


class UsageEndpoint:
    def __init__(self, sessions: Callable[[], VoiceSessions]) -> None:
        self._sessions = sessions

    async def get_usage(self, http_request: Request) -> UsageResponse:
        counted = await self._sessions().usage(caller_of(http_request))
        used = counted.usage
        return UsageResponse(
            period=used.period.value,
            period_start=used.period_start,
            period_end=used.period_end,
            used_seconds=round(used.used_seconds, 3),
            limit_seconds=used.limit_seconds,
            remaining_seconds=None if used.remaining_seconds is None else round(used.remaining_seconds, 3),
            live_sessions=used.live_sessions,
            max_live_sessions=counted.max_live_sessions,
        )


def add_usage_route(router: APIRouter, sessions: Callable[[], VoiceSessions]) -> None:
    router.add_api_route(
        USAGE_PATH,
        UsageEndpoint(sessions).get_usage,
        methods=["GET"],
        operation_id="getVoiceSessionUsage",
        summary="Get the caller's usage and allowance",
        description=(
            "The caller's voice minutes in the current period (USAGE_PERIOD, in UTC): what the period's "
            "sessions used (the live ones so far), the allowance and what is left (null without one), "
            "when the period resets, and how many sessions are live against the cap."
        ),
        responses={503: openapi_error(JOURNAL_FAILED)},
    )
