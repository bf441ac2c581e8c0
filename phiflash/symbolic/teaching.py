"""Teaching from a solved problem: hint ladders, checking a student's intermediate line, and diagnosing a wrong
answer by the error that explains it.

- A *plan* is the solution as steps a student takes; each step has a ladder of three hints: a question that points
  at the move, the move named with the problem's numbers, and the move carried out. A rung that would show the
  final answer is withheld (tested with the verdict code itself), so hints never give the answer away.
- A student's line (`2x = 8`) is compared with the problem: same solution set or not, and which step it reaches.
- A wrong answer is re-derived from mutated problems (a sign flipped when moving a term, (a+b)² read as a²+b², the
  product rule dropped…): the mutation that reproduces it names the likely error. No match, no guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from . import tasks
from .answers import read_answer
from .equality import identical
from .parse import ParseError, parse_math
from .problem import Problem
from .readings import Ambiguous
from .solver import Solution, plain, solve_problem


def _withheld(move: str) -> str:
    return f"Now do it yourself ({move.rstrip('.')}): what you get is the answer. Type it and I'll check it."


@dataclass
class PlanStep:
    rungs: tuple[str, str, str]   # a question, the move named, the move carried out
    math: sp.Basic | None = None  # shown with the third rung (None when withheld)
    state: sp.Basic | None = None  # equation problems: the equation after this step, for step checking


# ---- plans ---------------------------------------------------------------------------------------------------


def plan(sol: Solution) -> list[PlanStep]:
    """The steps of a solution as hint ladders; no rung shows the final answer."""
    p = sol.problem
    steps = None
    if p.kind == "equation" and not p.pick and not p.target and len(p.items) == 1:
        steps = _polynomial_plan(p, sol)
    if steps is None:
        steps = _generic_plan(sol)
    return _distinct(_withhold_answers(steps, sol))


def _side_poly(e: sp.Expr, x: sp.Symbol):
    try:
        return sp.Poly(sp.expand(e), x)
    except sp.PolynomialError:
        return None


def _polynomial_plan(p: Problem, sol: Solution) -> list[PlanStep] | None:
    x, eq = p.var, p.items[0]
    if not isinstance(eq, sp.Eq) or x is None:
        return None
    lp, rp = _side_poly(eq.lhs, x), _side_poly(eq.rhs, x)
    if lp is None or rp is None or lp.free_symbols_in_domain or rp.free_symbols_in_domain:
        return None
    degree = max(lp.degree(), rp.degree())
    if degree == 1 and (lp - rp).degree() == 1:
        return _linear_plan(x, lp, rp)
    if degree == 2 and (lp - rp).degree() == 2:
        return _quadratic_plan(x, eq, sol)
    return None


def _inline(e) -> str:
    """Math inside a sentence as people write it: 2x and 3x^2, not 2*x."""
    return re.sub(r"(?<![\w.])(\d+)\*(?=[A-Za-z(])", r"\1", plain(e))


def _signed(v: sp.Expr) -> tuple[str, str]:
    """('Subtract', '3') for 3, ('Add', '3') for −3: the move that removes v from a side."""
    return ("Subtract", _inline(v)) if v.could_extract_minus_sign() is False else ("Add", _inline(-v))


def _linear_plan(x, lp: sp.Poly, rp: sp.Poly) -> list[PlanStep]:
    a, b = lp.coeff_monomial(x), lp.coeff_monomial(1)
    c, d = rp.coeff_monomial(x), rp.coeff_monomial(1)
    steps = []
    if c != 0:  # x on both sides
        verb, amount = _signed(c * x)
        steps.append(PlanStep((f"{x} appears on both sides. What could you take from both sides so that {x} is on "
                               "one side only?",
                               f"{verb} {amount} from both sides." if verb == "Subtract" else
                               f"{verb} {amount} to both sides.",
                               f"{verb} {amount} {'from' if verb == 'Subtract' else 'to'} both sides:"),
                              sp.Eq((a - c) * x + b, d), sp.Eq((a - c) * x + b, d)))
        a = a - c
    if b != 0:
        verb, amount = _signed(b)
        steps.append(PlanStep((f"What could you do to both sides to leave the {x}-term alone?",
                               f"{verb} {amount} {'from' if verb == 'Subtract' else 'to'} both sides.",
                               f"{verb} {amount} on both sides, which leaves the {x}-term alone:"),
                              sp.Eq(a * x, d - b), sp.Eq(a * x, d - b)))
    if a != 1:
        steps.append(PlanStep((f"What number multiplies {x}? How do you undo multiplying?",
                               f"Divide both sides by {plain(a)}.",
                               f"Divide both sides by {plain(a)}:"), sp.Eq(x, (d - b) / a), sp.Eq(x, (d - b) / a)))
    return steps


def _quadratic_plan(x, eq: sp.Eq, sol: Solution) -> list[PlanStep]:
    f = sp.expand(eq.lhs - eq.rhs)
    poly = sp.Poly(f, x)
    a, b, c = (poly.coeff_monomial(x**k) for k in (2, 1, 0))
    steps = []
    if eq.rhs != 0:
        verb, amount = _signed(eq.rhs)
        steps.append(PlanStep(("Can you get every term on one side, so that the other side is 0?",
                               f"{verb} {amount} {'from' if verb == 'Subtract' else 'to'} both sides, then "
                               "collect like terms.", "Everything on one side:"), sp.Eq(f, 0), sp.Eq(f, 0)))
    roots = sp.roots(poly)
    if roots and all(r.is_rational for r in roots):
        factored = sp.factor(f)
        steps.append(PlanStep((f"Can {_inline(f)} be written as a product of two brackets?",
                               f"Look for two numbers whose product is {plain(a * c)} and whose sum is {plain(b)}"
                               + ("." if a == 1 else " (then split the middle term and group)."),
                               "Factored:"), sp.Eq(factored, 0), sp.Eq(factored, 0)))
        steps.append(PlanStep(("A product is 0 exactly when… which of its factors?",
                               "Set each factor equal to 0 and solve each little equation.",
                               "Each factor equal to 0:"),
                              sp.FiniteSet(*[sp.Eq(fac, 0, evaluate=False) for fac, _ in
                                             sp.factor_list(f)[1]]), None))
        return steps
    disc = b**2 - 4 * a * c
    steps.append(PlanStep(("It does not factor nicely. Which numbers are a, b and c in ax² + bx + c = 0?",
                           f"Compare {_inline(f)} = 0 with ax² + bx + c = 0, term by term.",
                           f"a = {plain(a)}, b = {plain(b)}, c = {plain(c)}."), None, None))
    steps.append(PlanStep(("What does the discriminant b² − 4ac tell you about the solutions?",
                           f"Compute b² − 4ac with a = {plain(a)}, b = {plain(b)}, c = {plain(c)}.",
                           "The discriminant:"), sp.Eq(sp.Symbol("Delta"), disc), None))
    steps.append(PlanStep(("Which formula gives the solutions of ax² + bx + c = 0?",
                           "Use the quadratic formula x = (−b ± √Δ) / (2a).",
                           f"Substitute a = {plain(a)}, b = {plain(b)} and Δ = {plain(disc)}, then simplify both "
                           "signs."), None, None))
    return steps


# the core kinds' steps; the tasks of tasks/ bring their own (tasks.QUESTIONS)
_QUESTIONS = (
    (r"^Move every term", "Can you get everything on one side of the equation, so that the other side is 0?"),
    (r"^Factor", "Can the expression be written as a product of simpler factors?"),
    (r"^A product is zero", "When is a product equal to zero?"),
    (r"^Values that make a denominator zero", "Which values of the variable are not allowed here?"),
    (r"^Multiply both sides by the common denominator", "What could you multiply both sides by to clear the "
                                                         "fractions?"),
    (r"^Isolate the radical", "How do you get rid of a square root in an equation? What must you check after?"),
    (r"^An absolute value|^Case split", "An absolute value hides a sign. Which two cases are there?"),
    (r"^Reject", "Does every candidate really satisfy the original equation?"),
    (r"^Check", "How can you be sure the result is right?"),
    (r"augmented matrix|^Solve by substitution", "How could you eliminate one of the variables?"),
    (r"^Row-reduce", "Which combination of the equations removes a variable?"),
    (r"^Critical points", "Where is the expression zero, or undefined?"),
    (r"^Test the sign", "On each interval between those points, is the expression positive or negative?"),
    (r"^Intersect", "Which values satisfy every condition at once?"),
    (r"^Product rule", "The function is a product of two factors. Which rule differentiates a product?"),
    (r"^Chain rule", "There is a function inside another function. Which rule handles that?"),
    (r"^Power rule", "How do you differentiate (or integrate) a power of the variable?"),
    (r"^Sum rule", "Can you work on the terms one at a time?"),
    (r"^Constant multiple", "What happens to a constant factor?"),
    (r"^Constant rule", "What is the derivative of a constant?"),
    (r"^Substitute \w+ =", "Is part of the integrand the derivative of another part? What could you call u?"),
    (r"^Integration by parts", "The integrand is a product. Which factor gets simpler when you differentiate it?"),
    (r"^Derivative of a standard|^d/dx", "Which standard derivative applies here?"),
    (r"^Exponential rule", "How do you differentiate a constant raised to a power of the variable?"),
    (r"^Evaluate F", "With an antiderivative F, how do you get the definite integral?"),
    (r"^The expression is continuous", "Is the expression defined at that point? What happens if you substitute?"),
    (r"^Direct substitution", "What do you get if you substitute the point directly?"),
    (r"^L'Hôpital", "Substituting gives 0/0 or ∞/∞. Which rule handles that?"),
    (r"^Simplify", "Can the result be written more simply?"),
    (r"^Discriminant", "What does b² − 4ac tell you about the solutions?"),
    (r"^Quadratic formula", "Which formula gives the solutions of ax² + bx + c = 0?"),
    (r"^Read off the coefficients", "Which numbers are a, b and c?"),
    (r"^[-\d./()]+ \S [-\d./()]+: put ", "Put the numbers into the definition, in place of its letters."),
)


def _generic_plan(sol: Solution) -> list[PlanStep]:
    """Ladders from the solver's own steps: a question chosen by the kind of step, the step named, the step done.
    Checks of the finished answer are not steps toward it."""
    out = []
    first = sol.problem.items[0] if sol.problem.items else None
    already_zero = isinstance(first, sp.Rel) and first.rhs == 0
    for step in sol.steps:
        if step.text.startswith(("Check", "Reject")) or already_zero and step.text.startswith("Move every term"):
            continue
        question = next((q for pattern, q in _QUESTIONS + tasks.QUESTIONS if re.search(pattern, step.text)),
                        "What would you do next?")
        named = step.text if step.text.endswith(".") else step.text + "."
        done, math = _rule_parts(step, sol.problem.var)
        if done is None:
            done = step.text.rstrip(".") + ":" if step.math is not None else step.text + " — do it, then carry on."
            math = step.math
        out.append(PlanStep((question, named, done), math))
    return out


def _rule_parts(step, x) -> tuple[str | None, sp.Basic | None]:
    """For the product and chain rules, the pieces to combine (u, v and their derivatives; the inside and its
    derivative) instead of the combined result, which may be the answer."""
    m = step.math
    if x is None or not (isinstance(m, sp.Eq) and isinstance(m.lhs, sp.Derivative)):
        return None, None
    e = m.lhs.expr
    if step.text.startswith("Product rule"):
        parts = [a for a in sp.Mul.make_args(e) if a.has(x)]
        if len(parts) == 2:
            u, v = parts
            return (f"Here u = {_inline(u)} and v = {_inline(v)}, so u′ = {_inline(sp.diff(u, x))} and "
                    f"v′ = {_inline(sp.diff(v, x))}. Combine them as u′v + uv′.", None)
    if step.text.startswith("Chain rule"):
        inner = e.args[0] if isinstance(e, sp.Function) else e.base if isinstance(e, sp.Pow) else None
        if inner is not None:
            return (f"The inside is {_inline(inner)}, whose derivative is {_inline(sp.diff(inner, x))}: differentiate "
                    "the outside with the inside left alone, then multiply by that.", None)
    return None, None


def _distinct(steps: list[PlanStep]) -> list[PlanStep]:
    """No two hints of a plan read the same: a repeated rung names its step."""
    seen: set[str] = set()
    for k, s in enumerate(steps, 1):
        rungs = []
        for r in s.rungs:
            text = r if r not in seen else f"{r} (step {k})"
            seen.add(text)
            rungs.append(text)
        s.rungs = tuple(rungs)
    return steps


# ---- the answer never appears in a hint --------------------------------------------------------------------------


def _candidates(math) -> list[str]:
    """The ways a rung's math could be read as an answer."""
    if math is None:
        return []
    out = []
    if isinstance(math, sp.Eq):
        out += [f"{plain(math.lhs)} = {plain(math.rhs)}", plain(math.rhs)]
    elif isinstance(math, sp.FiniteSet):
        out.append(", ".join(plain(a) for a in math.args))
    else:
        out.append(plain(math))
    return out


