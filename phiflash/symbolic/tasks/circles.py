"""Circles given by an equation in x and y: the center, the radius (and the area, circumference or diameter it
gives), an expression in the center's and radius's letters ('If (a, b) is the center of C and r is its radius, what
is a + b + r?'), and the distance from the center to a point.

Solved by completing the square; checked by putting four points of the circle found, (h ± r, k) and (h, k ± r),
into the equation as written: an equation A x² + A y² + D x + E y + F = 0 is fixed by three of its points, so
four points that satisfy it exactly mean it is that circle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError, parse_math
from ..sentence import WHAT, Sentence, V, one, point
from ..solution import plain
from .base import SolveError, Step, Task, Worked

X, Y = sp.symbols("x y")
_MEASURES = {"center": None, "radius": lambda r: r, "diameter": lambda r: 2 * r, "area": lambda r: sp.pi * r ** 2,
             "circumference": lambda r: 2 * sp.pi * r}


@dataclass(frozen=True)
class Circle:
    equation: sp.Expr                          # left − right of the equation as written, = 0
    asked: str                                 # center, radius, diameter, area, circumference, value, distance
    names: tuple[sp.Symbol, ...] = ()          # the letters of (h, k) and r in an asked expression
    target: sp.Expr | None = None              # the expression asked for in those letters
    point: tuple = ()                          # the point whose distance from the center is asked


def _equation(text: str, parameter: sp.Symbol | None = None) -> sp.Expr:
    items = parse_math(text, latex=True)
    if len(items) != 1 or not isinstance(items[0], sp.Eq):
        raise ParseError("expected the circle's equation")
    f = sp.expand(items[0].lhs - items[0].rhs)
    if f.free_symbols != {X, Y} | ({parameter} if parameter is not None else set()):
        raise ParseError("a circle's equation in x and y" + (f" and {parameter}" if parameter is not None else ""))
    return f


def read_parameter(g: dict, s: Sentence) -> Circle:
    """'For what value of c will the circle with equation x² + 6x + y² − 4y + c = 0 have a radius of length 4?'"""
    c = one(s.slot(g, "v"))
    if not isinstance(c, sp.Symbol) or c in (X, Y):
        raise ParseError("expected the letter to find, other than x and y")
    radius = one(s.slot(g, "r"))
    if radius.free_symbols or not radius.is_positive:
        raise ParseError("the radius must be a positive number")
    return Circle(_equation(s.slot(g, "eq"), c), "parameter", (c,), radius)


def _pair(text: str) -> tuple[sp.Symbol, sp.Symbol]:
    items = parse_math(text, latex=True)
    if len(items) != 1 or not isinstance(items[0], (tuple, sp.Tuple)) or len(items[0]) != 2 \
            or not all(isinstance(c, sp.Symbol) for c in items[0]) or items[0][0] == items[0][1]:
        raise ParseError("expected the center as a pair of letters, like (h, k)")
    return tuple(items[0])


def read_measure(g: dict, s: Sentence) -> Circle:
    return Circle(_equation(s.slot(g, "eq")), g["what"].lower())


def read_value(g: dict, s: Sentence) -> Circle:
    """'The center … is the point (h, k). What is h + k?' and 'If (a, b) is the center of C and r is its radius,
    what is the value of a + b + r?': the asked expression may use only the letters the sentence names."""
    names = _pair(s.slot(g, "center"))
    if g.get("r"):
        r = one(s.slot(g, "r"))
        if not isinstance(r, sp.Symbol) or r in names:
            raise ParseError("expected a letter for the radius")
        names += (r,)
    target = one(s.slot(g, "a"))
    if not target.free_symbols or not target.free_symbols <= set(names):
        raise ParseError("the value asked for must be in the letters named for the center and radius")
    return Circle(_equation(s.slot(g, "eq")), "value", names, target)


def read_distance(g: dict, s: Sentence) -> Circle:
    p = point(s.slot(g, "p"))
    if len(p) != 2:
        raise ParseError("a point of the plane")
    return Circle(_equation(s.slot(g, "eq")), "distance", point=p)


