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
_FILES: Final = {
    "index.html": (DEMO_DIRECTORY / "index.html", "text/html; charset=utf-8"),
    "demo.js": (DEMO_DIRECTORY / "demo.js", "text/javascript; charset=utf-8"),
    "livekit-client.esm.mjs": (LIVEKIT_CLIENT_BUNDLE, "text/javascript; charset=utf-8"),
}


def serve_demo_page(app: FastAPI, *, bundle: Path = LIVEKIT_CLIENT_BUNDLE) -> None:
    """Serve the page on ``app``; SettingsError if the livekit-client bundle is not installed."""
    if not bundle.is_file():
        raise SettingsError(
            [], ["DEMO_PAGE (livekit-client is not installed: run `make setup`, which runs npm ci in web/)"]
        )
    files = {**_FILES, "livekit-client.esm.mjs": (bundle, _FILES["livekit-client.esm.mjs"][1])}

    @app.get("/demo", include_in_schema=False)
    async def demo_root() -> RedirectResponse:
        return RedirectResponse("/demo/", status_code=308)

    @app.get("/demo/", include_in_schema=False)
    async def demo_page() -> FileResponse:
        return _file(*files["index.html"])

    @app.get("/demo/demo.js", include_in_schema=False)
    async def demo_script() -> FileResponse:
        return _file(*files["demo.js"])

    @app.get("/demo/livekit-client.esm.mjs", include_in_schema=False)
    async def livekit_client() -> FileResponse:
        return _file(*files["livekit-client.esm.mjs"])


def _file(path: Path, media_type: str) -> FileResponse:
    # Always revalidated: a stale page or bundle after an upgrade is worse than a 304.
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})
