"""bf16 linear layers with their weights packed once for oneDNN (CPU), not on every call.

Why: ``torch.nn.functional.linear`` on a bf16 CPU tensor hands oneDNN a plain
weight, which oneDNN reorders into its AMX/AVX512-BF16 blocked layout on every
call, so a decode step re-packs the whole model. torch has the packed path
(``mkldnn._reorder_linear_weight`` once, then ``mkldnn._linear_pointwise``), but
only ``torch.compile`` with freezing uses it, and compiling is slower than the
decoding it would speed up and recompiles as a batch's shape changes. Measured
on 2 Xeon cores (AMX), SmolLM2-135M in bf16, one decode step: 32 rows 54 -> 47
ms, one row 32 -> 24 ms; the outputs agree with the unpacked layers to bf16
rounding. float32 layers are left alone: packing them was slower for one row.

``pack(model)`` swaps the bf16 ``nn.Linear`` modules of a model the engine loaded
for itself (never a model someone else holds, such as the student in training).
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger("stratos.serve")

#: Rows oneDNN is told to expect when packing: a teacher's batch (any count works, this one is tuned).
PACKED_FOR_ROWS = 32


class PackedLinear(torch.nn.Module):
    """A bf16 ``nn.Linear`` whose weight oneDNN packed once; same inputs and outputs."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), PACKED_FOR_ROWS)
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        out = torch.ops.mkldnn._linear_pointwise(rows, self.packed, self.bias, "none", [], "")
        return out.reshape(*x.shape[:-1], self.out_features)


def pack(model: torch.nn.Module) -> int:
    """Replace ``model``'s bf16 CPU ``nn.Linear`` layers with ``PackedLinear``; returns how many.

    Nothing changes where oneDNN is missing or has no bf16 path on this CPU."""
    from stratos.device import bf16_supported

    if not (torch.backends.mkldnn.is_available() and bf16_supported("cpu")):
        return 0
    swaps = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Linear and child.weight.dtype == torch.bfloat16 and child.weight.device.type == "cpu"
    ]
    try:
        packed = [PackedLinear(child) for _, _, child in swaps]
    except RuntimeError as exc:  # an oneDNN build without this kernel: keep the plain layers
        log.warning("bf16 linear packing unavailable (%s); decoding with plain layers", exc)
        return 0
    for (parent, name, _), layer in zip(swaps, packed, strict=True):
        setattr(parent, name, layer)
    return len(packed)
