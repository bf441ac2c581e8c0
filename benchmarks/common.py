"""Timing, tables and machine measurements shared by the benchmarks.

Every comparison is run interleaved (A, B, A, B, …) and repeated, and medians are reported: this machine is noisy.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

console = Console(highlight=False, width=140)
RESULTS = Path(__file__).parent / "results"
THREADS = 2


def setup(threads: int = THREADS) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)


def interleaved(fns: dict, repeats: int = 3, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each callable, run in rotating order so drift hits all alike."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeats):
        for k in keys[r % len(keys):] + keys[: r % len(keys)]:
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def table(title: str, headers: list[str], rows: list[list], note: str | None = None) -> None:
    t = Table(title=title, title_justify="left")
    for i, h in enumerate(headers):
        t.add_column(h, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[str(x) for x in r])
    console.print(t)
    if note:
        console.print(f"[dim]{note}[/dim]")


def save(name: str, data: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2))


def read_bandwidth() -> float:
    """GB/s of reading memory now (a sum over 256 MB, median of 5): the bound every format is measured against,
    never a kernel's own rate (a slow kernel must not lower its own bar)."""
    a = torch.ones(256 * 2**20 // 4)  # 256 MB of float32
    sec = interleaved({"read": lambda: a.sum()}, repeats=5)["read"]
    return a.numel() * 4 / sec / 1e9


def bandwidth() -> dict[str, float]:
    """GB/s measured now: reading memory (a large sum), a bf16 matrix-vector product, an int8 one."""
    read = read_bandwidth()
    x = torch.randn(1, 4096, dtype=torch.bfloat16)
    w = torch.randn(16384, 4096, dtype=torch.bfloat16)
    wq = torch.randint(-127, 127, (16384, 4096), dtype=torch.int8)
    s = torch.rand(16384, dtype=torch.bfloat16)
    t = interleaved({"bf16": lambda: torch.nn.functional.linear(x, w),
                     "int8": lambda: torch._weight_int8pack_mm(x, wq, s)}, repeats=7)
    return {"read": read, "bf16_matvec": w.numel() * 2 / t["bf16"] / 1e9, "int8_matvec": wq.numel() / t["int8"] / 1e9}


PEAK_RSS = """
import resource, json as _j, os as _os
def _peak_gb():
    if _os.path.exists("/proc/self/status"):
        for _line in open("/proc/self/status"):
            if _line.startswith("VmHWM:"):
                return int(_line.split()[1]) / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1e9 if _os.uname().sysname == "Darwin" else 1e6)
print(_j.dumps(dict(RESULT, peak_rss_gb=_peak_gb())))
"""


def run_child(code: str, timeout: float = 1800, env: dict | None = None) -> dict:
    """Run python code in a fresh process; it prints one JSON line last. Adds its peak RSS in GB: the kernel's
    high-water mark of this process's own memory (VmHWM), where getrusage's ru_maxrss would also count the
    parent's resident size at the fork (Linux keeps it across exec)."""
    wrapped = code + PEAK_RSS
    root = str(Path(__file__).resolve().parents[1])
    import os
    p = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True, timeout=timeout, cwd=root,
                       env={**os.environ, **(env or {})})
    if p.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def fit_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
