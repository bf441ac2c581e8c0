"""A graph whose equation has unknown letters, through given points: 'A parabola with equation y = x² + bx + c passes
through the points (−1, −11) and (3, 17). What is c?', 'If the graph of the line y = ax + b passes through the
points (4, 5) and (8, 17), what is a − b?', 'The equation of the line that passes through the points (−3, 5) and
(0, −4) can be expressed in the form y = mx + b. What is the value of m + b?'; and a letter that puts three points
on one line ('A line contains the points (6, 8), (−2, k) and (−10, 4). What is the value of k?').

Solved by putting each point into the equation: one equation in the letters per point, solved exactly; the value
asked for must be the same for every solution. Three points are on one line when the determinant of
[[x₁, y₁, 1], [x₂, y₂, 1], [x₃, y₃, 1]] is zero. Checked another way: the equation with the letters found is solved
for y at each point's x (or, for a line of three points, the slopes between the points are compared), in exact
arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError, parse_math
from ..sentence import SLOT_RE, Sentence
from ..solution import plain
from .base import SolveError, Step, Task, Worked

X, Y = sp.symbols("x y")


@dataclass(frozen=True)
class Through:
    equation: sp.Expr | None       # left − right, in x, y and the letters; None: three points on one line
    points: tuple                  # (x, y) pairs, numbers or (for a line of points) a letter
    asked: sp.Expr                 # in the letters (a tuple of them for an ordered pair)
    letters: tuple


def _points(text: str, s: Sentence) -> tuple:
    found = []
    for k in SLOT_RE.findall(text):
        items = parse_math(s.math[int(k)], latex=True)
        if len(items) != 1 or not isinstance(items[0], (tuple, sp.Tuple)) or len(items[0]) != 2:
            raise ParseError("expected points like (2, −6)")
        found.append(tuple(sp.sympify(v) for v in items[0]))
    if SLOT_RE.sub("", text).replace(",", " ").replace("and", " ").strip():
        raise ParseError("expected a list of points")
    return tuple(found)


def read_through(g: dict, s: Sentence) -> Through:
    points = _points(g["pts"], s)
    if g.get("eq"):
        items = parse_math(s.slot(g, "eq"), latex=True)
        if len(items) != 1 or not isinstance(items[0], sp.Eq):
            raise ParseError("expected the graph's equation")
        equation = items[0].lhs - items[0].rhs
        letters = equation.free_symbols - {X, Y}
        if not {X, Y} & equation.free_symbols or any(v.free_symbols for p in points for v in p):
            raise ParseError("expected an equation in x and y and points of numbers")
    else:
        equation = None
        if len(points) != 3:
            raise ParseError("a line through points: three points, one with a letter")
        letters = set().union(*(v.free_symbols for p in points for v in p))
    asked = parse_math(s.slot(g, "e"), latex=True)
    if len(asked) != 1 or not letters or not sp.sympify(asked[0]).free_symbols <= letters:
        raise ParseError("the value asked for is made of the equation's letters")
    asked = sp.Tuple(*asked[0]) if isinstance(asked[0], (tuple, sp.Tuple)) else asked[0]
    if len(points) < len(letters):
        raise ParseError("fewer points than letters to find")
    return Through(equation, points, asked, tuple(sorted(letters, key=lambda v: v.name)))


def solve_through(t: Through) -> Worked:
    if t.equation is None:
        rows = sp.Matrix([[p[0], p[1], 1] for p in t.points])
        equations = [sp.expand(rows.det())]
        first = Step("Three points are on one line when the determinant of the rows (x, y, 1) is zero",
                     sp.Eq(equations[0], 0))
    else:
        equations = [sp.expand(t.equation.subs({X: p[0], Y: p[1]})) for p in t.points]
        first = Step("Put each point into the equation", sp.Tuple(*[sp.Eq(e, 0) for e in equations]))
    found = sp.solve(equations, t.letters, dict=True)
    if not found:
        raise SolveError("no values of the letters put every point on the graph")
    if any(set(sol) != set(t.letters) or any(v.free_symbols or not v.is_real for v in sol.values())
           for sol in found):
        raise SolveError("the points do not fix the letters")
    values = {sp.simplify(t.asked.subs(sol)) for sol in found}
    if len(values) != 1:
        raise SolveError(f"{len(found)} ways of putting the points on the graph give different values")
    value = values.pop()
    shown = "; ".join(", ".join(f"{plain(k)} = {plain(v)}" for k, v in sorted(sol.items(), key=lambda kv: kv[0].name))
                      for sol in found)
    return Worked(value, [first, Step(f"Solve for the letters: {shown}"), Step(f"Then {plain(t.asked)} is", value)],
                  facts={"letters": found})


def check_through(t: Through, w: Worked) -> Step:
    for sol in w.facts["letters"]:
        again = t.asked.subs(sol)
        if (again != w.answer) if isinstance(w.answer, sp.Tuple) else sp.simplify(again - w.answer) != 0:
            raise SolveError("the letters found do not give the answer")
        if t.equation is None:
            (x1, y1), (x2, y2), (x3, y3) = ((sp.sympify(v).subs(sol) for v in p) for p in t.points)
            if (x2 - x1) * (y3 - y1) != (y2 - y1) * (x3 - x1) or (x1, y1) in ((x2, y2), (x3, y3)):
                raise SolveError("the points are not on one line")
            continue
        curve = t.equation.subs(sol)
        for px, py in t.points:
            ys = sp.solve(curve.subs(X, px), Y)
            if not any(sp.simplify(v - py) == 0 for v in ys):
                raise SolveError(f"({plain(px)}, {plain(py)}) is not on the graph found")
    if t.equation is None:
        return Step("Check: the rise over the run from the first point to each other point is the same")
    return Step("Check: with the letters found, solving the equation for y at each point's x gives the point's y")


_WHAT = r"\s*[.,;]?\s*(?:then )?(?:what is|what's|find|compute|determine)(?: the value of)?"
_GRAPH = r"(?:if )?(?:the |a )?(?:graph of (?:the |a )?)?(?:(?:certain )?(?:line|parabola|quadratic|curve|" \
         r"equation)(?: with equation| given by)? )?"
_PTS = r"(?P<pts>⟦\d+⟧(?:\s*,?\s*(?:and )?⟦\d+⟧)*)"

TASKS = (
    Task("through", "the letters of a graph's equation from points on it, and a letter that puts three points on "
                    "one line",
         phrasings=(
        (50, rf"{_GRAPH}(?P<eq>⟦\d+⟧)(?: is a parabola)?(?: that| which)? (?:passes|goes) through the points? "
             rf"{_PTS}{_WHAT} (?P<e>⟦\d+⟧)"),
        (50, rf"the equation of the line (?:that passes|passing) through the points {_PTS} can be (?:expressed|"
             rf"written) in the form (?P<eq>⟦\d+⟧){_WHAT} (?P<e>⟦\d+⟧)"),
        (50, rf"a line (?:contains|passes through) the points {_PTS}{_WHAT} (?P<e>⟦\d+⟧)"),),
        read=read_through, solve=solve_through, check=check_through,
        examples=((r"A parabola with equation $y=x^2+bx+c$ passes through the points $(-1,-11)$ and $(3,17)$. What "
                   r"is $c$?", "-7"),
                  (r"If the graph of the line $y = ax + b$ passes through the points $(4,5)$ and $(8,17)$, what is "
                   r"$a - b$?", "10"),
                  (r"The equation of the line that passes through the points $(-3,5)$ and $(0,-4)$ can be expressed "
                   r"in the form $y=mx+b$. What is the value of $m+b$?", "-7"),
                  (r"A line contains the points $(6,8)$, $(-2, k)$ and $(-10, 4)$. What is the value of $k$?", "6"),
                  (r"The line $ax+(a+1)y=a+2$ passes through the point $(4,-8)$. Find $a$.", "-2")),
        questions=((r"^Put each point into", "What equation do you get when you put the point's x and y into it?"),),
        data=Through),
)
