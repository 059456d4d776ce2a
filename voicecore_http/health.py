"""Health for the standalone service and for hosts: /healthz, /readyz, and the start-up check.

Readiness is what a load balancer should route on: 503 while LiveKit or the session
store cannot serve (every session call would fail then), 200 otherwise. It tells
LiveKit's failures apart (unreachable, credentials refused, TLS to a server without
TLS, ...), each with what an operator should check. The journal's state is in the
body but never makes the service unready: status, list and end work without it, and
taking every replica out for it would turn a partial outage into a total one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from voicecore.container import VoiceCoreContainer
from voicecore.core.errors import (
    GatewayError,
    GatewayFailure,
    JournalSchemaOutdated,
    JournalUnavailable,
    StoreError,
)
from voicecore_http.error_table import NOT_READY, STORE_UNREACHABLE
from voicecore_http.livekit_problems import livekit_problem
from voicecore_http.openapi_errors import openapi_error
from voicecore_http.schemas import HealthBody, ReadinessBody

logger = logging.getLogger(__name__)

# How long readiness waits for the store and the journal: a load balancer's probe is short.
CHECK_SECONDS: Final = 2.0

# Failures that no wait can mend: LIVEKIT_CHECK_ON_START refuses to start on them.
_MISCONFIGURED = frozenset(
    {GatewayFailure.CREDENTIALS_REFUSED, GatewayFailure.TLS_TO_PLAIN_SERVER, GatewayFailure.TLS_FAILED}
)


class LiveKitMisconfigured(RuntimeError):
    """The start-up probe found a configuration LiveKit refuses; the message says what to check."""


class HealthEndpoints:
    """``/healthz`` and ``/readyz`` over one container; remembers readiness's last failure, to log changes."""

    def __init__(self, container: VoiceCoreContainer) -> None:
        self._container = container
        self._last_failure: str | None = None

    async def healthz(self) -> HealthBody:
        return HealthBody(status="ok")

    async def readyz(self) -> ReadinessBody | JSONResponse:
        livekit, store, journal = await asyncio.gather(
            self._livekit(), self._store(), self._journal_answers()
        )
        failure = livekit or store
        if failure is not None:
            return NOT_READY.response(failure)
        if self._last_failure is not None:
            self._last_failure = None
            logger.info("ready: LiveKit and the session store answer again")
        return ReadinessBody(status="ready", journal="ok" if journal else "unavailable")

    async def _livekit(self) -> str | None:
        """None if LiveKit answers; else readiness's detail for its problem."""
        try:
            await self._container.room_gateway().ping()
        except GatewayError as exc:
            problem = livekit_problem(exc)
            self._log_change(f"livekit:{exc.reason}", "not ready: %s; %s", exc, problem.check)
            return problem.readiness
        return None

    async def _store(self) -> str | None:
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                await self._container.session_store().ping()
        except (StoreError, TimeoutError) as exc:
            self._log_change("store", "not ready: the session store does not answer: %s", exc)
            return STORE_UNREACHABLE
        return None

    async def _journal_answers(self) -> bool:
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                await self._container.journal().ping()
        except (JournalUnavailable, JournalSchemaOutdated, TimeoutError):
            return False
        return True

    def _log_change(self, failure: str, message: str, *args: object) -> None:
        """Log at ERROR when the failure changes, not on every probe."""
        if self._last_failure != failure:
            self._last_failure = failure
            logger.error(message, *args)


def health_router(container: VoiceCoreContainer) -> APIRouter:
    """``/healthz`` (the process is up) and ``/readyz`` (LiveKit answers us); hosts mount it too.

    A failed readiness says which of unreachable, credentials refused or TLS to a
    server without TLS it is, and is logged at ERROR with what to check when the
    answer changes (not on every probe).
    """
    endpoints = HealthEndpoints(container)
    router = APIRouter(tags=["health"])
    router.add_api_route(
        "/healthz", endpoints.healthz, methods=["GET"], operation_id="getHealth", summary="The process is up"
    )
    router.add_api_route(
        "/readyz",
        endpoints.readyz,
        methods=["GET"],
        operation_id="getReadiness",
        summary="LiveKit and the session store answer (and how the journal is)",
        response_model=ReadinessBody,
        responses={503: openapi_error(NOT_READY)},
    )
    return router


async def check_livekit(container: VoiceCoreContainer) -> None:
    """Ask LiveKit once; raise LiveKitMisconfigured if it refuses our configuration.

    Unreachable is only logged: LiveKit may be starting too. Call it inside
    ``voicecore_lifespan``; LIVEKIT_CHECK_ON_START=1 makes the standalone service do so.
    """
    try:
        await container.room_gateway().ping()
    except GatewayError as exc:
        problem = livekit_problem(exc)
        logger.error("LiveKit check at start-up failed: %s; %s", exc, problem.check)
        if exc.reason in _MISCONFIGURED:
            raise LiveKitMisconfigured(f"{problem.readiness}; {problem.check}") from None
