"""Serving benchmark: the engine layer (CTranslate2) against the transformers engine, same model, same run.

Subcommands (each fits a 10-minute exclusive hold of the CPU lock)::

    source scripts/env.sh
    B="flock -x /work/coord/cpu.lock .venv/bin/python benchmarks/serving_bench.py"
    $B student  --student runs/x/artifact   # 3M student: one stream, batch 16, openai p50/p95 at c=1/4/16,
                                            #   the planner's predicted latency beside the measured one
    $B smollm2                              # SmolLM2-135M one stream vs the memory read-bandwidth bound
    $B parity   --student runs/x/artifact   # greedy answers on 500 held-out questions, int8 effect
    $B job      --student runs/x/artifact   # the job's non-training phases, old engine vs new
    $B calibrate [--write]                  # refit the planner's CPU serving latency to CTranslate2

Without ``--student`` a default-shaped student (scratch-llama-3m: 6 x 192) with random
weights is built: speed does not depend on the weights, answers do. Every ratio compares
runs of one invocation; ``--threads`` (default 2: the whole machine) applies to every engine.
Engine-level rates are measured with each engine in a process of its own (``isolated``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stratos.metrics import percentile  # noqa: E402
from stratos.tasks.base import get_task  # noqa: E402

TASK = get_task("mahjong")


# ---------------------------------------------------------------- models and questions
def default_config():
    """The default job's settings with the 3M student the engine issue measured (its zoo shape)."""
    from stratos.distill.config import DistillConfig

    return DistillConfig(task="mahjong", teacher="smollm2-135m-instruct", student="scratch-llama-3m", mode="injection")


def default_student(seed: int = 0) -> Path:
    """A random-weight scratch-llama-3m artifact, built once, with the tokenizer and chat template
    the job builds (``scratch_tokenizer``): a request renders as short as the job's own student
    sees it."""
    from stratos.distill.export import export_artifact
    from stratos.distill.student import build_scratch
    from stratos.distill.training_data import prompt_target, scratch_tokenizer
    from stratos.zoo.offline import cache_root

    out = cache_root() / "bench" / "scratch-llama-3m-random-v2"
    if (out / "manifest.json").is_file():
        return out
    cfg = default_config()
    rows = TASK.generate(200, seed=seed, mode="reverse")
    tok = scratch_tokenizer(TASK, rows, [prompt_target(TASK, e, cfg.target_style) for e in rows])
    model = build_scratch(tok, cfg.scratch, seed)
    export_artifact(model, tok, out, {"task": "mahjong", "student": "scratch-llama-3m"}, max_new_tokens=64)
    return out


def smollm2_dir() -> Path:
    from stratos.zoo.offline import resolve_model_source

    return Path(resolve_model_source("smollm2-135m-instruct"))


def held_out(n: int, seed: int = 12345) -> list:
    """``n`` reverse-synthesised questions with answers (a seed no job split uses)."""
    return TASK.generate(n, seed=seed, mode="reverse")[:n]


def chat_prompts(engine, questions) -> list[str]:
    return [engine.render_chat([{"role": "user", "content": TASK.prompt(q.question)}]) for q in questions]


def engines(path: Path, threads: int, which=("transformers", "ctranslate2")) -> dict:
    """Engines over one model dir; transformers in float32 (what the job evaluates with).
    ``ctranslate2-auto`` may pick its GEMM library, like ``stratos serve --quantization auto``,
    when this process has loaded no CTranslate2 model yet (``isolated`` gives it one of its own)."""
    from stratos.serve.ct2_convert import allow_gemm_choice
    from stratos.serve.engines import load_engine

    if "ctranslate2-auto" in which:
        allow_gemm_choice()

    out = {}
    for name in which:
        if name == "transformers":
            out[name] = load_engine(path, engine="transformers", threads=threads, dtype="float32")
        else:
            q = name.split("-")[1] if "-" in name else "float32"
            out[name] = load_engine(path, engine="ctranslate2", quantization=q, threads=threads)
    return out


def decode_rate(engine, prompts: list[str], max_new: int, batch: int) -> dict:
    """Generated tokens/s over ``prompts`` decoded ``batch`` at a time (greedy), after a full-length
    warm-up; also the per-call wall times (ms) of a one-stream run."""
    engine.generate(prompts[:batch], max_new_tokens=max_new)
    t0, tokens, calls = time.perf_counter(), 0, []
    for i in range(0, len(prompts), batch):
        c0 = time.perf_counter()
        tokens += sum(r.completion_tokens for r in engine.generate(prompts[i : i + batch], max_new_tokens=max_new))
        calls.append((time.perf_counter() - c0) * 1e3)
    wall = time.perf_counter() - t0
    return {"tokens": tokens, "wall_s": wall, "tok_per_s": tokens / wall, "p50_ms": percentile(calls, 50)}


def _engine_rates(path: str, name: str, threads: int, max_new: int, n_one: int) -> dict:
    """One engine's one-stream and batch-16 rates, run in a process of its own (see ``isolated``)."""
    qs = held_out(64)
    engine = engines(Path(path), threads, (name,))[name]
    prompts = chat_prompts(engine, qs)
    return {"engine": engine.describe(), "one": decode_rate(engine, prompts[:n_one], max_new, 1),
            "b16": decode_rate(engine, prompts[:64], max_new, 16)}


