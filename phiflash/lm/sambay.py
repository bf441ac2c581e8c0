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

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import ops
from .cache import Cache, Trail
from .config import CROSS_ATTN, FULL_ATTN, GMU, MAMBA, SWA, PhiFlashConfig


class LayerNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.to(self.weight.dtype))  # the float32 stream is cast to the weight dtype first


class MLP(nn.Module):
    def __init__(self, config: PhiFlashConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

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

    def mask_for_shared_kv(self) -> torch.Tensor:
        """The same for layer L/2+1 and every cross-attention layer of this call, so it is built once."""
        if self.shared_mask is None:
            k_pos = torch.arange(self.n_keys, device=self.q_pos.device).expand(self.q_pos.shape[0], self.n_keys)
            self.shared_mask = ops.attention_mask(self.q_pos, k_pos, None)
        return self.shared_mask


class Mamba(nn.Module):
    """Mamba-1 mixer (§4.5; Mamba, arXiv 2312.00752, Algorithm 2: selective scan with input-dependent Δ, B, C).
    With emit_memory (layer L/2) it also returns y before the z gate: the memory the GMUs read (arXiv 2507.06607)."""

    def __init__(self, config: PhiFlashConfig, layer_idx: int):
        super().__init__()
        D, E, N, K, R = (config.hidden_size, config.d_inner, config.mamba_d_state, config.mamba_d_conv,
                         config.dt_rank)
        self.layer_idx, self.d_state, self.dt_rank = layer_idx, N, R
        self.in_proj = nn.Linear(D, 2 * E, bias=config.mamba_proj_bias)
        self.conv1d = nn.Conv1d(E, E, K, groups=E, bias=config.mamba_conv_bias)  # weight (E, 1, K)
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E, bias=True)
        self.A_log = nn.Parameter(torch.empty(E, N, dtype=torch.float32))
        self.D = nn.Parameter(torch.empty(E, dtype=torch.float32))
        self.out_proj = nn.Linear(E, D, bias=config.mamba_proj_bias)

    def forward(self, u: torch.Tensor, step: Step, emit_memory: bool = False):
        conv_state, ssm_state = step.cache.conv[self.layer_idx], step.cache.ssm[self.layer_idx]
        T = u.shape[1]
        x, z = self.in_proj(u).chunk(2, dim=-1)                                  # (B, T, E) each
        # Causal depthwise conv over [previous K-1 inputs ‖ this call's inputs]; tap K-1 is the current token.
        xpad = torch.cat([conv_state, x.transpose(1, 2)], dim=-1)                # (B, E, K-1+T)
        conv_state.copy_(xpad[..., xpad.shape[-1] - conv_state.shape[-1]:])
        trail = step.trail
        if trail is not None:
            trail.conv[self.layer_idx] = xpad
        if T == 1:  # decode: K taps per channel; a multiply-sum, where conv1d took ~0.3 ms a layer at full size
            c = (xpad * self.conv1d.weight[:, 0]).sum(-1, keepdim=True)          # (B, E, 1)
            c = F.silu(c + self.conv1d.bias[:, None] if self.conv1d.bias is not None else c)
        else:
            c = F.silu(F.conv1d(xpad, self.conv1d.weight, self.conv1d.bias, groups=xpad.shape[1]))
        # (B, T, E) with canonical strides: at T=1 a plain transpose leaves strides that make x_proj's matmul
        # copy its weight on every call
        c = c.transpose(1, 2).reshape(-1, c.shape[1]).view(u.shape[0], T, -1)
        delta, Bm, Cm = self.x_proj(c).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(F.linear(delta, self.dt_proj.weight).float() + self.dt_proj.bias.float())  # (B, T, E)
        A = -torch.exp(self.A_log.float())                                       # (E, N)
        c32, B32, C32 = c.float(), Bm.float(), Cm.float()
        if T == 1 and trail is None:
            y = ops.ssm_step(dt[:, 0], A, B32[:, 0], C32[:, 0], c32[:, 0], ssm_state)[:, None]
        else:
            states = [] if trail is not None else None
            before = ssm_state.clone() if trail is not None else None
            y, s = ops.selective_scan(dt, A, B32, C32, c32, ssm_state, states=states)
            ssm_state.copy_(s)
            if trail is not None:
                trail.ssm[self.layer_idx] = (before, torch.cat(states, dim=1))   # (B, E, N), (B, T, E, N)
        y = y + self.D.float() * c32                                             # (B, T, E) fp32, D skip
        if emit_memory:
            memory = y.to(u.dtype)                                               # M: after D, before the gate
            return self.out_proj(F.silu(z) * memory), memory
        return self.out_proj((y * F.silu(z.float())).to(u.dtype)), None


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
        lam = (torch.exp(torch.sum(self.lambda_q1 * self.lambda_k1).float())
               - torch.exp(torch.sum(self.lambda_q2 * self.lambda_k2).float()) + self.lambda_init)
        return ops.differential_attention(q, k, v, mask, lam, self.lambda_init, self.subln.weight)


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
        self.Wqkv = nn.Linear(config.hidden_size, q_out + kv_out, bias=True)
        self.out_proj = nn.Linear(self.H * self.dh, config.hidden_size, bias=True)
        self.inner_cross_attn = InnerCrossAttn(config, layer_idx)

    def forward(self, u: torch.Tensor, step: Step) -> torch.Tensor:
        Bsz, T, _ = u.shape
        cache, q_pos = step.cache, step.q_pos
        qkv = self.Wqkv(u)                                                       # (B, T, (H + 2Hkv)·dh)
        q = qkv[..., : self.H * self.dh].view(Bsz, T, self.H, self.dh).transpose(1, 2)  # (B, H, T, dh)
        if self.kind == SWA:
            kv = qkv[..., self.H * self.dh:].view(Bsz, T, 2, self.Hkv, self.dh).transpose(1, 3)
            k, v, k_pos = self._ring(*ops.split_pairs(kv[:, :, 0], kv[:, :, 1]), step)
            mask = ops.attention_mask(q_pos, k_pos, self.window)                 # (B, 1, T, W + T)
        else:
            if self.kind == FULL_ATTN:  # the owner of the shared K,V writes them at absolute positions
                kv = qkv[..., self.H * self.dh:].view(Bsz, T, 2, self.Hkv, self.dh).transpose(1, 3)
                _write(cache.k, cache.v, q_pos, *ops.split_pairs(kv[:, :, 0], kv[:, :, 1]))
            # its first n_keys positions; rows shorter than that are masked by position
            k, v = cache.k[..., : step.n_keys, :], cache.v[..., : step.n_keys, :]
            mask = step.mask_for_shared_kv()                                     # (B, 1, T, n_keys)
        return self.out_proj(self.inner_cross_attn(q, k, v, mask))               # (B, T, D)

    def _ring(self, k: torch.Tensor, v: torch.Tensor, step: Step):
        """Sliding-window keys: the ring of the last W cached tokens plus this call's tokens."""
        ring_k, ring_v = step.cache.ring_k[self.layer_idx], step.cache.ring_v[self.layer_idx]
        W, T = ring_k.shape[3], k.shape[3]
        if step.trail is not None:
            step.trail.save_ring(self.layer_idx, ring_k, ring_v, torch.remainder(step.q_pos, W))
        slots = torch.arange(W, device=k.device)
        if T == 1:  # decode: write first, then the ring holds exactly the window, this token included
            _write(ring_k, ring_v, torch.remainder(step.q_pos, W), k, v)
            last = step.q_pos                                                    # (B, 1)
            return ring_k, ring_v, last - torch.remainder(last - slots, W)      # slot positions; < 0 = empty
        last = step.cache.lengths[:, None] - 1                                   # (B, 1) newest cached position
        ring_pos = last - torch.remainder(last - slots, W)                       # (B, W); < 0 = empty slot
        keys = torch.cat([ring_k, k], dim=3)                                     # (2, B, P, W+T, dh)
        vals = torch.cat([ring_v, v], dim=2)                                     # (B, P, W+T, 2dh)
        k_pos = torch.cat([ring_pos, step.q_pos], dim=1)                         # (B, W+T)
        n = min(T, W)                                                            # the call's last W keys stay
        _write(ring_k, ring_v, torch.remainder(step.q_pos[:, T - n:], W), k[..., T - n:, :], v[..., T - n:, :])
        return keys, vals, k_pos


