"""``/docs`` without the internet: Swagger UI from a pinned package, never from a CDN.

The assets are those of ``swagger-ui-bundle-v2`` (pinned in pyproject.toml); only the
three files the page loads are served. Swagger UI's online validator is switched off,
so the page makes no request beyond this service.
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

DOCS_ASSETS: Final = "/docs-assets"
_ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


class SwaggerPage:
    """``GET /docs``: Swagger UI for one app's OpenAPI document, loading only the assets served here."""

    def __init__(self, title: str, openapi_url: str) -> None:
        self._title = title
        self._openapi_url = openapi_url

    async def docs(self) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=self._openapi_url,
            title=f"{self._title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )


async def docs_asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404)
    return FileResponse(str(swagger_ui_path / name), media_type=media_type)


def serve_docs_offline(app: FastAPI) -> None:
    """``GET /docs`` and its assets on ``app``, which must have been built with ``docs_url=None``."""
    page = SwaggerPage(app.title, app.openapi_url or "/openapi.json")
    app.add_api_route("/docs", page.docs, methods=["GET"], include_in_schema=False)
    app.add_api_route(DOCS_ASSETS + "/{name}", docs_asset, methods=["GET"], include_in_schema=False)