def reveals(text: str | None, math, sol: Solution) -> bool:
    """Does a hint give the final answer away? Asked of the verdict code: would it verify as the answer?"""
    from .verify import VERIFIED, _check

    texts = _candidates(math) + ([text] if text else [])
    for t in texts:
        try:
            if _check(t, sol.problem.text or None, sol.answer_text).status == VERIFIED:
                return True
        except Exception:  # noqa: BLE001 - unreadable is not the answer
            continue
    return False


def _withhold_answers(steps: list[PlanStep], sol: Solution) -> list[PlanStep]:
    """The last step's move is left to the student, and so is any rung whose math would verify as the answer. A
    step whose words end in the answer ("5 ⋆ 1 = 9(5) + 2(1) − (5)(1) + 5 = 47") is named without its result."""
    for k, s in enumerate(steps):
        named, told = s.rungs[1], False
        if "=" in named and reveals(named, None, sol):
            named, told = re.sub(r"\s*=\s*[^=]*$", "", named.rstrip(".")) + ".", True
            if reveals(named, None, sol):
                named = "Work this step out yourself."
        if k == len(steps) - 1 or told or s.math is not None and reveals(None, s.math, sol):
            s.rungs, s.math = (s.rungs[0], named, _withheld(named)), None
    return steps


# ---- checking a student's line -------------------------------------------------------------------------------


