"""`phiflash batch --ray` against a local run, each the real command in a fresh process, wall clock from start to
exit (Python start-up, actors starting and model loads included). A cluster of 2 CPUs runs in this process, as
`ray start --head` would hold one; the commands join it by its address, as on a real cluster:

- MATH-500 with the symbolic engine: `--ray ADDRESS` (2 actors of 1 CPU) against `--jobs 2` (target: ≤ 1.5×), and
  `--ray local`, which also starts and stops a cluster of its own (about 5 s of Ray here);
- the tiny checkpoint, greedy: 2 actors of 1 CPU against 1 actor of 1 CPU, generated tokens per second
  (target: ≥ 1.6×).

python -m benchmarks.ray_batch [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import console, save, table

CACHE = Path(__file__).resolve().parents[1] / ".bench-cache"
MATH500 = Path(__file__).resolve().parents[2] / "shared" / "data" / "math500" / "test.jsonl"
ASKS = ["What is 2+2?", "Solve x^2 = 9.", "Integrate x from 0 to 1.", "What is 7 times 8?", "Factor x^2-1.",
        "What is 3/4 + 1/8?", "Solve 2x + 3 = 11.", "Find the derivative of x^3."]


def batch(args: list, cwd: Path) -> tuple[float, list[dict]]:
    """Seconds the command took, and its records."""
    out = cwd / f"out-{time.monotonic_ns()}.jsonl"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "phiflash", "batch", *map(str, args), "--out", str(out), "--no-log"],
                       capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - t0
    if r.returncode not in (0, 3):
        raise RuntimeError(f"batch failed ({r.returncode}): {r.stderr[-2000:]}")
    return seconds, [json.loads(line) for line in out.read_text().splitlines()]


def tiny_checkpoint() -> Path:
    path = CACHE / "ray-tiny"
    if not (path / "config.json").exists():
        from phiflash.lm.testing import write_tiny_checkpoint
        write_tiny_checkpoint(path)
    return path


def run(quick: bool = False) -> None:
    import ray

    os.environ["RAY_AUTH_MODE"] = "disabled"   # a cluster on localhost for the length of the benchmark
    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory(prefix="ray-", dir="/tmp") as temp:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 << 20, _temp_dir=temp,
                 logging_level="ERROR", log_to_driver=False)
        try:
            address = ray.get_runtime_context().gcs_address
            sym = _symbolic(Path(d), address, quick)
            tiny = _tiny(Path(d), address, quick)
        finally:
            ray.shutdown()
    save("ray_batch", {"symbolic": sym, "tiny": tiny})
    console.print("[dim]each run is the real command in a fresh process[/dim]")


def _symbolic(cwd: Path, address: str, quick: bool) -> dict:
    rows = MATH500.read_text().splitlines()[: 100 if quick else 500]
    problems = cwd / "math500.jsonl"
    problems.write_text("\n".join(rows) + "\n")
    common = [problems, "--engine", "symbolic"]
    times, records = {}, {}
    for _ in range(1 if quick else 2):   # interleaved: drift on a shared machine hits all alike
        for name, extra in (("--jobs 2", ["--jobs", "2"]), ("--ray ADDRESS", ["--ray", address]),
                            ("--ray local", ["--ray", "local"])):
            seconds, records[name] = batch([*common, *extra], cwd)
            times.setdefault(name, []).append(seconds)
    best = {k: min(v) for k, v in times.items()}
    same = all(_strip(r) == _strip(records["--jobs 2"]) for r in records.values())
    runs = len(times["--jobs 2"])
    table(f"batch --ray: MATH-500 ({len(rows)} problems), symbolic engine, wall clock (best of {runs})",
          ["run", "seconds", "against --jobs 2"],
          [[k, f"{v:.1f}", f"{v / best['--jobs 2']:.2f}×"] for k, v in best.items()]
          + [["records identical apart from times", str(same), ""]],
          note="target: --ray on a running cluster ≤ 1.5× --jobs 2")
    return {"problems": len(rows), "seconds": {k: round(v, 2) for k, v in best.items()},
            "ratio_running_cluster": round(best["--ray ADDRESS"] / best["--jobs 2"], 2),
            "ratio_local": round(best["--ray local"] / best["--jobs 2"], 2), "identical_records": same}


def _tiny(cwd: Path, address: str, quick: bool) -> dict:
    asks = cwd / "asks.txt"
    n, tokens = (8, 64) if quick else (24, 256)
    asks.write_text("\n".join((ASKS * 4)[:n]) + "\n")
    model = [asks, "--model", tiny_checkpoint(), "--temperature", "0", "--max-tokens", tokens,
             "--ray", address, "--actor-cpus", "1"]
    batch([*model, "--actors", "1"], cwd)   # warm: the quantized copy is written once, by the first load
    rates = {}
    for actors in (1, 2):
        s, recs = batch([*model, "--actors", actors], cwd)
        generated = sum((r.get("timings") or {}).get("generated_tokens") or 0 for r in recs)
        rates[actors] = {"seconds": round(s, 1), "tokens": generated, "tok_s": round(generated / s, 1)}
    speedup = rates[2]["tok_s"] / rates[1]["tok_s"]
    table(f"batch --ray: the tiny checkpoint, {n} problems × up to {tokens} tokens, greedy, wall clock",
          ["actors (1 CPU each)", "seconds", "tokens", "tok/s"],
          [[k, v["seconds"], v["tokens"], v["tok_s"]] for k, v in rates.items()]
          + [["2 against 1 (target ≥ 1.6)", "", "", f"{speedup:.2f}×"]])
    return {"actors": rates, "speedup": round(speedup, 2)}


def _strip(records: list[dict]) -> dict:
    return {r["id"]: {k: v for k, v in r.items() if k not in ("time", "seconds", "timings")} for r in records}


if __name__ == "__main__":
    run("--quick" in sys.argv)
