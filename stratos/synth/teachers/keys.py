"""Which API key a teacher endpoint gets: only one that belongs to it.

Why a rule and not "whatever key is around": ``OPENAI_API_KEY`` is the user's OpenAI
credential, and sending it to a self-hosted ``http://`` teacher (or to any other host)
hands it to whoever runs that server, in clear text when the scheme is http. So:

1. ``api_key`` passed by the caller: the caller chose it for this endpoint.
2. ``api_key_env`` named in the teacher spec: that variable holds this endpoint's key.
3. ``STRATOS_TEACHER_API_KEY``: the stack's teacher key (the Pulumi program fills it from
   the secret ``stratos:teacherApiKey``), meant for the stack's teacher.
4. ``OPENAI_API_KEY``: only for OpenAI's API, or for the host ``OPENAI_BASE_URL`` names
   (the pairing the ``openai`` SDK itself assumes).

Anything else gets no key (no ``Authorization`` header at all).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from stratos.exceptions import TeacherError

OPENAI_API = "https://api.openai.com/v1"
STACK_KEY_ENV = "STRATOS_TEACHER_API_KEY"


def openai_base_url() -> str:
    """OpenAI's API root, or the one ``OPENAI_BASE_URL`` points the SDK at."""
    return (os.environ.get("OPENAI_BASE_URL") or OPENAI_API).rstrip("/")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def same_origin(a: str, b: str) -> bool:
    """Scheme, host and port equal (an http:// URL never matches an https:// one)."""
    return _origin(a) == _origin(b)


def resolve_api_key(base_url: str, *, api_key: str | None = None, api_key_env: str | None = None) -> str | None:
    """The key to send to ``base_url`` (see module docstring), or None for none."""
    if api_key is not None:
        return api_key or None
    if api_key_env:
        value = os.environ.get(api_key_env) or os.environ.get(STACK_KEY_ENV)
        if not value:
            raise TeacherError(
                f"teacher {base_url}: api_key_env names {api_key_env}, which is not set where the job runs. "
                f"Export {api_key_env}, or set the stack secret stratos:teacherApiKey."
            )
        return value
    if os.environ.get(STACK_KEY_ENV):
        return os.environ[STACK_KEY_ENV]
    openai_key = os.environ.get("OPENAI_API_KEY")
    if openai_key and (same_origin(base_url, OPENAI_API) or same_origin(base_url, openai_base_url())):
        return openai_key
    return None
