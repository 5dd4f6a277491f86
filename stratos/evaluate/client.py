"""Send task prompts to an OpenAI-compatible endpoint, ``concurrency`` at a time, and time each.

Plain httpx (not the openai client) so the measured latency is one HTTP round
trip with no client-side retries hiding failures: a failed request is counted
as an error, not retried. An endpoint that cannot be reached at all (or
refuses the token) is one ``EndpointError`` line before any question is sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from stratos.exceptions import EndpointError


@dataclass(frozen=True)
class Reply:
    """One request's outcome: the text (None on error), latency in seconds, token counts."""

    text: str | None
    latency_s: float
    completion_tokens: int = 0
    error: str | None = None


def normalise_base_url(url: str) -> str:
    """``http://host:port``, ``.../`` or ``.../v1`` -> ``http://host:port/v1``."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


class EndpointClient:
    """Chat completions against one endpoint with a bearer token."""

    def __init__(self, base_url: str, token: str | None, *, timeout_s: float = 300.0):
        self.base_url = normalise_base_url(base_url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )

    async def __aenter__(self) -> EndpointClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._client.aclose()

    async def model_name(self) -> str:
        """The first model the endpoint serves (what requests name as ``model``)."""
        url = f"{self.base_url}/models"
        try:
            r = await self._client.get(url)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise EndpointError(
                f"cannot reach {self.base_url} ({reason}); check that the server is running and the URL "
                f"is right (try: curl {url})."
            ) from None
        if r.status_code == 401:
            raise EndpointError(
                f"{self.base_url} refused the API token (HTTP 401); pass --token-file or set $STRATOS_API_TOKEN."
            )
        try:
            r.raise_for_status()
            return r.json()["data"][0]["id"]
        except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
            raise EndpointError(
                f"{url} did not list a model (HTTP {r.status_code}: {r.text[:120]!r}); "
                "is this an OpenAI-compatible endpoint?"
            ) from exc

    async def chat(
        self, model: str, prompt: str, *, max_tokens: int, temperature: float = 0.0
    ) -> Reply:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        start = time.perf_counter()
        try:
            r = await self._client.post(f"{self.base_url}/chat/completions", json=body)
        except httpx.HTTPError as exc:
            return Reply(None, time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}")
        latency = time.perf_counter() - start
        if r.status_code != 200:
            return Reply(None, latency, error=f"HTTP {r.status_code}: {r.text[:200]}")
        data = r.json()
        return Reply(
            data["choices"][0]["message"]["content"],
            latency,
            completion_tokens=int(data.get("usage", {}).get("completion_tokens", 0)),
        )

    async def chat_many(
        self,
        model: str,
        prompts: Sequence[str],
        *,
        concurrency: int,
        max_tokens: int,
        on_reply: Callable[[Reply], None] | None = None,
    ) -> list[Reply]:
        """All prompts, at most ``concurrency`` in flight; replies in prompt order.

        ``on_reply`` sees each reply as it arrives (a progress bar).
        """
        gate = asyncio.Semaphore(concurrency)

        async def one(p: str) -> Reply:
            async with gate:
                reply = await self.chat(model, p, max_tokens=max_tokens)
            if on_reply is not None:
                on_reply(reply)
            return reply

        return list(await asyncio.gather(*(one(p) for p in prompts)))
