"""Self-consistency: several samples of the model's solution, their final answers grouped by equivalence (the
verdict code of `check --expected`, so 1/2, 0.5 and \\frac12 are one group), and what their agreement says.

SymPy's verdict, where the symbolic engine can check the problem, always wins over a vote: one verified sample makes
the result verified, and a sample proven wrong is dropped from the vote (and said so). Otherwise ≥ 3/4 of the
samples agreeing is `consensus` — evidence, not proof — and anything less is `split`, with the candidates shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..symbolic.verify import UNVERIFIABLE, VERIFIED, WRONG, check_answer

CONSENSUS, SPLIT = "consensus", "split"
AGREE = 0.75  # the share of samples that makes a consensus


@dataclass
class Sample:
    answer: str | None               # the final answer extracted from its text (None: it gave none)
    text: str = ""
    reasoning: str = ""
    finish_reason: str = "length"
    tokens: int = 0
    verdict: str = UNVERIFIABLE      # SymPy's, against the problem
    reason: str = ""
    expected: str | None = None      # SymPy's own answer, when it solved the problem

    def to_dict(self) -> dict:
        return {"answer": self.answer, "finish_reason": self.finish_reason, "tokens": self.tokens,
                "verdict": self.verdict}


@dataclass
class Agreement:
    k: int                                                  # samples asked for
    groups: list[list[int]] = field(default_factory=list)   # sample indices, largest group first
    dropped: list[int] = field(default_factory=list)        # samples SymPy proved wrong
    early_stop: bool = False

    @property
    def support(self) -> int:
        return len(self.groups[0]) if self.groups else 0

    def to_dict(self, samples: list[Sample]) -> dict:
        return {"support": self.support, "of": self.k, "early_stop": self.early_stop,
                "dropped": self.dropped,
                "groups": [{"answer": samples[g[0]].answer, "count": len(g), "samples": g} for g in self.groups]}


def same_answer(a: str, b: str, problem: str | None) -> bool:
    return check_answer(a, problem, expected=b).status == VERIFIED


def group(samples: list[Sample], problem: str | None, indices: list[int] | None = None) -> list[list[int]]:
    """Answered samples in groups of equivalent answers, largest first (ties: the earlier sample first)."""
    groups: list[list[int]] = []
    for i in indices if indices is not None else range(len(samples)):
        a = samples[i].answer
        if a is None:
            continue
        for g in groups:
            if same_answer(a, samples[g[0]].answer, problem):
                g.append(i)
                break
        else:
            groups.append([i])
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def needed(k: int) -> int:
    return math.ceil(AGREE * k)


def settled(samples: list[Sample | None], k: int, problem: str | None) -> bool:
    """True once the finished samples already decide the outcome: a group has the votes for a consensus that the
    unfinished ones cannot take away, or a sample is verified by SymPy."""
    done = [s for s in samples if s is not None]
    if any(s.verdict == VERIFIED for s in done):
        return True
    idx = [i for i, s in enumerate(samples) if s is not None and s.verdict != WRONG]
    groups = group(samples, problem, idx)  # type: ignore[arg-type]
    return bool(groups) and len(groups[0]) >= needed(k)


def decide(samples: list[Sample], problem: str | None, k: int) -> tuple[str, int | None, Agreement, str]:
    """(verdict, the sample whose answer is reported, agreement, reason)."""
    verified = [i for i, s in enumerate(samples) if s.verdict == VERIFIED]
    dropped = [i for i, s in enumerate(samples) if s.verdict == WRONG]
    votes = [i for i in range(len(samples)) if i not in dropped]
    agreement = Agreement(k, group(samples, problem, votes), dropped)
    if verified:
        return VERIFIED, verified[0], agreement, ""
    note = f"; {len(dropped)} sample{'s' if len(dropped) > 1 else ''} proven wrong by SymPy dropped" \
        if dropped else ""
    if not agreement.groups:
        if dropped:
            return WRONG, dropped[0], agreement, "every answer was proven wrong"
        return UNVERIFIABLE, None, agreement, "no sample gave a final answer"
    lead = agreement.groups[0][0]
    if agreement.support >= needed(k):
        return CONSENSUS, lead, agreement, f"{agreement.support} of {k} samples agree{note}"
    candidates = ", ".join(f"{samples[g[0]].answer} ({len(g)})" for g in agreement.groups)
    return SPLIT, lead, agreement, f"no answer has {needed(k)} of {k} samples: {candidates}{note}"
