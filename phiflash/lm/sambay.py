"""SambaY (Phi-4-mini-flash-reasoning) in pure PyTorch, read top to bottom.

The architecture is SambaY (Ren et al., "Decoder-Hybrid-Decoder Architecture for Efficient Reasoning with Long
Generation", arXiv 2507.06607): a YOCO-style split (Sun et al., "You Only Cache Once", arXiv 2405.05254) into a
self-decoder of Mamba (Gu & Dao, arXiv 2312.00752) and sliding-window differential attention (Ye et al.,
"Differential Transformer", arXiv 2410.05258), and a cross-decoder that reuses one full-attention layer's K,V and
the Gated Memory Units that SambaY introduces. Section numbers (§) refer to docs/sambay-spec.md in this repository,
which gives every tensor name, shape and equation with its source.

Glossary (docs/sambay-spec.md §1.3): D hidden_size, F intermediate_size, H query heads, Hkv key/value heads, dh = D/H,
E = mamba_expand·D Mamba inner width, N mamba_d_state, K mamba_d_conv, R dt_rank, W sliding window, L layers.

Layout (§2): layers 0..L/2 alternate Mamba (even) and sliding-window differential attention (odd); layer L/2 is a
Mamba whose ungated SSM output y is the GMU memory M; layer L/2+1 is full differential attention whose K,V are the
only growing cache; layers above alternate a GMU (even, silu(u·W)⊙M) and cross-attention (odd, queries only,
reading layer L/2+1's K,V). Every layer is LayerNorm pre-norm + mixer + LayerNorm + SwiGLU MLP. No positional
encoding. The residual stream is float32; mixers and MLPs run in the model dtype; the scan runs in float32.

Module and parameter names are the checkpoint keys (§3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import ops
from .cache import Cache, Trail
from .config import CROSS_ATTN, FULL_ATTN, GMU, MAMBA, SWA, PhiFlashConfig


class LayerNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.to(self.weight.dtype))  # the float32 stream is cast to the weight dtype first


class Linear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.linear(x, self.weight, self.bias)  # phiflash's bf16 kernel on a CPU, else F.linear


class MLP(nn.Module):
    def __init__(self, config: PhiFlashConfig):
        super().__init__()
        self.fc1 = Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.fc2 = Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        gate, up = self.fc1(v).chunk(2, dim=-1)                                  # (B, T, F) each; gate first
        return self.fc2(F.silu(gate) * up)                                       # (B, T, D)


@dataclass
class Step:
    """What one model call hands to every mixer: the cache and the absolute positions of this call's tokens."""
    cache: Cache
    q_pos: torch.Tensor                      # (B, T) absolute positions of the tokens in this call
    n_keys: int                              # keys of the shared K,V to look at: max over rows of length + T
    memory: torch.Tensor | None = None       # (B, T, E) GMU memory from layer L/2
    shared_mask: torch.Tensor | None = None  # (B, 1, T, n_keys) causal mask over the shared K,V, built once
    trail: Trail | None = None               # filled for Cache.keep when the call may be rolled back
    scan: str = "loop"                       # the prefill scan (ops.SCANS)
    window_masks: dict = field(default_factory=dict)  # (window, keys) -> the sliding-window layers' mask

    def mask_for_shared_kv(self) -> torch.Tensor:
        """The same for layer L/2+1 and every cross-attention layer of this call, so it is built once."""
        if self.shared_mask is None:
            k_pos = torch.arange(self.n_keys, device=self.q_pos.device).expand(self.q_pos.shape[0], self.n_keys)
            self.shared_mask = ops.attention_mask(self.q_pos, k_pos, None)
        return self.shared_mask

    def window_mask(self, k_pos: torch.Tensor, window: int) -> torch.Tensor:
        """The same for every sliding-window layer of this call (their rings hold the same positions), so built
        once: (B, 1, T, S)."""
        key = (window, k_pos.shape[-1])
        if key not in self.window_masks:
            self.window_masks[key] = ops.attention_mask(self.q_pos, k_pos, window)
        return self.window_masks[key]


