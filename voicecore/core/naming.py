"""The room naming rule: ``fitness-voice-{escaped user id}-{16 lowercase hex}``.

Any user id of printable ASCII works (``auth0|64f1c2``, ``user:42``, ``a+b@example.com``).
In the name, characters that are safe in a URL path segment stay as they are
(``A-Z a-z 0-9 - . _``); every other one, ``~`` included, is written ``~XX``
with its two uppercase hex digits. So ``auth0|42`` is ``auth0~7C42``, and since
``~`` only ever starts an escape, the escape is reversible.

A name parses back to exactly one user id: the suffix has a fixed length, so the
id part is everything between the prefix and the last 17 characters, and only
the one canonical spelling of an id is accepted (``~7c`` or ``~41`` are not).
Ids that extend each other (``auth0|42`` and ``auth0|42-7``) therefore never meet.

Refused (``InvalidUserId``): empty ids, spaces, control characters and anything
outside ASCII, which have no single obvious spelling across identity providers
and would reach logs and tokens; and ids whose escaped form would push the name
past LiveKit's 256-character limit.
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Final

from voicecore.core.errors import InvalidUserId

ROOM_NAME_PREFIX: Final = "fitness-voice-"
ROOM_SUFFIX_HEX_CHARS: Final = 16  # 64 bits from secrets
MAX_ROOM_NAME_LENGTH: Final = 256  # LiveKit rejects longer names
# The longest escaped id that still fits; an id of safe characters may be this long,
# each other character takes three of these places.
MAX_ESCAPED_USER_ID_LENGTH: Final = MAX_ROOM_NAME_LENGTH - len(ROOM_NAME_PREFIX) - 1 - ROOM_SUFFIX_HEX_CHARS

ESCAPE: Final = "~"
# Unreserved in RFC 3986 less the escape character itself.
SAFE_CHARACTERS: Final = frozenset(string.ascii_letters + string.digits + "-._")
# Printable ASCII without the space: what a user id may be made of.
USER_ID_CHARACTERS: Final = frozenset(chr(code) for code in range(0x21, 0x7F))

_ESCAPED_ID: Final = re.compile(r"(?:[A-Za-z0-9._-]|~[0-9A-F]{2})+")
_ESCAPE_SEQUENCE: Final = re.compile(r"~([0-9A-F]{2})")
_SUFFIX: Final = re.compile(rf"-[0-9a-f]{{{ROOM_SUFFIX_HEX_CHARS}}}")

# The shape of every name voicecore makes, for documents and client-side checks (the
# prefix has no regex metacharacters, so it stands as it is). Necessary, not sufficient:
# room_name_user_id also refuses non-canonical escapes and ids that are too long.
ROOM_NAME_PATTERN: Final = f"^{ROOM_NAME_PREFIX}{_ESCAPED_ID.pattern}{_SUFFIX.pattern}$"


def escape_user_id(user_id: str) -> str:
    """The id as it stands in room names; raises InvalidUserId if it cannot stand there."""
    if not user_id:
        raise InvalidUserId("it is empty")
    unusable = sorted({c for c in user_id if c not in USER_ID_CHARACTERS})
    if unusable:
        raise InvalidUserId(
            "only printable ASCII is allowed (no spaces, control characters or non-ASCII); "
            f"found {', '.join(repr(c) for c in unusable[:5])}"
        )
    escaped = "".join(c if c in SAFE_CHARACTERS else f"{ESCAPE}{ord(c):02X}" for c in user_id)
    if len(escaped) > MAX_ESCAPED_USER_ID_LENGTH:
        raise InvalidUserId(
            f"it takes {len(escaped)} characters in a room name, more than {MAX_ESCAPED_USER_ID_LENGTH} "
            "(letters, digits and - . _ take one each, every other character three)"
        )
    return escaped


def can_name_rooms(user_id: str) -> bool:
    try:
        escape_user_id(user_id)
    except InvalidUserId:
        return False
    return True


def new_room_name(user_id: str) -> str:
    return f"{room_name_prefix_for(user_id)}{secrets.token_hex(ROOM_SUFFIX_HEX_CHARS // 2)}"


def room_name_prefix_for(user_id: str) -> str:
    """What every name made for ``user_id`` starts with (names of ids it prefixes may too)."""
    return f"{ROOM_NAME_PREFIX}{escape_user_id(user_id)}-"


def room_name_user_id(room_name: str) -> str | None:
    """The user id a name was made for, or None if voicecore never makes this name.

    Only a cheap shape check: ownership is decided by room metadata, never here.
    """
    if len(room_name) > MAX_ROOM_NAME_LENGTH or not room_name.startswith(ROOM_NAME_PREFIX):
        return None
    escaped, suffix = room_name[len(ROOM_NAME_PREFIX) : -17], room_name[-17:]
    if not _SUFFIX.fullmatch(suffix) or not _ESCAPED_ID.fullmatch(escaped):
        return None
    user_id = _ESCAPE_SEQUENCE.sub(lambda m: chr(int(m.group(1), 16)), escaped)
    try:
        canonical = escape_user_id(user_id)
    except InvalidUserId:
        return None
    return user_id if canonical == escaped else None
