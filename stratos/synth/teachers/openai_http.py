"""An OpenAI-compatible chat endpoint as a teacher (OpenAI, a vLLM server, a Stratos server).

Why httpx and not the ``openai`` client: we need one place that owns the
concurrency limit, the retry policy and the timeout so that thousands of
synthesis calls neither overload a small server nor die on one 503.
Retries: 408/409/429/5xx and transport errors, exponential backoff with
jitter, honouring ``Retry-After``. 4xx other than those are the caller's bug
and fail at once with the server's message.

The API key comes from ``api_key`` (e.g. a Pulumi secret the program passes
through), else the environment variable named by ``api_key_env`` (``STRATOS_TEACHER_API_KEY``,
which the Pulumi program sets from the stack secret), else ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Sequence
from typing import Any

import httpx

from stratos.exceptions import TeacherError

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAITeacher:
    """Chat completions against ``base_url`` (``.../v1``) with bounded concurrency."""

    tokenizer_id = None  # an HTTP API gives no logits over a known vocabulary

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str = "STRATOS_TEACHER_API_KEY",
        concurrency: int = 8,
        max_retries: int = 4,
        timeout_s: float = 60.0,
        backoff_s: float = 0.5,
        system_prompt: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"{model}@{self.base_url}"
        self.api_key = api_key if api_key is not None else (os.environ.get(api_key_env) or os.environ.get("OPENAI_API_KEY"))
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.system_prompt = system_prompt
        self.calls = 0  # HTTP attempts made, retries included (for the report)

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 128,
        seed: int = 0,
    ) -> list[list[str]]:
        return asyncio.run(self._generate_all(list(prompts), n, temperature, max_new_tokens, seed))

    async def _generate_all(
        self, prompts: list[str], n: int, temperature: float, max_tokens: int, seed: int
    ) -> list[list[str]]:
        sem = asyncio.Semaphore(self.concurrency)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with httpx.AsyncClient(headers=headers, timeout=self.timeout_s) as client:
            tasks = [
                self._one(client, sem, p, n, temperature, max_tokens, seed + i) for i, p in enumerate(prompts)
            ]
            return list(await asyncio.gather(*tasks))

    async def _one(
        self,
        client: httpx.AsyncClient,
        sem: asyncio.Semaphore,
        prompt: str,
        n: int,
        temperature: float,
        max_tokens: int,
        seed: int,
    ) -> list[str]:
        messages: list[dict[str, str]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": prompt})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "n": n,
            "seed": seed,
        }
        last: str = ""
        for attempt in range(self.max_retries + 1):
            async with sem:
                self.calls += 1
                try:
                    resp = await client.post(f"{self.base_url}/chat/completions", json=body)
                except httpx.TransportError as exc:  # timeouts, refused connections, resets
                    last = f"{type(exc).__name__}: {exc}"
                    resp = None
            if resp is not None:
                if resp.status_code == 200:
                    choices = resp.json().get("choices", [])
                    texts = [(c.get("message") or {}).get("content") or "" for c in choices]
                    # servers that ignore `n` return one choice: pad by asking again is not worth
                    # the cost for greedy decoding, so repeat what we got
                    return (texts * n)[:n] if texts else [""] * n
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                if resp.status_code not in RETRY_STATUS:
                    raise TeacherError(
                        f"teacher endpoint {self.base_url} refused the request ({last}). "
                        "Check the model name and API key (env var or Pulumi secret)."
                    )
                retry_after = resp.headers.get("retry-after")
            else:
                retry_after = None
            if attempt < self.max_retries:
                delay = float(retry_after) if retry_after and retry_after.replace(".", "").isdigit() else (
                    self.backoff_s * 2**attempt * (1 + random.random() * 0.25)
                )
                await asyncio.sleep(delay)
        raise TeacherError(
            f"teacher endpoint {self.base_url} failed after {self.max_retries + 1} attempts ({last}). "
            "Check that the server is up, or raise max_retries / timeout_s."
        )
