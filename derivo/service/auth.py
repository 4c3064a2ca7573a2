"""The bearer token that guards writes (uploads, deletes); reads are public.

The token comes from ``DERIVO_TOKEN`` or, failing that, from ``<data>/token``,
which the first start creates (mode 0600) with a random token and prints once.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from fastapi.security import HTTPAuthorizationCredentials

from derivo.atomic import write_atomically
from derivo.errors import DerivoError, Unauthorized
from derivo.service.settings import MIN_TOKEN_LENGTH


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The token stored at ``path``, creating it if missing; True when just created.

    Raises DerivoError for a token file too short to be a token (e.g. emptied by hand).
    """
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    else:
        if len(token) < MIN_TOKEN_LENGTH:
            raise DerivoError(
                f"the token in {path} is shorter than {MIN_TOKEN_LENGTH} characters: "
                "remove the file to have a new one generated, or set DERIVO_TOKEN"
            )
        return token, False
    token = secrets.token_urlsafe(32)
    write_atomically(path.parent, {path.name: f"{token}\n".encode("ascii")}, private=True)
    return token, True


class BearerToken:
    """Checks ``Authorization: Bearer <token>`` in constant time; Unauthorized when not right."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def check(self, credentials: HTTPAuthorizationCredentials | None) -> None:
        if credentials is None or not credentials.credentials:
            raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
        if not hmac.compare_digest(credentials.credentials.encode(), self._token):
            raise Unauthorized("wrong bearer token")
