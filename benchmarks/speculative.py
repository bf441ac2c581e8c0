"""Speculative decoding (n-gram drafts, verified several tokens per model call, rolled back by Cache.keep).

1. Acceptance on real text: the 500 MATH-500 reference solutions, tokenized with the official tokenizer (rebuilt
   from vocab.json), are teacher-forced through the drafter and its adaptive draft length exactly as
   `speculative_generate` runs them: tokens gained per model call is the upper bound a model writing that text
   would see.
2. Cost of a verify call of T tokens (T = 1 is a plain decode step) at full scale, bf16 / int8 / int4, each in a
   fresh process, including the trail it records and Cache.keep.
3. The projection: effective tok/s = tokens / Σ cost(T) over the calls of part 1, per weight format.
4. A tiny random checkpoint whose greedy output repeats: speculative greedy against plain greedy, token-identical,
   wall time side by side.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter

from phiflash.lm.generate import GREEDY, DraftPolicy, NgramIndex, generate

from .common import console, run_child, save, table
from .full import bench_checkpoints

TS = range(1, 9)

CHILD = """
import time, statistics, torch
torch.set_num_threads(2)
from phiflash.lm.weights import load_model
from phiflash.lm.cache import Trail
from phiflash.lm.generate import flushed_denormals
model = load_model({path!r})
V = model.config.vocab_size
g = torch.Generator().manual_seed(0)
out = {{}}
with torch.inference_mode(), flushed_denormals():
    cache = model.new_cache(1, 600)
    model.prefill(torch.randint(0, V - 100, (1, 300), generator=g), cache)
    for rep in range({reps} + 1):                     # the first round warms pages and kernels
        for T in {ts}:
            ids = torch.randint(0, V - 100, (1, T), generator=g)
            t0 = time.perf_counter()
            if T == 1:
                model.decode(ids[:, :1], cache)
                cache.lengths -= 1
            else:
                trail = Trail()
                model.extend(ids, cache, trail)
                cache.keep(trail, 1)                  # a draft missed: the costliest rollback
                cache.lengths -= 1
            if rep:
                out.setdefault(T, []).append(time.perf_counter() - t0)
