"""Full scale: the official 3.8B configuration with random bf16 weights in the official layout, written once to
.bench-cache/ (`make bench-clean` removes it), then quantized to int8 and int4 checkpoints with `phiflash
quantize`'s code. For bf16, int8 and int4 side by side: quantize time and peak RSS, load time and peak RSS against
the file size, prefill, batch-1 decode beside the bound from bandwidth measured in the same process, batch-16
aggregate tok/s, accuracy against bf16 (relative logit error, top-1/top-5 agreement), and the time to answer a
2,000-token reasoning trace after a 200-token prompt. Each measurement runs in a fresh process so its peak RSS
is its own.

`python -m benchmarks --only full --quick` runs the same on a mid-size configuration (width 1024, 32 layers) in
about a minute: the same ordering, for developers."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from phiflash.lm.config import PhiFlashConfig
from phiflash.lm.testing import write_random_checkpoint
from phiflash.lm.throughput import read_bytes

from .common import console, run_child, save, table

CACHE = Path(__file__).resolve().parents[1] / ".bench-cache"
MID = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=32, num_attention_heads=16,
           num_key_value_heads=8, vocab_size=32064)

QUANTIZE = """
import time, resource, torch
torch.set_num_threads(2)
from phiflash.lm.weights import quantize_checkpoint
t0 = time.perf_counter()
quantize_checkpoint({src!r}, {dst!r}, {mode!r})
RESULT = dict(quantize_s=time.perf_counter() - t0)
"""

CHILD = """
import time, resource, statistics, torch
torch.set_num_threads(2)
from phiflash.lm.weights import load_model
from phiflash.lm.generate import flushed_denormals
from phiflash.lm.throughput import matvec_bandwidth
t0 = time.perf_counter()
model = load_model({path!r})
load_s = time.perf_counter() - t0
rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
V = model.config.vocab_size
g = torch.Generator().manual_seed(0)
prompt = torch.randint(0, V - 100, (1, {prompt}), generator=g)
with torch.inference_mode(), flushed_denormals():
    cache = model.new_cache(1, {prompt} + {trace} + 16)
    t0 = time.perf_counter()
    logits = model.prefill(prompt, cache)
    prefill_s = time.perf_counter() - t0
    tok = logits.argmax(-1, keepdim=True)
    times = []
    for _ in range({steps}):
        t0 = time.perf_counter()
        tok = model.decode(tok, cache).argmax(-1, keepdim=True)
        times.append(time.perf_counter() - t0)
    trace_s = None
    if {trace}:
        t0 = time.perf_counter()
        for _ in range({trace}):
            tok = model.decode(tok, cache).argmax(-1, keepdim=True)
        trace_s = prefill_s + time.perf_counter() - t0
    big = model.new_cache(16, 64)
    model.prefill(torch.randint(0, V - 100, (16, 8), generator=g), big)
    toks = torch.zeros(16, 1, dtype=torch.long)
    model.decode(toks, big)
    b16 = []
    for _ in range(3):
        t0 = time.perf_counter()
        model.decode(toks, big)
        b16.append(time.perf_counter() - t0)
    # accuracy: logits at {acc} positions of a fixed sequence, kept for the parent to compare with bf16
    seq = torch.randint(0, V - 100, (1, {acc}), generator=torch.Generator().manual_seed(1))
    logits_seq = model(seq)[0].float()
torch.save(logits_seq, {logits!r})
bw = matvec_bandwidth({kernel!r})  # measured here, right after the timing: the bound sees the same machine
RESULT = dict(load_s=load_s, rss_load_gb=rss_load, prefill_s=prefill_s, decode_median_s=statistics.median(times),
              decode_best_s=min(times), batch16_s=statistics.median(b16), trace_s=trace_s, bw=bw)
