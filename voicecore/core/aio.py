"""Small asyncio tools the use cases share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar, cast

T = TypeVar("T")


async def all_or_first_error(*calls: Awaitable[T]) -> list[T]:
    """Like gather, but never leaves a sibling call running after a failure."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[T], results)
