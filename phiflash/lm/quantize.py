"""Quantized weights for the large linear layers: int8 per output channel, or int4 in groups. (phiflash's kernels
also round each row of activations to int8 per block of 32 as they multiply; torch's, the fallback, do not.)

Batch-1 decode reads every weight once per token, so the bytes read are what set its speed. Norms, A_log, D,
conv, x_proj and dt_proj stay in higher precision; the tied lm_head gets its own quantized copy (the embedding
lookup keeps the original rows).

- int8: w ≈ q · scale[row], symmetric. Checkpoints store it in 16-row tiles (to_tiles8), read as stored by
  phiflash's kernel (kernels/int8_mm.cpp: int8 activations, integer dot products); torch's fused
  `_weight_int8pack_mm` runs where that kernel cannot be built, on rows converted at load.
- int4: asymmetric per (row, group of `group_size` inputs): w ≈ (q − 8) · scale + zero with q in 0..15 (the
  "tinygemm" form). Checkpoints store the nibbles in 16-row tiles (to_tiles), the layout of phiflash's own
  kernel (kernels/int4_mm.cpp: int8 activations, integer dot products, on every CPU), which reads them as
  stored. Where that kernel cannot be built (no C++ compiler) torch's `_weight_int4pack_mm_for_cpu` runs, on
  weights converted at load; elsewhere (other devices, shapes neither kernel takes) the weight is dequantized
  for each matmul: the same numbers, slower. Checkpoints of the earlier 64-row block layout (to_blocks) still
  load, converted.
"""

from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import PhiflashError
from . import kernels

MODES = ("int8", "int4")
GROUP_SIZE = 32  # int4: 0.079 relative error at 32 vs 0.090 at 64, for ~15% more time (speed-notes.md)
# Checkpoint-name suffixes of the layers worth quantizing (the 'big' projections).
QUANTIZED = ("in_proj", "out_proj", "Wqkv", "fc1", "fc2", "lm_head")
KERNEL_DTYPES = (torch.bfloat16, torch.float32)  # activations phiflash's and torch's CPU kernels take
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


