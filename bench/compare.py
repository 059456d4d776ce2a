"""``--compare LABEL=REV[+asyncio]``: voicecore as of another revision, served beside this one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench.targets import Target

_HIDE_SPEEDUPS = '''\
"""Written by bench.run for a comparison target: hide uvloop and httptools, so
uvicorn runs on asyncio and h11 as it did before they were dependencies."""
import sys


class _Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("uvloop", "httptools"):
            raise ImportError(f"{name} is hidden for this comparison")
        return None


sys.meta_path.insert(0, _Hidden())
'''


def checkout(repo: Path, revision: str, dest: Path, *, hide_speedups: bool) -> str:
    """voicecore and voicecore_http as of ``revision`` in ``dest``: a PYTHONPATH.

    ``revision`` is a git revision of ``repo`` (git archive), or a directory holding
    the two packages (copied).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if Path(revision).is_dir():
        for package in ("voicecore", "voicecore_http"):
            shutil.copytree(Path(revision) / package, dest / package)
    else:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision, "voicecore", "voicecore_http"],  # noqa: S607
            cwd=repo,
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)  # noqa: S607
    if hide_speedups:
        (dest / "sitecustomize.py").write_text(_HIDE_SPEEDUPS)
    return str(dest)


def compare_target(spec: str, repo: Path, scratch: Path) -> Target:
    """The target ``api_LABEL`` for ``LABEL=REV[+asyncio]``, at LOG_LEVEL=INFO."""
    label, _, revision = spec.partition("=")
    revision, _, variant = revision.partition("+")
    if not label or not revision or variant not in ("", "asyncio"):
        raise ValueError(f"{spec!r}: expected LABEL=REV[+asyncio]")
    path = checkout(repo, revision, scratch / label, hide_speedups=bool(variant))
    what = f"voicecore as of {revision}" + (" on asyncio + h11" if variant else "")
    return Target(f"api_{label}", f"{what}, LOG_LEVEL=INFO", pythonpath=path)
