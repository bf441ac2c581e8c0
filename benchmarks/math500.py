"""The symbolic engine scored on MATH-500 (`make eval`): how many problems it solves and verifies against the
reference answers, how many it gets wrong (the target is 0), and what the checker says when it is given each
reference answer (must never be "wrong") and a different row's answer (must never be "verified").

python -m benchmarks.math500 [FILE] [--jobs 2] [--limit N] [--show wrong,verified]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from phiflash.symbolic.solver import solve
from phiflash.symbolic.verify import UNVERIFIABLE, VERIFIED, WRONG, check_answer

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "math500" / "test.jsonl"


def score(row: dict, other: str) -> dict:
    problem, ref = row["problem"], row["answer"]
    t0 = time.perf_counter()
    try:
        sol = solve(problem, seconds=10)
        answer = sol.answer_text
        solved = check_answer(answer, problem, expected=ref).status if sol.check else UNVERIFIABLE
        reason = ""
    except Exception as e:  # noqa: BLE001 - a refusal or a failure is this row's result
        answer, solved, reason = None, "refused", f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - t0
    gold = check_answer(ref, problem)
    other_v = check_answer(other, problem) if other.strip() != ref.strip() else None
    return {"id": row.get("unique_id"), "subject": row.get("subject"), "level": row.get("level"), "answer": answer,
            "reference": ref, "solved": solved, "reason": reason, "seconds": seconds,
            "check_reference": gold.status, "check_reference_reason": gold.reason,
            "check_other": other_v.status if other_v else None}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.math500")
    ap.add_argument("file", nargs="?", default=str(DEFAULT))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--show", default="wrong", help="rows to list: wrong,verified,refused,reference-wrong")
    ap.add_argument("--out", help="results file (default: benchmarks/results/<the data set's folder>.jsonl, so a "
                                  "run on the training set never overwrites MATH-500's)")
    args = ap.parse_args()
    dataset = Path(args.file).resolve().parent.name                     # math500, math-train
    args.out = args.out or f"benchmarks/results/{dataset}.jsonl"
    rows = [json.loads(line) for line in Path(args.file).read_text().splitlines() if line.strip()]
    if args.limit:
        rows = rows[:args.limit]
    others = [rows[(i + 1) % len(rows)]["answer"] for i in range(len(rows))]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(score, rows, others, chunksize=4))
    wall = time.perf_counter() - t0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in results))
    solved = Counter(r["solved"] for r in results)
    gold = Counter(r["check_reference"] for r in results)
    other = Counter(r["check_other"] for r in results if r["check_other"] is not None)
    attempted = [r for r in results if r["solved"] != "refused"]
    refused = [r for r in results if r["solved"] == "refused"]
    label = {"math500": "MATH-500", "math-train": "MATH training set"}.get(dataset, dataset)
    print(f"{label} with the symbolic engine ({len(results)} problems, {wall:.0f} s wall, {args.jobs} jobs)")
    print(f"  solve:  verified against the reference {solved[VERIFIED]}  wrong {solved[WRONG]}  "
          f"unverifiable {solved[UNVERIFIABLE]}  refused {len(refused)}  (attempted {len(attempted)})")
    print(f"  check PROBLEM REFERENCE:  verified {gold[VERIFIED]}  wrong {gold[WRONG]}  "
          f"unverifiable {gold[UNVERIFIABLE]}")
    print(f"  check PROBLEM OTHER_ROW_ANSWER:  verified {other[VERIFIED]}  wrong {other[WRONG]}  "
          f"unverifiable {other[UNVERIFIABLE]}")
    if attempted:
        times = [r["seconds"] for r in attempted]
        print(f"  time per attempted problem: median {statistics.median(times):.2f} s, worst {max(times):.2f} s")
    if refused:
        times = [r["seconds"] for r in refused]
        print(f"  time per refused problem (incl. the two checks' solving): median {statistics.median(times):.2f} s")
    by = Counter((r["subject"], r["solved"]) for r in results)
    for subject in sorted({r["subject"] for r in results}):
        print(f"    {subject:24s} verified {by[(subject, VERIFIED)]:3d}  wrong {by[(subject, WRONG)]}")
    show = set(args.show.split(","))
    for r in results:
        if (r["solved"] in show) or ("reference-wrong" in show and r["check_reference"] == WRONG) or (
                "other-verified" in show and r["check_other"] == VERIFIED):
            print(json.dumps({k: r[k] for k in ("id", "answer", "reference", "solved", "check_reference",
                                                   "check_reference_reason", "check_other", "reason")})[:400])
    bad = solved[WRONG] + gold[WRONG] + other[VERIFIED]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