def _write(k_buf, v_buf, slots, k, v) -> None:
    """k (2, B, P, T, dh), v (B, P, T, 2dh) into buffers at per-row slots (B, T), as slice copies: the slots of a
    row are consecutive except where a ring wraps. (scatter_ copied the whole buffer on every call.)"""
    T = k.shape[3]
    if T == 1:  # decode: one slot per row, written with one indexed copy (no host sync, no Python loop)
        rows, at = torch.arange(slots.shape[0], device=slots.device), slots[:, 0]
        k_buf[:, rows, :, at] = k[:, :, :, 0].transpose(0, 1)                   # (B, 2, P, dh)
        v_buf[rows, :, at] = v[:, :, 0]                                          # (B, P, 2dh)
        return
    for b, row in enumerate(slots.tolist()):
        t = 0
        while t < T:
            run = 1
            while t + run < T and row[t + run] == row[t] + run:
                run += 1
            s = row[t]
            k_buf[:, b, :, s:s + run].copy_(k[:, b, :, t:t + run])
            v_buf[b, :, s:s + run].copy_(v[b, :, t:t + run])
            t += run


class GatedMemoryUnit(nn.Module):
    """Gated memory unit (§4.7; SambaY, arXiv 2507.06607, eq. for the GMU): out_proj(silu(in_proj(u)) ⊙ M), M the
    memory of layer L/2's Mamba, so the layer costs two matmuls and holds no state of its own."""

    def __init__(self, config: PhiFlashConfig, layer_idx: int):
        super().__init__()
        self.in_proj = nn.Linear(config.hidden_size, config.d_inner, bias=False)
        self.out_proj = nn.Linear(config.d_inner, config.hidden_size, bias=False)

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
        h = h + a.float()                                                        # float32 residual stream
        return h + self.mlp(self.post_attention_layernorm(h)).float()


