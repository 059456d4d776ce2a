"""The OpenAPI document: tag, schemas, examples and every error answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

OPERATIONS = {
    ("post", "/api/v1/voice-sessions"): {401, 409, 422, 429, 500, 503},
    ("get", "/api/v1/voice-sessions"): {401, 500, 503},
    ("get", "/api/v1/voice-sessions/{room_name}"): {401, 403, 404, 500, 503},
    ("delete", "/api/v1/voice-sessions/{room_name}"): {401, 403, 404, 500, 503},
}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_the_voice_sessions_tag_is_described(document: dict[str, Any]) -> None:
    [tag] = [t for t in document["tags"] if t["name"] == "voice-sessions"]
    assert "Bearer" in tag["description"]


@pytest.mark.parametrize(("method", "path"), list(OPERATIONS))
def test_each_operation_documents_its_errors_and_examples(
    document: dict[str, Any], method: str, path: str
) -> None:
    operation = document["paths"][path][method]
    assert operation["tags"] == ["voice-sessions"]
    assert operation["summary"]
    responses = operation["responses"]
    errors = {int(code) for code in responses if int(code) >= 400}
    assert errors == OPERATIONS[(method, path)]
    for code in errors:
        content = responses[str(code)]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
        assert content["example"]["detail"]
    [success] = [code for code in responses if code.startswith("2")]
    assert success == ("201" if method == "post" else "200")
    schema_ref = responses[success]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert schema.get("examples"), f"{schema_ref} has no example"


def test_the_request_body_and_timestamps_are_described(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    request = schemas["CreateSessionRequest"]
    assert request["examples"] == [{"agent_type": "workout"}, {}]
    assert schemas["AgentType"]["enum"] == [
        "workout",
        "diet",
        "supplement",
        "tracker",
        "scheduler",
        "general",
    ]
    assert schemas["SessionCreated"]["properties"]["expires_at"]["format"] == "date-time"
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_health_is_outside_the_voice_sessions_tag(document: dict[str, Any]) -> None:
    for path in ("/healthz", "/readyz"):
        assert "voice-sessions" not in document["paths"][path]["get"]["tags"]


async def test_the_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
