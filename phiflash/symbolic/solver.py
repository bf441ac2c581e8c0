"""The symbolic engine: solve a Problem with SymPy and explain it as ordered steps, then check the result.

Steps are data (a sentence plus a SymPy object), so the CLI can show them as Unicode 2-D math, LaTeX or JSON.
Every answer is checked before it is returned: roots by substitution, antiderivatives by differentiation,
definite integrals and limits against an independent SymPy evaluation.
"""

from __future__ import annotations

import itertools
import math
import re
from contextlib import contextmanager
from dataclasses import replace

import sympy as sp
from sympy.integrals import manualintegrate as mi
from sympy.solvers.solvers import unrad

from ..errors import PhiflashError
from . import tasks
from .equality import is_zero
from .given import solve_given
from .parse import ParseError, parse_as_written
from .problem import Problem, outside_template
from .reader import parse_problem
from .readings import Ambiguous, all_readings, ask, current, declared, forced, label_of
from .solution import (  # noqa: F401  (re-exported: the names callers know from here)
    Solution,
    SolveError,
    Step,
    _shown_roots,
    exact,
    format_answer,
    latex,
    linear_system,
    plain,
    pretty,
    terminating,
    to_base,
)
from .timelimit import run_with_time_limit

# ---- solving ----------------------------------------------------------------------------------------------------


_MEMO: dict | None = None  # within `memo()`: solutions by (problem text, readings forced)


@contextmanager
def memo():
    """Solve each problem text once while this lasts (grading many answers to one problem); outcomes, errors
    included, are reused under the same forced readings."""
    global _MEMO
    outer, _MEMO = _MEMO, {} if _MEMO is None else _MEMO
    try:
        yield
    finally:
        _MEMO = outer


def solve_problem(problem: Problem | str) -> Solution:
    """Solve in this process (no time limit); see `solve` for the limited version."""
    if isinstance(problem, str) and _MEMO is not None:
        key = (problem, frozenset(current().items()))
        if key not in _MEMO:
            try:
                _MEMO[key] = each_reading(problem, solve_problem)
            except PhiflashError as e:
                _MEMO[key] = e
        if isinstance(_MEMO[key], Exception):
            raise _MEMO[key]
        return _MEMO[key]
    if isinstance(problem, str):
        return each_reading(problem, solve_problem)
    handler = {"equation": _equation, "system": _system, "inequality": _inequality, "derivative": _derivative,
               "integral": _integral, "limit": _limit, "simplify": _simplify, "expand": _expand,
               "factor": _factor, "evaluate": _evaluate, "given": solve_given}.get(problem.kind, tasks.run)
    sol = handler(problem)
    if problem.excluded and problem.kind in ("equation", "inequality"):
        sol = _without_written_poles(sol)
    if problem.kind == "equation" and problem.target is not None and isinstance(sol.answer, list) and any(
            sp.simplify(d.subs(problem.var, v)) == 0 for d in problem.denominators for v in sol.answer):
        raise SolveError("the value asked for is undefined at a solution: a denominator as written is zero there")
    if problem.kind == "equation" and (problem.target is not None or problem.pick or problem.domain is not None):
        sol = _refine(sol)
    if problem.kind == "inequality" and problem.pick:
        sol = _integers_in(sol)
    _refuse_undefined(sol)
    sol = _in_form(sol)
    for note in problem.notes:  # how the problem was read ("the mean of 4 numbers is …"), unless a step says it
        if note not in sol.notes and not any(st.text == note for st in sol.steps):
            sol.notes.append(note)
    return sol


def _values(answer) -> list:
    return answer if isinstance(answer, list) else [answer]


def _in_form(sol: Solution) -> Solution:
    """The answer held to the form the problem asks for (the clauses reader.py takes off the sentence), or refused:
    a form that is said and not held to would be a word read past."""
    problem, values = sol.problem, _values(sol.answer)
    if problem.form == "decimal":
        # '… as a decimal to the nearest tenth': a task's exact √2/2 is not the rounded 0.7 the problem wants
        numbers = [sp.nsimplify(v) if isinstance(v, sp.Float) else v for v in values
                   if isinstance(v, sp.Expr) and not v.free_symbols]
        if not all(map(terminating, numbers)):
            raise SolveError("the value is not a terminating decimal, and rounding it is not done here")
        if problem.places is not None and not all((v * 10 ** problem.places).is_integer for v in numbers):
            # 0.2 'to the nearest whole number' is 0: the rounding is the problem's, and is not done here
            raise SolveError("the value has more decimal places than the problem asks for, and rounding is not "
                             "done here")
    if problem.form == "base":
        if not all(isinstance(v, sp.Integer) for v in values):
            raise SolveError("only whole numbers are written in another base here")
        sol = _written_in_base(sol)
    if problem.form == "fraction":
        sol = _as_fractions(sol)
    if problem.form == "polynomial":
        sol = _in_template(sol)
    if problem.form == "gaussian" and not (isinstance(sol.answer, sp.Expr) and not sol.answer.free_symbols and
                                           all(part.is_integer for part in sol.answer.as_real_imag())):
        raise SolveError("the problem says a and b are integers, and the value found is not a + bi with integers")
    if problem.form == "integer" and isinstance(sol.answer, sp.Expr) and not sol.answer.free_symbols and \
            sol.answer.is_integer is not True:
        raise SolveError("the problem asks for an integer, and the value found is not one")
    if problem.form == "interval" and not isinstance(sol.answer, sp.Set):
        raise SolveError("the problem asks for the answer in interval notation, and the answer found is not a set "
                         "of numbers")
    if problem.bounds:
        _within_bounds(values, *problem.bounds)
    return sol


def _written_in_base(sol: Solution) -> Solution:
    """The step that writes the answer in the base asked for, where the solving did not (a task's sum, say)."""
    a, b = sol.answer, sol.problem.n
    if not isinstance(a, sp.Integer) or b is None:
        return sol
    (step,) = tasks.bases.solve_base(tasks.bases.BaseConversion(int(a), int(b))).steps   # the conversion task's
    if any(st.math == step.math for st in sol.steps):
        return sol
    return replace(sol, steps=[*sol.steps, step])


def _within_bounds(values: list, lo, hi) -> None:
    """'expressed as a positive integer', 'as an integer from 0 to 12': every value found is a whole number there."""
    said = "a positive integer" if hi is None else f"an integer from {lo} to {hi}"
    for v in values:
        if not (isinstance(v, sp.Expr) and v.is_integer and v >= lo and (hi is None or v <= hi)):
            raise SolveError(f"the problem asks for {said}, and the value found, {plain(v)}, is not one")


def _as_fractions(sol: Solution) -> Solution:
    """'Express your answer as a common fraction': log(3√3)/(2 log 3) is written 3/4; a number not shown to be a
    fraction is refused, not handed over in another form."""
    many, values = isinstance(sol.answer, list), _values(sol.answer)
    if not all(isinstance(v, sp.Expr) and not v.free_symbols for v in values):
        return sol   # a task's own answer (a point, an expression): the clause is about its numbers
    shown = [v if v.is_Rational else sp.simplify(v) for v in values]
    if not all(v.is_Rational for v in shown):
        raise SolveError("the problem asks for a fraction, and the value is not shown to be one")
    if shown == values:
        return sol
    return replace(sol, answer=shown if many else shown[0],
                   steps=[*sol.steps, Step("Simplify to a fraction, as the problem asks", sp.Tuple(*shown)
                                           if len(shown) > 1 else shown[0])])