@dataclass
class LineCheck:
    kind: str           # progress | equivalent | slip
    step: int = -1      # the plan step the line reaches (progress)
    message: str = ""


def check_line(sol: Solution, steps: list[PlanStep], text: str) -> LineCheck | None:
    """An intermediate line of an equation problem (`2x = 8`): right and a plan step, right by another route, or
    a slip. None when the line is not an intermediate equation (a final answer such as x = 4, or not math)."""
    p = sol.problem
    if p.kind != "equation" or p.var is None or not isinstance(sol.answer, list) or p.pick or p.target:
        return None
    try:
        items = parse_math(text, symbols={p.var.name: p.var})
    except (ParseError, Ambiguous):  # not a line of working; a line read two ways is asked about as an answer
        return None
    def solved(e) -> bool:  # x = 4 (or 4 = x): an answer, checked as one
        return e.lhs == p.var and not e.rhs.has(p.var) or e.rhs == p.var and not e.lhs.has(p.var)
    if len(items) > 1 and all(isinstance(i, sp.Eq) for i in items) and not all(solved(i) for i in items) and \
            not re.search(r"\band\b", text):
        return _check_cases(sol, steps, items)  # x - 2 = 0 or x - 3 = 0: the cases of a factored equation
    if len(items) != 1 or not isinstance(items[0], sp.Eq):
        return None
    eq, x = items[0], p.var
    if solved(eq) or not eq.has(x):
        return None  # x = 4 is an answer, checked as one
    mine = _roots_of(eq, x)
    if mine is None:
        return None
    if not _same_set(mine, sol.answer):
        extra = [m for m in mine if not any(_same(m, s) for s in sol.answer)]
        why = (f"{x} = {plain(extra[0])} solves your line but not the problem" if extra else
               "your line has lost a solution of the problem")
        return LineCheck("slip", message=f"That line is not equivalent to the problem: {why}. Look at the last "
                                         "thing you did to both sides.")
    for k, s in enumerate(steps):
        if s.state is not None and _same_sides(eq, s.state):
            return LineCheck("progress", k)
    return LineCheck("equivalent", message="That is true: it has the same solutions as the problem. Keep going.")


