"""Static files for a browser test, served by the standard library on 127.0.0.1.

``serving_static({"/": pages, "/vendor/livekit-client/": LIVEKIT_CLIENT_DIST})`` serves each
directory under its URL prefix (the longest prefix wins) from a thread and yields the base URL.
The livekit-client bundles come from ``web/node_modules`` (``npm ci`` in scripts/setup.sh):
no build step, the UMD file defines the global ``LivekitClient``.
"""

from __future__ import annotations

import contextlib
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
LIVEKIT_CLIENT_DIST = REPO_ROOT / "web" / "node_modules" / "livekit-client" / "dist"


class MountedDirectories(SimpleHTTPRequestHandler):
    """Serves files only from its mounts; anything else is a 404."""

    extensions_map = {  # noqa: RUF012 - the base class declares it this way
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
    }

    def __init__(self, *args: Any, mounts: Mapping[str, Path], **kwargs: Any) -> None:
        self._mounts = sorted(mounts.items(), key=lambda mount: len(mount[0]), reverse=True)
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        for prefix, directory in self._mounts:
            if url_path.startswith(prefix):
                candidate = (directory / url_path[len(prefix) :]).resolve()
                if candidate.is_relative_to(directory.resolve()):
                    return str(candidate)
        return str(Path("/nonexistent") / "unmounted")

    def end_headers(self) -> None:
        # A rerun must never see an old page or bundle.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving_static(mounts: Mapping[str, Path]) -> Iterator[str]:
    """Serve ``mounts`` ({url prefix: directory}) on a free loopback port; yields the base URL."""
    for directory in mounts.values():
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} is missing: run scripts/setup.sh (npm ci in web/)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(MountedDirectories, mounts=mounts))
    thread = threading.Thread(target=server.serve_forever, name="static-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
