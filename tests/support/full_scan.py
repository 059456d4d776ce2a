"""Round 1's listing, the ground truth the indexed listing is held to: every room, read from scratch.

It decodes ownership on its own, from the JSON LiveKit returns and the documented rules,
and never with voicecore's parser or naming code: a check that reused them would only
compare the code with itself.

The rules (docs/library.md "User ids", docs/http-api.md "Answers"):

- metadata is one JSON object with exactly the keys ``v`` (the integer 1), ``user_id``,
  ``agent_type`` (one of the documented types), ``mode`` (``voice``) and ``created_at``
  (ISO 8601 with an explicit UTC offset), every one of them a string but ``v``;
- the room's name is ``fitness-voice-{escaped user id}-{16 lowercase hex}``, where the escape
  writes every character outside ``A-Z a-z 0-9 - . _`` as ``~`` and its two uppercase hex digits;
- a room is the session of the user its metadata names only if its name was made for that user.
"""

from __future__ import annotations

import json
import re
import string
from datetime import datetime

from livekit import api

from voicecore.testing.livekit_server import LocalLiveKitServer

AGENT_TYPES = frozenset({"workout", "diet", "supplement", "tracker", "scheduler", "general"})
KEYS = frozenset({"v", "user_id", "agent_type", "mode", "created_at"})
# Written when a session has a bound (docs/livekit.md, "Bounds in time"): the metadata stays a session's.
OPTIONAL_KEYS = frozenset({"ends_at", "allowance_seconds"})
_AS_THEY_ARE = frozenset(string.ascii_letters + string.digits + "-._")
_PRINTABLE_ASCII = frozenset(chr(code) for code in range(0x21, 0x7F))
_SUFFIX = re.compile(r"[0-9a-f]{16}")
_LONGEST_NAME = 256


def escaped(user_id: str) -> str:
    return "".join(c if c in _AS_THEY_ARE else f"~{ord(c):02X}" for c in user_id)


def owner(room_name: str, metadata: str) -> str | None:
    """The user whose session the room is, or None if it is nobody's."""
    user_id = named_user(metadata)
    if user_id is None or not set(user_id) <= _PRINTABLE_ASCII:
        return None
    suffix = room_name.removeprefix(f"fitness-voice-{escaped(user_id)}-")
    made_for_them = suffix != room_name and _SUFFIX.fullmatch(suffix) is not None
    return user_id if made_for_them and len(room_name) <= _LONGEST_NAME else None


def named_user(metadata: str) -> str | None:
    """The user that readable voicecore metadata names, or None if it is not that."""
    try:
        data = json.loads(metadata)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not KEYS <= set(data) <= KEYS | OPTIONAL_KEYS:
        return None
    if type(data["v"]) is not int or data["v"] != 1:
        return None
    user_id, agent_type, mode, created_at = (data[k] for k in ("user_id", "agent_type", "mode", "created_at"))
    if not all(isinstance(value, str) for value in (user_id, agent_type, mode, created_at)):
        return None
    readable = agent_type in AGENT_TYPES and mode == "voice" and _has_an_offset(created_at)
    return user_id if readable and user_id else None


def _has_an_offset(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).utcoffset() is not None
    except ValueError:
        return False


async def sessions_by_full_scan(server: LocalLiveKitServer, user_id: str) -> set[str]:
    """Every room on the server that is ``user_id``'s session, by the rules above."""
    async with api.LiveKitAPI(server.url, server.api_key, server.api_secret) as lk:
        rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
    return {room.name for room in rooms if owner(room.name, room.metadata) == user_id}
