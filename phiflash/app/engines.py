"""The two engines behind `solve`, `tutor` and `batch`, with one result shape.

`symbolic` needs no weights: the SymPy engine with steps. `phi` runs the SambaY model and checks its final
answer with the symbolic engine. The phi engine imports torch only when it is built.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from ..errors import PhiflashError
from ..lm import hub  # no torch
from ..symbolic.answers import extract_answer, read_answer
from ..symbolic.parse import BASE_NUMERAL, ParseError
from ..symbolic.readings import Ambiguous
from ..symbolic.solver import SolveError, pretty, solve
from ..symbolic.verify import UNVERIFIABLE, VERIFIED, WRONG, Verdict, check_answer
from . import record

MATH_PROMPT = "Please reason step by step, and put your final answer within \\boxed{{}}. {problem}"


@dataclass
class Result:
    problem: str
    engine: str
    answer: str | None = None
    answer_latex: str | None = None
    answer_pretty: str | None = None     # Unicode 2-D for the terminal (not in JSON)
    verdict: str = UNVERIFIABLE
    expected: str | None = None
    reason: str = ""
    steps: list[dict] | None = None
    notes: list[str] = field(default_factory=list)
    reasoning: str | None = None
    text: str | None = None              # the model's whole output
    finish_reason: str | None = None
    timings: dict = field(default_factory=dict)
    samples: list[dict] | None = None    # --samples K: each sample (consensus.Sample.to_dict)
    agreement: dict | None = None

    def to_record(self, command: str = "solve", **extra) -> dict:
        """This result in the one JSON schema (phiflash.app.record)."""
        own = {k: getattr(self, k) for k in ("problem", "engine", "answer", "answer_latex", "verdict", "expected",
                                             "reason", "steps", "reasoning", "text", "finish_reason", "notes",
                                             "timings", "samples", "agreement")}
        return record.make(command, **(own | extra))


# The model's timings: the same keys on every path (solve, batch, samples, speculation), null where one does not
# apply, so a script reads them the same way.
TIMING_KEYS = ("prompt_tokens", "generated_tokens", "samples", "ttft_s", "tokens_per_s", "total_s",
               "think_budget_hit", "draft_acceptance", "speculation")


def model_timings(**values) -> dict:
    unknown = set(values) - set(TIMING_KEYS)
    if unknown:
        raise TypeError(f"not timing keys: {sorted(unknown)}")
    return {k: values.get(k, 1 if k == "samples" else None) for k in TIMING_KEYS}


def _answer_objects(text: str) -> tuple[list | str | None, str]:
    """The SymPy objects an answer names (a str for 'no solution'/'does not exist'; None when unreadable), and
    the word that joins conditions as written: 'x < -2 and x > 3' is shown with its 'and', never a comma."""
    try:
        a = read_answer(text)
    except (ParseError, Ambiguous, TypeError, ValueError):  # unreadable, or read two ways: shown as typed
        return None, ","
    if a.kind == "text":
        return None, ","
    if a.kind in ("empty", "dne"):
        return {"empty": "no solution", "dne": "does not exist"}[a.kind], ","
    shown = _answer_values(a) + [sp.Ne(s, v) for s, v in a.restrictions]
    return shown, a.joined if a.kind == "set" and a.joined in ("and", "or") else ","


def _answer_values(a) -> list:
    if a.kind == "values" and a.names:
        return [sp.Eq(sp.Symbol(n), v) for n, v in zip(a.names, a.values)]
    if a.kind == "tuples":
        return [sp.Tuple(*[sp.Eq(sp.Symbol(k), v) for k, v in t.items()]) if isinstance(t, dict) else t
                for t in a.values]
    return list(a.values)


_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def pretty_answer(text: str) -> str:
    """A model's or student's answer, as Unicode 2-D math when it can be read, else as written. A numeral in a
    base is shown as written (67₈), never as its value in base ten."""
    objs, joiner = _answer_objects(text)
    if objs is None or isinstance(objs, str):
        return objs or text
    if BASE_NUMERAL.search(text):   # 67_8 is shown 67₈: its value, 55, is not what the student wrote
        return BASE_NUMERAL.sub(lambda m: m.group(1) + m.group(2).translate(_SUBSCRIPT), text.strip().strip("$"))
    shown = [pretty(_decimals_as_typed(o)) for o in objs]
    if any("\n" in t for t in shown):
        return f"\n{joiner}\n".join(shown) if joiner != "," else "\n\n".join(shown)
    return ", ".join(shown) if joiner == "," else f" {joiner} ".join(shown)


def _decimals_as_typed(obj):
    """1.75 shown as 1.75, not as the float's fifteen digits (1.75000000000000)."""
    if not isinstance(obj, sp.Basic):
        return obj
    return obj.xreplace({f: sp.Symbol(repr(float(f))) for f in obj.atoms(sp.Float)})