def kept(module: nn.Module, name: str, sources: tuple[torch.Tensor, ...], compute) -> torch.Tensor:
    """compute(), a function of the weights `sources` alone, kept on the module while they hold the same values
    (storage and version), so a decode step does not compute it again in every layer. Computed afresh where
    autograd records (a kept tensor would tie one call's graph to the next) and for weights made in inference mode
    (they have no version to tell a change by)."""
    if torch.is_grad_enabled() or any(t.is_inference() for t in sources):
        return compute()
    key = tuple((t.data_ptr(), t._version) for t in sources)
    hit = module.__dict__.get(name)
    if hit is None or hit[0] != key:
        hit = module.__dict__[name] = (key, compute())
    return hit[1]


class Mamba(nn.Module):
    """Mamba-1 mixer (§4.5; Mamba, arXiv 2312.00752, Algorithm 2: selective scan with input-dependent Δ, B, C).
    With emit_memory (layer L/2) it also returns y before the z gate: the memory the GMUs read (arXiv 2507.06607)."""

    def __init__(self, config: PhiFlashConfig, layer_idx: int):
        super().__init__()
        D, E, N, K, R = (config.hidden_size, config.d_inner, config.mamba_d_state, config.mamba_d_conv,
                         config.dt_rank)
        self.layer_idx, self.d_state, self.dt_rank = layer_idx, N, R
        self.in_proj = Linear(D, 2 * E, bias=config.mamba_proj_bias)
        self.conv1d = nn.Conv1d(E, E, K, groups=E, bias=config.mamba_conv_bias)  # weight (E, 1, K)
        self.x_proj = Linear(E, R + 2 * N, bias=False)
        self.dt_proj = Linear(R, E, bias=True)
        self.A_log = nn.Parameter(torch.empty(E, N, dtype=torch.float32))
        self.D = nn.Parameter(torch.empty(E, dtype=torch.float32))
        self.out_proj = Linear(E, D, bias=config.mamba_proj_bias)

    def forward(self, u: torch.Tensor, step: Step, emit_memory: bool = False):
        cache, i = step.cache, self.layer_idx
        xz = self.in_proj(u)                                                     # (B, T, 2E)
        if xz.shape[1] == 1 and step.trail is None:
            path = ops.mamba_step_path(xz, self.conv1d.weight, self.conv1d.bias, self.dt_proj.weight)
            if path is not None:
                return self._decode_step(xz[:, 0], cache, emit_memory, path)
        x, z = xz.chunk(2, dim=-1)                                               # (B, T, E) each
        # causal depthwise conv over [previous K-1 inputs ‖ this call's inputs]; tap K-1 is the current token
        xpad = cache.conv_input(i, x, step.trail)                                # (B, E, K-1+T)
        c = F.silu(ops.causal_conv1d(xpad, self.conv1d.weight, self.conv1d.bias))  # (B, T, E)
        delta, Bm, Cm = self.x_proj(c).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(ops.linear(delta, self.dt_proj.weight).float() + self.dt_proj.bias.float())  # (B, T, E)
        A = self.decay_rates()                                                   # (E, N)
        c32 = c.float()
        # s_t = exp(Δ_t A) ⊙ s_{t-1} + Δ_t B_t x_t,  y_t = C_t · s_t  (float32, from the cached state)
        y = cache.advance_ssm(i, dt, A, Bm.float(), Cm.float(), c32, step.scan, step.trail)  # (B, T, E)
        y = y + self.D.float() * c32                                             # (B, T, E) fp32, D skip
        if emit_memory:
            memory = y.to(u.dtype)                                               # M: after D, before the gate
            return self.out_proj(F.silu(z) * memory), memory
        return self.out_proj((y * F.silu(z.float())).to(u.dtype)), None

    def decay_rates(self) -> torch.Tensor:
        """A = −exp(A_log) (E, N) float32: E·N exps a layer that a decode step need not repeat."""
        return kept(self, "_A", (self.A_log,), lambda: -torch.exp(self.A_log.float()))

    def _decode_step(self, xz: torch.Tensor, cache: Cache, emit_memory: bool, path: int):
        """forward for one token a row, its steps between the two big matmuls fused into kernels/mamba_step.cpp
        (rounded at the same points; the tests compare it with the torch ops above): they were ~40 small ops."""
        i = self.layer_idx
        c = torch.ops.phiflash.mamba_conv_step(xz, cache.conv[i], self.conv1d.weight, self.conv1d.bias, path)
        out, memory = torch.ops.phiflash.mamba_ssm_step(
            self.x_proj(c), c, xz, self.dt_proj.weight, self.dt_proj.bias, self.decay_rates(), self.D, cache.ssm[i],
            emit_memory, path)                                                   # (B, E) each
        return self.out_proj(out[:, None]), memory[:, None] if emit_memory else None


