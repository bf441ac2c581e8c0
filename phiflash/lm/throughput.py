"""What a batch-1 decode step costs: the bytes of weights it reads, and the rate this machine reads them at.

A decode step reads every weight once (the embedding only one row), so tokens/s ≈ bandwidth / bytes read: the
bound that `phiflash info` shows and the benchmarks compare against.
"""

from __future__ import annotations

import copy
import time

import torch

from . import quantize as Q
from .config import PhiFlashConfig
from .sambay import Linear

MODES = ("bf16", "int8", "int4")


def read_bytes(config: PhiFlashConfig, mode: str = "bf16", head: str | None = None) -> int:
    """Bytes of weights one decode step reads with the big projections in `mode` (each layer's mode as
    quantize.layer_modes gives it); everything else in bf16, the embedding one row (a tied head is counted as
    the head)."""
    from .sambay import PhiFlashForCausalLM

    with torch.device("meta"):
        model = PhiFlashForCausalLM(config)
    modes = Q.layer_modes(model, mode, head) if mode != "bf16" else {}
    total, big = 0, set()
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and name.split(".")[-1] in Q.QUANTIZED:
            n, k = mod.weight.shape
            total += layer_bytes(n, k, modes.get(name, "bf16")) + (n * 2 if mod.bias is not None else 0)
            big.update(id(p) for p in mod.parameters(recurse=False))
    for name, p in model.named_parameters():
        if id(p) not in big:
            total += (config.hidden_size if name == "model.embed_tokens.weight" else p.numel()) * 2
    return total


def layer_bytes(n: int, k: int, mode: str) -> int:
    """Bytes of an (n, k) weight: bf16, int8 with a bf16 scale per row, int4 with a bf16 scale and zero per group."""
    if mode == "int4":
        return n * k // 2 + (k // Q.GROUP_SIZE) * n * 4
    return n * k + n * 2 if mode == "int8" else n * k * 2


def matvec_bandwidth(mode: str, seconds: float = 0.3) -> float:
    """GB/s of weights read by this mode's matrix-vector kernel, measured now over matrices that together
    exceed the last-level cache (so the figure is memory's, not the cache's)."""
    k, n = 4096, 4096
    x = torch.randn(1, k, dtype=torch.bfloat16)
    w = torch.randn(n, k, dtype=torch.bfloat16)
    if mode == "bf16":
        layer = Linear(k, n, bias=False).to(torch.bfloat16)  # what a bf16 model runs (ops.linear)
        layer.weight.data.copy_(w)
    elif mode == "int8":
        layer = Q.Int8Linear.from_float(w, None, torch.bfloat16)
    else:
        layer = Q.Int4Linear.from_float(w, None, torch.bfloat16)
    nbytes = layer_bytes(n, k, mode)
    copies = max(2, -(-256 * 2**20 // nbytes))  # 256 MB in all
    layers = [layer] + [copy.deepcopy(layer) for _ in range(copies - 1)]
    with torch.inference_mode():
        for lyr in layers:
            lyr(x)
        best, start = float("inf"), time.perf_counter()
        while time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            for lyr in layers:
                lyr(x)
            best = min(best, time.perf_counter() - t0)
    return copies * nbytes / best / 1e9