def _in_template(sol: Solution) -> Solution:
    """'Express your answer in the form Ax³ + Bx + C': the answer multiplied out, in the form's variable and with no
    power the form lacks (16x² + 4x + 5 is not of the form ax³ + bx + c), or refused."""
    a = sol.answer
    misfit = outside_template(a, sol.problem.template)
    if misfit:
        raise SolveError(f"the answer {plain(sp.expand(a)) if isinstance(a, sp.Expr) else 'found'} {misfit}")
    out = sp.expand(a)
    if out == a:
        return sol
    return replace(sol, answer=out, steps=[*sol.steps, Step("Multiply out, as the form asks", out)])


def _without_written_poles(sol: Solution) -> Solution:
    """Drop the values where a denominator as written is zero (x(x + 2)/x = 2 has no solution: x = 0 is not
    allowed), which SymPy's reading had cancelled away."""
    p, a = sol.problem, sol.answer
    poles = [e for e in p.excluded if (e in a if isinstance(a, list) else a.contains(e) is sp.true)] \
        if isinstance(a, (list, sp.Set)) else []
    if not poles:
        return sol
    said = ", ".join(plain(e) for e in poles)
    kept = [v for v in a if v not in poles] if isinstance(a, list) else a - sp.FiniteSet(*poles)
    steps = sol.steps + [Step(f"Leave out {p.var} = {said}: a denominator as written is zero there", kept
                              if isinstance(kept, sp.Set) else None)]
    notes = list(sol.notes) + (["no solution"] if isinstance(kept, list) and not kept and "no solution" not in
                               sol.notes else [])
    return replace(sol, answer=kept, steps=steps, notes=notes)


def _refuse_undefined(sol: Solution) -> None:
    """nan, zoo and infinities are reported as such, never "verified" (log(0), a divergent integral)."""
    for v in _values(sol.answer):
        if isinstance(v, sp.Expr) and v.has(sp.nan, sp.zoo) and not (sol.kind == "limit" and v is sp.nan):
            raise SolveError("the result is undefined (division by zero, log(0), or a divergent value)")
        if isinstance(v, sp.Expr) and sol.kind in ("evaluate", "simplify", "integral") and v.has(sp.oo, -sp.oo):
            raise SolveError("the result is infinite: the expression or integral diverges")


def _listed(found: sp.Set) -> bool:
    """Integers SymPy can list: a finite set, or none at all (FiniteSet() is the EmptySet, not a FiniteSet)."""
    return isinstance(found, sp.FiniteSet) or found is sp.S.EmptySet


def _integers_in(sol: Solution) -> Solution:
    """"What integer x satisfies …" (exactly one) and "how many integers …" (a count) on a solution set; "the
    greatest value of b such that …" is the set's largest member, when it has one."""
    p = sol.problem
    if p.pick in ("largest", "smallest"):
        if sol.answer is sp.S.EmptySet:
            raise SolveError("no number satisfies it")
        end = sol.answer.sup if p.pick == "largest" else sol.answer.inf
        if not end.is_finite or sol.answer.contains(end) is not sp.true:
            raise SolveError(f"the solution set has no {p.pick} member: its end is not in it, or it has no end")
        return Solution(p, end, sol.steps + [Step(f"The {p.pick} member of the solution set", end)], sol.notes,
                        sol.check)
    found = sol.answer.intersect(sp.S.Integers)     # an empty solution set stays empty: no integer at all
    if isinstance(found, sp.Range) and found.is_finite_set:
        found = sp.FiniteSet(*found)
    if not _listed(found):
        lo, hi = sol.answer.inf, sol.answer.sup
        if lo.is_finite and hi.is_finite and hi - lo <= 10 ** 5:
            # a bounded union of intervals: each integer between its ends, kept when the set contains it
            found = sp.FiniteSet(*[k for k in range(int(sp.ceiling(lo)), int(sp.floor(hi)) + 1)
                                   if sol.answer.contains(k) is sp.true])
        elif p.pick == "smallest integer" and lo.is_finite or p.pick == "largest integer" and hi.is_finite:
            # x < 2x − 7: no largest, but a smallest, the first integer from the bounded end that the set contains
            start, step = (int(sp.ceiling(lo)), 1) if p.pick == "smallest integer" else (int(sp.floor(hi)), -1)
            first = next((k for k in range(start, start + step * 10 ** 5, step)
                          if sol.answer.contains(k) is sp.true), None)
            found = sp.FiniteSet(first) if first is not None else found
    if not _listed(found):
        raise SolveError("the solution set does not hold finitely many integers")
    ints = sorted(found, key=int)
    steps = sol.steps + [Step("The integers in the solution set", found)]
    if p.pick == "integers":
        steps.append(Step("Count them", sp.Integer(len(ints))))
        return Solution(p, sp.Integer(len(ints)), steps, sol.notes, sol.check)
    if p.pick == "integer sum":
        steps.append(Step("Add them", sp.Add(*ints)))
        return Solution(p, sp.Add(*ints), steps, sol.notes, sol.check)
    if p.pick in ("largest integer", "smallest integer"):
        if not ints:
            raise SolveError("no integer satisfies it")
        chosen = ints[-1] if p.pick == "largest integer" else ints[0]
        steps.append(Step(f"The {p.pick.split()[0]} of them", chosen))
        return Solution(p, chosen, steps, sol.notes, sol.check)
    if len(ints) != 1:
        raise SolveError(f"{len(ints)} integers satisfy it, not exactly one")
    return Solution(p, ints[0], steps, sol.notes, sol.check)


def _integer_root(p: Problem, v) -> sp.Integer | None:
    """A root SymPy writes in a form it cannot tell is whole (180·acos(…)/π): the nearest integer, when it is within
    10⁻³⁰ and, put into the equation itself, makes both sides exactly equal."""
    try:
        m = sp.Integer(round(sp.N(v, 50)))
    except (TypeError, ValueError):
        return None
    eq = p.items[0]
    if abs(sp.N(v - m, 50)) > sp.Float("1e-30") or sp.simplify((eq.lhs - eq.rhs).subs(p.var, m)) != 0:
        return None
    return m


