"""A value of a trigonometric expression given one trigonometric equation: 'If cos θ = 1/4, then find cos 3θ', 'If
tan x = 2, then find tan(x + π/4)', 'If sin x = 3 cos x, then what is sin x cos x?', 'If 8 tan θ = 3 cos θ and
0 < θ < π, then determine the value of sin θ'.

The equation has infinitely many solutions; the question has one answer only when the expression takes the same
value at all of them. Where the letter appears only inside sines, cosines, … of whole multiples of it (plus a
constant), both sides repeat every 2π, so every solution is one of those in [0, 2π) (or in the interval the problem
states). Solved exactly there; the expression must take one value at all of them, else refused.

Checked another way: the roots of the equation in the same interval are found numerically (a grid of 4,000
points, a start at each sign change and each local minimum of |f|, refined by Newton's method in 50-digit floating
point); they must be as many as the exact ones and lie at the same places, and the expression evaluated at each
numeric root must be the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp

from ..parse import ParseError, parse_math
from ..sentence import Sentence
from ..solution import plain
from .base import NotMine, SolveError, Step, Task, Worked

TRIG = (sp.sin, sp.cos, sp.tan, sp.cot, sp.sec, sp.csc)


@dataclass(frozen=True)
class TrigValue:
    equation: sp.Expr            # left − right, in one letter
    letter: sp.Symbol
    asked: sp.Expr
    domain: sp.Set               # [0, 2π) or the interval the problem states


def periodic(e: sp.Expr, v: sp.Symbol) -> bool:
    """v appears only inside trigonometric functions of n·v + c with n a whole number: e repeats every 2π."""
    def ok(node) -> bool:
        if isinstance(node, TRIG):
            arg = sp.expand(node.args[0])
            n = arg.coeff(v)
            return (arg - n * v).free_symbols.isdisjoint({v}) and n.is_integer and n != 0
        if node == v:
            return False
        return all(ok(a) for a in node.args)
    return ok(e)


def read_trig_value(g: dict, s: Sentence) -> TrigValue:
    items = parse_math(s.slot(g, "eq"), latex=True)
    if len(items) != 1 or not isinstance(items[0], sp.Eq):
        raise NotMine("not one equation")
    f = items[0].lhs - items[0].rhs
    if len(f.free_symbols) != 1 or not f.has(*TRIG):
        raise NotMine("not a trigonometric equation in one letter")
    v = next(iter(f.free_symbols))
    asked = parse_math(s.slot(g, "e"), latex=True)
    if len(asked) != 1 or not isinstance(asked[0], sp.Expr) or not asked[0].free_symbols <= {v}:
        raise ParseError("the value asked for is an expression in the equation's letter")
    real = sp.Symbol(v.name, real=True)
    f, asked = f.subs(v, real), asked[0].subs(v, real)
    if g.get("cond"):
        cond = parse_math(s.slot(g, "cond"), latex=True)
        if len(cond) != 1 or not isinstance(cond[0], (sp.Rel, sp.And)) or cond[0].free_symbols != {v}:
            raise ParseError("expected an interval for the letter, such as 0 < θ < π")
        domain = cond[0].subs(v, real).as_set()
        if not isinstance(domain, sp.Interval) or not (domain.start.is_finite and domain.end.is_finite):
            raise ParseError("expected a bounded interval for the letter")
    else:
        if not periodic(f, real) or not periodic(asked, real):
            raise ParseError("the letter is not only inside sines and cosines of its whole multiples, so the "
                             "solutions cannot all be listed")
        domain = sp.Interval.Ropen(0, 2 * sp.pi)
    return TrigValue(f, real, asked, domain)


def _value(e: sp.Expr) -> sp.Expr:
    return sp.simplify(sp.expand_trig(e))


def solve_trig_value(t: TrigValue) -> Worked:
    sols = sp.solveset(t.equation, t.letter, t.domain)
    if not isinstance(sols, sp.FiniteSet) or not sols:
        raise SolveError("the solutions of the equation could not all be listed")
    values = []
    for r in sols:
        v = _value(t.asked.subs(t.letter, r))
        if v.has(sp.zoo, sp.nan, sp.oo) or not v.is_real:
            raise SolveError(f"the expression is not defined at the solution {plain(r)}")
        values.append(v)
    first = values[0]
    if any(sp.simplify(v - first) != 0 for v in values[1:]):
        raise SolveError("the expression takes different values at different solutions: no single answer")
    where = "every 2π the equation repeats, so its solutions in [0, 2π) are all of them" \
        if t.domain == sp.Interval.Ropen(0, 2 * sp.pi) else f"on {plain(t.domain)}"
    return Worked(first, [Step(f"Solve the equation ({where})", sols),
                          Step(f"Put each solution into {plain(t.asked)}: "
                               f"{'the same value at each' if len(values) > 1 else 'one solution'}", first)],
                  facts={"roots": list(sols)})


def _numeric_roots(t: TrigValue) -> list:
    """Roots found without algebra: |f| on a grid of 4,000 points, a start at every sign change and every local
    minimum of |f| (a root where f touches zero without crossing), each refined by Newton's method."""
    f = sp.lambdify(t.letter, t.equation, "mpmath")
    lo, hi = (mpmath.mpf(sp.N(b, 60)) for b in (t.domain.start, t.domain.end))
    n = 4000
    grid = [lo + (hi - lo) * i / n for i in range(n + 1)]
    with mpmath.workdps(15):
        raw = []
        for x in grid:
            try:
                y = f(x)
                raw.append(y if isinstance(y, mpmath.mpf) else None)
            except (ZeroDivisionError, ValueError, TypeError):
                raw.append(None)
    values = [None if y is None else abs(y) for y in raw]
    signs = [None if y is None else mpmath.sign(y) for y in raw]
    starts = [grid[i] for i in range(1, n) if values[i] is not None and values[i - 1] is not None and
              values[i + 1] is not None and values[i] <= values[i - 1] and values[i] <= values[i + 1]]
    starts += [(grid[i] + grid[i + 1]) / 2 for i in range(n) if signs[i] and signs[i + 1] and signs[i] != signs[i + 1]]
    found: list = []
    for x0 in starts:
        try:
            x = mpmath.findroot(f, x0, tol=mpmath.mpf(10) ** -40, maxsteps=200, verify=False)
        except (ZeroDivisionError, ValueError, TypeError):
            continue
        if not isinstance(x, mpmath.mpf) or not lo <= x <= hi or abs(f(x)) > mpmath.mpf(10) ** -25:
            continue
        if (x == hi and t.domain.right_open) or (x == lo and t.domain.left_open):
            continue
        if all(abs(x - y) > mpmath.mpf(10) ** -12 for y in found):
            found.append(x)
    return found


