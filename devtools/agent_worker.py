"""A development agent worker: the real livekit-agents runtime, no STT, LLM or TTS.

Run as ``python -m devtools.agent_worker`` with ``LIVEKIT_URL``, ``LIVEKIT_API_KEY``,
``LIVEKIT_API_SECRET`` and ``LIVEKIT_AGENT_NAME``. It registers under that agent name (so it
receives explicit dispatches only), joins each dispatched room as an agent, publishes an audio
track on which it plays a short generated tone to each new listener, and stays until the room
ends. The line ``agent worker registered`` on stderr says it is ready for dispatches.

It stays on loopback and downloads nothing: no plugin is installed, the local inference models
are never preloaded, and the health server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import sys

import numpy as np
from livekit import rtc
from livekit.agents import AgentServer, AutoSubscribe, JobContext

logger = logging.getLogger("devtools.agent_worker")

READY_MESSAGE = "agent worker registered"
TONE_TRACK_NAME = "tone"
SAMPLE_RATE = 48_000
FRAME_MS = 10
TONE_HZ = 440.0
TONE_FRAMES = 100
# A room deleted while its agent is still joining makes connect() hang when the server may not
# re-create rooms: give up and end the job instead of holding a process forever.
CONNECT_TIMEOUT_S = 15.0
DRAIN_TIMEOUT_S = 5


def tone_frames(
    count: int = TONE_FRAMES, *, hz: float = TONE_HZ, sample_rate: int = SAMPLE_RATE
) -> list[rtc.AudioFrame]:
    """Consecutive mono 16-bit frames of a sine tone at a quarter of full scale."""
    samples_per_frame = sample_rate * FRAME_MS // 1000
    t = np.arange(count * samples_per_frame) / sample_rate
    wave = (np.sin(2 * np.pi * hz * t) * 0.25 * np.iinfo(np.int16).max).astype(np.int16)
    return [
        rtc.AudioFrame(chunk.tobytes(), sample_rate, 1, samples_per_frame) for chunk in np.split(wave, count)
    ]


class TonePlayer:
    """Plays the tone into one audio source, once at a time."""

    def __init__(self, source: rtc.AudioSource) -> None:
        self._source = source
        self._frames = tone_frames()
        self._playing: asyncio.Task[None] | None = None

    def play(self) -> None:
        if self._playing is None or self._playing.done():
            self._playing = asyncio.create_task(self._play())

    async def _play(self) -> None:
        for frame in self._frames:
            await self._source.capture_frame(frame)


async def entrypoint(ctx: JobContext) -> None:
    try:
        await asyncio.wait_for(ctx.connect(auto_subscribe=AutoSubscribe.AUDIO_ONLY), CONNECT_TIMEOUT_S)
    except TimeoutError:
        logger.warning("room %s did not accept the agent; ending the job", ctx.room.name)
        ctx.shutdown("could not join the room")
        return
    source = rtc.AudioSource(SAMPLE_RATE, 1)
    track = rtc.LocalAudioTrack.create_audio_track(TONE_TRACK_NAME, source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await ctx.room.local_participant.publish_track(track, options)
    player = TonePlayer(source)
    player.play()
    # Whoever starts listening later (a browser joining after the agent) hears the tone too. LiveKit
    # tells a publisher only of its track's first subscriber, so the agent also plays it whenever
    # it starts hearing someone's microphone: a page that reloads and rejoins is a new listener.
    ctx.room.on("local_track_subscribed", lambda _track: player.play())
    ctx.room.on("track_subscribed", lambda _track, _publication, _participant: player.play())
    # Returning keeps the job alive: the runtime ends it when the room disconnects the agent.
    logger.info("agent %s is in %s", ctx.room.local_participant.identity, ctx.room.name)

    # The room's metadata says when the server will end the session (docs/livekit.md), and is
    # rewritten when that moves: a real coach would say goodbye before then; this one says when.
    def say_when(metadata: str) -> None:
        logger.info("session %s ends at %s", ctx.room.name, session_ends_at(metadata) or "no bound")

    say_when(ctx.room.metadata)
    ctx.room.on("room_metadata_changed", lambda _old, new: say_when(new))


def session_ends_at(metadata: str) -> str | None:
    """The ``ends_at`` voicecore writes in a session's room metadata, or None."""
    try:
        value = json.loads(metadata).get("ends_at")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def never_loaded() -> float:
    # The default reports whole-machine CPU, and the server skips a worker at or above its
    # target load without retrying: a busy test machine would lose dispatches.
    return 0.0


def build_server(agent_name: str) -> AgentServer:
    server = AgentServer(
        load_fnc=never_loaded,
        load_threshold=math.inf,
        num_idle_processes=1,
        host="127.0.0.1",
        port=0,
        drain_timeout=DRAIN_TIMEOUT_S,
        log_level="INFO",
    )
    server.rtc_session(entrypoint, agent_name=agent_name)
    server.on("worker_registered", lambda worker_id, _info: logger.info("%s: %s", READY_MESSAGE, worker_id))
    return server


async def serve(agent_name: str) -> None:
    server = build_server(agent_name)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running = asyncio.create_task(server.run())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    try:
        if not running.done():
            try:
                await server.drain()
            except TimeoutError:
                logger.warning("jobs still running after the drain timeout; closing them")
    finally:
        await server.aclose()
    await running  # a connection that failed for good makes the exit status non-zero


def main() -> int:
    missing = [
        name
        for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "LIVEKIT_AGENT_NAME")
        if not os.environ.get(name)
    ]
    if missing:
        print(f"missing environment: {', '.join(missing)}", file=sys.stderr)
        return 2
    # Never preload the local VAD and end-of-turn models: this agent does not use them.
    os.environ["LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE"] = "0"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(os.environ["LIVEKIT_AGENT_NAME"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
