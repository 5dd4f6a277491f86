"""An OpenAI-compatible chat endpoint as a teacher (OpenAI, a vLLM/TGI server, a Stratos server).

Built on the official ``openai`` SDK (requests, auth header, timeouts, typed errors,
the Files and Batch APIs); this class owns what synthesis needs on top of it:

- **bounded concurrency** (``concurrency`` requests in flight) so thousands of calls
  neither overload a small server nor take forever;
- **retries** of 408/409/429/5xx, timeouts, resets and malformed 200s, with exponential
  backoff and ``Retry-After`` honoured up to ``max_retry_after_s`` (a server asking for an
  hour gets ``max_retry_after_s``). The SDK's own retries are off: it gives up on a
  ``Retry-After`` over two minutes and cannot see a malformed body as retryable;
- **per-request failure**: a request that still fails after its retries yields ``""``
  (the task's checker rejects it) and is counted in ``stats``; only errors that every
  request would hit (401/403/404: key or model wrong) or a call where nothing at all
  succeeded abort with ``TeacherError``;
- **paid answers kept** in a :class:`ResponseCache` file, so a rerun asks only for the rest;
- **n emulated**: a server that returns fewer than ``n`` choices is asked again, one
  sample per request with its own seed (greedy decoding repeats its one answer instead);
- **parameter fit**: ``max_completion_tokens`` for OpenAI (and reasoning models), and a
  400 naming an unsupported parameter rewrites it once (``chat_params``);
- **keys** only where they belong (``keys.resolve_api_key``);
- optionally the **OpenAI Batch API** (``batch=True``, half price, ``openai_batch``).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import math
import os
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stratos.exceptions import TeacherError
from stratos.synth.teachers.chat_params import (
    REASONING_MODEL,
    adaptation,
    chat_body,
    uses_completion_tokens,
)
from stratos.synth.teachers.keys import OPENAI_API, openai_base_url, resolve_api_key, same_origin
from stratos.synth.teachers.response_cache import ResponseCache, request_key

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
#: Statuses every request would get as well: stop the whole call with the server's reason.
FATAL_STATUS = {401, 403, 404}
#: Seed offset between emulated samples of one prompt (keeps them apart from other prompts' seeds).
SAMPLE_SEED_STRIDE = 100_003

Job = tuple[dict[str, Any], list[str]]  # request body, cache keys of the samples it asks for


def default_cache_dir() -> Path:
    """``$STRATOS_TEACHER_CACHE``, else ``$STRATOS_CACHE/teacher``, else ``~/.cache/stratos/teacher``."""
    if os.environ.get("STRATOS_TEACHER_CACHE"):
        return Path(os.environ["STRATOS_TEACHER_CACHE"])
    root = os.environ.get("STRATOS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "stratos") / "teacher"


class OpenAITeacher:
    """Chat completions against ``base_url`` (``.../v1``); see the module docstring."""

    tokenizer_id = None  # an HTTP API gives no logits over a known vocabulary

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        concurrency: int = 8,
        max_retries: int = 4,
        timeout_s: float = 60.0,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 30.0,
        system_prompt: str | None = None,
        batch: bool = False,
        batch_poll_s: float = 15.0,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"{model}@{self.base_url}"
        self.api_key = resolve_api_key(self.base_url, api_key=api_key, api_key_env=api_key_env)
        self.concurrency = max(1, concurrency)
        self.max_retries, self.timeout_s, self.backoff_s = max_retries, timeout_s, backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.system_prompt = system_prompt
        self.batch, self.batch_poll_s = batch, batch_poll_s
        on_openai = same_origin(self.base_url, OPENAI_API)
        self.completion_tokens = uses_completion_tokens(model, on_openai)
        self.fixed_temperature = bool(REASONING_MODEL.match(model))
        self.ignores_n = False
        digest = hashlib.sha256(f"{self.base_url}\n{model}".encode()).hexdigest()[:16]
        self.cache_path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"{digest}.jsonl"
        self.cache = ResponseCache(self.cache_path)
        self.calls = 0  # HTTP attempts made, retries included (for the report)
        self.stats = {"requests": 0, "cached": 0, "failed": 0, "retries": 0}
        self._client: Any = None
        #: keyword arguments every SDK call gets: without a key, the Authorization header omitted
        self.extra: dict[str, Any] = {"extra_headers": _omitted_headers(self.base_url, bool(self.api_key))}
        self._last_error = ""
        self._lock = threading.Lock()

    def load(self) -> None:
        """Nothing to load: the model runs behind the endpoint."""

    # --- the SDK client -------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The ``openai.OpenAI`` client: our key only, no SDK retries, our timeout."""
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(
                base_url=self.base_url,
                # no key: the SDK wants one (else it reads OPENAI_API_KEY); a dummy, and `extra` omits the header
                api_key=self.api_key or "no-key",
                max_retries=0,
                timeout=self.timeout_s,
            )
        return self._client

    # --- the Teacher interface ------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 128,
        seed: int = 0,
    ) -> list[list[str]]:
        bodies = [self._body(p, n, temperature, max_new_tokens, seed + i) for i, p in enumerate(prompts)]
        keys = [[request_key(b, k) for k in range(n)] for b in bodies]
        self.stats["cached"] += sum(self.cache.get(k) is not None for ks in keys for k in ks)
        failed = self._run(self._first_round(bodies, keys))
        if temperature > 0:  # samples a server left out by ignoring `n`: ask for each one
            failed |= self._run(self._missing_samples(bodies, keys, failed))
        return self._assemble(keys, temperature, failed)

    def _body(self, prompt: str, n: int, temperature: float, max_tokens: int, seed: int) -> dict[str, Any]:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": prompt})
        return chat_body(
            self.model, messages, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed,
            completion_tokens=self.completion_tokens, fixed_temperature=self.fixed_temperature,
        )

    def _first_round(self, bodies: list[dict[str, Any]], keys: list[list[str]]) -> list[Job]:
        """One request per prompt asking all ``n`` samples; per-sample requests for partial hits."""
        jobs: list[Job] = []
        for body, ks in zip(bodies, keys, strict=True):
            missing = [k for k, key in enumerate(ks) if self.cache.get(key) is None]
            if len(missing) == len(ks) and (len(ks) == 1 or not self.ignores_n):
                jobs.append((body, ks))
            else:
                jobs.extend(_sample_job(body, ks, k) for k in missing)
        return jobs

    def _missing_samples(self, bodies: list[dict[str, Any]], keys: list[list[str]], failed: set[str]) -> list[Job]:
        jobs = []
        for body, ks in zip(bodies, keys, strict=True):
            if ks[0] in failed:
                continue
            jobs.extend(_sample_job(body, ks, k) for k, key in enumerate(ks) if self.cache.get(key) is None)
        return jobs

    def _assemble(self, keys: list[list[str]], temperature: float, failed: set[str]) -> list[list[str]]:
        out = []
        for ks in keys:
            first = self.cache.get(ks[0])
            # greedy decoding gives one answer: a server that ignored `n` repeats it
            texts = [self.cache.get(k) or (first if temperature <= 0 else None) for k in ks]
            self.stats["failed"] += sum(t is None for t in texts)
            out.append([t or "" for t in texts])
        if failed and all(self.cache.get(k) is None for ks in keys for k in ks):
            raise TeacherError(
                f"teacher endpoint {self.base_url} failed every request after {self.max_retries + 1} attempts "
                f"({self._last_error}). Check that the server is up, or raise max_retries / timeout_s."
            )
        return out

    # --- running requests -----------------------------------------------------------------

    def _run(self, jobs: list[Job]) -> set[str]:
        """Send ``jobs`` (sync with bounded concurrency, or one Batch API batch); failed keys back."""
        if not jobs:
            return set()
        self.stats["requests"] += len(jobs)
        if self.batch:
            from stratos.synth.teachers.openai_batch import run_batch

            return run_batch(self, jobs)
        failed: set[str] = set()
        with cf.ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs))) as pool:
            futures = {pool.submit(self._request, body, ks): ks for body, ks in jobs}
            try:
                for fut in cf.as_completed(futures):
                    if not fut.result():
                        failed.update(futures[fut])
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return failed

    def store(self, keys: list[str], response: Any) -> bool:
        """Cache the texts of a chat-completion body (dict or SDK object); False when malformed."""
        texts = completion_texts(response)
        if texts is None:
            return False
        if len(texts) < len(keys):
            self.ignores_n = True
        for key, text in zip(keys, texts, strict=False):
            self.cache.put(key, text)
        return True

    def _request(self, body: dict[str, Any], keys: list[str]) -> bool:
        """One request with retries; True when its texts are cached. Raises only on fatal errors."""
        import openai

        for attempt in range(self.max_retries + 1):
            with self._lock:
                self.calls += 1
            retry_after = None
            try:
                if self.store(keys, self.client.chat.completions.create(**body, **self.extra)):
                    return True
                self._last_error = "malformed 200 response (no choices with message content)"
            except openai.APIStatusError as exc:
                self._last_error = f"HTTP {exc.status_code}: {str(exc.message)[:200]}"
                if exc.status_code == 400 and self._adapt(body, exc):
                    continue  # each fix removes the parameter it is about, so this ends
                if exc.status_code in FATAL_STATUS:
                    raise TeacherError(
                        f"teacher endpoint {self.base_url} refused the request ({self._last_error}). "
                        "Check the model name and the API key (stratos:teacherApiKey or the teacher's api_key_env)."
                    ) from None
                if exc.status_code not in RETRY_STATUS:
                    return False
                retry_after = parse_retry_after(exc.response.headers)
            except openai.APIConnectionError as exc:  # timeouts, refused connections, resets
                self._last_error = f"{type(exc).__name__}: {exc}"
            except (ValueError, openai.APIResponseValidationError) as exc:  # a body that is not JSON
                self._last_error = f"malformed 200 response ({type(exc).__name__})"
            if attempt < self.max_retries:
                with self._lock:
                    self.stats["retries"] += 1
                time.sleep(self._delay(attempt, retry_after))
        return False

    def _adapt(self, body: dict[str, Any], exc: Any) -> bool:
        """Rewrite the parameter a 400 names as unsupported (for this and later requests)."""
        fix = adaptation(exc.body, str(exc.message))
        if fix == "completion_tokens" and "max_tokens" in body:
            self.completion_tokens = True
            body["max_completion_tokens"] = body.pop("max_tokens")
            return True
        if fix == "fixed_temperature" and "temperature" in body:
            self.fixed_temperature = True
            body.pop("temperature")
            return True
        if fix == "single_n" and body.get("n", 1) > 1:
            self.ignores_n = True  # the samples left out are asked for one by one
            body["n"] = 1
            return True
        return False

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before the next attempt: the server's ``Retry-After``, else backoff; both bounded."""
        if retry_after is None or math.isnan(retry_after):
            retry_after = self.backoff_s * 2**attempt * (1 + random.random() * 0.25)
        return max(0.0, min(retry_after, self.max_retry_after_s))


