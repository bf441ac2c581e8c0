"""Generation: prompts in, per-row events out, through one function.

`generate(model, prompts, params, …)` returns a Generation: a running batch whose rows decode together, one model
step at a time. A request (a prompt or a conversation, with its own sampling parameters, token budget, stop ids and
strings, thinking budget, and `samples` rows sharing one prefill) joins between steps (`Generation.add`), and each
row leaves the batch when it finishes; a server adds requests to a batch in flight the same way `generate` starts
one. Iterating yields Events: every token, the text it completes split into reasoning and answer sections
(UTF-8-safe, stop strings cut off), and one `finish` per row with its reason and its Completion.

A row alone in the batch speculates when asked: n-gram drafts verified several tokens per model call, losslessly
(a draft token is kept only when it equals the token sampled at that position, so greedy output is unchanged).
Beside other rows it takes the shared step instead, since one batched step already serves every row, and its
Completion says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from ..errors import PhiflashError
from .cache import Cache, Trail
from .params import GREEDY, SamplingParams  # noqa: F401 - GREEDY is part of this module's API
from .streaming import THINK_OPEN, TextStream, split_reasoning


class ContextLengthError(PhiflashError):
    pass




def sample(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None = None) -> torch.Tensor:
    """Next token per row from logits (B, V). Order: top-k, then temperature, then top-p (nucleus)."""
    if params.temperature == 0:
        return logits.argmax(-1)
    logits = logits.float()
    if params.top_k:
        kth = torch.topk(logits, min(params.top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # drop a token when the tokens strictly more likely than it already reach top_p
        drop = (sorted_p.cumsum(-1) - sorted_p) >= params.top_p
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
    float32 logits can tell apart. Set for the duration of a step and put back after it."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


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


# ---- rows, events, and the running batch ------------------------------------------------------------------------


@dataclass
class Completion:
    """One row's whole output, handed over with its `finish` event."""
    text: str = ""
    reasoning: str = ""
    answer: str = ""
    token_ids: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    finish_reason: str = "length"  # "stop" | "length" | "cancelled" (or the reason given to Generation.cancel)
    ttft: float | None = None      # seconds from the prefill's start to the first token
    seconds: float = 0.0
    think_budget_hit: bool = False  # the reasoning was closed at the thinking budget
    draft_acceptance: float | None = None  # speculative decoding: the share of drafted tokens kept
    speculation: str | None = None  # why a row asked to speculate did not, or not throughout
    model_calls: int = 0            # after the prefill: decode steps and verify calls that served this row
    reasoning_tokens: int = 0       # tokens generated inside the reasoning section

    @property
    def tokens_per_second(self) -> float:
        decode_time = self.seconds - (self.ttft or 0.0)
        n = len(self.token_ids) - 1
        return n / decode_time if n > 0 and decode_time > 0 else 0.0


@dataclass(frozen=True)
class Event:
    """kind "token" (token), "text" (section "reasoning" | "answer", text) or "finish" (finish_reason, completion),
    for row `sample` of request `request` (the index of its prompt, or the id Generation.add returned)."""
    kind: str
    request: int
    sample: int = 0
    token: int | None = None
    section: str | None = None
    text: str = ""
    finish_reason: str | None = None
    completion: Completion | None = None


CLOSE_REASONING = "\n</think>\n\n"  # how the chat format ends a reasoning section


@dataclass(eq=False)
class _Row:
    request: int
    sample: int
    prompt: list[int]
    params: SamplingParams
    generator: torch.Generator
    max_new_tokens: int
    stop_ids: frozenset[int]
    text: TextStream | None
    think_budget: int | None
    completion: Completion
    speculate: bool
    start: float = 0.0
    logits: torch.Tensor | None = None    # (1, V) for its next token
    pending: int | None = None            # its next token, already sampled when a draft was rejected
    last: int = -1                        # the token it emitted this step
    force: list[int] = field(default_factory=list)   # tokens that come next instead of sampled ones
    thinking: int = 0
    history: NgramIndex | None = None
    policy: DraftPolicy | None = None
    stats: SpeculationStats | None = None


