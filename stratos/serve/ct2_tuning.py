"""How CTranslate2 should run a model on this CPU: weight format and thread layout, measured once.

Each choice is made by decoding a short greedy burst with each candidate and is
remembered beside the converted model (keyed by the model, the CPU, the thread
budget and the GEMM library), so a restart does not measure again. One stream
decides two of them:

* **quantization** (when asked for ``auto``): float32 or int8. int8 must decode
  ``INT8_MARGIN`` faster to be chosen, since its greedy answers can differ. In a
  process that serves one model (``ct2_convert.allow_gemm_choice``), int8 is also
  timed on Intel MKL (the format ``int8@mkl``) and on MKL capped below AVX-512
  (``int8@mkl-avx2_e1``: ``ct2_convert.MKL_ISA_ENV`` says why), and the setup then
  names that library.
* **replicas**: with ``threads`` cores, either one replica using every core per
  step, or ``threads`` replicas of one core each (the weights are shared). A small
  model's step is too short to split over cores (the threads' synchronisation
  costs more than the work), so one core decodes one stream about as fast; then
  replicas win twice: concurrent batches decode side by side, and at concurrency
  1 the other cores stay free for the HTTP layer and the client. Replicas are
  chosen when one stream on one core reaches ``REPLICA_MARGIN`` of its rate on
  all cores; a model whose step does split well (a large, bandwidth-bound one)
  keeps every core for its one stream.

A batch of prompts decides the third, for callers that decode batches (a local
teacher): CTranslate2 in that setup, or the transformers engine (``BATCH_ROWS``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratos.device import cpu_model
from stratos.serve.ct2_convert import (
    QUANTIZATIONS,
    cache_root,
    gemm_backend,
    gemm_choosable,
    source_id,
)
from stratos.serve.engine_base import EngineBase

if TYPE_CHECKING:
    from stratos.serve.ct2_engine import CT2Engine

log = logging.getLogger("stratos.serve")

# int8 must decode this much faster than float32 to be chosen (its greedy answers can differ).
INT8_MARGIN = 1.15
# One core per replica is chosen when one stream on one core is at least this fraction of its
# rate on every core. Measured on a quiet 2-core AMD EPYC: the 3M student decodes one stream at
# 0.82 of its 2-thread rate on 1 thread (served at concurrency 1 the two layouts tie, since HTTP
# needs a core too) and a 64-row batch 1.6x faster on 2 replicas; SmolLM2-135M at 0.78 (its
# one stream is the bandwidth target, so it keeps both cores). Under other load a 2-thread step
# is the fragile one (waiting on a busy core): 3.5x slower than 1 thread in one measurement.
REPLICA_MARGIN = 0.9
# A local teacher decodes batches (32 questions at once), whose prefill is compute-bound: there
# torch's bfloat16 matmuls (AMX or AVX512-BF16) can beat CTranslate2's float32 and int8 ones, though
# CTranslate2 decodes one stream faster. Measured on a 2-core Intel Xeon with AMX, SmolLM2-135M,
# 100 Mahjong questions in batches of 32 to 64 tokens: transformers bf16 16 s, CTranslate2 int8 x 2
# replicas 24 s (its one-stream choice), float32 37-41 s. So a batch burst decides (once): 32
# rows like the teacher's batches (with 16 rows, int8 looked as fast as bf16 here).
BATCH_ROWS = 32
#: int8 on Intel MKL, uncapped and capped at AVX2 with VNNI (a process that may still choose its library).
MKL_FORMATS = ("int8@mkl", "int8@mkl-avx2_e1")
_PROBE_TOKENS = 24
#: How rates are measured, part of every record's key: a record measured another way is measured again.
MEASURED = "one process per setup, loaded on a thread of its own"
_PROBE_PROMPT = "The quick brown fox jumps over the lazy dog. " * 4


def record_path(path: Path, quantization: str) -> Path:
    """Where the setup chosen for ``path`` with ``quantization`` asked for (auto, float32, int8) is kept."""
    return cache_root(path) / f"setup-{quantization}.json"


@dataclass(frozen=True)
class CT2Setup:
    """CTranslate2 settings for one model on one CPU: weights, ``replicas`` batches decoded at once
    with ``threads // replicas`` cores each, and ``gemm``, the GEMM library to switch the process to
    (None: keep its own; see ``ct2_convert.allow_gemm_choice``)."""

    quantization: str
    replicas: int
    gemm: str | None = None


def choose_setup(path: Path, quantization: str, threads: int | None) -> CT2Setup:
    """The setup for ``path``: remembered, else measured (see the module docstring).

    ``quantization`` is ``auto`` or a fixed format (then only the layout is measured).
    """
    total = threads or os.cpu_count() or 1
    formats = QUANTIZATIONS if quantization == "auto" else (quantization,)
    if "int8" in formats and gemm_choosable():
        formats = (*formats, *MKL_FORMATS)  # int8 on Intel MKL, a process-wide switch
    if total == 1 and len(formats) == 1:
        return CT2Setup(quantization, 1)  # nothing to choose
    record = record_path(path, f"{quantization}+mkl" if MKL_FORMATS[0] in formats else quantization)
    key = _key(path, total, quantization=quantization, candidates=list(formats))
    try:
        return CT2Setup(**_remembered(record, key))
    except TypeError:  # nothing remembered for this key, or a record of another shape
        pass
    layouts = (1, total) if total > 1 else (1,)
    rates = measure_decode_rates(path, formats, layouts, total)
    setup = decide(rates, formats, layouts)
    log.info("ctranslate2 setup: %s (one-stream greedy tokens/s: %s)", setup, rates)
    _remember(record, key, asdict(setup), rates)
    return setup


def faster_for_batches(path: Path, ct2: CT2Engine, transformers: Callable[[], EngineBase], dtype: str,
                       threads: int | None) -> EngineBase:
    """``ct2`` (CTranslate2 in its chosen setup) or the engine ``transformers()`` loads in ``dtype``,
    whichever decodes a batch faster (see ``BATCH_ROWS``): measured once, remembered like the setup."""
    total = threads or os.cpu_count() or 1
    record = cache_root(path) / f"batch-{ct2.quantization}-{dtype}.json"
    key = _key(path, total, ctranslate2=f"{ct2.quantization} x {ct2.parallelism}", transformers_dtype=dtype)
    chosen = _remembered(record, key)
    if chosen == "ctranslate2":
        return ct2
    other = transformers()
    if chosen is None:
        rates = {engine.kind: batch_rate(engine) for engine in (ct2, other)}
        chosen = max(rates, key=rates.__getitem__)
        log.info("engine for batches of %s: %s (batched greedy tokens/s: %s)", path, chosen, rates)
        _remember(record, key, chosen, rates)
    return ct2 if chosen == "ctranslate2" else other


def batch_rate(engine: EngineBase) -> float:
    """Greedy tokens/s over a ``BATCH_ROWS``-chat batch (prefill included): the chats share the
    template's prefix and ask for answers longer than the burst, so rows do not end early."""
    chats = [[{"role": "user", "content": f"{_PROBE_PROMPT}Now write every whole number from {i} to {i + 60}, "
                                          "in words, separated by commas."}] for i in range(BATCH_ROWS)]
    engine.chat(chats, max_new_tokens=4)  # warms up: oneDNN builds a kernel per matmul shape
    t0 = time.perf_counter()
    out = engine.chat(chats, max_new_tokens=_PROBE_TOKENS)
    return sum(r.completion_tokens for r in out) / max(time.perf_counter() - t0, 1e-9)


