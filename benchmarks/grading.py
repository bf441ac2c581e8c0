"""`phiflash grade` at class scale (issue 27): a generated answer sheet of N rows (the generated notations of
benchmarks/notations.py, over 40 problems and 250 students) graded with --jobs, beside the baseline of one
time-limited `check` per row (measured on a sample, scaled to N), then the HTML report written and opened in
headless Chromium (when installed), timed to its load event.

python -m benchmarks.grading [--rows 10000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.notations import FAMILIES
from phiflash.symbolic.verify import check_answer


def answer_sheet(rows: int, seed: int = 27) -> list[dict]:
    rng = random.Random(seed)
    problems = []
    for k in range(40):
        kind = list(FAMILIES)[k % len(FAMILIES)]
        problem, equal, near = FAMILIES[kind](rng)
        problems.append((problem, equal + near))
    out = []
    for i in range(rows):
        problem, answers = problems[i % len(problems)]
        out.append({"id": str(i + 1), "student": f"s{i % 250:03d}", "problem": problem,
                    "answer": rng.choice(answers)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.grading")
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sample", type=int, default=60, help="rows checked one by one for the baseline")
    args = ap.parse_args()
    rows = answer_sheet(args.rows)
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        sheet = Path(tmp) / "class.csv"
        with open(sheet, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["id", "student", "problem", "answer"])
            w.writeheader()
            w.writerows(rows)
        t0 = time.perf_counter()
        sample = rows[:: max(1, len(rows) // args.sample)][: args.sample]
        for r in sample:
            check_answer(r["answer"], r["problem"])
        per_row = (time.perf_counter() - t0) / len(sample)
        report = Path(tmp) / "class.html"
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "phiflash", "grade", str(sheet), "--jobs", str(args.jobs),
                            "--report", str(report), "--no-log", "--json"], capture_output=True, text=True)
        graded = time.perf_counter() - t0
        if p.returncode not in (0, 3):
            raise SystemExit(p.stderr)
        print(f"grading {args.rows:,} answers on {os.cpu_count()} cores, --jobs {args.jobs}")
        print(f"  phiflash grade (with the report):       {graded:7.1f} s   ({args.rows / graded:,.0f} rows/s)")
        print(f"  baseline, one `check` per row (x{args.jobs}):  {per_row * args.rows / args.jobs:7.1f} s   "
              f"(measured on {len(sample)} rows: {per_row * 1000:.0f} ms each)")
        print(f"  report: {report.stat().st_size / 1e6:.1f} MB")
        browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
        if browser is None:
            print("  report load time: no Chromium installed")
            return
        probe = Path(tmp) / "probe.html"
        probe.write_text(report.read_text(encoding="utf-8").replace(
            "</body>", "<script>addEventListener('load', () => setTimeout(() => { document.title = "
                       "performance.now().toFixed(0) }, 0))</script></body>"), encoding="utf-8")
        times = []
        for _ in range(3):
            with tempfile.TemporaryDirectory(dir="/tmp") as profile:
                out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                                      f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                                     capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": profile})
            times.append(float(out.stdout.split("<title>")[1].split("</title>")[0]) / 1000)
        print(f"  report load in headless Chromium: {statistics.median(times):.2f} s median of 3 (to the load event, "
              "layout included)")


if __name__ == "__main__":
    main()
