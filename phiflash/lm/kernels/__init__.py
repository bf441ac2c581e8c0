"""phiflash's own CPU kernels (C++, built with torch.utils.cpp_extension on first use and cached).

`int4_mm` is the int4 decode matmul (int4_mm.cpp: int8 activations per block of 32, integer dot products, AVX2 /
AVX-VNNI / AVX-512 / AVX-512 VNNI / portable paths chosen at run time). Building needs a C++ compiler; without
one — or if the build fails — `int4_op()` is None, the int4 layers use torch's own kernel, and one line says so.

The build lands in `kernel_dir()`: $PHIFLASH_KERNEL_CACHE, else phiflash's cache directory
(~/.cache/phiflash/kernels), one folder per source hash and torch version, so an upgrade rebuilds and two
processes share one build (cpp_extension locks the folder while it builds).

PHIFLASH_INT4_KERNEL chooses: "auto" (default: the best path this CPU and torch's ATEN_CPU_CAPABILITY allow),
"avx512-vnni", "avx512", "avx2-vnni", "avx2", "portable", or "torch" (never build; torch's kernel).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
from pathlib import Path

import torch

from ...errors import PhiflashError

SOURCES = ("int4_mm.cpp", "int4_avx2.inc", "int4_avx512.inc")
# The kernel's path numbers (int4_mm.cpp's enum Path), by the names PHIFLASH_INT4_KERNEL takes.
PATHS = {"auto": 0, "portable": 1, "avx2": 2, "avx2-vnni": 3, "avx512": 4, "avx512-vnni": 5}
NAMES = {v: k for k, v in PATHS.items()}
TILE = 16  # rows per weight tile
# at::parallel_for is OpenMP inlined into the kernel's own code: without -fopenmp it would run on one thread.
# (torch's Linux wheels use GNU OpenMP; elsewhere the kernel runs single-threaded.)
OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []
BLOCK = 32  # inputs per activation block


def kernel_dir() -> Path:
    if os.environ.get("PHIFLASH_KERNEL_CACHE"):
        return Path(os.environ["PHIFLASH_KERNEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "phiflash" / "kernels"


def choice() -> str:
    """PHIFLASH_INT4_KERNEL, checked."""
    want = os.environ.get("PHIFLASH_INT4_KERNEL", "auto").strip().lower() or "auto"
    if want not in PATHS and want != "torch":
        raise PhiflashError(f"PHIFLASH_INT4_KERNEL={want!r}: choose one of {', '.join([*PATHS, 'torch'])}")
    return want


def _source_hash() -> str:
    here = Path(__file__).parent
    h = hashlib.sha256(f"{torch.__version__} {OPENMP} {sys.platform}".encode())
    for name in SOURCES:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def _say(line: str) -> None:
    print(f"phiflash: {line}", file=sys.stderr, flush=True)


@functools.cache
def int4_op():
    """torch.ops.phiflash.int4_mm, built and loaded once per process; None where it cannot be built (said once)."""
    if choice() == "torch":
        return None
    if getattr(torch.ops, "phiflash", None) is not None and hasattr(torch.ops.phiflash, "int4_mm"):
        return torch.ops.phiflash.int4_mm
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not compiler or not shutil.which(compiler.split()[0]):
        _say("no C++ compiler found, so int4 uses torch's kernel (fast with AVX-512, slower elsewhere); install "
             "g++ or clang++ for phiflash's own kernel")
        return None
    from torch.utils import cpp_extension
    try:  # the ninja wheel's binary, found even when the virtual environment is not activated
        import ninja
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
    except ImportError:
        pass

    build = kernel_dir() / f"int4-{_source_hash()}"
    name = "phiflash_int4_" + build.name.split("-")[1]
    first = not any(build.glob("*.so")) and not any(build.glob("*.pyd"))
    try:
        build.mkdir(parents=True, exist_ok=True)
        if first:
            _say("building the int4 kernel (once, about a minute)…")
        cpp_extension.load(name=name, sources=[str(Path(__file__).parent / "int4_mm.cpp")],
                           extra_cflags=["-O3", "-std=c++17", *OPENMP], extra_ldflags=OPENMP,
                           build_directory=str(build),
                           is_python_module=False, verbose=bool(os.environ.get("PHIFLASH_DEBUG")))
    except Exception as e:  # a compiler error, no ninja, a read-only cache: the fallback still works
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        _say(f"the int4 kernel did not build ({first_line}), so int4 uses torch's kernel; PHIFLASH_DEBUG=1 shows "
             f"the compiler's output")
        return None
    return torch.ops.phiflash.int4_mm


def int4_path() -> int:
    """The path number int4_mm runs: PHIFLASH_INT4_KERNEL, or the best this CPU and torch's capability allow."""
    want = choice()
    if want == "torch" or int4_op() is None:
        raise PhiflashError("phiflash's int4 kernel is not available")
    path = PATHS[want] if want != "auto" else torch.ops.phiflash.int4_best_path()
    if not torch.ops.phiflash.int4_path_supported(path):
        raise PhiflashError(f"PHIFLASH_INT4_KERNEL={want}: this CPU cannot run it")
    return path


def supported_paths() -> list[str]:
    """The kernel paths this CPU can run (for tests and the benchmark)."""
    if int4_op() is None:
        return []
    return [n for n, p in PATHS.items() if p and torch.ops.phiflash.int4_path_supported(p)]


def describe() -> str:
    """Which int4 kernel runs here, in words (the benchmark's "kernel" column)."""
    if choice() == "torch" or int4_op() is None:
        return "torch int4pack"
    return f"phiflash {NAMES[int4_path()]}"