class InnerCrossAttn(nn.Module):
    """The λ vectors and sub-norm of differential attention (checkpoint prefix `inner_cross_attn`)."""

    def __init__(self, config: PhiFlashConfig, layer_idx: int):
        super().__init__()
        dh = config.head_dim
        self.lambda_init = PhiFlashConfig.lambda_init(layer_idx)
        self.lambda_q1 = nn.Parameter(torch.empty(dh, dtype=torch.float32))
        self.lambda_k1 = nn.Parameter(torch.empty(dh, dtype=torch.float32))
        self.lambda_q2 = nn.Parameter(torch.empty(dh, dtype=torch.float32))
        self.lambda_k2 = nn.Parameter(torch.empty(dh, dtype=torch.float32))
        self.subln = nn.RMSNorm(2 * dh, eps=1e-5)

    def forward(self, q, k, v, mask) -> torch.Tensor:
        lam = kept(self, "_lam", (self.lambda_q1, self.lambda_k1, self.lambda_q2, self.lambda_k2), self.lam)
        return ops.differential_attention(q, k, v, mask, lam, self.lambda_init, self.subln.weight)

    def lam(self) -> torch.Tensor:
        """λ = exp(λq1 · λk1) − exp(λq2 · λk2) + λ_init, a float32 scalar."""
        return (torch.exp(torch.sum(self.lambda_q1 * self.lambda_k1).float())
                - torch.exp(torch.sum(self.lambda_q2 * self.lambda_k2).float()) + self.lambda_init)


class DiffAttention(nn.Module):
    """Differential attention (§4.8-4.10; arXiv 2410.05258: the difference of two softmax maps, scaled by a learned
    λ, then a per-head norm and (1 − λ_init)): sliding-window, full (owner of the shared K,V, the one cache YOCO
    keeps, arXiv 2405.05254) or cross (queries only, reading that K,V)."""

    def __init__(self, config: PhiFlashConfig, layer_idx: int):
        super().__init__()
        self.layer_idx, self.kind, self.window = layer_idx, config.layer_kind(layer_idx), config.window(layer_idx)
        self.H, self.Hkv, self.dh = config.num_attention_heads, config.num_key_value_heads, config.head_dim
        q_out = self.H * self.dh
        kv_out = 0 if self.kind == CROSS_ATTN else 2 * self.Hkv * self.dh
        self.Wqkv = Linear(config.hidden_size, q_out + kv_out, bias=True)
        self.out_proj = Linear(self.H * self.dh, config.hidden_size, bias=True)
        self.inner_cross_attn = InnerCrossAttn(config, layer_idx)

    def forward(self, u: torch.Tensor, step: Step) -> torch.Tensor:
        Bsz, T, _ = u.shape
        cache, q_pos = step.cache, step.q_pos
        qkv = self.Wqkv(u)                                                       # (B, T, (H + 2Hkv)·dh)
        q = qkv[..., : self.H * self.dh].view(Bsz, T, self.H, self.dh).transpose(1, 2)  # (B, H, T, dh)
        if self.kind != CROSS_ATTN:
            kv = qkv[..., self.H * self.dh:].view(Bsz, T, 2, self.Hkv, self.dh).transpose(1, 3)
            k, v = ops.split_pairs(kv[:, :, 0], kv[:, :, 1])                     # (2, B, P, T, dh), (B, P, T, 2dh)
        if self.kind == SWA:
            k, v, k_pos = cache.window(self.layer_idx, k, v, q_pos, step.trail)  # the last W tokens and these
            mask = step.window_mask(k_pos, self.window)                          # (B, 1, T, W + T)
        else:
            if self.kind == FULL_ATTN:  # the owner of the shared K,V writes them; cross-attention only reads
                cache.write_shared(q_pos, k, v)
            k, v = cache.shared(step.n_keys)
            mask = step.mask_for_shared_kv()                                     # (B, 1, T, n_keys)
        return self.out_proj(self.inner_cross_attn(q, k, v, mask))               # (B, T, D)