class Generation:
    """A running batch. `add` queues a request (prefilled at the next step); `step` gives every row one token (a
    speculating row alone, possibly several) and returns the events; iterating steps until every row finished.
    Ctrl-C while iterating finishes every row as "cancelled" and sets `interrupted`."""

    def __init__(self, model, tokenizer=None, *, max_context: int | None = None, max_draft: int = 7):
        self.model, self.tokenizer, self.max_draft = model, tokenizer, max_draft
        self.max_context = (max_context or (tokenizer.model_max_length if tokenizer is not None else None)
                            or model.config.max_context)
        self.rows: list[_Row] = []            # decoding; rows[i] is in cache row i
        self.waiting: list[list[_Row]] = []   # requests to prefill at the next step, each its sample rows
        self.cache: Cache | None = None
        self.interrupted = False
        self._ids = 0

    # ---- requests in -------------------------------------------------------------------------------------------

    def add(self, prompt: Sequence[int] | Sequence[dict], params: SamplingParams = SamplingParams(), *,
            max_new_tokens: int, samples: int = 1, speculate: bool = False, think_budget: int | None = None,
            stop: Sequence[str] = (), stop_ids: Sequence[int] | None = None) -> int:
        """Queue a request: token ids, or a conversation (a list of {"role", "content"} messages, which needs the
        tokenizer). think_budget: after that many reasoning tokens the reasoning section is closed as the chat
        format closes it and the model writes its answer ("budget forcing", arXiv 2501.19393); 0 answers without
        reasoning (an empty reasoning section follows the prompt). Returns the request's id."""
        tok = self.tokenizer
        if prompt and isinstance(prompt[0], dict):
            if tok is None:
                raise PhiflashError("a conversation needs the tokenizer")
            prompt = tok.encode_chat(list(prompt))
        prompt = list(prompt)
        if think_budget is not None and tok is None:
            raise PhiflashError("a thinking budget needs the tokenizer")
        if think_budget == 0:
            prompt = prompt + tok.encode(THINK_OPEN + CLOSE_REASONING)
        if not prompt:
            raise PhiflashError("every prompt needs at least one token")
        if samples < 1 or max_new_tokens < 1:
            raise PhiflashError("samples and max_new_tokens must be at least 1")
        check_context(len(prompt), max_new_tokens, self.max_context)
        request, self._ids = self._ids, self._ids + 1
        stop_ids = frozenset(stop_ids if stop_ids is not None else tok.stop_ids if tok is not None else ())
        opened = tok is not None and tok.decode(prompt[-4:]).rstrip().endswith(THINK_OPEN)
        rows = []
        for s in range(samples):
            gen = torch.Generator(device=self.model.device)
            gen.manual_seed(params.seed + s) if params.seed is not None else gen.seed()
            text = (TextStream(lambda ids: tok.decode(ids, skip_special_tokens=True), stop, reasoning=opened)
                    if tok is not None else None)
            rows.append(_Row(request, s, prompt, params, gen, max_new_tokens, stop_ids, text, think_budget,
                             Completion(prompt_tokens=len(prompt), think_budget_hit=think_budget == 0),
                             speculate))
        if speculate and samples > 1:
            for r in rows:
                r.completion.speculation = f"off: {samples} samples decode together, one batched step for all"
        self.waiting.append(rows)
        return request

    @property
    def busy(self) -> bool:
        return bool(self.rows or self.waiting)

    def __len__(self) -> int:
        """Rows decoding or waiting."""
        return len(self.rows) + sum(map(len, self.waiting))

    # ---- steps ----------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Event]:
        try:
            while self.busy:
                yield from self.step()
        except KeyboardInterrupt:
            self.interrupted = True
            yield from self.cancel()

    @torch.inference_mode()
    def step(self) -> list[Event]:
        events: list[Event] = []
        with flushed_denormals():
            self._admit()
            for row in list(self.rows):
                self._emit(row, self._next_token(row), events)
            if len(self.rows) == 1 and self.rows[0].speculate and not self.waiting:
                self._speculate(self.rows[0], events)
            elif self.rows:
                self._decode(events)
        return events

    def run(self, on_event: Callable[[Event], None] | None = None) -> list[Completion]:
        """Every row's Completion, in (request, sample) order, passing each event to on_event on the way.
        Ctrl-C (here or in on_event) ends every row as "cancelled" and returns what was generated."""
        done: dict[tuple[int, int], Completion] = {}
        events = iter(self)
        while True:
            try:
                e = next(events, None)
                if e is None:
                    break
                if on_event is not None:
                    on_event(e)
            except KeyboardInterrupt:
                self.interrupted = True
                events = iter(self.cancel())
                continue
            if e.kind == "finish":
                done[(e.request, e.sample)] = e.completion
        return [done[k] for k in sorted(done)]

    @torch.inference_mode()
    def cancel(self, request: int | None = None, sample: int | None = None,
               reason: str = "cancelled") -> list[Event]:
        """Finish rows now (all of them, a request's, or one sample of it) with `reason`."""
        hit = lambda r: (request is None or r.request == request) and (sample is None or r.sample == sample)  # noqa: E731
        events: list[Event] = []
        for rows in self.waiting:
            for r in [r for r in rows if hit(r)]:
                rows.remove(r)
                self._finish(r, reason, events)
        self.waiting = [rows for rows in self.waiting if rows]
        for r in [r for r in self.rows if hit(r)]:
            self._finish(r, reason, events)
        return events

    def _admit(self) -> None:
        """Prefill the waiting requests into free cache rows (grown when needed); samples copy the first row."""
        if not self.waiting:
            return
        spare = self.max_draft + 1
        length = max(len(r[0].prompt) + r[0].max_new_tokens + (spare if r[0].speculate else 0)
                     for r in self.waiting)
        self._reserve(len(self), length)
        for rows in self.waiting:
            slot, first = len(self.rows), rows[0]
            view = self.cache.rows(slot, slot + 1)
            view.clear()
            first.start = time.perf_counter()
            logits = self.model.prefill(torch.tensor([first.prompt], device=self.model.device), view)
            if len(rows) > 1:
                self.cache.copy_row(slot, slice(slot + 1, slot + len(rows)))
            for r in rows:
                r.logits, r.start = logits, first.start
                if r.speculate:
                    r.history, r.stats = NgramIndex(r.prompt), SpeculationStats()
                    # a verify call appends 1 + draft tokens and is rolled back, which needs them inside a window
                    r.policy = DraftPolicy(max_draft=min([self.max_draft] + [ring.shape[3] - 1 for ring in
                                                                             self.cache.ring_k.values()]))
                self.rows.append(r)
        self.waiting = []

    def _reserve(self, rows: int, length: int) -> None:
        c = self.cache
        if c is None:
            self.cache = self.model.new_cache(rows, length)
        elif rows > c.batch_size or length > c.max_length:
            # grown geometrically in length, so a server's stream of requests reallocates rarely
            longer = length if length <= c.max_length else min(max(length, 2 * c.max_length),
                                                               self.max_context + self.max_draft + 1)
            bigger = self.model.new_cache(max(rows, c.batch_size), max(longer, c.max_length))
            bigger.take(c, len(self.rows))
            self.cache = bigger

    def _next_token(self, row: _Row) -> int:
        if row.force:
            row.pending = None
            return row.force.pop(0)
        if row.pending is not None:
            t, row.pending = row.pending, None
            return t
        return int(sample(row.logits, row.params, row.generator)[0])

    def _emit(self, row: _Row, t: int, events: list[Event]) -> bool:
        """Hand out token t of `row`; True when it finished the row."""
        c = row.completion
        if c.ttft is None:
            c.ttft = time.perf_counter() - row.start
        c.token_ids.append(t)
        row.last = t
        if row.history is not None:
            row.history.append(t)
        events.append(Event("token", row.request, row.sample, token=t))
        if row.text is not None and row.text.in_reasoning:
            c.reasoning_tokens += 1
        if row.think_budget and row.text.in_reasoning and not c.think_budget_hit:
            row.thinking += 1
            if row.thinking >= row.think_budget:
                row.force.extend(self.tokenizer.encode(CLOSE_REASONING))
                c.think_budget_hit = True
        if t in row.stop_ids:
            return self._finish(row, "stop", events)
        if row.text is not None:
            events += [Event("text", row.request, row.sample, section=k, text=s) for k, s in row.text.push(t)]
            if row.text.stopped:
                return self._finish(row, "stop", events)
        if len(c.token_ids) >= row.max_new_tokens:
            return self._finish(row, "length", events)
        return False

    def _finish(self, row: _Row, reason: str, events: list[Event]) -> bool:
        c = row.completion
        if row.text is not None:
            events += [Event("text", row.request, row.sample, section=k, text=s) for k, s in row.text.flush()]
            c.text = row.text.text
            c.reasoning, c.answer = split_reasoning(c.text)
        c.finish_reason = reason
        c.seconds = time.perf_counter() - row.start if row.start else 0.0
        if row.stats is not None and row.stats.drafted:
            c.draft_acceptance = row.stats.acceptance
        if row in self.rows:  # the last row moves into its cache row, so the decoding rows stay rows 0..n-1
            i, last = self.rows.index(row), self.rows[-1]
            if last is not row:
                self.cache.copy_row(len(self.rows) - 1, slice(i, i + 1))
                self.rows[i] = last
            self.rows.pop()
        events.append(Event("finish", row.request, row.sample, finish_reason=reason, completion=c))
        return True

    def _decode(self, events: list[Event]) -> None:
        """One step for every row together."""
        rows = self.rows
        if len(rows) > 1:
            for r in rows:
                if r.speculate and r.completion.speculation is None:
                    r.completion.speculation = f"paused while {len(rows)} rows decode together"
        tokens = torch.tensor([[r.last] for r in rows], device=self.model.device)          # (B, 1)
        logits = self.model.decode(tokens, self.cache.rows(0, len(rows)))                    # (B, V)
        for i, r in enumerate(rows):
            r.logits = logits[i:i + 1]
            r.completion.model_calls += 1

    def _speculate(self, row: _Row, events: list[Event]) -> None:
        """The step of the row alone in the batch: its last token and up to max_draft drafted ones in one call; the
        drafts that match what the model samples at their position are emitted, the rest rolled back (Cache.keep)."""
        policy, stats, cache = row.policy, row.stats, self.cache.rows(0, 1)   # alone: cache row 0
        left = row.max_new_tokens - len(row.completion.token_ids)
        found, n = row.history.match(min(policy.max_draft, left)) if not row.force else ([], 0)
        draft = found[:policy.choose(len(found), n)]
        stats.calls += 1
        row.completion.model_calls += 1
        start = time.perf_counter()
        if not draft:
            row.logits = self.model.decode(torch.tensor([[row.last]], device=self.model.device), cache)
            policy.timed(1, time.perf_counter() - start)
            return
        trail = Trail()
        verify = self.model.extend(torch.tensor([[row.last] + draft], device=self.model.device), cache, trail)[0]
        policy.timed(1 + len(draft), time.perf_counter() - start)                             # verify (1 + k, V)
        stats.drafted += len(draft)
        kept = matched = 0
        for i, d in enumerate(draft):
            s = int(sample(verify[i:i + 1], row.params, row.generator)[0])
            if s != d:
                row.pending = s
                break
            matched += 1
            stats.accepted += 1
            if row.force:  # the thinking budget decided what comes next: drafts past here are dropped
                break
            kept += 1
            if self._emit(row, d, events):  # finished (its Completion has the acceptance so far)
                return
        policy.observe(n, len(draft), matched)
        if kept == len(draft) and not row.force:  # every draft kept: the cache holds them all
            row.logits = verify[-1:]
            return
        cache.keep(trail, 1 + kept)   # the last token and the kept drafts; the rest are rolled back


def generate(model, prompts: Sequence[Sequence[int] | Sequence[dict]], params: SamplingParams = SamplingParams(), *,
             max_new_tokens: int, samples: int = 1, speculate: bool = False, think_budget: int | None = None,
             stop: Sequence[str] = (), stop_ids: Sequence[int] | None = None, tokenizer=None,
             max_context: int | None = None) -> Generation:
    """Generate for every prompt (token ids, or a conversation with the tokenizer), all with the same settings.
    Iterate the result for Events, or `.run()` it for the Completions; `.add` more requests while it runs.
    Text events, stop strings and the thinking budget need the tokenizer; the tokenizer's stop ids are the
    default stop ids. See Generation.add for the settings."""
    g = Generation(model, tokenizer, max_context=max_context)
    for p in prompts:
        g.add(p, params, max_new_tokens=max_new_tokens, samples=samples, speculate=speculate,
              think_budget=think_budget, stop=stop, stop_ids=stop_ids)
    return g
