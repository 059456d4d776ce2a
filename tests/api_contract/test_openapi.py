"""The OpenAPI document: tag, schemas, examples and every error answer."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from voicecore.core.naming import MAX_ROOM_NAME_LENGTH, ROOM_NAME_PATTERN

OPERATIONS = {
    ("post", "/api/v1/voice-sessions"): {401, 402, 409, 413, 422, 429, 500, 503},
    ("get", "/api/v1/voice-sessions"): {401, 500, 503},
    ("get", "/api/v1/voice-sessions/{room_name}"): {401, 403, 404, 500, 503},
    ("delete", "/api/v1/voice-sessions/{room_name}"): {401, 403, 404, 500, 503},
    ("post", "/api/v1/voice-sessions/{room_name}/token"): {401, 403, 404, 500, 503},
    ("post", "/api/v1/voice-sessions/connection-details"): {401, 402, 403, 404, 409, 413, 422, 429, 500, 503},
    ("get", "/api/v1/voice-sessions/history"): {401, 422, 500, 503},
    ("get", "/api/v1/voice-sessions/history/{room_name}"): {401, 403, 404, 500, 503},
    ("get", "/api/v1/voice-sessions/usage"): {401, 500, 503},
}
# What a generated client calls each operation: stable, whatever the function names.
OPERATION_IDS = {
    ("post", "/api/v1/voice-sessions"): "createVoiceSession",
    ("get", "/api/v1/voice-sessions"): "listVoiceSessions",
    ("get", "/api/v1/voice-sessions/{room_name}"): "getVoiceSession",
    ("delete", "/api/v1/voice-sessions/{room_name}"): "endVoiceSession",
    ("post", "/api/v1/voice-sessions/{room_name}/token"): "rejoinVoiceSession",
    ("post", "/api/v1/voice-sessions/connection-details"): "getConnectionDetails",
    ("post", "/api/v1/livekit/webhooks"): "receiveLiveKitWebhook",
    ("get", "/api/v1/voice-sessions/history"): "listVoiceSessionHistory",
    ("get", "/api/v1/voice-sessions/history/{room_name}"): "getVoiceSessionRecord",
    ("delete", "/api/v1/voice-sessions/history"): "eraseVoiceSessionHistory",
    ("get", "/api/v1/voice-sessions/usage"): "getVoiceSessionUsage",
}
CREATED = {("post", "/api/v1/voice-sessions"), ("post", "/api/v1/voice-sessions/connection-details")}


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
    assert success == ("201" if (method, path) in CREATED else "200")
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


def test_every_operation_has_its_stable_operation_id(document: dict[str, Any]) -> None:
    found = {
        (method, path): operation["operationId"]
        for path, operations in document["paths"].items()
        if path.startswith("/api/")
        for method, operation in operations.items()
    }
    assert found == OPERATION_IDS


def test_room_name_parameters_carry_the_naming_rules_pattern_and_length(document: dict[str, Any]) -> None:
    for (method, path), _ in OPERATIONS.items():
        if "{room_name}" not in path:
            continue
        [parameter] = document["paths"][path][method]["parameters"]
        assert (parameter["name"], parameter["in"], parameter["required"]) == ("room_name", "path", True)
        schema = parameter["schema"]
        assert (schema["pattern"], schema["maxLength"]) == (ROOM_NAME_PATTERN, MAX_ROOM_NAME_LENGTH)
        assert re.fullmatch(schema["pattern"], schema["examples"][0])


def test_the_bearer_scheme_is_described(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["HTTPBearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for needed in ("sub", "exp", "AUTH_JWT_SECRET", "401"):
        assert needed in scheme["description"]
    for (method, path), _ in OPERATIONS.items():
        assert document["paths"][path][method]["security"] == [{"HTTPBearer": []}]


def test_the_token_endpoint_documents_its_request_and_query(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v1/voice-sessions/connection-details"]["post"]
    [query] = [p for p in operation["parameters"] if p["in"] == "query"]
    assert (query["name"], query["schema"]["default"]) == ("agent_type", "general")
    assert [p["name"] for p in operation["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    request = document["components"]["schemas"]["ConnectionDetailsRequest"]
    assert "ConnectionDetailsRequest" in str(body)
    assert set(request["properties"]) == {
        "room_name",
        "participant_identity",
        "participant_name",
        "participant_metadata",
        "participant_attributes",
        "room_config",
    }
    assert set(document["components"]["schemas"]["ConnectionDetails"]["required"]) == {
        "server_url",
        "participant_token",
        "room_name",
        "participant_name",
    }


async def test_the_docs_page_needs_no_internet(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert not re.search(r"(?:https?:)?//", page.text), "an absolute URL in /docs"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == [
        "/docs-assets/favicon-32x32.png",
        "/docs-assets/swagger-ui-bundle.js",
        "/docs-assets/swagger-ui.css",
    ]
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200
        assert len(response.content) > 100
    assert '"validatorUrl": null' in page.text  # Swagger UI's online validator stays off
    assert (await client.get("/docs-assets/index.html")).status_code == 404
    assert (await client.get("/redoc")).status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/voice-sessions", "/api/v1/voice-sessions/connection-details"])
async def test_the_openapi_documents_the_limits_and_the_key(client: httpx.AsyncClient, path: str) -> None:
    operation: dict[str, Any] = (await client.get("/openapi.json")).json()["paths"][path]["post"]
    [key] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert key["name"] == "Idempotency-Key"
    assert key["required"] is False
    assert "24 h" in key["description"]
    too_many = operation["responses"]["429"]
    assert too_many["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    assert "SESSION_MAX_LIVE_PER_USER" in too_many["description"]
    assert "SESSION_CREATES_PER_MINUTE" in too_many["description"]
    assert "Idempotency-Key" in operation["responses"]["409"]["description"]
    assert "422" in operation["responses"]
    unavailable = operation["responses"]["503"]  # the store failed, or its index is being rebuilt
    assert unavailable["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    assert "rebuilt from LiveKit" in unavailable["description"]


def test_end_reasons_are_a_closed_set_in_the_document(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["EndReason"]["enum"] == [
        "user_ended",
        "room_closed",
        "unobserved",
        "max_duration",
        "usage_exhausted",
    ]
    end_reason = schemas["HistoryItem"]["properties"]["end_reason"]
    assert {"$ref": "#/components/schemas/EndReason"} in end_reason["anyOf"]
    history = document["paths"]["/api/v1/voice-sessions/history"]
    filters = {p["name"]: p for p in history["get"]["parameters"]}
    assert set(filters) == {"limit", "cursor", "agent_type", "end_reason", "since", "until"}
    erase = history["delete"]
    assert set(erase["responses"]) == {"204", "401", "500", "503"}
    assert "content" not in erase["responses"]["204"]
    journal_503 = erase["responses"]["503"]["content"]["application/json"]["example"]["detail"]
    assert journal_503 == "Session history is temporarily unavailable; please retry"
