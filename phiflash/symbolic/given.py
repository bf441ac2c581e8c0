"""'If 3p + 4q = 8 and 4p + 3q = 13, what is q?' — 'Given that x − y = 15 and xy = 4, find x² + y²': equations
(and conditions such as x ≠ 0 or x > 0) solved together, and the expression asked for evaluated at every solution.

Trust: only systems whose every solution SymPy can list are read: linear ones (row reduction, complete even with
free parameters) and polynomial or rational ones with finitely many solutions (a zero-dimensional Gröbner basis).
The expression must take one value at all of them, else the problem is refused, never guessed. The check is
independent of the solving: each solution is substituted into every equation, and the value is evaluated again
numerically at the solutions.
"""

from __future__ import annotations

import sympy as sp

from .equality import is_zero
from .solution import Solution, SolveError, Step, exact, linear_system, plain

MAX_SOLUTIONS = 24


def solve_given(p) -> Solution:
    eqs = [e for e in p.items if isinstance(e, sp.Eq)]
    conditions = [c for c in p.items if not isinstance(c, sp.Eq)]
    unknowns = sorted(set().union(*(e.free_symbols for e in eqs)), key=lambda s: s.name)
    target = exact(p.target)
    exprs = [sp.together(exact(e.lhs) - exact(e.rhs)) for e in eqs]
    steps = [Step("Solve the equations together", sp.FiniteSet(*eqs))]
    sols = _solutions([sp.numer(e) for e in exprs], unknowns)
    sols = [s for s in sols if _keeps(s, exprs, conditions)]
    if not sols:
        raise SolveError("no values satisfy every equation and condition")
    for s in sols:   # x(x − 3)/(x − 3) at x = 3: undefined as written, though SymPy's reading cancelled it
        if any(sp.simplify(d.subs(s)) == 0 for d in p.denominators):
            raise SolveError("the value asked for is undefined there: a denominator as written is zero")
    values = [sp.simplify(target.subs(s)) for s in sols]
    if any(v.free_symbols for v in values):
        raise SolveError("the value asked for is not fixed by the equations")
    if any(is_zero(v - values[0]) is not True for v in values[1:]):
        raise SolveError(f"the value asked for differs between the solutions ({', '.join(map(plain, values))})")
    value = values[0]
    if len(sols) <= 4:
        for s in sols:
            steps.append(Step("A solution: " + ", ".join(f"{plain(k)} = {plain(v)}" for k, v in s.items())))
    else:
        steps.append(Step(f"{len(sols)} solutions"))
    steps.append(Step(f"Substitute into {plain(target)}" + (" (the same value at each)" if len(sols) > 1 else ""),
                      value))
    _check(sols, exprs, target, value)
    steps.append(Step("Check: each solution satisfies every equation, and the value computed again numerically "
                      "at each is the same"))
    return Solution(p, value, steps, list(p.notes), check="substitution and numeric re-evaluation")


def _solutions(polys: list, unknowns: list) -> list[dict]:
    """Every solution, or SolveError when they cannot all be listed."""
    matrices = linear_system([sp.expand(q) for q in polys], unknowns)
    if matrices:
        return [dict(zip(unknowns, s)) for s in sp.linsolve(matrices, unknowns)]
    try:
        basis = sp.groebner([sp.expand(q) for q in polys], *unknowns, order="lex")
    except (sp.PolynomialError, sp.polys.polyerrors.PolificationFailed, sp.polys.polyerrors.GeneratorsNeeded):
        raise SolveError("the equations are not polynomial in the unknowns, so their solutions cannot all be "
                         "listed") from None
    if not basis.is_zero_dimensional:
        raise SolveError("the equations leave infinitely many solutions")
    sols = sp.solve(list(basis), unknowns, dict=True)
    if len(sols) > MAX_SOLUTIONS or any(set(s) != set(unknowns) for s in sols):
        raise SolveError("the solutions could not all be listed")
    return sols


def _keeps(sol: dict, exprs: list, conditions: list) -> bool:
    """A solution where every equation's expression is defined and zero, and every condition holds."""
    for e in exprs:
        d = sp.denom(e).subs(sol)
        if d == 0 or d.equals(0):
            return False
    for c in conditions:
        try:
            held = c.subs(sol)
        except TypeError:   # x > 0 at x = 2i: SymPy will not order a non-real number, and the condition fails
            return False
        if held not in (sp.true, sp.false):
            held = sp.simplify(held)
        if held is not sp.true:
            if held is not sp.false:
                raise SolveError(f"cannot decide whether {plain(c)} holds at a solution")
            return False
    return True


def _check(sols: list, exprs: list, target, value) -> None:
    for s in sols:
        if any(is_zero(sp.numer(e).subs(s)) is not True for e in exprs):
            raise SolveError("a solution failed its check")
        numeric = sp.N(target.subs({k: sp.N(v, 40) for k, v in s.items()}), 30)
        if abs(numeric - sp.N(value, 30)) > 1e-20 * (1 + abs(sp.N(value, 30))):
            raise SolveError("the value failed its numeric check")
