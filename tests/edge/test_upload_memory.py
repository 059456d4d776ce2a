"""Anonymous uploads cannot grow the service: 8 concurrent 100 MB POSTs, others served meanwhile.

The service runs as production does (``python -m voicecore_http``, uvicorn on
127.0.0.1, the real LiveKit server behind it); its resident set size is read from
/proc while the uploads stream. A control run with the limits switched off shows
the measurement would see the growth.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.constants import BASE
from tests.support.figures import FIGURES
from tests.support.livekit import unique_user_id
from tests.support.service_process import ServiceProcess, read_until_closed, running_service, status_of
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.testing.livekit_server import LocalLiveKitServer

UPLOADS = 8
UPLOAD_BYTES = 100 * 1024 * 1024
RSS_ALLOWANCE = 50 * 1024 * 1024
# The other user's create, status, list and end, this many times while the uploads go on.
MEANWHILE_ROUNDS = 5
# The RSS is read from /proc this often, while the uploads stream and while it settles.
SAMPLE_EVERY = 0.01
SETTLED_SAMPLES = 5
_CHUNK = b" " * (256 * 1024)
_MiB = 1024 * 1024


@dataclass
class Upload:
    status: int = 0
    sent: int = 0


async def upload(port: int, *, chunked: bool, size: int = UPLOAD_BYTES) -> Upload:
    """An anonymous POST of ``size`` bytes, written as fast as the server takes them."""
    result = Upload()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = f"POST {BASE} HTTP/1.1\r\nHost: voicecore.test\r\nContent-Type: application/json\r\n{framing}"
    writer.write(f"{head}\r\n\r\n".encode())
    answer = asyncio.create_task(read_until_closed(reader))
    try:
        while result.sent < size and not answer.done():
            writer.write(b"%x\r\n%s\r\n" % (len(_CHUNK), _CHUNK) if chunked else _CHUNK)
            await writer.drain()
            result.sent += len(_CHUNK)
        if chunked and not answer.done():
            writer.write(b"0\r\n\r\n")
    except ConnectionError:
        pass  # the server answered and closed while we were still sending
    finally:
        result.status = status_of(await asyncio.wait_for(answer, 60))
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return result


@dataclass
class RssSampler:
    service: ServiceProcess
    samples: list[int] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def sampling(self) -> AsyncIterator[None]:
        async def sample() -> None:
            while True:
                self.samples.append(self.service.rss_bytes())
                await asyncio.sleep(SAMPLE_EVERY)  # the sampling period itself, not a wait

        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.samples.append(self.service.rss_bytes())


async def another_users_sessions(base_url: str, rounds: int) -> list[int]:
    """Another user's create, status, list and end, ``rounds`` times; the statuses."""
    user = unique_user_id("meanwhile")
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=base_url, headers=auth_header(user), timeout=10) as client:
        for _ in range(rounds):
            created = await client.post(BASE, json={"agent_type": "workout"})
            statuses.append(created.status_code)
            if created.status_code != 201:
                break
            name = created.json()["room_name"]
            statuses.append((await client.get(f"{BASE}/{name}")).status_code)
            statuses.append((await client.get(BASE)).status_code)
            statuses.append((await client.delete(f"{BASE}/{name}")).status_code)
    return statuses


async def uploading(port: int, chunked: bool, until: asyncio.Event) -> list[Upload]:
    """One attacker: a 100 MB upload, and another as soon as it is refused, until ``until``."""
    results = [await upload(port, chunked=chunked)]
    while not until.is_set():
        results.append(await upload(port, chunked=chunked))
    return results


async def warm_up(service: ServiceProcess) -> int:
    """Every code path the attack will take, run once; then the RSS to compare with."""
    assert set(await another_users_sessions(service.base_url, rounds=1)) <= {200, 201}
    await upload(service.port, chunked=False, size=len(_CHUNK))
    await upload(service.port, chunked=True, size=len(_CHUNK))
    return await settled_rss(service)


async def settled_rss(service: ServiceProcess) -> int:
    """The service's RSS once it has stopped changing: the same over SETTLED_SAMPLES samples."""
    samples: list[int] = []

    async def sample() -> list[int]:
        samples.append(service.rss_bytes())
        return samples[-SETTLED_SAMPLES:]

    recent = await eventually(
        sample,
        lambda last: len(last) == SETTLED_SAMPLES and len(set(last)) == 1,
        what="the service's RSS to settle after the warm-up",
        every=SAMPLE_EVERY,
    )
    return recent[-1]


async def test_eight_anonymous_100_mb_uploads_leave_rss_within_50_mb_and_others_are_served(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    with running_service(tmp_path, livekit_server) as service:
        baseline = await warm_up(service)
        sampler = RssSampler(service)
        done = asyncio.Event()
        async with sampler.sampling():
            # Eight attackers, each uploading again as soon as refused, while the other user works.
            attackers = [
                asyncio.create_task(uploading(service.port, i % 2 == 1, done)) for i in range(UPLOADS)
            ]
            try:
                statuses = await another_users_sessions(service.base_url, rounds=MEANWHILE_ROUNDS)
            finally:
                done.set()
            uploads = [result for attacker in attackers for result in await attacker]

    peak = max(sampler.samples)
    FIGURES.record(
        "Edge: 8 anonymous 100 MB uploads",
        f"RSS {baseline / _MiB:.0f} MiB before, peak {peak / _MiB:.0f} MiB, "
        f"{len(sampler.samples)} samples; {len(uploads)} uploads (each attacker again when refused), "
        f"{sum(u.status == 413 for u in uploads)} read a 413, the others were cut off; at most "
        f"{max(u.sent for u in uploads) / _MiB:.1f} MiB accepted by a socket; "
        f"{len(statuses)} requests of another user served meanwhile",
    )
    assert peak - baseline <= RSS_ALLOWANCE, (baseline, peak)
    assert sampler.samples[-1] - baseline <= RSS_ALLOWANCE
    # Refused, never read whole: a 413, or cut off while the client was still sending.
    for result in uploads:
        assert result.status == 413 or (result.status == 0 and result.sent < UPLOAD_BYTES), result
    assert statuses
    assert set(statuses) <= {200, 201}, statuses


async def test_control_without_the_limits_one_upload_grows_rss_past_the_allowance(
    livekit_server: LocalLiveKitServer, tmp_path: Path
) -> None:
    """The instrument is sharp: what the fix prevents is visible to this measurement."""
    with running_service(tmp_path, livekit_server, HTTP_LIMITS_ENABLED="false") as service:
        baseline = await warm_up(service)
        sampler = RssSampler(service)
        async with sampler.sampling():
            result = await upload(service.port, chunked=False)
    peak = max(sampler.samples)
    FIGURES.record(
        "Edge: 8 anonymous 100 MB uploads",
        f"control, limits off, one upload: RSS {baseline / _MiB:.0f} MiB before, peak {peak / _MiB:.0f} MiB",
    )
    # Read whole and parsed (spaces are not JSON: 422) before credentials were even looked at.
    assert (result.sent, result.status) == (UPLOAD_BYTES, 422)
    assert peak - baseline > RSS_ALLOWANCE