def latex_answer(text: str) -> str | None:
    """The answer as LaTeX when it can be read (None otherwise: the text as given is in `answer`)."""
    objs, joiner = _answer_objects(text)
    if objs is None or isinstance(objs, str):
        return {"no solution": r"\varnothing", "does not exist": r"\text{does not exist}"}.get(objs)
    if BASE_NUMERAL.search(text):
        return BASE_NUMERAL.sub(r"\1_{\2}", text.strip().strip("$"))
    try:
        return (", " if joiner == "," else rf" \text{{ {joiner} }} ").join(sp.latex(o) for o in objs)
    except Exception:  # noqa: BLE001 - LaTeX is a courtesy; the answer itself is kept as given
        return None


class Refused(PhiflashError):
    """The symbolic engine declines the problem: it cannot read it, has no method for it, or reads it two ways.
    Deterministic (retrying cannot help), so it is a result (verdict unverifiable, `refused`), not an error."""


def refused_record(command: str, problem: str | None, why: str, **extra) -> dict:
    return record.make(command, problem=problem, engine="symbolic", verdict=UNVERIFIABLE, reason=why, refused=True,
                       **extra)


class SymbolicEngine:
    name = "symbolic"

    def __init__(self, seconds: float = 10.0):
        self.seconds = seconds

    def solve(self, problem: str, **_) -> Result:

        start = time.perf_counter()
        try:
            sol = solve(problem, seconds=self.seconds)
        except (ParseError, SolveError, Ambiguous) as e:  # declined: the reason is the result
            raise Refused(str(e)) from e
        except PhiflashError:  # a time limit, a dead solver process: failures
            raise
        except Exception as e:  # noqa: BLE001 - a solver bug refuses the problem; it never crashes the caller
            raise PhiflashError(f"the solver failed ({type(e).__name__}: {e})") from e
        seconds = time.perf_counter() - start
        verdict = VERIFIED if sol.check else UNVERIFIABLE
        return Result(problem, self.name, sol.answer_text, sol.answer_latex, sol.answer_pretty, verdict,
                      sol.answer_text, "" if sol.check else "the result could not be checked",
                      [s.to_dict() for s in sol.steps], sol.notes, timings={"total_s": round(seconds, 3)})


