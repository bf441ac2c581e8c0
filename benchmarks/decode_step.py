"""One checkpoint's decode step, for comparing two versions of the code on one shared machine in one sitting:

    python benchmarks/decode_step.py .bench-cache/full-int4                       # this tree
    git worktree add /tmp/old REV && PYTHONPATH=/tmp/old python benchmarks/decode_step.py .bench-cache/full-int4

Run the two alternately, a few times each: this machine's memory rate moves by a third within minutes, so figures
from different runs of `python -m benchmarks --only full` differ by more than most changes. Prints the median of
16 decode steps after a 200-token prompt, the memory read rate measured after each step (a 256 MB sum), and with
`--verify T` a T-token `extend` against one step."""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def decode_with_reads(model, tok: torch.Tensor, cache, steps: int) -> tuple[torch.Tensor, list[float], list[float]]:
    """`steps` greedy decode steps, each followed by a read of 256 MB, so the speed and the bound see the same
    machine (a shared one moves both by ±20% within minutes): the last token, each step's seconds, each read's GB/s.
    (`python -m benchmarks --only full` times its steps with this too.)"""
    block = torch.ones(256 * 2**20 // 4)
    times, reads = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        tok = model.decode(tok, cache).argmax(-1, keepdim=True)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        block.sum()
        reads.append(block.numel() * 4 / (time.perf_counter() - t0) / 1e9)
    return tok, times, reads


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--verify", type=int, default=1, help="also time a call of T tokens against one step")
    args = ap.parse_args()
    torch.set_num_threads(2)
    import phiflash
    from phiflash.lm.generate import flushed_denormals
    from phiflash.lm.weights import load_model

    model = load_model(args.checkpoint)
    prompt = torch.randint(0, model.config.vocab_size - 100, (1, 200), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), flushed_denormals():
        cache = model.new_cache(1, 400)
        tok = model.prefill(prompt, cache).argmax(-1, keepdim=True)
        tok, steps, reads = decode_with_reads(model, tok, cache, 16)
        verifies = []
        for _ in range(6 if args.verify > 1 else 0):
            t0 = time.perf_counter()
            model.extend(tok.repeat(1, args.verify), cache)
            verifies.append(time.perf_counter() - t0)
            cache.lengths -= args.verify
    step = statistics.median(steps)
    line = f"{phiflash.__file__}: step {step * 1e3:.1f} ms, read {statistics.median(reads):.1f} GB/s"
    if verifies:
        line += f", {args.verify}-token call {statistics.median(verifies) / step:.2f}x a step"
    print(line)


if __name__ == "__main__":
    main()
