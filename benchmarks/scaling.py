"""SambaY against the same-size transformer at a small config: prefill scaling, decode latency against context,
a long generation, and cache memory (small config measured, full scale computed from the official configs)."""

from __future__ import annotations

import torch

from phiflash.lm.cache import cache_bytes
from phiflash.lm.config import PhiFlashConfig

from .common import console, fit_slope, interleaved, run_child, save, table
from .models import baseline_small, n_params, official_phi4_mini_kv_bytes_per_token, phiflash_small


def _models():
    ours = phiflash_small()
    base = baseline_small(n_params(ours))
    return ours, base


def _base_prefill(base, ids):
    base(ids, logits_to_keep=1, use_cache=True)


def _our_prefill(ours, ids):
    ours.prefill(ids, ours.new_cache(ids.shape[0], ids.shape[1]))


@torch.inference_mode()
def prefill(ours, base, quick: bool = False) -> dict:
    lengths = [512, 1024, 2048] if quick else [512, 1024, 2048, 4096, 8192, 16384]
    data, rows = {}, []
    for T in lengths:
        ids = torch.randint(0, 32000, (1, T))
        reps = 3 if T <= 4096 else 2
        t = interleaved({"phiflash": lambda: _our_prefill(ours, ids), "phi3": lambda: _base_prefill(base, ids)},
                        repeats=reps, warmup=1 if T <= 4096 else 0)
        data[T] = t
    for i, T in enumerate(lengths):
        t = data[T]
        growth = ["", ""] if i == 0 else [f"{t['phiflash'] / data[lengths[i - 1]]['phiflash']:.2f}x",
                                          f"{t['phi3'] / data[lengths[i - 1]]['phi3']:.2f}x"]
        rows.append([T, f"{t['phiflash']:.2f} s", growth[0], f"{t['phi3']:.2f} s", growth[1],
                     f"{T / t['phiflash']:.0f}", f"{T / t['phi3']:.0f}"])
    table(f"prefill, batch 1, bf16, 2 threads (phiflash {n_params(ours) / 1e6:.1f}M params vs Phi3 "
          f"{n_params(base) / 1e6:.1f}M; width 256, 32 layers)",
          ["prompt tokens", "phiflash", "per doubling", "Phi3 (transformers)", "per doubling", "phiflash tok/s",
           "Phi3 tok/s"], rows, "target: phiflash ≤ 2.3x per doubling up to 16K")
    return {str(k): v for k, v in data.items()}


def _fill_ours(ours, B, ctx, steps):
    """A cache as if ctx tokens had been processed: random states and K,V (no real prefill; said in the output)."""
    cache = ours.new_cache(B, ctx + steps)
    for t in [cache.k, cache.v, *cache.ring_k.values(), *cache.ring_v.values(), *cache.conv.values()]:
        t.normal_(0, 1)
    for t in cache.ssm.values():
        t.normal_(0, 0.1)
    cache.lengths.fill_(ctx)
    return cache


def _fill_base(base, B, ctx, steps):
    from transformers.cache_utils import StaticCache

    cache = StaticCache(config=base.config, max_cache_len=ctx + steps)
    ids = torch.zeros(B, 1, dtype=torch.long)
    base(ids, past_key_values=cache, use_cache=True, cache_position=torch.tensor([0]))  # allocates the layers
    for layer in cache.layers:
        layer.keys[:, :, :ctx].normal_(0, 1)
        layer.values[:, :, :ctx].normal_(0, 1)
    return cache


@torch.inference_mode()
def decode(ours, base, quick: bool = False) -> dict:
    contexts = [1024, 4096] if quick else [1024, 4096, 16384, 32768]
    batches = [1] if quick else [1, 16]
    steps = 10
    data, rows = {}, []
    for B in batches:
        for ctx in contexts:
            if B == 16 and ctx > 16384:
                continue  # the baseline's static cache would need 8.6 GB here
            c_ours, c_base = _fill_ours(ours, B, ctx, steps), _fill_base(base, B, ctx, steps)
            tok = torch.zeros(B, 1, dtype=torch.long)
            pos = {"ours": ctx, "base": ctx}

            def step_ours():
                ours.decode(tok, c_ours)

            def step_base():
                p = pos["base"]
                base(tok, past_key_values=c_base, use_cache=True, cache_position=torch.tensor([p]),
                     logits_to_keep=1)
                pos["base"] = p + 1

            t = interleaved({"phiflash": step_ours, "phi3": step_base}, repeats=steps - 1, warmup=1)
            data[f"{B}_{ctx}"] = {"batch": B, "context": ctx, **t}
            rows.append([B, ctx, f"{t['phiflash'] * 1e3:.1f} ms", f"{t['phi3'] * 1e3:.1f} ms",
                         f"{B / t['phiflash']:.0f}", f"{B / t['phi3']:.0f}"])
    slopes = {}
    for B in batches:
        pts = [v for v in data.values() if v["batch"] == B]
        xs = [p["context"] / 1000 for p in pts]
        slopes[B] = {k: fit_slope(xs, [p[k] * 1e3 for p in pts]) for k in ("phiflash", "phi3")}
    table("decode: one token per row against context (caches filled with random values at that length, not "
          "prefilled)", ["batch", "context", "phiflash / step", "Phi3 / step", "phiflash tok/s", "Phi3 tok/s"], rows)
    table("decode latency growth with context (least-squares fit)",
          ["batch", "phiflash ms per 1K context", "Phi3 ms per 1K context", "ratio"],
          [[B, f"{s['phiflash']:.3f}", f"{s['phi3']:.3f}", f"{s['phiflash'] / s['phi3']:.2f}"]
           for B, s in slopes.items()], "target: ratio ≤ 0.33")
    return {"points": data, "slopes": {str(k): v for k, v in slopes.items()}}


