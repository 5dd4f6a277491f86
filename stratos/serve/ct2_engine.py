"""The CTranslate2 engine: the CPU fast path for architectures CTranslate2 converts (Llama, Qwen, Gemma...).

Why: a Python decode loop over transformers spends most of a small model's
step in framework overhead (4.6 ms for ~6 MFLOP on the 3M student);
CTranslate2 runs the same weights in C++ with fused kernels and int8 GEMMs.

How it differs from the transformers engine, and how the answers stay the same:

* One ``generate_batch`` call decodes a whole batch (rows finish and leave inside
  it), so ``prefill`` runs the batch to the end and returns no running batch;
  rows cannot join mid-decode. The batcher runs ``parallelism`` batches at once
  (one CTranslate2 replica each) so a late request does not wait for a long one.
* Prompts go in as token ids (as strings), greedy is ``sampling_topk=1``;
  stop strings, streaming, per-row ``max_tokens`` and cancellation use a
  per-token callback and the same ``Row`` rules as every engine.
* CTranslate2's random generator is per worker thread and cannot be seeded per
  request, so rows that sample *with a seed* are decoded by the transformers
  engine (loaded on first use): a seed gives the answer it gave before.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from stratos.serve.ct2_convert import (
    UnsupportedModel,
    convert_model,
    converted_dir,
    ctranslate2_module,
    gemm_backend,
)
from stratos.serve.decoding import GenerationResult, Request, Row, emit, eos_ids
from stratos.serve.engine import GenerationEngine
from stratos.serve.engine_base import EngineBase
from stratos.serve.prefix_cache import PrefixCache

log = logging.getLogger("stratos.serve")
Done = list[tuple[Any, GenerationResult]]


class CT2Engine(EngineBase):
    """A CTranslate2 ``Generator`` + the artifact's tokenizer; see the module docstring."""

    kind = "ctranslate2"

    def __init__(
        self,
        generator: Any,
        tokenizer: Any,
        *,
        name: str,
        max_context: int,
        eos: set[int],
        quantization: str,
        replicas: int = 1,
        sampler: Callable[[], EngineBase] | None = None,
    ) -> None:
        super().__init__(tokenizer, name=name, max_context=max_context, eos_ids=eos)
        self.generator = generator
        self.quantization = quantization
        self.parallelism = replicas
        self._end = sorted(self.eos_ids)
        self._sampler_factory = sampler
        self._sampler: EngineBase | None = None
        self._sampler_lock = threading.Lock()
        self.prefixes = PrefixCache()

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_dir(
        cls,
        path: str | Path,
        *,
        quantization: str = "float32",
        threads: int | None = None,
        replicas: int = 1,
        name: str | None = None,
        max_context: int | None = None,
    ) -> CT2Engine:
        """Load (converting once, then from the verified cache) a HF causal LM dir."""
        from transformers import AutoConfig, AutoTokenizer, GenerationConfig

        path = Path(path)
        if path.suffix == ".gguf":
            raise UnsupportedModel("a GGUF file (convert it to a HF dir first)")
        try:
            config = AutoConfig.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise UnsupportedModel(f"no readable config.json ({exc})") from exc
        entry = converted_dir(path, quantization)
        tokenizer = AutoTokenizer.from_pretrained(path)
        holder = _EosSource(config, _generation_config(GenerationConfig, path))
        return cls(
            _generator(entry, quantization, threads, replicas),
            tokenizer,
            name=name or path.name,
            max_context=max_context or getattr(config, "max_position_embeddings", None) or 2048,
            eos=eos_ids(holder, tokenizer),
            quantization=quantization,
            replicas=replicas,
            sampler=partial(GenerationEngine.from_dir, path, threads=threads, dtype="float32", name=name),
        )

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        quantization: str = "float32",
        threads: int | None = None,
        name: str = "model",
        max_context: int | None = None,
        replicas: int | None = None,
    ) -> CT2Engine:
        """Convert a model held in memory (the job's student mid-training); nothing is cached.

        ``replicas`` defaults to one per thread (a core each): this process also runs torch, whose
        OpenMP threads keep spinning after a training step, and a CTranslate2 step split over the
        same cores then waits on them (measured on 2 cores: a 128-question evaluation right after
        training steps 2.5x slower, one stream up to 20x); single-threaded replicas need no partner
        thread, and ``run`` shares a batch over them.
        """
        replicas = replicas or threads or os.cpu_count() or 1
        tmp = Path(tempfile.mkdtemp(prefix="stratos-ct2-"))
        try:
            convert_model(model, tokenizer, tmp / "model", quantization)
            generator = _generator(tmp / "model", quantization, threads, replicas)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # the generator holds the weights in memory
        base = getattr(model, "_orig_mod", model)
        return cls(
            generator,
            tokenizer,
            name=name,
            max_context=max_context or getattr(base.config, "max_position_embeddings", None) or 2048,
            eos=eos_ids(base, tokenizer),
            quantization=quantization,
            replicas=replicas,
            sampler=partial(GenerationEngine, model, tokenizer, name=name),
        )

    # ---------------------------------------------------------------- decoding
    def prefill(self, requests: Sequence[Request]) -> tuple[None, Done]:
        """Decode ``requests`` to the end: one CTranslate2 call per sampling setting, seeded rows aside."""
        groups: dict[tuple[float, float], list[Request]] = defaultdict(list)
        seeded: list[Request] = []
        for r in requests:
            self.check_length(len(r.ids), r.params)
            p = r.params
            if p.greedy:
                groups[(0.0, 1.0)].append(r)
            elif p.seed is not None:
                seeded.append(r)
            else:
                groups[(p.temperature, p.top_p)].append(r)
        done: Done = []
        for (temperature, top_p), group in groups.items():
            # CTranslate2 4.8 returns a longer prompt's tail as generated tokens when a
            # one-token prompt shares its batch (min prompt length 1): decode those apart.
            for part in (
                [r for r in group if len(r.ids) == 1],
                [r for r in group if len(r.ids) > 1],
            ):
                if part:
                    done += self._generate(part, temperature, top_p)
        if seeded:
            done += self.sampler.run(seeded)
        return None, done

    def run(self, requests: Sequence[Request]) -> Done:
        """Decode ``requests`` to the end; with several replicas, split them so every replica
        decodes a share at once (the batcher instead runs one batch per replica itself)."""
        parts = min(self.parallelism, len(requests))
        if parts <= 1:
            return super().run(requests)
        shares = [list(requests[i::parts]) for i in range(parts)]
        with ThreadPoolExecutor(parts) as pool:
            return [pair for done in pool.map(lambda share: self.prefill(share)[1], shares) for pair in done]

    def step(self, batch: Any) -> Done:  # pragma: no cover - prefill never returns a batch
        raise RuntimeError("the ctranslate2 engine finishes every batch in prefill")

    @property
    def sampler(self) -> EngineBase:
        """The transformers engine for seeded sampling (loaded on first use)."""
        with self._sampler_lock:
            if self._sampler is None:
                if self._sampler_factory is None:
                    raise RuntimeError("no transformers engine to decode seeded samples with")
                log.info("loading the transformers engine for seeded sampling")
                self._sampler = self._sampler_factory()
            return self._sampler

    def _generate(self, requests: list[Request], temperature: float, top_p: float) -> Done:
        rows = [Row.for_request(r) for r in requests]
        longest = max(r.params.max_new_tokens for r in requests)
        # Without hooks CTranslate2 runs with no Python per token and rows are read off its results.
        # A lone row needs them only to stream, stop or cut; early answers and cancellation matter
        # when rows share a call (a finished row is answered while the others decode).
        hooks = any(r.on_text or r.params.stop or r.params.max_new_tokens != longest for r in requests) or (
            len(requests) > 1 and any(r.cancelled or r.on_done for r in requests)
        )
        with self._tok_lock:
            tokens = [self.tokenizer.convert_ids_to_tokens(list(r.ids)) for r in requests]
        shared, keep_state = self.prefixes.choose(tokens)
        results = self.generator.generate_batch(
            [t[shared:] for t in tokens],
            static_prompt=tokens[0][:shared] or None,
            cache_static_prompt=keep_state,
            max_length=longest,
            end_token=self._end,
            include_prompt_in_result=False,
            sampling_topk=1 if temperature == 0.0 else 0,
            # CTranslate2 reads top_p as float32, where a tiny positive value (5e-324) is 0 and
            # refused; any mass below the top token's keeps only that token, as 1e-6 does.
            sampling_topp=max(top_p, 1e-6),
            sampling_temperature=temperature or 1.0,
            callback=partial(self._on_step, rows) if hooks else None,
        )
        done: Done = []
        for row, res in zip(rows, results, strict=True):
            if row.finish is None:  # CTranslate2 ended the row (EOS or max_length)
                if not hooks:
                    row.ids = list(res.sequences_ids[0])
                row.finish = "length" if len(row.ids) >= row.params.max_new_tokens else "stop"
                row.text = self.decode(row.ids)
                if row.on_text is not None:
                    emit(row)
            done.append((row.tag, row.result()))
        return done

    def _on_step(self, rows: list[Row], step: Any) -> bool:
        """CTranslate2's per-token callback (its worker thread): True ends the row."""
        row = rows[step.batch_id]
        if row.finish is not None:
            return True
        try:
            row.accept(step.token_id, self.eos_ids, self.decode)
            if row.finish is not None and row.on_done is not None:
                row.on_done(row.result())
        except Exception:  # noqa: BLE001 - an exception must not unwind through C++
            log.exception("a row's callback failed; ending that row")
            row.finish = "cancelled"
        return row.finish is not None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "quantization": self.quantization, "replicas": self.parallelism,
                "gemm": gemm_backend(), "kept_prefix_tokens": self.prefixes.kept_tokens}