def _roots_of(eq: sp.Eq, x) -> list | None:
    """The solutions of a student's equation, or None when the engine cannot list them (the line is not judged)."""
    try:
        roots = solve_problem(Problem(plain(eq), "equation", (eq,), var=x)).answer
    except Exception:  # noqa: BLE001 - a line the engine can't solve is not judged
        return None
    return roots if isinstance(roots, list) else None


def _check_cases(sol: Solution, steps: list[PlanStep], cases: list) -> LineCheck | None:
    """Several equations joined by 'or' (or a comma): together their solutions must be the problem's."""
    x, found = sol.problem.var, []
    for eq in cases:
        mine = _roots_of(eq, x)
        if mine is None:
            return None
        found += [m for m in mine if not any(_same(m, f) for f in found)]
    if not _same_set(found, sol.answer):
        extra = [m for m in found if not any(_same(m, s) for s in sol.answer)]
        why = (f"{x} = {plain(extra[0])} solves one of your equations but not the problem" if extra else
               "together your equations have lost a solution of the problem")
        return LineCheck("slip", message=f"Those cases are not equivalent to the problem: {why}. Check how you "
                                         "factored.")
    for k, s in enumerate(steps):
        plan_cases = s.math.args if isinstance(s.math, sp.FiniteSet) else ()
        if plan_cases and len(plan_cases) == len(cases) and all(
                any(isinstance(c, sp.Eq) and _same_sides(e, c) for c in plan_cases) for e in cases):
            return LineCheck("progress", k)
    return LineCheck("equivalent", message="That is true: together those cases have the problem's solutions. "
                                           "Keep going: solve each one.")


