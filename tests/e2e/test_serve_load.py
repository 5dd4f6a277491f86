"""Bounded load test on loopback: a fixed number of requests under a time limit, zero errors, flat RSS.

The server runs as its own process (``python -m stratos.serve``, as deployed),
so its resident memory can be read between rounds: after warm-up rounds
(allocator pools, per-shape kernel caches, metric label sets all created), further
rounds of the same traffic must not grow it, which is what a leak per request
(kept futures, queues, streams or metrics) would do.

The server runs in float32 here: in bfloat16, oneDNN's per-shape kernel caches
add a few MB in occasional steps for the first thousand-odd requests (bounded:
flat after that), which would force a bound loose enough to hide a real
per-request leak in our code.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from helpers.server import rss_mib
from helpers.tiny_model import make_tiny_model_dir

from stratos.evaluate.local import local_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONCURRENCY = 16
ROUND = 250  # requests per round
WARMUP_ROUNDS = 2  # allocator pools, kernel caches per shape, metric label sets
ROUNDS = WARMUP_ROUNDS + 3
TIME_LIMIT_S = 120
MAX_RSS_GROWTH_MB = 5


async def one_round(client: httpx.AsyncClient, token: str, round_no: int) -> list[int]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def request(i: int) -> int:
        async with gate:
            body = {
                "model": "tiny",
                "max_tokens": 8,
                "temperature": 0.7,
                "seed": i,
                "messages": [{"role": "user", "content": f"request {round_no}-{i}"}],
            }
            if i % 4 == 0:  # a quarter streamed: their queues and generators must be freed too
                async with client.stream(
                    "POST", "/v1/chat/completions", json={**body, "stream": True}
                ) as r:
                    lines = [line async for line in r.aiter_lines() if line.startswith("data: ")]
                    return r.status_code if lines[-1] == "data: [DONE]" else 599
            r = await client.post("/v1/chat/completions", json=body)
            return (
                r.status_code
                if r.json()["choices"][0]["finish_reason"] in ("stop", "length")
                else 598
            )

    return await asyncio.gather(*(request(i) for i in range(ROUND)))


def test_load_zero_errors_and_flat_memory(tmp_path):
    model_dir = make_tiny_model_dir(tmp_path / "tiny")
    log = tmp_path / "server.log"
    with local_server(
        model_dir,
        threads=1,
        max_batch_size=CONCURRENCY,
        log_path=log,
        extra_args=["--model-name", "tiny", "--dtype", "float32"],
    ) as server:
        rss_mb: list[float] = []
        statuses: list[int] = []

        async def run() -> None:
            headers = {"Authorization": f"Bearer {server.token}"}
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=headers, timeout=60
            ) as client:
                for round_no in range(ROUNDS):
                    statuses.extend(await one_round(client, server.token, round_no))
                    rss_mb.append(rss_mib(server.process.pid))

        start = time.monotonic()
        asyncio.run(asyncio.wait_for(run(), TIME_LIMIT_S))
        elapsed = time.monotonic() - start
        metrics = httpx.get(f"{server.base_url}/metrics").text

    assert len(statuses) == ROUND * ROUNDS and set(statuses) == {200}, sorted(set(statuses))
    growth = rss_mb[-1] - rss_mb[WARMUP_ROUNDS - 1]
    print(
        json.dumps(
            {
                "requests": len(statuses),
                "elapsed_s": round(elapsed, 1),
                "rss_mb": [round(x, 1) for x in rss_mb],
                "growth_mb": round(growth, 1),
            }
        )
    )
    assert growth < MAX_RSS_GROWTH_MB, f"server RSS grew {growth:.1f} MB after warm-up: {rss_mb}"
    ok = 'stratos_requests_total{route="/v1/chat/completions",status="200"}'
    assert f"{ok} {float(ROUND * ROUNDS)}" in metrics
    assert "stratos_request_errors_total{" not in metrics
    # Batching happened: some batches held more than one request.
    assert 'stratos_batch_size_bucket{le="1.0"}' in metrics
    assert server.token not in log.read_text()
