"""The domain of a real function given by a formula: 'Find the domain of the function h(x) = (3x − 1)/√(x − 5)',
'What is the domain of y = (x³ − 27)/(x + 27)?', as intervals. And where a rational expression is undefined ('For
what values of a is (a + 3)/(a² − 4) undefined?', 'the sum of all values of y for which …', 'for how many values'):
an equation, each denominator as written multiplied together = 0, over the reals, for the equation solver.

Solved by SymPy's continuous_domain over the reals. Checked by a twin of its own: it walks the formula and writes
down what each part needs (a denominator ≠ 0, an even root's radicand ≥ 0, a logarithm's argument > 0), solves each
condition on its own and intersects the answers; both sets must be equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import sympy as sp
from sympy.calculus.util import continuous_domain

from ..parse import ParseError, parse_as_written
from ..problem import Problem, _classify, written_denominators
from ..sentence import WHAT, Sentence, V, variable
from ..solution import plain
from .base import SolveError, Step, Task, Worked


@dataclass(frozen=True)
class Domain:
    expr: sp.Expr
    var: sp.Symbol


def read_domain(g: dict, s: Sentence) -> Domain:
    text = s.slot(g, "f").rstrip("~ ")
    named = re.fullmatch(r"\s*(?:[a-zA-Z]|\\ell)\s*\(\s*([a-zA-Z])\s*\)\s*=\s*(.+)", text, re.S)  # h(x) = …
    # as written: (x + 1)/((x + 4)(x + 1)) keeps its hole at −1, never cancelled
    items = parse_as_written(named.group(2) if named else text, latex=True)
    if len(items) != 1:
        raise ParseError("expected one function")
    e = items[0]
    if isinstance(e, sp.Eq):      # 'y = …': the formula is the side that is not the name
        e = e.rhs if e.lhs.is_Symbol and not e.rhs.is_Symbol and e.lhs not in e.rhs.free_symbols else None
    if named and isinstance(e, sp.Expr) and e.free_symbols - {sp.Symbol(named.group(1))}:
        raise ParseError("the formula uses a letter other than the function's variable")
    if not isinstance(e, sp.Expr) or len(e.free_symbols) != 1:
        raise ParseError("expected a formula in one variable")
    if e.has(sp.floor, sp.ceiling, sp.Abs, sp.Piecewise) or any(
            isinstance(f, sp.Function) and not isinstance(f, (sp.log, sp.sqrt)) for f in e.atoms(sp.Function)):
        raise ParseError("the domain is read for formulas of roots, fractions and logarithms")
    return Domain(e, next(iter(e.free_symbols)))


def _real(d: Domain) -> tuple[sp.Symbol, sp.Expr]:
    x = sp.Symbol(d.var.name, real=True)
    with sp.evaluate(False):
        return x, d.expr.xreplace({d.var: x})


def solve_domain(d: Domain) -> Worked:
    x, e = _real(d)
    dom = continuous_domain(e, x, sp.S.Reals)
    if not isinstance(dom, (sp.Interval, sp.Union)) and dom not in (sp.S.Reals, sp.S.EmptySet):
        raise SolveError("the domain is not a union of intervals")
    return Worked(dom, [Step(f"The formula is defined where every denominator is nonzero, every even root's "
                             f"radicand is at least 0 and every logarithm's argument is positive: {plain(dom)}")])


def _conditions(e: sp.Expr) -> list:
    """What each part of the formula needs, collected by walking it."""
    found = []
    for a in sp.preorder_traversal(e):
        if a.is_Pow and a.exp.is_Rational:
            if a.exp.q % 2 == 0:
                found.append(a.base >= 0 if a.exp > 0 else a.base > 0)
            elif a.exp < 0:
                found.append(sp.Ne(a.base, 0))
        elif a.is_Pow:
            raise SolveError("a power with a variable exponent: not checked here")
        elif isinstance(a, sp.log):
            found.append(a.args[0] > 0)
    return found


def check_domain(d: Domain, w: Worked) -> Step:
    x, e = _real(d)
    again = sp.S.Reals
    for c in _conditions(e):
        if c is sp.true:
            continue
        if c is sp.false:
            again = sp.S.EmptySet
            break
        if isinstance(c, sp.Ne):
            again = again - sp.FiniteSet(*[r for r in sp.solve(c.lhs - c.rhs, x) if r.is_real])
        else:
            again = again.intersect(sp.solve_univariate_inequality(c, x, relational=False))
    if again != w.answer:
        raise SolveError("the domain found part by part differs")
    return Step("Check: each condition (denominators nonzero, radicands at least 0, logarithms' arguments positive) "
                f"solved on its own and intersected gives {plain(again)} as well")


def read_undefined(g: dict, s: Sentence) -> Problem:
    """Where the expression as written divides by zero: SymPy's reading cancels (x − 3)/(x − 3), so the denominators
    are taken from the unevaluated reading. Only rational expressions: a root or a logarithm is undefined on
    intervals too, and which values are meant would be a guess."""
    var, text = variable(s.slot(g, "v")), s.slot(g, "e")
    (expr,) = parse_as_written(text, latex=True)   # x/x is undefined at 0, though it reads as 1
    if expr.free_symbols != {var} or not expr.is_rational_function(var):
        raise ParseError("'undefined' is read for a rational expression in the one letter asked about")
    dens = [d for d in written_denominators(text, latex=True) if d.has(var)]
    if not dens:
        raise ParseError("the expression has no denominator with the letter in it: it is never undefined")
    pick = {"sum": "sum", "product": "product", "how many": "count"}.get((g.get("pick") or "").lower())
    p = _classify(s.original, (sp.Eq(sp.Mul(*dens), 0),), var.name)
    shown = " · ".join(f"({plain(d)})" for d in dens)
    return replace(p, pick=pick, domain=sp.S.Reals,
                   notes=(f"undefined where a denominator as written is zero: {shown} = 0",))


_EXPR = r"(?:the (?:rational )?expression )?(?P<e>⟦\d+⟧)"
_UNDEFINED = r"(?:undefined|not defined)"
_FUNCTION = r"(?:the (?:real-valued |rational )?(?:function|expression|equation) )?(?P<f>⟦\d+⟧)"

TASKS = (
    Task("domain", "the domain of a real function given by a formula, as intervals", phrasings=(
        (50, rf"(?:{WHAT} )?the domain of {_FUNCTION}"),),
        read=read_domain, solve=solve_domain, check=check_domain, form="interval",
        examples=((r"Find the domain of the function $h(x) = \frac{3x - 1}{\sqrt{x - 5}}$.", "(5, ∞)"),
                  (r"What is the domain of $y=\dfrac{x^3-27}{x+27}$?", "(-∞, -27) U (-27, ∞)"),
                  (r"Find the domain of the expression $\frac{\sqrt{x-2}}{\sqrt{5-x}}$.", "[2, 5)")),
        questions=((r"^The formula is defined where", "Where would the formula divide by zero or take an even root "
                                                      "of a negative number?"),),
        data=Domain),
    Task("undefined", "the values where a rational expression is undefined, their sum, product or count", phrasings=(
        (50, rf"for what (?:real )?values? of {V},? is {_EXPR} {_UNDEFINED}"),
        (50, rf"(?:{WHAT} |what is )?the (?P<pick>sum|product) of all (?:the )?(?:real )?(?:values of )?{V} "
             rf"(?:for which|such that) {_EXPR} is {_UNDEFINED}"),
        (50, rf"(?:for )?(?P<pick>how many) (?:real )?values of {V},? is {_EXPR} {_UNDEFINED}")),
        read=read_undefined,
        examples=((r"For what values of $a$ is the expression $\frac{a+3}{a^2-4}$ undefined?", "a = -2, a = 2"),
                  (r"What is the sum of all values of $y$ for which the expression $\frac{y+6}{y^2-5y+4}$ is "
                   "undefined?", "5"),
                  (r"For how many values of $x$ is the expression $\frac{x^2-9}{(x^2+2x-3)(x-3)}$ undefined?", "3"))),
)
