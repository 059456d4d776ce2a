"""Headless Debian chromium, driven by Playwright, for pages that join LiveKit rooms.

Only inside the private network namespace (tests/support/browser/netns.py): ``chromium_page`` refuses
to start anywhere else. Playwright never downloads a browser here: it launches
``/usr/bin/chromium`` (installed by scripts/setup.sh).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import ConsoleMessage, Page, async_playwright

from tests.support.browser.netns import NotIsolated, inside_private_network

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    # A generated microphone (a beep) instead of a real device, granted without a prompt.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # WebRTC ignores loopback candidates unless told otherwise, and the server offers only those.
    "--allow-loopback-in-peer-connection",
    # Chromium's own services (component updates among them, whatever the switches that should
    # stop them) look up Google hosts; resolve nothing but 127.0.0.1, so no lookup leaves.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


@contextlib.asynccontextmanager
async def chromium_page(*, console_log: Path | None = None) -> AsyncIterator[Page]:
    """A fresh page in a fresh headless chromium; the page's console goes to ``console_log``."""
    _check_can_launch()
    lines: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            page = await browser.new_page()
            page.on("console", lambda message: lines.append(_console_line(message)))
            page.on("pageerror", lambda error: lines.append(f"[pageerror] {error}"))
            yield page
        finally:
            await browser.close()
            if console_log is not None:
                _save(console_log, lines)


def _check_can_launch() -> None:
    if not inside_private_network():
        raise NotIsolated("run browser scenarios through tests.support.browser.netns.run_isolated")
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: run scripts/setup.sh (apt-get install chromium)")


def _save(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _console_line(message: ConsoleMessage) -> str:
    return f"[{message.type}] {message.text}"
