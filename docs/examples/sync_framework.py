"""voicecore from synchronous code (a Flask or Django view, a worker, a script).

voicecore is asyncio inside: its LiveKit client belongs to the event loop it was
opened in. So keep ONE loop for the process in an ``asyncio.Runner`` and run every
call on it; ``asyncio.run`` per call would open a loop per call, and voicecore
refuses that with ``WrongEventLoop`` rather than failing obscurely. One Runner is
not thread-safe: a threaded server gives each worker thread its own ``VoiceBackend``
(or serialises calls with a lock).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Self

from voicecore import (
    StartedSession,
    User,
    VoiceCoreContainer,
    VoiceSessions,
    load_settings,
    voicecore_lifespan,
)


class VoiceBackend:
    """voicecore's use cases behind plain method calls, on one event loop for its whole life."""

    def __init__(self, container: VoiceCoreContainer) -> None:
        self._runner = asyncio.Runner()
        self._lifespan = voicecore_lifespan(container)
        self._sessions: VoiceSessions = self._runner.run(self._lifespan.__aenter__())

    def start(self, user: User, agent_type: str = "general") -> StartedSession:
        return self._runner.run(self._sessions.start(user, agent_type))

    def end(self, user: User, room_name: str) -> None:
        self._runner.run(self._sessions.end(user, room_name))

    def close(self) -> None:
        try:
            self._runner.run(self._lifespan.__aexit__(None, None, None))
        finally:
            self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def main(user_id: str) -> None:
    with VoiceBackend(VoiceCoreContainer.from_settings(load_settings())) as voice:
        started = voice.start(User(id=user_id), "workout")
        print(f"started {started.room_name}")
        voice.end(User(id=user_id), started.room_name)
        print(f"ended {started.room_name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dev-user")
