"""phiflash's own CPU kernels (C++, built with torch.utils.cpp_extension on first use and cached).

`torch.ops.phiflash.int4_mm` and `int8_mm` are the quantized decode matmuls (int4_mm.cpp, int8_mm.cpp: int8
activations per block of 32, integer dot products, AVX2 / AVX-VNNI / AVX-512 / AVX-512 VNNI / portable paths chosen
at run time); `bf16_mm` the bf16 one (bf16_mm.cpp: float32 sums; AVX2 and portable); `decode_attention` is attention
for a few queries a row over the cached bf16 K,V (attention.cpp: float32, AVX2 and portable paths). Building needs a
C++ compiler; without one — or if the build fails — `available()` is False, the linear layers and attention use
torch's own kernels, and one line says so.

The build lands in `kernel_dir()`: $PHIFLASH_KERNEL_CACHE, else phiflash's cache directory
(~/.cache/phiflash/kernels), one folder per source hash and torch version, so an upgrade rebuilds and two
processes share one build (cpp_extension locks the folder while it builds).

PHIFLASH_KERNEL chooses for all of them: "auto" (default: the best path this CPU and torch's ATEN_CPU_CAPABILITY allow),
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

SOURCES = ("common.h", "int4_mm.cpp", "int4_avx2.inc", "int4_avx512.inc", "int8_mm.cpp", "int8_x86.inc",
           "bf16_mm.cpp", "attention.cpp", "mamba_step.cpp")
# The kernel's path numbers (int4_mm.cpp's enum Path), by the names PHIFLASH_KERNEL takes.
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
    """PHIFLASH_KERNEL, checked."""
    want = os.environ.get("PHIFLASH_KERNEL", "auto").strip().lower() or "auto"
    if want not in PATHS and want != "torch":
        raise PhiflashError(f"PHIFLASH_KERNEL={want!r}: choose one of {', '.join([*PATHS, 'torch'])}")
    return want


def _source_hash() -> str:
    here = Path(__file__).parent
    h = hashlib.sha256(f"{torch.__version__} {OPENMP} {sys.platform}".encode())
    for name in SOURCES:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def _say(line: str) -> None:
    print(f"phiflash: {line}", file=sys.stderr, flush=True)


def build_dir() -> Path:
    return kernel_dir() / f"phiflash-{_source_hash()}"


@functools.cache
def available() -> bool:
    """Whether phiflash's kernels run here: built (once per source version and machine) and loaded (once per
    process). False where they cannot be built (said once) or PHIFLASH_KERNEL=torch."""
    if choice() == "torch":
        return False
    if hasattr(torch.ops.phiflash, "int4_mm"):
        return True
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not compiler or not shutil.which(compiler.split()[0]):
        _say("no C++ compiler found, so int4, int8, bf16 and attention use torch's kernels (int4 fast only with "
             "AVX-512, int8 slower everywhere); install g++ or clang++ for phiflash's own")
        return False
    from torch.utils import cpp_extension
    try:  # the ninja wheel's binary, found even when the virtual environment is not activated
        import ninja
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
    except ImportError:
        pass

    build = build_dir()
    name = "phiflash_kernels_" + build.name.split("-")[1]
    first = not any(build.glob("*.so")) and not any(build.glob("*.pyd"))
    try:
        build.mkdir(parents=True, exist_ok=True)
        _clear_stale_lock(build)
        if first:
            _say("building phiflash's CPU kernels (int4, int8, bf16, attention: once, under a minute)…")
        here = Path(__file__).parent
        cpp_extension.load(name=name, sources=[str(here / n) for n in SOURCES if n.endswith(".cpp")],
                           extra_cflags=["-O3", "-std=c++17", *OPENMP],
                           extra_ldflags=list(OPENMP),  # a copy: load() appends to the list it is given
                           build_directory=str(build), is_python_module=False,
                           verbose=bool(os.environ.get("PHIFLASH_DEBUG")))
    except Exception as e:  # a compiler error, no ninja, a read-only cache: the fallback still works
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        _say(f"phiflash's CPU kernels did not build ({first_line}), so torch's kernels run; PHIFLASH_DEBUG=1 "
             f"shows the compiler's output")
        return False
    return True


def _clear_stale_lock(build: Path, older_than_s: float = 600) -> None:
    """cpp_extension waits, without end, for a build's lock file to go: one left by a build that was killed
    (Ctrl-C, a crash) would hang every later start. A build takes under a minute, so an old lock is stale."""
    import time

    lock = build / "lock"
    try:
        if time.time() - lock.stat().st_mtime > older_than_s:
            lock.unlink()
    except OSError:
        pass


def chosen_path() -> int:
    """The path number the kernels run: PHIFLASH_KERNEL, or the best this CPU and torch's capability allow
    (asked once per setting: every quantized layer asks on every call)."""
    return _path(choice())


@functools.cache
def _path(want: str) -> int:
    if not available():
        raise PhiflashError("phiflash's kernels are not available")
    path = PATHS[want] if want != "auto" else torch.ops.phiflash.int4_best_path()
    if not torch.ops.phiflash.int4_path_supported(path):
        raise PhiflashError(f"PHIFLASH_KERNEL={want}: this CPU cannot run it")
    return path


def supported_paths() -> list[str]:
    """The kernel paths this CPU can run (for tests and the benchmark)."""
    if not available():
        return []
    return [n for n, p in PATHS.items() if p and torch.ops.phiflash.int4_path_supported(p)]


def describe(mode: str = "int4") -> str:
    """Which kernel a weight format's decode runs here, in words (the benchmark's and `info --speed`'s "kernel"
    column): "int4", "int8" or "bf16"."""
    if not available():
        return "torch linear" if mode == "bf16" else f"torch {mode}pack"
    return f"phiflash {NAMES[chosen_path()]}"
