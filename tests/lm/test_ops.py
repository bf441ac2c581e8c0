"""Fast paths in phiflash.lm.ops against their naive twins."""

import pytest
import torch
from reference import scan_reference

from phiflash.lm import ops
from phiflash.lm.cache import Cache
from phiflash.lm.config import PhiFlashConfig
from phiflash.lm.sambay import DiffAttention, Step
from phiflash.lm.testing import init_random_


def scan_inputs(T, E=6, N=4, B=2, dt_scale=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    dt = torch.nn.functional.softplus(torch.randn(B, T, E, generator=g)) * dt_scale
    A = -torch.linspace(1, 16, N).expand(E, N).contiguous()
    Bm, Cm = torch.randn(B, T, N, generator=g), torch.randn(B, T, N, generator=g)
    x = torch.randn(B, T, E, generator=g)
    state = torch.randn(B, E, N, generator=g)
    return dt, A, Bm, Cm, x, state


@pytest.mark.parametrize("scan", list(ops.SCANS))
@pytest.mark.parametrize("T", [1, 7, 8, 29, 130])
@pytest.mark.parametrize("with_state", [False, True])
def test_scans_match_sequential_reference(scan, T, with_state):
    dt, A, Bm, Cm, x, state = scan_inputs(T)
    s0 = state if with_state else None
    y_ref, s_ref = scan_reference(dt, A, Bm, Cm, x, s0)
    y, s = ops.SCANS[scan](dt, A, Bm, Cm, x, None if s0 is None else s0.clone())
    # float32 against float64: relative 1e-5 of the output scale
    torch.testing.assert_close(y.double(), y_ref, rtol=1e-5, atol=1e-5 * y_ref.abs().max().item())
    torch.testing.assert_close(s.double(), s_ref, rtol=1e-5, atol=1e-5 * s_ref.abs().max().item())


def test_chunked_scan_is_stable_where_rescale_overflows():
    # |A|·ΣΔ over a chunk of 64 far beyond 88 nats: the rescale form would give inf; segsum must not.
    dt, A, Bm, Cm, x, _ = scan_inputs(200, dt_scale=4.0)
    y, _ = ops.scan_chunked(dt, A * 4, Bm, Cm, x, chunk=64)
    y_ref, _ = scan_reference(dt, A * 4, Bm, Cm, x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.double(), y_ref, rtol=1e-5, atol=1e-5 * y_ref.abs().max().item())


def test_ssm_step_chain_equals_scan():
    dt, A, Bm, Cm, x, state = scan_inputs(12)
    y_ref, s_ref = scan_reference(dt, A, Bm, Cm, x, state)
    s = state.clone()
    ys = [ops.ssm_step(dt[:, t], A, Bm[:, t], Cm[:, t], x[:, t], s) for t in range(12)]
    torch.testing.assert_close(torch.stack(ys, 1).double(), y_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(s.double(), s_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("T", [1, 5])  # the decode (grouped matmul) and prefill (SDPA) paths
def test_head_mapping_only_odd_value_stripe_of_pair_m(T):
    """Only value head 2m+1 non-zero -> only output heads 2j+1 with ⌊j/G⌋ = m are non-zero (docs/sambay-spec.md §10)."""
    B, H, Hkv, S, dh = 1, 8, 4, 5, 4
    G = H // Hkv
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(B, H, T, dh, generator=g), torch.randn(B, Hkv, S, dh, generator=g)
    for m in range(Hkv // 2):
        v = torch.zeros(B, Hkv, S, dh)
        v[:, 2 * m + 1] = torch.randn(B, S, dh, generator=g)
        mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)[None, None]
        kp, vp = ops.split_pairs(k, v)
        out = ops.differential_attention(q, kp, vp, mask, torch.tensor(0.3), 0.2, torch.ones(2 * dh))
        heads = out.view(B, T, H, dh).abs().sum((0, 1, 3))
        nonzero = {h for h in range(H) if heads[h] > 0}
        assert nonzero == {2 * j + 1 for j in range(H // 2) if j // G == m}


def test_decode_path_equals_sdpa_path():
    """The single-query grouped matmul against the SDPA path on the same query (float32)."""
    g = torch.Generator().manual_seed(1)
    B, H, Hkv, S, dh = 2, 8, 4, 9, 4
    q = torch.randn(B, H, 2, dh, generator=g)
    k, v = torch.randn(B, Hkv, S, dh, generator=g), torch.randn(B, Hkv, S, dh, generator=g)
    kp, vp = ops.split_pairs(k, v)
    mask = torch.rand(B, 1, 2, S, generator=g) > 0.3
    mask[..., 0] = True
    w = torch.rand(2 * dh, generator=g) + 0.5
    both = ops.differential_attention(q, kp, vp, mask, torch.tensor(0.4), 0.3, w)
    one = ops.differential_attention(q[:, :, 1:], kp, vp, mask[:, :, 1:], torch.tensor(0.4), 0.3, w)
    torch.testing.assert_close(one, both[:, 1:], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_prefill_attention_on_the_math_kernel_equals_the_fused_one(dtype, tol, monkeypatch):
    """Where torch's fused CPU attention does not run (bf16 under ATEN_CPU_CAPABILITY=avx2 on an AMX machine), the
    math kernel takes over: the same attention at 64+ tokens, where the fused kernel's AMX path starts."""
    g = torch.Generator().manual_seed(4)
    B, H, Hkv, T, dh = 1, 8, 4, 80, 16
    q = torch.randn(B, H, T, dh, generator=g).to(dtype)
    k, v = (torch.randn(B, Hkv, T, dh, generator=g).to(dtype) for _ in range(2))
    kp, vp = ops.split_pairs(k, v)
    mask = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
    w = torch.rand(2 * dh, generator=g).to(dtype) + 0.5
    args = (q, kp, vp, mask, torch.tensor(0.4), 0.3, w)
    chosen = ops.differential_attention(*args)                 # torch's choice here (the math one if fused fails)
    monkeypatch.setattr(ops, "fused_attention_works", lambda dtype: False)
    math = ops.differential_attention(*args)
    torch.testing.assert_close(chosen.float(), math.float(), rtol=tol, atol=tol)


def lower_capabilities() -> list[str]:
    """The kernel paths below this CPU's own that torch can be forced to (none on ARM, where torch names others)."""
    return {"AVX512": ["avx2", "default"], "AVX2": ["default"]}.get(torch.backends.cpu.get_cpu_capability(), [])


@pytest.mark.slow
@pytest.mark.parametrize("capability", lower_capabilities() or [pytest.param("default", marks=pytest.mark.skip(
    reason="no lower x86 kernel path to force on this CPU"))])
def test_bf16_prefill_runs_at_every_forced_capability(capability):
    """A fresh process per forced kernel path (the probe is made once per process): a 64-token bf16 prefill of the
    tiny model runs and equals its float32 twin to bf16 precision."""
    import os
    import subprocess
    import sys
    code = ("import torch\nfrom phiflash.lm.config import PhiFlashConfig\n"
            "from phiflash.lm.testing import random_model\n"
            "m = random_model(PhiFlashConfig.tiny(), seed=0)\nids = torch.randint(0, 500, (1, 64))\n"
            "ref = m(ids).float()\nlow = m.to(torch.bfloat16)(ids).float()\n"
            "err = ((low - ref).norm() / ref.norm()).item()\n"
            "assert err < 0.05, err\nprint(torch.backends.cpu.get_cpu_capability())\n")
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == capability.upper()


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.bfloat16, 1e-2)])
def test_batched_decode_attention_equals_the_per_pair_loop(dtype, tol):
    """The two decode paths (one batched matmul for short key ranges, copy-free per-pair calls for long ones) on
    strided slices of a longer cache buffer, as the model passes them."""
    g = torch.Generator().manual_seed(2)
    B, H, P, S, L, dh = 2, 8, 2, 11, 32, 4
    q = torch.randn(B, H, 1, dh, generator=g).to(dtype)
    k = torch.randn(2, B, P, L, dh, generator=g).to(dtype)[..., :S, :]
    v = torch.randn(B, P, L, 2 * dh, generator=g).to(dtype)[..., :S, :]
    mask = torch.rand(B, 1, 1, S, generator=g) > 0.3
    mask[..., 0] = True
    loop = ops._decode_attention(q, k, v, mask, dh ** -0.5, batched=False)
    bmm = ops._decode_attention(q, k, v, mask, dh ** -0.5, batched=True)
    for a, b in zip(loop, bmm):
        torch.testing.assert_close(a.float(), b.float(), rtol=tol, atol=tol)


def _swa_layer(W=8):
    cfg = PhiFlashConfig.tiny(sliding_window=W)
    attn = DiffAttention(cfg, 1)
    for p in attn.parameters():
        p.requires_grad_(False)
    model_like = type("M", (), {"config": cfg, "named_parameters": attn.named_parameters})
    init_random_(model_like, seed=3)
    return cfg, attn


def _run_swa(cfg, attn, u, chunk):
    cache = Cache.allocate(cfg, u.shape[0], u.shape[1])
    outs = []
    for t0 in range(0, u.shape[1], chunk):
        part = u[:, t0:t0 + chunk]
        q_pos = cache.lengths[:, None] + torch.arange(part.shape[1])
        outs.append(attn(part, Step(cache, q_pos, int(q_pos.max()) + 1)))
        cache.lengths += part.shape[1]
    return torch.cat(outs, 1)


def test_window_sees_exactly_W_keys():
    """One SWA layer alone, 30 tokens, W=8: output at t ignores token t-8 and depends on token t-7."""
    cfg, attn = _swa_layer(W=8)
    u = torch.randn(1, 30, cfg.hidden_size)
    base = _run_swa(cfg, attn, u, chunk=30)
    t = 25
    far, near = u.clone(), u.clone()
    far[0, t - 8] += 1.0
    near[0, t - 7] += 1.0
    assert torch.equal(_run_swa(cfg, attn, far, 30)[0, t], base[0, t])
    assert not torch.allclose(_run_swa(cfg, attn, near, 30)[0, t], base[0, t])


@pytest.mark.parametrize("chunk", [1, 3, 8, 11])
def test_ring_buffer_chunks_equal_one_shot(chunk):
    cfg, attn = _swa_layer(W=8)
    u = torch.randn(2, 30, cfg.hidden_size)
    torch.testing.assert_close(_run_swa(cfg, attn, u, chunk), _run_swa(cfg, attn, u, 30), rtol=0, atol=1e-5)


@pytest.mark.parametrize("T", [1, 4, 37])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_causal_conv_equals_torchs_grouped_conv(T, dtype, tol, with_bias):
    """The shifted multiply-adds against F.conv1d with groups=E in float64 (their naive twin), for a decode step,
    a speculative verify and a prefill chunk."""
    g = torch.Generator().manual_seed(T)
    B, E, K = 2, 12, 4
    xpad = torch.randn(B, E, K - 1 + T, generator=g).to(dtype)
    w = torch.randn(E, 1, K, generator=g).to(dtype)
    bias = torch.randn(E, generator=g).to(dtype) if with_bias else None
    got = ops.causal_conv1d(xpad, w, bias)
    ref = torch.nn.functional.conv1d(xpad.double(), w.double(), None if bias is None else bias.double(), groups=E)
    assert got.dtype == dtype and got.shape == (B, T, E) and got.is_contiguous()
    torch.testing.assert_close(got.double(), ref.transpose(1, 2), rtol=tol, atol=tol)
