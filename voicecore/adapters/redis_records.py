"""How RedisSessionStore lays out keys and records; no Redis client here, only the format.

Times are integer microseconds since 1970 (exact as Lua numbers), so scripts
can compare them.

Keys, under a configurable prefix (default ``voicecore:``); user ids, room
names, idempotency keys, event ids and lock names are escaped by ``key_part``:
    session:{room}          hash   the SessionRecord (times in microseconds)
    sessions                set    every live room name
    deadlines               zset   room name -> its ends_at (microseconds), for records that have one
    expiries                zset   every live room name, by when its record expires (ms):
                                   the count of live sessions, O(log n)
    user:{user}:sessions    set    the user's live room names
    rate:{user}             hash   token bucket
    idem:{user}:{key}       hash   idempotency claim
    index                   hash   the index's epoch, when marked, admissions since: present once rebuilt
    rebuild:{id}            string a rebuild of the index under way (gone if the store lost its memory)
    event:{event id}        string when the event may be seen anew (ms)
    lock:{name}             hash   owner and lease end (ms)
Records (and their user's index) expire ``record_ttl`` after their last change;
the rest expires with its own deadline; ``sessions`` has no TTL but sheds the
names of expired records whenever it is read, ``deadlines`` drops a room when its
record goes, and ``expiries`` sheds the expiries passed whenever a session is
added. So nothing grows forever.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from voicecore.core.session_record import TIMES, SessionRecord, from_microseconds, to_microseconds


def key_part(text: str) -> str:
    """Escape ``%`` and ``:`` so that no two different parts make one key (as Lua's ``part``)."""
    return text.replace("%", "%25").replace(":", "%3A")


def participant_field(*, agent: bool, joined: bool) -> str:
    return f"{'agent' if agent else 'user'}_{'joined' if joined else 'left'}_at"


def encode(record: SessionRecord) -> str:
    """The record as one JSON object of strings (unknown times left out), which a script HSETs.

    One argument instead of a field and a value each: redis-py packs every argument
    in Python, so fewer arguments cost less (docs/benchmarks.md). Strings, because a Lua
    number would print microseconds since 1970 in exponent form.
    """
    fields = {
        "room_name": record.room_name,
        "user_id": record.user_id,
        "agent_type": record.agent_type,
        "agent_dispatches": str(record.agent_dispatches),
    }
    if record.allowance_seconds is not None:
        fields["allowance_seconds"] = str(record.allowance_seconds)
    for name in TIMES:
        moment: datetime | None = getattr(record, name)
        if moment is not None:
            fields[name] = str(to_microseconds(moment))
    return json.dumps(fields, separators=(",", ":"))


def decode(fields: Mapping[str, str]) -> SessionRecord:
    def moment(name: str) -> datetime | None:
        value = fields.get(name)
        return None if value is None else from_microseconds(int(value))

    return SessionRecord(
        room_name=fields["room_name"],
        user_id=fields["user_id"],
        agent_type=fields["agent_type"],
        created_at=from_microseconds(int(fields["created_at"])),
        user_joined_at=moment("user_joined_at"),
        user_left_at=moment("user_left_at"),
        agent_joined_at=moment("agent_joined_at"),
        agent_left_at=moment("agent_left_at"),
        agent_dispatches=int(fields["agent_dispatches"]),
        ends_at=moment("ends_at"),
        allowance_seconds=None if "allowance_seconds" not in fields else int(fields["allowance_seconds"]),
        redispatched_at=moment("redispatched_at"),
    )


def decode_flat(flat: Sequence[str]) -> SessionRecord:
    """A record from HGETALL's flat reply inside a script."""
    return decode(dict(zip(flat[::2], flat[1::2], strict=True)))


def in_order(records: Sequence[SessionRecord]) -> list[SessionRecord]:
    return sorted(records, key=lambda r: (r.created_at, r.room_name))
