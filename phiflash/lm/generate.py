"""Generation: a pure sampling function, token-id iterators (single and batched), and `complete`, which turns a
conversation into streamed text events and a Completion (stop ids and strings, reasoning split, timings, Ctrl-C).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from ..errors import PhiflashError
from .cache import Trail
from .streaming import IncrementalDecoder, ReasoningSplitter, StopStrings, split_reasoning


class ContextLengthError(PhiflashError):
    pass


@dataclass(frozen=True)
class SamplingParams:
    """Defaults from the model card: temperature 0.6, top_p 0.95. temperature 0 = greedy."""
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0
    seed: int | None = None

    def __post_init__(self):
        if self.temperature < 0:
            raise PhiflashError(f"temperature must be ≥ 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise PhiflashError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise PhiflashError(f"top_k must be ≥ 0, got {self.top_k}")


GREEDY = SamplingParams(temperature=0.0)


def sample(logits: torch.Tensor, temperature: float = 0.6, top_k: int = 0, top_p: float = 1.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Next token per row from logits (B, V). Order: top-k, then temperature, then top-p (nucleus)."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float()
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # drop a token when the tokens strictly more likely than it already reach top_p
        drop = (sorted_p.cumsum(-1) - sorted_p) >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def check_context(prompt_len: int, max_new_tokens: int, max_context: int) -> None:
    if prompt_len + max_new_tokens > max_context:
        raise ContextLengthError(
            f"prompt of {prompt_len} tokens plus max_new_tokens {max_new_tokens} exceeds the context of "
            f"{max_context} tokens; shorten the prompt or lower --max-tokens")


@contextmanager
def flushed_denormals():
    """Denormal floats (the tails of SSM decays and softmaxes) take a slow microcode path on x86 CPUs: flushing
    them to zero made a tiny model's decode 5× faster. Values below 1.2e-38 become 0, below anything bf16 or the
    float32 logits can tell apart."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@torch.inference_mode()
