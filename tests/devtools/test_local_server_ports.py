"""The local servers' ports (voicecore/testing/processes.py): picked apart, and owned when ready.

Test workers and the benchmark start servers side by side, so a port picked as free can
be taken by someone else before the server binds it; a readiness probe must then not be
answered by that someone else.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from voicecore.testing.processes import free_port, listens_on, spawn, stop, wait_until_ready

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM])
def test_a_free_port_is_free_and_below_the_ephemeral_range(kind: int) -> None:
    ephemeral_low = int(EPHEMERAL_RANGE.read_text().split()[0])
    ports = {free_port(kind) for _ in range(50)}
    assert all(port < ephemeral_low for port in ports), sorted(ports)
    assert len(ports) > 1  # picked, not a constant
    with socket.socket(socket.AF_INET, kind) as server:
        server.bind(("127.0.0.1", ports.pop()))


def listening_child(port: int) -> list[str]:
    script = f"import socket, time\ns = socket.create_server(('127.0.0.1', {port}))\ntime.sleep(60)\n"
    return [sys.executable, "-c", script]


def test_only_the_process_itself_listening_makes_it_ready(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "child.log"
    with socket.create_server(("127.0.0.1", port)):  # another process's server, as it were
        child = spawn([sys.executable, "-c", "import time; time.sleep(60)"], log)
        try:
            assert not listens_on(child.pid, port)
            started = time.monotonic()
            with pytest.raises(RuntimeError, match="was not ready after 1"):
                wait_until_ready(child, lambda: True, timeout=1, what="the child", log_tail=str, port=port)
            assert time.monotonic() - started >= 1  # it waited, though the probe said yes at once
        finally:
            stop(child)

    child = spawn(listening_child(port), log)
    try:
        wait_until_ready(child, lambda: True, timeout=30, what="the child", log_tail=str, port=port)
        assert listens_on(child.pid, port)
    finally:
        stop(child)
