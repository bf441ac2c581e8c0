"""A line given by its equation: its slope (or the slope of a line parallel or perpendicular to it), its x- and
y-intercepts as numbers or points, the point where it meets an axis, the sum of its intercepts.

Solved from the equation written as a·x + b·y = c (slope −a/b, intercepts c/a and c/b). Checked from two points of
the line found by solving the equation as written at x = 0 and x = 1 (rise over run, and a perpendicular slope
times the slope is −1), an intercept by putting the point into the equation.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError, parse_math
from ..sentence import WHAT, Sentence, point
from ..solution import plain
from .base import NotMine, SolveError, Step, Task, Worked

X, Y = sp.symbols("x y")


@dataclass(frozen=True)
class Line:
    equation: sp.Expr              # left − right = 0, linear in x and y
    asked: str                     # slope, parallel, perpendicular, x, y, x point, y point, sum


def _equation(text: str) -> sp.Expr:
    items = parse_math(text, latex=True)
    if len(items) != 1 or not isinstance(items[0], sp.Eq):
        raise ParseError("expected the line's equation")
    f = sp.expand(items[0].lhs - items[0].rhs)
    if f.free_symbols != {X, Y} and f.free_symbols != {X} and f.free_symbols != {Y} or \
            not sp.Poly(f, X, Y).is_linear:
        raise ParseError("a line's equation is linear in x and y")
    return f


def _axis(text: str, s: Sentence) -> str:
    t = s.restore(text).strip().strip("$")
    if t not in ("x", "y"):
        raise ParseError("an intercept is on the x- or the y-axis")
    return t


def _through(p: tuple, q: tuple) -> sp.Expr:
    """The line through two points: (y₂ − y₁)(x − x₁) − (x₂ − x₁)(y − y₁) = 0."""
    if p == q:
        raise ParseError("two different points make a line")
    return sp.expand((q[1] - p[1]) * (X - p[0]) - (q[0] - p[0]) * (Y - p[1]))


def read_line(g: dict, s: Sentence) -> Line:
    eq = _equation(s.slot(g, "eq")) if g.get("eq") else _through(point(s.slot(g, "p1")), point(s.slot(g, "p2")))
    if g.get("rel"):
        asked = g["rel"].lower()
    elif g.get("axis"):
        asked = _axis(g["axis"], s) + (" point" if g.get("point") else "")
    elif g.get("sum"):
        if {_axis(g["sum"], s), _axis(g["sum2"], s)} != {"x", "y"}:
            raise ParseError("the sum of the x- and the y-intercept")
        asked = "sum"
    else:
        asked = "slope"
    if asked == "slope" and not g.get("eq"):
        raise NotMine("the slope through two points is the slope task's")
    return Line(eq, asked)


def _coefficients(f: sp.Expr) -> tuple:
    poly = sp.Poly(f, X, Y)
    return poly.coeff_monomial(X), poly.coeff_monomial(Y), -poly.coeff_monomial(1)


def solve_line(line: Line) -> Worked:
    a, b, c = _coefficients(line.equation)
    steps = [Step(f"Write the equation as {plain(a)}x + {plain(b)}y = {plain(c)}".replace("+ -", "− "))]
    if line.asked in ("slope", "parallel", "perpendicular"):
        if b == 0:
            raise SolveError("the line is vertical: it has no slope")
        m = -a / b
        steps.append(Step("Solve for y: the slope is the coefficient of x, −a/b", m))
        if line.asked == "perpendicular":
            if m == 0:
                raise SolveError("a line perpendicular to a horizontal line is vertical: it has no slope")
            m = -1 / m
            steps.append(Step("A perpendicular line's slope is the negative reciprocal", m))
        elif line.asked == "parallel":
            steps.append(Step("A parallel line has the same slope", m))
        return Worked(m, steps)
    if "x" in line.asked and a == 0 or "y" in line.asked and b == 0 or line.asked == "sum" and 0 in (a, b):
        raise SolveError("the line is parallel to that axis: no single intercept")
    xi, yi = (c / a if a else None), (c / b if b else None)
    if line.asked == "sum":
        steps += [Step("Put y = 0 for the x-intercept", xi), Step("Put x = 0 for the y-intercept", yi),
                  Step("Add them", xi + yi)]
        return Worked(xi + yi, steps)
    value = xi if line.asked.startswith("x") else yi
    point = sp.Tuple(value, 0) if line.asked.startswith("x") else sp.Tuple(0, value)
    steps.append(Step(f"Put {'y' if line.asked.startswith('x') else 'x'} = 0 and solve", value))
    return Worked(point if line.asked.endswith("point") else value, steps)


def check_line(line: Line, w: Worked) -> Step:
    f = line.equation
    if line.asked in ("slope", "parallel", "perpendicular"):
        p0, p1 = (sp.solve(f.subs(X, v), Y) for v in (0, 1))
        if len(p0) != 1 or len(p1) != 1:
            raise SolveError("the line's points could not be found to check its slope")
        m = (p1[0] - p0[0]) / 1
        ok = sp.simplify(w.answer * m + 1) == 0 if line.asked == "perpendicular" else sp.simplify(w.answer - m) == 0
        if not ok:
            raise SolveError("the slope failed its check")
        how = "times it is −1" if line.asked == "perpendicular" else "is the same"
        return Step(f"Check: the points (0, {plain(p0[0])}) and (1, {plain(p1[0])}) of the line rise "
                    f"{plain(m)} over a run of 1, and the answer {how}")
    if line.asked == "sum":
        xs, ys = sp.solve(f.subs(Y, 0), X), sp.solve(f.subs(X, 0), Y)
        if len(xs) != 1 or len(ys) != 1 or sp.simplify(xs[0] + ys[0] - w.answer) != 0:
            raise SolveError("the intercepts failed their check")
        return Step(f"Check: ({plain(xs[0])}, 0) and (0, {plain(ys[0])}) satisfy the equation as written, and add to "
                    "the same")
    point = w.answer if isinstance(w.answer, sp.Tuple) else (
        sp.Tuple(w.answer, 0) if line.asked.startswith("x") else sp.Tuple(0, w.answer))
    on_axis = point[1] == 0 if line.asked.startswith("x") else point[0] == 0
    if not on_axis or sp.simplify(f.subs({X: point[0], Y: point[1]})) != 0:
        raise SolveError("the intercept is not on the line")
    return Step(f"Check: the point ({plain(point[0])}, {plain(point[1])}) is on the axis and satisfies the equation as "
                "written")


_AXIS = r"(?P<axis>⟦\d+⟧|x|y)\s*-\s*intercept"
_POINT = r"(?:⟦\d+⟧|\(\s*-?[\d.]+\s*,\s*-?[\d.]+\s*\))"
# the line by its equation, or through two points ('the line containing the points (1, 7) and (3, 11)')
_LINE = (rf"(?:(?:the (?:line|graph of|graph of the (?:line|equation)|equation) )?(?P<eq>⟦\d+⟧)|(?:the|a) line "
         rf"(?:containing|through|passing through|that passes through) (?:the points )?(?P<p1>{_POINT}) and "
         rf"(?P<p2>{_POINT}))")

TASKS = (
    Task("line", "the slope and intercepts of a line given by its equation, and the slope of a line parallel or "
                 "perpendicular to it", phrasings=(
        (50, rf"(?:{WHAT} )?the slope of {_LINE}"),
        (50, rf"(?:{WHAT} )?the slope of (?:the|a|any) line(?: that is)? (?P<rel>parallel|perpendicular) to {_LINE}"),
        (50, rf"(?:{WHAT} )?the {_AXIS}(?P<point> point)? of {_LINE}"),
        (50, rf"(?:at )?(?P<point>what point) does {_LINE} intersect the (?P<axis>⟦\d+⟧|x|y)\s*-\s*axis"),
        (50, rf"{_LINE} intersects the (?P<axis>⟦\d+⟧|x|y)\s*-\s*axis at (?P<point>what point)"),
        (50, r"a line is described by the equation (?P<eq>⟦\d+⟧)\s*[.]?\s*what is the sum of its "
             r"(?P<sum>⟦\d+⟧|x)\s*-\s*intercept and (?:its )?(?P<sum2>⟦\d+⟧|y)\s*-\s*intercept"),),
        read=read_line, solve=solve_line, check=check_line,
        examples=((r"Find the slope of the line $3x+5y=20$.", "-3/5"),
                  (r"What is the slope of a line parallel to the line $2x - 4y = 9$?", "1/2"),
                  (r"Find the slope of the line that is perpendicular to the line $2x + 3y = 6$.", "3/2"),
                  (r"What is the $y$-intercept of the line $x - 2y = 5$?", "-5/2"),
                  (r"At what point does the line $3y-4x=12$ intersect the $x$-axis?", "(-3, 0)"),
                  (r"A line is described by the equation $y-4=4(x-8)$. What is the sum of its $x$-intercept and "
                   r"$y$-intercept?", "-21")),
        questions=((r"^Write the equation as", "Can you get y by itself on one side?"),),
        data=Line),
)