class GatedMemoryUnit(nn.Module):
    """Gated memory unit (§4.7; SambaY, arXiv 2507.06607, eq. for the GMU): out_proj(silu(in_proj(u)) ⊙ M), M the
    memory of layer L/2's Mamba, so the layer costs two matmuls and holds no state of its own."""

    def __init__(self, config: PhiFlashConfig, layer_idx: int):
        super().__init__()
        self.in_proj = Linear(config.hidden_size, config.d_inner, bias=False)
        self.out_proj = Linear(config.d_inner, config.hidden_size, bias=False)

    def forward(self, u: torch.Tensor, step: Step) -> torch.Tensor:
        return self.out_proj(F.silu(self.in_proj(u)) * step.memory)              # (B, T, D)


class DecoderLayer(nn.Module):
    def __init__(self, config: PhiFlashConfig, layer_idx: int):
        super().__init__()
        self.kind = config.layer_kind(layer_idx)
        self.emits_memory = layer_idx == config.memory_layer
        self.input_layernorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        mixer = {MAMBA: Mamba, GMU: GatedMemoryUnit}.get(self.kind, DiffAttention)
        self.attn = mixer(config, layer_idx)
        self.post_attention_layernorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = MLP(config)

    def forward(self, h: torch.Tensor, step: Step) -> torch.Tensor:
        u = self.input_layernorm(h)                                              # (B, T, D) model dtype
        if self.kind == MAMBA:
            a, memory = self.attn(u, step, emit_memory=self.emits_memory)
            if memory is not None:
                step.memory = memory
        else:
            a = self.attn(u, step)
        h = h + a                       # float32 residual stream: a bf16 a is widened inside the add (exact)
        return h + self.mlp(self.post_attention_layernorm(h))


class PhiFlashModel(nn.Module):
    def __init__(self, config: PhiFlashConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.final_layernorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)


KEY_BUCKET = 256
PREFILL_CHUNK = 512  # prompt tokens per self-decoder call: bounds prefill memory at O(chunk·(W + chunk))


