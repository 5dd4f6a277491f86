"""Turn (prompt, target) pairs into packed training blocks with completion-only labels.

Why packing: Mahjong examples are 40-150 tokens; padding each to the longest
wastes most of the compute. Examples are laid end to end in fixed-length
blocks; ``position_ids`` restart at 0 for every example, which transformers
turns into a block-diagonal causal mask (no example attends to another), so a
packed batch trains exactly like the same examples unpacked.
Labels are ``-100`` on prompt tokens: the loss is on the completion only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

IGNORE = -100


@dataclass
class Encoded:
    """One example's token ids and labels (prompt positions are ``IGNORE``)."""

    input_ids: list[int]
    labels: list[int]


def encode_pair(tokenizer: Any, prompt: str, target: str) -> Encoded:
    """Chat-render ``prompt`` as the user turn and ``target`` as the assistant turn, then tokenize.

    The assistant turn is what follows the rendered generation prompt, so the
    labels cover exactly what the model must produce at inference, end token included.
    """
    user = [{"role": "user", "content": prompt}]
    head = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": target}], tokenize=False)
    if not full.startswith(head):  # templates that rewrite earlier turns: fall back to plain concatenation
        full = head + target + (tokenizer.eos_token or "")
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    # Trailing template whitespace/newline tokens after the end token add nothing to learn.
    eos = tokenizer.eos_token_id
    if eos in full_ids[len(head_ids) :]:
        cut = full_ids.index(eos, len(head_ids)) + 1
        full_ids = full_ids[:cut]
    n = len(head_ids) if full_ids[: len(head_ids)] == head_ids else _common_prefix(head_ids, full_ids)
    return Encoded(full_ids, [IGNORE] * n + full_ids[n:])


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class Blocks:
    """Packed data: ``(n_blocks, seq_len)`` tensors."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    position_ids: torch.Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def n_tokens(self) -> int:
        return int((self.position_ids >= 0).sum())


def pack(examples: Sequence[Encoded], seq_len: int, pad_id: int) -> Blocks:
    """First-fit, in order: start a new block when the next example does not fit.

    Examples longer than ``seq_len`` are truncated (their loss still counts).
    Padding positions get label ``IGNORE`` and position id ``-1`` (read as 0 by
    the model, and marking padding for token counts).
    """
    blocks: list[tuple[list[int], list[int], list[int]]] = []
    cur: tuple[list[int], list[int], list[int]] = ([], [], [])
    for ex in examples:
        ids, labels = ex.input_ids[:seq_len], ex.labels[:seq_len]
        if len(cur[0]) + len(ids) > seq_len:
            blocks.append(cur)
            cur = ([], [], [])
        cur[0].extend(ids)
        cur[1].extend(labels)
        cur[2].extend(range(len(ids)))
    if cur[0]:
        blocks.append(cur)
    n = len(blocks)
    input_ids = torch.full((n, seq_len), pad_id, dtype=torch.long)
    labels = torch.full((n, seq_len), IGNORE, dtype=torch.long)
    pos = torch.full((n, seq_len), -1, dtype=torch.long)
    for i, (a, b, c) in enumerate(blocks):
        input_ids[i, : len(a)] = torch.tensor(a)
        labels[i, : len(b)] = torch.tensor(b)
        pos[i, : len(c)] = torch.tensor(c)
    return Blocks(input_ids, labels, pos)


def model_inputs(input_ids: torch.Tensor, position_ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """Forward kwargs for a packed batch.

    Padding (position ``-1``) becomes its own "sequence" starting at 0, which the
    packed-sequence mask keeps apart from real tokens; its labels are ignored.
    """
    pos = position_ids.clone()
    pad = pos < 0
    pos[pad] = 0
    return {"input_ids": input_ids, "position_ids": pos, "use_cache": False}
