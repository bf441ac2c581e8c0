"""Conveniences for tests of generation: the tokens of one prompt, and a model that writes a script."""

import torch

from phiflash.lm.generate import GREEDY, generate


def tokens(model, prompt, n, params=GREEDY, **kw) -> list[int]:
    """The token ids generate() gives one prompt (stop id included), through the one generation function."""
    return generate(model, [prompt], params, max_new_tokens=n, **kw).run()[0].token_ids


class Scripted:
    """A model that writes a script (token ids), position by position after its prompt, whatever it is fed: a
    forced token takes a position of the script. With several scripts, cache row r follows scripts[r] (the last
    one for rows past them). The real model underneath keeps the cache honest (lengths, windows, rollback), so
    every path of generation runs as it does for real."""

    def __init__(self, base, *scripts: list[int]):
        self.base, self.scripts = base, scripts
        self.config, self.device, self.start = base.config, base.device, 0

    def new_cache(self, rows: int, length: int):
        return self.base.new_cache(rows, length)

    def _logits(self, at: list[int]):
        out = torch.full((len(at), self.config.vocab_size), -1e4)
        for r, n in enumerate(at):
            script = self.scripts[min(r, len(self.scripts) - 1)]
            out[r, script[min(n, len(script) - 1)]] = 0.0
        return out

    def prefill(self, ids, cache):
        self.base.prefill(ids, cache)
        self.start = ids.shape[1]
        return self._logits([0])

    def decode(self, ids, cache):
        self.base.decode(ids, cache)
        return self._logits((cache.lengths - self.start).tolist())

    def extend(self, ids, cache, trail=None):
        before = int(cache.lengths[0])
        self.base.extend(ids, cache, trail)
        return self._logits([before - self.start + 1 + t for t in range(ids.shape[1])])[None]
