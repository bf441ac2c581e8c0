"""Self-consistency cost: K samples of one prompt decoded together as K rows after one prefill (what `solve
--samples K` does), for K = 1, 2, 4, 8, in bf16, int8 and int4 side by side at full scale (random weights;
cost does not depend on them). Each weight format runs in a fresh process; the K rows share every weight read,
so K samples cost little more than one while decode is bound by reading the weights."""

from __future__ import annotations

from .common import console, run_child, save, table
from .full import bench_checkpoints

CHILD = """
import time, torch
torch.set_num_threads(2)
from phiflash.lm.weights import load_model
from phiflash.lm.generate import SamplingParams, generate
model = load_model({path!r})
prompt = torch.randint(0, model.config.vocab_size - 100, (200,), generator=torch.Generator().manual_seed(0)).tolist()
params = SamplingParams(temperature=0.6, top_p=0.95, seed=0)
out = {{}}
for k in (1, 2, 4, 8):
    generate(model, [prompt], params, max_new_tokens=2, samples=k).run()         # warm: pages and kernels
    t0 = time.perf_counter()
    generate(model, [prompt], params, max_new_tokens={tokens}, samples=k).run()
    out[k] = time.perf_counter() - t0
RESULT = out
"""


def run(quick: bool = False) -> dict:
    name, tokens = ("mid", 32) if quick else ("full", 64)
    data, rows = {}, []
    for mode, path in bench_checkpoints(name):
        console.print(f"[dim]{name} scale, {mode}: K = 1, 2, 4, 8 samples in a fresh process…[/dim]")
        child = run_child(CHILD.format(path=str(path), tokens=tokens))
        r = {int(k): v for k, v in child.items() if k.isdigit()}
        data[mode] = r
        rows.append([mode] + [f"{r[k]:.1f} s ({r[k] / r[1]:.2f}x)" for k in (1, 2, 4, 8)]
                    + [f"{8 * tokens / r[8]:.1f}"])
    table(f"{name} scale: wall time of K samples of {tokens} tokens after one 200-token prefill (x: vs K = 1)",
          ["weights", "K = 1", "K = 2", "K = 4", "K = 8", "K = 8 aggregate tok/s"], rows,
          "target: K = 4 ≤ 1.5x K = 1 in the fastest format")
    save(f"samples-{name}", data)
    return data
