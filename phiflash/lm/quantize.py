"""Weight-only int8 for the large linear layers: per-output-channel symmetric scales.

Batch-1 decode reads every weight once per token, so halving the bytes read is what speeds it up. The int8
matrix-vector product uses torch's fused `_weight_int8pack_mm` where it exists (CPU, bf16/fp32 activations),
else a dequantize-then-matmul fallback. Norms, A_log, D, conv, x_proj and dt_proj stay in higher precision.
The tied lm_head gets its own int8 copy (the embedding lookup keeps the original rows).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import PhiflashError

# Checkpoint-name suffixes of the layers worth quantizing (the 'big' projections).
QUANTIZED = ("in_proj", "out_proj", "Wqkv", "fc1", "fc2", "lm_head")


def quantize_weight(w: torch.Tensor, rows: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 weight (out, in) and float32 scales (out,) with w ≈ q * scale[:, None]; a block of rows at a time so
    the float32 temporaries stay small."""
    q = torch.empty(w.shape, dtype=torch.int8, device=w.device)
    scale = torch.empty(w.shape[0], dtype=torch.float32, device=w.device)
    for r in range(0, w.shape[0], rows):
        blk = w[r: r + rows].float()
        s = blk.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        q[r: r + rows] = torch.round(blk / s[:, None]).clamp(-127, 127)
        scale[r: r + rows] = s
    return q, scale


class Int8Linear(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype):
        super().__init__()
        q, scale = quantize_weight(weight)
        self.register_buffer("weight", q.contiguous())
        self.register_buffer("scales", scale.to(dtype))
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if x2.device.type == "cpu" and hasattr(torch, "_weight_int8pack_mm") and x2.dtype in (torch.bfloat16,
                                                                                             torch.float32):
            y = torch._weight_int8pack_mm(x2.contiguous(), self.weight, self.scales.to(x2.dtype))
        else:
            y = F.linear(x2, self.weight.to(x2.dtype)) * self.scales.to(x2.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)


def quantize_model(model: nn.Module, mode: str = "int8") -> nn.Module:
    if mode != "int8":
        raise PhiflashError(f"unknown quantization {mode!r}: only int8 is supported")
    dtype = model.dtype
    targets = [(name, mod) for name, mod in model.named_modules()
               if isinstance(mod, nn.Linear) and name.split(".")[-1] in QUANTIZED]
    for name, mod in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8Linear(mod.weight.detach(), mod.bias, dtype))
    return model
