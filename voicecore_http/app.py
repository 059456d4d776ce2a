"""The app factory and the pieces a host backend mounts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from voicecore import __version__
from voicecore.container import VoiceCoreContainer, voicecore_lifespan
from voicecore.core.errors import GatewayError
from voicecore_http.auth import bearer_user_dependency
from voicecore_http.container import ServiceContainer
from voicecore_http.errors import install_error_handlers, install_validation_handler
from voicecore_http.request_id import RequestIdMiddleware
from voicecore_http.routes import DEFAULT_PREFIX, TAG_METADATA, voice_sessions_router
from voicecore_http.schemas import ErrorBody, HealthBody
from voicecore_http.webhooks import WEBHOOK_PATH, livekit_webhooks_router

LIVEKIT_UNREACHABLE = "LiveKit is not reachable"


def include_voice_sessions(
    app: FastAPI,
    container: VoiceCoreContainer,
    *,
    get_current_user: Callable[..., Any],
    prefix: str = DEFAULT_PREFIX,
) -> None:
    """Mount the endpoints on a host's app, with the host's own get_current_user.

    The host also enters ``voicecore_lifespan(container)`` in its lifespan so the
    LiveKit client is opened and closed with the app.
    """
    app.include_router(
        voice_sessions_router(
            sessions=container.sessions,
            get_current_user=get_current_user,
            prefix=prefix,
        )
    )
    install_error_handlers(app)


def include_livekit_webhooks(
    app: FastAPI, container: VoiceCoreContainer, *, path: str = WEBHOOK_PATH
) -> None:
    """Mount the webhook intake (a host that also wants the store kept fresh by events)."""
    app.include_router(
        livekit_webhooks_router(
            verifier=container.webhook_verifier, events=container.session_events, path=path
        )
    )
    install_error_handlers(app)


def create_app(container: ServiceContainer | None = None) -> FastAPI:
    """The standalone service; without a container, configured from the environment.

    Raises SettingsError, naming every missing variable, if configuration is incomplete.
    """
    container = container or ServiceContainer.from_environment()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with voicecore_lifespan(container):
            yield

    app = FastAPI(
        title="voicecore",
        version=__version__,
        summary="Voice sessions with AI fitness coaches over LiveKit.",
        openapi_tags=[TAG_METADATA],
        lifespan=lifespan,
    )
    app.add_middleware(RequestIdMiddleware)
    install_validation_handler(app)
    include_voice_sessions(app, container, get_current_user=bearer_user_dependency(container.authenticator))
    include_livekit_webhooks(app, container)

    @app.get("/healthz", summary="The process is up", tags=["health"])
    async def healthz() -> HealthBody:
        return HealthBody(status="ok")

    @app.get(
        "/readyz",
        summary="LiveKit answers",
        response_model=HealthBody,
        tags=["health"],
        responses={
            503: {
                "model": ErrorBody,
                "description": "LiveKit does not answer.",
                "content": {"application/json": {"example": {"detail": LIVEKIT_UNREACHABLE}}},
            }
        },
    )
    async def readyz() -> HealthBody | JSONResponse:
        try:
            await container.room_gateway().ping()
        except GatewayError:
            return JSONResponse({"detail": LIVEKIT_UNREACHABLE}, status_code=503)
        return HealthBody(status="ready")

    _document_only_reachable_errors(app)
    return app


def _document_only_reachable_errors(app: FastAPI) -> None:
    """Drop FastAPI's automatic 422 where no input can fail validation.

    FastAPI documents a 422 (in its own list-shaped body) on every operation with
    parameters; ours can only fail validation on a request body, and answer it in
    the one ``{"detail": "..."}`` shape documented explicitly there.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            for operations in document["paths"].values():
                for operation in operations.values():
                    if "requestBody" not in operation:
                        operation["responses"].pop("422", None)
            schemas = document.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
