"""The coefficient of a term in a polynomial written unexpanded: 'the coefficient of x³ in the expansion of
(x + 2√3)⁷', 'the coefficient of x² when 4(x − x³) − 3(x² − x³ + x⁵) is simplified', '… when p is multiplied by q
and the like terms are combined', 'the coefficient of the x²y⁴ term in the expansion of (x + y)⁶'.

Solved by expanding and reading the term off. Checked without expanding: the coefficient of x^a y^b is the mixed
derivative ∂^a ∂^b at x = y = 0 divided by a! b! (Taylor's formula, which for a polynomial is exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..sentence import WHAT, Sentence, one
from ..solution import plain
from .base import SolveError, Step, Task, Worked


@dataclass(frozen=True)
class Coefficient:
    expr: sp.Expr
    powers: tuple[tuple[sp.Symbol, int], ...]      # the term: x², or x²y⁴


def _term(text: str) -> tuple[tuple[sp.Symbol, int], ...]:
    """'x^2y^6' -> ((x, 2), (y, 6)): a monomial with coefficient 1."""
    m = one(text)
    if m.is_Symbol:
        return ((m, 1),)
    powers = m.as_powers_dict()
    if m.as_coeff_Mul()[0] != 1 or not all(b.is_Symbol and e.is_Integer and e > 0 for b, e in powers.items()):
        raise ParseError(f"expected a term like x^2 or x^2y^4, got {text!r}")
    return tuple(sorted(((b, int(e)) for b, e in powers.items()), key=lambda t: t[0].name))


def read_coefficient(g: dict, s: Sentence) -> Coefficient:
    powers = _term(s.slot(g, "m"))
    expr = one(s.slot(g, "e"))
    if g.get("f"):        # '… when p is multiplied by q'
        expr = sp.Mul(expr, one(s.slot(g, "f")), evaluate=False)
    letters = {v for v, _ in powers}
    if not expr.free_symbols or not expr.free_symbols <= letters:
        raise ParseError("the polynomial's letters must be the term's")
    if not sp.expand(expr).is_polynomial(*letters):
        raise ParseError("not a polynomial in the term's letters")
    return Coefficient(expr, powers)


def _shown(powers) -> str:
    return "".join(f"{v}^{e}" if e > 1 else str(v) for v, e in powers)


def solve_coefficient(c: Coefficient) -> Worked:
    letters = [v for v, _ in c.powers]
    poly = sp.Poly(sp.expand(c.expr), *letters)
    value = poly.coeff_monomial(sp.Mul(*[v ** e for v, e in c.powers]))
    value = sp.nsimplify(sp.simplify(value))
    return Worked(value, [Step("Expand and collect like terms" + (f": {plain(poly.as_expr())}"
                                                                  if len(poly.terms()) <= 8 else "")),
                          Step(f"The coefficient of {_shown(c.powers)}", value)])


def check_coefficient(c: Coefficient, w: Worked) -> Step:
    d = c.expr
    for v, e in c.powers:
        d = sp.diff(d, v, e)
    again = sp.simplify(d.subs({v: 0 for v, _ in c.powers}) / math.prod(math.factorial(e) for _, e in c.powers))
    if sp.simplify(again - w.answer) != 0:
        raise SolveError("the coefficient failed its check")
    said = " ".join(f"∂{v}^{e}" if e > 1 else f"∂{v}" for v, e in c.powers)
    return Step(f"Check: without expanding, the derivative {said} at 0, divided by "
                f"{' · '.join(f'{e}!' for _, e in c.powers)}, is {plain(again)} as well")


_TERM = r"(?:the )?(?P<m>⟦\d+⟧)(?: term)?"

TASKS = (
    Task("coefficient", "the coefficient of a term in a polynomial written unexpanded", phrasings=(
        (50, rf"(?:{WHAT} )?the coefficient of {_TERM} in (?:the expansion of )?(?:the (?:product|polynomial) )?"
             rf"(?P<e>⟦\d+⟧)"),
        (50, rf"(?:{WHAT} )?the coefficient of {_TERM} when (?P<e>⟦\d+⟧) is (?:simplified|expanded)"),
        (50, rf"(?:{WHAT} )?the coefficient of {_TERM} when (?P<e>⟦\d+⟧) is multiplied by (?P<f>⟦\d+⟧)(?: and the "
             rf"like terms are combined)?"),
        (50, rf"in the expansion of (?P<e>⟦\d+⟧)\s*,?\s*what is the coefficient of {_TERM}"),),
        read=read_coefficient, solve=solve_coefficient, check=check_coefficient,
        examples=((r"What is the coefficient of $x^3$ in the expansion of $$(x+2\sqrt3)^7?$$", "5040"),
                  (r"Find the coefficient of $x^2$ when $4(x - x^3) - 3(x^2 - x^3 + x^5) + 2(4x^2 - x^9)$ is "
                   r"simplified.", "5"),
                  (r"What is the coefficient of $x^2$ when $-5x^3 - 5x^2 - 7x + 1$ is multiplied by $-x^2 - 6x + 1$ "
                   r"and the like terms are combined?", "36"),
                  (r"What's the coefficient of the $x^2y^4$ term in the expansion of $(x+y)^6$?", "15")),
        questions=((r"^Expand and collect", "Which products of terms give that power?"),),
        data=Coefficient),
)
