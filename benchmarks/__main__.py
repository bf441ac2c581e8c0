"""python -m benchmarks [--quick] [--only scan,scaling,full,samples,speculative,serve]"""

import argparse
import warnings

from .common import bandwidth, console, save, setup, table

SECTIONS = ("scan", "scaling", "full", "samples", "speculative", "serve")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks")
    ap.add_argument("--quick", action="store_true", help="fewer sizes and repeats (a smoke run)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    setup()
    bw = bandwidth()
    table("this machine, measured now", ["", "GB/s"], [["read memory", f"{bw['read']:.1f}"],
                                                      ["bf16 matrix-vector (torch)", f"{bw['bf16_matvec']:.1f}"],
                                                      ["int8 weight-only matrix-vector", f"{bw['int8_matvec']:.1f}"]])
    save("machine", bw)
    only = args.only.split(",")
    if "scan" in only:
        from . import scan
        scan.run(args.quick)
    if "scaling" in only:
        from . import scaling
        scaling.run(args.quick)
    if "full" in only:
        from . import full
        full.run(args.quick)
    if "samples" in only:
        from . import samples
        samples.run(args.quick)
    if "speculative" in only:
        from . import speculative
        speculative.run(args.quick)
    if "serve" in only:
        from . import serve
        serve.run(args.quick)
    try:
        from . import plots
        plots.write()
    except ImportError:
        console.print("matplotlib not installed: no plots (pip install matplotlib)", style="dim", markup=False)


if __name__ == "__main__":
    main()
