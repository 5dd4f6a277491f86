"""Bearer-token auth: where the token comes from and how a request is checked.

The token is a ``SecretStr`` from the moment it is read, so it never shows in
a repr, a log line or a traceback, and requests are compared with
``hmac.compare_digest`` so response timing does not leak how much of a guess
was right.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from pydantic import SecretStr

from stratos.exceptions import ServeError

TOKEN_ENV = "STRATOS_API_TOKEN"


def load_token(
    token_file: str | Path | None = None, *, env: dict[str, str] | None = None
) -> SecretStr | None:
    """The API token from ``token_file`` (first line, stripped) or ``$STRATOS_API_TOKEN``; None if neither."""
    env = os.environ if env is None else env
    if token_file is not None:
        path = Path(token_file)
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise ServeError(
                f"cannot read the token file {path}: {exc.strerror}. Pass a readable file."
            ) from exc
        if not value:
            raise ServeError(f"the token file {path} is empty; write the API token into it.")
        return SecretStr(value)
    value = env.get(TOKEN_ENV, "").strip()
    return SecretStr(value) if value else None


def token_matches(expected: SecretStr, authorization: str | None) -> bool:
    """True when the ``Authorization`` header is ``Bearer <expected>`` (constant-time compare)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.get_secret_value().encode())