_LOADED: dict = {}


def generate_rate(engine, prompts: list[str], max_new: int) -> dict:
    """Greedy tokens/s of plain transformers ``model.generate``, one prompt at a time: the
    baseline the engine issue measured (145 tokens/s on the 3M student), before our own decode
    loop; after a full-length warm-up, like ``decode_rate``."""
    import torch

    def one(prompt: str) -> int:
        ids = engine.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            out = engine.model.generate(ids, max_new_tokens=max_new, do_sample=False,
                                        pad_token_id=engine.tokenizer.pad_token_id or 0)
        return out.shape[1] - ids.shape[1]

    one(prompts[0])
    t0, tokens, calls = time.perf_counter(), 0, []
    for prompt in prompts:
        c0 = time.perf_counter()
        tokens += one(prompt)
        calls.append((time.perf_counter() - c0) * 1e3)
    wall = time.perf_counter() - t0
    return {"tokens": tokens, "wall_s": wall, "tok_per_s": tokens / wall, "p50_ms": percentile(calls, 50)}


def _one_stream_round(path: str, name: str, threads: int, max_new: int, seed: int, n: int) -> dict:
    """One round of ``paired_one_stream`` in a worker process: its engine (loaded on the first
    round and kept), ``n`` held-out answers decoded one at a time; ``generate`` is the
    transformers engine's model decoded by ``model.generate``."""
    key = "transformers" if name == "generate" else name
    if key not in _LOADED:
        _LOADED[key] = engines(Path(path), threads, (key,))[key]
    engine = _LOADED[key]
    prompts = chat_prompts(engine, held_out(n, seed=seed))
    if name == "generate":
        return generate_rate(engine, prompts, max_new)
    return {**decode_rate(engine, prompts, max_new, 1), "layout": _layout(engine.describe())}


BASELINES = ("transformers", "generate")


def paired_one_stream(path: Path, threads: int, max_new: int, arms: tuple[str, ...], rounds: int = 9,
                      n: int = 8) -> dict:
    """One-stream ratios of each CTranslate2 arm in ``arms`` (``ctranslate2``: float32, what
    ``stratos serve`` runs by default; ``ctranslate2-auto``: the faster weight format on a short
    measurement, an opt-in) over the transformers engine and over plain ``model.generate``, each
    the median of paired rounds.

    Why: this VM's speed drifts by up to 2x from minute to minute, so two engines measured
    one after the other can disagree by that much whatever their real ratio. Here each engine
    lives in a process of its own (``isolated`` explains why) and all take turns, round by
    round, on the same questions; each round gives ratios, and the median of the rounds is
    the figure, with the spread printed beside it. A pause between turns lets the previous
    process's OpenMP threads stop spinning.
    """
    import multiprocessing
    from contextlib import ExitStack

    ctx = multiprocessing.get_context("spawn")
    names = (*arms, *BASELINES)
    rows, layouts = [], {}
    with ExitStack() as stack:
        pools = {name: stack.enter_context(ctx.Pool(1)) for name in names}
        for r in range(rounds):
            row = {}
            for name, pool in pools.items():
                got = pool.apply(_one_stream_round, (str(path), name, threads, max_new, 9000 + r, n))
                row[name], layouts[name] = got["tok_per_s"], got.get("layout", name)
                time.sleep(0.5)
            rows.append(row)
    out: dict = {"rounds": rows, "layouts": layouts}
    for name in names:
        out[f"{name}_tok_per_s"] = statistics.median(row[name] for row in rows)
    for arm in arms:
        for base in BASELINES:
            ratios = sorted(row[arm] / row[base] for row in rows)
            out[f"{arm}/{base}"] = {"median": statistics.median(ratios), "min": ratios[0], "max": ratios[-1]}
    return out


