"""The symbolic engine's two scores side by side (`make eval`'s last lines): the training set it is developed on and
MATH-500, the check that what was built carries over, with the ratio of their solved rates (#23 asks ≥ 0.8).

python -m benchmarks.eval_summary   (reads benchmarks/results/math-train.jsonl and math500.jsonl)
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def score(name: str, results: Path = RESULTS) -> tuple[int, int, int]:
    rows = [json.loads(line) for line in (results / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    solved = Counter(r["solved"] for r in rows)
    return len(rows), solved["verified"], solved["wrong"]


def main(results: Path = RESULTS) -> None:
    train, test = score("math-train", results), score("math500", results)
    print(f"{'':14s}{'problems':>10s}{'verified':>10s}{'rate':>8s}{'wrong':>7s}")
    for label, (n, ok, bad) in (("training set", train), ("MATH-500", test)):
        print(f"{label:14s}{n:10d}{ok:10d}{ok / n:8.1%}{bad:7d}")
    ratio = (test[1] / test[0]) / (train[1] / train[0])
    print(f"MATH-500 rate / training rate = {ratio:.2f}")


if __name__ == "__main__":
    main()