def _same_sides(a: sp.Eq, b: sp.Eq) -> bool:
    """The same equation as written, up to expanding each side and swapping them: 2x = 8 is the step after
    subtracting 3, while 4x + 6 = 22 (the problem doubled) is equivalent but no step of the plan."""
    def same(u, v):
        return sp.expand(u - v) == 0
    return same(a.lhs, b.lhs) and same(a.rhs, b.rhs) or same(a.lhs, b.rhs) and same(a.rhs, b.lhs)


# ---- diagnosing a wrong answer ---------------------------------------------------------------------------------


def diagnose(sol: Solution, answer: str) -> str | None:
    """The likely error behind a wrong answer, named with the rule to use, without giving the answer. None when no
    hypothesis reproduces it (then say only what is wrong, never guess a cause)."""
    try:
        cand = read_answer(answer)
    except (ParseError, Ambiguous, TypeError, ValueError):
        return None
    if sol.problem.kind == "inequality" and cand.kind == "set":
        try:
            return _inequality_errors(sol, cand)
        except Exception:  # noqa: BLE001 - no diagnosis
            return None
    if cand.kind != "values" or not cand.values:
        return None
    values = list(cand.values)
    p = sol.problem
    for test in (_equation_errors, _derivative_errors, _integral_errors, _value_errors):
        try:
            found = test(p, sol, values)
        except Exception:  # noqa: BLE001 - a hypothesis SymPy can't test is no diagnosis
            found = None
        if found:
            return found
    return None


def _same(a, b) -> bool:
    try:
        return bool(identical(a, b))
    except Exception:  # noqa: BLE001 - undecided is not the same
        return False


def _same_set(values: list, expected: list) -> bool:
    return len(values) == len(expected) and all(any(_same(v, e) for e in expected) for v in values) and all(
        any(_same(v, e) for v in values) for e in expected)


def _roots(eq: sp.Eq, x) -> list:
    return list(sp.solve(sp.Eq(eq.lhs, eq.rhs), x))


