"""Pure tensor functions with no parameters: bf16 linear layers, the selective scan, masks from positions,
differential attention.

Shapes use the docs/sambay-spec.md symbols: B batch, T tokens in this call, S keys, E Mamba inner width, N SSM state,
H query heads, Hkv key/value heads, dh head dim.
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F

from . import kernels

# ---- linear layers in bf16 ------------------------------------------------------------------------------------------

KERNEL_ROWS = 8  # up to here every CPU's bf16 linear layers go through phiflash's kernel (see linear)


@functools.cache
def _torch_bf16_matmul_fast() -> bool:
    """Whether torch's CPU bf16 matmul has hardware under it (AVX-512 BF16 or AMX, at torch's AVX-512 level):
    without it, torch runs a scalar loop (Zen 3: 2.8 ms for a 10240 x 2560 matvec, phiflash's kernel 1.6)."""
    if torch.backends.cpu.get_cpu_capability() != "AVX512":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _bf16_kernel_path(x: torch.Tensor, weight: torch.Tensor) -> int | None:
    """The kernel path for this call, or None for torch's F.linear: on a CPU, for bf16 weights, where the kernel has
    a SIMD path (x86: AVX2 and up) or PHIFLASH_KERNEL=portable asks for its plain C++ one (elsewhere, e.g. ARM,
    torch's own bf16 matmul is kept: the plain loop is not measured to beat it)."""
    if not (weight.dtype == torch.bfloat16 and weight.device.type == "cpu" and weight.is_contiguous()
            and x.dtype in (torch.bfloat16, torch.float32) and kernels.available()
            and (x.numel() // x.shape[-1] <= KERNEL_ROWS or not _torch_bf16_matmul_fast())):
        return None
    return _simd_or_asked_path()


def _simd_or_asked_path() -> int | None:
    """The chosen kernel path if it is a SIMD one, or the plain C++ one only where PHIFLASH_KERNEL=portable asks
    for it (where torch's own vectorised ops are not measured to lose to the plain loop)."""
    path = kernels.chosen_path()
    return path if path != kernels.PATHS["portable"] or kernels.choice() == "portable" else None


def _kernel_linear(x2: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, path: int) -> torch.Tensor:
    return torch.ops.phiflash.bf16_mm(x2, weight, bias, path)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear, through phiflash's bf16 kernel (kernels/bf16_mm.cpp: float32 sums, rounded once) for a bf16
    weight on a CPU (_bf16_kernel_path): always up to KERNEL_ROWS rows (decode, a speculative verify), and for any
    number of rows where torch's bf16 matmul is a scalar loop (on a Zen 3, 5x faster at 64 rows and still ahead at
    256). torch's F.linear elsewhere, and as the tests' twin. x (..., K), weight (N, K) → (..., N)."""
    path = _bf16_kernel_path(x, weight)
    if path is None:
        return F.linear(x, weight, bias)
    return _kernel_linear(x.reshape(-1, x.shape[-1]), weight, bias, path).view(*x.shape[:-1], weight.shape[0])


# ---- selective scan (Mamba-1) ---------------------------------------------------------------------------------------
#
# s_t = exp(Δ_t A) ⊙ s_{t-1} + Δ_t B_t x_t,   y_t = C_t · s_t        (all float32; the D skip is added by the caller)
#
# Two exact forms are kept. On a CPU at small batch the blocked loop wins by 15-50x (measured in
# benchmarks/scan.py); the chunked "segsum" form does O(Q) more work but fewer sequential steps, which is
# what parallel hardware wants. The cheaper "rescale" chunk form is deliberately absent: it overflows float32 as
# soon as |A|·ΣΔ over a chunk passes ~88 (see shared/design/style.md).


def scan_loop(dt: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor, x: torch.Tensor,
              state: torch.Tensor | None = None, block: int = 64, states: list | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequential scan, decays and inputs precomputed `block` steps at a time.

    dt, x: (B, T, E) fp32; A: (E, N); Bm, Cm: (B, T, N); state: (B, E, N) or None. Returns y (B, T, E), state.
    `states`, when given, receives the state after every step, (B, Q, E, N) per block: speculative decoding
    rolls back to any of them.
    """
    Bsz, T, E = x.shape
    s = x.new_zeros(Bsz, E, A.shape[1]) if state is None else state
    ys = []
    for t0 in range(0, T, block):
        t1 = min(T, t0 + block)
        dA = torch.exp(dt[:, t0:t1, :, None] * A)                                  # (B, Q, E, N)
        dBx = (dt[:, t0:t1] * x[:, t0:t1])[..., None] * Bm[:, t0:t1, None, :]      # (B, Q, E, N)
        hs = torch.empty_like(dA)
        for i in range(t1 - t0):
            s = torch.addcmul(dBx[:, i], dA[:, i], s, out=hs[:, i])
        ys.append(torch.einsum("bqen,bqn->bqe", hs, Cm[:, t0:t1]))
        if states is not None:
            states.append(hs)
    return torch.cat(ys, dim=1), s.clone() if T else s


def scan_chunked(dt: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor, x: torch.Tensor,
                 state: torch.Tensor | None = None, chunk: int = 8, states: list | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked "segsum" scan: inside a chunk s_t = Σ_{s≤t} exp(c_t − c_s) u_s + exp(c_t) s_0, with c = cumsum(Δ)·A.

    Every exponent is ≤ 0, so nothing overflows whatever the chunk size. Same arguments as scan_loop.
    """
    Bsz, T, E = x.shape
    s = x.new_zeros(Bsz, E, A.shape[1]) if state is None else state
    ys = []
    for t0 in range(0, T, chunk):
        t1 = min(T, t0 + chunk)
        Q = t1 - t0
        c = torch.cumsum(dt[:, t0:t1], dim=1)[..., None] * A                      # (B, Q, E, N), decreasing
        u = (dt[:, t0:t1] * x[:, t0:t1])[..., None] * Bm[:, t0:t1, None, :]       # (B, Q, E, N)
        seg = c[:, :, None] - c[:, None, :]                                      # (B, Qt, Qs, E, N)
        causal = torch.ones(Q, Q, dtype=torch.bool, device=x.device).tril()
        w = torch.exp(seg.masked_fill(~causal[None, :, :, None, None], float("-inf")))
        h = torch.einsum("btsen,bsen->bten", w, u) + torch.exp(c) * s[:, None]    # (B, Q, E, N)
        ys.append(torch.einsum("bten,btn->bte", h, Cm[:, t0:t1]))
        if states is not None:
            states.append(h)
        s = h[:, -1]
    return torch.cat(ys, dim=1), s.contiguous()


SCANS = {"loop": scan_loop, "chunked": scan_chunked}


def check_scan(name: str) -> str:
    if name not in SCANS:
        raise ValueError(f"unknown scan {name!r}; choose from {sorted(SCANS)}")
    return name


def advance_scan(dt, A, Bm, Cm, x, state: torch.Tensor, scan: str = "loop", states: list | None = None):
    """The scan over this call's T tokens from `state`, which is left holding the final state. A decode step
    (T = 1, no per-token states wanted) is one fused in-place update. Returns y (B, T, E)."""
    if x.shape[1] == 1 and states is None:
        return ssm_step(dt[:, 0], A, Bm[:, 0], Cm[:, 0], x[:, 0], state)[:, None]
    y, s = SCANS[scan](dt, A, Bm, Cm, x, state, states=states)
    state.copy_(s)
    return y


def causal_conv1d(xpad: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Depthwise causal conv over xpad (B, E, K-1+T), weight (E, 1, K): (B, T, E) with canonical strides (a plain
    transpose leaves strides that make the next matmul copy its weight on every call).

    Written as K shifted multiply-adds in float32, rounded once to the input's dtype: F.conv1d with groups=E runs
    one small convolution per channel on a CPU in bf16 (138,240 calls for a 4-token verify of the full model,
    127 ms a layer, measured on a Zen 3), and a decode step is only K multiply-adds per channel."""
    K = weight.shape[-1]
    T = xpad.shape[-1] - K + 1
    x32, w32 = xpad.float(), weight[:, 0].float()                                # (B, E, K-1+T), (E, K)
    c = x32[..., :T] * w32[:, :1]
    for k in range(1, K):
        c.addcmul_(x32[..., k:k + T], w32[:, k:k + 1])                          # tap K-1 is the current token
    if bias is not None:
        c += bias.float()[:, None]
    B, E, _ = c.shape
    return c.to(xpad.dtype).transpose(1, 2).reshape(-1, E).view(B, T, E)


def ssm_step(dt: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor, x: torch.Tensor,
             state: torch.Tensor) -> torch.Tensor:
    """One decode step, in place on state. dt, x: (B, E); Bm, Cm: (B, N); state (B, E, N). Returns y (B, E)."""
    state.mul_(torch.exp(dt[..., None] * A)).add_((dt * x)[..., None] * Bm[:, None, :])
    return torch.einsum("ben,bn->be", state, Cm)


def mamba_step_path(xz: torch.Tensor, *weights: torch.Tensor) -> int | None:
    """The kernel path for a Mamba decode step (kernels/mamba_step.cpp), or None for the torch ops of
    Mamba.forward: on a CPU, bf16 or float32, the weights in xz's dtype, where the kernel has a SIMD path (x86:
    AVX2 and up) or PHIFLASH_KERNEL=portable asks for its plain C++ one (elsewhere, e.g. ARM, torch's vectorised
    exp is kept: the plain loop's scalar exp is not measured to beat it)."""
    if not (xz.device.type == "cpu" and xz.dtype in (torch.bfloat16, torch.float32) and kernels.available()
            and all(w is None or w.dtype == xz.dtype for w in weights)):
        return None
    return _simd_or_asked_path()


# ---- attention --------------------------------------------------------------------------------------------------


def attention_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, window: int | None) -> torch.Tensor:
    """Boolean mask (B, 1, T, S) from absolute positions: causal, within `window` keys (itself included).

    q_pos (B, T), k_pos (B, S); a negative key position marks an empty slot.
    """
    q, k = q_pos[:, None, :, None], k_pos[:, None, None, :]
    mask = (k >= 0) & (k <= q)
    if window is not None:
        mask &= k > q - window
    return mask


def split_pairs(k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-head K,V (B, Hkv, S, dh) into the striped-pair layout the caches keep.

    K -> (2, B, P, S, dh): [0] the even heads (branch 1), [1] the odd heads (branch 2), P = Hkv/2 pairs.
    V -> (B, P, S, 2dh): pair m holds [v_2m ‖ v_2m+1], which both branches read.
    """
    B, Hkv, S, dh = k.shape
    P = Hkv // 2
    k2 = k.view(B, P, 2, S, dh).permute(2, 0, 1, 3, 4)
    v2 = v.view(B, P, 2, S, dh).permute(0, 1, 3, 2, 4).reshape(B, P, S, 2 * dh)
    return k2, v2


BATCHED_DECODE_KEYS = 1024  # up to here one batched matmul beats the per-pair loop (0.31 vs 0.85 ms at 300 keys)


KERNEL_QUERIES = 8  # up to here a row's queries (a decode step, a speculative verify) go to phiflash's kernel


def _kernel_attention(q, k, v, mask, scale):
    """phiflash's kernel (kernels/attention.cpp): float32, reading the cached bf16 K,V in place. torch's bf16
    matmuls run a scalar path on CPUs without AVX-512 BF16 (on a Zen 3: 4.8 ms a layer at 512 keys, the kernel
    0.16 ms). q (B, H, T, dh) → (T, B, P, 2, G, 2dh): both branches of each query pair."""
    B, _, T, _ = q.shape
    mask = None if mask is None else mask.expand(B, 1, T, mask.shape[-1])
    return torch.ops.phiflash.decode_attention(q, k, v, mask, scale, kernels.chosen_path())


def _branches(a, B, H, T, dh):
    """The kernel's (T, B, P, 2, G, 2dh) as the two branches (B, H/2, T, 2dh)."""
    return (a[:, :, :, i].permute(1, 2, 3, 0, 4).reshape(B, H // 2, T, 2 * dh) for i in (0, 1))


def _decode_attention(q, k, v, mask, scale, batched: bool | None = None):
    """One query per row, in torch (where phiflash's kernel does not run, and the tests' twin): both branches'
    queries of a key pair as the rows of one small matmul per (branch, row, pair), then both branches'
    probabilities against V in one matmul per (row, pair). Each K and V element is
    read once per layer, and nothing is copied: K and V are slices of the preallocated cache, whose batch stride
    is the full max_length, and a batched matmul copies them first (measured 6x slower at 16K keys). Up to
    BATCHED_DECODE_KEYS keys (every sliding-window layer, and short contexts) the batched matmuls are faster than
    the loop's 30 small calls a layer; `batched` forces either path (tests compare them)."""
    B, H, _, dh = q.shape
    P, S = v.shape[1], v.shape[2]
    G = H // 2 // P
    qg = torch.stack([q[:, 0::2], q[:, 1::2]]).reshape(2 * B * P, G, dh)                # (2BP, G, dh)
    if batched is None:
        batched = S <= BATCHED_DECODE_KEYS
    if batched:
        scores = torch.bmm(qg, k.reshape(2 * B * P, S, dh).transpose(1, 2))            # (2BP, G, S)
    else:
        scores = q.new_empty(2 * B * P, G, S)
        for i in range(2 * B * P):                             # i = (branch, row, pair); k[...] is (S, dh)
            torch.mm(qg[i], k[i // (B * P), (i // P) % B, i % P].t(), out=scores[i])
    scores = scores.float() * scale
    if mask is not None:
        scores = scores.view(2, B, P, G, S).masked_fill(~mask.view(1, B, 1, 1, S), float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(v.dtype).view(2, B, P, G, S)
    probs = probs.permute(1, 2, 0, 3, 4).reshape(B * P, 2 * G, S)                      # (BP, 2G, S)
    if batched:
        out = torch.bmm(probs, v.reshape(B * P, S, 2 * dh))                            # (BP, 2G, 2dh)
    else:
        out = q.new_empty(B * P, 2 * G, 2 * dh)
        for i in range(B * P):
            torch.mm(probs[i], v[i // P, i % P], out=out[i])
    a = out.view(B, P, 2, G, 2 * dh)
    return (a[:, :, i].reshape(B, H // 2, 1, 2 * dh) for i in (0, 1))


def _attention_kernel_runs(q: torch.Tensor, k: torch.Tensor) -> bool:
    return (q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float32)
            and k.dtype in (torch.bfloat16, torch.float32) and kernels.available())


def differential_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                           lam: torch.Tensor, lambda_init: float, subln_weight: torch.Tensor,
                           eps: float = 1e-5) -> torch.Tensor:
    """Differential attention core (docs/sambay-spec.md §4.9, arXiv 2410.05258): striped head pairs, GQA inside
    each branch. On a CPU, up to KERNEL_QUERIES queries a row (decode, a speculative verify) go through phiflash's
    kernel; longer calls (prefill) through torch's fused SDPA kernel (V split into two dh-wide halves); decode
    elsewhere through copy-free per-pair matmuls.

    q (B, H, T, dh); k (2, B, P, S, dh) and v (B, P, S, 2dh) in the split_pairs layout; mask (B, 1, T, S) bool.
    Returns (B, T, H·dh). Query pair j = heads (2j, 2j+1) reads key pair ⌊j/G⌋, G = (H/2)/P.
    """
    B, H, T, dh = q.shape
    scale = dh ** -0.5
    if T <= KERNEL_QUERIES and _attention_kernel_runs(q, k) and subln_weight.dtype == q.dtype:
        # the kernel's two branches, combined by kernels/attention.cpp's diff_combine: the lines below, one call
        a = _kernel_attention(q, k, v, mask, scale)                                    # (T, B, P, 2, G, 2dh)
        return torch.ops.phiflash.diff_combine(a, lam, lambda_init, subln_weight, eps)  # (B, T, H·dh)
    if T <= KERNEL_QUERIES and _attention_kernel_runs(q, k):
        a1, a2 = _branches(_kernel_attention(q, k, v, mask, scale), B, H, T, dh)     # (B, H/2, T, 2dh) each
    elif T == 1:
        a1, a2 = _decode_attention(q, k, v, mask, scale)
    else:
        # Prefill: torch's fused CPU attention (online softmax, no T×S matrix) needs equal q and v widths, so
        # each branch attends to the two dh-wide halves of V separately: 1.6-1.9x faster than one call on the
        # 2dh-wide V, which falls back to the materialising math kernel. The boolean mask becomes an additive
        # one once here, rather than once inside each of the four calls.
        if mask is not None:
            mask = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill_(~mask, float("-inf"))
        with _attention_kernel(q.dtype, q.device.type):
            a1, a2 = (torch.cat([F.scaled_dot_product_attention(q[:, i::2], k[i], v[..., h * dh:(h + 1) * dh],
                                                                attn_mask=mask, scale=scale, enable_gqa=True)
                                 for h in (0, 1)], dim=-1) for i in (0, 1))          # (B, H/2, T, 2dh)
    return combine_branches(a1, a2, lam, lambda_init, subln_weight, eps, q.dtype)


def combine_branches(a1: torch.Tensor, a2: torch.Tensor, lam: torch.Tensor, lambda_init: float,
                     subln_weight: torch.Tensor, eps: float, dtype: torch.dtype) -> torch.Tensor:
    """d = a1 − λ a2, RMS-normed over each head pair's 2dh, times the sub-norm weight and (1 − λ_init). a1, a2
    (B, H/2, T, 2dh) → (B, T, H·dh). (kernels/attention.cpp's diff_combine is this in one call; the tests' twin.)"""
    B, H2, T, W = a1.shape
    d = a1 - lam.to(a1.dtype) * a2
    d32 = d.float()
    d = (d32 * torch.rsqrt(d32.pow(2).mean(-1, keepdim=True) + eps)).to(dtype) * subln_weight
    d = d * (1 - lambda_init)
    # Output head 2j = d[j, :dh], head 2j+1 = d[j, dh:], so (H/2, 2dh) flattens straight into head order.
    return d.transpose(1, 2).reshape(B, T, H2 * W)                                     # (B, T, H·dh)


@functools.cache
def fused_attention_works(dtype: torch.dtype) -> bool:
    """Whether torch's fused CPU attention runs for `dtype` on this machine (probed once). torch 2.13 picks its AMX
    path from the hardware but packs with the kernels of the capability it runs at, so with
    ATEN_CPU_CAPABILITY=avx2 (or default) on an AMX machine, bf16 raises "pack_vnni2 is only supported when avx512
    is supported" from 64 tokens up."""
    q = torch.zeros(1, 1, 64, 16, dtype=dtype)
    try:
        F.scaled_dot_product_attention(q, q, q, attn_mask=torch.zeros(64, 64, dtype=dtype))
    except RuntimeError:
        return False
    return True


def _attention_kernel(dtype: torch.dtype, device: str):
    """torch's choice of attention kernel, or its math kernel (the same numbers, materialised) where the fused one
    does not run (fused_attention_works)."""
    if device != "cpu" or fused_attention_works(dtype):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return sdpa_kernel(SDPBackend.MATH)
