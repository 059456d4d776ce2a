"""The demo page as the service serves it (DEMO_PAGE=1), without a browser.

Its security headers and the Content-Security-Policy derived from LIVEKIT_URL; a page with
nothing inline for that policy to refuse; the livekit-client bundle shipped in the package, byte
for byte what ``npm ci`` installs from web/package-lock.json, with its version and hash on
record; and a wheel that carries all of it, so an installed package serves the page with no
checkout. tests/browser/test_demo_page.py runs the page in chromium under those headers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from tests.support.apps import service_container, serving
from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from voicecore.settings import SettingsError, load_settings
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore_http.demo_page import (
    DEMO_DIRECTORY,
    LIVEKIT_CLIENT_BUNDLE,
    LIVEKIT_CLIENT_VERSION,
    content_security_policy,
    serve_demo_page,
)

REPOSITORY = Path(__file__).resolve().parents[2]
VENDOR = DEMO_DIRECTORY / "vendor"
MANIFEST = VENDOR / "livekit-client.json"
WEB = REPOSITORY / "web"
BUNDLE_PATH = f"/demo/vendor/{LIVEKIT_CLIENT_BUNDLE.name}"
DEMO_PATHS = ("/demo/", "/demo/demo.js", "/demo/demo.css", BUNDLE_PATH)
CONTENT_TYPES = {
    "/demo/": "text/html",
    "/demo/demo.js": "text/javascript",
    "/demo/demo.css": "text/css",
    BUNDLE_PATH: "text/javascript",
}


@pytest.fixture
async def demo_client(memory_gateway: InMemoryRoomGateway) -> AsyncIterator[httpx.AsyncClient]:
    container = service_container(
        CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET, room_gateway=memory_gateway, DEMO_PAGE="1"
    )
    async with serving(container) as client:
        yield client


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: its sources}, in order."""
    parsed: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        assert name not in parsed, f"{name} twice"
        parsed[name] = sources
    return parsed


def manifest() -> dict[str, str]:
    loaded: dict[str, str] = json.loads(MANIFEST.read_text())
    return loaded


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- served, with its headers ---------------------------------------------------------


async def test_the_demo_page_is_off_by_default(client: httpx.AsyncClient) -> None:
    for path in ("/demo", *DEMO_PATHS):
        assert (await client.get(path)).status_code == 404, path


