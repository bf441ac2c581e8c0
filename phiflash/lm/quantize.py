"""Weight-only quantization of the large linear layers: int8 per output channel, or int4 in groups.

Batch-1 decode reads every weight once per token, so the bytes read are what set its speed. Norms, A_log, D,
conv, x_proj and dt_proj stay in higher precision; the tied lm_head gets its own quantized copy (the embedding
lookup keeps the original rows).

- int8: w ≈ q · scale[row], symmetric; torch's fused `_weight_int8pack_mm` on CPU.
- int4: asymmetric per (row, group of `group_size` inputs): w ≈ (q − 8) · scale + zero with q in 0..15, the form
  torch's CPU kernel `_weight_int4pack_mm_for_cpu` implements. Checkpoints store the nibbles in a fixed 64-row
  block layout (to_blocks) that is the AVX-512 kernel's own; where the CPU's packed layout differs (checked once),
  it is converted at load time. Elsewhere (other devices, shapes the kernel refuses) the weight is dequantized
  for each matmul: the same numbers, slower.
"""

from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import PhiflashError

MODES = ("int8", "int4")
GROUP_SIZE = 32  # int4: 0.079 relative error at 32 vs 0.090 at 64, for ~15% more time (speed-notes.md)
# Checkpoint-name suffixes of the layers worth quantizing (the 'big' projections).
QUANTIZED = ("in_proj", "out_proj", "Wqkv", "fc1", "fc2", "lm_head")
_ROWS = 4096  # rows handled at once: bounds float32 temporaries (a multiple of the kernel's 64-row blocks)


# ---- int8 ------------------------------------------------------------------------------------------------------


