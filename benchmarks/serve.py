"""`phiflash serve` against the library on the same random checkpoint (the official tokenizer; `--quick`: a 512-wide
12-layer one, else the 1024-wide 32-layer mid-size one):

- 4 concurrent greedy requests against one alone (target ≤ 1.6×, identical tokens): they join one batch;
- time to first token through the server (streamed, over HTTP) against the library's (target: ≤ 50 ms more);
- peak memory of a process serving against one generating with the library (target: ≤ 10% more).

Each side runs in a fresh process; the server is the real `phiflash serve` command on a free port.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .common import console, run_child, save, table

CACHE = Path(__file__).resolve().parents[1] / ".bench-cache"
SMALL = dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8,
             num_key_value_heads=4)
MEDIUM = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=32, num_attention_heads=16,
              num_key_value_heads=8)  # the mid-size benchmark model, with the official vocabulary: 1.6 GB in bf16
ASKS = ["What is 2+2?", "Solve x^2 = 9.", "Integrate x from 0 to 1.", "What is 7 times 8?"]
TOKENS = 64

LIBRARY = """
import time, torch
from phiflash.lm.weights import load_model
from phiflash.lm.tokenizer import Tokenizer
from phiflash.lm.generate import GREEDY, generate
model, tok = load_model({path!r}), Tokenizer.from_dir({path!r})
ask = [[{{"role": "user", "content": q}}] for q in {asks!r}]
generate(model, [ask[0]], GREEDY, max_new_tokens=4, tokenizer=tok).run()        # warm
ttft = []
for _ in range(5):  # from the call to the first text, as a caller of the library waits for it
    t0 = time.perf_counter()
    for e in generate(model, [ask[0]], GREEDY, max_new_tokens=1, tokenizer=tok):
        if e.kind == "text" and e.text:
            ttft.append(time.perf_counter() - t0)
            break
t0 = time.perf_counter()
alone = generate(model, [ask[0]], GREEDY, max_new_tokens={tokens}, tokenizer=tok).run()[0]
RESULT = dict(ttft=sorted(ttft)[len(ttft) // 2], alone_s=time.perf_counter() - t0,
              answers=[generate(model, [a], GREEDY, max_new_tokens={tokens}, tokenizer=tok).run()[0].answer
                       for a in ask])
"""


def checkpoint(name: str, shape: dict) -> Path:
    path = CACHE / f"serve-{name}-bf16"
    if not (path / "config.json").exists():
        import torch

        from phiflash.lm.testing import tiny_config, write_tiny_checkpoint
        write_tiny_checkpoint(path, tiny_config(**shape, torch_dtype="bfloat16"), dtype=torch.bfloat16)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_gb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6
    return float("nan")


def through_server(path: Path) -> dict:
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    http = httpx.Client(timeout=300)  # one client, as an application keeps (a new one costs ~40 ms of TLS setup)
    p = subprocess.Popen([sys.executable, "-m", "phiflash", "serve", "--model", str(path), "--port", str(port),
                          "--quantize", "none", "--threads", str(os.cpu_count() or 2)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.HTTPError:
                time.sleep(0.05)

        def ask(q: str, n: int = TOKENS) -> str:
            body = {"messages": [{"role": "user", "content": q}], "max_tokens": n, "temperature": 0}
            return http.post(url, json=body).json()["choices"][0]["message"]["content"]

        def first_token() -> float:
            body = {"messages": [{"role": "user", "content": ASKS[0]}], "max_tokens": 1, "temperature": 0,
                    "stream": True}
            t0 = time.perf_counter()
            with http.stream("POST", url, json=body) as r:
                for line in r.iter_lines():
                    if '"content": ""' not in line and '"content"' in line:
                        return time.perf_counter() - t0
            return float("nan")

        ask(ASKS[0], 4)                                                       # warm
        ttft = statistics.median(first_token() for _ in range(5))
        t0 = time.perf_counter()
        ask(ASKS[0])
        alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(ASKS)) as pool:
            answers = list(pool.map(ask, ASKS))
        together = time.perf_counter() - t0
        return dict(ttft=ttft, alone_s=alone, together_s=together, answers=answers, peak_rss_gb=_rss_gb(p.pid))
    finally:
        http.close()
        p.terminate()
        p.wait(timeout=60)


def run(quick: bool = False) -> dict:
    name, shape = ("small", SMALL) if quick else ("medium", MEDIUM)
    path = checkpoint(name, shape)
    console.print("[dim]library in a fresh process, then the server (phiflash serve) in another…[/dim]")
    lib = run_child(LIBRARY.format(path=str(path), asks=ASKS, tokens=TOKENS))
    srv = through_server(path)
    data = dict(library=lib, server=srv, identical=lib["answers"] == srv["answers"])
    table(f"phiflash serve on a {name} random bf16 checkpoint ({shape['hidden_size']} wide, "
          f"{shape['num_hidden_layers']} layers, official vocabulary), greedy, {TOKENS} tokens",
          ["", "library", "server"],
          [["one request alone", f"{lib['alone_s']:.2f} s", f"{srv['alone_s']:.2f} s"],
           [f"{len(ASKS)} concurrent requests", "—",
            f"{srv['together_s']:.2f} s ({srv['together_s'] / srv['alone_s']:.2f}× one alone)"],
           ["time to first token", f"{lib['ttft'] * 1e3:.0f} ms",
            f"{srv['ttft'] * 1e3:.0f} ms (+{(srv['ttft'] - lib['ttft']) * 1e3:.0f} ms)"],
           ["peak memory (process)", f"{lib['peak_rss_gb']:.2f} GB",
            f"{srv['peak_rss_gb']:.2f} GB ({srv['peak_rss_gb'] / lib['peak_rss_gb'] - 1:+.0%})"],
           ["answers identical to the library's", "", "yes" if data["identical"] else "NO"]],
          "targets: 4 concurrent ≤ 1.6× one alone with identical tokens; first token +≤ 50 ms; memory +≤ 10%")
    save(f"serve-{name}", data)
    return data


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=str)[:2000])