RESULT = {{T: statistics.median(v) for T, v in out.items()}}
"""


def encoded(reference_dir, rows: list[dict]) -> list[tuple[list[int], list[int]]]:
    """(chat prompt, reference solution) token ids per row, with the official tokenizer."""
    from phiflash.app.engines import MATH_PROMPT
    from phiflash.lm.tokenizer import Tokenizer

    tok = Tokenizer.from_dir(reference_dir)
    return [(tok.encode_chat([{"role": "user", "content": MATH_PROMPT.format(problem=r["problem"])}]),
             tok.encode(r["solution"])) for r in rows]


def teacher_forced(texts: list[tuple[list[int], list[int]]], costs: dict[int, float] | None = None) -> dict:
    """Run the drafter and its policy over each reference solution as if a model had written it (the policy
    given the measured cost of each call length, as it would measure them while generating); count what every
    model call (decode step or verify call) would have yielded."""
    calls: Counter = Counter()           # T -> model calls that appended T tokens
    tokens = drafted = accepted = verify_calls = 0
    for prompt, truth in texts:
        history, policy, i = NgramIndex(prompt), DraftPolicy(costs=dict(costs or {})), 0
        while i < len(truth):
            history.append(truth[i])     # the token the last call's logits chose; the next call feeds it
            i += 1
            if i == len(truth):
                break
            found, n = history.match(min(policy.max_draft, len(truth) - i))
            draft = found[:policy.choose(len(found), n)]
            matched = 0
            while matched < len(draft) and draft[matched] == truth[i + matched]:
                matched += 1
            calls[1 + len(draft)] += 1
            if draft:
                verify_calls += 1
                drafted, accepted = drafted + len(draft), accepted + matched
                policy.observe(n, len(draft), matched)
                history.extend(truth[i:i + matched])
                i += matched
        tokens += len(truth)
    n_calls = sum(calls.values())
    return dict(solutions=len(texts), tokens=tokens, calls={int(k): v for k, v in sorted(calls.items())},
                tokens_per_call=tokens / n_calls, verify_calls=verify_calls, drafted=drafted, accepted=accepted,
                accepted_per_verify=accepted / max(verify_calls, 1), acceptance=accepted / max(drafted, 1))


def tiny_repetition(tokens: int = 400) -> dict:
    """Plain and speculative greedy on a tiny random model from a prompt it continues by repeating itself."""
    from phiflash.lm.testing import random_model, tiny_config

    model = random_model(tiny_config(), seed=3)
    prompt = [1000 + (i % 7) for i in range(40)]
    plain_s, spec_s = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        plain = generate(model, [prompt], GREEDY, max_new_tokens=tokens).run()[0]
        plain_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fast = generate(model, [prompt], GREEDY, max_new_tokens=tokens, speculate=True).run()[0]
        spec_s.append(time.perf_counter() - t0)
    return dict(tokens=tokens, identical=fast.token_ids == plain.token_ids, plain_s=statistics.median(plain_s),
                speculative_s=statistics.median(spec_s), acceptance=fast.draft_acceptance or 0.0,
                calls=fast.model_calls)


def run(quick: bool = False) -> dict:
    from phiflash.lm.testing import REFERENCE

    rows = [json.loads(line) for line in (REFERENCE.parents[1] / "data" / "math500" / "test.jsonl").open()]
    texts = encoded(REFERENCE, rows[:100] if quick else rows)
    name = "mid" if quick else "full"
    data, cost_rows, text_rows, proj_rows = {}, [], [], []
    for mode, path in bench_checkpoints(name):
        console.print(f"[dim]{name} scale, {mode}: verify cost for T = 1..8 in a fresh process…[/dim]")
        child = run_child(CHILD.format(path=str(path), ts=list(TS), reps=3 if quick else 5))
        cost = {int(k): v for k, v in child.items() if k.isdigit()}
        t = teacher_forced(texts, cost)
        step, spent = cost[1], sum(n * cost[T] for T, n in t["calls"].items())
        plain_tps, spec_tps = 1 / step, t["tokens"] / spent
        data[mode] = dict(cost_s=cost, text=t, plain_tok_s=plain_tps, projected_tok_s=spec_tps)
        cost_rows.append([mode, f"{step * 1e3:.0f} ms"] + [f"{cost[T] / step:.2f}×" for T in TS if T > 1])
        text_rows.append([mode, f"{t['tokens_per_call']:.2f}", f"{t['verify_calls'] / sum(t['calls'].values()):.0%}",
                          f"{t['accepted_per_verify']:.2f}", f"{t['acceptance']:.0%}",
                          ", ".join(f"{k}: {v}" for k, v in t["calls"].items())])
        proj_rows.append([mode, f"{plain_tps:.2f}", f"{spec_tps:.2f}", f"{spec_tps / plain_tps:.2f}×"])
    if cost_rows:
        table(f"{name} scale, 2 threads: a verify call of T tokens (with its trail and rollback) against one "
              "decode step", ["weights", "decode step"] + [f"T={T}" for T in TS if T > 1], cost_rows)
        table(f"n-gram drafting on real text: {len(texts)} MATH-500 reference solutions teacher-forced "
              f"({sum(len(x) for _, x in texts):,} tokens, official tokenizer), the draft policy given each "
              "format's costs", ["weights", "tokens per model call", "verify calls", "accepted per verify",
                                 "drafted accepted", "calls by tokens appended (T)"], text_rows,
              "An upper bound for a model writing these texts; a model's own traces repeat more (restated "
              "equations) or less.")
        table(f"{name} scale: projected effective decode speed with n-gram speculation on MATH-500-like text",
              ["weights", "plain tok/s", "speculative tok/s (projected)", "speed-up"], proj_rows,
              "projected = reference tokens / Σ over the teacher-forced calls of their measured cost. "
              "Goal for the real model with int4: ≥ 15 tok/s.")
    tiny = data["tiny"] = tiny_repetition(200 if quick else 400)
    table("tiny random checkpoint whose greedy output repeats: speculative against plain greedy, same run",
          ["tokens", "identical", "plain", "speculative", "speed-up", "drafts accepted", "model calls"],
          [[tiny["tokens"], "yes" if tiny["identical"] else "NO", f"{tiny['plain_s']:.2f} s",
            f"{tiny['speculative_s']:.2f} s", f"{tiny['plain_s'] / tiny['speculative_s']:.2f}×",
            f"{tiny['acceptance']:.0%}", tiny["calls"]]], "target: identical and ≥ 1.5× faster")
    save("speculative" if not quick else "speculative-mid", data)
    return data