def isolated(fn, *args):
    """``fn(*args)`` in a fresh process. Engines measured side by side in one process disturb
    each other: each brings its own OpenMP pool (torch's, CTranslate2's), and a pool that just
    ran keeps its threads spinning on the two cores the next engine's threads need."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


# ---------------------------------------------------------------- through the openai client
async def _openai_load(base: str, token: str, questions, concurrency: int, max_tokens: int) -> dict:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=600)
    model = (await client.models.list()).data[0].id
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    tokens = prompt_tokens = 0

    async def one(q) -> None:
        nonlocal tokens, prompt_tokens
        async with gate:
            t0 = time.perf_counter()
            r = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": TASK.prompt(q.question)}],
                max_tokens=max_tokens, temperature=0,
            )
            latencies.append(time.perf_counter() - t0)
            tokens += r.usage.completion_tokens
            prompt_tokens += r.usage.prompt_tokens

    await one(questions[0])  # warm-up
    latencies.clear()
    tokens = prompt_tokens = 0
    t0 = time.perf_counter()
    await asyncio.gather(*(one(q) for q in questions))
    wall = time.perf_counter() - t0
    await client.close()
    return {
        "concurrency": concurrency, "requests": len(questions), "tok_per_s": tokens / wall,
        "p50_ms": percentile(latencies, 50) * 1000, "p95_ms": percentile(latencies, 95) * 1000,
        "prompt_tokens": prompt_tokens / len(questions), "completion_tokens": tokens / len(questions),
    }


def openai_levels(path: Path, engine: str, threads: int, questions, max_tokens: int, levels=(1, 4, 16)) -> dict:
    from stratos.evaluate.local import local_server

    args = ["--engine", engine, "--quantization", "float32", "--dtype", "float32", "--max-wait-ms", "5"]
    out = {}
    with local_server(path, threads=threads, max_batch_size=16, extra_args=args) as server:
        for c in levels:
            n = max(16, 4 * c) if engine == "transformers" else max(32, 8 * c)
            out[c] = asyncio.run(_openai_load(server.base_url, server.token, questions[:n], c, max_tokens))
            print(f"  {engine:13} c={c:<3} {out[c]['tok_per_s']:8.0f} tok/s  p50 {out[c]['p50_ms']:7.1f} ms  "
                  f"p95 {out[c]['p95_ms']:7.1f} ms", flush=True)
    return out


# ---------------------------------------------------------------- subcommands
def cmd_student(args) -> dict:
    path = Path(args.student) if args.student else default_student()
    names = ("transformers", "ctranslate2", "ctranslate2-int8")
    rates = {name: isolated(_engine_rates, str(path), name, args.threads, args.max_tokens, 32) for name in names}
    for name, r in rates.items():
        print(f"  engine {name:17} one stream {r['one']['tok_per_s']:8.0f} tok/s ({r['one']['p50_ms']:6.1f} ms per "
              f"answer)   batch 16 {r['b16']['tok_per_s']:8.0f} tok/s   [{_layout(r['engine'])}]", flush=True)
    arms = ("ctranslate2", "ctranslate2-auto")
    paired = paired_one_stream(path, args.threads, args.max_tokens, arms)
    served = {e: openai_levels(path, e, args.threads, held_out(160, seed=777), args.max_tokens)
              for e in ("ctranslate2", "transformers")}
    one = {name: r["one"] for name, r in rates.items()}
    a1, b1 = served["ctranslate2"][1], served["transformers"][1]
    print(f"\nstudent {path}")
    print(f"engine level, one stream (median of {len(paired['rounds'])} paired rounds of 8 answers, each engine in "
          f"its own process; target >= 10x): our transformers engine {paired['transformers_tok_per_s']:.0f} tok/s, "
          f"plain model.generate (the issue's baseline path) {paired['generate_tok_per_s']:.0f} tok/s")
    for arm in arms:
        t, g = paired[f"{arm}/transformers"], paired[f"{arm}/generate"]
        print(f"  {arm:17} [{paired['layouts'][arm]}] {paired[f'{arm}_tok_per_s']:6.0f} tok/s = {t['median']:.1f}x "
              f"the engine (rounds {t['min']:.1f}-{t['max']:.1f}x), {g['median']:.1f}x generate "
              f"(rounds {g['min']:.1f}-{g['max']:.1f}x)")
    roof = float32_roof(path, paired["ctranslate2_tok_per_s"], args.threads)
    print(f"  float32's roof: {roof['weight_mb']:.1f} MB of weights read per token; {roof['cores']} core(s) each "
          f"reading its share at {roof['read_gbs']:.1f} GB/s -> at most {roof['tok_per_s']:.0f} tok/s; ctranslate2 float32 "
          f"decodes at {roof['fraction']:.0%} of it (prefill and per-answer work included); the roof is "
          f"{roof['tok_per_s'] / paired['transformers_tok_per_s']:.1f}x the transformers engine: the most any "
          f"float32 engine can reach here")
    print(f"served one stream (openai client, c=1): ctranslate2 {a1['tok_per_s']:.0f} tok/s, p50 {a1['p50_ms']:.1f} ms vs "
          f"transformers {b1['tok_per_s']:.0f} tok/s, p50 {b1['p50_ms']:.1f} ms = {a1['tok_per_s'] / b1['tok_per_s']:.1f}x "
          f"tokens/s, {b1['p50_ms'] / a1['p50_ms']:.1f}x p50 (target >= 10x)")
    print(f"  where a served ctranslate2 answer's {a1['p50_ms']:.1f} ms go: engine {one['ctranslate2']['p50_ms']:.1f} ms "
          f"(decode, in-process p50), HTTP + server + client {a1['p50_ms'] - one['ctranslate2']['p50_ms']:.1f} ms")
    print(f"concurrency 16 through the openai client: {served['ctranslate2'][16]['tok_per_s']:.0f} tok/s "
          f"(target >= 2500 on 2 cores); engine batch 16: {rates['ctranslate2']['b16']['tok_per_s']:.0f} tok/s")
    for c in (1, 4, 16):
        a, b = served["ctranslate2"][c], served["transformers"][c]
        print(f"c={c:<3} p50 {a['p50_ms']:6.1f} ms  p95 {a['p95_ms']:6.1f} ms   (transformers p50 {b['p50_ms']:7.1f} ms, "
              f"p95 {b['p95_ms']:7.1f} ms: {b['p50_ms'] / a['p50_ms']:.1f}x)")
    predicted = planner_prediction(path, a1)
    print(f"planner's prediction for one request ({predicted['prompt_tokens']} prompt + {predicted['output_tokens']} "
          f"output tokens): {predicted['ms']:.1f} ms; measured p50 {a1['p50_ms']:.1f} ms "
          f"({predicted['ms'] / a1['p50_ms']:.2f}x)")
    return {"student": str(path), "engines": rates, "paired_one_stream": paired, "served": served,
            "float32_roof": roof, "ratio_one_stream_served": a1["tok_per_s"] / b1["tok_per_s"],
            "planner": predicted}


def float32_roof(path: Path, measured_tok_per_s: float, threads: int) -> dict:
    """The most one float32 stream can decode with ``threads`` cores: a step reads every weight once
    (12 MB for the 3M student, beyond a core's L2), each core its share, at the rate one core reads a
    buffer of the share's size (``estimators.one_core_read_ms`` over this run's measured read rates:
    the planner's own roof), on one core or split over all, whichever reads faster."""
    from stratos.catalog.local import local_offering, local_profile, measure
    from stratos.planner import estimators as est
    from stratos.planner.hardware import hardware_of
    from stratos.serve.ct2_convert import converted_dir

    weight_bytes = (converted_dir(path, "float32") / "model.bin").stat().st_size
    hw = hardware_of(local_offering(profile={**local_profile(), **measure()}))
    cores = min(range(1, threads + 1), key=lambda c: float(est.one_core_read_ms(weight_bytes / c, hw)))
    bound = 1e3 / float(est.one_core_read_ms(weight_bytes / cores, hw))  # the cores read their shares at once
    return {"weight_mb": weight_bytes / 1e6, "cores": cores, "read_gbs": float(est.read_gbps_at(weight_bytes / cores, hw)),
            "tok_per_s": bound, "fraction": measured_tok_per_s / bound}


def _layout(describe: dict) -> str:
    if describe["engine"] != "ctranslate2":
        return describe["engine"]
    return f"{describe['quantization']}, {describe['replicas']} replica(s), {describe['gemm']}"


def planner_prediction(path: Path, served_c1: dict) -> dict:
    """The planner's per-request latency for this student (its zoo entry, as ``stratos plan`` sees it)
    on this machine, at the request shape measured through the client."""
    from stratos.catalog.local import local_offering
    from stratos.planner import estimators as est
    from stratos.planner.hardware import hardware_of
    from stratos.zoo import get_model

    spec = get_model(json.loads((path / "stratos.json").read_text())["student"])
    prompt, out = round(served_c1["prompt_tokens"]), round(served_c1["completion_tokens"])
    hw = hardware_of(local_offering())
    ms = float(est.model_latency_ms(spec, prompt, out, hw))
    return {"model": spec.id, "prompt_tokens": prompt, "output_tokens": out, "ms": ms,
            "host_gflops": hw.tflops * 1e3}


def read_bandwidth_gbs(threads: int, mb: float = 1024, repeats: int = 7) -> float:
    """Read bandwidth (GB/s) with ``threads`` threads: bytes of a ``mb`` MiB float32 tensor
    (by default far beyond the caches) / the best time torch takes to sum it. A decode step streams the
    weights in once and writes next to nothing, so reading is the roof it runs into."""
    import torch

    torch.set_num_threads(threads)
    x = torch.ones(int(mb * 2**20) // 4)
    x.sum()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - t0)
    return x.numel() * 4 / best / 1e9


def steady_decode_ms(engine, prompt: str, new: int = 32, repeats: int = 3) -> float:
    """Milliseconds per generated token once the prompt is in the KV cache: (time for 1 + new
    tokens - time for 1 token) / new, both forced to their length (no early EOS). This is what
    the bandwidth bound speaks about; prefill is compute-bound and measured apart."""
    from stratos.serve.ct2_engine import CT2Engine

    if isinstance(engine, CT2Engine):
        ids = engine.tokenizer.convert_ids_to_tokens(engine.tokenizer(prompt)["input_ids"])

        def run(n: int) -> None:
            engine.generator.generate_batch([ids], max_length=n, min_length=n, include_prompt_in_result=False)
    else:
        import torch

        ids = engine.tokenizer(prompt, return_tensors="pt")["input_ids"]

        def run(n: int) -> None:
            with torch.inference_mode():
                engine.model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)

    def timed(n: int) -> float:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            run(n)
            best = min(best, time.perf_counter() - t0)
        return best

    run(2)
    return (timed(1 + new) - timed(1)) / new * 1e3