class PhiEngine:
    name = "phi"

    def __init__(self, model_dir: Path, quantize: str | None = None, dtype: str | None = None,
                 threads: int | None = None, notice: Callable[[str], None] | None = None, progress=None):
        import torch

        from ..lm.tokenizer import Tokenizer
        from ..lm.weights import load_model, quantization

        torch.set_num_threads(threads or default_threads())
        stored = quantization(model_dir)
        if stored:  # a quantized checkpoint loads as it is stored; asking for another mode is a mistake
            if quantize not in (None, stored["mode"]):
                raise PhiflashError(f"{model_dir} is a {stored['mode']} checkpoint: --quantize {quantize} needs "
                                    "the original checkpoint")
            self.quantize = stored["mode"]
        else:
            self.quantize = DEFAULT_QUANTIZE if quantize is None else None if quantize == "none" else quantize
        self.weights_dir = prepared_checkpoint(model_dir, self.quantize, notice, progress)
        self.model = load_model(self.weights_dir, dtype=dtype)
        from .logdb import data_dir

        self.tokenizer = Tokenizer.from_dir(model_dir, cache_dir=data_dir() / "tokenizers")

    def messages(self, problem: str, system: str | None = None) -> list[dict]:
        msgs = [{"role": "system", "content": system}] if system else []
        return msgs + [{"role": "user", "content": MATH_PROMPT.format(problem=problem)}]

    def chat(self, messages: list[dict], params, max_tokens: int,
             on_event: Callable[[str, str], None] | None = None, think_budget: int | None = None,
             speculate: bool = True):
        """The model's Completion of a conversation, its text streamed to on_event(section, text)."""
        from ..lm.generate import generate

        g = generate(self.model, [messages], params, max_new_tokens=max_tokens, think_budget=think_budget,
                     speculate=speculate, tokenizer=self.tokenizer)
        return g.run(lambda e: on_event(e.section, e.text) if on_event and e.kind == "text" else None)[0]

    def solve(self, problem: str, params=None, max_tokens: int = 32768, system: str | None = None,
              on_event: Callable[[str, str], None] | None = None, check_seconds: float = 10.0,
              think_budget: int | None = None, speculate: bool = True) -> Result:
        """One answer; think_budget caps the reasoning, speculate verifies n-gram drafts (lm.generate: the same
        output, faster where the text repeats; its draft policy falls back to plain steps where it does not)."""
        from ..lm.generate import SamplingParams

        c = self.chat(self.messages(problem, system), params or SamplingParams(), max_tokens, on_event,
                      think_budget, speculate)
        return self.result(problem, c, think_budget, check_seconds)

    def result(self, problem: str, c, think_budget: int | None = None, check_seconds: float = 10.0) -> Result:
        """A Completion graded: a finish by length has no answer, a cancelled one keeps what it had."""
        result = self.grade(problem, c.answer or c.text, check_seconds) if c.finish_reason != "length" else \
            self.cut_short(problem, len(c.token_ids))
        result.reasoning, result.text, result.finish_reason = c.reasoning, c.text, c.finish_reason
        result.timings = model_timings(prompt_tokens=c.prompt_tokens, generated_tokens=len(c.token_ids),
                                       ttft_s=round(c.ttft, 3) if c.ttft is not None else None,
                                       tokens_per_s=round(c.tokens_per_second, 2), total_s=round(c.seconds, 3),
                                       think_budget_hit=c.think_budget_hit, draft_acceptance=c.draft_acceptance,
                                       speculation=c.speculation)
        if c.think_budget_hit:
            result.notes.append("no reasoning (--think-budget 0)" if think_budget == 0 else
                                f"the reasoning was cut at the thinking budget of {think_budget} tokens")
        return result

    def solve_samples(self, problem: str, k: int, params, max_tokens: int = 32768, system: str | None = None,
                      on_event: Callable[[str, str], None] | None = None,
                      on_status: Callable[[str], None] | None = None, early_stop: bool = True,
                      check_seconds: float = 10.0, think_budget: int | None = None,
                      speculate: bool = False) -> Result:
        """k samples from one prefill, decoded together; the answer their agreement (or SymPy) supports. Sample 0
        streams through on_event; on_status gets a one-line account of the others."""
        from ..lm.generate import generate
        from . import consensus as C

        g = generate(self.model, [self.messages(problem, system)], params, max_new_tokens=max_tokens, samples=k,
                     think_budget=think_budget, speculate=speculate, tokenizer=self.tokenizer)
        done: list[C.Sample | None] = [None] * k
        tokens, early, completions = [0] * k, False, [None] * k

        def finish(e) -> None:
            done[e.sample], completions[e.sample] = self.sample(problem, e.completion, check_seconds)[0], e.completion

        start, shown = time.perf_counter(), 0.0

        def on(e) -> None:
            nonlocal early, shown
            if e.kind == "text" and e.sample == 0 and on_event:
                on_event(e.section, e.text)
            elif e.kind == "token":
                tokens[e.sample] += 1
            elif e.kind == "finish":
                finish(e)
                if early_stop and not early and g.busy and C.settled(done, k, problem):
                    early = True
                    for f in g.cancel(reason="early stop"):
                        finish(f)
            if on_status and (e.kind == "finish" or time.perf_counter() - shown > 0.1):
                shown = time.perf_counter()
                running = sum(1 for d in done if d is None)
                on_status(f"samples: {k - running} of {k} done · {sum(tokens)} tokens")

        g.run(on)
        samples = [d for d in done if d is not None]
        verdict, pick, agreement, reason = C.decide(samples, problem, k)
        agreement.early_stop = early
        chosen = samples[pick] if pick is not None else samples[0]
        answer = chosen.answer if pick is not None else None
        result = Result(problem, self.name, answer, latex_answer(answer) or answer if answer else None,
                        pretty_answer(answer) if answer else None, verdict,
                        chosen.expected if verdict in (VERIFIED, WRONG) else None, reason)
        result.reasoning, result.text = chosen.reasoning, chosen.text
        result.finish_reason = "cancelled" if g.interrupted else chosen.finish_reason
        result.samples = [d.to_dict() for d in samples]
        result.agreement = agreement.to_dict(samples)
        seconds = time.perf_counter() - start
        first = completions[0]
        result.timings = model_timings(prompt_tokens=first.prompt_tokens if first else None,
                                       generated_tokens=sum(tokens), samples=k,
                                       tokens_per_s=round(sum(tokens) / seconds, 2) if seconds else 0.0,
                                       total_s=round(seconds, 3),
                                       think_budget_hit=any(c.think_budget_hit for c in completions if c),
                                       speculation=first.speculation if first else None)
        if think_budget is not None and result.timings["think_budget_hit"]:
            result.notes.append("no reasoning (--think-budget 0)" if think_budget == 0 else
                                f"the reasoning was cut at the thinking budget of {think_budget} tokens")
        return result

    def sample(self, problem: str, c, check_seconds: float = 10.0):
        """A Completion as one of several samples (consensus.Sample), with its graded Result: only a finish by a
        stop is graded; one cut at the token limit or stopped early has no answer."""
        from . import consensus as C

        why = c.finish_reason
        graded = self.grade(problem, c.answer or c.text, check_seconds) if why == "stop" else \
            self.cut_short(problem, len(c.token_ids)) if why == "length" else \
            Result(problem, self.name, reason="stopped before a final answer")
        return C.Sample(graded.answer, c.text, c.reasoning, why, len(c.token_ids), graded.verdict, graded.reason,
                        graded.expected), graded

    def cut_short(self, problem: str, tokens: int) -> Result:
        """An output cut at the token limit has no final answer: nothing is extracted from the unfinished text."""
        return Result(problem, self.name, reason=f"cut at {tokens} tokens (--max-tokens) before a final answer")

    def grade(self, problem: str, text: str, check_seconds: float = 10.0) -> Result:
        answer = extract_answer(text)
        if answer is None:
            return Result(problem, self.name, reason="the model gave no final answer")
        v: Verdict = check_answer(answer, problem, seconds=check_seconds)
        return Result(problem, self.name, answer, latex_answer(answer) or answer, pretty_answer(answer), v.status,
                      v.expected, v.reason)


