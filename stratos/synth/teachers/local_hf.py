"""A local Hugging Face causal LM as a teacher: a model dir, a hub id, a GGUF file,
or an offline zoo name (SmolLM2-135M-Instruct, Gemma 3 270M) converted once.

Batched generation reuses the serving engine layer: on the CPU, CTranslate2 or
the transformers engine, whichever decodes a batch faster on this host
(``stratos.serve.engines.load_batch_engine``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stratos.exceptions import TeacherError


class LocalHFTeacher:
    """Loads the model on first use, on ``device`` (``stratos.device``: auto = CUDA when present);
    ``batch_size`` prompts are decoded together."""

    def __init__(
        self,
        source: str,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        system_prompt: str | None = None,
        dtype: str = "bfloat16",
        device: str = "auto",
    ) -> None:
        self.source = source
        # bf16 halves a 135M teacher's CPU time on AVX512-BF16/AMX machines (measured 2x here)
        self.dtype = dtype
        self.name = source
        self.batch_size = batch_size
        self.threads = threads
        self.system_prompt = system_prompt
        self.device = device
        self._engine: Any = None

    @property
    def model_dir(self) -> str:
        from stratos.zoo.offline import resolve_model_source

        return resolve_model_source(self.source)

    def load(self) -> None:
        """Load the engine now (else the first call does)."""
        _ = self.engine

    @property
    def tokenizer_id(self) -> str | None:
        """Vocab fingerprint: teachers and students with the same one can share logits."""
        return tokenizer_fingerprint(self.engine.tokenizer)

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from stratos.device import resolve_device
            from stratos.serve.engine import GenerationEngine
            from stratos.serve.engines import load_batch_engine, load_engine

            where = resolve_device(self.device, setting="job.device")
            path = self.model_dir
            if not Path(path).exists():
                try:  # a hub id: let transformers download it (online users)
                    from transformers import AutoModelForCausalLM, AutoTokenizer

                    tok = AutoTokenizer.from_pretrained(path)
                    model = AutoModelForCausalLM.from_pretrained(path, dtype=self.dtype).to(where)
                except OSError as exc:
                    raise TeacherError(
                        f"teacher {self.source!r} is neither a local dir, a .gguf file, a known offline "
                        f"model nor a reachable hub id ({exc}). Pass a model dir or check the network."
                    ) from exc
                self._engine = GenerationEngine(model, tok, name=self.source)
            elif where != "cpu":
                self._engine = load_engine(path, threads=self.threads, dtype=self.dtype, name=self.source, device=where)
            else:
                # The teacher's accuracy is probed on the engine it generates with, so the faster
                # engine and weight format are safe here (the student's answers stay float32).
                self._engine = load_batch_engine(
                    path, quantization="auto", threads=self.threads, dtype=self.dtype, name=self.source
                )
        return self._engine

    def _render(self, prompt: str) -> str:
        messages = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": prompt})
        return self.engine.render_chat(messages)

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 128,
        seed: int = 0,
    ) -> list[list[str]]:
        rendered = [self._render(p) for p in prompts]
        out: list[list[str]] = [[] for _ in prompts]
        for k in range(n):
            # greedy decoding gives the same text every time: one pass is enough
            if k > 0 and temperature <= 0:
                for o in out:
                    o.append(o[0])
                continue
            for start in range(0, len(rendered), self.batch_size):
                chunk = rendered[start : start + self.batch_size]
                res = self.engine.generate(
                    chunk, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + k * 100003 + start
                )
                for i, r in enumerate(res):
                    out[start + i].append(r.text)
        return out


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A stable id for a vocabulary: sha256 of the sorted (token, id) pairs."""
    import hashlib
    import json

    vocab = tokenizer.get_vocab()
    return hashlib.sha256(json.dumps(sorted(vocab.items())).encode()).hexdigest()[:16]
