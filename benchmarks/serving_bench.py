"""Serving benchmark: the engine layer (CTranslate2) against the transformers engine, same model, same run.

Subcommands (each fits a 10-minute exclusive hold of the CPU lock)::

    source scripts/env.sh
    B="flock -x /work/coord/cpu.lock .venv/bin/python benchmarks/serving_bench.py"
    $B student  --student runs/x/artifact   # 3M student: one stream, batch 16, openai p50/p95 at c=1/4/16
    $B smollm2                              # SmolLM2-135M one stream vs the memory-bandwidth bound
    $B parity   --student runs/x/artifact   # greedy answers on 500 held-out questions, int8 effect
    $B job      --student runs/x/artifact   # the job's non-training phases, old engine vs new
    $B calibrate [--write]                  # refit the planner's CPU serving latency to CTranslate2

Without ``--student`` a default-shaped student (scratch-llama-3m: 6 x 192) with random
weights is built: speed does not depend on the weights, answers do. Every ratio compares
runs of one invocation; ``--threads`` (default 2: the whole machine) applies to every engine.
"""

from __future__ import annotations

import argparse
import asyncio
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
    """The default job's settings for the default local plan's pair (the 3M student's zoo shape)."""
    from stratos.distill.config import DistillConfig

    return DistillConfig(task="mahjong", teacher="smollm2-135m-instruct", student="scratch-llama-3m", mode="injection")


def default_student(seed: int = 0) -> Path:
    """A random-weight scratch-llama-3m artifact (word tokenizer over Mahjong prompts), built once."""
    from stratos.distill.export import export_artifact
    from stratos.distill.student import build_scratch
    from stratos.distill.tokenizer import build_word_tokenizer
    from stratos.zoo.offline import cache_root

    out = cache_root() / "bench" / "scratch-llama-3m-random"
    if (out / "manifest.json").is_file():
        return out
    texts = [TASK.prompt(e.question) + " Answer: 1m 4m" for e in TASK.generate(200, seed=seed, mode="reverse")]
    tok = build_word_tokenizer(texts, TASK.vocabulary(), units=TASK.compact_units)
    model = build_scratch(tok, default_config().scratch, seed)
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
    """Engines over one model dir; transformers in float32 (what the job evaluates with)."""
    from stratos.serve.engines import load_engine

    out = {}
    for name in which:
        if name == "transformers":
            out[name] = load_engine(path, engine="transformers", threads=threads, dtype="float32")
        else:
            q = name.split("-")[1] if "-" in name else "float32"
            out[name] = load_engine(path, engine="ctranslate2", quantization=q, threads=threads)
    return out


def decode_rate(engine, prompts: list[str], max_new: int, batch: int) -> dict:
    """Generated tokens/s over ``prompts`` decoded ``batch`` at a time (greedy), after a warm-up."""
    engine.generate(prompts[:batch], max_new_tokens=4)
    t0, tokens = time.perf_counter(), 0
    for i in range(0, len(prompts), batch):
        tokens += sum(r.completion_tokens for r in engine.generate(prompts[i : i + batch], max_new_tokens=max_new))
    wall = time.perf_counter() - t0
    return {"tokens": tokens, "wall_s": wall, "tok_per_s": tokens / wall}