# (label, engine, quantization, CTranslate2 environment): what the smollm2 command compares.
SMOLLM2_VARIANTS = (
    ("transformers", "transformers", None, {}),
    ("ctranslate2 float32", "ctranslate2", "float32", {}),
    ("ctranslate2 int8", "ctranslate2", "int8", {}),
)
# Tried on AMD EPYC (2 cores): CTranslate2 with Intel MKL (CT2_USE_MKL=1) instead of its default
# oneDNN here decoded SmolLM2 2x slower in float32 and 6x slower in int8/int16: not a variant.
# Threads pinned to cores (KMP_AFFINITY=granularity=fine,compact,1,0) decoded 54.4 tok/s against
# 42.6 and 45.1 for default runs around it in one sweep, then 43.2 against 46.7 in this benchmark:
# no consistent gain, not a variant.


def _smollm2_variant(engine_name: str, quantization: str | None, env: dict, threads: int, max_new: int) -> dict:
    """One variant's end-to-end and steady decode rates and the bytes of weights it reads per token."""
    import os

    os.environ.update(env)  # read by CTranslate2 when its first model loads, in this fresh process
    path = smollm2_dir()
    name = engine_name if quantization is None else f"ctranslate2-{quantization}"
    engine = engines(path, threads, (name,))[name]
    prompts = chat_prompts(engine, held_out(4))
    out = decode_rate(engine, prompts, max_new, 1)
    ms = steady_decode_ms(engine, prompts[0])
    if quantization is None:
        weight_bytes = sum(p.numel() * p.element_size() for p in engine.model.parameters())
    else:
        from stratos.serve.ct2_convert import converted_dir

        weight_bytes = (converted_dir(path, quantization) / "model.bin").stat().st_size
    return {**out, "engine": engine.describe(), "decode_ms_per_token": ms, "decode_tok_per_s": 1e3 / ms,
            "weight_bytes": weight_bytes}