def default_threads() -> int:
    """The cores this process may use that other processes are not already busy on (at least 1)."""
    import os
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    busy = int(os.getloadavg()[0] + 0.5) if hasattr(os, "getloadavg") else 0
    return max(1, cores - busy)


def prepared_checkpoint(model_dir: Path, quantize: str | None, notice=None, progress=None) -> Path:
    """The checkpoint to load for `quantize`: the directory itself when it needs no quantizing (or already is
    quantized), else a quantized copy in the data directory, written once and keyed by the source files'
    identity (path, sizes, modification times) and the mode, so later starts load it in seconds."""
    import hashlib
    import json

    from ..lm.quantize import GROUP_SIZE
    from ..lm.weights import ALIGN, INT4_LAYOUT, INT8_LAYOUT, quantization, quantize_checkpoint
    from .logdb import data_dir

    if quantize is None or quantization(model_dir):
        return model_dir  # nothing to do, or loaded as stored
    files = sorted(f for f in model_dir.iterdir() if f.suffix == ".safetensors" or f.name == "config.json")
    # the layouts are part of a copy's identity: a new layout quantizes anew, once
    identity = json.dumps({"src": str(model_dir.resolve()), "mode": quantize, "group": GROUP_SIZE,
                           "format": INT4_LAYOUT if quantize == "int4" else f"int8-{INT8_LAYOUT}", "alignment": ALIGN,
                           "files": [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]})
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    cached = data_dir() / "models" / f"{model_dir.name}-{quantize}-{key}"
    if (cached / "config.json").exists():
        return cached
    with _exclusive(data_dir() / "locks" / f"{cached.name}.lock"):  # one writer per machine (Ray actors on a node)
        if (cached / "config.json").exists():   # another process wrote it while this one waited
            return cached
        if notice:
            notice(f"Quantizing {model_dir} to {quantize} once, into {cached}; later starts load that copy.")
        return quantize_checkpoint(model_dir, cached, quantize, progress=progress)