def _equation_errors(p: Problem, sol: Solution, values: list) -> str | None:
    if p.kind != "equation" or not isinstance(sol.answer, list) or p.pick or p.target:
        return None
    x, eq, true = p.var, p.items[0], sol.answer
    if all(any(_same(v, t) for t in true) for v in values) and len(values) < len(true):
        if len(true) == 2 and _same(true[0], -true[1]):
            missing = next(t for t in true if not any(_same(v, t) for v in values))
            sign = "negative" if missing.is_extended_negative else "positive" if missing.is_extended_positive \
                else "other"
            return ("Only part of the answer: a square has two square roots, so x² = k gives x = ±√k. Did you "
                    f"forget the {sign} one?")
        return (f"You found {len(values)} of the {len(true)} solutions: a root was lost. Dividing both sides by an "
                f"expression with {x} in it loses the values that make it zero; factor instead.")
    extra = [v for v in values if not any(_same(v, t) for t in true)]
    if extra and all(any(_same(v, t) for v in values) for t in true):
        return (f"{x} = {plain(extra[0])} does not satisfy the original equation: it is extraneous (squaring or "
                "clearing denominators can add such values). Substitute every candidate back.")
    # a sign error moving one term across the equals sign
    for side, other in ((eq.lhs, eq.rhs), (eq.rhs, eq.lhs)):
        for term in sp.Add.make_args(sp.expand(side)):
            if term.has(x) and len(sp.Add.make_args(sp.expand(side))) == 1:
                continue
            moved = sp.Eq(sp.expand(side - term), sp.expand(other + term))  # the term crossed without its sign
            if _same_set(values, _roots(moved, x)):
                undo = f"add {plain(-term)} to" if term.could_extract_minus_sign() else f"subtract {plain(term)} from"
                return (f"A sign slip: when {plain(term)} moves to the other side of the equals sign it must "
                        f"change sign ({undo} both sides).")
    # (a + b)² read as a² + b²
    squares = [s for s in sp.preorder_traversal(eq) if isinstance(s, sp.Pow) and s.exp == 2 and
               isinstance(s.base, sp.Add)]
    if squares:
        wrong = eq.xreplace({s: sum(t**2 for t in s.base.args) for s in squares})
        if _same_set(values, _roots(wrong, x)):
            return "It looks like (a + b)² was expanded as a² + b²; in fact (a + b)² = a² + 2ab + b²."
    # a·x = c solved as x = a/c
    if len(true) == 1 and len(values) == 1 and true[0] != 0 and _same(values[0], 1 / true[0]):
        return f"Your value is the reciprocal of the solution: to undo a·{x} = c, divide c by a (not a by c)."
    return None


def _inequality_errors(sol: Solution, cand) -> str | None:
    """A solution set compared with the right one: part missing, too much, or only the endpoints differ."""
    from .verify import _as_set

    mine, right = _as_set(cand, sol.problem.var), sol.answer
    if not isinstance(right, sp.Set) or mine == right:
        return None
    if sp.Complement(right, mine).is_empty is False and sp.Complement(mine, right).is_empty:
        if sp.Complement(right, mine).measure == 0:
            return "Only the endpoints differ: check whether each endpoint satisfies the inequality (< or ≤)."
        return ("Part of the solution set is missing: test the sign on every interval between the critical "
                "points, the outer ones too.")
    if sp.Complement(mine, right).is_empty is False and sp.Complement(right, mine).is_empty:
        if sp.Complement(mine, right).measure == 0:
            return "Only the endpoints differ: check whether each endpoint satisfies the inequality (< or ≤)."
        return "Your set includes values that do not satisfy the inequality: test a value from each interval."
    return None


