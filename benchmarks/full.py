"""Full scale: the official 3.8B configuration with random bf16 weights in the official layout, written once to
.bench-cache/ (`make bench-clean` removes it). Load time, peak RSS, prefill of 512 tokens and batch-1 decode, in
bf16 and with int8 weights, each beside the bound this machine's measured bandwidth allows. Each measurement runs
in a fresh process so its peak RSS is its own."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from phiflash.lm.config import PhiFlashConfig
from phiflash.lm.testing import write_random_checkpoint

from .common import console, run_child, save, table

CACHE = Path(__file__).resolve().parents[1] / ".bench-cache" / "full-bf16"

CHILD = """
import time, resource, torch
torch.set_num_threads(2)
from phiflash.lm.weights import load_model
t0 = time.perf_counter()
model = load_model({path!r}, quantize={quantize!r})
load_s = time.perf_counter() - t0
rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
tensors = {id(t): t for t in list(model.parameters()) + list(model.buffers())}  # the tied head once
weights = sum(t.numel() * t.element_size() for t in tensors.values())
g = torch.Generator().manual_seed(0)
ids = torch.randint(0, 199000, (1, {prompt}), generator=g)
with torch.inference_mode():
    prefill_s = []
    for _ in range(2 if {do_prefill} else 0):  # the first call also pages the memory-mapped weights in
        cache = model.new_cache(1, {prompt} + 16)
        t0 = time.perf_counter()
        model.prefill(ids, cache)
        prefill_s.append(time.perf_counter() - t0)
    if not {do_prefill}:
        cache = model.new_cache(1, {prompt} + 16)
        model.prefill(ids[:, :8], cache)
    tok = torch.zeros(1, dtype=torch.long)
    for _ in range(2):
        model.decode(tok, cache)
    times = []
    for _ in range({steps}):
        t0 = time.perf_counter()
        model.decode(tok, cache)
        times.append(time.perf_counter() - t0)
times.sort()
from benchmarks.common import bandwidth
bw = bandwidth()  # measured in this process, right after the decode timing, so the bound sees the same machine
RESULT = dict(load_s=load_s, rss_load_gb=rss_load, weights_gb=weights / 1e9, prefill_s=prefill_s,
              decode_s=times[len(times) // 2], bw=bw)
"""


def ensure_checkpoint() -> Path:
    if (CACHE / "model.safetensors.index.json").exists():
        return CACHE
    console.print(f"writing a random full-size bf16 checkpoint to {CACHE} (7.7 GB, once)…")
    t0 = time.perf_counter()
    write_random_checkpoint(CACHE, PhiFlashConfig(), dtype=torch.bfloat16)
    console.print(f"[dim]written in {time.perf_counter() - t0:.0f} s[/dim]")
    return CACHE


def _read_bytes(quantize: str | None) -> float:
    """Bytes a batch-1 decode step reads: every weight but the embedding table (one row), plus the head."""
    cfg = PhiFlashConfig()
    with torch.device("meta"):
        from phiflash.lm.sambay import PhiFlashForCausalLM
        m = PhiFlashForCausalLM(cfg)
    total = 0
    for name, p in m.named_parameters():  # the tied head appears once, as the embedding
        big = name.split(".")[-2] in ("in_proj", "out_proj", "Wqkv", "fc1", "fc2", "embed_tokens")
        total += p.numel() * (1 if (quantize and big) else 2)
    return total


def run(quick: bool = False) -> dict:
    path = ensure_checkpoint()
    steps = 4 if quick else 8
    rows, data = [], {}
    for label, q, prefill in (("bf16", None, True), ("int8 weights", "int8", False)):
        console.print(f"[dim]full scale, {label}: loading and timing in a fresh process…[/dim]")
        r = run_child(CHILD.format(path=str(path), quantize=q, prompt=512, do_prefill=prefill, steps=steps))
        data[label] = r
        read = _read_bytes(q)
        bound = (r["bw"]["int8_matvec"] if q else r["bw"]["bf16_matvec"]) * 1e9 / read
        rows.append([label, f"{r['load_s']:.1f} s", f"{r['rss_load_gb']:.2f} GB ({r['rss_load_gb'] / 7.71:.2f}x)",
                     f"{r['peak_rss_gb']:.2f} GB",
                     f"{r['prefill_s'][1]:.1f} s (first {r['prefill_s'][0]:.1f} s)" if prefill else "—",
                     f"{1 / r['decode_s']:.2f}", f"{bound:.2f}", f"{read / r['decode_s'] / 1e9:.1f}"])
    table("full scale (official config, random weights), batch 1, 2 threads",
          ["weights", "load (weights memory-mapped)", "peak RSS while loading (× 7.71 GB)", "peak RSS, whole run",
           "prefill 512 (first call pages weights in)", "decode tok/s",
           "bound tok/s (bytes read / measured GB/s)", "GB/s achieved"], rows,
          "targets: bf16 ≥ 1.5 tok/s, int8 ≥ 4.5 tok/s, RSS ≤ 1.2x weights, prefill 512 ≤ 15 s")
    save("full", data)
    return data