def _refine(sol: Solution) -> Solution:
    """Apply a domain, pick one solution (positive, largest, …), or evaluate a target at the solutions."""
    p = sol.problem
    if not isinstance(sol.answer, list):
        raise SolveError("the solution set is not a finite list")
    vals = sol.answer
    if p.domain is not None:
        vals = [v for v in vals if v.is_real and p.domain.contains(v) is sp.true]
    steps = list(sol.steps)
    if p.pick and p.target is not None:   # 'the sum of the possible values of x + 1': of the target's values
        return _picked_values(sol, vals, steps)
    if p.pick:
        real = [v for v in vals if v.is_real]
        if p.pick == "count":   # 'how many distinct solutions': a list the solver found complete, all real
            if any(not v.is_real for v in vals):
                raise SolveError("some solutions are not real: whether they count is not said")
            value = sp.Integer(len(set(vals)))
            steps.append(Step("Count the distinct solutions", value))
            return Solution(p, value, steps, sol.notes, sol.check)
        if p.pick in ("sum", "product", "average"):
            if not vals:
                raise SolveError("there are no solutions to add or multiply")
            value = _combined(p.pick, vals)
            _one_reading(p, vals, value)
            steps.append(Step(f"The {p.pick} of the solutions" + (f": their sum over {len(vals)}" if p.pick ==
                                                                    "average" else ""), value))
            return Solution(p, value, steps, sol.notes, sol.check)
        if p.pick in ("integer sum", "largest integer", "smallest integer"):   # among the integer solutions
            ints = sorted((v for v in vals if v.is_integer), key=int)
            if not ints:
                raise SolveError("no solution is an integer")
            value = sp.Add(*ints) if p.pick == "integer sum" else ints[-1] if p.pick == "largest integer" else ints[0]
            steps += [Step("The integer solutions", sp.FiniteSet(*ints)), Step(f"The {p.pick}", value)]
            return Solution(p, value, steps, sol.notes, sol.check)
        if p.pick == "in range":   # "Find the integer n, 0 ≤ n ≤ 180, such that …": exactly one, an integer
            ints = [v if v.is_integer else _integer_root(p, v) for v in vals]
            ints = [v for v in ints if v is not None]
            if len(ints) != 1 or len(vals) != 1:
                raise SolveError(f"{len(vals)} solutions in the range, {len(ints)} of them integers: not exactly one")
            steps.append(Step("The one solution in the range", sp.Eq(p.var, ints[0])))
            return Solution(p, ints[0], steps, sol.notes, sol.check)
        if p.pick in ("larger", "smaller", "difference"):   # "the two solutions": there must be exactly two
            if len(vals) != 2 or len(real) != 2:
                raise SolveError(f"the problem speaks of two solutions, and there are {len(vals)}")
            if p.pick == "difference":
                value = sp.simplify(abs(real[0] - real[1]))
                steps.append(Step("The positive difference of the two solutions", value))
                return Solution(p, value, steps, sol.notes, sol.check)
        chosen = {"positive": [v for v in real if v.is_positive], "negative": [v for v in real if v.is_negative],
                  "largest": [max(real, key=float)] if real else [], "smallest": [min(real, key=float)] if real
                  else []}[{"larger": "largest", "smaller": "smallest"}.get(p.pick, p.pick)]
        if len(chosen) != 1:
            raise SolveError(f"there is no single {p.pick} solution")
        steps.append(Step(f"The {p.pick} solution", sp.Eq(p.var, chosen[0])))
        vals = chosen
    if p.target is not None:
        values = {sp.simplify(p.target.subs(p.var, v)) for v in vals}
        if len(values) != 1:
            raise SolveError("the value asked for differs between the solutions")
        value = values.pop()
        steps.append(Step(f"Substitute {p.var} into {plain(p.target)}", value))
        return Solution(p, value, steps, sol.notes, sol.check)
    if p.domain is not None:
        steps.append(Step(f"Keep the solutions in {plain(p.domain)}", sp.FiniteSet(*vals) if vals else sp.EmptySet))
    return Solution(p, vals, steps, sol.notes, sol.check)


def _combined(pick: str, vals: list) -> sp.Expr:
    return sp.simplify(sp.Add(*vals) if pick == "sum" else sp.Mul(*vals) if pick == "product"
                       else sp.Add(*vals) / len(vals))


# 'real' or 'complex' said, or 'the roots' (of a polynomial: over the complex numbers, by the usual convention)
_SAID_REAL = re.compile(r"\breal\b|complex|imaginary|nonreal|\broots\b|\bzeros\b", re.IGNORECASE)
_SAID_ONCE = re.compile(r"\bdistinct\b|\bdifferent\b|\bvalues?\b|\bnumbers\b", re.IGNORECASE)


def _one_reading(p: Problem, vals: list, value: sp.Expr) -> None:
    """The sum (product, average) of the solutions has other readings where the problem does not say which:
    the real solutions alone, when some are complex (x³ = 8: 2, or 0 with the complex two; 'the roots' are the
    complex ones, as Vieta's formulas count them); and each root as often as it repeats (x² − 2x + 1: 1, or 2 by
    Vieta's formulas) unless 'distinct' or 'values' says once. Refused when they give another value."""
    _real_reading(p, vals, value, lambda real: _combined(p.pick, real))
    if _SAID_ONCE.search(p.text) or not p.items or not isinstance(p.items[0], sp.Eq):
        return
    f = p.items[0].lhs - p.items[0].rhs
    if f.free_symbols != {p.var} or not f.is_polynomial(p.var):
        return
    try:
        counted = sp.roots(sp.Poly(sp.expand(f), p.var))
    except sp.PolynomialError:   # not a polynomial once written out: no multiplicities to count
        return
    if any(counted.get(v, 1) > 1 for v in vals):
        again = _combined(p.pick, [v for v in vals for _ in range(counted.get(v, 1))])
        if not is_zero(again - value):
            raise SolveError(f"two readings: each root once gives {plain(value)}, each as often as it repeats "
                             f"{plain(again)}; say 'distinct' or 'counted with multiplicity'")


def _real_reading(p: Problem, vals: list, value: sp.Expr, of_real) -> None:
    """Where some solutions are complex and the problem does not say whether they count, of_real(the real
    solutions) is the other reading's value: refused when it is not value."""
    real = [v for v in vals if v.is_real]
    if p.domain is None and real and len(real) < len(vals) and not _SAID_REAL.search(p.text):
        other = of_real(real)
        if not is_zero(other - value):
            raise SolveError(f"two readings: the {p.pick} over the real solutions is {plain(other)}, over all the "
                             f"complex ones {plain(value)}; say 'real' or 'complex'")


def _picked_values(sol: Solution, vals: list, steps: list) -> Solution:
    """A pick among the values of an expression at the solutions (each value once, as 'the possible values' are):
    the sum of the possible values of x + 1 is not the sum of the x."""
    p = sol.problem
    if p.pick not in ("sum", "product", "average", "count", "largest", "smallest", "positive", "negative"):
        raise SolveError(f"the {p.pick} among the values of {plain(p.target)} is not read")
    if not vals:
        raise SolveError("there are no solutions to put into the expression")
    at = {v: sp.simplify(p.target.subs(p.var, v)) for v in vals}
    values = _sort(set(at.values()))
    steps.append(Step(f"Put each solution into {plain(p.target)}: its possible values", sp.FiniteSet(*values)))
    if p.pick in ("count", "largest", "smallest", "positive", "negative") and any(not v.is_real for v in values):
        raise SolveError("some of the values are not real: whether they count is not said")
    if p.pick == "count":
        value = sp.Integer(len(values))
    elif p.pick in ("sum", "product", "average"):
        value = _combined(p.pick, values)
        _real_reading(p, vals, value, lambda real: _combined(p.pick, _sort({at[v] for v in real})))
    else:
        chosen = {"largest": values and [max(values, key=float)], "smallest": values and [min(values, key=float)],
                  "positive": [v for v in values if v.is_positive],
                  "negative": [v for v in values if v.is_negative]}[p.pick]
        if len(chosen) != 1:
            raise SolveError(f"there is no single {p.pick} value")
        value = chosen[0]
    steps.append(Step(f"The {p.pick} of the values", value))
    return Solution(p, value, steps, sol.notes, sol.check)


def solve(problem: Problem | str, seconds: float = 10.0) -> Solution:
    """Parse (if text) and solve under a wall-clock limit that works in any thread or process."""
    if isinstance(problem, str):
        return each_reading(problem, lambda p: run_with_time_limit(solve_problem, p, seconds=seconds))
    return run_with_time_limit(solve_problem, problem, seconds=seconds)


def each_reading(text: str, solve_one) -> Solution:
    """solve_one(parse_problem(text)) under every reading of a notation with several (`log 100`, `1/2x`): the
    same answer either way is returned with a note saying so; different answers raise Ambiguous, which asks."""
    with forced(declared(text)):
        return _each_reading(text, solve_one)


