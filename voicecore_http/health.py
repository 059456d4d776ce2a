"""Health for the standalone service and for hosts: /healthz, /readyz, and the start-up check.

Readiness tells LiveKit's failures apart (unreachable, credentials refused, TLS to a
server without TLS, ...), each with what an operator should check.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from voicecore.container import VoiceCoreContainer
from voicecore.core.errors import GatewayError, GatewayFailure
from voicecore_http.error_table import NOT_READY
from voicecore_http.livekit_problems import livekit_problem
from voicecore_http.openapi_errors import openapi_error
from voicecore_http.schemas import HealthBody

logger = logging.getLogger(__name__)

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
        self._last_failure: GatewayFailure | None = None

    async def healthz(self) -> HealthBody:
        return HealthBody(status="ok")

    async def readyz(self) -> HealthBody | JSONResponse:
        try:
            await self._container.room_gateway().ping()
        except GatewayError as exc:
            problem = livekit_problem(exc)
            if self._last_failure != exc.reason:
                self._last_failure = exc.reason
                logger.error("not ready: %s; %s", exc, problem.check)
            return NOT_READY.response(problem.readiness)
        if self._last_failure is not None:
            self._last_failure = None
            logger.info("ready: LiveKit answers again")
        return HealthBody(status="ready")


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
        summary="LiveKit answers",
        response_model=HealthBody,
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
