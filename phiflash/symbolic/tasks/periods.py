"""The period of a trigonometric function: 'What is the period of y = sin 5x?', 'What is the period of y = tan x +
cot x?'.

Solved by SymPy's periodicity, which finds a period but not always the least one (sin²x comes back as 2π): the
period found is divided by 2, 3, … as long as the quotient is still a period (f(x + P) − f(x) simplifies to 0), so
the answer is the least period that divides it. Checked numerically, in 40-digit floating point at a dozen points:
f(x + P) = f(x) at each, and for each P/k (k = 2 … 24) some point where f(x + P/k) differs from f(x).
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp

from ..parse import ParseError, parse_math
from ..sentence import WHAT, Sentence
from ..solution import plain
from .base import SolveError, Step, Task, Worked

_TRIG = (sp.sin, sp.cos, sp.tan, sp.cot, sp.sec, sp.csc)
_POINTS = [sp.Rational(k, 7) + sp.Rational(1, 13) for k in range(-6, 6)]


@dataclass(frozen=True)
class Period:
    f: sp.Expr
    x: sp.Symbol


def read_period(g: dict, s: Sentence) -> Period:
    items = parse_math(s.slot(g, "f"), latex=True)
    if len(items) != 1:
        raise ParseError("the period of one function")
    f = items[0]
    if isinstance(f, sp.Eq):   # 'y = sin 5x': the right side, a function of the other letter
        if not isinstance(f.lhs, sp.Symbol) or f.lhs in f.rhs.free_symbols:
            raise ParseError("read as y = a formula in x")
        f = f.rhs
    if len(f.free_symbols) != 1 or not f.has(*_TRIG):
        raise ParseError("the period of a trigonometric function of one letter")
    return Period(f, next(iter(f.free_symbols)))


def _is_period(f, x, p) -> bool:
    """Screened numerically (most candidates fail at once), then proved: the difference simplifies to 0."""
    if _differs(f, x, p):
        return False
    diff = f.subs(x, x + p) - f
    return sp.simplify(diff) == 0 or sp.simplify(sp.expand_trig(diff)) == 0


def solve_period(p: Period) -> Worked:
    found = sp.periodicity(p.f, p.x)
    if found is None or not found.is_positive:
        raise SolveError("no period found: the function may not repeat")
    steps = [Step(f"A period of {plain(p.f)}: each part repeats after it", found)]
    period = found
    for k in range(24, 1, -1):   # the least period divides any period: try the largest k first
        if _is_period(p.f, p.x, found / k):
            period = found / k
            steps.append(Step(f"{plain(found)}/{k} is a period too (f(x + {plain(period)}) = f(x))", period))
            break
    return Worked(period, steps)


def _differs(f, x, shift) -> bool:
    with mpmath.workdps(40):
        for t in _POINTS:
            try:
                a, b = complex(sp.N(f.subs(x, t), 40)), complex(sp.N(f.subs(x, t + shift), 40))
            except (TypeError, ValueError, ZeroDivisionError):
                continue
            if abs(a - b) > 1e-20 * (1 + abs(a)):
                return True
    return False


def check_period(p: Period, w: Worked) -> Step:
    if _differs(p.f, p.x, w.answer):
        raise SolveError("the period failed its check: f(x + P) differs from f(x)")
    shorter = next((k for k in range(2, 25) if not _differs(p.f, p.x, w.answer / k)), None)
    if shorter:
        raise SolveError(f"the period failed its check: P/{shorter} looks like a period too")
    return Step(f"Check: in 40-digit arithmetic f(x + {plain(w.answer)}) = f(x) at {len(_POINTS)} points, and no "
                f"{plain(w.answer)}/k (k = 2 … 24) repeats it")


TASKS = (
    Task("period", "the period of a trigonometric function", phrasings=(
        (50, rf"(?:{WHAT} )?the (?:least |smallest |fundamental )?period of (?:the (?:function|graph of) )?"
             rf"(?P<f>⟦\d+⟧)"),),
        read=read_period, solve=solve_period, check=check_period,
        examples=((r"What is the period of $y = \sin 5x $?", "2pi/5"),
                  (r"What is the period of $y = \sin^2 x$?", "pi")),
        questions=((r"^A period of", "After how much does each part of the function repeat?"),),
        data=Period),
)
