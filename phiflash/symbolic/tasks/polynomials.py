"""Polynomial division and discriminants: 'the remainder when x^3 + 2x − 1 is divided by x − 2', 'the quotient when
6x^3 + 9x^2 − 17x + 11 is divided by 2x + 5', 'the discriminant of 3x^2 − 7x − 12'."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..problem import choose_var
from ..sentence import WHAT, A, B, Sentence, one
from ..solution import plain
from .base import SolveError, Step, Task, Worked


@dataclass(frozen=True)
class PolyDivision:
    f: sp.Expr
    d: sp.Expr
    x: sp.Symbol
    want: str           # "quotient" or "remainder"


def division(f_text: str, d_text: str, want: str) -> PolyDivision:
    f, d = one(f_text), one(d_text)
    x = choose_var([f, d])
    if x is None or not (f.free_symbols | d.free_symbols) <= {x}:
        raise ParseError("polynomial division needs polynomials in one variable")
    try:
        pf, pd = sp.Poly(f, x), sp.Poly(d, x)
    except sp.PolynomialError:
        raise ParseError("polynomial division needs polynomials") from None
    if pd.degree() < 1 or not (pf.domain.is_QQ or pf.domain.is_ZZ) or not (pd.domain.is_QQ or pd.domain.is_ZZ):
        raise ParseError("polynomial division needs rational coefficients and a divisor with the variable")
    return PolyDivision(f, d, x, want)


def solve_division(p: PolyDivision) -> Worked:
    q, r = sp.div(sp.expand(p.f), sp.expand(p.d), p.x)
    steps = [Step(f"Divide {plain(p.f)} by {plain(p.d)} (long division)"), Step("Quotient", q), Step("Remainder", r)]
    return Worked(q if p.want == "quotient" else r, steps, facts={"q": q, "r": r})


def check_division(p: PolyDivision, w: Worked) -> Step:
    """quotient × divisor + remainder is the dividend, the remainder's degree below the divisor's; for x − c the
    remainder theorem too (f(c) is the remainder)."""
    q, r, x = w.facts["q"], w.facts["r"], p.x
    if sp.expand(q * p.d + r - p.f) != 0 or sp.degree(r, x) >= sp.degree(p.d, x) or \
            sp.expand(w.answer - (q if p.want == "quotient" else r)) != 0:
        raise SolveError("the division failed its check")
    if sp.degree(p.d, x) == 1:
        root = sp.solve(p.d, x)[0]
        if sp.simplify(p.f.subs(x, root) - r) != 0:
            raise SolveError("the remainder theorem disagrees with the division")
        return Step(f"Check: quotient × divisor + remainder gives back the dividend, and the remainder theorem: "
                    f"f({plain(root)}) = {plain(r)}")
    return Step("Check: quotient × divisor + remainder gives back the dividend")


@dataclass(frozen=True)
class Discriminant:
    f: sp.Expr
    x: sp.Symbol


def read_discriminant(g: dict, s: Sentence) -> Discriminant:
    f = one(s.slot(g, "a"))
    x = choose_var([f])
    poly = sp.Poly(f, x) if x is not None else None
    if poly is None or poly.degree() != 2:
        raise ParseError("the discriminant is defined here for a quadratic polynomial")
    return Discriminant(f, x)


def solve_discriminant(p: Discriminant) -> Worked:
    a, b, c = sp.Poly(p.f, p.x).all_coeffs()
    d = sp.expand(b ** 2 - 4 * a * c)
    return Worked(d, [Step(f"a = {plain(a)}, b = {plain(b)}, c = {plain(c)}"), Step("b² − 4ac", d)])


def check_discriminant(p: Discriminant, w: Worked) -> Step:
    """By another route: −Res(f, f′)/a, the resultant of the quadratic and its derivative (subresultants, not the
    formula b² − 4ac)."""
    f = sp.Poly(p.f, p.x)
    again = sp.expand(-sp.resultant(f, f.diff(p.x)) / f.LC())
    if sp.simplify(again - w.answer) != 0:
        raise SolveError("the discriminant failed its check")
    return Step("Check: −Res(f, f′)/a, from the resultant of the quadratic and its derivative, is the same", again)


TASKS = (
    Task("polydiv", "the quotient or remainder of polynomial division", phrasings=(
        (50, rf"(?:{WHAT} )?the quotient (?:when|of) {A} (?:is )?divided by {B}"),),
        read=lambda g, s: division(s.slot(g, "a"), s.slot(g, "b"), "quotient"),
        solve=solve_division, check=check_division,
        examples=(("Find the quotient when $x^3 - 1$ is divided by $x - 1$.", "x^2 + x + 1"),
                  ("What is the remainder when $x^4 + 1$ is divided by $x - 2$?", "17")),
        questions=((r"long division", "What do you multiply the divisor's leading term by to match the dividend's?"),),
        data=PolyDivision),
    Task("discriminant", "the discriminant of a quadratic", phrasings=(
        (50, rf"(?:{WHAT} )?the discriminant of {A}"),),
        read=read_discriminant, solve=solve_discriminant, check=check_discriminant,
        examples=(("Find the discriminant of $3x^2 - 7x - 12$.", "193"),),
        questions=((r"^a = ", "Which numbers are a, b and c in ax² + bx + c?"),),
        data=Discriminant),
)
