"""The one script to run where torch sees a CUDA GPU (`make gpu-check`; a few minutes). Never part of make test.

1. Parity: a tiny random checkpoint, CUDA against CPU: float32 logits of the full forward and of cached decoding,
   and bfloat16 on the GPU against float32 on the CPU.
2. The scan on the GPU: the blocked loop against the chunked segsum form at the full-scale shape; the faster one
   is used for the rest of the run (and should become the CUDA default in phiflash.lm.ops if it wins).
3. Full scale (official config, random bf16 weights made on the GPU, nothing written to disk): prefill of 512 and
   2048 tokens, decode tokens/s at batch 1 and 16.

    python scripts/gpu_check.py              # on a GPU machine
    python scripts/gpu_check.py --dry-run    # the same code paths on the CPU at toy sizes (tests use this)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phiflash.lm import ops  # noqa: E402
from phiflash.lm.config import PhiFlashConfig  # noqa: E402
from phiflash.lm.sambay import PhiFlashForCausalLM  # noqa: E402
from phiflash.lm.testing import random_tensor, tiny_config, write_tiny_checkpoint  # noqa: E402
from phiflash.lm.weights import load_model  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats=3):
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


@torch.inference_mode()
def parity(device) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory() as d:
        path = write_tiny_checkpoint(Path(d) / "tiny", tiny_config(vocab_size=200064))
        cpu = load_model(path)
        dev32 = load_model(path, device=device)
        dev16 = load_model(path, dtype="bfloat16", device=device)
    ids = torch.randint(0, 400, (2, 40), generator=torch.Generator().manual_seed(0))
    ref = cpu(ids).float()
    scale = ref.abs().max().item()
    err32 = (dev32(ids.to(device)).float().cpu() - ref).abs().max().item() / scale
    err16 = (dev16(ids.to(device)).float().cpu() - ref).abs().max().item() / scale
    cache = dev32.new_cache(2, 40)
    steps = [dev32.prefill(ids[:, :20].to(device), cache)]
    steps += [dev32.decode(ids[:, t:t + 1].to(device), cache) for t in range(20, 39)]
    errdec = (torch.stack(steps, 1).cpu() - ref[:, 19:-1]).abs().max().item() / scale
    ok = err32 < 1e-4 and errdec < 1e-4 and err16 < 5e-2
    lines.append(f"parity vs CPU float32 (relative to max |logit|): {device} fp32 forward {err32:.2e}, "
                 f"fp32 cached decode {errdec:.2e}, bf16 forward {err16:.2e} -> {'OK' if ok else 'FAIL'}")
    return lines


def scan_choice(device, dry: bool, chosen: dict) -> list[str]:
    B, T, E, N = (1, 64, 256, 16) if dry else (1, 2048, 5120, 16)
    g = torch.Generator(device=device).manual_seed(0)
    dt = torch.nn.functional.softplus(torch.randn(B, T, E, device=device, generator=g)) * 0.05
    A = -torch.arange(1, N + 1, device=device, dtype=torch.float32).expand(E, N).contiguous()
    Bm, Cm = torch.randn(B, T, N, device=device, generator=g), torch.randn(B, T, N, device=device, generator=g)
    x = torch.randn(B, T, E, device=device, generator=g)
    t = {name: timed(lambda f=f: f(dt, A, Bm, Cm, x), device) for name, f in
         (("loop", ops.scan_loop), ("chunked", lambda *a: ops.scan_chunked(*a, chunk=16)))}
    best = chosen['scan'] = min(t, key=t.get)
    return [f"scan at B={B} T={T} E={E} N={N}: loop {t['loop'] * 1e3:.1f} ms, chunked(16) "
            f"{t['chunked'] * 1e3:.1f} ms -> using {best} on {device.type}"]


@torch.inference_mode()
def full_scale(device, dry: bool, scan: str = "loop") -> list[str]:
    cfg = tiny_config(torch_dtype="bfloat16") if dry else PhiFlashConfig()
    with torch.device("meta"):
        model = PhiFlashForCausalLM(cfg, scan=scan)
    model = model.to_empty(device=device)
    g = torch.Generator().manual_seed(0)
    for name, p in model.named_parameters():  # random weights made per tensor, bf16 except the SSM/λ params
        t = random_tensor(name, p.shape, cfg, g)
        p.data = t.to(device=device, dtype=torch.float32 if name.endswith(("A_log", ".D", "dt_proj.bias"))
                      or "lambda" in name else torch.bfloat16)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    model.eval()
    lines = [f"full-scale model on {device}: {sum(p.numel() for p in set(model.parameters())) / 1e9:.2f}B params"]
    for T in ((32,) if dry else (512, 2048)):
        ids = torch.randint(0, 1000, (1, T), device=device)
        s = timed(lambda: model.prefill(ids, model.new_cache(1, T)), device)
        lines.append(f"prefill {T}: {s:.3f} s ({T / s:.0f} tokens/s)")
    for B in (1, 16):
        cache = model.new_cache(B, 128 + 40)
        model.prefill(torch.randint(0, 1000, (B, 128), device=device), cache)
        tok = torch.zeros(B, 1, dtype=torch.long, device=device)
        s = timed(lambda: model.decode(tok, cache), device, repeats=20 if not dry else 3)
        lines.append(f"decode batch {B} at 128 context: {s * 1e3:.1f} ms/step, {B / s:.1f} tokens/s")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry-run", action="store_true", help="CPU, toy sizes: checks the script itself")
    args = ap.parse_args()
    if args.dry_run:
        device = torch.device("cpu")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
        print(torch.cuda.get_device_name(0), "torch", torch.__version__)
    else:
        sys.exit("no CUDA device visible to torch (use --dry-run to exercise the script on the CPU)")
    chosen = {"scan": "loop"}  # the faster scan on this device, measured by scan_choice, used at full scale
    for section in (parity, lambda d: scan_choice(d, args.dry_run, chosen),
                    lambda d: full_scale(d, args.dry_run, chosen["scan"])):
        t0 = time.perf_counter()
        for line in section(device):
            print(line, flush=True)
        print(f"  ({time.perf_counter() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
