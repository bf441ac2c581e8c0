"""The selective-scan candidates on this CPU: the blocked sequential loop (phiflash's CPU default) and the stable
chunked "segsum" form at two chunk sizes, on the issue's shape (1024 tokens × 5120 channels × 16 states)."""

from __future__ import annotations

import torch

from phiflash.lm import ops

from .common import interleaved, save, table


def run(quick: bool = False) -> dict:
    rows, data = [], {}
    shapes = [(1, 256 if quick else 1024, 5120)] + ([] if quick else [(4, 256, 5120)])
    for B, T, E in shapes:
        g = torch.Generator().manual_seed(0)
        dt = torch.nn.functional.softplus(torch.randn(B, T, E, generator=g)) * 0.05
        A = -torch.arange(1, 17, dtype=torch.float32).expand(E, 16).contiguous()
        Bm, Cm, x = torch.randn(B, T, 16, generator=g), torch.randn(B, T, 16, generator=g), torch.randn(B, T, E,
                                                                                                      generator=g)
        fns = {"loop": lambda: ops.scan_loop(dt, A, Bm, Cm, x),
               "segsum Q=8": lambda: ops.scan_chunked(dt, A, Bm, Cm, x, chunk=8),
               "segsum Q=16": lambda: ops.scan_chunked(dt, A, Bm, Cm, x, chunk=16)}
        t = interleaved(fns, repeats=3)
        data[f"B{B}_T{T}"] = t
        rows.append([f"B={B}, T={T}, E={E}, N=16"] + [f"{t[k]:.3f} s" for k in fns] +
                    [f"{min(t['segsum Q=8'], t['segsum Q=16']) / t['loop']:.1f}x"])
    table("selective scan (float32, 2 threads): median of 3, interleaved",
          ["shape", "loop (default)", "segsum Q=8", "segsum Q=16", "best segsum / loop"], rows,
          "the loop stays the CPU default; the segsum form is the tested twin for parallel hardware")
    save("scan", data)
    return data
