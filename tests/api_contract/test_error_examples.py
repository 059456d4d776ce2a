"""The OpenAPI document's error answers state no configurable limit as a fixed number."""

from __future__ import annotations

import re

import httpx

from voicecore.core.idempotency import MAX_KEY_LENGTH

# Numbers voicecore fixes itself: an error answer may state these, never a setting's value.
FIXED_BY_VOICECORE = {str(MAX_KEY_LENGTH)}


async def test_error_examples_and_descriptions_state_only_fixed_numbers(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    stated: dict[str, set[str]] = {}
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                example = response["content"]["application/json"]["example"]["detail"]
                checked += 1
                for number in re.findall(r"\d+", f"{example} {response['description']}"):
                    stated.setdefault(number, set()).add(f"{method} {path} {status}")
    assert checked >= 30, f"only {checked} error answers documented"
    assert set(stated) <= FIXED_BY_VOICECORE, {n: stated[n] for n in set(stated) - FIXED_BY_VOICECORE}
