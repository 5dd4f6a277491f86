"""Serving benchmark: our batched server vs a plain transformers pipeline, same model, same run.

What it measures (SmolLM2-135M-Instruct from the offline GGUF, CPU):

1. A transformers ``pipeline("text-generation")`` called sequentially (the
   baseline anyone would write first): throughput and p50/p95 latency.
2. ``stratos serve`` (a subprocess on loopback, real HTTP) at concurrency
   1, 4 and 16, with dynamic batching on; and with ``--max-batch-size 1``
   under concurrent load (one-at-a-time serving of the same model), which is
   the reference for the "batching gives >= 4x" target.
3. One stream's decode rate against the memory-bandwidth bound: every decoded
   token reads all weights once, so tokens/s <= bandwidth / model bytes; the
   bandwidth is measured here with a large tensor copy.

Run::

    source scripts/env.sh
    nice -n 10 python benchmarks/serving_bench.py            # ~6 min on 2 shared cores
    nice -n 10 python benchmarks/serving_bench.py --requests 8 --max-tokens 16   # quicker

Numbers depend on what else runs on the machine; every ratio compares runs
from the same invocation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx

from stratos.evaluate.local import local_server
from stratos.metrics import percentile
from stratos.serve.engine import resolve_dtype

PROMPTS = [
    "Write a long story about a dragon who learns to bake bread.",
    "Explain in detail how a steam engine works.",
    "Describe a walk through a busy market in the morning.",
    "List many tips for learning a new language and explain each.",
    "Tell me about the history of the bicycle in detail.",
    "Write a detailed letter to a friend about a trip to the mountains.",
    "Explain how plants turn sunlight into food, step by step.",
    "Describe your ideal city and its neighbourhoods at length.",
]


def model_dir() -> Path:
    """The SmolLM2 HF dir converted once from the packaged GGUF (stratos.zoo.offline)."""
    from stratos.zoo.offline import resolve_model_source

    return Path(resolve_model_source("smollm2-135m-instruct"))


def chat_prompt(tokenizer, text: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )


def summarise(latencies: list[float], tokens: int, wall: float, n: int) -> dict[str, float]:
    return {
        "requests": n,
        "req_per_s": n / wall,
        "tok_per_s": tokens / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "wall_s": wall,
    }


# ---------------------------------------------------------------- baseline
def bench_pipeline(
    path: Path, prompts: list[str], max_tokens: int, threads: int, dtype: str
) -> dict:
    import torch
    from transformers import AutoTokenizer, pipeline

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(path)
    pipe = pipeline(
        "text-generation", model=str(path), tokenizer=tok, device="cpu", dtype=getattr(torch, dtype)
    )
    texts = [chat_prompt(tok, p) for p in prompts]
    pipe(texts[0], max_new_tokens=4, do_sample=False, return_full_text=False)  # warm-up
    latencies, tokens = [], 0
    start = time.perf_counter()
    for t in texts:
        t0 = time.perf_counter()
        out = pipe(t, max_new_tokens=max_tokens, do_sample=False, return_full_text=False)
        latencies.append(time.perf_counter() - t0)
        tokens += len(tok(out[0]["generated_text"], add_special_tokens=False)["input_ids"])
    return summarise(latencies, tokens, time.perf_counter() - start, len(texts))


# ---------------------------------------------------------------- our server
async def _load(
    base: str, token: str, prompts: list[str], concurrency: int, max_tokens: int
) -> dict:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    tokens = 0

    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=600
    ) as client:
        model = (await client.get("/v1/models")).json()["data"][0]["id"]

        async def one(text: str) -> None:
            nonlocal tokens
            async with gate:
                t0 = time.perf_counter()
                r = await client.post(
                    "/v1/chat/completions",
                    json={
                        "model": model,
                        "messages": [{"role": "user", "content": text}],
                        "max_tokens": max_tokens,
                        "temperature": 0,
                    },
                )
                r.raise_for_status()
                latencies.append(time.perf_counter() - t0)
                tokens += r.json()["usage"]["completion_tokens"]

        await one(prompts[0])  # warm-up (not counted)
        latencies.clear()
        tokens = 0
        start = time.perf_counter()
        await asyncio.gather(*(one(p) for p in prompts))
        wall = time.perf_counter() - start
    return summarise(latencies, tokens, wall, len(prompts))


def bench_server(
    path: Path,
    prompts: dict[int, list[str]],
    max_tokens: int,
    threads: int,
    max_batch_size: int,
    dtype: str,
) -> dict[int, dict]:
    """``prompts`` maps each concurrency level to the requests sent at that level."""
    results = {}
    with local_server(
        path,
        threads=threads,
        max_batch_size=max_batch_size,
        extra_args=["--max-wait-ms", "20", "--dtype", dtype],
    ) as server:
        for c, batch in prompts.items():
            results[c] = asyncio.run(_load(server.base_url, server.token, batch, c, max_tokens))
            print(
                f"  server(batch<={max_batch_size}) c={c}: {results[c]['tok_per_s']:.1f} tok/s",
                flush=True,
            )
    return results


# ---------------------------------------------------------------- roofline
def measure_bandwidth_gbs(threads: int, mb: int = 512, repeats: int = 5) -> float:
    """Memory bandwidth (GB/s) from copying a large float32 tensor: bytes read + written / time."""
    import torch

    torch.set_num_threads(threads)
    src = torch.ones(mb * 2**20 // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.numel() * 4 / best / 1e9


def bench_single_stream(path: Path, threads: int, dtype: str, tokens: int = 48) -> dict:
    """Decode rate of one stream (prefill excluded) and the model's weight bytes."""
    from stratos.serve.engine import GenerationEngine

    eng = GenerationEngine.from_dir(path, threads=threads, dtype=dtype)
    prompt = eng.render_chat([{"role": "user", "content": PROMPTS[0]}])
    eng.generate([prompt], max_new_tokens=2)  # warm-up
    t0 = time.perf_counter()
    one = eng.generate([prompt], max_new_tokens=1)[0]
    prefill = time.perf_counter() - t0
    t0 = time.perf_counter()
    many = eng.generate([prompt], max_new_tokens=tokens)[0]
    total = time.perf_counter() - t0
    decoded = many.completion_tokens - one.completion_tokens
    rate = decoded / max(total - prefill, 1e-9)
    model_bytes = sum(p.numel() * p.element_size() for p in eng.model.parameters())
    return {"decode_tok_per_s": rate, "model_bytes": model_bytes, "decoded_tokens": decoded}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=16, help="requests per concurrent measurement")
    ap.add_argument(
        "--sequential-requests",
        type=int,
        default=8,
        help="requests for the one-at-a-time measurements (their rate needs fewer)",
    )
    ap.add_argument("--max-tokens", type=int, default=64)
    # One thread each: on a shared 2-core machine, 2 OpenMP threads per engine spin against
    # the other load and run several times slower than one.
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every engine")
    ap.add_argument(
        "--dtype", default="auto", help="auto (bf16 on CPUs with native bf16) | float32 | bfloat16"
    )
    args = ap.parse_args()
    args.dtype = resolve_dtype(args.dtype)

    path = model_dir()
    prompts = (PROMPTS * (args.requests // len(PROMPTS) + 1))[: args.requests]
    seq = prompts[: args.sequential_requests]
    print(
        f"model: {path}  requests: {args.requests} (sequential {len(seq)})  "
        f"max_tokens: {args.max_tokens}  threads: {args.threads}  dtype: {args.dtype}"
    )

    batched = bench_server(
        path,
        {1: seq, 4: prompts, 16: prompts},
        args.max_tokens,
        args.threads,
        max_batch_size=16,
        dtype=args.dtype,
    )
    unbatched = bench_server(
        path, {16: seq}, args.max_tokens, args.threads, max_batch_size=1, dtype=args.dtype
    )[16]
    baseline = bench_pipeline(path, seq, args.max_tokens, args.threads, args.dtype)
    print(f"  pipeline sequential: {baseline['tok_per_s']:.1f} tok/s", flush=True)
    stream = bench_single_stream(path, args.threads, args.dtype)
    bandwidth = measure_bandwidth_gbs(args.threads)
    bound = bandwidth * 1e9 / stream["model_bytes"]

    print()
    print(f"{'config':<34}{'req/s':>8}{'tok/s':>9}{'p50 ms':>10}{'p95 ms':>10}{'x pipeline':>12}")
    rows = [("transformers pipeline, sequential", baseline)]
    rows += [(f"stratos serve, c={c}", r) for c, r in batched.items()]
    rows += [("stratos serve, c=16, max batch 1", unbatched)]
    for name, r in rows:
        ratio = r["tok_per_s"] / baseline["tok_per_s"]
        print(
            f"{name:<34}{r['req_per_s']:>8.2f}{r['tok_per_s']:>9.1f}{r['p50_ms']:>10.0f}{r['p95_ms']:>10.0f}"
            f"{ratio:>11.2f}x"
        )
    batching_gain = batched[16]["tok_per_s"] / unbatched["tok_per_s"]
    vs_c1 = batched[16]["tok_per_s"] / batched[1]["tok_per_s"]
    print()
    print(
        f"batching gain at c=16: {batching_gain:.2f}x vs one-at-a-time serving (max batch 1), "
        f"{vs_c1:.2f}x vs c=1  (target >= 4x)"
    )
    print(
        f"single-stream decode: {stream['decode_tok_per_s']:.1f} tok/s; bandwidth {bandwidth:.1f} GB/s, "
        f"model {stream['model_bytes'] / 1e6:.0f} MB -> bound {bound:.1f} tok/s; "
        f"fraction of bound {stream['decode_tok_per_s'] / bound:.2f}"
    )
    print(
        json.dumps(
            {
                "pipeline": baseline,
                "server": batched,
                "server_unbatched_c16": unbatched,
                "batching_gain_c16": batching_gain,
                "gain_c16_vs_c1": vs_c1,
                "single_stream": stream,
                "bandwidth_gbs": bandwidth,
                "bound_tok_per_s": bound,
                "fraction_of_bound": stream["decode_tok_per_s"] / bound,
            }
        )
    )


if __name__ == "__main__":
    main()
