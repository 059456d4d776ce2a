"""A scenario that tries to reach the outside, for tests/browser/test_isolation.py.

It reports, as JSON on stdout, what a name lookup and a connection to a public address did.
"""

from __future__ import annotations

import json
import socket
import sys

# An address in TEST-NET-3 (RFC 5737): documentation only, never routed anywhere.
UNROUTED_ADDRESS = ("203.0.113.1", 443)
UNREGISTERED_NAME = "voicecore-isolation-probe.invalid"


def main(argv: list[str]) -> int:
    report: dict[str, str] = {}
    try:
        socket.getaddrinfo(UNREGISTERED_NAME, 443)
        report["lookup"] = "resolved"
    except socket.gaierror as failure:
        report["lookup"] = f"failed: {failure.strerror}"
    try:
        with socket.create_connection(UNROUTED_ADDRESS, timeout=2):
            report["connect"] = "connected"
    except OSError as failure:
        report["connect"] = f"failed: errno {failure.errno}"
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
