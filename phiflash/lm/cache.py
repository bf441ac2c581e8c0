"""The decode state of one generation, preallocated and updated in place (docs/sambay-spec.md §5.1).

Mamba layers 0..L/2 keep the last K-1 pre-conv inputs and the float32 SSM state; sliding-window layers keep a
ring of W keys and values; the full-attention layer L/2+1 keeps K,V for up to max_length tokens, which every
cross-attention layer reads. GMU and cross-attention layers keep nothing. Rows may hold sequences of different
lengths (`lengths`), which is how batched generation of unequal prompts works.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import ops
from .config import MAMBA, SWA, PhiFlashConfig


@dataclass
class Cache:
    lengths: torch.Tensor                    # (B,) int64: tokens already in each row
    conv: dict[int, torch.Tensor]            # layer -> (B, E, K-1) model dtype
    ssm: dict[int, torch.Tensor]             # layer -> (B, E, N) float32
    ring_k: dict[int, torch.Tensor]          # layer -> (2, B, P, W, dh)   P = Hkv/2 head pairs (ops.split_pairs)
    ring_v: dict[int, torch.Tensor]          # layer -> (B, P, W, 2dh)
    k: torch.Tensor                          # (2, B, P, max_length, dh), layer L/2+1
    v: torch.Tensor                          # (B, P, max_length, 2dh)
    max_length: int

    @classmethod
    def allocate(cls, config: PhiFlashConfig, batch_size: int, max_length: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> Cache:
        E, N, K = config.d_inner, config.mamba_d_state, config.mamba_d_conv
        P, dh = config.num_key_value_heads // 2, config.head_dim
        conv, ssm, ring_k, ring_v = {}, {}, {}, {}
        for i, kind in enumerate(config.layer_kinds):
            if kind == MAMBA:
                conv[i] = torch.zeros(batch_size, E, K - 1, dtype=dtype, device=device)
                ssm[i] = torch.zeros(batch_size, E, N, dtype=torch.float32, device=device)
            elif kind == SWA:
                W = min(config.window(i), max_length)  # type: ignore[type-var]
                ring_k[i] = torch.zeros(2, batch_size, P, W, dh, dtype=dtype, device=device)
                ring_v[i] = torch.zeros(batch_size, P, W, 2 * dh, dtype=dtype, device=device)
        k = torch.zeros(2, batch_size, P, max_length, dh, dtype=dtype, device=device)
        v = torch.zeros(batch_size, P, max_length, 2 * dh, dtype=dtype, device=device)
        return cls(torch.zeros(batch_size, dtype=torch.long, device=device), conv, ssm, ring_k, ring_v, k, v,
                   max_length)

    @property
    def batch_size(self) -> int:
        return self.lengths.shape[0]

    def rows(self, start: int, stop: int) -> Cache:
        """A view of rows [start, stop): writes through it land in this cache."""
        sl = slice(start, stop)
        rows = lambda d: {i: t[sl] for i, t in d.items()}  # noqa: E731
        pair_rows = lambda d: {i: t[:, sl] for i, t in d.items()}  # noqa: E731
        return Cache(self.lengths[sl], rows(self.conv), rows(self.ssm), pair_rows(self.ring_k), rows(self.ring_v),
                     self.k[:, sl], self.v[sl], self.max_length)

    # ---- what the mixers read and write ---------------------------------------------------------------------------
    # A Trail, when given, records what Cache.keep needs to roll the call back.

    def conv_input(self, layer: int, x: torch.Tensor, trail: Trail | None = None) -> torch.Tensor:
        """[the previous K-1 inputs ‖ this call's x (B, T, E)] as (B, E, K-1+T); the state keeps the last K-1."""
        state = self.conv[layer]
        xpad = torch.cat([state, x.transpose(1, 2)], dim=-1)
        state.copy_(xpad[..., xpad.shape[-1] - state.shape[-1]:])
        if trail is not None:
            trail.conv[layer] = xpad
        return xpad

    def advance_ssm(self, layer: int, dt, A, Bm, Cm, x, scan: str, trail: Trail | None = None) -> torch.Tensor:
        """The layer's scan over this call (ops.advance_scan), its SSM state advanced; y (B, T, E)."""
        state = self.ssm[layer]
        if trail is None:
            return ops.advance_scan(dt, A, Bm, Cm, x, state, scan)
        before, states = state.clone(), []
        y = ops.advance_scan(dt, A, Bm, Cm, x, state, scan, states=states)
        trail.ssm[layer] = (before, torch.cat(states, dim=1))                    # (B, E, N), (B, T, E, N)
        return y

    def window(self, layer: int, k: torch.Tensor, v: torch.Tensor, q_pos: torch.Tensor,
               trail: Trail | None = None):
        """Sliding-window keys for this call's k (2, B, P, T, dh), v (B, P, T, 2dh) at positions q_pos (B, T):
        (keys, values, their positions (B, S)), the ring of the last W cached tokens and this call's, and the
        ring updated. A decode step writes first, and then the ring holds exactly the window."""
        ring_k, ring_v = self.ring_k[layer], self.ring_v[layer]
        W, T = ring_k.shape[3], k.shape[3]
        if trail is not None:
            trail.save_ring(layer, ring_k, ring_v, torch.remainder(q_pos, W))
        slots = torch.arange(W, device=k.device)
        if T == 1:
            _write(ring_k, ring_v, torch.remainder(q_pos, W), k, v)
            return ring_k, ring_v, q_pos - torch.remainder(q_pos - slots, W)   # slot positions; < 0 = empty
        last = self.lengths[:, None] - 1                                         # (B, 1) newest cached position
        ring_pos = last - torch.remainder(last - slots, W)                       # (B, W); < 0 = empty slot
        keys = torch.cat([ring_k, k], dim=3)                                     # (2, B, P, W+T, dh)
        vals = torch.cat([ring_v, v], dim=2)                                     # (B, P, W+T, 2dh)
        k_pos = torch.cat([ring_pos, q_pos], dim=1)                              # (B, W+T)
        n = min(T, W)                                                            # the call's last W keys stay
        _write(ring_k, ring_v, torch.remainder(q_pos[:, T - n:], W), k[..., T - n:, :], v[..., T - n:, :])
        return keys, vals, k_pos

    def write_shared(self, q_pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Layer L/2+1's K,V at their absolute positions (B, T)."""
        _write(self.k, self.v, q_pos, k, v)

    def shared(self, n_keys: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The shared K,V's first n_keys positions (rows shorter than that are masked by position)."""
        return self.k[..., :n_keys, :], self.v[..., :n_keys, :]

    # ---- rows --------------------------------------------------------------------------------------------------

    def copy_row(self, src: int, dst: slice) -> None:
        """Give rows `dst` the state of row `src`: one prefill shared by several samples of the same prompt.
        Of the shared K,V only the positions row `src` has filled are copied."""
        n = int(self.lengths[src])
        for t in (self.lengths, *self.conv.values(), *self.ssm.values(), *self.ring_v.values()):
            t[dst] = t[src]
        for t in self.ring_k.values():  # (2, B, P, W, dh): batch is dim 1
            t[:, dst] = t[:, src, None]
        self.k[:, dst, :, :n] = self.k[:, src, None, :, :n]
        self.v[dst, :, :n] = self.v[src, None, :, :n]

    def keep(self, trail: Trail, n: torch.Tensor | int) -> None:
        """Keep only the first n[b] of the T tokens the call that filled `trail` appended to row b (0 ≤ n ≤ T):
        the state is then exactly what decoding those n tokens one by one would have left (speculative decoding's
        rollback; rows may keep different numbers). Mamba conv states are re-cut from the inputs the conv saw,
        SSM states picked from the scan's per-token states, overwritten ring slots put back; the shared K,V need
        only the lengths: positions past a row's length are masked and written over later."""
        B, T = trail.start.shape[0], trail.T
        n = torch.as_tensor(n, device=self.lengths.device).expand(B)
        if bool(((n < 0) | (n > T)).any()):
            raise ValueError(f"can keep 0..{T} tokens per row, not {n.tolist()}")
        rows = torch.arange(B, device=n.device)
        self.lengths.copy_(trail.start + n)
        for i, xpad in trail.conv.items():                              # xpad (B, E, K-1+T)
            K1 = self.conv[i].shape[-1]
            at = (n[:, None] + torch.arange(K1, device=n.device))[:, None, :].expand(B, xpad.shape[1], K1)
            self.conv[i].copy_(xpad.gather(2, at))
        for i, (before, after) in trail.ssm.items():                   # (B, E, N), (B, T, E, N)
            picked = after[rows, (n - 1).clamp(min=0)]
            self.ssm[i].copy_(torch.where((n == 0)[:, None, None], before, picked))
        dropped = torch.arange(T, device=n.device)[None, :] >= n[:, None]  # (B, T)
        if trail.ring and bool(dropped.any()):
            bb = rows[:, None].expand(B, T)[dropped]
            for i, (slots, k, v) in trail.ring.items():
                ss = slots[dropped]
                self.ring_k[i][:, bb, :, ss] = k[dropped]                # (M, 2, P, dh)
                self.ring_v[i][bb, :, ss] = v[dropped]                   # (M, P, 2dh)

    def reset(self) -> None:
        for t in self._tensors():
            t.zero_()

    def clear(self) -> None:
        """Make every row an empty sequence for its next prompt. Only the lengths and the Mamba states need
        it: ring slots and shared K,V positions past a row's length are masked by position and written over."""
        for t in (self.lengths, *self.conv.values(), *self.ssm.values()):
            t.zero_()

    def take(self, other: Cache, n: int) -> None:
        """Rows 0..n-1 of `other`, a cache this one outgrows (more rows or a longer max_length), as they are.
        A ring grows with max_length only while it is shorter than the window: then no position has wrapped
        (slot = position < W), so it is copied into the first W slots of the longer ring as it is."""
        self.lengths[:n] = other.lengths[:n]
        for mine, theirs in ((self.conv, other.conv), (self.ssm, other.ssm)):
            for i, t in theirs.items():
                mine[i][:n] = t[:n]
        L = other.max_length
        self.k[:, :n, :, :L] = other.k[:, :n]
        self.v[:n, :, :L] = other.v[:n]
        for i, ring_k in other.ring_k.items():  # (2, B, P, W, dh), (B, P, W, 2dh)
            W = ring_k.shape[3]
            self.ring_k[i][:, :n, :, :W] = ring_k[:, :n]
            self.ring_v[i][:n, :, :W] = other.ring_v[i][:n]

    def _tensors(self) -> list[torch.Tensor]:
        return [self.lengths, self.k, self.v, *self.conv.values(), *self.ssm.values(),
                *self.ring_k.values(), *self.ring_v.values()]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self._tensors() if t is not self.lengths)


@dataclass
class Trail:
    """What a multi-token model call leaves for Cache.keep: filled in by the mixers when a Trail is passed to
    `extend`. Costs little: the conv inputs and per-token SSM states are tensors the call computes anyway; only the
    ring slots it overwrites and each SSM state before the call are copied."""
    start: torch.Tensor | None = None                               # (B,) lengths before the call
    T: int = 0                                                      # tokens appended per row
    conv: dict[int, torch.Tensor] = field(default_factory=dict)    # layer -> (B, E, K-1+T) inputs the conv saw
    ssm: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # (B, E, N) before, (B, T, E, N)
    ring: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    # ring: layer -> (slots (B, T), their old keys (B, T, 2, P, dh), old values (B, T, P, 2dh))

    def save_ring(self, layer: int, ring_k: torch.Tensor, ring_v: torch.Tensor, slots: torch.Tensor) -> None:
        W, T = ring_k.shape[3], slots.shape[1]
        if T > W:  # the call writes only its last W tokens: earlier ones could not be put back
            raise ValueError(f"a call that can be rolled back appends at most the window ({W}) tokens, not {T}")
        rows = torch.arange(slots.shape[0], device=slots.device)[:, None].expand_as(slots)
        self.ring[layer] = (slots, ring_k[:, rows, :, slots], ring_v[rows, :, slots])


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


def cache_bytes(config: PhiFlashConfig, max_length: int, dtype: torch.dtype = torch.bfloat16,
                batch_size: int = 1) -> tuple[int, int]:
    """(fixed bytes, bytes per token of max_length) of a Cache, from the config alone.

    Fixed: per Mamba layer E·(K-1) conv values in `dtype` + E·N float32 SSM values; per windowed layer 2·Hkv·W·dh.
    Per token: layer L/2+1's K and V, 2·Hkv·dh values.
    """
    item = torch.empty((), dtype=dtype).element_size()
    E, N, K = config.d_inner, config.mamba_d_state, config.mamba_d_conv
    Hkv, dh = config.num_key_value_heads, config.head_dim
    fixed = 0
    for i, kind in enumerate(config.layer_kinds):
        if kind == MAMBA:
            fixed += E * (K - 1) * item + E * N * 4
        elif kind == SWA:
            fixed += 2 * Hkv * min(config.window(i), max_length) * dh * item  # type: ignore[type-var]
    return batch_size * fixed, batch_size * 2 * Hkv * dh * item