@pytest.mark.parametrize("path", ["/demo", *DEMO_PATHS])
async def test_every_answer_under_demo_carries_the_security_headers(
    demo_client: httpx.AsyncClient, path: str
) -> None:
    answer = await demo_client.get(path)
    assert answer.status_code == (308 if path == "/demo" else 200)
    if path in CONTENT_TYPES:
        assert answer.headers["content-type"].startswith(CONTENT_TYPES[path])
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    policy = directives(answer.headers["content-security-policy"])
    # The page's own scripts and styles only: nothing inline, nothing evaluated, nothing framed.
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == policy["form-action"] == ["'none'"]
    # This service, and the LiveKit server sessions are on: wss for signalling, https for the
    # client's questions to the same host.
    host = urlsplit(CONFIGURED_LIVEKIT_URL).netloc
    assert policy["connect-src"] == ["'self'", f"wss://{host}", f"https://{host}"]
    assert "unsafe" not in answer.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("livekit_url", "connect_src"),
    [
        ("ws://127.0.0.1:7880", ["'self'", "ws://127.0.0.1:7880", "http://127.0.0.1:7880"]),
        ("http://livekit:7880/", ["'self'", "ws://livekit:7880", "http://livekit:7880"]),
        ("wss://LK.Example.com/rtc", ["'self'", "wss://lk.example.com", "https://lk.example.com"]),
        (
            "https://lk.example.com:8443",
            ["'self'", "wss://lk.example.com:8443", "https://lk.example.com:8443"],
        ),
    ],
)
async def test_connect_src_names_the_configured_livekit_origin_in_both_forms(
    memory_gateway: InMemoryRoomGateway, livekit_url: str, connect_src: list[str]
) -> None:
    container = service_container(
        livekit_url, TEST_API_KEY, TEST_API_SECRET, room_gateway=memory_gateway, DEMO_PAGE="1"
    )
    async with serving(container) as client:
        page = await client.get("/demo/")
    assert directives(page.headers["content-security-policy"])["connect-src"] == connect_src


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(
    scheme=st.sampled_from(["ws", "wss", "http", "https"]),
    labels=st.lists(_LABEL, min_size=1, max_size=4),
    port=st.none() | st.integers(min_value=1, max_value=65535),
    path=st.sampled_from(["", "/", "/rtc", "/a/b/"]),
)
def test_any_livekit_url_the_settings_accept_gives_one_well_formed_policy(
    scheme: str, labels: list[str], port: int | None, path: str
) -> None:
    netloc = ".".join(labels) + ("" if port is None else f":{port}")
    url = load_settings(
        {"LIVEKIT_URL": f"{scheme}://{netloc}{path}", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s" * 32}
    ).livekit_url
    policy = directives(content_security_policy(url))
    secure = scheme in {"wss", "https"}
    assert list(policy) == [
        "default-src", "script-src", "style-src", "img-src", "connect-src", "base-uri", "form-action",
        "frame-ancestors",
    ]  # fmt: skip
    assert policy["connect-src"] == [
        "'self'",
        f"{'wss' if secure else 'ws'}://{netloc}",
        f"{'https' if secure else 'http'}://{netloc}",
    ]


@pytest.mark.parametrize(
    "livekit_url", ["ws://[::1]:7880", "wss://live_kit.internal", "wss://lk.example.com;script-src"]
)
def test_a_livekit_host_a_policy_cannot_name_refuses_the_demo_page(livekit_url: str) -> None:
    # An IPv6 literal or an underscore cannot be a CSP source; a semicolon would end the directive.
    with pytest.raises(SettingsError, match="DEMO_PAGE") as refused:
        serve_demo_page(FastAPI(), livekit_url=livekit_url)
    assert "LIVEKIT_URL" in str(refused.value)
    assert livekit_url not in str(refused.value)


def test_the_page_has_nothing_inline_and_loads_only_from_its_own_origin() -> None:
    page = (DEMO_DIRECTORY / "index.html").read_text()
    # Inline code the policy would refuse: a script or style element with content, a style
    # attribute, an event handler attribute, a javascript: URL.
    assert re.findall(r"<script\b[^>]*>([^<]+)</script>", page) == []
    assert "<style" not in page
    assert not re.search(r"\sstyle=|\son[a-z]+=|javascript:", page)
    sources = re.findall(r"(?:src|href)=\"([^\"]*)\"", page)
    assert sorted(sources) == ["data:,", "demo.css", "demo.js"]


def test_the_script_calls_only_its_own_origin() -> None:
    script = (DEMO_DIRECTORY / "demo.js").read_text()
    # A path on this origin, and no URL anywhere: the API cannot be pointed elsewhere.
    assert "const API = '/api/v1/voice-sessions';" in script
    assert not re.search(r"\b(?:https?|wss?):", script)
    # The address bar is read only to take a sign-in link's token out of it, never for a URL.
    assert set(re.findall(r"location\.(\w+)", script)) == {"hash", "pathname", "search"}
    assert "URLSearchParams(location.search)" not in script


def test_every_element_the_script_uses_is_on_the_page() -> None:
    script = (DEMO_DIRECTORY / "demo.js").read_text()
    page = (DEMO_DIRECTORY / "index.html").read_text()
    used = set(re.findall(r"\$\('([a-z-]+)'\)", script)) | set(
        re.findall(r"show(?:Flag)?\('([a-z-]+)'", script)
    )
    present = set(re.findall(r'\sid="([a-z-]+)"', page))
    assert used
    assert used <= present, used - present
    for element_id in present - {"sign-in-section"}:
        assert f'id="{element_id}" data-testid="' in page, element_id


# --- the bundle: shipped, pinned, and checkable ------------------------------------------


async def test_the_page_imports_the_shipped_bundle_and_the_service_serves_it_unchanged(
    demo_client: httpx.AsyncClient,
) -> None:
    script = (DEMO_DIRECTORY / "demo.js").read_text()
    [(names, source)] = re.findall(r"import \{([^}]*)\} from '([^']+)'", script)
    assert source == f"./vendor/{LIVEKIT_CLIENT_BUNDLE.name}"
    bundle = await demo_client.get(BUNDLE_PATH)
    assert bundle.status_code == 200
    assert bundle.content == LIVEKIT_CLIENT_BUNDLE.read_bytes()
    assert f'version$1 = "{LIVEKIT_CLIENT_VERSION}"' in bundle.text
    exported = re.findall(r"export\s*\{([^}]*)\}", bundle.text)[-1]  # the module's export list
    exported_names = {name.strip().split(" as ")[-1] for name in exported.split(",")}
    imported = {name.strip() for name in names.split(",") if name.strip()}
    assert imported <= exported_names, imported - exported_names
    # A self-contained module: it imports nothing the service does not serve.
    assert not re.search(r"^\s*import\b|\bimport\(", bundle.text, re.MULTILINE)


def test_the_shipped_bundle_is_byte_for_byte_what_npm_ci_installs_from_the_lock() -> None:
    """The provenance chain: package.json pins a version; the lock fixes it and the tarball's
    integrity; npm ci installed that tarball (its own record of the install says which); the
    shipped file is that install's file, and the manifest records its sha256."""
    record = manifest()
    pinned = json.loads((WEB / "package.json").read_text())["dependencies"]["livekit-client"]
    locked = json.loads((WEB / "package-lock.json").read_text())["packages"]["node_modules/livekit-client"]
    installed_record = WEB / "node_modules" / ".package-lock.json"
    assert installed_record.is_file(), "web/node_modules is missing: run `make setup` (npm ci in web/)"
    installed = json.loads(installed_record.read_text())["packages"]["node_modules/livekit-client"]
    package = json.loads((WEB / "node_modules/livekit-client/package.json").read_text())

    assert pinned == locked["version"] == installed["version"] == package["version"]
    assert record["version"] == LIVEKIT_CLIENT_VERSION == locked["version"]
    assert record["lock_integrity"] == locked["integrity"] == installed["integrity"]
    assert record["license"] == locked["license"]
    # The file the package's own export map names as its ES module.
    module = Path(package["exports"]["."]["import"])
    assert record["installed_as"] == f"web/node_modules/livekit-client/{module}"
    assert record["bundle"] == LIVEKIT_CLIENT_BUNDLE.name
    assert LIVEKIT_CLIENT_BUNDLE.read_bytes() == (REPOSITORY / record["installed_as"]).read_bytes()
    assert record["bundle_sha256"] == sha256_of(LIVEKIT_CLIENT_BUNDLE)
    license_file = VENDOR / record["license_file"]
    assert license_file.read_bytes() == (WEB / "node_modules/livekit-client/LICENSE").read_bytes()
    assert sorted(path.name for path in VENDOR.iterdir()) == sorted(
        [MANIFEST.name, record["bundle"], record["license_file"]]
    )


def test_a_missing_bundle_is_a_settings_error_naming_demo_page(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="DEMO_PAGE") as failure:
        serve_demo_page(FastAPI(), livekit_url=CONFIGURED_LIVEKIT_URL, bundle=tmp_path / "missing.mjs")
    assert "missing.mjs" in str(failure.value)
    assert LIVEKIT_CLIENT_BUNDLE.is_file()


# --- installed from a wheel, with no checkout -----------------------------------------

_SERVE_FROM_THE_INSTALL = """
import asyncio, hashlib, json, sys
import httpx
import voicecore_http
from voicecore_http.app import create_app

async def main():
    app = create_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo.test") as client:
        answers = {}
        for path in sys.argv[1:]:
            answer = await client.get(path)
            answers[path] = [answer.status_code, hashlib.sha256(answer.content).hexdigest()]
    print(json.dumps({"package": voicecore_http.__file__, "answers": answers}))

asyncio.run(main())
"""


def test_a_wheel_serves_the_whole_page_with_no_checkout(tmp_path: Path) -> None:
    """Build the wheel from the sources alone, install it into an empty directory, and serve
    the page from there with DEMO_PAGE=1: every file answers, each byte for byte the source."""
    sources = tmp_path / "sources"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for tree in ("voicecore", "voicecore_http"):
        shutil.copytree(REPOSITORY / tree, sources / tree, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / name, sources / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    wheels = tmp_path / "wheels"
    # The backend is in the dev environment (pyproject.toml): nothing is fetched.
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels)]
    subprocess.run([*build, str(sources)], check=True, timeout=300)
    [wheel] = wheels.glob("voicecore-*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if "/demo/" in name}
    expected = {
        f"voicecore_http/{path.relative_to(DEMO_DIRECTORY.parent)}"
        for path in DEMO_DIRECTORY.rglob("*")
        if path.is_file()
    }
    assert shipped == expected

    site = tmp_path / "site"
    install = [*pip, "install", "--no-deps", "--no-index", "--target", str(site)]
    subprocess.run([*install, str(wheel)], check=True, timeout=300)
    run_in = tmp_path / "elsewhere"
    run_in.mkdir()
    environment = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(site),  # ahead of the checkout's editable install
        "LIVEKIT_URL": "ws://127.0.0.1:7880",
        "LIVEKIT_API_KEY": TEST_API_KEY,
        "LIVEKIT_API_SECRET": TEST_API_SECRET,
        "AUTH_JWT_SECRET": "a-secret-of-at-least-thirty-two-characters",
        "JOURNAL_URL": f"sqlite:///{run_in / 'journal.sqlite3'}",
        "DEMO_PAGE": "1",
    }
    served = subprocess.run(
        [sys.executable, "-c", _SERVE_FROM_THE_INSTALL, *DEMO_PATHS],
        cwd=run_in,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(served.stdout.splitlines()[-1])
    assert Path(found["package"]).is_relative_to(site)
    sources_by_path = {
        "/demo/": DEMO_DIRECTORY / "index.html",
        "/demo/demo.js": DEMO_DIRECTORY / "demo.js",
        "/demo/demo.css": DEMO_DIRECTORY / "demo.css",
        BUNDLE_PATH: LIVEKIT_CLIENT_BUNDLE,
    }
    assert found["answers"] == {path: [200, sha256_of(source)] for path, source in sources_by_path.items()}