def _center_radius(f: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """A x² + A y² + D x + E y + F -> (A, h, k, r²), or refused when it is not a circle."""
    poly = sp.Poly(f, X, Y)
    if poly.total_degree() != 2:
        raise SolveError("the equation is not of degree two: not a circle")
    c = {m: poly.coeff_monomial(m) for m in (X ** 2, Y ** 2, X * Y, X, Y, 1)}
    if c[X * Y] != 0 or c[X ** 2] != c[Y ** 2] or c[X ** 2] == 0 or \
            any(m not in ((2, 0), (0, 2), (1, 0), (0, 1), (0, 0)) for m in poly.monoms()):
        raise SolveError("the equation is not a circle's (x² and y² must have equal coefficients and no xy term)")
    a = c[X ** 2]
    h, k = -c[X] / (2 * a), -c[Y] / (2 * a)
    r2 = sp.nsimplify(h ** 2 + k ** 2 - c[1] / a)
    if not r2.is_positive:
        raise SolveError("completing the square gives r² ≤ 0: the equation has no circle")
    return a, sp.nsimplify(h), sp.nsimplify(k), r2


def _solve_parameter(c: Circle) -> Worked:
    """The letter's value that makes r² the square of the radius asked for: exactly one, or refused."""
    letter = c.names[0]
    poly = sp.Poly(c.equation, X, Y)
    if any(poly.coeff_monomial(m).has(letter) for m in (X ** 2, Y ** 2, X * Y)):
        raise SolveError("the letter is in the squared terms: not read")
    a = poly.coeff_monomial(X ** 2)
    h, k = -poly.coeff_monomial(X) / (2 * a), -poly.coeff_monomial(Y) / (2 * a)
    r2 = sp.expand(h ** 2 + k ** 2 - poly.coeff_monomial(1) / a)
    found = [v for v in sp.solve(sp.Eq(r2, c.target ** 2), letter) if v.is_real]
    if len(found) != 1:
        raise SolveError(f"{len(found)} values of {letter} give that radius: not one answer")
    return Worked(found[0], [
        Step(f"Complete the square: the radius squared is {plain(r2)}"),
        Step(f"Set it equal to {plain(c.target)}² and solve for {letter}", found[0])])


def _square(v: str, c: sp.Expr) -> str:
    """(x − 3)², (x + 5)², x²: as a teacher writes the completed square."""
    if c == 0:
        return f"{v}²"
    return f"({v} − {plain(c)})²" if not c.could_extract_minus_sign() else f"({v} + {plain(-c)})²"


def solve_circle(c: Circle) -> Worked:
    if c.asked == "parameter":
        return _solve_parameter(c)
    a, h, k, r2 = _center_radius(c.equation)
    r = sp.sqrt(r2)
    steps = []
    if a != 1:
        steps.append(Step(f"Move every term to one side and divide by {plain(a)}", sp.Eq(sp.expand(c.equation / a), 0)))
    steps.append(Step(f"Complete the square in x and in y: {_square('x', h)} + {_square('y', k)} = {plain(r2)}"))
    steps.append(Step(f"Center ({plain(h)}, {plain(k)}), radius "
                      f"{plain(r) if r.is_Rational else '√(' + plain(r2) + ')'}", r))
    if c.asked == "center":
        answer = sp.Tuple(h, k)
    elif c.asked == "value":
        answer = sp.simplify(c.target.subs(dict(zip(c.names, (h, k, r)))))
        steps.append(Step(f"Put {', '.join(f'{n} = {plain(v)}' for n, v in zip(c.names, (h, k, r)))} into "
                          f"{plain(c.target)}", answer))
    elif c.asked == "distance":
        answer = sp.sqrt(sp.expand((h - c.point[0]) ** 2 + (k - c.point[1]) ** 2))
        steps.append(Step(f"The distance from ({plain(h)}, {plain(k)}) to ({plain(c.point[0])}, "
                          f"{plain(c.point[1])})", answer))
    else:
        answer = sp.simplify(_MEASURES[c.asked](r))
        if c.asked != "radius":
            steps.append(Step(f"The {c.asked} from the radius", answer))
    return Worked(answer, steps, facts={"center": (h, k), "r": r})


def check_circle(c: Circle, w: Worked) -> Step:
    """Four points of the circle found satisfy the equation as written, exactly; the answer is then recomputed
    from that circle another way (the distance by math's hypotenuse in floating point)."""
    if c.asked == "parameter":   # the circle with that value: its radius found afresh, its points checked
        again = solve_circle(Circle(c.equation.subs(c.names[0], w.answer), "radius"))
        if sp.simplify(again.answer - c.target) != 0:
            raise SolveError("with that value the radius is another")
        return check_circle(Circle(c.equation.subs(c.names[0], w.answer), "radius"), again)
    (h, k), r = w.facts["center"], w.facts["r"]
    points = [(h + r, k), (h - r, k), (h, k + r), (h, k - r)]
    if any(sp.simplify(c.equation.subs({X: px, Y: py})) != 0 for px, py in points):
        raise SolveError("a point of the circle found is not on the equation's circle")
    # the answer recomputed from that circle in floating point, each kind by its own formula
    hf, kf, rf = (float(v) for v in (h, k, r))
    again = {"center": (hf, kf), "radius": rf, "diameter": 2 * rf, "area": math.pi * rf * rf,
             "circumference": 2 * math.pi * rf,
             "distance": math.dist((hf, kf), (float(c.point[0]), float(c.point[1]))) if c.point else None,
             "value": float(c.target.subs(dict(zip(c.names, (hf, kf, rf))))) if c.target is not None else None,
             }[c.asked]
    answer = tuple(float(v) for v in w.answer) if isinstance(w.answer, sp.Tuple) else float(w.answer)
    if not math.isclose(math.dist(again, answer) if isinstance(again, tuple) else abs(again - answer), 0,
                        abs_tol=1e-9 * (1 + abs(rf) + abs(hf) + abs(kf))):
        raise SolveError(f"the {c.asked} recomputed from the circle is another")
    return Step(f"Check: the points ({plain(h + r)}, {plain(k)}), ({plain(h - r)}, {plain(k)}), ({plain(h)}, "
                f"{plain(k + r)}) and ({plain(h)}, {plain(k - r)}) all satisfy the equation as written, and three "
                "points fix a circle; the answer recomputed from it in floating point is the same")


_CIRCLE = r"(?:a |the )?circle (?:with|whose|given by the|given by|defined by the|of) ?(?:the )?(?:equation )?" \
          r"(?:is )?(?P<eq>⟦\d+⟧)"

TASKS = (
    Task("circle", "the center, radius, area or circumference of a circle given by its equation, values of the "
                   "center's and radius's letters, the distance from the center to a point",
         phrasings=(
        (50, rf"(?:{WHAT} )?the (?:(?:length of the )?(?P<what>center|radius|diameter|area|circumference)) of "
             rf"{_CIRCLE}"),
        (50, rf"the center of {_CIRCLE} is (?:the point )?(?P<center>⟦\d+⟧)\s*[.,;]?\s*(?:{WHAT}|what is)"
             rf"(?: the value of)? (?P<a>⟦\d+⟧)"),
        (50, rf"let ⟦\d+⟧ be {_CIRCLE}\s*[.,;]?\s*if (?P<center>⟦\d+⟧) is the center of ⟦\d+⟧ and (?P<r>⟦\d+⟧) is "
             rf"its radius,? (?:{WHAT}|what is)(?: the value of)? (?P<a>⟦\d+⟧)"),
        (50, rf"(?:{WHAT} )?the distance between the center of {_CIRCLE} and the point (?P<p>⟦\d+⟧)"),
        (50, rf"for what value of {V},? (?:will|does|is) (?:the circle with |the )?(?:equation )?(?P<eq>⟦\d+⟧) "
             rf"(?:have a radius of (?:length )?|represent a circle of radius )(?P<r>⟦\d+⟧|\d+)"),),
        read=lambda g, s: (read_parameter if g.get("v") else read_value if g.get("center") else read_distance
                           if g.get("p") else read_measure)(g, s),
        solve=solve_circle, check=check_circle,
        examples=(("Find the center of the circle with equation $x^2 - 6x + y^2 + 2y = 9$.", "(3, -1)"),
                  ("Find the radius of the circle with equation $4x^2+4y^2-8x+16y+11=0$.", "3/2"),
                  ("The center of the circle with equation $x^2+y^2=6x-4y+3$ is the point $(h,k)$. What is "
                   "$h+k$?", "1"),
                  ("Let $C$ be the circle with equation $x^2+y^2-4x+10y+13=0$. If $(a,b)$ is the center of $C$ and "
                   "$r$ is its radius, what is the value of $a+b+r$?", "1"),
                  ("What is the distance between the center of the circle with equation $x^2+y^2=2x+4y-1$ and the "
                   "point $(13,7)$?", "13"),
                  ("For what value of $k$ does the equation $x^2+8x+y^2-2y-k=0$ represent a circle of radius 5?",
                   "8"),
                  ("What is the area of the circle with equation $x^2+y^2-2y=8$?", "9pi")),
        questions=((r"^Complete the square", "What do you add to x² − 6x to make it a perfect square?"),
                   (r"^Center \(", "Once the equation reads (x − h)² + (y − k)² = r², where is the center?")),
        data=Circle),
)