def _each_reading(text: str, solve_one) -> Solution:
    base = current()
    found = all_readings(lambda: solve_one(parse_problem(text)))
    # digit groups read as a list that then make no problem ('15% of 1,200' as "15% of 1, 200") are no reading of
    # it: the others decide, and the answer says which was dropped. Other notations keep every reading (a power
    # tower too large to compute is still a reading, so 9^9^9^9 stays a question).
    unread = [(f, r) for f, r in found if isinstance(r, ParseError) and _lists_digit_groups(f)]
    if unread and len(unread) < len(found):
        question = ask([f for f, _ in found], base)
        found = [(f, r) for f, r in found if not any(r is u for _, u in unread)]
        dropped = ", ".join(label_of(f, base) for f, _ in unread)
        if len(found) == 1 and isinstance(found[0][1], Solution):
            found[0][1].notes.append(f"{question}: read as {label_of(found[0][0], base)}, since as {dropped} it is "
                                     "not a problem")
    if len(found) == 1:
        if isinstance(found[0][1], Exception):
            raise found[0][1]
        return found[0][1]
    maps = [f for f, _ in found]
    question, labels = ask(maps, base), [label_of(f, base) for f in maps]
    outcomes = [r.answer_text if isinstance(r, Solution) else f"not solved ({r})" for _, r in found]
    if all(isinstance(r, Solution) for _, r in found) and len(set(outcomes)) == 1:
        sol = found[0][1]
        sol.notes.append(f"{question}: the answer is the same either way")
        return sol
    if all(isinstance(r, Exception) for _, r in found):
        raise found[0][1]
    told = "; ".join(f"as {lab}: {out}" for lab, out in zip(labels, outcomes))
    raise Ambiguous(f"{question}, and the answers differ ({told}): which did you mean?", maps, labels)


def _lists_digit_groups(forced_map: dict) -> bool:
    return any(isinstance(k, tuple) and k[0] == "digit groups" and v == 1 for k, v in forced_map.items())




def _sort(values):
    def key(v):
        try:
            c = complex(sp.N(v))
            return (abs(c.imag) > 1e-12, c.real, c.imag)
        except (TypeError, ValueError):
            return (True, 0.0, 0.0)
    return sorted(values, key=key)


# -- equations --


def _equation(p: Problem) -> Solution:
    eq = p.items[0]
    x = p.var
    lhs, rhs = exact(eq.lhs), exact(eq.rhs)
    f = lhs - rhs
    steps = []
    if f.has(sp.Abs):
        return _abs_equation(p, lhs, rhs)
    num, den = sp.fraction(sp.together(f))
    has_den = any(isinstance(a, sp.Pow) and a.exp.is_negative and a.base.has(x) for a in sp.preorder_traversal(f))
    radicals = [a for a in sp.preorder_traversal(f)
                if isinstance(a, sp.Pow) and a.exp.is_Rational and not a.exp.is_Integer and a.base.has(x)]
    radical = bool(radicals)
    for side, other in ((lhs, rhs), (rhs, lhs)):
        if isinstance(side, sp.Pow) and side.exp.is_Rational and side.exp.p == 1 and side.exp.q % 2 == 1 and \
                side.exp.q > 1 and side.base.has(x) and not other.has(x):
            # ∛E = c: an odd root is one-to-one on the reals, so E = c³ holds exactly when it does (real roots)
            inner = sp.Eq(side.base, other ** side.exp.q)
            sol = _equation(replace(p, items=(inner,) + tuple(p.items[1:])))
            sol.steps.insert(0, Step(f"Raise both sides to the power {side.exp.q} (an odd root is one-to-one)",
                                     inner))
            return replace(sol, problem=p)
    if any(a.exp.q % 2 == 1 for a in radicals):
        # ∛(3 − 1/x) = −4: an odd root is real for a negative radicand (the competition reading), where SymPy's
        # principal root is complex, so its solutions would be a guess in one reading or the other
        raise SolveError("an odd root of an expression in the unknown: its real and principal readings differ "
                         "where the radicand is negative, and the real one is not solved here")
    transcendental = f.has(sp.exp, sp.log) or any(isinstance(a, sp.Pow) and a.exp.has(x)
                                                   for a in sp.preorder_traversal(f))
    if not (has_den or radical or transcendental):
        sol = _without_denominators(p, f, lhs, rhs)
        if sol is not None:
            return sol
    real = sp.Symbol(x.name, real=True)
    if has_den:
        return _with_denominators(p, num, lhs, rhs, steps)
    if radical:
        cleared = unrad(sp.together(f).as_numer_denom()[0], x)
        if cleared is not None and not cleared[1]:
            steps.append(Step("Isolate the radical and square (repeat until no radical is left); squaring can add "
                              "extraneous roots, so every candidate is substituted back",
                              sp.Eq(sp.expand(cleared[0]), 0)))
            candidates = sp.solve(cleared[0], x)
            missed = _missed_root(f, x, candidates)
            if missed is not None:
                raise SolveError(f"the equation also holds near {x} = {missed:.6g}, which squaring did not find")
            return _checked(p, candidates, steps, lhs, rhs)
    steps.append(Step("Move every term to one side", sp.Eq(f, 0)))
    if f.has(sp.sin, sp.cos, sp.tan, sp.cot, sp.sec, sp.csc):
        return _trig_equation(p, f, steps, lhs, rhs)
    found = sp.solveset(f.subs(x, real), real, sp.S.Reals) if transcendental else None
    if not isinstance(found, sp.FiniteSet):   # 8^(4x−6) = (1/2)^(x+5): solveset on the reals is quick where
        found = sp.solve(f.subs(x, real), real)   # solve lists every complex logarithm first
    candidates = [c.subs(real, x) for c in found]
    missed = _missed_root(f, x, candidates)
    if missed is not None:  # SymPy's general solver is no proof that its list is complete: a scan is the second
        raise SolveError(f"the equation also holds near {x} = {missed:.6g}, which the solver did not find")
    return _checked(p, candidates, steps, lhs, rhs)


def _without_denominators(p: Problem, f, lhs, rhs) -> Solution | None:
    """A polynomial equation (numeric or literal coefficients) or a constant one; None for anything else."""
    x, steps = p.var, []
    poly_expr = sp.expand(f)
    try:
        poly = sp.Poly(poly_expr, x)
    except sp.PolynomialError:
        poly = None
    if poly is not None and poly.degree() >= 1 and not poly.free_symbols_in_domain:
        return _polynomial(p, poly_expr, poly)
    if poly is not None and poly.degree() >= 1:  # literal coefficients (a*y + 3 = 7)
        steps.append(Step("Move every term to one side", sp.Eq(poly_expr, 0)))
        sols = sp.solve(poly_expr, x)
        steps.append(Step(f"Solve for {x}", sp.Eq(x, sols[0]) if len(sols) == 1 else sp.FiniteSet(*sols)))
        return _checked(p, sols, steps, lhs, rhs)
    if poly is not None and poly.degree() <= 0:  # 0 has degree -oo
        identity = poly_expr == 0
        return Solution(p, sp.S.Reals if identity else [], [Step(
            "Move every term to one side: the x-terms cancel, leaving " + (
                "0 = 0, true for every x" if identity else f"{plain(poly_expr)} = 0, true for no x"))],
                        notes=["the equation is an identity: every value solves it" if identity
                               else "the equation is a contradiction: no value solves it"],
                        check="constant equation")
    return None


def _with_denominators(p: Problem, num, lhs, rhs, steps: list) -> Solution:
    """Clear the denominators (the values that zero one are excluded), solve, and substitute back."""
    x = p.var
    excluded = _excluded(lhs - rhs, x)
    if excluded:
        steps.append(Step("Values that make a denominator zero are excluded",
                          sp.And(*[sp.Ne(x, e) for e in excluded]) if len(excluded) > 1 else sp.Ne(x, excluded[0])))
    num = sp.expand(num)
    steps.append(Step("Multiply both sides by the common denominator", sp.Eq(num, 0)))
    if num == 0:
        answer = sp.Complement(sp.S.Reals, sp.FiniteSet(*excluded))
        steps.append(Step("Every allowed value solves it", answer))
        return Solution(p, answer, steps, ["true for every allowed value"], check="identity after clearing "
                        "denominators")
    candidates = sp.solve(num, x)
    return _checked(p, candidates, steps, lhs, rhs)


