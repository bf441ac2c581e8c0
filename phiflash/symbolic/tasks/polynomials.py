"""Polynomial division and discriminants: 'the remainder when x^3 + 2x − 1 is divided by x − 2', 'the quotient when
6x^3 + 9x^2 − 17x + 11 is divided by 2x + 5', 'the discriminant of 3x^2 − 7x − 12'; and the polynomial of a given
degree through given values, 'Find the quadratic polynomial p(x) such that p(−3) = 10, p(0) = 1, and p(2) = 5'."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..problem import Problem, choose_var
from ..sentence import SLOT_RE, WHAT, A, B, Sentence, number, one
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


@dataclass(frozen=True)
class Interpolation:
    name: str                 # p
    x: sp.Symbol
    degree: int
    points: tuple             # (a, p(a)) pairs


_DEGREES = {"linear": 1, "quadratic": 2, "cubic": 3, "quartic": 4}


def read_interpolation(g: dict, s: Sentence) -> Interpolation:
    head = re.fullmatch(r"\s*([a-zA-Z])\s*\(\s*([a-z])\s*\)\s*", s.slot(g, "p"))
    if not head:
        raise ParseError("expected a polynomial named like p(x)")
    name, x = head.group(1), sp.Symbol(head.group(2))
    points = []
    for k in SLOT_RE.findall(g["values"]):
        m = re.fullmatch(rf"\s*{name}\s*\((.+)\)\s*=\s*(.+?)\s*", s.math[int(k)])
        if not m:
            raise ParseError(f"expected values like {name}(2) = 5")
        points.append((number(m.group(1)), number(m.group(2))))
    degree = _DEGREES[g["deg"].lower()]
    if re.sub(r"⟦\d+⟧|,|and|\s", "", g["values"]) or len(points) != degree + 1 or \
            len({a for a, _ in points}) != len(points):
        raise ParseError(f"a {g['deg']} polynomial is fixed by {degree + 1} values at different points")
    return Interpolation(name, x, degree, tuple(points))


def solve_interpolation(ip: Interpolation) -> Worked:
    """Lagrange's formula: a sum of one polynomial per point, each 1 there and 0 at the others."""
    x, pts = ip.x, ip.points
    terms = [b * sp.Mul(*[(x - c) / (a - c) for c, _ in pts if c != a]) for a, b in pts]
    poly = sp.expand(sp.Add(*terms))
    if sp.Poly(poly, x).degree() != ip.degree:
        raise SolveError(f"the values fit a polynomial of lower degree, not a {ip.degree}-degree one")
    return Worked(poly, [Step("Lagrange's formula: for each point a polynomial that is 1 there and 0 at the others, "
                              "times the value there, all added"), Step("Multiplied out", poly)])


def check_interpolation(ip: Interpolation, w: Worked) -> Step:
    """The coefficients again by solving the linear system the values give (Vandermonde), and each value."""
    x = ip.x
    cs = sp.symbols(f"c0:{ip.degree + 1}")
    general = sp.Add(*[c * x ** i for i, c in enumerate(cs)])
    sol = sp.solve([general.subs(x, a) - b for a, b in ip.points], cs, dict=True)
    if len(sol) != 1 or sp.expand(general.subs(sol[0]) - w.answer) != 0 or \
            any(w.answer.subs(x, a) != b for a, b in ip.points):
        raise SolveError("the polynomial failed its check")
    return Step(f"Check: solving for the {ip.degree + 1} coefficients from the {len(ip.points)} values gives the "
                "same polynomial, and it takes each value")


def read_factor_of(g: dict, s: Sentence) -> Problem:
    """'If 2x + 7 is a factor of 6x³ + 19x² + cx + 35, find c': the remainder on division must vanish, so each of its
    coefficients is 0: equations in the unknown coefficients, for the given-equations solver."""
    d, f = one(s.slot(g, "d")), one(s.slot(g, "f"))
    x = choose_var([d])
    if x is None or d.free_symbols != {x} or not d.is_polynomial(x) or sp.degree(d, x) < 1:
        raise ParseError("a factor is a polynomial in one letter")
    unknowns = f.free_symbols - {x}
    if not unknowns or not f.is_polynomial(x):
        raise ParseError("a polynomial with unknown coefficients")
    remainder = sp.Poly(sp.rem(sp.expand(f), d, x), x)
    eqs = tuple(sp.Eq(c, 0) for c in remainder.all_coeffs() if c != 0)
    target = one(s.slot(g, "t"))
    if not eqs or not target.free_symbols or not target.free_symbols <= unknowns:
        raise ParseError("the value asked for must be in the polynomial's unknown coefficients")
    said = ", ".join(f"{plain(e.lhs)} = 0" for e in eqs)
    return Problem(s.original, "given", eqs, target=target,
                   notes=(f"{plain(d)} is a factor exactly when the remainder on dividing by it is 0: {said}",))


TASKS = (
    Task("factorof", "an unknown coefficient that makes a polynomial a factor of another", phrasings=(
        (50, rf"(?:if|given that|suppose that) (?P<d>⟦\d+⟧) is a factor of (?P<f>⟦\d+⟧)\s*,?\s*(?:then )?(?:{WHAT}|"
             rf"what is)(?: the (?:constant|value of))? (?P<t>⟦\d+⟧)"),),
        read=read_factor_of,
        examples=(("If $2x+7$ is a factor of $6x^3+19x^2+cx+35$, find $c$.", "3"),)),
    Task("interpolation", "the polynomial of a given degree that takes given values", phrasings=(
        (50, rf"(?:{WHAT} )?the (?P<deg>linear|quadratic|cubic|quartic) polynomial (?P<p>⟦\d+⟧),? (?:such that|"
             rf"which satisfies|that satisfies|with) (?P<values>⟦\d+⟧(?:\s*,?\s*(?:and\s+)?⟦\d+⟧)*)"),),
        read=read_interpolation, solve=solve_interpolation, check=check_interpolation,
        examples=((r"Find the quadratic polynomial $p(x)$ such that $p(-3) = 10,$ $p(0) = 1,$ and $p(2) = 5.$",
                   "x^2 + 1"),),
        questions=((r"^Lagrange's formula", "Which polynomial is 1 at one point and 0 at the others?"),),
        data=Interpolation),
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