class PhiFlashModel(nn.Module):
    def __init__(self, config: PhiFlashConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.final_layernorm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)


KEY_BUCKET = 256


class PhiFlashForCausalLM(nn.Module):
    """The whole model. `forward` gives logits at every position; `prefill`/`decode` drive generation."""

    prefill_chunk = 512  # prompt tokens per self-decoder call: bounds prefill memory at O(chunk·(W + chunk))

    def __init__(self, config: PhiFlashConfig):
        super().__init__()
        self.config = config
        self.model = PhiFlashModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
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
        step = Step(cache, q_pos, min(cache.max_length, -(-n_keys // KEY_BUCKET) * KEY_BUCKET), trail=trail)
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

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) at every position, the cross-decoder run over all of them (perplexity, tests)."""
        Bsz, T = input_ids.shape
        cache = self.new_cache(Bsz, T)
        parts = [self._self_decoder(input_ids[:, t0: t0 + self.prefill_chunk], cache)
                 for t0 in range(0, T, self.prefill_chunk)]
        # the cross-decoder then runs chunk by chunk against all T keys: its mask stays O(chunk·T)
        return torch.cat([self._cross_decoder(h, Step(cache, step.q_pos, T, step.memory)) for h, step in parts], 1)

    def prefill(self, input_ids: torch.Tensor, cache: Cache) -> torch.Tensor:
        """Run a prompt (B, T) into the cache in chunks; logits (B, V) float32 for its last position only.

        The YOCO shortcut: the cross-decoder holds no state, so it runs for the last position alone.
        """
        for t0 in range(0, input_ids.shape[1], self.prefill_chunk):
            h, step = self._self_decoder(input_ids[:, t0: t0 + self.prefill_chunk], cache)
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
