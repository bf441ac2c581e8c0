"""The least or greatest value of a quadratic in one variable, or where it is reached: 'What is the minimum value
of 5x² − 20x + 1357?', 'What value of x will give the maximum value for −x² − 6x + 12?', 'Given the function
y = x² + 10x + 21, what is the least possible value of y?'.

Solved at the vertex, x = −b/(2a); checked by completing the square: f(x) = a(x − h)² + k must hold identically, and
the sign of a decides that k is the least value (a > 0) or the greatest (a < 0). A parabola opening the other way
has no such value, and the problem is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..problem import choose_var
from ..sentence import WHAT, A, B, Sentence, V, one
from ..solution import plain
from .base import SolveError, Step, Task, Worked

_LEAST = {"minimum", "least", "smallest"}


@dataclass(frozen=True)
class Extremum:
    f: sp.Expr
    x: sp.Symbol
    least: bool
    point: bool           # where it is reached, not the value


def _quadratic(f: sp.Expr, least: bool) -> tuple[sp.Symbol, sp.Poly]:
    x = choose_var([f])
    if x is None or f.free_symbols != {x}:
        raise ParseError("the least or greatest value of an expression in one variable")
    try:
        poly = sp.Poly(sp.expand(f), x)
    except sp.PolynomialError:
        raise ParseError("read for a quadratic") from None
    if poly.degree() != 2 or not all(c.is_Rational for c in poly.all_coeffs()):
        raise ParseError("read for a quadratic with rational coefficients")
    if (poly.LC() > 0) != least:
        raise ParseError(f"the parabola opens {'down' if least else 'up'}: it has no "
                         f"{'least' if least else 'greatest'} value")
    return x, poly


def read_extremum(g: dict, s: Sentence) -> Extremum:
    which = g["which"].lower()
    least = which in _LEAST
    if g.get("y"):   # 'Given the function y = EXPR, what is the least possible value of y'
        items = s.slot(g, "b").split("=")
        if len(items) != 2 or one(items[0]) != one(s.slot(g, "y")):
            raise ParseError("read as y = an expression, then the least or greatest value of y")
        f = one(items[1])
    else:
        f = one(s.slot(g, "a"))
    x, _ = _quadratic(f, least)
    if g.get("v") and one(s.slot(g, "v")) != x:
        raise ParseError("the variable asked for is not the expression's")
    if g.get("over") and one(s.slot(g, "over")) != x:   # '… − 5r² + 40r − 12 for real w'
        raise ParseError("the letter that varies is not the expression's")
    return Extremum(f, x, least, bool(g.get("v")))


def solve_extremum(e: Extremum) -> Worked:
    a, b, _ = sp.Poly(sp.expand(e.f), e.x).all_coeffs()
    h = -b / (2 * a)
    k = sp.expand(e.f.subs(e.x, h))
    word = "least" if e.least else "greatest"
    steps = [Step(f"The parabola opens {'up' if e.least else 'down'} (a = {plain(a)}), so its vertex gives the {word} "
                  f"value: {e.x} = −b/(2a)", sp.Eq(e.x, h))]
    if not e.point:
        steps.append(Step(f"Put {e.x} = {plain(h)} into {plain(e.f)}", k))
    return Worked(h if e.point else k, steps, facts={"h": h, "k": k, "a": a})


def check_extremum(e: Extremum, w: Worked) -> Step:
    h, k, a = w.facts["h"], w.facts["k"], w.facts["a"]
    square = a * (e.x - h) ** 2 + k
    if sp.expand(e.f - square) != 0 or (a > 0) != e.least or w.answer != (h if e.point else k):
        raise SolveError("completing the square disagrees")
    return Step(f"Check: completing the square, {plain(e.f)} = {plain(square)}, and "
                f"{plain(a)}({e.x} − {plain(h)})² is {'never negative' if e.least else 'never positive'}")


_WHICH = r"(?P<which>minimum|maximum|least|greatest|smallest|largest)"

TASKS = (
    Task("extremum", "the least or greatest value of a quadratic, or where it is reached", phrasings=(
        (50, rf"(?:{WHAT} )?the {_WHICH} (?:possible )?(?:real )?value of (?:the (?:expression|function|quadratic) )?"
             rf"{A}(?:,? (?:for|over) (?:all )?real (?:numbers|values)?(?: of)?\s*(?P<over>⟦\d+⟧)?)?"),
        (50, rf"what (?:real )?value of {V} (?:will )?(?:gives?|results? in|produces?) the {_WHICH} value (?:of|for) "
             rf"{A}"),
        (50, rf"given the function {B},? what is the {_WHICH} (?:possible )?value of (?P<y>⟦\d+⟧)"),
        (50, rf"(?:{WHAT} )?the {_WHICH} (?:possible )?value of (?P<y>⟦\d+⟧),? (?:if|when|where|given that) {B}")),
        read=read_extremum, solve=solve_extremum, check=check_extremum,
        examples=(("What is the minimum value of $5x^2-20x+1357$?", "1337"),
                  ("What value of $x$ will give the maximum value for $-x^2- 6x + 12$?", "-3"),
                  ("Given the function $y=x^2+10x+21$, what is the least possible value of $y$?", "-4")),
        questions=((r"^The parabola opens", "Where is the vertex of the parabola?"),),
        data=Extremum),
)
