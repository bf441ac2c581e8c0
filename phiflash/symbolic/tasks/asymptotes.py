"""Asymptotes of a rational function y = p(x)/q(x): where its vertical asymptote is, how many it has, the sum of
their places, and the height of its horizontal asymptote.

Solved from the fraction in lowest terms: the zeros of the reduced denominator are the vertical asymptotes (a
zero that cancels is a hole), and the leading coefficients give the horizontal one. Checked with limits instead:
at every zero of the denominator as written, the one-sided limits are infinite exactly at the asymptotes; the
horizontal asymptote is the limit as x → ±∞ (both must agree).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError, parse_as_written, parse_math
from ..sentence import WHAT, Sentence, one
from ..solution import plain
from .base import SolveError, Step, Task, Worked


@dataclass(frozen=True)
class Asymptote:
    f: sp.Expr                     # the rational function, as written (nothing cancelled)
    var: sp.Symbol
    asked: str                     # where (the one vertical), count, sum, horizontal


def _function(text: str) -> tuple[sp.Expr, sp.Symbol, sp.Symbol]:
    """'y = p(x)/q(x)': the function, its variable and the letter it is named by (y when unnamed)."""
    items = parse_as_written(text, latex=True)
    if len(items) != 1:
        raise ParseError("expected y = a rational function")
    e, name = items[0], sp.Symbol("y")
    if isinstance(e, sp.Eq):
        if not e.lhs.is_Symbol or e.lhs in e.rhs.free_symbols:   # 'x = (x² + 2x + 8)/(x − 4)' names nothing
            raise ParseError("expected y = a rational function")
        e, name = e.rhs, e.lhs
    if not isinstance(e, sp.Expr) or len(e.free_symbols) != 1:
        raise ParseError("a rational function of one variable")
    x = next(iter(e.free_symbols))
    num, den = sp.fraction(sp.together(sp.sympify(e)))
    if not (num.is_polynomial(x) and den.is_polynomial(x)) or not den.has(x):
        raise ParseError("asymptotes are read for a rational function p(x)/q(x)")
    return e, x, name


def read_asymptote(g: dict, s: Sentence) -> Asymptote:
    f, x, name = _function(s.slot(g, "f"))
    asked = g["asked"]
    # every letter the sentence names is the one it must be: 'at what value of x' for a vertical asymptote, 'at
    # y = a' for a horizontal one, 'at x = a and x = b' for two vertical ones
    if g.get("v") and one(s.slot(g, "v")) != (name if asked == "horizontal" else x):
        side = (name, "horizontal") if asked == "horizontal" else (x, "vertical")
        raise ParseError(f"a {side[1]} asymptote's place is a value of {side[0]}")
    if g.get("at") and one(s.slot(g, "ask")) != _place(s.slot(g, "at"), name):
        raise ParseError("the letter asked for is the asymptote's height")
    if asked == "sum" and one(s.slot(g, "target")) != _place(s.slot(g, "a"), x) + _place(s.slot(g, "b"), x):
        raise ParseError("the sum of the two places is what is read here")
    return Asymptote(f, x, asked)


def _reduced(a: Asymptote) -> tuple[sp.Expr, sp.Expr]:
    num, den = sp.fraction(sp.cancel(sp.together(sp.sympify(a.f))))
    return sp.expand(num), sp.expand(den)


def _real_zeros(p: sp.Expr, x: sp.Symbol) -> list:
    return sorted({r for r in sp.roots(sp.Poly(p, x)) if r.is_real}, key=lambda r: float(r)) if p.has(x) else []


def solve_asymptote(a: Asymptote) -> Worked:
    x = a.var
    num, den = _reduced(a)
    steps = [Step(f"In lowest terms the function is ({plain(num)})/({plain(den)}): a factor that cancels leaves a "
                  "hole, not an asymptote")]
    if a.asked == "horizontal":
        n, d = sp.degree(num, x), sp.degree(den, x)
        if n > d:
            raise SolveError("the numerator's degree is higher: no horizontal asymptote")
        h = sp.Integer(0) if n < d else sp.LC(num, x) / sp.LC(den, x)
        steps.append(Step("Compare degrees: " + ("the denominator's is higher, so y = 0" if n < d else
                                                 "equal, so the ratio of the leading coefficients"), h))
        return Worked(h, steps)
    zeros = _real_zeros(den, x)
    steps.append(Step(f"The vertical asymptotes are where the reduced denominator is zero: "
                      f"{', '.join(f'{x} = {plain(z)}' for z in zeros) or 'nowhere'}"))
    if a.asked == "count":
        return Worked(sp.Integer(len(zeros)), steps + [Step("Count them", sp.Integer(len(zeros)))])
    if a.asked == "where":
        if len(zeros) != 1:
            raise SolveError(f"the function has {len(zeros)} vertical asymptotes, not one")
        return Worked(zeros[0], steps)
    if len(zeros) != 2:
        raise SolveError(f"the function has {len(zeros)} vertical asymptotes, not two")
    return Worked(sp.nsimplify(zeros[0] + zeros[1]), steps + [Step("Add them", sp.nsimplify(zeros[0] + zeros[1]))])


def check_asymptote(a: Asymptote, w: Worked) -> Step:
    x = a.var
    f = sp.together(sp.sympify(a.f))
    if a.asked == "horizontal":
        up, down = sp.limit(f, x, sp.oo), sp.limit(f, x, -sp.oo)
        if up != down or sp.simplify(up - w.answer) != 0:
            raise SolveError("the limits at ±∞ disagree with the horizontal asymptote")
        return Step(f"Check: the limits as {x} → ∞ and {x} → −∞ are both {plain(up)}")
    _, den_written = sp.fraction(f)
    places = []
    for z in _real_zeros(sp.expand(den_written), x):
        sides = [sp.limit(f, x, z, dir=d) for d in ("+", "-")]
        if all(s.is_infinite or s in (sp.oo, -sp.oo, sp.zoo) for s in sides):
            places.append(z)
    again = {"count": sp.Integer(len(places)), "where": places[0] if len(places) == 1 else None,
             "sum": sp.nsimplify(sum(places)) if len(places) == 2 else None}[a.asked]
    if again is None or sp.simplify(again - w.answer) != 0:
        raise SolveError("the one-sided limits find other vertical asymptotes")
    return Step(f"Check: the one-sided limits at each zero of the denominator as written are infinite exactly at "
                f"{', '.join(plain(p) for p in places) or 'none of them'}")


_GRAPH = r"(?:the graph of |the equation |the function )?(?P<f>⟦\d+⟧)"

TASKS = (
    Task("asymptote", "the vertical and horizontal asymptotes of a rational function", phrasings=(
        (50, r"(?:if|for) (?P<f>⟦\d+⟧)\s*,?\s*at what (?:value of )?(?P<v>⟦\d+⟧)(?:\s*-\s*value)? (?:will there be|is "
             r"there) a (?P<asked>vertical) asymptote"),
        (50, rf"how many (?P<asked>vertical) asymptotes does {_GRAPH} have"),
        (50, r"(?:if|for) (?P<f>⟦\d+⟧)\s*,?\s*at what value of (?P<v>⟦\d+⟧) (?:will there be|is there) a "
             r"(?P<asked>horizontal) asymptote"),
        (50, rf"the graph of (?P<f>⟦\d+⟧) has a (?P<asked>horizontal) asymptote at (?P<at>⟦\d+⟧)\s*[.]?\s*"
             rf"(?:{WHAT}|what is) (?P<ask>⟦\d+⟧)"),
        (50, rf"the graph of (?P<f>⟦\d+⟧) has (?P<asked>vertical) asymptotes at (?P<a>⟦\d+⟧) and (?P<b>⟦\d+⟧)\s*[.]?\s*"
             rf"(?:{WHAT}|what is) (?P<target>⟦\d+⟧)"),),
        read=lambda g, s: read_asymptote(_asked(g, s), s), solve=solve_asymptote, check=check_asymptote,
        examples=((r"If $y= \frac{x^2+2x+8}{x-4}$, at what value of $x$ will there be a vertical asymptote?", "4"),
                  (r"How many vertical asymptotes does the equation $y=\frac{x-1}{x^2+6x-7}$ have?", "1"),
                  (r"The graph of $y=\frac{5x^2-9}{3x^2+5x+2}$ has a horizontal asymptote at $y=a$.  What is $a$?",
                   "5/3"),
                  (r"The graph of $y=\frac{5x^2-9}{3x^2+5x+2}$ has vertical asymptotes at $x = a$ and $x = b$.  Find "
                   r"$a + b$.", "-5/3")),
        questions=((r"^In lowest terms", "Which factors of the denominator cancel with the numerator?"),),
        data=Asymptote),
)


def _asked(g: dict, s: Sentence) -> dict:
    """The phrasing's word (vertical, horizontal) and shape (how many, the sum of two, where) as one name."""
    word = g["asked"].lower()
    if word == "horizontal":
        return g | {"asked": "horizontal"}
    if g.get("target"):
        return g | {"asked": "sum"}
    return g | {"asked": "count" if s.original.lower().lstrip().startswith("how many") else "where"}


def _place(text: str, side: sp.Symbol) -> sp.Symbol:
    """'x = a' -> a: the letter standing for the place, on a line of the letter given (x = a, y = b)."""
    items = parse_math(text, latex=True)
    if len(items) != 1 or not isinstance(items[0], sp.Eq) or not items[0].rhs.is_Symbol or items[0].lhs != side:
        raise ParseError(f"expected the places as {side} = a letter")
    return items[0].rhs