def _missed_root(f, x, found: list, lo: float = -100.0, hi: float = 100.0, n: int = 4001) -> float | None:
    """A real point in [lo, hi] where f is zero (or changes sign through zero, not through a pole) away from every
    value found; None when a scan of n points finds none. Catches whole intervals of solutions too
    (√(x+3−4√(x−1)) + √(x+8−6√(x−1)) = 1 holds on [5, 10], where SymPy answers [])."""
    try:
        g = sp.lambdify(x, f, "math")
    except Exception:  # noqa: BLE001 - nothing to scan with
        return None

    def at(t: float) -> float | None:
        try:
            v = g(t)
        except (ValueError, ZeroDivisionError, OverflowError, TypeError):
            return None
        return v if isinstance(v, float) and math.isfinite(v) else float(v) if isinstance(v, int) else None

    known = []
    for c in found:
        try:
            known.append(complex(sp.N(c)).real)
        except (TypeError, ValueError):
            continue
    def new(t: float) -> bool:
        return all(abs(t - k) > 1e-6 * max(1.0, abs(k)) for k in known)
    prev_t, prev_v = None, None
    for i in range(n):
        t = lo + (hi - lo) * i / (n - 1)
        v = at(t)
        if v is not None and abs(v) < 1e-12 and new(t):
            return t
        if v is not None and prev_v is not None and (v > 0) != (prev_v > 0):
            a, b, fa = prev_t, t, prev_v
            for _ in range(60):
                m = (a + b) / 2
                fm = at(m)
                if fm is None:
                    break
                if (fm > 0) == (fa > 0):
                    a, fa = m, fm
                else:
                    b = m
            m = (a + b) / 2
            fm = at(m)
            if fm is not None and abs(fm) < 1e-6 and new(m):
                return m
        prev_t, prev_v = t, v
    return None


def _trig_equation(p: Problem, f, steps, lhs, rhs) -> Solution:
    """A periodic equation has infinitely many solutions: solved on the domain the problem gives, else refused
    (a principal-value list with no domain would be a guess at what was asked)."""
    x = p.var
    if p.domain is None:
        raise SolveError("a trigonometric equation needs a domain, e.g. 'for 0 ≤ x < 2π'")
    real = sp.Symbol(x.name, real=True)
    sols = sp.solveset(f.subs(x, real), real, p.domain)
    if not isinstance(sols, sp.FiniteSet):
        raise SolveError("the solutions on that domain could not be listed")
    steps.append(Step(f"Solve on {plain(p.domain)}", sols))
    return _checked(p, [s.subs(real, x) for s in sols], steps, lhs, rhs)


def _excluded(f, x) -> list:
    """Roots of every denominator in f (before any cancelling)."""
    dens = {a.base for a in sp.preorder_traversal(f) if isinstance(a, sp.Pow) and a.exp.is_negative and a.base.has(x)}
    return sorted({r for d in dens for r in sp.solve(d, x)}, key=sp.default_sort_key)


def _checked(p: Problem, candidates, steps, lhs, rhs) -> Solution:
    """Keep the candidates that satisfy the original equation (in its domain); say which were rejected."""
    x = p.var
    good, bad = [], []
    for c in _sort(set(candidates)):
        ok = _satisfies(lhs, rhs, x, c)
        if ok is None:
            raise SolveError(f"could not decide whether {plain(c)} satisfies the equation")
        (good if ok else bad).append(c)
    for c in bad:
        steps.append(Step(f"Reject {plain(c)}: substituting it does not satisfy the original equation "
                          "(or leaves its domain)", sp.Eq(x, c)))
    notes = []
    if not good:
        notes.append("no solution")
    steps.append(Step(_substituted(x, lhs, rhs, good, "Check by substituting each solution into the original "
                                   "equation") if good else
                      "Check by substituting each solution into the original equation: none is left",
                      None if good else sp.EmptySet))
    return Solution(p, good, steps, notes, check="substitution into the original equation")


def _satisfies(lhs, rhs, x, c) -> bool | None:
    try:
        left, r = lhs.subs(x, c), rhs.subs(x, c)
        if left.has(sp.zoo, sp.nan) or r.has(sp.zoo, sp.nan):
            return False
        # logarithms of non-positive numbers and even roots of negatives are outside the real domain
        for a in sp.preorder_traversal(lhs - rhs):
            if isinstance(a, sp.log) and a.args[0].subs(x, c).is_positive is False and c.is_real:
                return False
        return is_zero(left - r)
    except (TypeError, ValueError, ZeroDivisionError):
        return False


def _polynomial(p: Problem, f: sp.Expr, poly: sp.Poly) -> Solution:
    x = p.var
    steps = [Step("Move every term to one side", sp.Eq(f, 0))]
    notes = []
    deg = poly.degree()
    if deg == 1:
        a, b = poly.all_coeffs()
        move = "" if b == 0 else f"add {plain(-b)} and " if b.is_negative else f"subtract {plain(b)} and "
        steps.append(Step(f"Isolate {x}: {move}divide by {plain(a)}", sp.Eq(x, -b / a)))
        roots = [-b / a]
    elif deg == 2:
        a, b, c = poly.all_coeffs()
        steps.append(Step(f"Read off the coefficients: a = {plain(a)}, b = {plain(b)}, c = {plain(c)}"))
        disc = sp.simplify(b ** 2 - 4 * a * c)
        sign = "> 0: two real roots" if disc.is_positive else "= 0: one double root" if disc.is_zero else \
            "< 0: no real roots, two complex conjugate roots" if disc.is_negative else ""
        steps.append(Step(f"Discriminant b² − 4ac {sign}".rstrip(), sp.Eq(sp.Symbol("Delta"), disc)))
        steps.append(Step(f"Quadratic formula: {x} = (−b ± √Δ) / (2a) = ({plain(-b)} ± √({plain(disc)})) / "
                          f"{plain(2 * a)}"))
        roots = [sp.simplify((-b + s * sp.sqrt(disc)) / (2 * a)) for s in (-1, 1)]
        roots = [sp.expand(r) if r.has(sp.I) else r for r in roots]
        if disc.is_negative:
            notes.append("no real solution; the two roots are complex")
        steps.append(Step("Simplify", sp.FiniteSet(*roots)))
    else:
        factored = sp.factor(f)
        if factored != f:
            steps.append(Step("Factor", sp.Eq(factored, 0)))
            steps.append(Step("A product is zero when one of its factors is zero"))
        roots = list(sp.roots(poly, x).keys())
        if sum(sp.roots(poly, x).values()) < deg:
            roots = sp.solve(f, x)
        if not any(sp.N(r).is_real for r in roots):
            notes.append("no real solution; all roots are complex")
    roots = _sort(set(roots))
    good = [r for r in roots if is_zero(f.subs(x, r)) is not False]
    mixed = any(sp.N(r).is_real for r in good) and not all(sp.N(r).is_real for r in good)
    unsaid = not re.search(r"\breal\b|complex|imaginary|otherwise", p.text, re.IGNORECASE)
    if mixed and p.domain is None and unsaid and re.search(r"separated by commas", p.text):
        raise SolveError("all the solutions are asked for, some real and some complex, and the problem does not say "
                         "whether the complex ones belong in the list")
    shown = _shown_roots(p, good)
    if len(shown) < len(good) and p.domain is None:   # a domain said ('the integer roots') leaves them out itself
        notes.append("the complex roots " + ", ".join(plain(r) for r in good if r not in shown) +
                     " are left out of the answer: the real solutions are the answer unless complex ones are "
                     "asked for (an answer that lists them too is also right)")
    eq = p.items[0] if p.items and isinstance(p.items[0], sp.Eq) else sp.Eq(f, 0)
    steps.append(Step(_substituted(x, eq.lhs, eq.rhs, good, "Check by substituting each root")))
    return Solution(p, good, steps, notes, check="substitution into the original equation")


