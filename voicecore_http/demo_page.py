"""The demo web client at ``/demo/``, served only when ``DEMO_PAGE=1``.

Everything the page loads is package data (``voicecore_http/demo``), so an installed package is
enough: the page, its script and stylesheet, and the pinned livekit-client ESM bundle in
``demo/vendor``, byte for byte as ``npm ci`` installs it from ``web/package-lock.json``.
``demo/vendor/livekit-client.json`` records its version, the lock's integrity and its sha256
(docs/http-api.md says how to check and how to upgrade it).

Every answer carries a Content-Security-Policy that lets the page run only its own scripts and
reach only this service and the LiveKit server its sessions are on, and may not be framed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse

from voicecore.settings import SettingsError

DEMO_DIRECTORY: Final = Path(__file__).parent / "demo"
LIVEKIT_CLIENT_VERSION: Final = "2.23.0"
LIVEKIT_CLIENT_BUNDLE: Final = DEMO_DIRECTORY / "vendor" / f"livekit-client-{LIVEKIT_CLIENT_VERSION}.esm.mjs"
_JAVASCRIPT: Final = "text/javascript; charset=utf-8"
# CSP's host-char is a letter, a digit or a hyphen (CSP Level 3, host-source).
_CSP_HOST: Final = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*")
# The browser reaches LiveKit by WebSocket for signalling and by HTTP(S) on the same host when a
# connection fails (livekit-client asks /rtc/validate why): both forms of LIVEKIT_URL's origin.
_SIGNALLING_SCHEMES: Final = {
    "ws": ("ws", "http"),
    "http": ("ws", "http"),
    "wss": ("wss", "https"),
    "https": ("wss", "https"),
}


def livekit_origins(livekit_url: str) -> tuple[str, str]:
    """The WebSocket and HTTP(S) origins of ``livekit_url`` (already normalised by the settings).

    A CSP source names a host by letters, digits, dots and hyphens only: a host it cannot name
    (an IPv6 literal, an underscore) would leave the page unable to reach LiveKit, so it is refused.
    """
    parts = urlsplit(livekit_url)
    host = parts.hostname or ""
    try:
        port = "" if parts.port is None else f":{parts.port}"
    except ValueError:  # not a number, or out of range
        host = ""
    if not _CSP_HOST.fullmatch(host):
        raise SettingsError(
            [],
            [
                "DEMO_PAGE (the page's Content-Security-Policy cannot name LIVEKIT_URL's host and port: "
                "give LiveKit a host name or an IPv4 address)"
            ],
        )
    socket_scheme, http_scheme = _SIGNALLING_SCHEMES[parts.scheme]
    return f"{socket_scheme}://{host}{port}", f"{http_scheme}://{host}{port}"


def content_security_policy(livekit_url: str) -> str:
    """The page may run its own scripts and styles, and talk to this origin and to LiveKit only."""
    directives = {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "data:",  # the page's empty favicon, so the browser asks for none
        "connect-src": " ".join(("'self'", *livekit_origins(livekit_url))),
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def demo_headers(livekit_url: str) -> dict[str, str]:
    """The headers of every answer under ``/demo``."""
    return {
        "Content-Security-Policy": content_security_policy(livekit_url),
        "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Always revalidated: a stale page or bundle after an upgrade is worse than a 304.
        "Cache-Control": "no-cache",
    }


class DemoPage:
    """The page, its script and stylesheet, and the livekit-client bundle, each with ``headers``."""

    def __init__(self, headers: dict[str, str], bundle: Path) -> None:
        self._headers = headers
        self._bundle = bundle

    async def demo_root(self) -> RedirectResponse:
        return RedirectResponse("/demo/", status_code=308, headers=self._headers)

    async def demo_page(self) -> FileResponse:
        return self._file(DEMO_DIRECTORY / "index.html", "text/html; charset=utf-8")

    async def demo_script(self) -> FileResponse:
        return self._file(DEMO_DIRECTORY / "demo.js", _JAVASCRIPT)

    async def demo_stylesheet(self) -> FileResponse:
        return self._file(DEMO_DIRECTORY / "demo.css", "text/css; charset=utf-8")

    async def livekit_client(self) -> FileResponse:
        return self._file(self._bundle, _JAVASCRIPT)

    def _file(self, path: Path, media_type: str) -> FileResponse:
        return FileResponse(path, media_type=media_type, headers=self._headers)


def serve_demo_page(app: FastAPI, *, livekit_url: str, bundle: Path = LIVEKIT_CLIENT_BUNDLE) -> None:
    """Serve the page on ``app`` for sessions on ``livekit_url``; SettingsError if the bundle is missing."""
    if not bundle.is_file():
        raise SettingsError(
            [], [f"DEMO_PAGE (the package is incomplete: {bundle.name} is missing from voicecore_http/demo)"]
        )
    page = DemoPage(demo_headers(livekit_url), bundle)
    routes = {
        "/demo": page.demo_root,
        "/demo/": page.demo_page,
        "/demo/demo.js": page.demo_script,
        "/demo/demo.css": page.demo_stylesheet,
        f"/demo/vendor/{bundle.name}": page.livekit_client,
    }
    for path, endpoint in routes.items():
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
