"""The demo web client at ``/demo/``, served only when ``DEMO_PAGE=1``.

The page and its script are package data (``voicecore_http/demo``). livekit-client is
the npm package pinned in ``web/package.json`` and ``web/package-lock.json``, installed
by ``make setup`` (``npm ci``); its ESM bundle is served as it was installed, with no
build step. So the page needs a checkout that has been set up: a service installed
from a wheel refuses to start with DEMO_PAGE=1 and says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse

from voicecore.settings import SettingsError

DEMO_DIRECTORY: Final = Path(__file__).parent / "demo"
LIVEKIT_CLIENT_BUNDLE: Final = (
    Path(__file__).resolve().parent.parent / "web/node_modules/livekit-client/dist/livekit-client.esm.mjs"
)
_JAVASCRIPT: Final = "text/javascript; charset=utf-8"


class DemoPage:
    """The page, its script and the livekit-client bundle found at ``bundle``."""

    def __init__(self, bundle: Path) -> None:
        self._bundle = bundle

    async def demo_root(self) -> RedirectResponse:
        return RedirectResponse("/demo/", status_code=308)

    async def demo_page(self) -> FileResponse:
        return _file(DEMO_DIRECTORY / "index.html", "text/html; charset=utf-8")

    async def demo_script(self) -> FileResponse:
        return _file(DEMO_DIRECTORY / "demo.js", _JAVASCRIPT)

    async def livekit_client(self) -> FileResponse:
        return _file(self._bundle, _JAVASCRIPT)


def serve_demo_page(app: FastAPI, *, bundle: Path = LIVEKIT_CLIENT_BUNDLE) -> None:
    """Serve the page on ``app``; SettingsError if the livekit-client bundle is not installed."""
    if not bundle.is_file():
        raise SettingsError(
            [], ["DEMO_PAGE (livekit-client is not installed: run `make setup`, which runs npm ci in web/)"]
        )
    page = DemoPage(bundle)
    app.add_api_route("/demo", page.demo_root, methods=["GET"], include_in_schema=False)
    app.add_api_route("/demo/", page.demo_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/demo/demo.js", page.demo_script, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/demo/livekit-client.esm.mjs", page.livekit_client, methods=["GET"], include_in_schema=False
    )


def _file(path: Path, media_type: str) -> FileResponse:
    # Always revalidated: a stale page or bundle after an upgrade is worse than a 304.
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})