def _substituted(x, lhs, rhs, roots: list, text: str) -> str:
    """The check written out on the original equation: "…: x = 4: 2*4 + 3 = 11 (11 = 11)"."""
    shown = []
    for r in roots[:4]:
        try:
            at = sp.UnevaluatedExpr(r)
            left, right = lhs.subs(x, at), rhs.subs(x, at)
            lv, rv = sp.simplify(lhs.subs(x, r)), sp.simplify(rhs.subs(x, r))
        except Exception:  # noqa: BLE001 - nothing to show for this root
            continue
        left, right = plain(left, order="none"), plain(right, order="none")
        values = "" if (left, right) == (plain(lv), plain(rv)) else f" ({plain(lv)} = {plain(rv)})"
        shown.append(f"{x} = {plain(r)}: {left} = {right}{values}")
    return f"{text}: " + "; ".join(shown) if shown else text


def _abs_equation(p: Problem, lhs, rhs) -> Solution:
    x = p.var
    real = sp.Symbol(x.name, real=True)
    steps = [Step("An absolute value equation: solve each sign case over the reals, then check",
                  sp.Eq(lhs, rhs))]
    absolutes = sorted({a for a in sp.preorder_traversal(lhs - rhs) if isinstance(a, sp.Abs)}, key=sp.default_sort_key)
    for a in absolutes[:2]:
        steps.append(Step(f"Case split on the sign of {plain(a.args[0])}",
                          sp.Or(sp.Eq(a.args[0], sp.Symbol("v")), sp.Eq(-a.args[0], sp.Symbol("v")))))
    try:
        found = sp.solve((lhs - rhs).subs(x, real), real)
    except NotImplementedError:   # |12/x + 3| = 2: SymPy will not split a sign it cannot tell is real (x ≠ 0)
        found = _sign_cases((lhs - rhs).subs(x, real), real, [a.subs(x, real) for a in absolutes])
    candidates = [c.subs(real, x) for c in found]
    return _checked(p, candidates, steps, lhs, rhs)


def _sign_cases(f, x, absolutes: list) -> list:
    """Every real solution of f = 0 lies among the solutions of f with each |a| replaced by a or by −a, for one of
    the sign choices: each case is a rational equation, solved completely, or the equation is refused. The
    candidates are then checked in the original (a case's solution with the wrong sign fails there)."""
    if len(absolutes) > 3:
        raise SolveError("too many absolute values to split into sign cases")
    found = []
    for signs in itertools.product((1, -1), repeat=len(absolutes)):
        case = f
        for a, sign in zip(absolutes, signs):
            case = case.subs(a, sign * a.args[0])
        num = sp.numer(sp.together(case))
        if case.has(sp.Abs) or not num.is_polynomial(x):
            raise SolveError("a sign case of the absolute values is not a polynomial equation")
        if sp.expand(num) == 0:
            raise SolveError("a sign case holds for every x: the solutions form an interval")
        found += sp.solve(num, x)
    return found


# -- systems --




def _system(p: Problem) -> Solution:
    eqs = [sp.Eq(exact(e.lhs), exact(e.rhs)) for e in p.items]
    xs = list(p.variables)
    exprs = [sp.expand(e.lhs - e.rhs) for e in eqs]
    steps = []
    matrices = linear_system(exprs, xs)
    if matrices:
        A, b = matrices
        aug = A.row_join(b)
        steps.append(Step("Write the linear system as an augmented matrix", aug))
        rref, _ = aug.rref()
        steps.append(Step("Row-reduce (Gaussian elimination)", rref))
        sols = sp.linsolve((A, b), xs)
        answers = [dict(zip(xs, s)) for s in sols]
        if answers and any(v.free_symbols & set(xs) for v in answers[0].values()):
            return Solution(p, answers, steps, ["infinitely many solutions"], check="row reduction")
    else:
        steps.append(Step("Solve by substitution/elimination (SymPy)", sp.FiniteSet(*eqs)))
        answers = sp.solve(eqs, xs, dict=True)
    good = [s for s in answers if all(is_zero(e.subs(s)) is not False for e in exprs)]
    steps.append(Step("Check every equation with the solution", sp.FiniteSet(*[sp.Tuple(*[s.get(v, v) for v in xs])
                                                                               for s in good])))
    return Solution(p, good, steps, [] if good else ["no solution"], check="substitution into every equation")


# -- inequalities --


def _inequality(p: Problem) -> Solution:
    x = p.var
    real = sp.Symbol(x.name, real=True)
    rels = []
    for r in p.items:
        rels.extend(r.args if isinstance(r, sp.And) else [r])
    steps = []
    result = sp.S.Reals
    for r in rels:
        r = r.func(exact(r.lhs), exact(r.rhs))
        f = sp.together(r.lhs - r.rhs)
        steps.append(Step("Move every term to one side", r.func(f, 0)))
        num, den = sp.fraction(f)
        try:
            crit = sorted({c.subs(real, x) for c in sp.solve(num.subs(x, real), real) + sp.solve(den.subs(x, real),
                                                                                                 real)
                           if c.is_real}, key=lambda c: float(c))
        except (NotImplementedError, TypeError, ValueError):
            crit = []
        if crit:
            steps.append(Step("Critical points (where the expression is zero or undefined)", sp.FiniteSet(*crit)))
        s = sp.solve_univariate_inequality(r.subs(x, real), real, relational=False)
        steps.append(Step("Test the sign on each interval between critical points", s))
        result = result.intersect(s)
    if len(rels) > 1:
        steps.append(Step("Intersect the conditions", result))
    return Solution(p, result, steps, [] if result != sp.EmptySet else ["no solution"],
                    check="sign test on each interval")


# -- calculus --

_DIFF_RULES = [
    (lambda e, x: not e.has(x), "Constant rule: the derivative of a constant is 0"),
    (lambda e, x: e == x, "d/dx x = 1"),
    (lambda e, x: isinstance(e, sp.Add), "Sum rule: differentiate term by term"),
    (lambda e, x: isinstance(e, sp.Mul) and len([a for a in e.args if a.has(x)]) == 1,
     "Constant multiple rule: keep the constant factor"),
    (lambda e, x: isinstance(e, sp.Mul), "Product rule: (uv)' = u'v + uv'"),
    (lambda e, x: isinstance(e, sp.Pow) and e.base == x and not e.exp.has(x), "Power rule: d/dx xⁿ = n·xⁿ⁻¹"),
    (lambda e, x: isinstance(e, sp.Pow) and not e.exp.has(x), "Chain rule with the power rule"),
    (lambda e, x: isinstance(e, sp.exp) and e.args[0] == x, "d/dx eˣ = eˣ"),
    (lambda e, x: isinstance(e, sp.Pow) and not e.base.has(x), "Exponential rule: d/dx aᵘ = aᵘ·ln(a)·u'"),
    (lambda e, x: isinstance(e, sp.Function) and e.args[0] == x, "Derivative of a standard function"),
    (lambda e, x: isinstance(e, (sp.Function, sp.Pow)), "Chain rule: f(g(x))' = f'(g(x))·g'(x)"),
]


