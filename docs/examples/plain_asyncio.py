"""voicecore in a plain asyncio program: no web framework at all.

Run it with LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET in the environment:
``python docs/examples/plain_asyncio.py auth0|42`` starts a session for that user,
shows its status and lists it, then ends it (tests/docs/test_examples.py runs it).
"""

from __future__ import annotations

import asyncio
import sys

from voicecore import User, VoiceCoreContainer, load_settings, voicecore_lifespan


async def main(user_id: str) -> None:
    container = VoiceCoreContainer.from_settings(load_settings())
    async with voicecore_lifespan(container) as sessions:
        user = User(id=user_id, email="ada@example.com")
        started = await sessions.start(user, "diet")
        print(f"started {started.room_name}: connect to {started.livekit_url} until {started.expires_at}")
        status = await sessions.status(user, started.room_name)
        print(f"participants: {status.participant_count}, agent connected: {status.agent_connected}")
        print(f"live sessions: {[s.room_name for s in await sessions.list(user)]}")
        await sessions.end(user, started.room_name)
        print(f"ended {started.room_name}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "dev-user"))