def _derivative_errors(p: Problem, sol: Solution, values: list) -> str | None:
    if p.kind != "derivative" or p.order != 1 or len(values) != 1:
        return None
    x, f, v = p.var, p.expr, values[0]
    if _same(v, sp.integrate(f, x)):
        return "That is an antiderivative: the problem asks for the derivative."
    factors = [a for a in sp.Mul.make_args(f) if a.has(x)]
    num, den = sp.fraction(sp.together(f))
    if den.has(x) and num.has(x):
        u, w = num, den
        if _same(v, (sp.diff(u, x) * w + u * sp.diff(w, x)) / w**2) or _same(v, (u * sp.diff(w, x) - sp.diff(u, x)
                                                                                     * w) / w**2):
            return "Check the sign in the quotient rule: (u/v)′ = (u′v − uv′) / v², numerator's derivative first."
        if _same(v, sp.diff(u, x) / sp.diff(w, x)):
            return "The derivative of a quotient is not the quotient of the derivatives: use (u/v)′ = (u′v − uv′)/v²."
    if len(factors) >= 2 and _same(v, sp.Mul(*[sp.diff(a, x) for a in factors]) * (f / sp.Mul(*factors))):
        return ("It looks like you differentiated each factor separately. For a product use the product rule: "
                "(uv)′ = u′v + uv′.")
    for node in sp.preorder_traversal(f):
        inner = node.args[0] if isinstance(node, sp.Function) and node.args else (
            node.base if isinstance(node, sp.Pow) and not node.exp.has(x) else None)
        if inner is None or inner == x or not inner.has(x) or sp.diff(inner, x).is_constant() and \
                sp.diff(inner, x) == 1:
            continue
        y = sp.Dummy("y")
        outer = node.func(y) if isinstance(node, sp.Function) else y**node.exp
        no_chain = sp.diff(f.xreplace({node: outer}), y).subs(y, inner) if f == node else \
            sp.diff(f, x).xreplace({sp.diff(inner, x): 1})
        if _same(v, no_chain) and not _same(v, sp.diff(f, x)):
            return (f"The chain rule is missing: after differentiating the outside, multiply by the derivative of "
                    f"the inside, {plain(inner)}.")
    return None


def _integral_errors(p: Problem, sol: Solution, values: list) -> str | None:
    if p.kind != "integral" or len(values) != 1:
        return None
    x, f, v = p.var, p.expr, values[0]
    if _same(v, sp.diff(f, x)):
        return "That is the derivative of the integrand: the problem asks for an antiderivative (integrate)."
    if p.lower is not None and _same(v, -sol.answer):
        return "The sign is flipped: a definite integral is F(upper) − F(lower), did you subtract the other way?"
    if p.lower is None:
        for term in sp.Add.make_args(sp.expand(f)):
            c, rest = term.as_independent(x)
            if isinstance(rest, sp.Pow) and rest.base == x and rest.exp != -1:
                wrong = sp.integrate(f, x) - sp.integrate(term, x) + c * x**(rest.exp + 1)
                if _same(sp.diff(v - wrong, x), 0):
                    return "The power rule for integrals divides by the new exponent: ∫xⁿ dx = xⁿ⁺¹/(n+1) + C."
        # no named slip: the check every antiderivative allows, which states a fact and gives nothing away
        d = sp.simplify(sp.diff(v, x))
        expanded = sp.expand(d)  # x·eˣ + eˣ shows the extra term that (x + 1)·eˣ hides
        d = expanded if sp.count_ops(expanded) <= 2 * sp.count_ops(d) + 2 else d
        if v.has(x) and not _same(d, f):
            return (f"Check it by differentiating: the derivative of your answer is {plain(d)}, but the integrand "
                    f"is {plain(f)}.")
    return None


def _value_errors(p: Problem, sol: Solution, values: list) -> str | None:
    """For problems with one value: the right size with the wrong sign, the reciprocal, or an arithmetic slip."""
    a = sol.answer
    if len(values) != 1 or not isinstance(a, sp.Expr) or a.free_symbols or p.kind == "equation":
        return None
    v = values[0]
    if a != 0 and _same(v, -a):
        return "The size is right but the sign is not: check the signs step by step."
    if a != 0 and _same(v, 1 / a):
        return "Your value is the reciprocal of the right one: check which way round you divided."
    if a.is_Integer and getattr(v, "is_Integer", False) and 0 < abs(v - a) <= 2:
        return "Very close: an arithmetic slip somewhere. Recheck each calculation."
    return None


def transcript_markdown(events: list[tuple[str, str]]) -> str:
    """A readable record of a tutoring session: each problem, then its hints, steps, answers and verdicts."""
    lines = ["# phiflash tutoring session"]
    for kind, text in events:
        lines += ["", f"## Problem: {text}", ""] if kind == "problem" else [f"- **{kind}:** {text}"]
    return "\n".join(lines) + "\n"