# ---------------------------------------------------------------- through the openai client
async def _openai_load(base: str, token: str, questions, concurrency: int, max_tokens: int) -> dict:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=600)
    model = (await client.models.list()).data[0].id
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    tokens = 0

    async def one(q) -> None:
        nonlocal tokens
        async with gate:
            t0 = time.perf_counter()
            r = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": TASK.prompt(q.question)}],
                max_tokens=max_tokens, temperature=0,
            )
            latencies.append(time.perf_counter() - t0)
            tokens += r.usage.completion_tokens

    await one(questions[0])  # warm-up
    latencies.clear()
    tokens = 0
    t0 = time.perf_counter()
    await asyncio.gather(*(one(q) for q in questions))
    wall = time.perf_counter() - t0
    await client.close()
    return {
        "concurrency": concurrency, "requests": len(questions), "tok_per_s": tokens / wall,
        "p50_ms": percentile(latencies, 50) * 1000, "p95_ms": percentile(latencies, 95) * 1000,
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
    qs = held_out(64)
    eng = engines(path, args.threads, ("transformers", "ctranslate2", "ctranslate2-int8"))
    prompts = chat_prompts(eng["ctranslate2"], qs)
    one = {name: decode_rate(e, prompts[:8], args.max_tokens, 1) for name, e in eng.items()}
    b16 = {name: decode_rate(e, prompts[:64], args.max_tokens, 16) for name, e in eng.items()}
    for name in eng:
        print(f"  engine {name:17} one stream {one[name]['tok_per_s']:8.0f} tok/s   batch 16 {b16[name]['tok_per_s']:8.0f} tok/s")
    served = {e: openai_levels(path, e, args.threads, held_out(160, seed=777), args.max_tokens)
              for e in ("ctranslate2", "transformers")}
    ratio_one = one["ctranslate2"]["tok_per_s"] / one["transformers"]["tok_per_s"]
    print(f"\n3M student {path}")
    print(f"one stream: ctranslate2 {one['ctranslate2']['tok_per_s']:.0f} tok/s vs transformers "
          f"{one['transformers']['tok_per_s']:.0f} tok/s = {ratio_one:.1f}x (target >= 10x)")
    print(f"concurrency 16 through the openai client: {served['ctranslate2'][16]['tok_per_s']:.0f} tok/s "
          f"(target >= 2500 on 2 cores); engine batch 16: {b16['ctranslate2']['tok_per_s']:.0f} tok/s")
    for c in (1, 4, 16):
        a, b = served["ctranslate2"][c], served["transformers"][c]
        print(f"c={c:<3} p50 {a['p50_ms']:6.1f} ms  p95 {a['p95_ms']:6.1f} ms   (transformers p50 {b['p50_ms']:7.1f} ms, "
              f"p95 {b['p95_ms']:7.1f} ms: {b['p50_ms'] / a['p50_ms']:.1f}x)")
    return {"student": str(path), "one_stream": one, "batch16": b16, "served": served, "ratio_one_stream": ratio_one}


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


def _weight_bytes(name: str, engine, path: Path) -> int:
    if name.startswith("ctranslate2"):
        from stratos.serve.ct2_convert import cache_root

        [entry] = cache_root(path).glob(f"{engine.quantization}-*")
        return (entry / "model.bin").stat().st_size
    return sum(p.numel() * p.element_size() for p in engine.model.parameters())


def cmd_smollm2(args) -> dict:
    path = smollm2_dir()
    prompts_q = held_out(4)
    eng = engines(path, args.threads, ("transformers", "ctranslate2", "ctranslate2-int8"))
    bandwidth = measure_bandwidth_gbs(args.threads)
    out = {"bandwidth_gbs": bandwidth}
    for name, e in eng.items():
        prompts = chat_prompts(e, prompts_q)
        out[name] = decode_rate(e, prompts, args.max_tokens, 1)
        ms = steady_decode_ms(e, prompts[0])
        weight_bytes = _weight_bytes(name, e, path)
        bound = bandwidth * 1e9 / weight_bytes
        out[name].update(decode_ms_per_token=ms, decode_tok_per_s=1e3 / ms, weight_bytes=weight_bytes,
                         bound_tok_per_s=bound, fraction=1e3 / ms / bound)
        print(f"  {name:17} end to end {out[name]['tok_per_s']:6.1f} tok/s (prefill included); steady decode "
              f"{1e3 / ms:6.1f} tok/s; weights {weight_bytes / 1e6:.0f} MB -> bound {bound:.1f} tok/s; "
              f"{out[name]['fraction']:.0%} of it", flush=True)
    print(f"\nSmolLM2-135M one stream; bandwidth {bandwidth:.1f} GB/s (tensor copy, read + write); bound = "
          "bandwidth / bytes of weights read per token (every weight once per token, KV cache ignored); "
          "compared with the steady decode rate (prompt already in the cache)")
    print(f"ctranslate2 vs transformers: {out['ctranslate2']['tok_per_s'] / out['transformers']['tok_per_s']:.1f}x "
          f"(float32), {out['ctranslate2-int8']['tok_per_s'] / out['transformers']['tok_per_s']:.1f}x (int8)")
    return out


def cmd_parity(args) -> dict:
    path = Path(args.student) if args.student else default_student()
    qs = held_out(args.n)
    eng = engines(path, args.threads, ("transformers", "ctranslate2", "ctranslate2-int8"))
    prompts = chat_prompts(eng["transformers"], qs)
    outs = {}
    for name, e in eng.items():
        t0 = time.perf_counter()
        outs[name] = [r.text for i in range(0, len(prompts), 64)
                      for r in e.generate(prompts[i : i + 64], max_new_tokens=args.max_tokens)]
        print(f"  {name:17} {len(prompts)} questions in {time.perf_counter() - t0:.1f} s", flush=True)
    report = {}
    for name in ("ctranslate2", "ctranslate2-int8"):
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
    """The job's engine-bound non-training phases, each with the old engine and the new one."""
    from stratos.distill.evaluation import evaluate_engine, latency
    from stratos.serve.engines import engine_for_model, load_engine
    from stratos.synth.probe import probe_teacher
    from stratos.synth.teachers.local_hf import LocalHFTeacher

    cfg = default_config()
    path = Path(args.student) if args.student else default_student()
    test, val = held_out(cfg.n_test), held_out(cfg.eval_samples, seed=999)
    hf = load_engine(path, engine="transformers", threads=args.threads, dtype="float32")
    max_new = args.max_tokens
    phases: dict[str, dict[str, float]] = {}

    def timed(phase: str, old, new) -> None:
        phases[phase] = {}
        for label, fn in (("transformers", old), ("engine layer", new)):
            t0 = time.perf_counter()
            fn()
            phases[phase][label] = time.perf_counter() - t0
        print(f"  {phase:28} transformers {phases[phase]['transformers']:7.1f} s   engine layer "
              f"{phases[phase]['engine layer']:7.1f} s", flush=True)

    def student_eval(make):
        return lambda: evaluate_engine(make(), TASK, val, max_new_tokens=max_new)

    old_student = lambda: hf  # noqa: E731 - the job wrapped its in-memory model the same way
    new_student = lambda: engine_for_model(hf.model, hf.tokenizer, name="student", threads=args.threads)  # noqa: E731
    timed("validation pass (100 q)", student_eval(old_student), student_eval(new_student))
    timed("test eval (500 q) + latency", lambda: (evaluate_engine(hf, TASK, test, max_new_tokens=max_new),
                                                  latency(hf, TASK, [e.question for e in test[:10]], max_new_tokens=max_new)),
          lambda: _eval_and_latency(new_student(), test, max_new))
    teachers = {
        "transformers": LocalHFTeacher("smollm2-135m-instruct", threads=args.threads),
        "engine layer": LocalHFTeacher("smollm2-135m-instruct", threads=args.threads),
    }
    from stratos.serve.engine import GenerationEngine

    teachers["transformers"]._engine = GenerationEngine.from_dir(smollm2_dir(), threads=args.threads, dtype="bfloat16")
    _ = teachers["engine layer"].engine  # load (and convert, once) outside the timing, like the old one
    for phase, n, tokens in (("probe (50 q)", cfg.probe_size, cfg.teacher_max_new_tokens),
                             ("teacher rationales (16)", cfg.rationale_budget, cfg.teacher_max_new_tokens * 2),
                             ("teacher eval (100 q)", cfg.teacher_eval_size, cfg.teacher_max_new_tokens)):
        # --teacher-sample k times k questions and scales the time to the job's n (linear in n).
        k = min(n, args.teacher_sample or n)
        qs = held_out(k, seed=4242)
        timed(phase, *(lambda t=teachers[k2], qs=qs, tokens=tokens: probe_teacher(t, TASK, qs, 0.5, max_new_tokens=tokens)
                       for k2 in ("transformers", "engine layer")))
        phases[phase] = {label: secs * n / k for label, secs in phases[phase].items()}
    passes = max(1, 8736 // cfg.eval_every)  # the default job's validation passes (8.7k steps)
    total = {k: sum(v[k] * (passes if p.startswith("validation") else 1) for p, v in phases.items())
             for k in ("transformers", "engine layer")}
    print(f"\nnon-training engine time of a default job ({passes} validation passes): transformers "
          f"{total['transformers']:.0f} s -> engine layer {total['engine layer']:.0f} s "
          f"({total['transformers'] / total['engine layer']:.1f}x; target >= 2x)")
    return {"phases": phases, "validation_passes": passes, "total_s": total}


def _eval_and_latency(engine, test, max_new):
    from stratos.distill.evaluation import evaluate_engine, latency

    evaluate_engine(engine, TASK, test, max_new_tokens=max_new)
    latency(engine, TASK, [e.question for e in test[:10]], max_new_tokens=max_new)


def cmd_calibrate(args) -> dict:
    """Refit the planner's CPU decode floor/efficiency and prefill efficiency to CTranslate2 float32."""
    from stratos.catalog.local import local_offering
    from stratos.planner import estimators as est
    from stratos.planner.hardware import hardware_of
    from stratos.zoo import get_model

    off = local_offering()
    hw = hardware_of(off)
    peak = off.gflops * 1e9
    runs = []
    for mid in ("scratch-llama-3m", "scratch-llama-30m"):
        pre_ms, step_ms = _ct2_times(_random_llama_dir(mid), args.threads)
        spec = get_model(mid)
        runs.append({"model": mid, "params": spec.params, "layers": spec.layers,
                     "prefill_ms_128": pre_ms, "decode_ms_per_token": step_ms})
    a, b = runs
    slope = (b["decode_ms_per_token"] - a["decode_ms_per_token"]) / (b["params"] - a["params"])
    decode_eff = 2.0 / (max(slope, 1e-12) / 1e3) / peak
    floor = max(0.01, a["decode_ms_per_token"] - 2.0 * a["params"] / (peak * decode_eff) * 1e3)
    prefill_eff = statistics.mean(2 * r["params"] * 128 / (r["prefill_ms_128"] / 1e3) / peak for r in runs)
    fitted = {"engine": "ctranslate2 float32", "prefill_efficiency": round(prefill_eff, 4),
              "decode_efficiency": round(decode_eff, 4), "decode_floor_ms": round(floor, 4), "runs": runs}
    print("fitted:", {k: v for k, v in fitted.items() if k != "runs"})
    if args.write:
        doc = json.loads(est.CPU_CALIBRATION.read_text())
        doc["serving"] = fitted
        est.CPU_CALIBRATION.write_text(json.dumps(doc, indent=2) + "\n")
        import importlib

        importlib.reload(est)
    print(f"{'model':20} {'latency ms, 128 in + 32 out':28} {'predicted':>10} {'measured':>10} {'ratio':>7}")
    for r in runs:
        spec = get_model(r["model"])
        pred = float(est.serve_latency_ms(spec.params, spec.layers, spec.kv_bytes_per_token(), 128, 32, hw))
        meas = r["prefill_ms_128"] + 32 * r["decode_ms_per_token"] + est.REQUEST_OVERHEAD_MS
        print(f"{r['model']:20} {'':28} {pred:10.1f} {meas:10.1f} {pred / meas:7.2f}")
    return fitted


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


def _ct2_times(path: Path, threads: int, prompt: int = 128, new: int = 32) -> tuple[float, float]:
    """(prefill ms for a ``prompt``-token prompt, decode ms per token) with CTranslate2 float32, batch 1."""
    from stratos.serve.ct2_engine import CT2Engine

    e = CT2Engine.from_dir(path, quantization="float32", threads=threads)
    vocab = e.tokenizer.convert_ids_to_tokens([8 + i % (len(e.tokenizer) - 8) for i in range(prompt)])
    gen = e.generator

    def run(n: int) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            gen.generate_batch([vocab], max_length=n, min_length=n, include_prompt_in_result=False)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    run(2)
    first = run(1)
    return first * 1e3, (run(new + 1) - first) / new * 1e3


COMMANDS = {"student": cmd_student, "smollm2": cmd_smollm2, "parity": cmd_parity, "job": cmd_job,
            "calibrate": cmd_calibrate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=sorted(COMMANDS))
    ap.add_argument("--student", help="a student artifact dir (default: a random-weight scratch-llama-3m)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=64, help="new tokens per answer")
    ap.add_argument("--n", type=int, default=500, help="parity: held-out questions")
    ap.add_argument("--write", action="store_true", help="calibrate: store the fit in cpu_calibration.json")
    ap.add_argument("--teacher-sample", type=int, default=0, help="job: teacher questions per phase (0: all)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    import subprocess

    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    print(next((line for line in cpu.splitlines() if line.startswith("Model name")), "CPU: ?"), f"threads {args.threads}")
    result = COMMANDS[args.command](args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
