"""The app factory and the pieces a host backend mounts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from voicecore import __version__
from voicecore.container import VoiceCoreContainer, voicecore_lifespan
from voicecore.core.errors import GatewayError
from voicecore_http.auth import bearer_user_dependency
from voicecore_http.container import ServiceContainer
from voicecore_http.demo_page import serve_demo_page
from voicecore_http.errors import install_error_handlers, install_validation_handler
from voicecore_http.offline_docs import serve_docs_offline
from voicecore_http.request_id import RequestIdMiddleware
from voicecore_http.routes import DEFAULT_PREFIX, TAG_METADATA, voice_sessions_router
from voicecore_http.schemas import ErrorBody, HealthBody

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


def create_app(container: ServiceContainer | None = None) -> FastAPI:
    """The standalone service; without a container, configured from the environment.

    Raises SettingsError, naming every missing variable, if configuration is incomplete.
    """
    container = container or ServiceContainer.from_environment()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with voicecore_lifespan(container):
            yield

    http_settings = container.http_settings()
    app = FastAPI(
        title="voicecore",
        version=__version__,
        summary="Voice sessions with AI fitness coaches over LiveKit.",
        openapi_tags=[TAG_METADATA],
        lifespan=lifespan,
        docs_url=None,  # served by serve_docs_offline, from a pinned package
        redoc_url=None,  # ReDoc would load from a CDN
    )
    app.add_middleware(RequestIdMiddleware)
    if http_settings.cors_origins:
        # Added after the request-id middleware, so it runs first: a preflight is
        # answered here, and every answer (errors included) carries the CORS headers.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(http_settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    install_validation_handler(app)
    include_voice_sessions(app, container, get_current_user=bearer_user_dependency(container.authenticator))
    serve_docs_offline(app)
    if http_settings.demo_page:
        serve_demo_page(app)

    @app.get("/healthz", operation_id="getHealth", summary="The process is up", tags=["health"])
    async def healthz() -> HealthBody:
        return HealthBody(status="ok")

    @app.get(
        "/readyz",
        operation_id="getReadiness",
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
