"""A request that fails validation is answered 422 in the one ``{"detail": "..."}`` shape, naming why.

On the standalone app through its exception handlers; on a host's app through
voicecore's own route class, so that the host keeps its own validation handler
for its own routes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from voicecore_http.error_table import INVALID


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return INVALID.response("Invalid request: " + "; ".join(problems) if problems else None)


def _is_unreadable_body(exc: StarletteHTTPException) -> bool:
    # FastAPI answers a body it fails to read (not UTF-8, nested past the parser's
    # recursion limit, ...) with its own 400, raised from the cause. To a client
    # that is malformed JSON like any other: the documented 422. No route of ours
    # raises a 400 itself.
    return exc.status_code == 400 and exc.__cause__ is not None


def _unreadable_body() -> JSONResponse:
    return INVALID.response("Invalid request: body: not valid JSON")


class VoiceCoreRoute(APIRoute):
    """voicecore's routes answer an invalid request in the one ``{"detail": "..."}`` shape on any app.

    A host's app keeps its own request-validation handler for its own routes; on
    these, the 422 is the documented one, whatever that handler does.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_one_shape(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                return _validation_problem(exc)
            except StarletteHTTPException as exc:
                if _is_unreadable_body(exc):
                    return _unreadable_body()
                raise

        return handle_in_one_shape


def install_validation_handler(app: FastAPI) -> None:
    """The standalone service also answers 422 in the one ``{"detail": "..."}`` shape."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _validation_problem(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_unreadable_body(exc):
        return _unreadable_body()
    return await http_exception_handler(request, exc)