def check_trig_value(t: TrigValue, w: Worked) -> Step:
    with mpmath.workdps(50):
        found = _numeric_roots(t)
        exact = [mpmath.mpf(sp.N(r, 60)) for r in w.facts["roots"]]
        if len(found) != len(exact) or any(min(abs(x - y) for y in found) > mpmath.mpf(10) ** -12 for x in exact):
            raise SolveError("the roots found numerically are not the exact ones")
        e = sp.lambdify(t.letter, t.asked, "mpmath")
        want = mpmath.mpf(sp.N(w.answer, 60))
        if any(abs(e(x) - want) > mpmath.mpf(10) ** -15 * (1 + abs(want)) for x in found):
            raise SolveError("the expression at a numeric root is not the answer")
    return Step(f"Check: the equation's roots found numerically (a grid of 4,000 points, then Newton's method) are "
                f"the same {len(found)}, and the expression is the answer at each")


TASKS = (
    Task("trigvalue", "a trigonometric expression's value given one trigonometric equation (the same at every "
                      "solution, or refused)",
         phrasings=(
        (55, r"(?:if|given(?: that)?|suppose(?: that)?) (?P<eq>⟦\d+⟧)(?:\s*,?\s*and (?P<cond>⟦\d+⟧))?\s*[,.]?\s*"
             r"(?:then )?(?:find|what is|compute|determine|evaluate)(?: the value of)? (?P<e>⟦\d+⟧)"),),
        read=read_trig_value, solve=solve_trig_value, check=check_trig_value,
        examples=((r"If $\cos \theta = \frac{1}{4},$ then find $\cos 3 \theta.$", "-11/16"),
                  (r"If $\tan x = 2,$ then find $\tan \left( x + \frac{\pi}{4} \right).$", "-3"),
                  (r"If $\sin x = 3 \cos x,$ then what is $\sin x \cos x$?", "3/10"),
                  (r"If $8 \tan \theta = 3 \cos \theta$ and $0 < \theta < \pi,$ then determine the value of "
                   r"$\sin \theta.$", "1/3")),
        questions=((r"^Solve the equation \(every 2π", "Which angles in one turn satisfy the equation?"),),
        data=TrigValue),
)