def to_tiles8(q: torch.Tensor) -> torch.Tensor:
    """The checkpoint's int8 layout (rows a multiple of 16, inputs of 32), phiflash's kernel's own: tile after tile
    of 16 rows, each block of 32 inputs as 8 chunks of 64 bytes; in chunk c, byte 4r + j holds row r's input
    4c + j (kernels/int8_mm.cpp)."""
    n, k = q.shape
    return q.view(n // 16, 16, k // 32, 8, 4).permute(0, 2, 3, 1, 4).reshape(n, k)


def from_tiles8(tiles: torch.Tensor) -> torch.Tensor:
    n, k = tiles.shape
    return tiles.view(n // 16, k // 32, 8, 16, 4).permute(0, 3, 1, 2, 4).reshape(n, k)


def int8_tiles_fit(out_features: int, in_features: int) -> bool:
    """Whether an int8 weight can be stored in tiles (else checkpoints keep its rows)."""
    return out_features % 16 == 0 and in_features % 32 == 0


def int8_kernel(out_features: int, in_features: int, device: torch.device | str = "cpu") -> str:
    """Which kernel an int8 layer runs: "phiflash" (kernels/int8_mm.cpp, where it built) or "torch"
    (`_weight_int8pack_mm` on CPU, a float multiply elsewhere)."""
    if torch.device(device).type == "cpu" and int8_tiles_fit(out_features, in_features) and kernels.available():
        return "phiflash"
    return "torch"


class Int8Linear(nn.Module):
    def __init__(self, qweight: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype,
                 kernel: str | None = None, layout: str = "rows"):
        """qweight int8 (out, in) in `layout`: "rows", or "tiles16" (to_tiles8, what checkpoints store now)."""
        super().__init__()
        self.out_features, self.in_features = qweight.shape
        self.kernel = kernel or int8_kernel(self.out_features, self.in_features, qweight.device)
        if self.kernel == "phiflash" and not kernels.available():
            raise PhiflashError("phiflash's int8 kernel is not available here (it did not build)")
        if self.kernel == "phiflash":
            self.path = kernels.chosen_path()  # asked once: every call would read the environment again
            # as stored where the checkpoint holds tiles: a mapped file's pages are the kernel's weight
            tiles = qweight if layout == "tiles16" else to_tiles8(qweight)
            self.register_buffer("weight", tiles.contiguous())
        else:
            rows = from_tiles8(qweight) if layout == "tiles16" else qweight
            # The fused kernel reads the weight with aligned vector loads (it crashed on a safetensors tensor 40
            # bytes past a 64-byte boundary): such a tensor is copied once into aligned memory.
            rows = rows.contiguous()
            self.register_buffer("weight", rows.clone() if rows.data_ptr() % 64 else rows)
        self.register_buffer("scales", scales.to(dtype))
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)

    @classmethod
    def from_float(cls, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype,
                   kernel: str | None = None) -> Int8Linear:
        return cls(*quantize_int8(weight), bias, dtype, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel == "phiflash" and x.is_cpu and x.dtype in KERNEL_DTYPES:  # the kernel takes (..., in) as is
            y = torch.ops.phiflash.int8_mm(x, self._buffers["weight"], self._buffers["scales"], self.path)
            return y if self.bias is None else y + self.bias
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        cpu_dtype = x2.device.type == "cpu" and x2.dtype in KERNEL_DTYPES
        if cpu_dtype:
            y = torch._weight_int8pack_mm(x2.contiguous(), self.weight, self.scales.to(x2.dtype))
        else:
            y = F.linear(x2, self.rows().to(x2.dtype)) * self.scales.to(x2.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)

    def rows(self) -> torch.Tensor:
        """The int8 weight (out, in) as rows, whatever the kernel's layout."""
        return from_tiles8(self.weight) if self.kernel == "phiflash" else self.weight


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


def to_tiles(nibbles: torch.Tensor) -> torch.Tensor:
    """The checkpoint's int4 layout (rows a multiple of 16, inputs of 32), phiflash's kernel's own: tile after
    tile of 16 rows, each block of 32 inputs as 4 chunks of 64 bytes; in chunk c, byte 4r + j holds row r's
    input 4c + j (low nibble) and 16 + 4c + j (high nibble). See kernels/int4_mm.cpp for why."""
    n, half = nibbles.shape
    out = torch.empty_like(nibbles)
    for r in range(0, n, _ROWS):
        nb = nibbles[r: r + _ROWS]
        q = torch.stack([nb & 0xF, nb >> 4], dim=-1).view(-1, 16, half // 16, 2, 4, 4)  # t r b h c j
        q = q.permute(0, 2, 3, 4, 1, 5)                                                   # t b h c r j
        out[r: r + _ROWS] = (q[:, :, 0] | (q[:, :, 1] << 4)).reshape(-1, half)
    return out


def from_tiles(tiles: torch.Tensor) -> torch.Tensor:
    """The inverse of to_tiles: nibbles (out, in/2), the even input in the low nibble."""
    n, half = tiles.shape
    out = torch.empty_like(tiles)
    for r in range(0, n, _ROWS):
        tb = tiles[r: r + _ROWS].view(-1, half // 16, 4, 16, 4)                          # t b c r j
        q = torch.stack([tb & 0xF, tb >> 4], dim=2)                                       # t b h c r j
        q = q.permute(0, 4, 1, 2, 3, 5).reshape(-1, half * 2)                             # (rows, in)
        out[r: r + _ROWS] = q[:, 0::2] | (q[:, 1::2] << 4)
    return out


def scales_to_tiles(sz: torch.Tensor) -> torch.Tensor:
    """scales_and_zeros (in/g, out, 2) → the kernel's (out/16, in/g, 2, 16): per tile and group, 16 scales then
    16 zeros, so one tile's scales for a group are one 64-byte line (bf16)."""
    groups, n, _ = sz.shape
    return sz.view(groups, n // 16, 16, 2).permute(1, 0, 3, 2).contiguous()


def scales_from_tiles(st: torch.Tensor) -> torch.Tensor:
    tiles, groups, _, _ = st.shape
    return st.permute(1, 0, 3, 2).reshape(groups, tiles * 16, 2).contiguous()


def to_rows(weight: torch.Tensor, layout: str) -> torch.Tensor:
    """Nibble rows from a stored layout: "rows", "tiles16" (to_tiles) or "blocks64" (to_blocks, the format of
    checkpoints written before the tiles)."""
    return {"rows": lambda w: w, "tiles16": from_tiles, "blocks64": from_blocks}[layout](weight)


def int4_kernel(out_features: int, in_features: int, group_size: int, device: torch.device | str = "cpu") -> str:
    """Which kernel an int4 layer runs: "phiflash" (kernels/int4_mm.cpp, where it built), "torch"
    (`_weight_int4pack_mm_for_cpu`) or "dequantize"."""
    cpu = torch.device(device).type == "cpu"
    if (cpu and out_features % 16 == 0 and in_features % 32 == 0 and group_size % 32 == 0
            and kernels.available()):
        return "phiflash"
    return "torch" if kernel_usable(out_features, device) else "dequantize"


class Int4Linear(nn.Module):
    def __init__(self, weight: torch.Tensor, sz: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype,
                 group_size: int = GROUP_SIZE, kernel: str | None = None, layout: str = "rows"):
        """weight: nibbles (out, in/2) in `layout` (to_rows); sz: scales_and_zeros (in/g, out, 2); kernel: as
        int4_kernel chooses, or forced ("phiflash", "torch", "dequantize")."""
        super().__init__()
        self.out_features, self.in_features = weight.shape[0], weight.shape[1] * 2
        self.group_size = group_size
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)
        self.kernel = kernel or int4_kernel(self.out_features, self.in_features, group_size, weight.device)
        if self.kernel == "phiflash" and not kernels.available():
            raise PhiflashError("phiflash's int4 kernel is not available here (it did not build)")
        if self.kernel == "phiflash":
            self.path = kernels.chosen_path()  # asked once: every call would read the environment again
            # as stored where the checkpoint holds tiles: a mapped file's pages are the kernel's weight
            self.register_buffer("weight", (weight if layout == "tiles16" else to_tiles(to_rows(weight, layout)))
                                 .contiguous())
            self.register_buffer("scales_and_zeros", scales_to_tiles(sz.to(dtype)))
            return
        self.register_buffer("scales_and_zeros", sz.to(dtype).contiguous())
        if self.kernel == "torch" and layout == "blocks64" and blocks_are_kernel_layout():
            self.register_buffer("weight", weight.contiguous())  # torch's AVX-512 layout, as stored
        elif self.kernel == "torch":
            self.register_buffer("weight", pack_for_cpu(to_rows(weight, layout)))
        else:
            self.register_buffer("weight", to_rows(weight, layout).contiguous())

    @classmethod
    def from_float(cls, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype,
                   group_size: int = GROUP_SIZE, kernel: str | None = None) -> Int4Linear:
        return cls(*quantize_int4(weight, group_size), bias, dtype, group_size, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel == "phiflash" and x.is_cpu and x.dtype in KERNEL_DTYPES:  # the kernel takes (..., in) as is
            y = torch.ops.phiflash.int4_mm(x, self._buffers["weight"], self._buffers["scales_and_zeros"],
                                           self.group_size, self.path)
            return y if self.bias is None else y + self.bias
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        cpu_dtype = x2.device.type == "cpu" and x2.dtype in KERNEL_DTYPES
        if self.kernel == "torch" and cpu_dtype:
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(x2.contiguous(), self.weight, self.group_size,
                                                           self.scales_and_zeros.to(x2.dtype))
        else:
            y = F.linear(x2, self.dequantized().to(x2.dtype))
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)

    def dequantized(self) -> torch.Tensor:
        """The float32 weight this layer stands for (the naive twin of every kernel)."""
        if self.kernel == "phiflash":
            return dequantize_int4(from_tiles(self.weight), scales_from_tiles(self.scales_and_zeros).float(),
                                   self.group_size)
        if self.kernel == "torch":
            raise PhiflashError("torch's packed int4 weight cannot be unpacked here; quantize with another kernel")
        return dequantize_int4(self.weight, self.scales_and_zeros.float(), self.group_size)


# ---- a whole model -----------------------------------------------------------------------------------------------


def int4_fits(out_features: int, in_features: int, group_size: int = GROUP_SIZE) -> bool:
    """int4 needs whole groups along the input, and whole tiles of 16 rows and 32 inputs (the checkpoint layout,
    to_tiles); rows stay a multiple of 64 as before, so a model's choice of int4 layers did not change."""
    return in_features % group_size == 0 and in_features % 32 == 0 and out_features % 64 == 0


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
