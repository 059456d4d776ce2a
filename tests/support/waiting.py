"""Waiting for a condition, never for a fixed time, and failing loudly when it does not come.

Every wait names what it waits for (``what=``): at its deadline it raises ``WaitTimedOut``
with that description and the last value seen, so a test can never carry on as if the
thing had happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# How much of the last value a failure shows: enough to see what it was, not a page of protobuf.
_SHOWN = 600


class WaitTimedOut(AssertionError):
    """A condition a test waited for did not come in time."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    what: str,
    within: float = 10.0,
    every: float = 0.1,
) -> T:
    """Poll ``probe`` until ``accept`` takes its value, and return that value.

    For what settles on its own: participants and rooms on the LiveKit server, webhooks,
    an index repair. Raises ``WaitTimedOut`` naming ``what`` when ``within`` seconds pass.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if accept(value):
            return value
        if loop.time() >= deadline:
            raise WaitTimedOut(f"waited {within:g} s for {what}; last seen: {_shown(value)}")
        await asyncio.sleep(every)


async def settled(condition: Callable[[], bool], *, what: str, ticks: int = 1000) -> None:
    """Let the event loop run until ``condition`` holds (background tasks of the code under test).

    Counts loop turns, not seconds: for work that needs no I/O, only its turn.
    """
    for _ in range(ticks):
        if condition():
            return
        await asyncio.sleep(0)
    if not condition():
        raise WaitTimedOut(f"{what} did not happen within {ticks} turns of the event loop")