def _explain_derivative(e, x, steps, depth=0):
    if depth > 3 or len(steps) > 12:
        return
    for test, text in _DIFF_RULES:
        if test(e, x):
            steps.append(Step(text, sp.Eq(sp.Derivative(e, x), sp.diff(e, x))))
            break
    else:
        steps.append(Step("Differentiate", sp.Eq(sp.Derivative(e, x), sp.diff(e, x))))
        return
    if isinstance(e, sp.Add):
        for a in e.args:
            if a.has(x):
                _explain_derivative(a, x, steps, depth + 1)
    elif isinstance(e, sp.Mul):
        parts = [a for a in e.args if a.has(x)]
        if len(parts) > 1 or (len(parts) == 1 and parts[0] != e):
            for a in parts:
                if not (isinstance(a, sp.Pow) and a.base == x) and a != x:
                    _explain_derivative(a, x, steps, depth + 1)
    elif isinstance(e, (sp.Function, sp.Pow)):
        inner = e.args[0] if isinstance(e, sp.Function) else e.base
        if inner != x and inner.has(x):
            _explain_derivative(inner, x, steps, depth + 1)


def _derivative(p: Problem) -> Solution:
    x, f = p.var, exact(p.expr)
    steps: list[Step] = []
    g = f
    for _ in range(p.order):
        _explain_derivative(g, x, steps)
        g = sp.diff(g, x)
    result = sp.simplify(g)
    if result != g:
        steps.append(Step("Simplify", result))
    ok = is_zero(result - sp.diff(f, x, p.order))
    return Solution(p, result, steps, check="compared with SymPy's derivative" if ok else "")


_RULE_TEXT = {
    "ConstantRule": "Constant rule: ∫c dx = c·x", "PowerRule": "Power rule: ∫xⁿ dx = xⁿ⁺¹/(n+1)",
    "ConstantTimesRule": "Constant multiple: take the constant outside the integral",
    "AddRule": "Sum rule: integrate term by term", "URule": "Substitution",
    "PartsRule": "Integration by parts: ∫u dv = uv − ∫v du",
    "CyclicPartsRule": "Integration by parts, twice, until the integral repeats", "ExpRule": "∫aˣ dx = aˣ/ln(a)",
    "ReciprocalRule": "∫1/u du = ln|u|", "ArctanRule": "∫1/(a + b·x²) dx gives an arctangent",
    "RewriteRule": "Rewrite the integrand", "TrigRule": "Integral of a trigonometric function",
    "SinRule": "∫sin x dx = −cos x", "CosRule": "∫cos x dx = sin x", "SecTanRule": "∫sec x tan x dx = sec x",
    "Sec2Rule": "∫sec² x dx = tan x", "Csc2Rule": "∫csc² x dx = −cot x", "CscCotRule": "∫csc x cot x dx = −csc x",
    "PiecewiseRule": "Integrate case by case", "HeavisideRule": "Heaviside step",
    "DontKnowRule": "No elementary rule applies",
    "DerivativeRule": "The integrand is a derivative", "AlternativeRule": "Choose one of several methods",
    "TrigSubstitutionRule": "Trigonometric substitution", "ArcsinRule": "∫1/√(1−x²) dx = arcsin x",
    "ReciprocalSqrtQuadraticRule": "Reciprocal square root of a quadratic", "ErfRule": "Gaussian integral (erf)",
    "PartialFractionsRule": "Partial fractions",
}


def _walk_rules(rule, steps, depth=0):
    if rule is None or depth > 6 or len(steps) > 14:
        return
    name = type(rule).__name__
    if name == "DontKnowRule":
        raise SolveError("no step-by-step rule applies to this integral")
    text = _RULE_TEXT.get(name, name.replace("Rule", " rule"))
    if name == "URule":
        text = f"Substitute {plain(rule.u_var)} = {plain(rule.u_func)}"
    elif name == "PartsRule":
        text = f"Integration by parts with u = {plain(rule.u)}, dv = {plain(rule.dv)} d{plain(rule.variable)}"
    try:
        result = rule.eval()
        math = sp.Eq(sp.Integral(rule.integrand, rule.variable), result)
    except Exception:  # noqa: BLE001 - a sub-rule without a closed form still gets its sentence
        math = None
    if not steps or (steps[-1].text, steps[-1].math) != (text, math):  # a rule applied twice is said once
        steps.append(Step(text, math))
    for attr in ("substep", "substeps", "v_step", "second_step", "alternatives"):
        sub = getattr(rule, attr, None)
        if isinstance(sub, list):
            for s in sub[:1] if attr == "alternatives" else sub:
                _walk_rules(s, steps, depth + 1)
        elif sub is not None and hasattr(sub, "eval"):
            _walk_rules(sub, steps, depth + 1)


def _integral(p: Problem) -> Solution:
    x, f = p.var, exact(p.expr)
    if x is None:
        raise ParseError(f"nothing to integrate over: {p.text!r} has no variable")
    steps: list[Step] = []
    try:
        rule = mi.integral_steps(f, x)
        _walk_rules(rule, steps)
        F = rule.eval()
    except (SolveError, NotImplementedError, ValueError, TypeError, AttributeError):
        steps = [Step("No rule-by-rule derivation applies; SymPy's Risch/Meijer-G integration is used")]
        F = sp.integrate(f, x)
    if F.has(sp.Integral):
        raise SolveError("this integral has no closed form the engine can find")
    F = sp.simplify(F) if sp.count_ops(F) > 8 else F
    ok = is_zero(sp.diff(F, x) - f)
    if not ok:
        raise SolveError("the antiderivative could not be checked by differentiation")
    steps.append(Step("Check: differentiating the antiderivative gives back the integrand",
                      sp.Eq(sp.Derivative(F, x), f)))
    if p.lower is None:
        return Solution(p, F, steps, check="differentiation of the antiderivative")
    a, b = exact(p.lower), exact(p.upper)
    if a.has(sp.oo, -sp.oo) or b.has(sp.oo, -sp.oo) or _singular_between(f, x, a, b):
        value = sp.integrate(f, (x, a, b))
        steps.append(Step("An improper integral: take the limits of the antiderivative", value))
    else:
        value = sp.simplify(F.subs(x, b) - F.subs(x, a))
        steps.append(Step(f"Evaluate F({plain(b)}) − F({plain(a)})", value))
        direct = sp.integrate(f, (x, a, b))
        if not direct.has(sp.Integral) and is_zero(direct - value) is False:
            raise SolveError("two evaluations of the definite integral disagree")
    return Solution(p, value, steps, check="differentiation of the antiderivative and direct integration")


def _singular_between(f, x, a, b) -> bool:
    try:
        sing = sp.singularities(f, x)
        return any(s.is_real and (min(a, b) <= s <= max(a, b)) for s in sing) if isinstance(sing, sp.FiniteSet) \
            else sing != sp.EmptySet
    except Exception:  # noqa: BLE001
        return True