def cmd_smollm2(args) -> dict:
    """SmolLM2 one stream against the read-bandwidth bound. This VM's bandwidth drifts (36-59 GB/s
    measured on one host), so it is read before and after the variants and the higher reading sets
    the bound: the fraction is then the conservative one."""
    before = read_bandwidth_gbs(args.threads)
    print(f"  read bandwidth {before:.1f} GB/s ({args.threads} threads: best of 7 torch sums over 1 GiB)", flush=True)
    runs = {label: isolated(_smollm2_variant, engine_name, q, env, args.threads, args.max_tokens)
            for label, engine_name, q, env in SMOLLM2_VARIANTS}
    after = read_bandwidth_gbs(args.threads)
    bandwidth = max(before, after)
    print(f"  read bandwidth after the variants {after:.1f} GB/s; the bound uses {bandwidth:.1f}", flush=True)
    out: dict = {"read_bandwidth_gbs": bandwidth, "read_bandwidth_before_after": [before, after], "threads": args.threads}
    for label, r in runs.items():
        r["bound_tok_per_s"] = bandwidth * 1e9 / r["weight_bytes"]
        r["fraction"] = r["decode_tok_per_s"] / r["bound_tok_per_s"]
        out[label] = r
        print(f"  {label:24} end to end {r['tok_per_s']:6.1f} tok/s (prefill included); steady decode "
              f"{r['decode_tok_per_s']:6.1f} tok/s; weights {r['weight_bytes'] / 1e6:.0f} MB -> bound "
              f"{r['bound_tok_per_s']:6.1f} tok/s; {r['fraction']:.0%} of it   [{_layout(r['engine'])}]", flush=True)
    best = max((k for k in out if k.startswith("ctranslate2")), key=lambda k: out[k]["fraction"])
    print(f"\nSmolLM2-135M one stream. Bound = read bandwidth / bytes of weights read per token (a decode "
          f"step reads every weight once; KV cache and activations ignored, so the bound is generous); "
          f"read bandwidth {bandwidth:.1f} GB/s with {args.threads} threads. Steady decode = ms per token "
          f"once the prompt is in the cache.")
    print(f"best ctranslate2 variant: {best}, {out[best]['decode_tok_per_s']:.1f} tok/s = "
          f"{out[best]['fraction']:.0%} of its bound (target >= 50%); float32 "
          f"{out['ctranslate2 float32']['fraction']:.0%}; transformers {out['transformers']['fraction']:.0%}")
    return out


def _parity_answers(path: str, name: str, threads: int, n: int, max_tokens: int) -> tuple[list[str], float]:
    """One engine's greedy answers to the ``n`` held-out questions in batches of 64, and the seconds
    they took, in a process of its own (``isolated``: engines loaded together slow each other)."""
    e = engines(Path(path), threads, (name,))[name]
    print(f"  {name:17} [{_layout(e.describe())}]", flush=True)
    prompts = chat_prompts(e, held_out(n))
    t0 = time.perf_counter()
    texts = [r.text for i in range(0, len(prompts), 64)
             for r in e.generate(prompts[i : i + 64], max_new_tokens=max_tokens)]
    return texts, time.perf_counter() - t0


