"""The one translation point: livekit-api's errors and transport failures become the core's GatewayError.

Every livekit-api ``ServerError`` and every transport failure (``aiohttp.ClientError``,
``asyncio.TimeoutError``) leaves the adapter as a ``GatewayError`` naming the
operation and room, with the kind of failure (``GatewayFailure``) readiness reports.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from livekit import api

from voicecore.core.errors import GatewayError, GatewayFailure

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
async def translated(operation: str, room_name: str | None, timeout_seconds: float) -> AsyncIterator[None]:
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
