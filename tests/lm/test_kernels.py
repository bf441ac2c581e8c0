"""phiflash's int4 and int8 kernels (kernels/int4_mm.cpp, int8_mm.cpp) and decode attention (attention.cpp)
against their naive twins, on every path this CPU can run.

Two twins each: the same integer computation written out in torch (activations quantized to int8 per block of 32,
exact integer sums, one float scale per block: the kernel must equal it up to float summation order), and the
float weight the quantized numbers stand for (the kernel may differ from it only by activation quantization:
about 1%)."""

import functools
import os
import subprocess
import sys

import pytest
import torch

from phiflash.errors import PhiflashError
from phiflash.lm import kernels
from phiflash.lm import quantize as Q

ALL_PATHS = [p for p in kernels.PATHS if p != "auto"]


def integer_twin(x: torch.Tensor, nibbles: torch.Tensor, sz: torch.Tensor, group: int) -> torch.Tensor:
    """y = Σ_blocks scale·d·Σ q·xq + (zero − 8·scale)·Σ x, in float64 from the same int8 activations."""
    m, k = x.shape
    xb = x.double().view(m, k // 32, 32)
    amax = xb.abs().amax(-1, keepdim=True)
    d = (amax.float() / 127).double()
    xq = torch.where(amax > 0, torch.round(xb * (127 / amax.float()).double()), torch.zeros_like(xb))
    q = Q.unpack_nibbles(nibbles).double().view(-1, k // 32, 32)                   # (n, blocks, 32)
    isum = torch.einsum("mbi,nbi->mnb", xq, q)                                       # exact: integers
    scale = sz[..., 0].double().t().repeat_interleave(group // 32, dim=1)          # (n, blocks)
    zero = sz[..., 1].double().t().repeat_interleave(group // 32, dim=1)
    xsum = xb.sum(-1)                                                                 # (m, blocks)
    return (isum * scale * d.squeeze(-1)[:, None, :]).sum(-1) + xsum @ (zero - 8 * scale).t()


def kernel_out(x, nibbles, sz, group, path, sz_dtype=torch.float32):
    return torch.ops.phiflash.int4_mm(x, Q.to_tiles(nibbles), Q.scales_to_tiles(sz.to(sz_dtype)), group,
                                      kernels.PATHS[path])


def test_the_kernel_builds_here():
    """CI and every developer machine have a compiler: a build failure must fail a test, not fall back quietly."""
    assert kernels.available()
    assert "portable" in kernels.supported_paths()


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("m,n,k,group", [(1, 16, 32, 32), (3, 48, 96, 32), (8, 80, 160, 32), (2, 64, 192, 96),
                                         (5, 32, 256, 128), (9, 16, 64, 64), (17, 4112, 64, 32), (7, 16, 32, 32)])
def test_each_path_equals_the_integer_twin(path, m, n, k, group):
    """Odd shapes: rows not a multiple of 64, groups of 96, 1–8 activation rows and 9 / 17 (passes of 8).
    A path this CPU lacks is refused with a clear error (tested, not skipped)."""
    g = torch.Generator().manual_seed(m * n + k)
    w = torch.randn(n, k, generator=g) * torch.linspace(0.1, 2, n)[:, None]
    x = torch.randn(m, k, generator=g) * 3
    x[0, k - 32:] = 0 if k > 32 else x[0, k - 32:]               # an all-zero block: d = 0
    nibbles, sz = Q.quantize_int4(w, group)
    if path not in kernels.supported_paths():
        with pytest.raises(RuntimeError, match="cannot run path"):
            kernel_out(x, nibbles, sz, group, path)
        return
    got = kernel_out(x, nibbles, sz, group, path).double()
    twin = integer_twin(x, nibbles, sz, group)
    assert ((got - twin).norm() / twin.norm()) < 1e-6           # float32 sums in another order
    ref = x.double() @ Q.dequantize_int4(nibbles, sz, group).double().t()
    assert ((got - ref).norm() / ref.norm()) < 0.02             # int8 activations: ~0.01 on Gaussian inputs


@pytest.mark.parametrize("path", ["portable", "auto"])
@pytest.mark.parametrize("x_dtype,sz_dtype,tol", [(torch.bfloat16, torch.bfloat16, 8e-3),
                                                  (torch.float32, torch.bfloat16, 1e-6),
                                                  (torch.bfloat16, torch.float32, 8e-3)])
def test_bf16_inputs_scales_and_outputs(path, x_dtype, sz_dtype, tol):
    """bf16 scales are read as they are (the twin uses the same rounded scales); a bf16 output is rounded once."""
    w, x = torch.randn(48, 128), torch.randn(4, 128).to(x_dtype)
    nibbles, sz = Q.quantize_int4(w, 32)
    sz = sz.to(sz_dtype).float()
    p = "portable" if path == "portable" else kernels.NAMES[kernels.chosen_path()]
    got = kernel_out(x, nibbles, sz, 32, p, sz_dtype)
    assert got.dtype == x_dtype
    twin = integer_twin(x.float(), nibbles, sz, 32)
    assert ((got.double() - twin).norm() / twin.norm()) < tol


def test_every_path_gives_the_same_numbers():
    """The SIMD paths sum the same integers; only float rounding may differ between them."""
    w, x = torch.randn(256, 512), torch.randn(3, 512)
    nibbles, sz = Q.quantize_int4(w, 32)
    outs = {p: kernel_out(x, nibbles, sz, 32, p) for p in kernels.supported_paths() if p != "auto"}
    base = outs["portable"]
    for p, y in outs.items():
        assert torch.allclose(y, base, rtol=1e-5, atol=1e-4), p


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("fmt", ["int4", "int8"])
def test_any_leading_dims_and_a_bf16_x_read_as_it_is(path, fmt):
    """A layer's (B, T, K) goes in as it is and comes out (B, T, N); a bf16 x is quantized straight from its bf16
    values: the float32 call on the same values, rounded once to bf16. (1-D: one row.)"""
    if path not in kernels.supported_paths():
        return  # refused: test_each_path_equals_the_integer_twin
    g = torch.Generator().manual_seed(7)
    w, x = torch.randn(48, 96, generator=g), (torch.randn(2, 3, 96, generator=g) * 3).to(torch.bfloat16)
    if fmt == "int4":
        nibbles, sz = Q.quantize_int4(w, 32)
        run = lambda x: kernel_out(x, nibbles, sz, 32, path)  # noqa: E731
    else:
        q, scale = Q.quantize_int8(w)
        run = lambda x: int8_out(x, q, scale, path)  # noqa: E731
    got, as_float = run(x), run(x.float().reshape(6, 96))
    assert got.shape == (2, 3, 48) and got.dtype == torch.bfloat16
    assert torch.equal(got.reshape(6, 48), as_float.to(torch.bfloat16))
    assert torch.equal(run(x[1, 2]), got[1, 2])


def quantize_x(x: torch.Tensor):
    """The kernels' activation quantization, written out: xq and d per block of 32 (float64 for exact sums)."""
    m, k = x.shape
    xb = x.double().view(m, k // 32, 32)
    amax = xb.abs().amax(-1, keepdim=True)
    d = (amax.float() / 127).double()
    xq = torch.where(amax > 0, torch.round(xb * (127 / amax.float()).double()), torch.zeros_like(xb))
    return xq, d.squeeze(-1)


def int8_twin(x: torch.Tensor, q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """y = scale · Σ_blocks d · Σ q·xq, from the same int8 activations."""
    k = x.shape[1]
    xq, d = quantize_x(x)
    isum = torch.einsum("mbi,nbi->mnb", xq, q.double().view(-1, k // 32, 32))     # exact: integers
    return (isum * d[:, None, :]).sum(-1) * scale.double()


def int8_out(x, q, scale, path):
    return torch.ops.phiflash.int8_mm(x, Q.to_tiles8(q), scale, kernels.PATHS[path])


@pytest.mark.parametrize("path", ALL_PATHS)
@pytest.mark.parametrize("m,n,k", [(1, 16, 32), (3, 48, 96), (8, 80, 160), (9, 32, 256), (17, 4112, 64)])
def test_each_int8_path_equals_the_integer_twin(path, m, n, k):
    g = torch.Generator().manual_seed(m * n + k)
    w = torch.randn(n, k, generator=g) * torch.linspace(0.1, 2, n)[:, None]
    x = torch.randn(m, k, generator=g) * 3
    x[0, k - 32:] = 0 if k > 32 else x[0, k - 32:]               # an all-zero block: d = 0
    q, scale = Q.quantize_int8(w)
    if path not in kernels.supported_paths():
        with pytest.raises(RuntimeError, match="cannot run path"):
            int8_out(x, q, scale, path)
        return
    got = int8_out(x, q, scale, path).double()
    twin = int8_twin(x, q, scale)
    assert ((got - twin).norm() / twin.norm()) < 1e-6
    ref = x.double() @ (q.double() * scale.double()[:, None]).t()
    assert ((got - ref).norm() / ref.norm()) < 0.02


def test_int8_tiles_round_trip_and_match_the_kernels_layout():
    q = torch.randint(-127, 128, (32, 64), dtype=torch.int8)
    tiles = Q.to_tiles8(q)
    assert torch.equal(Q.from_tiles8(tiles), q)
    t, b, c, r, j = 1, 1, 6, 9, 3                                   # byte 4r + j of chunk c: input 32b + 4c + j
    assert tiles[16 * t:16 * t + 16].reshape(-1)[b * 512 + c * 64 + 4 * r + j] == q[16 * t + r, 32 * b + 4 * c + j]


@pytest.mark.parametrize("x_dtype,tol", [(torch.float32, 1e-6), (torch.bfloat16, 8e-3)])
def test_an_int8_layer_picks_the_kernel_and_its_twin_agrees(x_dtype, tol):
    lin = torch.nn.Linear(128, 48, bias=True)
    fast = Q.Int8Linear.from_float(lin.weight.detach(), lin.bias, torch.float32)
    slow = Q.Int8Linear.from_float(lin.weight.detach(), lin.bias, torch.float32, kernel="torch")
    assert fast.kernel == "phiflash" and slow.kernel == "torch"
    assert torch.equal(fast.rows(), slow.rows())
    x = torch.randn(5, 128).to(x_dtype)
    twin = int8_twin(x.float(), fast.rows(), fast.scales) + lin.bias.double()
    assert ((fast(x).double() - twin).norm() / twin.norm()) < tol
    assert ((fast(x).double() - slow(x).double()).norm() / twin.norm()) < 0.02


def test_a_rows_result_does_not_depend_on_the_other_rows():
    """Decoding one row and a full forward over many must give that row the same numbers: each activation row is
    quantized alone and summed alone, exactly, whatever the batch (1..8 per pass, passes of 8)."""
    w, x = torch.randn(64, 256), torch.randn(19, 256)
    nibbles, sz = Q.quantize_int4(w, 32)
    q, scale = Q.quantize_int8(w)
    for path in kernels.supported_paths():
        int4 = functools.partial(kernel_out, nibbles=nibbles, sz=sz, group=32, path=path)
        int8 = functools.partial(int8_out, q=q, scale=scale, path=path)
        for run in (int4, int8):
            together = run(x)
            for i in (0, 7, 8, 18):
                assert torch.equal(run(x[i:i + 1])[0], together[i]), (path, i)
            assert torch.equal(run(x[3:9]), together[3:9]), path


def test_tiles_round_trip_and_match_the_kernels_layout():
    nibbles = torch.randint(0, 256, (48, 64), dtype=torch.uint8)
    tiles = Q.to_tiles(nibbles)
    assert torch.equal(Q.from_tiles(tiles), nibbles)
    # byte 4r + j of chunk c in block b: row r's input 32b + 4c + j low, 32b + 16 + 4c + j high
    q = Q.unpack_nibbles(nibbles)
    t, b, c, r, j = 1, 2, 3, 5, 2
    byte = int(tiles[16 * t:16 * t + 16].reshape(-1)[b * 256 + c * 64 + 4 * r + j])
    assert byte & 0xF == q[16 * t + r, 32 * b + 4 * c + j] and byte >> 4 == q[16 * t + r, 32 * b + 16 + 4 * c + j]
    sz = torch.randn(4, 48, 2)
    assert torch.equal(Q.scales_from_tiles(Q.scales_to_tiles(sz)), sz)


def test_a_layer_picks_the_kernel_and_equals_its_dequantized_twin():
    lin = torch.nn.Linear(128, 80, bias=True)
    x = torch.randn(2, 3, 128)
    fast = Q.Int4Linear.from_float(lin.weight.detach(), lin.bias, torch.float32)
    naive = Q.Int4Linear.from_float(lin.weight.detach(), lin.bias, torch.float32, kernel="dequantize")
    assert fast.kernel == "phiflash" and naive.kernel == "dequantize"
    a, b = fast(x), naive(x)
    assert ((a - b).norm() / b.norm()) < 0.02
    assert torch.equal(fast.dequantized(), naive.dequantized())


def test_the_switch_is_checked(monkeypatch):
    monkeypatch.setenv("PHIFLASH_KERNEL", "avx9")
    with pytest.raises(PhiflashError, match="PHIFLASH_KERNEL='avx9'"):
        kernels.choice()
    for name in ALL_PATHS:
        monkeypatch.setenv("PHIFLASH_KERNEL", name)
        if name in kernels.supported_paths():
            assert kernels.chosen_path() == kernels.PATHS[name]
        else:
            with pytest.raises(PhiflashError, match="this CPU cannot run it"):
                kernels.chosen_path()


def _fresh(code: str, **env) -> subprocess.CompletedProcess:
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=full)


LAYER = """
import torch
from phiflash.lm import quantize as Q, kernels
lin = torch.nn.Linear(64, 64)
layer = Q.Int4Linear.from_float(lin.weight.detach(), None, torch.bfloat16)
naive = Q.Int4Linear.from_float(lin.weight.detach(), None, torch.bfloat16, kernel="dequantize")
x = torch.randn(2, 64, dtype=torch.bfloat16)
err = ((layer(x).float() - naive(x).float()).norm() / naive(x).float().norm()).item()
print(layer.kernel, kernels.describe(), err < 0.03)
"""


def test_without_a_compiler_torchs_kernel_runs_and_one_line_says_so(tmp_path):
    p = _fresh(LAYER, PHIFLASH_KERNEL_CACHE=str(tmp_path / "k"), CXX="/nonexistent/c++", PATH="/nonexistent")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["torch", "torch", "int4pack", "True"]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "no C++ compiler found" in lines[0] and "Traceback" not in p.stderr


def test_a_failed_build_falls_back_with_one_line(tmp_path):
    p = _fresh(LAYER, PHIFLASH_KERNEL_CACHE=str(tmp_path / "k"), CXX="false")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0] == "torch"
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.startswith("phiflash:")]
    assert any("did not build" in ln for ln in lines) and "Traceback" not in p.stderr


def test_torch_can_be_chosen():
    p = _fresh(LAYER, PHIFLASH_KERNEL="torch")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0] == "torch" and p.stderr == ""


@pytest.mark.parametrize("cap", ["default", "avx2"])
def test_torchs_capability_caps_the_path(cap):
    """ATEN_CPU_CAPABILITY=avx2 on an AVX-512 machine runs the AVX2 path (and default the portable one), so one
    switch exercises what an AVX2-only or other CPU runs. On a CPU without AVX2, avx2 means portable too."""
    p = _fresh(LAYER, ATEN_CPU_CAPABILITY=cap)
    assert p.returncode == 0, p.stderr
    kernel, _, path, ok = p.stdout.split()
    allowed = {"default": {"portable"}, "avx2": {"avx2", "avx2-vnni", "portable"}}[cap]
    assert kernel == "phiflash" and path in allowed and ok == "True"
    if cap == "avx2" and "avx2" in kernels.supported_paths():
        assert path != "portable"


def test_a_lock_left_by_a_killed_build_does_not_hang_the_next_start(tmp_path):
    """cpp_extension waits without end for its build lock to go; a build killed mid-way (Ctrl-C) leaves it."""
    import shutil
    import time

    assert kernels.available()
    built = kernels.build_dir()                                      # this session's build (the first test made it)
    cache = tmp_path / "k"
    shutil.copytree(built, cache / built.name)                       # mtimes kept: ninja finds it up to date
    lock = cache / built.name / "lock"
    lock.touch()
    old = time.time() - 3600
    os.utime(lock, (old, old))
    p = _fresh(LAYER, PHIFLASH_KERNEL_CACHE=str(cache))
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0] == "phiflash" and not lock.exists()


# ---- decode attention (kernels/attention.cpp) ----------------------------------------------------------------------


def attention_twin(q, k, v, mask, scale):
    """Differential attention's two branches for T query positions per row, in float64 with explicit loops over
    heads: query head 2(pG + g) + i against key pair p of branch i, softmax over the keys its mask row keeps, times
    V of pair p. Returns (T, B, P, 2, G, 2dh), the kernel's layout."""
    B, H, T, dh = q.shape
    P, S = v.shape[1], v.shape[2]
    G = H // 2 // P
    out = torch.zeros(T, B, P, 2, G, 2 * dh, dtype=torch.float64)
    for t in range(T):
        for b in range(B):
            keep = mask.reshape(B, T, S)[b, t] if mask is not None else torch.ones(S, dtype=torch.bool)
            for p in range(P):
                for i in range(2):
                    for g in range(G):
                        s = (k[i, b, p].double() @ q[b, 2 * (p * G + g) + i, t].double()) * scale
                        a = torch.softmax(s.masked_fill(~keep, float("-inf")), 0)
                        out[t, b, p, i, g] = a @ v[b, p].double()
    return out


def attention_case(B, H, P, S, dh, dtype, seed=0, masked=True, T=1):
    """q, and k, v as strided slices of a longer cache buffer (as the model passes them), a mask with holes."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, dh, generator=g).to(dtype)
    k = torch.randn(2, B, P, S + 7, dh, generator=g).to(dtype)[..., :S, :]
    v = torch.randn(B, P, S + 7, 2 * dh, generator=g).to(dtype)[..., :S, :]
    mask = None
    if masked:
        mask = torch.rand(B, 1, T, S, generator=g) > 0.3
        mask[..., -1] = True
    return q, k, v, mask


ATTENTION_PATHS = ["portable", "avx2"]  # attention.cpp has these two; the AVX-512 paths run its AVX2 code


@pytest.mark.parametrize("path", ATTENTION_PATHS)
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-6), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("B,H,P,S,dh,T", [
    (1, 40, 10, 300, 64, 1),   # the model's heads (G = 2, dh = 64), keys past the value blocks of 64
    (2, 8, 2, 11, 8, 1),       # the tiny config's, two rows
    (2, 8, 2, 13, 8, 5),       # five query positions a row (a speculative verify), each its own mask row
    (1, 4, 2, 70, 16, 3),      # G = 1
    (2, 16, 2, 5, 8, 2),       # G = 4: the AVX2 path's other-shapes body
    (1, 8, 2, 9, 4, 1),        # dh not a multiple of 8: the same
])
def test_decode_attention_equals_its_twin_on_every_path(path, dtype, tol, B, H, P, S, dh, T):
    q, k, v, mask = attention_case(B, H, P, S, dh, dtype, seed=S, T=T)
    if path not in kernels.supported_paths():  # refused with a clear error (ARM has no AVX2)
        with pytest.raises(RuntimeError, match="cannot run path"):
            torch.ops.phiflash.decode_attention(q, k, v, mask, dh ** -0.5, kernels.PATHS[path])
        return
    got = torch.ops.phiflash.decode_attention(q, k, v, mask, dh ** -0.5, kernels.PATHS[path])
    assert got.dtype == dtype and got.shape == (T, B, P, 2, H // 2 // P, 2 * dh)
    twin = attention_twin(q, k, v, mask, dh ** -0.5)
    torch.testing.assert_close(got.double(), twin, rtol=tol, atol=tol)  # bf16: the output's rounding


def test_decode_attention_without_a_mask_and_with_one_key():
    q, k, v, _ = attention_case(1, 8, 2, 1, 8, torch.float32, masked=False)
    got = torch.ops.phiflash.decode_attention(q, k, v, None, 0.5, 0)
    torch.testing.assert_close(got.double(), attention_twin(q, k, v, None, 0.5), rtol=1e-6, atol=1e-6)
    # one key: every probability is 1, the output is that key's value
    torch.testing.assert_close(got[0, 0, :, 0, 0], v[0, :, 0])


@pytest.mark.parametrize("T", [1, 4, 8])
def test_decode_attention_runs_the_kernel_on_a_cpu_and_torchs_paths_give_the_same(monkeypatch, T):
    """ops picks the kernel on a CPU for bf16 and float32, up to KERNEL_QUERIES positions a row; without the kernels
    (no compiler, PHIFLASH_KERNEL=torch) torch's matmuls (one position) or its fused attention (more) give the
    same attention."""
    from phiflash.lm import ops
    q, k, v, mask = attention_case(2, 8, 2, 40, 8, torch.bfloat16, T=T)
    assert ops._attention_kernel_runs(q, k) and ops._attention_kernel_runs(q.float(), k.float())
    assert not ops._attention_kernel_runs(q.half(), k.half())
    lam, w = torch.tensor(0.4), torch.rand(16) + 0.5
    with_kernel = ops.differential_attention(q, k, v, mask, lam, 0.3, w)
    monkeypatch.setattr(ops, "_attention_kernel_runs", lambda *a: False)
    with_torch = ops.differential_attention(q, k, v, mask, lam, 0.3, w)
    torch.testing.assert_close(with_kernel.float(), with_torch.float(), rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("B,H,P,S,dh,T", [(2, 8, 2, 11, 8, 1), (1, 40, 10, 30, 64, 1), (2, 8, 4, 9, 8, 3)])
def test_diff_combine_equals_the_torch_lines(dtype, tol, B, H, P, S, dh, T):
    """diff_combine (attention.cpp) against ops.combine_branches on the same kernel output: a1 − λ a2, the RMS norm
    over 2dh, the sub-norm weight, (1 − λ_init), laid out (B, T, H·dh). bf16: each rounds where the torch code
    rounds, so they differ only by the float32 order of the norm's sum (one bf16 step at most)."""
    from phiflash.lm import ops
    assert kernels.available()  # builds and loads the ops when this test runs first in its process
    q, k, v, mask = attention_case(B, H, P, S, dh, dtype, seed=H + T, T=T)
    a = ops._kernel_attention(q, k, v, mask, dh ** -0.5)
    lam, w = torch.tensor(0.37), (torch.rand(2 * dh, generator=torch.Generator().manual_seed(1)) + 0.5).to(dtype)
    got = torch.ops.phiflash.diff_combine(a, lam, 0.2, w, 1e-5)
    twin = ops.combine_branches(*ops._branches(a, B, H, T, dh), lam, 0.2, w, 1e-5, dtype)
    assert got.dtype == dtype and got.shape == twin.shape == (B, T, H * dh)
    torch.testing.assert_close(got.float(), twin.float(), rtol=tol, atol=tol)
    # and differential_attention takes it for a decode step, equal to torch's own attention path
    fused = ops.differential_attention(q, k, v, mask, lam, 0.2, w)
    torch.testing.assert_close(fused, got)


# ---- bf16 linear layers (bf16_mm.cpp) -------------------------------------------------------------------------------

BF16_PATHS = ["portable", "avx2"]  # bf16_mm.cpp has these two; the AVX-512 paths run its AVX2 code


def bf16_twin(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """float64 sums over the same bf16 weights, one output at a time."""
    xd, wd = x.double(), w.double()
    out = torch.empty(x.shape[0], w.shape[0], dtype=torch.float64)
    for m in range(x.shape[0]):
        for n in range(w.shape[0]):
            out[m, n] = (xd[m] * wd[n]).sum() + (bias[n].double() if bias is not None else 0.0)
    return out


@pytest.mark.parametrize("path", BF16_PATHS)
@pytest.mark.parametrize("m,n,k", [
    (1, 8, 64),     # one row: the two-sums-a-weight-row body
    (2, 12, 48),    # two rows at once
    (3, 7, 37),     # a weight-row tail (7 = 4 + 3) and a K tail past the 8- and 16-wide steps
    (9, 5, 16),     # more rows than a decode step, odd
    (4, 33, 5),     # K shorter than one vector: all tail
])
@pytest.mark.parametrize("x_dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("with_bias", [False, True])
def test_bf16_mm_equals_its_twin_on_every_path(path, m, n, k, x_dtype, with_bias):
    g = torch.Generator().manual_seed(m * 100 + n + k)
    x = torch.randn(m, k, generator=g).to(x_dtype)
    w = torch.randn(n, k, generator=g).bfloat16()
    bias = torch.randn(n, generator=g).bfloat16() if with_bias else None
    if path not in kernels.supported_paths():  # refused with a clear error (ARM has no AVX2)
        with pytest.raises(RuntimeError, match="cannot run path"):
            torch.ops.phiflash.bf16_mm(x, w, bias, kernels.PATHS[path])
        return
    got = torch.ops.phiflash.bf16_mm(x, w, bias, kernels.PATHS[path])
    assert got.dtype == x_dtype and got.shape == (m, n)
    twin = bf16_twin(x, w, bias)
    scale = (x.double().abs() @ w.double().abs().t()) + (bias.double().abs() if with_bias else 0)
    # float32 sums of k products: within k * 2^-24 of their magnitude; a bf16 output also rounds once (2^-8)
    tol = scale * k * 2.0 ** -24 + (twin.abs() * 2.0 ** -8 if x_dtype == torch.bfloat16 else 0)
    assert ((got.double() - twin).abs() <= tol + 1e-30).all()


def test_linear_runs_the_kernel_for_bf16_weights_on_a_cpu_and_equals_f_linear(monkeypatch):
    """ops.linear takes phiflash's kernel for bf16 weights where it has a SIMD path or the portable one is asked for
    (any leading shape, up to KERNEL_ROWS rows on every CPU, more where torch's bf16 matmul is a scalar loop), never
    for float32 or float16 weights, and gives F.linear's numbers within the bf16 output's rounding."""
    from phiflash.lm import ops
    calls = []
    real = ops._kernel_linear
    monkeypatch.setattr(ops, "_kernel_linear", lambda *a: calls.append(tuple(a[0].shape)) or real(*a))
    simd = kernels.chosen_path() != kernels.PATHS["portable"]
    g = torch.Generator().manual_seed(3)
    w, b = torch.randn(24, 40, generator=g).bfloat16(), torch.randn(24, generator=g).bfloat16()
    for shape in [(1, 1, 40), (2, 4, 40), (8, 40)]:
        x = torch.randn(*shape, generator=g).bfloat16()
        y = ops.linear(x, w, b)
        assert y.shape == (*shape[:-1], 24) and y.dtype == torch.bfloat16
        torch.testing.assert_close(y.float(), torch.nn.functional.linear(x.float(), w.float(), b.float()),
                                   rtol=1e-2, atol=1e-2)
    assert calls == ([(1, 40), (8, 40), (8, 40)] if simd else [])
    calls.clear()
    x = torch.randn(16, 40, generator=g).bfloat16()
    ops.linear(x, w, b)
    assert calls == ([(16, 40)] if simd and not ops._torch_bf16_matmul_fast() else [])
    calls.clear()
    ops.linear(x.float(), w.float(), b.float())
    ops.linear(x.half(), w.half(), b.half())
    assert calls == []  # neither went to the kernel
    monkeypatch.setenv("PHIFLASH_KERNEL", "portable")  # asked for: the plain C++ path runs on any CPU
    y = ops.linear(x[:2], w, b)
    assert calls == [(2, 40)]
    torch.testing.assert_close(y.float(), torch.nn.functional.linear(x[:2].float(), w.float(), b.float()),
                               rtol=1e-2, atol=1e-2)


# ---- the Mamba decode step (mamba_step.cpp) ---------------------------------------------------------------------

MAMBA_PATHS = ["portable", "avx2"]  # mamba_step.cpp has these two; the AVX-512 paths run its AVX2 code


def mamba_layer(dtype, **config):
    """Mamba layer 0 of a tiny random model (A_log as the official init spreads it, Δ's bias from 1e-3 to 1.3 as
    trained ones span), and the Cache class to give it a state."""
    from phiflash.lm.cache import Cache
    from phiflash.lm.testing import random_model, tiny_config
    cfg = tiny_config(**config)
    layer = random_model(cfg, seed=cfg.d_inner, dtype=dtype).model.layers[0].attn
    with torch.no_grad():
        layer.A_log.copy_(torch.log(torch.arange(1, cfg.mamba_d_state + 1.0)).expand_as(layer.A_log))
        layer.dt_proj.bias.copy_(torch.linspace(-7, 1, cfg.d_inner))
    assert layer.A_log.dtype == layer.dt_proj.bias.dtype == torch.float32  # as the checkpoint stores them
    return cfg, layer, Cache


@pytest.mark.parametrize("path", MAMBA_PATHS)
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
@pytest.mark.parametrize("B,config", [
    (1, dict(hidden_size=32, mamba_d_state=16)),                          # E = 64: whole blocks of 8 channels
    (3, dict(hidden_size=20, num_attention_heads=2, num_key_value_heads=2, mamba_d_state=8,
             mamba_dt_rank=9)),                                           # E = 40, R = 9: a dot's tail
    (2, dict(hidden_size=36, num_attention_heads=2, num_key_value_heads=2, mamba_d_state=4)),  # N = 4: plain loop
])
@pytest.mark.parametrize("emit_memory", [False, True])
def test_mamba_decode_step_equals_the_torch_ops(monkeypatch, path, dtype, tol, B, config, emit_memory):
    """The fused step (conv, silu, Δ, the state update, the D skip, the gate or the GMU memory) against
    Mamba.forward's torch ops, over 6 steps after a 5-token prefill: outputs, memory, and both states after each
    step. A path this CPU lacks is refused with a clear error."""
    from phiflash.lm import ops
    from phiflash.lm.sambay import Step
    cfg, layer, Cache = mamba_layer(dtype, **config)
    g = torch.Generator().manual_seed(B)
    u = (torch.randn(B, 11, cfg.hidden_size, generator=g)).to(dtype)
    caches = [Cache.allocate(cfg, B, 16, dtype=dtype) for _ in range(2)]
    if path not in kernels.supported_paths():
        with pytest.raises(RuntimeError, match="cannot run path"):
            layer._decode_step(layer.in_proj(u[:, :1])[:, 0], caches[0], emit_memory, kernels.PATHS[path])
        return
    outs = []
    for cache, fused in zip(caches, (True, False)):
        chosen = kernels.PATHS[path] if fused else None
        monkeypatch.setattr(ops, "mamba_step_path", lambda *a, chosen=chosen: chosen)
        with torch.inference_mode():
            positions = torch.zeros(B, 5, dtype=torch.long)  # unused by a Mamba layer
            layer(u[:, :5], Step(cache, positions, 16), emit_memory)
            per_step = []
            for t in range(5, 11):
                out, memory = layer(u[:, t:t + 1], Step(cache, positions[:, :1], 16), emit_memory)
                per_step.append((out, memory, cache.conv[0].clone(), cache.ssm[0].clone()))
        outs.append(per_step)
    for (out, mem, conv, ssm), (out_t, mem_t, conv_t, ssm_t) in zip(*outs):
        assert out.dtype == dtype and out.shape == (B, 1, cfg.hidden_size)
        torch.testing.assert_close(out.float(), out_t.float(), rtol=tol, atol=tol * out_t.abs().max().item())
        torch.testing.assert_close(ssm, ssm_t, rtol=1e-5, atol=1e-5 * ssm_t.abs().max().item())
        torch.testing.assert_close(conv, conv_t, rtol=0, atol=0)  # the inputs themselves: exact
        assert (mem is None) == (not emit_memory)
        if emit_memory:
            torch.testing.assert_close(mem.float(), mem_t.float(), rtol=tol, atol=tol * mem_t.abs().max().item())


def test_the_model_runs_the_fused_mamba_step_where_it_should(monkeypatch):
    """Decode steps (one token, no rollback trail) on a CPU in bf16 / float32 take it where a SIMD path runs;
    float16, weights in another dtype, and a CPU without one (unless PHIFLASH_KERNEL=portable) keep torch's ops;
    and a whole model decodes the same with and without it, the fused step in every Mamba layer of every step."""
    from phiflash.lm import ops
    from phiflash.lm.testing import random_model, tiny_config
    xz = torch.zeros(1, 1, 8, dtype=torch.bfloat16)
    # a SIMD path (not under ATEN_CPU_CAPABILITY=default, nor on ARM), or the plain one asked for
    runs = kernels.chosen_path() != kernels.PATHS["portable"] or kernels.choice() == "portable"
    assert (ops.mamba_step_path(xz, xz) is not None) == runs
    assert (ops.mamba_step_path(xz.float(), xz.float()) is not None) == runs
    assert ops.mamba_step_path(xz.half(), xz.half()) is None
    assert ops.mamba_step_path(xz, xz.float()) is None  # weights in another dtype than the activations
    monkeypatch.setattr(kernels, "chosen_path", lambda: kernels.PATHS["portable"])
    monkeypatch.delenv("PHIFLASH_KERNEL", raising=False)
    assert ops.mamba_step_path(xz, xz) is None          # the plain loop only when asked for
    monkeypatch.setenv("PHIFLASH_KERNEL", "portable")
    assert ops.mamba_step_path(xz, xz) == kernels.PATHS["portable"]
    monkeypatch.undo()

    from phiflash.lm import sambay
    fused_calls = []
    decode_step = sambay.Mamba._decode_step
    monkeypatch.setattr(sambay.Mamba, "_decode_step", lambda *a: fused_calls.append(1) or decode_step(*a))
    model = random_model(tiny_config(), seed=3)
    ids = torch.randint(0, 1000, (2, 9), generator=torch.Generator().manual_seed(0))
    logits = []
    for fused in (True, False):
        monkeypatch.setattr(ops, "mamba_step_path", (lambda *a: kernels.chosen_path()) if fused else (lambda *a: None))
        with torch.inference_mode():
            cache = model.new_cache(2, 16)
            model.prefill(ids[:, :4], cache)
            logits.append(torch.stack([model.decode(ids[:, t:t + 1], cache) for t in range(4, 9)]))
        if fused:  # every Mamba layer of every decode step, none of the prompt's
            assert len(fused_calls) == 5 * sum(k == "mamba" for k in model.config.layer_kinds)
    torch.testing.assert_close(logits[0], logits[1], rtol=1e-4, atol=1e-4 * logits[1].abs().max().item())


@pytest.mark.parametrize("path", MAMBA_PATHS)
def test_mamba_step_refuses_mismatched_inputs(path):
    if path not in kernels.supported_paths():
        pytest.skip("this CPU has no such path (the refusal is tested above)")
    E, N, R = 16, 8, 2
    x = torch.zeros(1, 2 * E)
    with pytest.raises(RuntimeError, match="share one dtype"):
        torch.ops.phiflash.mamba_conv_step(x, torch.zeros(1, E, 3, dtype=torch.bfloat16), torch.zeros(E, 1, 4),
                                           None, kernels.PATHS[path])
    with pytest.raises(RuntimeError, match=r"xdbc must be \(B, R \+ 2N\)"):
        torch.ops.phiflash.mamba_ssm_step(torch.zeros(1, R + N), torch.zeros(1, E), x, torch.zeros(E, R),
                                          torch.zeros(E), torch.zeros(E, N), torch.zeros(E), torch.zeros(1, E, N),
                                          False, kernels.PATHS[path])


def test_values_kept_from_the_weights_follow_a_change_of_the_weights():
    """A = −exp(A_log) and differential attention's λ are kept between calls (sambay.kept): loading other values
    into the weights (copy_, as the loader does) must give the new ones; under autograd they are computed afresh."""
    from phiflash.lm.testing import random_model, tiny_config
    model = random_model(tiny_config(), seed=5)
    mamba, attn = model.model.layers[0].attn, model.model.layers[1].attn.inner_cross_attn
    with torch.no_grad():
        A, lam = mamba.decay_rates(), attn.lam()
        assert mamba.decay_rates() is A                       # kept
        torch.testing.assert_close(A, -torch.exp(mamba.A_log))
        mamba.A_log.copy_(mamba.A_log + 1)
        attn.lambda_q1.copy_(attn.lambda_q1 * 2)
        torch.testing.assert_close(mamba.decay_rates(), -torch.exp(mamba.A_log))
        from phiflash.lm.sambay import kept
        new_lam = kept(attn, "_lam", (attn.lambda_q1, attn.lambda_k1, attn.lambda_q2, attn.lambda_k2), attn.lam)
        torch.testing.assert_close(new_lam, attn.lam())
        assert not torch.equal(new_lam, lam)
    mamba.A_log.requires_grad_(True)
    assert mamba.decay_rates().requires_grad                 # grad mode: a fresh graph, not the kept tensor