def cmd_parity(args) -> dict:
    path = Path(args.student) if args.student else default_student()
    qs = held_out(args.n)
    outs = {}
    arms = ("ctranslate2", "ctranslate2-int8", "ctranslate2-auto")
    for name in ("transformers", *arms):
        outs[name], secs = isolated(_parity_answers, str(path), name, args.threads, args.n, args.max_tokens)
        print(f"  {name:17} {len(qs)} questions in {secs:.1f} s", flush=True)
    report = {}
    for name in arms:
        diff = [i for i, (a, b) in enumerate(zip(outs["transformers"], outs[name], strict=True)) if a != b]
        acc = {n: statistics.fmean(_correct(q, t) for q, t in zip(qs, outs[n], strict=True)) for n in ("transformers", name)}
        report[name] = {"identical": 1 - len(diff) / len(qs), "differences": [
            {"question": qs[i].question, "transformers": outs["transformers"][i][-120:], name: outs[name][i][-120:]}
            for i in diff], "accuracy": acc}
        print(f"{name}: identical greedy answers on {len(qs) - len(diff)}/{len(qs)} "
              f"({report[name]['identical']:.1%}; target >= 99%); accuracy {acc[name]:.1%} vs transformers "
              f"{acc['transformers']:.1%}")
        for d in report[name]["differences"][:10]:
            print(f"    {d['question']}: {d['transformers'][-60:]!r} | {d[name][-60:]!r}")
    return report


def _correct(example, text: str) -> bool:
    answer = TASK.parse_answer(text)
    return answer is not None and bool(TASK.check(example.question, answer))


