"""Full scale: the official 3.8B configuration with random bf16 weights in the official layout, written once to
.bench-cache/ (`make bench-clean` removes it), then quantized to int8 and int4 checkpoints with `phiflash
quantize`'s code. For bf16, int8 and int4 side by side: quantize time and peak RSS, load time and peak RSS against
the file size, prefill, batch-1 decode beside the bound from bandwidth measured in the same process, batch-16
aggregate tok/s, accuracy against bf16 (relative logit error, top-1/top-5 agreement), and the time to answer a
2,000-token reasoning trace after a 200-token prompt. Each measurement runs in a fresh process so its peak RSS
is its own. The bound is bytes read per token ÷ the memory read bandwidth measured in that same process.

bf16 runs two ways (phiflash's bf16 kernel, torch's linear layers); int8 and int4 three: phiflash's kernels on the
best path this CPU has, their AVX2 path (what an AVX2-only laptop runs: ATEN_CPU_CAPABILITY=avx2,
PHIFLASH_KERNEL=avx2), and torch's weight-only kernels (the code before phiflash had its own: the baselines, and the
accuracy without int8 activations).

`python -m benchmarks --only full --quick` runs the same on a mid-size configuration (width 1024, 32 layers) in
about a minute: the same ordering, for developers."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from phiflash.lm import kernels
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
from phiflash.lm import kernels
from benchmarks.common import read_bandwidth
from benchmarks.decode_step import decode_with_reads
t0 = time.perf_counter()
model = load_model({path!r})
load_s = time.perf_counter() - t0
rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
V = model.config.vocab_size
g = torch.Generator().manual_seed(0)
prompt = torch.randint(0, V - 100, (1, {prompt}), generator=g)
with torch.inference_mode(), flushed_denormals():
    cache = model.new_cache(1, {prompt} + {trace} + {steps} + 16)
    t0 = time.perf_counter()
    logits = model.prefill(prompt, cache)
    prefill_s = time.perf_counter() - t0
    tok = logits.argmax(-1, keepdim=True)
    tok, times, reads = decode_with_reads(model, tok, cache, {steps})  # the bound is the median of these reads
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
bw = statistics.median(reads)
bw_after = read_bandwidth()  # once more after everything: how much the machine moved during the run
kernel = kernels.describe({mode!r})
RESULT = dict(load_s=load_s, rss_load_gb=rss_load, prefill_s=prefill_s, decode_median_s=statistics.median(times),
              decode_best_s=min(times), batch16_s=statistics.median(b16), trace_s=trace_s, bw=bw, bw_after=bw_after,
              kernel=kernel,
              capability=torch.backends.cpu.get_cpu_capability())
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


def variants() -> list[tuple[str, str, dict]]:
    """(label, format, environment) of each fresh process: the defaults (phiflash's kernels for int8 and int4),
    their AVX2 paths where this CPU has more (what an AVX2-only CPU runs), then torch's kernels (the code before
    phiflash had its own: the baselines, and int4's weight-only accuracy)."""
    avx2, torch_k = {"ATEN_CPU_CAPABILITY": "avx2"}, {"PHIFLASH_KERNEL": "torch"}
    out = [("bf16", "bf16", {}), ("int8", "int8", {}), ("int4", "int4", {})]
    lower = "avx2" in kernels.supported_paths() and kernels.describe() != "phiflash avx2"
    if lower:
        out += [("int8 · AVX2", "int8", {**avx2, "PHIFLASH_KERNEL": "avx2"}),
                ("int4 · AVX2", "int4", {**avx2, "PHIFLASH_KERNEL": "avx2"})]
    out += [("bf16 torch", "bf16", torch_k), ("int8 torch", "int8", torch_k), ("int4 torch", "int4", torch_k)]
    return out + ([("int8 torch · AVX2", "int8", {**avx2, **torch_k})] if lower else [])


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
    steps, trace, prompt = (8, 0, 200) if quick else (24, 2000, 200)
    data, rows, acc_rows = {}, [], []
    ref_logits = None
    for label, mode, env in variants():
        console.print(f"[dim]{name.split('-')[0]} scale, {label}: loading and timing in a fresh process…[/dim]")
        logits_path = CACHE / f"logits-{label.replace(' ', '-')}.pt"
        r = run_child(CHILD.format(path=str(paths[mode]), prompt=prompt, steps=steps, acc=256, mode=mode,
                                   trace=trace if label == "int4" else 0, logits=str(logits_path)), env=env)
        r["quantize"] = quantize.get(mode) if label == mode else None
        r["file_gb"] = _size(paths[mode])
        nbytes = read_bytes(config, mode)
        r["read_gb"] = nbytes / 1e9
        data[label] = r
        bound = r["bw"] * 1e9 / nbytes
        r["share_of_bound"] = (1 / r["decode_median_s"]) / bound
        q = r["quantize"]
        rows.append([label, r["kernel"], r["capability"], f"{r['read_gb']:.2f}",
                     f"{1 / r['decode_median_s']:.2f} (best {1 / r['decode_best_s']:.2f})",
                     f"{bound:.2f} ({r['bw']:.1f})", f"{r['share_of_bound']:.0%}", f"{16 / r['batch16_s']:.1f}",
                     f"{r['prefill_s']:.1f} s", f"{r['load_s']:.1f} s",
                     f"{r['rss_load_gb']:.2f} / {r['peak_rss_gb']:.2f} / {r['file_gb']:.2f} GB",
                     f"{q['quantize_s']:.0f} s, {q['peak_rss_gb']:.1f} GB" if q else "—"])
        logits = torch.load(logits_path)
        if label == "bf16":
            ref_logits = logits
        else:
            err = ((logits - ref_logits).norm() / ref_logits.norm()).item()
            top1 = (logits.argmax(-1) == ref_logits.argmax(-1)).float().mean().item()
            top5 = (ref_logits.topk(5, -1).indices == logits.argmax(-1, keepdim=True)).any(-1).float().mean().item()
            r["accuracy"] = dict(rel_logit_err=err, top1=top1, top5=top5)
            acc_rows.append([label, r["kernel"], f"{err:.3f}", f"{top1:.1%}", f"{top5:.1%}"])
    tps = {k: 1 / v["decode_median_s"] for k, v in data.items()}
    notes = [f"int4 is {tps['int4'] / tps['int8']:.2f}x int8, {tps['int4'] / tps['int8 torch']:.2f}x torch's int8 "
             f"and {tps['int4'] / tps['bf16']:.2f}x bf16 (medians)"]
    if "int4 · AVX2" in tps:
        notes.append(f"on the AVX2 paths int4 is {tps['int4 · AVX2'] / tps['int8 · AVX2']:.2f}x int8 and "
                     f"{tps['int4 · AVX2'] / tps['int8 torch · AVX2']:.2f}x torch's int8")
    table(f"{name.split('-')[0]} scale (random weights), 2 threads: every format side by side, same run",
          ["weights", "kernel", "CPU capability", "GB read/token", "decode tok/s, batch 1",
           "bound tok/s (read GB/s)", "share of bound", "batch 16 tok/s", f"prefill {prompt}", "load",
           "peak RSS after load / whole run / file", "quantize (time, peak RSS)"], rows,
          "; ".join(notes) + ". Targets (#24): int4 ≥ 75% of the bound on every path, ≥ 1.6x int8; batch 16 never "
          "slower in aggregate than batch 1.")
    if "int4 torch" in data and "int4" in data:
        a, b = data["int4"]["accuracy"]["rel_logit_err"], data["int4 torch"]["accuracy"]["rel_logit_err"]
        acc_note = f"int8 activations add {a / b - 1:+.1%} to weight-only int4's error (target ≤ +20%)"
    else:
        acc_note = None
    table("accuracy against bf16 over 256 positions (random weights exaggerate it: their logits have no margins)",
          ["weights", "kernel", "relative logit error", "same top-1", "bf16's top-5 holds its top-1"], acc_rows,
          acc_note)
    if trace:
        t = data["int4"]["trace_s"]
        console.print(f"int4: a {prompt}-token prompt and a 2,000-token reasoning trace took {t / 60:.1f} min")
    save("full" if not quick else "full-mid", data)
    return data
