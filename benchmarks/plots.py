"""PNG plots of the last `make bench` run (needs matplotlib: pip install '.[plots]')."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .common import RESULTS, console  # noqa: E402


def write() -> None:
    path = RESULTS / "scaling.json"
    if not path.exists():
        return
    data = json.loads(path.read_text())
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    lengths = sorted(int(k) for k in data["prefill"])
    for key, label in (("phiflash", "phiflash (SambaY)"), ("phi3", "Phi3 transformer (transformers)")):
        a.plot(lengths, [data["prefill"][str(n)][key] for n in lengths], marker="o", label=label)
    a.set(xscale="log", yscale="log", xlabel="prompt tokens", ylabel="prefill seconds",
          title="prefill, small config, 2 threads")
    a.legend()
    pts = data["decode"]["points"]
    for batch in sorted({p["batch"] for p in pts.values()}):
        ctx = sorted(p["context"] for p in pts.values() if p["batch"] == batch)
        for key, style in (("phiflash", "-"), ("phi3", "--")):
            b.plot(ctx, [pts[f"{batch}_{c}"][key] * 1e3 for c in ctx], style, marker="o", label=f"{key}, batch {batch}")
    b.set(xscale="log", xlabel="context tokens", ylabel="ms per decode step", title="decode latency vs context")
    b.legend()
    fig.tight_layout()
    out = RESULTS / "scaling.png"
    fig.savefig(out, dpi=110)
    console.print(f"plot: {out}")