@contextlib.contextmanager
def _exclusive(lock: Path):
    """Hold an advisory lock on `lock` (created if needed) while the block runs; released if the process dies."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; two writers there must not start at once
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def make_engine(name: str | None, model: str | None = None, quantize: str | None = None, dtype: str | None = None,
                notice: Callable[[str], None] | None = None, threads: int | None = None, progress=None,
                no_weights: Callable[[str], None] | None = None):
    """`phi` when weights are found (or asked for), else `symbolic`, telling the user why (`no_weights`).
    quantize: "int8" / "int4" / "none" (None: int8, the CPU default). `notice` tells of a first-use
    quantization, `progress(done, total, name)` follows it."""

    path = model_path(name, model, no_weights)
    if path is None:
        return SymbolicEngine()
    return PhiEngine(path, quantize=quantize, dtype=dtype, threads=threads, notice=notice, progress=progress)


def model_path(name: str | None, model: str | None = None,
               no_weights: Callable[[str], None] | None = None) -> Path | None:
    """The checkpoint the `phi` engine loads, or None when the symbolic engine answers: asked for, or no weights
    found (`no_weights` is told why). Choosing loads nothing (`batch --ray`'s actors load the model themselves)."""
    if name not in (None, "phi", "symbolic"):
        raise PhiflashError(f"unknown engine {name!r}: choose phi or symbolic")
    if name == "symbolic":
        return None
    path = hub.find_model(model)
    if path is None:
        if name == "phi":
            raise PhiflashError("no model weights found: pass --model DIR, set PHIFLASH_MODEL, or run "
                                "`phiflash download`")
        if no_weights:
            no_weights("No model weights found, so the symbolic engine answers. Fetch the model with "
                       "`phiflash download`.")
    return path


def auto_samples(problem: str) -> int:
    """--samples by default: 1 when the symbolic engine solves the problem (SymPy will check the model's answer),
    else 4 (a word problem: agreement is the evidence there is)."""
    try:
        SymbolicEngine(seconds=5.0).solve(problem)
        return 1
    except PhiflashError:
        return 4


DEFAULT_QUANTIZE = "int8"  # on CPU: half the bytes read per token of bf16, logits within ~2% (see README)
