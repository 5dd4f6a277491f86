"""The chat-completions request body, and how it adapts to what a model accepts.

Why adapt: the "OpenAI-compatible" surface differs by model and server. OpenAI's
reasoning models (o1, o3, o4-mini, gpt-5 ...) reject ``max_tokens`` and want
``max_completion_tokens``, and accept only the default temperature; older servers know
only ``max_tokens``. We send what the model is known to take, and when a server answers
400 naming an unsupported parameter we rewrite that one parameter and ask again,
remembering the fix for the rest of the run.
"""

from __future__ import annotations

import re
from typing import Any

#: OpenAI model families that take ``max_completion_tokens`` and no ``temperature``.
REASONING_MODEL = re.compile(r"^(o\d|gpt-5)([.-]|$)")


def uses_completion_tokens(model: str, on_openai: bool) -> bool:
    """OpenAI's own API accepts ``max_completion_tokens`` for every model; others may not."""
    return on_openai or bool(REASONING_MODEL.match(model))


def chat_body(
    model: str,
    messages: list[dict[str, str]],
    *,
    n: int,
    temperature: float,
    max_tokens: int,
    seed: int,
    completion_tokens: bool,
    fixed_temperature: bool,
) -> dict[str, Any]:
    """One request body (``completion_tokens``: name the cap ``max_completion_tokens``)."""
    body: dict[str, Any] = {"model": model, "messages": messages, "n": n, "seed": seed}
    body["max_completion_tokens" if completion_tokens else "max_tokens"] = max_tokens
    if not fixed_temperature:
        body["temperature"] = temperature
    return body


def adaptation(error_body: Any, message: str) -> str | None:
    """Which fix a 400 asks for: ``completion_tokens``, ``fixed_temperature``, ``single_n`` or None.

    Reads OpenAI's error shape (``{"error": {"param": ..., "code": ...}}``) and falls back
    to the message text for servers that only say it in words.
    """
    err = error_body.get("error", error_body) if isinstance(error_body, dict) else {}
    param = str(err.get("param") or "") if isinstance(err, dict) else ""
    text = f"{param} {message}".lower()
    if "max_tokens" in text and ("max_completion_tokens" in text or "unsupported" in text):
        return "completion_tokens"
    if "temperature" in text and ("unsupported" in text or "does not support" in text):
        return "fixed_temperature"
    if param == "n" or message.lower().startswith("n:"):
        return "single_n"  # the server takes one sample per request: the client emulates n
    return None