def _key(path: Path, threads: int, **setting: Any) -> dict[str, Any]:
    """What a remembered choice depends on: the model, the CPU, the cores, the GEMM library, the setting."""
    return {"source": source_id(path), "cpu": cpu_model(), "threads": threads, "gemm": gemm_backend(),
            "measured": MEASURED, **setting}


def _remembered(record: Path, key: dict[str, Any]) -> Any:
    try:
        saved = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return saved.get("chosen") if isinstance(saved, dict) and saved.get("key") == key else None


def _remember(record: Path, key: dict[str, Any], chosen: Any, rates: dict[str, float]) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"key": key, "chosen": chosen, "tokens_per_s": rates}, indent=2))


def decide(rates: dict[str, float], formats: tuple[str, ...], layouts: tuple[int, ...]) -> CT2Setup:
    """Pure choice from measured one-stream rates keyed ``"<format>/<replicas>"``, where a format is a
    quantization, or ``int8@<gemm>`` for int8 on that GEMM library (``MKL_FORMATS``): the fastest
    int8 format when it beats float32 by ``INT8_MARGIN``, then the thread layout by ``REPLICA_MARGIN``."""

    def best(f: str) -> float:
        return max(rates[f"{f}/{r}"] for r in layouts)

    int8 = [f for f in formats if f.startswith("int8")]
    f = max(int8, key=best) if int8 else formats[0]
    if "float32" in formats and (not int8 or best(f) < INT8_MARGIN * best("float32")):
        f = "float32"
    many = max(layouts)
    replicas = many if rates[f"{f}/{many}"] >= REPLICA_MARGIN * rates[f"{f}/1"] else 1
    quantization, _, gemm = f.partition("@")
    return CT2Setup(quantization, replicas, gemm or None)


def measure_decode_rates(
    path: Path, formats: tuple[str, ...], layouts: tuple[int, ...], threads: int, rounds: int = 3
) -> dict[str, float]:
    """Greedy tokens/s of one stream for each format and replica count, best of ``rounds`` bursts,
    each setup in a process of its own (``stratos.serve.ct2_rate`` says why)."""
    from transformers import AutoTokenizer

    from stratos.serve.ct2_rate import rate_in_own_process

    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = tokenizer(_PROBE_PROMPT)["input_ids"] or [tokenizer.eos_token_id]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    rates = {}
    for f in formats:
        q, _, gemm = f.partition("@")
        for r in layouts:
            rates[f"{f}/{r}"] = rate_in_own_process(
                model_dir=str(path), quantization=q, threads=threads, replicas=r, tokens=tokens,
                length=_PROBE_TOKENS, rounds=rounds, gemm=gemm or None)
    return rates