def cmd_job(args) -> dict:
    """The job's engine-bound non-training phases, each with the old engine and the new one.

    The old arm is the transformers engine as it was before the engine layer
    (``_engine_before_this_issue``). Each arm's teacher phases run in a fresh process,
    as in the job, where the teacher decodes before any student engine or training step has run
    (engines sharing a process disturb each other: ``isolated``).
    """
    from stratos.distill.evaluation import evaluate_engine, latency
    from stratos.serve.engines import engine_for_model, load_engine

    cfg = default_config()
    path = Path(args.student) if args.student else default_student()
    test, val = held_out(cfg.n_test), held_out(cfg.eval_samples, seed=999)
    hf = load_engine(path, engine="transformers", threads=args.threads, dtype="float32")
    max_new = args.max_tokens
    phases: dict[str, dict[str, float]] = {}

    def timed(phase: str, old, new) -> None:
        phases[phase] = {}
        for label, fn in (("transformers", old), ("engine layer", new)):
            with _engine_before_this_issue(label == "transformers"):
                t0 = time.perf_counter()
                fn()
                phases[phase][label] = time.perf_counter() - t0
        _print_phase(phase, phases[phase])

    def student_eval(make):
        return lambda: evaluate_engine(make(), TASK, val, max_new_tokens=max_new)

    old_student = lambda: hf  # noqa: E731 - the job wrapped its in-memory model the same way
    new_student = lambda: engine_for_model(hf.model, hf.tokenizer, name="student", threads=args.threads)  # noqa: E731
    timed("validation pass (100 q)", student_eval(old_student), student_eval(new_student))
    timed("test eval (500 q) + latency", lambda: (evaluate_engine(hf, TASK, test, max_new_tokens=max_new),
                                                  latency(hf, TASK, [e.question for e in test[:10]], max_new_tokens=max_new)),
          lambda: _eval_and_latency(new_student(), test, max_new))
    arms = {label: isolated(_teacher_phases, label, args.threads)
            for label in ("transformers", "engine layer")}
    for phase in arms["transformers"]:
        phases[phase] = {label: arms[label][phase] for label in arms}
        _print_phase(phase, phases[phase])
    passes = max(1, 8736 // cfg.eval_every)  # the default job's validation passes (8.7k steps)
    total = {k: sum(v[k] * (passes if p.startswith("validation") else 1) for p, v in phases.items())
             for k in ("transformers", "engine layer")}
    print(f"\nnon-training engine time of a default job ({passes} validation passes): transformers "
          f"{total['transformers']:.0f} s -> engine layer {total['engine layer']:.0f} s "
          f"({total['transformers'] / total['engine layer']:.1f}x; target >= 2x)")
    return {"phases": phases, "validation_passes": passes, "total_s": total}


def _print_phase(phase: str, secs: dict[str, float]) -> None:
    print(f"  {phase:28} transformers {secs['transformers']:7.1f} s   engine layer {secs['engine layer']:7.1f} s",
          flush=True)


@contextlib.contextmanager
def _engine_before_this_issue(old: bool):
    """When ``old``, the transformers engine as it was before the engine layer: every prompt's prefill
    in full, keys and values copied per query head under a padding mask, bf16 weights packed by oneDNN
    on every call, and a KV cache copied whole every step."""
    import stratos.serve.attention as attention_module
    import stratos.serve.engine as engine_module
    import stratos.serve.packed_linear as packed_module

    engine = engine_module.GenerationEngine
    saved = engine_module.shared_prefix, attention_module.use, packed_module.pack, engine._new_cache
    if old:
        engine_module.shared_prefix = lambda prompts, keep=1: 0
        attention_module.use = lambda model: None
        packed_module.pack = lambda model: 0
        engine._new_cache = lambda self: None
    try:
        yield
    finally:
        engine_module.shared_prefix, attention_module.use, packed_module.pack, engine._new_cache = saved


def _teacher_phases(arm: str, threads: int) -> dict[str, float]:
    """Seconds of the job's teacher phases on ``arm``'s engine, through the job's own functions:
    the probe, the injection rationales (the task's knowledge before each question) and the
    teacher's evaluation with its per-question latency. The questions and the engine are made
    outside the timing."""
    from stratos.distill.job import teacher_eval
    from stratos.serve.engine import GenerationEngine
    from stratos.synth.injection import teacher_rationales
    from stratos.synth.probe import probe_teacher
    from stratos.synth.teachers.local_hf import LocalHFTeacher

    cfg = default_config()
    tokens = cfg.teacher_max_new_tokens
    probe, rationale, test = (held_out(n, seed=seed) for n, seed in (
        (cfg.probe_questions, 4242), (cfg.rationale_budget, 777), (cfg.teacher_eval_questions, 4242)))
    teacher = LocalHFTeacher("smollm2-135m-instruct", threads=threads)
    phases = {
        f"probe ({len(probe)} q)": lambda: probe_teacher(teacher, TASK, probe, cfg.probe_threshold, max_new_tokens=tokens),
        f"teacher rationales ({len(rationale)})": lambda: teacher_rationales(
            teacher, TASK, rationale, max_new_tokens=tokens * 2),
        f"teacher eval ({len(test)} q) + latency": lambda: teacher_eval(teacher, TASK, test, cfg),
    }
    times: dict[str, float] = {}
    with _engine_before_this_issue(arm == "transformers"):
        if arm == "transformers":
            teacher._engine = GenerationEngine.from_dir(smollm2_dir(), threads=threads, dtype="bfloat16")
        engine = teacher.engine.describe()
        for phase, fn in phases.items():
            t0 = time.perf_counter()
            fn()
            times[phase] = time.perf_counter() - t0
    print(f"  teacher engine ({arm}): {engine}", flush=True)
    return times


def _eval_and_latency(engine, test, max_new):
    from stratos.distill.evaluation import evaluate_engine, latency

    evaluate_engine(engine, TASK, test, max_new_tokens=max_new)
    latency(engine, TASK, [e.question for e in test[:10]], max_new_tokens=max_new)


def cmd_calibrate(args) -> dict:
    """Refit the planner's CPU serving latency (CTranslate2 float32, the layout the server picks) to
    this host: a decode step is a floor plus the weights read at ``decode_read_efficiency`` of one
    core's read rate for their size, prefill 2·P·prompt FLOPs at ``prefill_efficiency`` of the matmul
    rate; the rates are measured in this same run (so the factors do not inherit a stale or loaded
    reading). Decode is fitted on the 1M and 3M models; the 30M model's line checks the fit where
    the weights no longer stay in a cache."""
    from stratos.catalog.local import local_offering, local_profile, measure
    from stratos.planner import estimators as est
    from stratos.planner.hardware import hardware_of
    from stratos.zoo import get_model

    host = measure(repeats=10)
    same_run = hardware_of(local_offering(profile={**local_profile(), **host}))
    print(f"  host matmul rate {host['gflops']:.1f} GFLOP/s, one core reads {host['read_gbps']} GB/s "
          f"at {est.READ_SIZES_MIB} MiB (this run)", flush=True)
    runs = [_calibration_run(mid, args.threads, same_run) for mid in
            ("scratch-llama-1m", "scratch-llama-3m", "scratch-llama-30m")]
    fitted = {"engine": "ctranslate2 float32", **_fit_serving(runs, host["gflops"]), "host_gflops": host["gflops"],
              "read_gbps": host["read_gbps"], "runs": runs}
    print("fitted:", {k: v for k, v in fitted.items() if k != "runs"})
    if args.write:
        doc = json.loads(est.CPU_CALIBRATION.read_text())
        doc["serving"] = fitted
        est.CPU_CALIBRATION.write_text(json.dumps(doc, indent=2) + "\n")
        import importlib

        importlib.reload(est)
    profile = hardware_of(local_offering())
    print(f"{'model':20} {'128 in + 32 out, ms':>20} {'predicted':>10} {'(planner profile)':>18} {'measured':>10}")
    for r in runs:
        spec = get_model(r["model"])
        pred, pred_profile = (float(est.model_latency_ms(spec, 128, 32, hw)) for hw in (same_run, profile))
        t = r[r["faster"]]
        meas = t["prefill_ms_128"] + 32 * t["decode_ms_per_token"] + est.REQUEST_OVERHEAD_MS
        print(f"{r['model']:20} {'':>20} {pred:10.1f} {pred_profile:18.1f} {meas:10.1f}")
    print(f"(predicted: with this run's rates; planner profile: with the cached rates `stratos plan` uses, "
          f"{profile.tflops * 1e3:.1f} GFLOP/s; measured: engine time + the planner's "
          f"{est.REQUEST_OVERHEAD_MS:.0f} ms request overhead)")
    return fitted


def _calibration_run(model_id: str, threads: int, hw) -> dict:
    """One random-weight zoo model timed by CTranslate2 float32 with each stream on one core and
    (with several threads) split over all of them, beside the ms its decode step's bytes take at
    one core's read rate for their size on ``hw`` (``roof_ms``; ``split_roof_ms`` for one core's share)."""
    from stratos.planner import estimators as est
    from stratos.zoo import get_model

    spec = get_model(model_id)
    nbytes = est.decode_step_bytes(spec.params, 4.0, spec.kv_bytes_per_token(), 128, 32)
    run = {"model": model_id, "params": spec.params, "layers": spec.layers,
           "roof_ms": float(est.one_core_read_ms(nbytes, hw)), "split_roof_ms": float(est.one_core_read_ms(nbytes / threads, hw))}
    for layout, replicas in (("one_core", threads), ("split", 1))[: 2 if threads > 1 else 1]:
        pre_ms, step_ms = isolated(_ct2_times, str(_random_llama_dir(model_id)), threads, replicas)
        run[layout] = {"prefill_ms_128": pre_ms, "decode_ms_per_token": step_ms}
        print(f"  {model_id:18} {layout:8} prefill(128) {pre_ms:6.2f} ms, decode {step_ms:6.3f} ms/token, "
              f"read roof {run['roof_ms' if layout == 'one_core' else 'split_roof_ms']:6.3f} ms", flush=True)
    run["faster"] = min(("one_core", "split")[: 2 if threads > 1 else 1], key=lambda k: run[k]["decode_ms_per_token"])
    return run


def _fit_serving(runs: list[dict], gflops: float) -> dict:
    """One-core decode step = floor + roof / efficiency, through the 1M and 3M points; a split step's
    efficiency (each core's share over its roof, above the same floor) the mean over all models;
    prefill efficiency the mean over all models in the faster layout."""
    a, b = (r["one_core"] for r in runs[:2])
    slope = (b["decode_ms_per_token"] - a["decode_ms_per_token"]) / (runs[1]["roof_ms"] - runs[0]["roof_ms"])
    floor = max(0.0, a["decode_ms_per_token"] - runs[0]["roof_ms"] * slope)
    split = [r["split_roof_ms"] / (r["split"]["decode_ms_per_token"] - floor) for r in runs if "split" in r]
    prefill_eff = statistics.mean(2 * r["params"] * 128 / (r[r["faster"]]["prefill_ms_128"] / 1e3) / (gflops * 1e9)
                                  for r in runs)
    return {"prefill_efficiency": round(prefill_eff, 4), "decode_read_efficiency": round(1.0 / slope, 4),
            "decode_floor_ms": round(floor, 4),
            **({"split_read_efficiency": round(statistics.mean(split), 4)} if split else {})}


def _random_llama_dir(model_id: str) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from stratos.distill.tokenizer import build_word_tokenizer
    from stratos.zoo import get_model
    from stratos.zoo.offline import cache_root

    out = cache_root() / "bench" / f"{model_id}-calibration"
    if (out / "config.json").is_file():
        return out
    m = get_model(model_id)
    tok = build_word_tokenizer([f"w{i}" for i in range(m.vocab - 8)])
    cfg = LlamaConfig(hidden_size=m.hidden, num_hidden_layers=m.layers, num_attention_heads=m.heads,
                      num_key_value_heads=m.kv_heads, intermediate_size=m.intermediate, vocab_size=len(tok),
                      tie_word_embeddings=True, max_position_embeddings=m.context)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _ct2_times(path: str, threads: int, replicas: int, prompt: int = 128, new: int = 32) -> tuple[float, float]:
    """(prefill ms for a ``prompt``-token prompt, decode ms per token) of one stream with CTranslate2
    float32 on ``threads // replicas`` cores."""
    from stratos.serve.ct2_engine import CT2Engine

    e = CT2Engine.from_dir(Path(path), quantization="float32", threads=threads, replicas=replicas)
    vocab = e.tokenizer.convert_ids_to_tokens([8 + i % (len(e.tokenizer) - 8) for i in range(prompt)])
    gen = e.generator

    def run(n: int) -> float:
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            gen.generate_batch([vocab], max_length=n, min_length=n, include_prompt_in_result=False)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    run(2)
    first = run(1)
    return first * 1e3, (run(new + 1) - first) / new * 1e3


def answer_budget(student: str | None) -> int:
    """The artifact's ``max_new_tokens`` (what the job decoded its test answers with), else 64."""
    meta = Path(student or default_student()) / "stratos.json"
    return json.loads(meta.read_text()).get("max_new_tokens", 64) if meta.is_file() else 64


COMMANDS = {"student": cmd_student, "smollm2": cmd_smollm2, "parity": cmd_parity, "job": cmd_job,
            "calibrate": cmd_calibrate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=sorted(COMMANDS))
    ap.add_argument("--student", help="a student artifact dir (default: a random-weight scratch-llama-3m)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, help="new tokens per answer (default: the student's own "
                    "answer budget, so answers run to their end as the job evaluates them; else 64)")
    ap.add_argument("--n", type=int, default=500, help="parity: held-out questions")
    ap.add_argument("--write", action="store_true", help="calibrate: store the fit in cpu_calibration.json")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.max_tokens is None:
        args.max_tokens = answer_budget(args.student) if args.command != "smollm2" else 64
    import subprocess

    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    print(next((line for line in cpu.splitlines() if line.startswith("Model name")), "CPU: ?"), f"threads {args.threads}")
    result = COMMANDS[args.command](args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