"""


def ensure_checkpoint(name: str, config: PhiFlashConfig) -> Path:
    path = CACHE / name
    if (path / "model.safetensors.index.json").exists():
        return path
    console.print(f"writing a random {name} bf16 checkpoint to {path} (once)…")
    t0 = time.perf_counter()
    write_random_checkpoint(path, config, dtype=torch.bfloat16)
    console.print(f"[dim]written in {time.perf_counter() - t0:.0f} s[/dim]")
    return path


def bench_checkpoints(name: str):
    """(mode, path) of the benchmark checkpoints of one scale ("full" or "mid") that exist; the missing ones
    are said."""
    for mode in ("bf16", "int8", "int4"):
        path = CACHE / f"{name}-{mode}"
        if (path / "config.json").exists():
            yield mode, path
        else:
            console.print(f"[dim]{path} missing: run the full benchmark first[/dim]")


def _size(path: Path) -> float:
    return sum(f.stat().st_size for f in path.glob("*.safetensors")) / 1e9


def run(quick: bool = False) -> dict:
    config = PhiFlashConfig.tiny(**MID, torch_dtype="bfloat16") if quick else PhiFlashConfig()
    name = "mid-bf16" if quick else "full-bf16"
    src = ensure_checkpoint(name, config)
    paths, quantize = {"bf16": src}, {}
    for mode in ("int8", "int4"):
        dst = CACHE / name.replace("bf16", mode)
        if not (dst / "config.json").exists():
            console.print(f"[dim]quantizing to {mode} in a fresh process…[/dim]")
            quantize[mode] = run_child(QUANTIZE.format(src=str(src), dst=str(dst), mode=mode))
        paths[mode] = dst
    steps, trace, prompt = (8, 0, 200) if quick else (12, 2000, 200)
    data, rows, acc_rows = {}, [], []
    ref_logits = None
    for mode in ("bf16", "int8", "int4"):
        console.print(f"[dim]{name.split('-')[0]} scale, {mode}: loading and timing in a fresh process…[/dim]")
        logits_path = CACHE / f"logits-{mode}.pt"
        r = run_child(CHILD.format(path=str(paths[mode]), prompt=prompt, steps=steps, acc=256, kernel=mode,
                                   trace=trace if mode == "int4" else 0, logits=str(logits_path)))
        r["quantize"] = quantize.get(mode)
        r["file_gb"] = _size(paths[mode])
        nbytes = read_bytes(config, mode)
        r["read_gb"] = nbytes / 1e9
        data[mode] = r
        bound = r["bw"] * 1e9 / nbytes
        q = quantize.get(mode)
        rows.append([mode, f"{r['read_gb']:.2f}", f"{1 / r['decode_median_s']:.2f} (best {1 / r['decode_best_s']:.2f})",
                     f"{bound:.2f}", f"{16 / r['batch16_s']:.1f}", f"{r['prefill_s']:.1f} s",
                     f"{r['load_s']:.1f} s",
                     f"{r['rss_load_gb']:.2f} / {r['peak_rss_gb']:.2f} / {r['file_gb']:.2f} GB",
                     f"{q['quantize_s']:.0f} s, {q['peak_rss_gb']:.1f} GB" if q else "—"])
        logits = torch.load(logits_path)
        if mode == "bf16":
            ref_logits = logits
        else:
            err = ((logits - ref_logits).norm() / ref_logits.norm()).item()
            top1 = (logits.argmax(-1) == ref_logits.argmax(-1)).float().mean().item()
            top5 = (ref_logits.topk(5, -1).indices == logits.argmax(-1, keepdim=True)).any(-1).float().mean().item()
            r["accuracy"] = dict(rel_logit_err=err, top1=top1, top5=top5)
            acc_rows.append([mode, f"{err:.3f}", f"{top1:.1%}", f"{top5:.1%}"])
    speedup = data["bf16"]["decode_median_s"] / data["int4"]["decode_median_s"]
    table(f"{name.split('-')[0]} scale (random weights), 2 threads: bf16 / int8 / int4 side by side, same run",
          ["weights", "GB read/token", "decode tok/s, batch 1", "bound tok/s (measured GB/s)", "batch 16 tok/s",
           f"prefill {prompt}", "load", "peak RSS after load / whole run / file", "quantize (time, peak RSS)"], rows,
          f"int4 is {data['int8']['decode_median_s'] / data['int4']['decode_median_s']:.2f}x int8 and "
          f"{speedup:.2f}x bf16 (medians). Targets at full scale: int4 ≥ 10 tok/s and ≥ 1.7x int8, int8 ≥ 5.5, "
          "bf16 ≥ 3; quantized load ≤ 3 s with peak RSS ≤ 1.3x the file.")
    table("accuracy against bf16 over 256 positions (random weights exaggerate it: their logits have no margins)",
          ["weights", "relative logit error", "same top-1", "bf16's top-5 holds its top-1"], acc_rows)
    if trace:
        t = data["int4"]["trace_s"]
        console.print(f"int4: a {prompt}-token prompt and a 2,000-token reasoning trace took {t / 60:.1f} min "
                      f"(target ≤ 4 min)")
    save("full" if not quick else "full-mid", data)
    return data