def _omitted_headers(base_url: str, has_key: bool) -> dict[str, Any]:
    """Headers the SDK would add that this endpoint must not get: no key, or OpenAI account ids
    (``OPENAI_ORG_ID``/``OPENAI_PROJECT_ID``) for a host that is not OpenAI's."""
    from openai import Omit

    omit = {} if has_key else {"Authorization": Omit()}
    if not (same_origin(base_url, OPENAI_API) or same_origin(base_url, openai_base_url())):
        omit.update({"OpenAI-Organization": Omit(), "OpenAI-Project": Omit()})
    return omit


def _sample_job(body: dict[str, Any], keys: list[str], k: int) -> Job:
    """Sample ``k`` of a prompt as its own request (n=1, its own seed), cached under its own key."""
    return ({**body, "n": 1, "seed": body["seed"] + k * SAMPLE_SEED_STRIDE}, [keys[k]])


def completion_texts(response: Any) -> list[str] | None:
    """The message texts of a chat completion, or None when the body is not one."""
    data = response.model_dump(warnings=False) if hasattr(response, "model_dump") else response
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        return None
    if not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
        return None
    texts = [c["message"].get("content") for c in sorted(choices, key=lambda c: c.get("index") or 0)]
    return texts if all(isinstance(t, str) for t in texts) else None


def parse_retry_after(headers: Any) -> float | None:
    """``Retry-After`` in seconds (``retry-after-ms`` first; an HTTP date is read too), or None."""
    import email.utils

    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / scale
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return email.utils.mktime_tz(parsed) - time.time()
    return None
