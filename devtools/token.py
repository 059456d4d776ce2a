"""``python -m devtools.token USER_ID [--email E] [--hours H]``: a development bearer token.

Signed with AUTH_JWT_SECRET from the environment (``make serve`` prints it), so a
second user, and the 403 on someone else's session, can be tried by hand.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

import jwt


def dev_user_token(secret: str, user_id: str, email: str | None = None, *, hours: float = 24) -> str:
    claims: dict[str, object] = {"sub": user_id, "exp": int(time.time() + hours * 3600)}
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm="HS256")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.token", description=__doc__)
    parser.add_argument("user_id")
    parser.add_argument("--email")
    parser.add_argument("--hours", type=float, default=24)
    args = parser.parse_args(argv)
    secret = os.environ.get("AUTH_JWT_SECRET")
    if not secret:
        print("AUTH_JWT_SECRET is not set: copy it from the `make serve` banner", file=sys.stderr)
        return 2
    print(dev_user_token(secret, args.user_id, args.email, hours=args.hours))
    return 0


if __name__ == "__main__":
    sys.exit(main())
