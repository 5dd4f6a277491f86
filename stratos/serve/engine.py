"""The transformers engine: a batched decode loop over a Hugging Face causal LM (the fallback engine).

Why our own decode loop instead of ``model.generate``: the server batches
requests that each carry their own sampling parameters (temperature, top_p,
stop strings, max tokens) and streams tokens as they are made; ``generate``
takes one set of parameters per call and does not drop finished rows. Here
every row samples with its own settings, finished rows leave the batch (their
KV cache rows are dropped), and an optional callback sees each row's new text.

Batches are left-padded so every row's next token sits in the last column;
position ids are computed from the attention mask so padding does not shift
positions. ``temperature == 0`` is greedy decoding.

It runs any architecture transformers loads, and rows can join a running batch
(continuous batching); ``stratos.serve.engines.load_engine`` prefers CTranslate2
on CPU where it can convert the model, and uses this engine otherwise.

Reused by the distillation job (evaluate a student, run a local HF teacher)::

    engine = GenerationEngine.from_dir("artifacts/student", threads=2)
    outs = engine.generate(["2+2="], max_new_tokens=8)          # greedy
    outs[0].text, outs[0].prompt_tokens, outs[0].completion_tokens, outs[0].finish_reason
    engine.chat([[{"role": "user", "content": "hi"}]], max_new_tokens=16)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratos.exceptions import ArtifactError
from stratos.serve import attention
from stratos.serve.decoding import (  # noqa: F401 - re-exported: callers import them from here
    FinishReason,
    GenerationResult,
    Message,
    Request,
    Row,
    SamplingParams,
    TextCallback,
    eos_ids,
    shared_prefix,
)
from stratos.serve.engine_base import EngineBase


@dataclass
class DecodeBatch:
    """Rows being decoded together and their shared KV cache (opaque to callers except ``len``).

    Rows are left-padded: ``mask`` is 0 over padding, ``last_pos`` is each row's
    position of its latest token, ``next_ids`` the tokens to feed next.
    """

    rows: list[Row]
    cache: Any
    mask: Any
    last_pos: Any
    next_ids: Any

    def __len__(self) -> int:
        return len(self.rows)


class GenerationEngine(EngineBase):
    """A loaded model + tokenizer that decodes batches of prompts.

    Thread-safety: one forward pass runs at a time (a lock serialises calls),
    which is what the server's single generation worker wants.
    """

    kind = "transformers"

    def __init__(
        self, model: Any, tokenizer: Any, *, name: str = "model", max_context: int | None = None
    ):
        import torch

        # Neither the model nor the tokenizer is changed: the distillation job wraps the
        # model it is training (eval mode is entered per forward pass and restored).
        configured = getattr(model.config, "max_position_embeddings", None) or 2048
        super().__init__(
            tokenizer, name=name, max_context=max_context or configured, eos_ids=eos_ids(model, tokenizer)
        )
        self.model = model
        self.device = next(model.parameters()).device  # inputs, masks and generators live beside the weights
        # Padded positions are masked out, so any id works; many chat models have no pad token.
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else min(self.eos_ids or {0}))
        self._lock = threading.Lock()
        self._torch = torch

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_dir(
        cls,
        path: str | Path,
        *,
        threads: int | None = None,
        dtype: str = "float32",
        gguf_file: str | None = None,
        max_context: int | None = None,
        name: str | None = None,
        device: str = "cpu",
    ) -> GenerationEngine:
        """Load a HF causal LM dir (or a ``.gguf`` file, or a dir + ``gguf_file``) onto ``device``.

        ``threads`` caps torch's intra-op threads (CPU); ``dtype`` is a torch dtype
        name, or ``"auto"`` (see ``resolve_dtype``).
        """
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(int(threads))
        path = Path(path)
        if path.suffix == ".gguf" and path.is_file():
            gguf_file, path = path.name, path.parent
        if not path.exists():
            raise ArtifactError(
                f"model path {path} does not exist; pass a HF model dir or a .gguf file."
            )
        kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=getattr(torch, resolve_dtype(dtype, device)), **kwargs
            ).to(device)
        except (OSError, ValueError) as exc:
            raise ArtifactError(
                f"could not load a causal LM from {path}{f' ({gguf_file})' if gguf_file else ''}: {exc}. "
                "Pass a dir written by save_pretrained (config.json, weights, tokenizer)."
            ) from exc
        if device == "cpu":
            from stratos.serve.packed_linear import pack

            attention.use(model)  # no key/value copies per query head (see stratos.serve.attention)
            pack(model)  # bf16 weights packed for oneDNN once, not per call
        return cls(model, tokenizer, name=name or path.name, max_context=max_context)

    # ------------------------------------------------ step-wise API (continuous batching)
    def prefill(
        self, requests: Sequence[Request]
    ) -> tuple[DecodeBatch | None, list[tuple[Any, GenerationResult]]]:
        """Run the prompts and sample each row's first token.

        Returns the running batch (None when every row already finished) and the
        ``(tag, result)`` of rows that finished.
        """
        torch = self._torch
        if not requests:
            return None, []
        with self._lock, torch.inference_mode():
            rows = []
            for r in requests:
                self.check_length(len(r.ids), r.params)
                gen = None
                if r.params.temperature > 0 and r.params.seed is not None:
                    gen = torch.Generator(device=self.device).manual_seed(r.params.seed)
                rows.append(Row.for_request(r, generator=gen))
            prompts = [list(r.ids) for r in requests]
            shared = shared_prefix(prompts)
            input_ids, mask = self._left_pad([p[shared:] for p in prompts])
            cache = self._new_cache()
            if shared:  # run the shared tokens once, then give every row a copy of their cache
                cache = self._run(torch.tensor([prompts[0][:shared]], device=self.device), None, None, cache)[1]
                cache.batch_repeat_interleave(len(prompts))
                mask = torch.cat([mask.new_ones(len(prompts), shared), mask], dim=1)
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
            batch = DecodeBatch(rows, cache, mask, positions[:, -1:], None)
            done = self._forward(batch, input_ids, positions[:, shared:])
        return (batch if len(batch) else None), done

    def step(self, batch: DecodeBatch) -> list[tuple[Any, GenerationResult]]:
        """Decode one more token for every row of ``batch``; returns the rows that finished."""
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch), 1))], dim=1)
            batch.last_pos = batch.last_pos + 1
            return self._forward(batch, batch.next_ids, batch.last_pos)

    def can_merge(self, batch: DecodeBatch) -> bool:
        """True when new rows can join ``batch`` mid-decode (plain full-attention KV caches)."""
        from stratos.serve.kv_cache import is_plain

        layers = getattr(batch.cache, "layers", None)
        return bool(layers) and all(is_plain(layer) for layer in layers)

    def merge(self, a: DecodeBatch, b: DecodeBatch) -> DecodeBatch:
        """One batch holding ``a``'s rows then ``b``'s: caches left-padded to one length and stacked."""
        torch = self._torch
        with self._lock, torch.inference_mode():
            la, lb = a.mask.shape[1], b.mask.shape[1]
            width = max(la, lb)

            def pad(t: Any, n: int) -> Any:  # left-pad the sequence dim (-2 for K/V, -1 for masks)
                if n == 0:
                    return t
                shape = list(t.shape)
                dim = -2 if t.dim() == 4 else -1
                shape[dim] = n
                return torch.cat([t.new_zeros(shape), t], dim=dim)

            for la_layer, lb_layer in zip(a.cache.layers, b.cache.layers, strict=True):
                la_layer.keys = torch.cat(
                    [pad(la_layer.keys, width - la), pad(lb_layer.keys, width - lb)]
                )
                la_layer.values = torch.cat(
                    [pad(la_layer.values, width - la), pad(lb_layer.values, width - lb)]
                )
            a.mask = torch.cat([pad(a.mask, width - la), pad(b.mask, width - lb)])
            a.last_pos = torch.cat([a.last_pos, b.last_pos])
            a.next_ids = torch.cat([a.next_ids, b.next_ids])
            a.rows = a.rows + b.rows
            return a

    def _forward(
        self, batch: DecodeBatch, input_ids: Any, positions: Any
    ) -> list[tuple[Any, GenerationResult]]:
        """One forward pass + sampling; updates rows, drops finished ones, returns their results."""
        torch = self._torch
        logits, batch.cache = self._run(input_ids, batch.mask, positions, batch.cache)
        next_ids = self._sample(logits, batch.rows)
        keep: list[int] = []
        done: list[tuple[Any, GenerationResult]] = []
        # One copy to the host for the whole batch: on a GPU each int(next_ids[b]) waits for the device.
        for b, (token, row) in enumerate(zip(next_ids.tolist(), batch.rows, strict=True)):
            row.accept(token, self.eos_ids, self.decode)
            if row.finish is None:
                keep.append(b)
            else:
                done.append((row.tag, row.result()))
        batch.next_ids = next_ids.view(-1, 1)
        if len(keep) < len(batch.rows):
            idx = torch.tensor(keep, dtype=torch.long, device=batch.mask.device)
            if keep:
                batch.cache.batch_select_indices(idx)
            batch.mask, batch.next_ids, batch.last_pos = (
                batch.mask[idx],
                batch.next_ids[idx],
                batch.last_pos[idx],
            )
            batch.rows = [batch.rows[b] for b in keep]
            self._trim_left(batch)
        return done

    def _new_cache(self) -> Any:
        """A cache that grows in place (``stratos.serve.kv_cache``), or None (the model makes its own)
        for the few architectures with a cache of their own kind."""
        from stratos.serve.kv_cache import new_cache

        return new_cache(self.model) if self.model._supports_default_dynamic_cache() else None

    def _run(self, input_ids: Any, mask: Any, positions: Any, cache: Any) -> tuple[Any, Any]:
        """The model's last-position logits (float32) and its updated KV cache."""
        training = self.model.training
        if training:  # no dropout while generating; restored for the caller's training loop
            self.model.eval()
        try:
            out = self.model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                # Only the last position's logits are sampled; computing the LM head for every
                # prompt position (vocab x prompt x batch) dominated prefill on CPU.
                logits_to_keep=1,
            )
        finally:
            if training:
                self.model.train()
        return out.logits[:, -1, :].float(), out.past_key_values

    def _trim_left(self, batch: DecodeBatch) -> None:
        """Drop leading cache columns that are padding in every remaining row."""
        if not batch.rows:
            return
        used = batch.mask.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first > 0 and self.can_merge(batch):
            for layer in batch.cache.layers:
                layer.keys = layer.keys[..., first:, :]
                layer.values = layer.values[..., first:, :]
            batch.mask = batch.mask[:, first:]

    def _left_pad(self, seqs: list[list[int]]) -> tuple[Any, Any]:
        """(input_ids, attention_mask), padded on the left so every row ends in the last column.

        The width is rounded up to a multiple of 16: oneDNN (bf16 on CPU) caches kernels per
        matmul shape, and with one width per prompt length the server's RSS kept creeping up
        under load (the e2e load test caught it); 16-token buckets bound the shapes seen.
        """
        torch = self._torch
        width = -(-max(len(s) for s in seqs) // 16) * 16
        pad = self.pad_id
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], dtype=torch.long, device=self.device)
        mask = torch.tensor(
            [[0] * (width - len(s)) + [1] * len(s) for s in seqs], dtype=torch.long, device=self.device
        )
        return ids, mask

    def _sample(self, logits: Any, rows: list[Row]) -> Any:
        """Next token per row: argmax for greedy rows, top-p sampling for the others."""
        torch = self._torch
        out = logits.argmax(dim=-1)
        for b, row in enumerate(rows):
            p = row.params
            if p.greedy:
                continue
            probs = torch.softmax(logits[b] / p.temperature, dim=-1)
            if p.top_p < 1.0:
                sorted_p, order = probs.sort(descending=True)
                cum = sorted_p.cumsum(0)
                # keep the smallest prefix whose mass reaches top_p (always at least one token)
                cut = cum - sorted_p >= p.top_p
                # The most likely token always stays: a top_p below float32's range (1e-50)
                # compares as 0 and would cut everything (found by the schemathesis run).
                cut[0] = False
                sorted_p[cut] = 0.0
                probs = torch.zeros_like(probs).scatter_(0, order, sorted_p)
            out[b] = torch.multinomial(probs, 1, generator=row.generator)[0]
        return out


def resolve_dtype(dtype: str, device: str = "cpu") -> str:
    """``"auto"`` -> ``bfloat16`` on GPUs and CPUs with native bf16 (AVX512-BF16 / AMX), else ``float32``.

    Why: on such CPUs bf16 halves the bytes read per decoded token and runs
    batched matmuls about twice as fast (measured on SmolLM2-135M: decode step
    at batch 16 248 -> 121 ms, prefill 4.1 -> 0.9 s); elsewhere bf16 is
    emulated and slower than float32. Any other value is returned unchanged.
    """
    if dtype != "auto":
        return dtype
    from stratos.device import bf16_supported

    return "bfloat16" if bf16_supported(device) else "float32"
