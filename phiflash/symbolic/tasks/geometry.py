"""Coordinates and vectors: the distance between two points, the dot product of two vectors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..sentence import WHAT, A, B, Sentence, point, vector
from ..solution import plain
from .base import SolveError, Step, Task, Worked


@dataclass(frozen=True)
class Distance:
    p: tuple
    q: tuple


def _two_points(g: dict, s: Sentence) -> tuple[tuple, tuple]:
    p, q = point(s.slot(g, "a")), point(s.slot(g, "b"))
    if len(p) != len(q):
        raise ParseError("the two points have different numbers of coordinates")
    return p, q


def _distance(p: tuple, q: tuple) -> sp.Expr:
    """√(Σ (pᵢ − qᵢ)²), exact."""
    return sp.sqrt(sp.expand(sp.Add(*[(a - b) ** 2 for a, b in zip(p, q)])))


def read_distance(g: dict, s: Sentence) -> Distance:
    return Distance(*_two_points(g, s))


def solve_distance(d: Distance) -> Worked:
    value = _distance(d.p, d.q)
    written = " + ".join(f"({plain(a)} − {plain(b)})²" for a, b in zip(d.p, d.q))
    return Worked(value, [Step(f"The distance is the square root of the sum of the squared differences of the "
                               f"coordinates: √({written})", value)])


def check_distance(d: Distance, w: Worked) -> Step:
    """In floating point, by the library's own hypotenuse (math.dist)."""
    again = math.dist([float(c) for c in d.p], [float(c) for c in d.q])
    if abs(again - float(w.answer)) > 1e-9 * max(1.0, again):
        raise SolveError("the distance failed its check")
    return Step(f"Check: measured in floating point the distance is {again:.10g}, the same")


@dataclass(frozen=True)
class Dot:
    u: tuple
    v: tuple


def read_dot(g: dict, s: Sentence) -> Dot:
    u, v = (tuple(vector(s.slot(g, k))) for k in ("a", "b"))
    if len(u) != len(v):
        raise ParseError("the two vectors have different lengths")
    return Dot(u, v)


def solve_dot(d: Dot) -> Worked:
    value = sp.expand(sp.Add(*[x * y for x, y in zip(d.u, d.v)]))
    said = " + ".join(f"({plain(x)})({plain(y)})" for x, y in zip(d.u, d.v))
    return Worked(value, [Step(f"The dot product adds the products of matching entries: {said}", value)])


def check_dot(d: Dot, w: Worked) -> Step:
    """As a matrix product, a row times a column."""
    again = (sp.Matrix([list(d.u)]) * sp.Matrix(list(d.v)))[0, 0]
    if sp.simplify(again - w.answer) != 0:
        raise SolveError("the dot product failed its check")
    return Step("Check: the row vector times the column vector gives the same", again)


@dataclass(frozen=True)
class Midpoint:
    p: tuple
    q: tuple
    total: bool           # the sum of its coordinates, not the point


def read_midpoint(g: dict, s: Sentence) -> Midpoint:
    return Midpoint(*_two_points(g, s), bool(g.get("sum")))


def solve_midpoint(m: Midpoint) -> Worked:
    mid = tuple(sp.nsimplify((a + b) / 2) for a, b in zip(m.p, m.q))
    steps = [Step("The midpoint averages each coordinate of the endpoints", sp.Tuple(*mid))]
    if m.total:
        steps.append(Step("Add its coordinates", sp.Add(*mid)))
    return Worked(sp.Add(*mid) if m.total else sp.Tuple(*mid), steps, facts={"mid": mid})


def check_midpoint(m: Midpoint, w: Worked) -> Step:
    """Equally far from both endpoints, and on the segment (the two halves add up to the whole)."""
    mid = w.facts["mid"]
    d1, d2, whole = _distance(mid, m.p), _distance(mid, m.q), _distance(m.p, m.q)
    answer = sp.Add(*mid) if m.total else sp.Tuple(*mid)
    if sp.simplify(d1 - d2) != 0 or sp.simplify(d1 + d2 - whole) != 0 or answer != w.answer:
        raise SolveError("the midpoint failed its check")
    return Step("Check: it is equally far from both endpoints, and the two halves add up to the whole segment")


@dataclass(frozen=True)
class Slope:
    p: tuple
    q: tuple


def read_slope(g: dict, s: Sentence) -> Slope:
    p, q = _two_points(g, s)
    if len(p) != 2:
        raise ParseError("a slope between two points of the plane")
    if p[0] == q[0]:
        raise ParseError("the line through the two points is vertical: it has no slope")
    return Slope(p, q)


def solve_slope(s: Slope) -> Worked:
    m = sp.nsimplify((s.q[1] - s.p[1]) / (s.q[0] - s.p[0]))
    return Worked(m, [Step("Rise over run: (y₂ − y₁)/(x₂ − x₁)", m)])


def check_slope(s: Slope, w: Worked) -> Step:
    """The line through the first point with that slope passes through the second."""
    if sp.simplify(s.p[1] + w.answer * (s.q[0] - s.p[0]) - s.q[1]) != 0:
        raise SolveError("the slope failed its check")
    return Step(f"Check: starting at the first point and going {plain(s.q[0] - s.p[0])} across at that slope reaches "
                "the second point")


TASKS = (
    Task("distance", "the distance between two points", phrasings=(
        (50, rf"(?:{WHAT} )?the distance,?(?: in units,?)? between (?:the points )?{A} and {B}"),),
        read=read_distance, solve=solve_distance, check=check_distance,
        examples=(("What is the distance between the points (1, 1) and (4, 5)?", "5"),
                  ("Find the distance between $(2, -6)$ and $(-4, 3)$.", "3√13")),
        questions=((r"^The distance is", "How far apart are the points across, and how far up or down?"),),
        data=Distance),
    Task("dot", "the dot product of two vectors", phrasings=(
        (50, rf"(?:{WHAT} )?the dot product of {A} and {B}"),),
        read=read_dot, solve=solve_dot, check=check_dot,
        examples=(("Compute the dot product of $\\begin{pmatrix} -4 \\\\ -1 \\end{pmatrix}$ and "
                   "$\\begin{pmatrix} 6 \\\\ 8 \\end{pmatrix}$.", "-32"),),
        questions=((r"^The dot product", "Which entries go together?"),),
        data=Dot),
    Task("midpoint", "the midpoint of a segment, or the sum of its coordinates", phrasings=(
        (50, rf"(?:{WHAT} )?(?:the (?P<sum>sum) of the coordinates of )?the midpoint of (?:the )?(?:line )?segment "
             rf"(?:with|whose) endpoints (?:are )?(?:at )?{A} and {B}"),),
        read=read_midpoint, solve=solve_midpoint, check=check_midpoint,
        examples=(("What is the sum of the coordinates of the midpoint of the segment with endpoints $(8, 5)$ and "
                   "$(2, -1)$?", "7"),
                  ("Find the midpoint of the segment with endpoints (1, 2) and (5, 10).", "(3, 6)")),
        questions=((r"^The midpoint averages", "What number is halfway between the two x-coordinates?"),),
        data=Midpoint),
    Task("slope", "the slope of the line through two points", phrasings=(
        (50, rf"(?:{WHAT} )?the slope of the line (?:that )?(?:passing |passes |going |goes )?(?:through|containing) "
             rf"(?:the points )?{A} and {B}"),),
        read=read_slope, solve=solve_slope, check=check_slope,
        examples=(("What is the slope of the line passing through $(-3,5)$ and $(2,-5)$?", "-2"),),
        questions=((r"^Rise over run", "How far up does the line go, and how far across?"),),
        data=Slope),
)