class _EosSource:
    """What ``eos_ids`` reads: the model config and (when present) the generation config."""

    def __init__(self, config: Any, generation_config: Any) -> None:
        self.config = config
        self.generation_config = generation_config


def _generation_config(cls: Any, path: Path) -> Any:
    try:
        return cls.from_pretrained(path)
    except OSError:
        return None


def _generator(model_path: Path, quantization: str, threads: int | None, replicas: int) -> Any:
    """A CTranslate2 ``Generator``, loaded on a thread that then ends.

    Why: loading quantizes and packs the weights in OpenMP regions on the loading
    thread, and libgomp keeps that thread's team (a thread per core, asleep) until
    the thread ends. While it lives the process holds more OpenMP threads than
    cores, so libgomp cuts every team's spin-wait to 1,000 turns (see
    ``GOMP_SPINCOUNT``) and a step split over cores sleeps and wakes at every op.
    Measured on 2 Xeon cores, the 3M student, one stream, int8 on MKL with 2 threads
    a step: 198 tokens/s loaded on the caller's thread, 3,711 loaded on its own
    (1 thread a step: 4,212 either way).
    """
    total = threads or os.cpu_count() or 1
    load = partial(
        ctranslate2_module().Generator,
        str(model_path),
        device="cpu",
        compute_type=quantization,
        inter_threads=replicas,
        intra_threads=max(1, total // replicas),
    )
    with ThreadPoolExecutor(1, thread_name_prefix="ct2-load") as loader:  # its thread ends on leaving
        return loader.submit(load).result()
