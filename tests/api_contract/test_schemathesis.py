"""Schemathesis against the service's own OpenAPI document, with the real LiveKit server behind it.

Cases come from schemathesis (positive and negative generation for every operation);
they are sent through httpx into the app on a loop this module owns, and every
answer is validated by schemathesis' own checks: no 5xx, the status code is
documented for the operation, the content type and the body match the documented
schema, documented headers are present. On top: every error body is clean (no
exception names, addresses, secrets or tokens) and says one of the documented things.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from livekit import api
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.apps import LoopHarness, check_clean_body, service_container
from tests.support.constants import (
    BASE_URL,
    BODY_TOO_LARGE,
    INVALID_USER_ID,
    LIVEKIT_FAILED,
    NOT_AUTHENTICATED,
    NOT_FOUND,
    NOT_OWNER,
)
from tests.support.figures import FIGURES
from tests.support.leak_guard import LeakGuard
from tests.support.tokens import auth_header
from voicecore.testing.livekit_server import LocalLiveKitServer

EXAMPLES_WITH_AUTH = 100  # per operation and generation mode
EXAMPLES_WITHOUT_AUTH = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Starlette's own answer when a fuzzed path matches no route at all ("a/b" as a room name).
ROUTER_NOT_FOUND = "Not Found"
DOCUMENTED_DETAILS = {
    400: {"Webhook body is not an event"},
    401: {NOT_AUTHENTICATED["detail"], "Webhook not verified"},
    403: {NOT_OWNER["detail"]},
    404: {NOT_FOUND["detail"], ROUTER_NOT_FOUND},
    # A fuzzed body can outgrow HTTP_MAX_BODY_BYTES; the limit answers before authentication.
    413: {BODY_TOO_LARGE["detail"]},
    500: {LIVEKIT_FAILED["detail"]},
}


@dataclass
class FuzzTarget:
    harness: LoopHarness
    schema: Any
    user: str
    server: LocalLiveKitServer
    tally: Counter[tuple[str, str, int]]

    def operations(self) -> list[APIOperation]:
        return [result.ok() for result in self.schema.get_all_operations()]

    def send(self, case: Any, headers: dict[str, str] | None) -> tuple[httpx.Response, bytes]:
        """Exactly the request schemathesis would send, through our client and loop."""
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
        prepared = requests.Request(
            method=kwargs["method"],
            url=kwargs["url"],
            headers=kwargs["headers"],
            params=kwargs.get("params"),
            cookies=kwargs.get("cookies"),
            data=kwargs.get("data"),
            json=kwargs.get("json"),
        ).prepare()
        assert prepared.method is not None
        assert prepared.url is not None
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body or b""
        response = self.harness.run(
            self.harness.client.request(
                prepared.method, prepared.url, headers=dict(prepared.headers), content=body
            )
        )
        return response, body

    async def rooms_of_user(self) -> list[str]:
        async with api.LiveKitAPI(self.server.url, self.server.api_key, self.server.api_secret) as lk:
            rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
        return [room.name for room in rooms if room.name.startswith(f"fitness-voice-{self.user}-")]

    async def delete_rooms_of_user(self) -> int:
        names = await self.rooms_of_user()
        async with api.LiveKitAPI(self.server.url, self.server.api_key, self.server.api_secret) as lk:
            for name in names:
                await lk.room.delete_room(api.DeleteRoomRequest(room=name))
        return len(names)


@pytest.fixture(scope="module")
def target(livekit_server: LocalLiveKitServer) -> Iterator[FuzzTarget]:
    harness = LoopHarness(
        service_container(livekit_server.url, livekit_server.api_key, livekit_server.api_secret)
    )
    try:
        document = harness.run(harness.client.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document)
        yield FuzzTarget(harness, schema, f"fuzz-{secrets.token_hex(3)}", livekit_server, Counter())
    finally:
        harness.close()


def fuzz(
    target: FuzzTarget,
    operation: APIOperation,
    *,
    mode: GenerationMode,
    headers: dict[str, str] | None,
    examples: int,
    guard: LeakGuard,
    label: str,
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def one_case(case: Any) -> None:
        response, _body = target.send(case, headers)
        target.tally[(label, operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            check_clean_body(response.text, guard)
            detail = response.json()["detail"]
            if response.status_code == 422:
                assert detail.startswith(("Invalid request", "Field not allowed: ")) or (
                    detail == INVALID_USER_ID["detail"]
                ), detail
            else:
                assert detail in DOCUMENTED_DETAILS[response.status_code], (response.status_code, detail)

    one_case()


def has_inputs(operation: APIOperation) -> bool:
    # Negative generation needs something to break: a parameter, a body or credentials
    # (the webhook intake declares none: LiveKit's signature is its only input).
    return operation.path.startswith("/api/v1/voice-sessions")


def fuzz_every_operation(
    target: FuzzTarget, *, headers: dict[str, str] | None, examples: int, guard: LeakGuard, label: str
) -> None:
    """Positive cases for every operation; negative ones where there is input to mangle."""
    for operation in target.operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not has_inputs(operation):
                continue
            fuzz(target, operation, mode=mode, headers=headers, examples=examples, guard=guard, label=label)


def summarize(target: FuzzTarget, label: str) -> tuple[int, Counter[int]]:
    statuses: Counter[int] = Counter()
    for (run, _, status), count in target.tally.items():
        if run == label:
            statuses[status] += count
    total = sum(statuses.values())
    by_status = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    FIGURES.record(
        "Schemathesis (real LiveKit)",
        f"{label}: {total} requests fuzzed {{{by_status}}}",
    )
    return total, statuses


def test_fuzzing_with_valid_auth_finds_no_5xx_and_no_undocumented_answer(
    target: FuzzTarget, log_leak_guard: LeakGuard
) -> None:
    label = "valid bearer token"
    headers = auth_header(target.user)
    try:
        fuzz_every_operation(
            target, headers=headers, examples=EXAMPLES_WITH_AUTH, guard=log_leak_guard, label=label
        )
    finally:
        created = target.harness.run(target.delete_rooms_of_user())
    total, statuses = summarize(target, label)
    FIGURES.record(
        "Schemathesis (real LiveKit)", f"{label}: {created} rooms created by fuzzed POSTs, removed"
    )
    assert statuses[201] > 0  # fuzzing reached LiveKit, not only the validators
    assert statuses[200] > 0
    assert total >= 4 * EXAMPLES_WITH_AUTH
    assert all(status < 500 for status in statuses)


def test_fuzzing_without_valid_auth_is_always_refused_and_creates_nothing(
    target: FuzzTarget, log_leak_guard: LeakGuard
) -> None:
    label = "no or made-up credentials"
    before = set(target.harness.run(target.rooms_of_user()))
    fuzz_every_operation(
        target, headers=None, examples=EXAMPLES_WITHOUT_AUTH, guard=log_leak_guard, label=label
    )
    total, statuses = summarize(target, label)
    voice_statuses = {
        status for (run, operation, status) in target.tally if run == label and " /api/" in operation
    }
    # Credentials are checked before anything reaches LiveKit; a path that matches no
    # route is the router's 404, and a body that is not JSON at all is refused (422)
    # before the credentials are looked at.
    assert voice_statuses <= {401, 404, 422}, voice_statuses
    assert statuses[401] > 0
    assert total >= 4 * EXAMPLES_WITHOUT_AUTH
    assert set(target.harness.run(target.rooms_of_user())) == before
