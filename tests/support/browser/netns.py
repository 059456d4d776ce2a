"""Run a scenario in a network namespace of its own: nothing can leave, every DNS query recorded.

Host side, from a test::

    result = run_isolated("tests.browser.scenario_join", [str(out_dir)], dns_log=out_dir / "dns.json")

runs ``python -m tests.support.browser.netns --dns-log FILE MODULE ARGS...`` under
``unshare --net --mount`` (root only). Inside, before the scenario starts, this module:

- brings ``lo`` up;
- adds a veth pair whose two ends both stay in the namespace, with one address from TEST-NET-1
  (RFC 5737, documentation only) on one end. The Rust WebRTC stack of livekit's Python SDK (the
  agent's) never gathers ICE candidates on a loopback interface, so with ``lo`` alone an agent
  cannot connect. That address is local: traffic to it is delivered through ``lo``;
- refuses to go on unless exactly those interfaces exist and there is no default route;
- points ``/etc/resolv.conf`` (a bind mount private to the namespace) at a DNS sink on
  127.0.0.1:53 that answers REFUSED to everything and records each name asked.

No packet can leave a namespace with no link to any other; the sink makes an attempt to reach
the outside visible instead of silent, and a test asserts that it recorded nothing.

A scenario is any module with ``main(argv: list[str]) -> int``. It may check
``inside_private_network()``; the browser launcher refuses to run anywhere else.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
_MARKER = "VOICECORE_PRIVATE_NETWORK"
STAND_IN_ADDRESS = "192.0.2.1"
_VETH = ("vc0", "vc1")
_RCODE_REFUSED = 5


class NotIsolated(RuntimeError):
    """Something here must only run inside the private network namespace."""


def inside_private_network() -> bool:
    return os.environ.get(_MARKER) == "1"


def run_isolated(
    module: str, args: list[str], *, dns_log: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``module.main(args)`` in a fresh network and mount namespace; output is captured."""
    if os.geteuid() != 0:
        raise NotIsolated("a private network namespace needs root (unshare --net, ip link)")
    command = ["unshare", "--net", "--mount", "--", sys.executable, "-m", __name__]
    return subprocess.run(
        [*command, "--dns-log", str(dns_log), module, *args],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- inside the namespace --------------------------------------------------------


def _question_end(query: bytes) -> int:
    """Where the first question (name, type, class) ends; names in a query are not compressed."""
    offset = 12
    while offset < len(query) and query[offset]:
        offset += 1 + query[offset]
    return offset + 1 + 4


def question_name(query: bytes) -> str:
    """The first question's name of a DNS query (RFC 1035 section 4.1.2)."""
    labels: list[str] = []
    offset = 12
    while offset < len(query) and query[offset]:
        length = query[offset]
        labels.append(query[offset + 1 : offset + 1 + length].decode(errors="replace"))
        offset += 1 + length
    return ".".join(labels)


def refusal(query: bytes) -> bytes:
    """A REFUSED response to ``query``: its id, opcode and RD kept, its one question echoed."""
    end = _question_end(query)
    if len(query) < 12 or end > len(query):
        return b""
    flags = 0x8000 | (query[2] & 0x79) << 8 | _RCODE_REFUSED
    return query[:2] + flags.to_bytes(2, "big") + b"\0\1" + b"\0" * 6 + query[12:end]


class DnsSink:
    """A UDP DNS server on 127.0.0.1:53 that refuses every query and keeps the names asked."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 53))
        self._thread = threading.Thread(target=self._serve, name="dns-sink", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        while True:
            query, peer = self._socket.recvfrom(4096)
            self.names.append(question_name(query))
            answer = refusal(query)
            if answer:
                self._socket.sendto(answer, peer)


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def _enter_private_network(workdir: Path) -> DnsSink:
    _ip("link", "set", "lo", "up")
    _ip("link", "add", _VETH[0], "type", "veth", "peer", "name", _VETH[1])
    _ip("address", "add", f"{STAND_IN_ADDRESS}/32", "dev", _VETH[0])
    for end in _VETH:
        _ip("link", "set", end, "up")
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in _ip("-o", "link").splitlines())
    if names != sorted(["lo", *_VETH]):
        raise NotIsolated(f"unexpected interfaces in the namespace: {names}")
    if _ip("route", "show", "default").strip() or _ip("-6", "route", "show", "default").strip():
        raise NotIsolated("the namespace has a default route")
    resolv = workdir / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
    sink = DnsSink()
    sink.start()
    os.environ[_MARKER] = "1"
    return sink


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dns-log", type=Path, required=True)
    parser.add_argument("module")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="netns-") as workdir:
        sink = _enter_private_network(Path(workdir))
        try:
            scenario = importlib.import_module(options.module)
            status: int = scenario.main(options.args)
        finally:
            options.dns_log.parent.mkdir(parents=True, exist_ok=True)
            options.dns_log.write_text(json.dumps(sorted(set(sink.names)), indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