def quantize_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 weight (out, in) and float32 scales (out,) with w ≈ q · scale[:, None]."""
    q = torch.empty(w.shape, dtype=torch.int8, device=w.device)
    scale = torch.empty(w.shape[0], dtype=torch.float32, device=w.device)
    for r in range(0, w.shape[0], _ROWS):
        blk = w[r: r + _ROWS].float()
        s = blk.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        q[r: r + _ROWS] = torch.round(blk / s[:, None]).clamp(-127, 127)
        scale[r: r + _ROWS] = s
    return q, scale


class Int8Linear(nn.Module):
    def __init__(self, qweight: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype):
        super().__init__()
        # The fused kernel reads the weight with aligned vector loads (it crashed on a safetensors tensor 40 bytes
        # past a 64-byte boundary): such a tensor is copied once into aligned memory.
        qweight = qweight.contiguous()
        self.register_buffer("weight", qweight.clone() if qweight.data_ptr() % 64 else qweight)
        self.register_buffer("scales", scales.to(dtype))
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)
        self.out_features, self.in_features = qweight.shape

    @classmethod
    def from_float(cls, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype) -> Int8Linear:
        return cls(*quantize_int8(weight), bias, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if x2.device.type == "cpu" and x2.dtype in (torch.bfloat16, torch.float32):
            y = torch._weight_int8pack_mm(x2.contiguous(), self.weight, self.scales.to(x2.dtype))
        else:
            y = F.linear(x2, self.weight.to(x2.dtype)) * self.scales.to(x2.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)


# ---- int4 ------------------------------------------------------------------------------------------------------


def quantize_int4(w: torch.Tensor, group_size: int = GROUP_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Portable int4: nibbles (out, in/2) uint8, the even input column in the low nibble, and scales_and_zeros
    (in/group, out, 2) float32 with w ≈ (q − 8) · scale + zero for each row and group."""
    n, k = w.shape
    if k % group_size or k % 2:
        raise PhiflashError(f"int4 needs the input size ({k}) to be a multiple of the group size {group_size}")
    nibbles = torch.empty(n, k // 2, dtype=torch.uint8, device=w.device)
    sz = torch.empty(k // group_size, n, 2, dtype=torch.float32, device=w.device)
    for r in range(0, n, _ROWS):
        blk = w[r: r + _ROWS].float().reshape(-1, k // group_size, group_size)
        lo, hi = blk.amin(-1, keepdim=True), blk.amax(-1, keepdim=True)
        scale = ((hi - lo) / 15).clamp(min=1e-12)
        q = torch.round((blk - lo) / scale).clamp(0, 15).to(torch.uint8).reshape(-1, k)
        nibbles[r: r + _ROWS] = q[:, 0::2] | (q[:, 1::2] << 4)
        sz[:, r: r + _ROWS, 0] = scale.squeeze(-1).t()
        sz[:, r: r + _ROWS, 1] = (lo + 8 * scale).squeeze(-1).t()
    return nibbles, sz


def unpack_nibbles(nibbles: torch.Tensor) -> torch.Tensor:
    """(out, in/2) uint8 → (out, in) int32 values 0..15."""
    q = torch.empty(nibbles.shape[0], nibbles.shape[1] * 2, dtype=torch.int32, device=nibbles.device)
    q[:, 0::2] = (nibbles & 0xF).to(torch.int32)
    q[:, 1::2] = (nibbles >> 4).to(torch.int32)
    return q


def dequantize_int4(nibbles: torch.Tensor, sz: torch.Tensor, group_size: int) -> torch.Tensor:
    """The float32 weight that the int4 numbers stand for: the naive twin of the kernel."""
    q = unpack_nibbles(nibbles).float()
    n, k = q.shape
    scale, zero = sz[..., 0].t().reshape(n, k // group_size, 1), sz[..., 1].t().reshape(n, k // group_size, 1)
    return ((q.reshape(n, k // group_size, group_size) - 8) * scale + zero).reshape(n, k)


def _pack_by_torch(nibbles: torch.Tensor) -> torch.Tensor:
    """torch's own conversion, block by block so the int32 unpacking it needs stays small."""
    packed = [torch.ops.aten._convert_weight_to_int4pack_for_cpu(unpack_nibbles(nibbles[r: r + _ROWS]), 1)
              for r in range(0, nibbles.shape[0], _ROWS)]
    return torch.cat(packed) if len(packed) > 1 else packed[0]


def to_blocks(nibbles: torch.Tensor) -> torch.Tensor:
    """The int4 layout checkpoints store (rows a multiple of 64): in each block of 64 rows, for each input k in
    order, 32 bytes pairing row i (low nibble) with row i + 32 (high nibble). It is exactly what torch's AVX-512
    kernel reads, so there a checkpoint's weight is used as read, and elsewhere it is converted."""
    n, half = nibbles.shape
    a, b = nibbles.view(n // 64, 2, 32, half).unbind(1)                       # rows i and i + 32: (n/64, 32, K/2)
    out = torch.empty(n // 64, half, 2, 32, dtype=torch.uint8, device=nibbles.device)
    out[:, :, 0] = ((a & 0xF) | (b << 4)).transpose(1, 2)                      # even k: both low nibbles
    out[:, :, 1] = ((a >> 4) | (b & 0xF0)).transpose(1, 2)                     # odd k: both high nibbles
    return out.view(n, half)


def from_blocks(blocks: torch.Tensor) -> torch.Tensor:
    """The inverse of to_blocks: nibbles (out, in/2), the even input in the low nibble."""
    n, half = blocks.shape
    even, odd = blocks.view(n // 64, half, 2, 32).unbind(2)                    # (n/64, K/2, 32) each
    a = ((even & 0xF) | (odd << 4)).transpose(1, 2)                            # row i
    b = ((even >> 4) | (odd & 0xF0)).transpose(1, 2)                           # row i + 32
    return torch.stack([a, b], dim=1).reshape(n, half)


@functools.cache
def blocks_are_kernel_layout() -> bool:
    """Whether torch's packed int4 layout on this CPU is the checkpoint's block layout (a fact of the running
    torch and CPU, probed once)."""
    probe = torch.randint(0, 256, (128, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return torch.equal(to_blocks(probe), _pack_by_torch(probe))


def pack_for_cpu(nibbles: torch.Tensor) -> torch.Tensor:
    """The kernel's packed weight from nibble rows: by byte operations where that is the kernel's layout (5x
    faster than torch's conversion through int32), else by torch."""
    if nibbles.shape[0] % 64 == 0 and blocks_are_kernel_layout():
        return to_blocks(nibbles)
    return _pack_by_torch(nibbles)


def kernel_usable(out_features: int, device: torch.device | str = "cpu") -> bool:
    """torch's CPU int4 kernel packs rows in blocks of 16 (and packs block-wise in 64s)."""
    return torch.device(device).type == "cpu" and out_features % 16 == 0 and hasattr(
        torch.ops.aten, "_weight_int4pack_mm_for_cpu")


class Int4Linear(nn.Module):
    def __init__(self, nibbles: torch.Tensor, sz: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype,
                 group_size: int = GROUP_SIZE, use_kernel: bool | None = None, blocks: bool = False):
        """nibbles: rows (out, in/2), or with blocks=True the checkpoint's block layout (see to_blocks)."""
        super().__init__()
        self.out_features, self.in_features = nibbles.shape[0], nibbles.shape[1] * 2
        self.group_size = group_size
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)
        self.kernel = kernel_usable(self.out_features, nibbles.device) if use_kernel is None else use_kernel
        self.register_buffer("scales_and_zeros", sz.to(dtype).contiguous())
        if blocks and self.kernel and blocks_are_kernel_layout():
            self.register_buffer("weight", nibbles.contiguous())  # as read: the kernel's own layout
            return
        if blocks:
            nibbles = from_blocks(nibbles)
        if self.kernel:
            self.register_buffer("weight", pack_for_cpu(nibbles))
        else:
            self.register_buffer("weight", nibbles.contiguous())

    @classmethod
    def from_float(cls, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype,
                   group_size: int = GROUP_SIZE, use_kernel: bool | None = None) -> Int4Linear:
        return cls(*quantize_int4(weight, group_size), bias, dtype, group_size, use_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if self.kernel and x2.device.type == "cpu" and x2.dtype in (torch.bfloat16, torch.float32):
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(x2.contiguous(), self.weight, self.group_size,
                                                           self.scales_and_zeros.to(x2.dtype))
        else:
            w = dequantize_int4(self.weight, self.scales_and_zeros.float(), self.group_size)
            y = F.linear(x2, w.to(x2.dtype))
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)


# ---- a whole model -----------------------------------------------------------------------------------------------


def int4_fits(out_features: int, in_features: int, group_size: int = GROUP_SIZE) -> bool:
    """int4 needs whole groups along the input and whole 64-row blocks (the checkpoint layout, to_blocks)."""
    return in_features % group_size == 0 and out_features % 64 == 0


def layer_modes(model: nn.Module, mode: str, head: str | None = None, group_size: int = GROUP_SIZE) -> dict:
    """The mode of each big projection, by module name: `mode`, the lm_head `head` (default: `mode`; measured on
    a random 512-wide model, an int4 head adds 0.011 to the 0.258 relative logit error of an int4 body, and saves
    0.4 of 2.6 GB read per token at full scale). A layer int4 does not fit stays int8. The one rule for
    quantizing at load time, writing a quantized checkpoint and counting bytes read, so all three agree."""
    if mode not in MODES:
        raise PhiflashError(f"unknown quantization {mode!r}: choose {' or '.join(MODES)}")
    modes = {}
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear) and name.split(".")[-1] in QUANTIZED:
            want = (head or mode) if name == "lm_head" else mode
            fits = want == "int8" or int4_fits(mod.out_features, mod.in_features, group_size)
            modes[name] = want if fits else "int8"
    return modes


def quantize_model(model: nn.Module, mode: str = "int8", group_size: int = GROUP_SIZE,
                   head: str | None = None) -> nn.Module:
    """Replace the big projections by quantized ones (layer_modes), freeing each float weight as it goes."""
    modes = layer_modes(model, mode, head, group_size)
    dtype = model.dtype
    for name, layer_mode in modes.items():
        mod = model.get_submodule(name)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if layer_mode == "int4":
            new = Int4Linear.from_float(mod.weight.detach(), mod.bias, dtype, group_size)
        else:
            new = Int8Linear.from_float(mod.weight.detach(), mod.bias, dtype)
        setattr(parent, child, new)
    return model
