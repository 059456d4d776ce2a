"""What the figures came from: the machine, the interpreter, the packages, the code."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import subprocess
from pathlib import Path

PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "livekit-api",
    "aiohttp",
    "httpx",
    "httpcore",
    "sniffio",
    "uvloop",
    "httptools",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _run(*command: str, cwd: Path | None = None) -> str | None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def livekit_server_version(binary: Path) -> str:
    # "livekit-server version 1.13.5"
    out = _run(str(binary), "--version") or ""
    version = out.rsplit(" ", 1)[-1] if out else "unknown"
    return version if version.startswith("v") or version == "unknown" else f"v{version}"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(livekit_binary: Path, repo: Path) -> dict[str, object]:
    commit = _run("git", "rev-parse", "HEAD", cwd=repo)
    dirty = _run("git", "status", "--porcelain", "--untracked-files=no", cwd=repo)
    uvicorn_loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    uvicorn_http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "livekit_server": livekit_server_version(livekit_binary),
        "uvicorn_auto_picks": {"loop": uvicorn_loop, "http": uvicorn_http},
        "packages": {name: _version(name) for name in PACKAGES},
        "git_commit": commit,
        "git_tracked_changes": bool(dirty) if dirty is not None else None,
    }
