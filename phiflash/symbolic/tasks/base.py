"""What a task module declares, and the few helpers they share.

A task is one kind of problem ("the remainder when A is divided by N"). Its module gives:
- `phrasings`: (priority, pattern) pairs written with the atoms of `sentence` (A, B, V, WHAT, …); a sentence must
  match a pattern whole. Higher priorities are tried first; two tasks at the same priority that both read a
  sentence make it ambiguous, and it is refused.
- `read(groups, sentence)`: the pattern's groups into the task's own frozen dataclass, or a ParseError. Reading
  never computes the answer: it parses and validates, nothing more. A phrasing that is only another way of
  writing an equation (or another of the engine's core kinds) may return that Problem instead.
- `solve(data) -> Worked`: the answer and the steps to it.
- `check(data, worked) -> Step`: a second, independent method that must agree (never the same computation, never
  a value compared with itself); it raises SolveError when it disagrees or cannot be carried out.
- `questions`: (step-text pattern, question) pairs: the first rung of the tutor's hint ladder for such a step.
- `examples`: (sentence, answer) pairs: run as tests, and they are the README's list of what the engine reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from ..parse import ParseError
from ..solution import SolveError, Step

__all__ = ["Task", "Worked", "SolveError", "Step", "NotMine"]


class NotMine(ParseError):
    """A phrasing matched, but what it holds is another task's (a 'compute ⟦0⟧' whose math is no matrix): not an
    error worth reporting when nothing reads the sentence."""


@dataclass
class Worked:
    answer: sp.Expr
    steps: list[Step]
    notes: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)    # values found on the way that the check may start from


@dataclass(frozen=True)
class Task:
    name: str                                    # Problem.kind of what it reads
    summary: str                                 # one line for the README: what it reads
    phrasings: tuple[tuple[int, str], ...]
    read: Callable
    solve: Callable | None = None                # None: read returns a Problem of a core kind
    check: Callable | None = None
    examples: tuple[tuple[str, str], ...] = ()
    questions: tuple[tuple[str, str], ...] = ()
    form: str | None = None                      # the answer form this task always gives (e.g. "base")
    data: type | None = None                     # the dataclass `read` returns for this task
