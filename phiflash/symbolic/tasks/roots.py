"""Expressions in the roots of a polynomial equation the problem names by letters: 'Let a, b, c be the roots of
x³ − 20x² + 18x − 7 = 0. Find (1 + a)(1 + b)(1 + c)', 'Let d and e denote the solutions of 2x² + 3x − 5 = 0. What
is (d − 1)(e − 1)?', 'If p > q, what is p − q?'.

Solved from the coefficients: a symmetric expression (its numerator and denominator over a common denominator
both symmetric) is rewritten in the elementary symmetric polynomials, which Vieta's formulas give; any other
expression is evaluated at the exact roots of a quadratic, once per way of naming them: every naming must give the
same value, or a stated order (p > q) must pick one. Checked by a second method: the roots found numerically
(50 digits) and the expression evaluated at every naming of them.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import mpmath
import sympy as sp
from sympy.polys.polyfuncs import symmetrize

from ..parse import ParseError, parse_math
from ..problem import written_denominators
from ..sentence import SLOT_RE, WHAT, A, Sentence, one
from ..solution import plain
from .base import SolveError, Step, Task, Worked


@dataclass(frozen=True)
class RootsExpression:
    letters: tuple[sp.Symbol, ...]
    poly: sp.Poly                      # the equation as a polynomial in its variable, rational coefficients
    target: sp.Expr                    # in the letters
    denominators: tuple = ()           # of the expression as written, none of which may be zero at the roots
    order: tuple[sp.Symbol, sp.Symbol] | None = None    # (p, q) when the problem says p > q
    distinct: bool = False             # "the two distinct solutions": the roots must differ
    real: bool = False                 # "the two real roots": every root must be real


def _letters(text: str, s: Sentence) -> tuple[sp.Symbol, ...]:
    """'⟦0⟧, ⟦1⟧, and ⟦2⟧' or '⟦0⟧' holding 'a,b,c': the letters, each a single symbol, all different."""
    if re.sub(r"⟦\d+⟧|,|\band\b|\s", "", text):
        raise ParseError("expected the roots' letters")
    names = [t for k in SLOT_RE.findall(text) for t in re.split(r"\s*,\s*", s.math[int(k)]) if t.strip()]
    # a single Latin letter is that letter, even e or i (the roots d and e are not Euler's number)
    letters = tuple(sp.Symbol(t.strip()) if re.fullmatch(r"\s*[A-Za-z]\s*", t) else one(t) for t in names)
    if len(letters) < 2 or not all(isinstance(v, sp.Symbol) for v in letters) or len(set(letters)) != len(letters):
        raise ParseError("expected two or more different letters for the roots")
    return letters


def _polynomial(text: str, letters: tuple) -> sp.Poly:
    items = parse_math(text, latex=True)
    if len(items) != 1:
        raise ParseError("expected one polynomial equation")
    e = items[0]
    f = sp.together(e.lhs - e.rhs if isinstance(e, sp.Eq) else e)
    num, den = sp.fraction(f)
    free = f.free_symbols
    if len(free) != 1 or den.free_symbols or free & set(letters):
        raise ParseError("expected a polynomial equation in one variable with number coefficients")
    poly = sp.Poly(sp.expand(num), *free)
    if not all(c.is_real for c in poly.all_coeffs()):
        raise ParseError("the roots task reads polynomials with real number coefficients")
    return poly


def read_roots(g: dict, s: Sentence) -> RootsExpression:
    letters = _letters(g["vars"], s)
    poly = _polynomial(s.slot(g, "eq"), letters)
    if poly.degree() != len(letters):
        raise ParseError(f"{len(letters)} letters for the roots of a polynomial of degree {poly.degree()}")
    items = parse_math(s.slot(g, "a"), symbols={v.name: v for v in letters}, latex=True)
    if len(items) != 1 or not isinstance(items[0], sp.Expr):
        raise ParseError("expected one expression in the roots' letters")
    target = items[0]
    if not target.free_symbols or not target.free_symbols <= set(letters):
        raise ParseError("the value asked for must be in the roots' letters")
    order = None
    if g.get("order"):
        rel = parse_math(s.slot(g, "order"), latex=True)
        if len(rel) != 1 or not isinstance(rel[0], (sp.Gt, sp.Lt)) or not {rel[0].lhs, rel[0].rhs} <= set(letters):
            raise ParseError("expected an order of two roots, like p > q")
        order = (rel[0].lhs, rel[0].rhs) if isinstance(rel[0], sp.Gt) else (rel[0].rhs, rel[0].lhs)
    return RootsExpression(letters, poly, target, order=order, distinct=bool(g.get("distinct")),
                           real=bool(g.get("real")), denominators=written_denominators(s.slot(g, "a"), latex=True))


def _vieta(r: RootsExpression) -> tuple[sp.Expr, list[Step]] | None:
    """The value from the coefficients when numerator and denominator are both symmetric, else None."""
    num, den = sp.fraction(sp.together(r.target))
    parts = []
    for p in (num, den):
        expr, rest, defs = symmetrize(sp.expand(p), list(r.letters), formal=True)
        if rest != 0:
            return None
        parts.append((expr, defs))
    coeffs = r.poly.all_coeffs()
    lead, n = coeffs[0], len(r.letters)
    # Vieta: the k-th elementary symmetric polynomial of the roots is (−1)^k a_k / a_n
    values = {sp.Symbol(f"s{k}"): (-1) ** k * coeffs[k] / lead for k in range(1, n + 1)}
    value = sp.nsimplify(parts[0][0].subs(values) / parts[1][0].subs(values))
    if value.has(sp.zoo, sp.nan):
        raise SolveError("the expression divides by zero at these roots")
    said = ", ".join(f"{plain(sp.Add(*[sp.Mul(*c) for c in itertools.combinations(r.letters, k)]))} = "
                     f"{plain(values[sp.Symbol(f's{k}')])}" for k in range(1, n + 1))
    return value, [Step(f"By Vieta's formulas, from the coefficients: {said}"),
                   Step(f"The expression is symmetric in {', '.join(map(str, r.letters))}: write it in those sums "
                        "and put their values in", value)]


def _namings(roots: list, r: RootsExpression):
    """Every way of giving the roots the letters that meets the stated order."""
    for perm in set(itertools.permutations(range(len(roots)))):
        naming = dict(zip(r.letters, (roots[i] for i in perm)))
        if r.order is None or _greater(naming[r.order[0]], naming[r.order[1]]):
            yield naming


def _greater(a, b) -> bool:
    d = complex(sp.N(a - b, 50)) if isinstance(a, sp.Basic) else complex(a - b)
    if abs(d.imag) > 1e-30:
        raise SolveError("an order of roots that are not real")
    return d.real > 0


def solve_roots(r: RootsExpression) -> Worked:
    if r.distinct and sp.discriminant(r.poly) == 0:
        raise SolveError("the equation has a repeated root: its solutions are not distinct")
    if r.real and any(abs(sp.im(v)) > 1e-20 for v in r.poly.nroots(n=30)):
        raise SolveError("the problem says the roots are real, and they are not all real")
    found = _vieta(r) if r.order is None else None
    if found is not None:
        return Worked(found[0], found[1])
    if r.poly.degree() != 2:
        raise SolveError("an expression that is not symmetric in the roots is read for quadratics only")
    roots = list(sp.roots(r.poly, multiple=True))
    values = {sp.nsimplify(sp.simplify(r.target.subs(n))) for n in _namings(roots, r)}
    if len(values) != 1:
        raise SolveError("the value depends on which root is which letter, and the problem does not say")
    value = values.pop()
    return Worked(value, [Step(f"The solutions of {plain(sp.Eq(r.poly.as_expr(), 0))}: "
                               + ", ".join(plain(v) for v in roots)),
                          Step(f"Give them the letters{' in the order stated' if r.order else ''} and evaluate "
                               f"{plain(r.target)}", value)])


def check_roots(r: RootsExpression, w: Worked) -> Step:
    """The roots found numerically (polynomial root finding to 50 digits), the expression at every naming of them."""
    with mpmath.workdps(60):
        roots = list(r.poly.nroots(n=50, maxsteps=200))
        want = complex(sp.N(w.answer, 50))
        count = 0
        for naming in _namings(roots, r):
            if any(abs(complex(sp.N(d.subs(naming), 50))) < 1e-30 for d in r.denominators):
                raise SolveError("the expression is undefined at the roots: a denominator as written is zero")
            got = complex(sp.N(r.target.subs(naming), 50))
            if abs(got - want) > 1e-25 * (1 + abs(want)):
                raise SolveError("the expression at the numerical roots disagrees")
            count += 1
    if not count:
        raise SolveError("no naming of the roots meets the stated order")
    return Step(f"Check: the roots found numerically to 50 digits, {plain(r.target)} evaluated at "
                f"{'each of the ' + str(count) + ' ways' if count > 1 else 'the one way'} of naming them gives the "
                "same value")


# "$a,$ $b,$ $c$": the commas LaTeX writers put inside the math are gone from the sentence
_VARS = r"(?P<vars>⟦\d+⟧(?:\s*(?:,|and|,\s*and)?\s*⟦\d+⟧)*)"
_ROOTS = (r"(?:denote|be|are) the (?:two |three |four )?(?P<distinct>distinct )?(?P<real>real )?"
          r"(?:solutions|roots|zeros) (?:of|to) (?:the (?:equation|(?:cubic |quadratic )?polynomial|cubic|quadratic) )?"
          r"(?P<eq>⟦\d+⟧)")
_ASK = rf"(?:then )?(?:{WHAT}|what is)(?: the value of)?"

TASKS = (
    Task("roots", "expressions in the roots of a polynomial equation named by letters (Vieta's formulas)",
         phrasings=(
        (55, rf"(?:let|if|given that|suppose(?: that)?) {_VARS} {_ROOTS}\s*[.,;]?\s*(?:if (?P<order>⟦\d+⟧)\s*,?\s*)?"
             rf"{_ASK} {A}"),
        (55, rf"{WHAT} {A},? given that {_VARS} {_ROOTS}"),),
        read=read_roots, solve=solve_roots, check=check_roots,
        examples=(("Let $d$ and $e$ denote the solutions of $2x^{2}+3x-5=0$. What is the value of $(d-1)(e-1)$?",
                   "0"),
                  ("Let $r,$ $s,$ and $t$ be the roots of the equation $x^3 - 6x^2 + 11x - 6 = 0.$ Find the value "
                   "of $(1+r)(1+s)(1+t).$", "24"),
                  ("Let $p$ and $q$ be the two distinct solutions to the equation $x^2 - 5x + 4 = 0$. If $p > q$, "
                   "what is the value of $p - q$?", "3"),
                  ("Compute $a^2 + b^2 + c^2,$ given that $a,$ $b,$ and $c$ are the roots of $x^3 - x + 5 = 0$.",
                   "2")),
        questions=((r"^By Vieta", "What do the coefficients say about the sum and the product of the roots?"),
                   (r"^The solutions of", "Can you solve the equation, and then say which root is which letter?")),
        data=RootsExpression),
)
