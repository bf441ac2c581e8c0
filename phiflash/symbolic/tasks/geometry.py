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


def read_distance(g: dict, s: Sentence) -> Distance:
    p, q = point(s.slot(g, "a")), point(s.slot(g, "b"))
    if len(p) != len(q):
        raise ParseError("the two points have different numbers of coordinates")
    return Distance(p, q)


def solve_distance(d: Distance) -> Worked:
    squares = [(a - b) ** 2 for a, b in zip(d.p, d.q)]
    value = sp.sqrt(sp.expand(sp.Add(*squares)))
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
)
