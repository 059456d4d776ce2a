"""A stand-in for another site, inside the namespace: it records every request it gets.

It answers as a site that wants a bearer token would: every preflight allowed, any origin, any
header, so that a page which sent it anything would get as far as sending its token. A test
asserts it recorded nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordingSite(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)


class _Recorder(BaseHTTPRequestHandler):
    server: RecordingSite

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.record(
            {
                "method": self.command,
                "path": self.path,
                "origin": self.headers.get("Origin"),
                "carried_authorization": "Authorization" in self.headers,
            }
        )
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "*")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Access-Control-Allow-Private-Network", "true")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_DELETE = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def recording_site() -> Iterator[RecordingSite]:
    """The stand-in on a free loopback port, serving from a thread for the block."""
    site = RecordingSite()
    thread = threading.Thread(target=site.serve_forever, name="recording-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.shutdown()
        site.server_close()
        thread.join()