def _limit(p: Problem) -> Solution:
    x, f, a = p.var, exact(p.expr), exact(p.point)
    steps = []
    direct = f.subs(x, a) if not a.has(sp.oo) else sp.nan
    if direct.is_finite and not direct.has(sp.nan, sp.zoo):
        steps.append(Step(f"The expression is continuous at {plain(x)} = {plain(a)}: substitute directly", direct))
        value = direct
    else:
        num, den = sp.fraction(sp.together(f))
        n0, d0 = sp.limit(num, x, a, p.direction if p.direction != "+-" else "+"), \
            sp.limit(den, x, a, p.direction if p.direction != "+-" else "+")
        if (n0 == 0 and d0 == 0) or (n0.is_infinite and d0.is_infinite):
            form = "0/0" if n0 == 0 else "∞/∞"
            steps.append(Step(f"Direct substitution gives the indeterminate form {form}"))
            dn, dd = sp.diff(num, x), sp.diff(den, x)
            steps.append(Step("L'Hôpital's rule: differentiate numerator and denominator",
                              sp.Limit(dn / dd, x, a, p.direction if p.direction != "+-" else "+-")))
        else:
            steps.append(Step("Direct substitution is not possible; take the limit", sp.Limit(f, x, a, p.direction)))
        value = sp.limit(f, x, a, p.direction)
        steps.append(Step("Evaluate the limit", value))
    # independent check: numbers approaching the point
    if value.is_finite and a.is_finite and value.is_real:
        sides = ["+", "-"] if p.direction == "+-" else [p.direction]
        for s in sides:
            probe = a + (sp.Rational(1, 10 ** 6) if s == "+" else -sp.Rational(1, 10 ** 6))
            try:
                near = complex(sp.N(f.subs(x, probe), 20))
                if abs(near - complex(sp.N(value))) > 1e-3 * max(1, abs(complex(sp.N(value)))):
                    raise SolveError("the limit could not be confirmed numerically")
            except (TypeError, ValueError):
                pass
    if p.direction == "+-" and value in (sp.oo, -sp.oo, sp.zoo):
        left, right = sp.limit(f, x, a, "-"), sp.limit(f, x, a, "+")
        if left != right:
            steps.append(Step(f"The one-sided limits differ (from the left {plain(left)}, from the right "
                              f"{plain(right)}), so the limit does not exist"))
            return Solution(p, sp.nan, steps, ["the limit does not exist"], check="one-sided limits")
    return Solution(p, value, steps, check="numerical approach to the point")


# -- algebra --


def _simplify(p: Problem) -> Solution:
    f = exact(p.expr)
    r = sp.simplify(f)
    steps = [Step("Simplify", r)]
    notes = []
    num, den = sp.fraction(sp.together(f))
    cancelled = [c for c in sp.solve(den, p.var)] if p.var is not None and den.has(p.var) else []
    if cancelled:
        notes.append("valid where " + ", ".join(f"{plain(p.var)} ≠ {plain(c)}" for c in cancelled))
    return Solution(p, r, steps, notes, check="difference simplifies to 0" if is_zero(r - f) else "")


def _expand(p: Problem) -> Solution:
    f = exact(p.expr)
    r = sp.expand(f)
    return Solution(p, r, [Step("Multiply out every product and power", r)], check="difference simplifies to 0"
                    if is_zero(r - f) else "")


def _factor(p: Problem) -> Solution:
    f = exact(p.expr)
    if not f.free_symbols:   # 'Factor 360' asks for 2³·3²·5, which is not 360 written back
        raise SolveError("factoring a number (its prime factorization) is not read here")
    if not sp.together(f).as_numer_denom()[0].is_polynomial(*f.free_symbols):
        # x^(11.5): sp.factor leaves such a power alone (58x⁵ − 203x^11.5 came back without x⁵ taken out)
        raise SolveError("factoring is read for polynomials (and their quotients): a power that is not a whole "
                         "number is not one")
    r = sp.factor(f)
    steps = [Step("Factor over the rationals", r)]
    if r == f:
        steps.append(Step("It does not factor further over the rationals"))
    return Solution(p, r, steps, check="expanding gives back the expression" if is_zero(sp.expand(r) - sp.expand(f))
                    else "")


def _evaluate_again(p: Problem, f, r) -> tuple[str, Step | None]:
    """The second method for a value: the expression as written read again with nothing evaluated (2 + 3 stays a
    sum, 5! a factorial) and computed in 40-digit floating point. Where that reading means something else (the
    real odd root (−8)^(5/3) is −32 by the competition convention, the unevaluated power's principal value is not
    real) or there is no written text (a phrasing built the expression), the expression as read is evaluated
    numerically; a bare number has no second method to offer."""
    candidates = []
    if p.written:
        try:
            items = parse_as_written(p.written.strip("$"), latex=p.written.startswith("$"))
            if len(items) == 1 and isinstance(items[0], sp.Expr) and not items[0].free_symbols:
                candidates.append((items[0], "the expression as written, read again with nothing evaluated and "
                                             "computed in floating point, gives the same value"))
        except Exception:  # noqa: BLE001 - no unevaluated reading: the expression as read is used below
            pass
    if not f.is_Atom:
        candidates.append((f, "evaluating the expression as read numerically gives the same value"))
    for again, how in candidates:
        try:
            a, b = complex(sp.N(exact(again), 40)), complex(sp.N(r, 40))
            agree = abs(a - b) <= 1e-25 * max(1.0, abs(b))
        except (TypeError, ValueError, OverflowError):
            continue
        if agree:
            return "numeric evaluation of the expression as written", Step(
                "Check: " + how, sp.Float(b.real, 15) if abs(b.imag) < 1e-30 else sp.N(r, 15))
        if again is f:   # the expression as read disagrees with its own simplification: something is wrong
            raise SolveError("the simplified value and a numeric evaluation disagree")
    return ("exact arithmetic" if f.is_Rational else ""), None


def _evaluate(p: Problem) -> Solution:
    f = exact(p.expr)
    if f.has(sp.nan, sp.zoo):  # before simplify, which may hide it; the message _refuse_undefined also gives
        raise SolveError("the result is undefined (division by zero, log(0), or a divergent value)")
    r = sp.simplify(f)
    if not r.is_Rational and not f.has(sp.pi, sp.E) and not r.has(sp.Pow, sp.log, sp.Function):
        r = sp.nsimplify(r)
    steps = [Step(n) for n in p.notes]
    if not r.free_symbols and (r.has(sp.I, sp.exp) or any(isinstance(a, sp.Pow) and a.base == -1 and
                                                           not a.exp.is_Integer for a in sp.preorder_traversal(r))):
        # a complex number as a + bi: √2·(−1)^(3/4) is −1 + i, 64·e^(2πi/3) is −32 + 32√3 i
        re_part, im_part = (sp.simplify(v) for v in sp.expand_complex(r).as_real_imag())
        if not (re_part.has(sp.I) or im_part.has(sp.I)) and im_part != 0:
            rect = re_part + im_part * sp.I
            if rect != r:
                steps.append(Step("Write it as a + bi", rect))
            r = rect
    if p.form in ("radical", "simplest") and not r.free_symbols:
        # simplest radical form has no radical in a denominator: (√3 + 2√2)/(√2 + √3) is √6 − 1
        rationalized = sp.radsimp(r)
        if any(isinstance(a, sp.Pow) and not a.exp.is_Integer for a in sp.preorder_traversal(sp.denom(rationalized))):
            raise SolveError("the denominator could not be rationalized here")
        if rationalized != r:
            steps.append(Step("Multiply the numerator and the denominator by the denominator's conjugate", r))
        r = rationalized
    steps.append(Step("Exact value", r))
    if p.form == "decimal":
        if not r.is_Rational or any(q not in (2, 5) for q in sp.factorint(r.q)):
            raise SolveError("the value is not a terminating decimal")
        steps.append(Step("As a decimal (the denominator has only the prime factors 2 and 5)", sp.Float(r, 30)))
    elif not r.is_Rational:
        steps.append(Step("Decimal value", sp.N(r, 12)))
    check, step = _evaluate_again(p, f, r)
    if step is not None:
        steps.append(step)
    return Solution(p, r, steps, check=check)
