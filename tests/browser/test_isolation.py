"""The private network namespace really is private, and its DNS sink really records."""

from __future__ import annotations

import errno
import json
from pathlib import Path

from tests.browser.probe_isolation import UNREGISTERED_NAME
from tests.support.browser.netns import run_isolated


def test_the_namespace_has_no_route_out_and_records_every_name_looked_up(tmp_path: Path) -> None:
    dns_log = tmp_path / "dns.json"
    run = run_isolated("tests.browser.probe_isolation", [], dns_log=dns_log, timeout=60)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["lookup"].startswith("failed")
    assert report["connect"] == f"failed: errno {errno.ENETUNREACH}"
    assert UNREGISTERED_NAME in json.loads(dns_log.read_text())
