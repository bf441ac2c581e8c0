"""The least or greatest value of an expression in one variable on an interval: 'Find the minimum value of
4x + 1/x⁴ for x > 0', 'Find the maximum value of f(x) = 3x − x³ for 0 ≤ x ≤ √3', 'Find the minimum value of
9ˣ − 3ˣ + 1 over all real numbers x'. (Quadratics are the extremum task's.)

Solved by calculus: the expression must be continuous on the interval; its critical points there (f′ = 0, found
exactly) and the closed ends are the candidates, and the limits at the open or infinite ends must not go below the
least candidate (above the greatest), or there is no least (greatest) value and the problem is refused. Where the
variable appears only inside sines and cosines of its whole multiples, one period [0, 2π] stands for all real
numbers.

Checked without calculus: the expression is sampled at 6,000 points across the interval (an infinite one through
x = t/(1 − t²)), no sample may pass the answer, and a golden-section search from the best sample must come back to
it, in 40-digit floating point.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp
from sympy.calculus.util import continuous_domain

from ..parse import ParseError, parse_math
from ..sentence import WHAT, Sentence
from ..solution import plain
from .base import SolveError, Step, Task, Worked
from .trigvalues import TRIG, periodic

_LEAST = {"minimum", "least", "smallest"}


@dataclass(frozen=True)
class Optimum:
    f: sp.Expr
    x: sp.Symbol
    least: bool
    domain: sp.Set


def read_optimum(g: dict, s: Sentence) -> Optimum:
    items = parse_math(s.slot(g, "f"), latex=True)
    if len(items) != 1:
        raise ParseError("one expression to make least or greatest")
    f = items[0]
    if isinstance(f, sp.Eq):       # 'f(x) = 3x − x³': the formula on the right
        f = f.rhs
    if not isinstance(f, sp.Expr) or len(f.free_symbols) != 1:
        raise ParseError("the least or greatest value of an expression in one variable")
    v = next(iter(f.free_symbols))
    if any(g.get(k) and parse_math(s.slot(g, k), latex=True) != [v] for k in ("r1", "r2", "r3")):
        raise ParseError("the letter that varies over the real numbers is not the expression's")
    x = sp.Symbol(v.name, real=True)
    f = f.subs(v, x)
    if g.get("dom"):
        cond = parse_math(s.slot(g, "dom"), latex=True)
        if len(cond) != 1 or not isinstance(cond[0], (sp.Rel, sp.And)) or cond[0].free_symbols != {v}:
            raise ParseError("expected an interval for the variable, such as x > 0")
        domain = cond[0].subs(v, x).as_set()
        if not isinstance(domain, sp.Interval):
            raise ParseError("expected one interval for the variable")
    elif f.has(*TRIG) and periodic(f, x):
        domain = sp.Interval(0, 2 * sp.pi)      # one period stands for every real number
    elif f.has(*TRIG):
        raise ParseError("a trigonometric expression that does not repeat every 2π is not read here")
    else:
        domain = sp.S.Reals
    return Optimum(f, x, g["which"].lower() in _LEAST, domain)


def _tidy(v: sp.Expr) -> sp.Expr:
    """The shortest of exact rewritings: tan(atan(2√6)/2) is 2/√6 once written with cosines."""
    forms = [v]
    if v.has(*TRIG, sp.atan, sp.asin, sp.acos):
        forms.append(sp.simplify(v.rewrite(sp.cos)))
    return min(forms, key=sp.count_ops)


def _ends(domain: sp.Set) -> tuple:
    return (domain.inf, domain.sup, domain.left_open if domain.inf.is_finite else True,
            domain.right_open if domain.sup.is_finite else True)


def solve_optimum(o: Optimum) -> Worked:
    if continuous_domain(o.f, o.x, o.domain) != o.domain:
        raise SolveError("the expression is not defined (or not continuous) everywhere on the interval")
    df = sp.diff(o.f, o.x)
    crit = sp.solveset(sp.together(df), o.x, o.domain)
    crit = sp.FiniteSet() if crit is sp.S.EmptySet else crit
    if not isinstance(crit, sp.FiniteSet) and crit is not sp.S.EmptySet:
        raise SolveError("the critical points could not all be listed")
    lo, hi, lo_open, hi_open = _ends(o.domain)
    points = list(crit) + ([lo] if not lo_open else []) + ([hi] if not hi_open else [])
    if not points:
        raise SolveError("no critical point and no closed end: the value is never reached")
    values = [(sp.simplify(o.f.subs(o.x, p)), p) for p in points]
    pick = min if o.least else max
    best, where = pick(values, key=lambda vp: sp.N(vp[0], 50))
    best = _tidy(best)
    for end, is_open, side in ((lo, lo_open, "+"), (hi, hi_open, "-")):
        if not is_open:
            continue
        edge = sp.limit(o.f, o.x, end, side)
        if edge.has(sp.nan) or isinstance(edge, sp.AccumBounds):
            raise SolveError("the expression has no limit at an end of the interval")
        if (sp.N(edge - best, 50) < 0) if o.least else (sp.N(edge - best, 50) > 0):
            raise SolveError(f"toward {plain(end)} the expression goes past every value it reaches: no "
                             f"{'least' if o.least else 'greatest'} value")
    word = "least" if o.least else "greatest"
    return Worked(best, [Step(f"The derivative is {plain(sp.simplify(df))}; it is zero on the interval at",
                              crit),
                         Step("Compare the values there and at the closed ends, with the limits at the open ends",
                              sp.Tuple(*[v for v, _ in values])),
                         Step(f"The {word} value, at {o.x} = {plain(where)}", best)])


def _sample_points(domain: sp.Set, n: int) -> list:
    lo, hi = domain.inf, domain.sup
    ts = [mpmath.mpf(i + 1) / (n + 1) for i in range(n)]
    if lo.is_finite and hi.is_finite:
        a, b = mpmath.mpf(sp.N(lo, 50)), mpmath.mpf(sp.N(hi, 50))
        return [a + (b - a) * t for t in ts]
    if lo.is_finite:                      # (a, ∞): x = a + t/(1 − t)
        a = mpmath.mpf(sp.N(lo, 50))
        return [a + t / (1 - t) for t in ts]
    if hi.is_finite:
        b = mpmath.mpf(sp.N(hi, 50))
        return [b - t / (1 - t) for t in ts]
    return [(2 * t - 1) / (1 - (2 * t - 1) ** 2) for t in ts]   # (−∞, ∞): x = u/(1 − u²), u in (−1, 1)


def check_optimum(o: Optimum, w: Worked) -> Step:
    f = sp.lambdify(o.x, o.f, "mpmath")
    sign = 1 if o.least else -1
    with mpmath.workdps(20):
        want = mpmath.mpf(sp.N(w.answer, 30))
        xs = _sample_points(o.domain, 6000)
        ys = []
        for x in xs:
            try:
                y = f(x)
                ys.append(sign * mpmath.mpf(y) if mpmath.im(y) == 0 else None)
            except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                ys.append(None)
        good = [(y, i) for i, y in enumerate(ys) if y is not None]
        if not good:
            raise SolveError("the expression could not be evaluated on the interval")
        if min(y for y, _ in good) < sign * want - mpmath.mpf(10) ** -15 * (1 + abs(want)):
            raise SolveError("a sample goes past the answer")
    with mpmath.workdps(40):
        want = mpmath.mpf(sp.N(w.answer, 50))
        _, i = min(good)
        a, b = xs[max(i - 1, 0)], xs[min(i + 1, len(xs) - 1)]
        g = (mpmath.sqrt(5) - 1) / 2
        for _ in range(200):              # golden-section search for the least of sign·f on [a, b]
            c, d = b - g * (b - a), a + g * (b - a)
            if sign * f(c) < sign * f(d):
                b = d
            else:
                a = c
        found = sign * f((a + b) / 2)
        if abs(found - sign * want) > mpmath.mpf(10) ** -15 * (1 + abs(want)):
            raise SolveError("the search from the best sample does not come back to the answer")
    return Step("Check: sampled at 6,000 points across the interval no value passes the answer, and a golden-section "
                "search from the best sample comes back to it")


_WHICH = r"(?P<which>minimum|maximum|least|greatest|smallest|largest)"
_REAL = r"(?:(?:for|over) all real (?:numbers|values)(?: of)?(?: (?P<r1>⟦\d+⟧))?|as (?P<r2>⟦\d+⟧) varies over all " \
        r"real numbers|for (?:all )?real (?P<r3>⟦\d+⟧))"

TASKS = (
    Task("optimum", "the least or greatest value of an expression in one variable on an interval, by its critical "
                    "points (quadratics are the extremum task's)",
         phrasings=(
        (45, rf"(?:{WHAT} )?the {_WHICH} (?:possible )?value of (?:the (?:expression|function) )?(?P<f>⟦\d+⟧)"
             rf"\s*,?\s*(?:(?:for|over|where|on) (?:real numbers )?(?P<dom>⟦\d+⟧)|{_REAL})?"),),
        read=read_optimum, solve=solve_optimum, check=check_optimum,
        examples=((r"Find the minimum value of \[4x + \frac{1}{x^4}\]for $x > 0.$", "5"),
                  (r"Find the maximum value of \[f(x) = 3x - x^3\]for $0 \le x \le \sqrt{3}.$", "2"),
                  (r"Find the minimum value of $9^x - 3^x + 1$ over all real numbers $x.$", "3/4")),
        questions=((r"^The derivative is", "Where does the derivative change sign on the interval?"),),
        data=Optimum),
)