def generate_batch(model, prompts: list[list[int]], max_new_tokens: int, params: SamplingParams = GREEDY,
                   stop_ids: tuple[int, ...] = (), max_context: int | None = None,
                   force: dict[int, list[int]] | None = None) -> Iterator[list[int | None]]:
    """Yields, each step, one new token per row (None once a row has stopped).

    Each prompt is prefilled into its own row of one cache (no padding), then all rows decode together.
    A row stops after emitting a stop id (which is yielded) or after max_new_tokens. Tokens queued in
    `force[row]` (by the consumer, between steps) are emitted instead of sampled ones, one a step.
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise PhiflashError("every prompt needs at least one token")
    max_context = max_context or model.config.max_context
    longest = max(len(p) for p in prompts)
    check_context(longest, max_new_tokens, max_context)
    cache = model.new_cache(len(prompts), longest + max_new_tokens)
    with flushed_denormals():
        logits = torch.cat([model.prefill(torch.tensor([p], device=model.device), cache.rows(r, r + 1))
                            for r, p in enumerate(prompts)])
        yield from _decode(model, cache, logits, max_new_tokens, params, stop_ids, force=force)


@torch.inference_mode()
def generate_samples(model, prompt: list[int], k: int, max_new_tokens: int, params: SamplingParams,
                     stop_ids: tuple[int, ...] = (), max_context: int | None = None,
                     stopped: Callable[[], set[int]] | None = None) -> Iterator[list[int | None]]:
    """k independent samples of one prompt, decoded together as k rows: the prompt is prefilled once and its
    state copied into every row (the rows share each weight read, so k samples cost little more than one).
    `stopped()` is polled each step for rows to end early (None from then on)."""
    if not prompt:
        raise PhiflashError("every prompt needs at least one token")
    check_context(len(prompt), max_new_tokens, max_context or model.config.max_context)
    cache = model.new_cache(k, len(prompt) + max_new_tokens)
    with flushed_denormals():
        logits = model.prefill(torch.tensor([prompt], device=model.device), cache.rows(0, 1))
        cache.copy_row(0, slice(1, k))
        yield from _decode(model, cache, logits.expand(k, -1), max_new_tokens, params, stop_ids, stopped)


def _generator(params: SamplingParams, device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(params.seed) if params.seed is not None else gen.seed()
    return gen


def _decode(model, cache, logits, max_new_tokens, params, stop_ids, stopped=None,
            force: dict[int, list[int]] | None = None) -> Iterator[list[int | None]]:
    gen = _generator(params, model.device)
    done = [False] * logits.shape[0]
    for step in range(max_new_tokens):
        tokens = sample(logits, params.temperature, params.top_k, params.top_p, gen)
        for r, queue in (force or {}).items():
            if queue and not done[r]:
                tokens[r] = queue.pop(0)
        out = tokens.tolist()
        yield [None if d else t for d, t in zip(done, out)]
        ended = stopped() if stopped is not None else set()
        done = [d or t in stop_ids or r in ended for r, (d, t) in enumerate(zip(done, out))]
        if all(done) or step == max_new_tokens - 1:
            return
        logits = model.decode(tokens, cache)


class NgramIndex:
    """Drafts by n-gram lookup: up to k tokens that followed an earlier occurrence of the text's last n tokens,
    for the longest n ≤ n_max that occurred before (the latest occurrence with k tokens after it, else the longest
    continuation found). Reasoning traces restate equations and copy expressions, and the prompt is part of the
    text. Where every n-gram starts is kept up to date as tokens are appended, so a lookup costs the same at 30K
    tokens as at 30 (a scan took ~10 ms there); the scan is its naive twin in tests/lm/reference.py."""

    def __init__(self, tokens: list[int] = (), n_max: int = 4):
        self.tokens: list[int] = []
        self.n_max = n_max
        self.starts: list[dict[tuple, list[int]]] = [{} for _ in range(n_max + 1)]  # [n][gram] -> starts
        self.extend(tokens)

    def append(self, token: int) -> None:
        self.tokens.append(token)
        end = len(self.tokens)
        for n in range(1, min(self.n_max, end) + 1):
            self.starts[n].setdefault(tuple(self.tokens[end - n:]), []).append(end - n)

    def extend(self, tokens) -> None:
        for t in tokens:
            self.append(t)

    def match(self, k: int) -> tuple[list[int], int]:
        h = self.tokens
        if k <= 0:
            return [], 0
        for n in range(min(self.n_max, len(h) - 1), 0, -1):
            best: list[int] = []
            starts = self.starts[n].get(tuple(h[-n:]), [])
            for j in range(len(starts) - 2, -1, -1):  # latest first; the last start is the tail itself
                i = starts[j]
                follow = h[i + n:i + n + k]
                if len(follow) == k:
                    return follow, n
                best = max(best, follow, key=len)
            if best:
                return best, n
        return [], 0


@dataclass
class SpeculationStats:
    drafted: int = 0
    accepted: int = 0
    calls: int = 0        # model calls after the prefill: decode steps and verify calls

    @property
    def acceptance(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0


@dataclass
class DraftPolicy:
    """How many of the drafted tokens to verify: the k that maximises expected tokens per unit of time.

    A verify call of T = 1 + k tokens costs cost(T) decode steps and yields 1 + p + … + p^k tokens on average,
    p the chance that a draft token is accepted. p is estimated per n-gram order (a 4-token match predicts
    better than a 1-token one) from decayed counts of accepted and rejected tokens; cost(T) is measured as
    generation runs (`timed`), from a prior until a length has been tried. k = 0 (a plain decode step) wins
    when drafts are poor, so speculation then costs nothing but a single-token probe every `retry_after` steps,
    which keeps the estimates honest."""
    max_draft: int = 7
    costs: dict[int, float] = field(default_factory=dict)   # T -> seconds of a call appending T tokens
    prior_slope: float = 0.15        # cost(T) ≈ 1 + slope·(T-1) steps until T is measured
    retry_after: int = 16
    decay: float = 0.9
    counts: dict[int, list[float]] = field(default_factory=dict)  # n -> [accepted, rejected], decayed
    idle: int = 0

    def accept_prob(self, n: int) -> float:
        ok, bad = self.counts.get(n, (1.0, 1.0))
        return (ok + 1) / (ok + bad + 2)

    def cost(self, T: int) -> float:
        """In decode steps."""
        if T in self.costs and 1 in self.costs:
            return self.costs[T] / self.costs[1]
        return 1 + self.prior_slope * (T - 1)

    def choose(self, available: int, n: int) -> int:
        p, gain, best, best_k = self.accept_prob(n), 1.0, 1.0, 0
        term = 1.0
        for k in range(1, min(available, self.max_draft) + 1):
            term *= p
            gain += term
            if gain / self.cost(1 + k) > best:
                best, best_k = gain / self.cost(1 + k), k
        if best_k == 0 and available:
            self.idle += 1
            if self.idle >= self.retry_after:  # probe: one token, so p can recover when the text turns repetitive
                self.idle, best_k = 0, 1
        return best_k

    def observe(self, n: int, drafted: int, accepted: int) -> None:
        ok, bad = self.counts.get(n, (1.0, 1.0))
        missed = int(accepted < drafted)        # tokens after the first miss tell nothing
        fade = self.decay ** (accepted + missed)
        self.counts[n] = [ok * fade + accepted, bad * fade + missed]

    def timed(self, T: int, seconds: float) -> None:
        self.costs[T] = seconds if T not in self.costs else 0.8 * self.costs[T] + 0.2 * seconds


@torch.inference_mode()
def speculative_generate(model, prompt: list[int], max_new_tokens: int, params: SamplingParams = GREEDY,
                         stop_ids: tuple[int, ...] = (), max_context: int | None = None, max_draft: int = 7,
                         stats: SpeculationStats | None = None, force: list[int] | None = None,
                         policy: DraftPolicy | None = None) -> Iterator[int]:
    """generate() for one prompt, with n-gram drafts verified several tokens per model call. Lossless: a draft
    token is kept only when it equals the token sampled from the model's own distribution at that position
    (greedy: its argmax), so greedy output is what generate() gives and sampled output has the same
    distribution. After a rejection the cache keeps only the accepted tokens (Cache.keep: no second model call).
    Tokens appended to `force` between yields come next, as in generate(): drafts already verified past that
    point are dropped the same way."""
    if not prompt:
        raise PhiflashError("every prompt needs at least one token")
    check_context(len(prompt), max_new_tokens, max_context or model.config.max_context)
    stats = stats if stats is not None else SpeculationStats()
    force = force if force is not None else []
    gen = _generator(params, model.device)
    cache = model.new_cache(1, len(prompt) + max_new_tokens + max_draft + 1)
    # a verify call appends 1 + draft tokens and is rolled back by Cache.keep, which needs them to fit a window
    policy = policy if policy is not None else DraftPolicy()
    policy.max_draft = min([max_draft] + [ring.shape[3] - 1 for ring in cache.ring_k.values()])
    history, produced, pending = NgramIndex(prompt), 0, None

    def pick(logits) -> int:
        return int(sample(logits, params.temperature, params.top_k, params.top_p, gen)[0])

    with flushed_denormals():
        logits = model.prefill(torch.tensor([prompt], device=model.device), cache)
        while True:
            t = force.pop(0) if force else pending if pending is not None else pick(logits)
            pending = None
            yield t
            produced += 1
            history.append(t)
            if t in stop_ids or produced >= max_new_tokens:
                return
            found, n = history.match(min(policy.max_draft, max_new_tokens - produced)) if not force else ([], 0)
            draft = found[:policy.choose(len(found), n)]
            stats.calls += 1
            start = time.perf_counter()
            if not draft:
                logits = model.decode(torch.tensor([t], device=model.device), cache)
                policy.timed(1, time.perf_counter() - start)
                continue
            trail = Trail()
            verify = model.extend(torch.tensor([[t] + draft], device=model.device), cache, trail)[0]  # (1 + n, V)
            policy.timed(1 + len(draft), time.perf_counter() - start)
            kept = matched = 0
            for i, d in enumerate(draft):
                s = pick(verify[i:i + 1])
                if s != d:
                    pending = s
                    break
                matched += 1
                if force:  # the caller decided what comes next: drafts past here are dropped
                    break
                kept += 1
                yield d
                produced += 1
                history.append(d)
                if d in stop_ids or produced >= max_new_tokens:
                    stats.drafted, stats.accepted = stats.drafted + len(draft), stats.accepted + matched
                    return
            stats.drafted, stats.accepted = stats.drafted + len(draft), stats.accepted + matched
            policy.observe(n, len(draft), matched)
            if kept == len(draft) and not force:  # every draft token kept: the cache holds them all
                logits = verify[-1:]
                continue
            cache.keep(trail, 1 + kept)   # t and the kept drafts; the rest are rolled back


def generate(model, prompt: list[int], max_new_tokens: int, params: SamplingParams = GREEDY,
             stop_ids: tuple[int, ...] = (), max_context: int | None = None,
             force: list[int] | None = None) -> Iterator[int]:
    """Token ids for one prompt; the stop id that ends generation is yielded last. Tokens appended to `force`
    between steps are emitted next instead of sampled ones."""
    queues = {0: force} if force is not None else None
    for (tok,) in generate_batch(model, [prompt], max_new_tokens, params, stop_ids, max_context, queues):
        if tok is None:
            return
        yield tok


# ---- conversations -> text --------------------------------------------------------------------------------------


@dataclass
class Completion:
    text: str = ""
    reasoning: str = ""
    answer: str = ""
    token_ids: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    finish_reason: str = "length"  # "stop" | "length" | "cancelled"
    ttft: float | None = None      # seconds to the first token (prefill + one sample)
    seconds: float = 0.0
    think_budget_hit: bool = False  # the reasoning was closed at the thinking budget
    draft_acceptance: float | None = None  # speculative decoding: the share of drafted tokens kept

    @property
    def tokens_per_second(self) -> float:
        decode_time = self.seconds - (self.ttft or 0.0)
        n = len(self.token_ids) - 1
        return n / decode_time if n > 0 and decode_time > 0 else 0.0


CLOSE_REASONING = "\n</think>\n\n"  # how the chat format ends a reasoning section


def complete(model, tokenizer, messages: list[dict], max_new_tokens: int = 32768,
             params: SamplingParams = SamplingParams(), stop_strings: tuple[str, ...] = (),
             on_event: Callable[[str, str], None] | None = None, max_context: int | None = None,
             think_budget: int | None = None, speculate: bool = False) -> Completion:
    """Generate a reply to `messages`, streaming ("reasoning" | "answer", text) events to on_event.

    think_budget: after that many reasoning tokens the reasoning section is closed as the chat format closes it
    and the model writes its answer ("budget forcing", arXiv 2501.19393); 0 answers without reasoning (an empty
    reasoning section follows the prompt). Ctrl-C (KeyboardInterrupt) during generation ends it early and
    returns what was generated so far. speculate: n-gram drafts verified several tokens per call (lossless).
    """
    prompt = tokenizer.encode_chat(messages)
    if think_budget == 0:
        prompt = prompt + tokenizer.encode("<think>" + CLOSE_REASONING)
    max_context = max_context or tokenizer.model_max_length or model.config.max_context
    check_context(len(prompt), max_new_tokens, max_context)
    result = Completion(prompt_tokens=len(prompt))
    detok = IncrementalDecoder(lambda ids: tokenizer.decode(ids, skip_special_tokens=True))
    stopper, splitter = StopStrings(stop_strings), ReasoningSplitter()
    pieces: list[str] = []

    def emit(text: str) -> None:
        if text:
            pieces.append(text)
            for kind, t in splitter.push(text):
                on_event and on_event(kind, t)

    start, force, thinking = time.perf_counter(), [], 0
    result.think_budget_hit = think_budget == 0
    spec = SpeculationStats() if speculate else None
    tokens = (speculative_generate(model, prompt, max_new_tokens, params, tokenizer.stop_ids, max_context,
                                   stats=spec, force=force) if spec is not None else
              generate(model, prompt, max_new_tokens, params, tokenizer.stop_ids, max_context, force))
    try:
        for tok in tokens:
            if result.ttft is None:
                result.ttft = time.perf_counter() - start
            result.token_ids.append(tok)
            if think_budget and splitter.mode == "reasoning" and not result.think_budget_hit:
                thinking += 1
                if thinking >= think_budget:
                    force.extend(tokenizer.encode(CLOSE_REASONING))
                    result.think_budget_hit = True
            if tok in tokenizer.stop_ids:
                result.finish_reason = "stop"
                break
            emit(stopper.push(detok.push(tok)))
            if stopper.stopped:
                result.finish_reason = "stop"
                break
        emit(stopper.push(detok.flush()))
        emit(stopper.flush())
    except KeyboardInterrupt:
        result.finish_reason = "cancelled"
    for kind, t in splitter.flush():
        on_event and on_event(kind, t)
    result.seconds = time.perf_counter() - start
    result.draft_acceptance = spec.acceptance if spec is not None and spec.drafted else None
    result.text = "".join(pieces)
    result.reasoning, result.answer = split_reasoning(result.text)
    return result