class PhiFlashForCausalLM(nn.Module):
    """The whole model. `forward` gives logits at every position; `prefill`/`decode` drive generation."""

    def __init__(self, config: PhiFlashConfig, scan: str = "loop"):
        """scan: the prefill scan, "loop" (fastest on a CPU) or "chunked" (ops.py: for parallel hardware)."""
        super().__init__()
        self.config, self.scan = config, ops.check_scan(scan)
        self.model = PhiFlashModel(config)
        self.lm_head = Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    @property
    def dtype(self) -> torch.dtype:
        return self.model.embed_tokens.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.model.embed_tokens.weight.device

    def new_cache(self, batch_size: int, max_length: int) -> Cache:
        return Cache.allocate(self.config, batch_size, max_length, dtype=self.dtype, device=self.device)

    # ---- the two halves of the stack ----------------------------------------------------------------------------

    def _self_decoder(self, input_ids: torch.Tensor, cache: Cache,
                      trail: Trail | None = None) -> tuple[torch.Tensor, Step]:
        """Layers 0..L/2+1 over input_ids (B, T), appended after each row's cached tokens. Advances the cache."""
        Bsz, T = input_ids.shape
        start = cache.lengths                                                    # (B,)
        n_keys = int(start.max()) + T
        if n_keys > cache.max_length:
            raise ValueError(f"sequence of {n_keys} tokens exceeds the cache's max_length {cache.max_length}")
        q_pos = start[:, None] + torch.arange(T, device=input_ids.device)        # (B, T)
        # Attend over a whole number of KEY_BUCKET slots of the shared K,V (the extra slots are masked by
        # position): buffers sized by the context then change size every KEY_BUCKET steps, not every step,
        # which kept the allocator from fragmenting (peak RSS grew ~1 MB per decoded token at the small config).
        step = Step(cache, q_pos, min(cache.max_length, -(-n_keys // KEY_BUCKET) * KEY_BUCKET), trail=trail,
                    scan=self.scan)
        if trail is not None:
            trail.start, trail.T = start.clone(), T
        h = self.model.embed_tokens(input_ids).float()                           # (B, T, D) float32 stream
        for layer in self.model.layers[: self.config.kv_layer + 1]:
            h = layer(h, step)
        cache.lengths += T
        return h, step

    def _cross_decoder(self, h: torch.Tensor, step: Step) -> torch.Tensor:
        """Layers L/2+2..L-1 and the head, for just the positions in h (B, T, D); returns logits (B, T, V)."""
        for layer in self.model.layers[self.config.kv_layer + 1:]:
            h = layer(h, step)
        return self.lm_head(self.model.final_layernorm(h))

    # ---- entry points -------------------------------------------------------------------------------------------

    def forward(self, input_ids: torch.Tensor, chunk: int = PREFILL_CHUNK) -> torch.Tensor:
        """Logits (B, T, V) at every position, the cross-decoder run over all of them (perplexity, tests)."""
        Bsz, T = input_ids.shape
        cache = self.new_cache(Bsz, T)
        parts = [self._self_decoder(input_ids[:, t0: t0 + chunk], cache) for t0 in range(0, T, chunk)]
        # the cross-decoder then runs chunk by chunk against all T keys: its mask stays O(chunk·T)
        return torch.cat([self._cross_decoder(h, Step(cache, step.q_pos, T, step.memory, scan=self.scan))
                          for h, step in parts], 1)

    def prefill(self, input_ids: torch.Tensor, cache: Cache, chunk: int = PREFILL_CHUNK) -> torch.Tensor:
        """Run a prompt (B, T) into the cache, `chunk` tokens per self-decoder call; logits (B, V) float32 for its
        last position only. The YOCO shortcut: the cross-decoder holds no state, so it runs for the last
        position alone."""
        for t0 in range(0, input_ids.shape[1], chunk):
            h, step = self._self_decoder(input_ids[:, t0: t0 + chunk], cache)
        last = Step(cache, step.q_pos[:, -1:], step.n_keys, step.memory[:, -1:])
        return self._cross_decoder(h[:, -1:], last)[:, 0].float()

    def extend(self, token_ids: torch.Tensor, cache: Cache, trail: Trail | None = None) -> torch.Tensor:
        """Append T tokens per row (B, T) in one call; float32 logits (B, T, V) after each of them. What
        speculative decoding verifies drafts with: equal, within rounding, to T single decode steps. With a
        Trail (T ≤ the sliding window), `cache.keep(trail, n)` afterwards keeps only each row's first n tokens."""
        h, step = self._self_decoder(token_ids, cache, trail)
        return self._cross_decoder(h, step).float()

    def decode(self, token_ids: torch.Tensor, cache: Cache) -> torch.Tensor:
        """One new token per row (B, 1) → logits (B, V) float32. Cost is independent of context except shared K,V."""
        if token_ids.dim() != 2 or token_ids.shape[1] != 1:
            raise ValueError(f"decode takes one token per row, shape (B, 1), not {tuple(token_ids.shape)}")
        h, step = self._self_decoder(token_ids, cache)
        return self._cross_decoder(h, step)[:, 0].float()