GENERATION_CHILD = """
import time, torch
torch.set_num_threads(2)
from benchmarks.models import baseline_small, n_params, phiflash_small
ours = phiflash_small()
ids = torch.randint(0, 32000, (1, {prompt}), generator=torch.Generator().manual_seed(0))
with torch.inference_mode():
    t0 = time.perf_counter()
    if {which!r} == "phiflash":
        from phiflash.lm.generate import generate
        n = len(generate(ours, [ids[0].tolist()], max_new_tokens={new}, samples=1).run()[0].token_ids)
    else:
        base = baseline_small(n_params(ours))
        del ours
        t0 = time.perf_counter()
        out = base.generate(ids, max_new_tokens={new}, min_new_tokens={new}, do_sample=False,
                            attention_mask=torch.ones_like(ids), pad_token_id=0)
        n = out.shape[1] - {prompt}
    RESULT = dict(seconds=time.perf_counter() - t0, tokens=n)
"""


def long_generation(quick: bool = False) -> dict:
    """2K prompt then greedy generation, end to end, each model in its own process (for its peak RSS)."""
    prompt, new = (2048, 128) if quick else (2048, 1024)
    res = {w: run_child(GENERATION_CHILD.format(prompt=prompt, new=new, which=w)) for w in ("phiflash", "phi3")}
    table(f"end to end: {prompt}-token prompt, {new} generated tokens, batch 1, greedy, one process each",
          ["model", "seconds", "generated tok/s", "peak RSS (process)"],
          [[name, f"{r['seconds']:.1f}", f"{r['tokens'] / r['seconds']:.1f}", f"{r['peak_rss_gb']:.2f} GB"]
           for name, r in (("phiflash", res["phiflash"]), ("Phi3 (transformers generate)", res["phi3"]))])
    return {"prompt": prompt, "new": new, **res}


def memory(ours, base) -> dict:
    """Cache bytes per sequence at 32K: small configs as allocated; full scale from the official configs."""
    ctx = 32768
    c = ours.new_cache(1, ctx)
    small_ours = c.nbytes
    del c
    bcfg = base.config
    small_base = 2 * bcfg.num_hidden_layers * bcfg.num_key_value_heads * 128 * 2 * ctx
    fixed, per_tok = cache_bytes(PhiFlashConfig(), ctx, torch.bfloat16)
    full_ours = fixed + per_tok * ctx
    full_base = official_phi4_mini_kv_bytes_per_token() * ctx
    weights = 3_852_562_944 * 2  # both models are 3.8B parameters in bf16
    budget = 16e9 - weights
    rows = [["small config (measured)", f"{small_ours / 1e6:.1f} MB", f"{small_base / 1e6:.1f} MB",
             f"{small_ours / small_base:.3f}", "", ""],
            ["full scale (official configs)", f"{full_ours / 1e6:.0f} MB", f"{full_base / 1e6:.0f} MB",
             f"{full_ours / full_base:.3f}", f"{int(budget // full_ours)}", f"{int(budget // full_base)}"]]
    table("cache per sequence at 32K tokens (bf16)", ["", "phiflash", "same-size transformer", "ratio",
                                                       "32K seqs beside weights in 16 GB: phiflash",
                                                       "transformer"], rows,
          "targets: ratio ≤ 0.1; ≥ 20x more sequences. Full-scale transformer = Phi-4-mini (32 layers × 8 KV "
          "heads × 128)")
    return {"small": [small_ours, small_base], "full": [full_ours, full_base],
            "seqs_16gb": [int(budget // full_ours), int(budget // full_base)]}


def run(quick: bool = False) -> dict:
    ours, base = _models()
    console.print(f"[bold]small config[/bold]: phiflash {n_params(ours):,} params, Phi3 baseline "
                  f"{n_params(base):,} (intermediate {base.config.intermediate_size})")
    data = {"prefill": prefill(ours, base, quick), "decode": decode(ours, base, quick),
            "long_generation": long_generation(quick), "memory": memory(ours, base)}
    save("scaling", data)
    return data
