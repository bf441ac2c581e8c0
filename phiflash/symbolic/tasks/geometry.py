"""Coordinates and vectors: the distance between two points (a segment's length), the dot product of two vectors, a
segment's midpoint (a diameter's center) and its other endpoint, the slope through two points."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import sympy as sp

from ..parse import ParseError
from ..problem import Problem, _classify
from ..sentence import WHAT, A, B, Sentence, V, matrix_entries, one, point, variable, vector
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


def _two_vectors(g: dict, s: Sentence) -> tuple[tuple, tuple]:
    u, v = (tuple(vector(s.slot(g, k))) for k in ("a", "b"))
    if len(u) != len(v):
        raise ParseError("the two vectors have different lengths")
    return u, v


def read_dot(g: dict, s: Sentence) -> Dot:
    return Dot(*_two_vectors(g, s))


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
class VectorAngle:
    u: tuple
    v: tuple


def read_vector_angle(g: dict, s: Sentence) -> VectorAngle:
    u, v = _two_vectors(g, s)
    if not all(sp.sympify(c).is_real for c in u + v):
        raise ParseError("two real vectors")
    if all(c == 0 for c in u) or all(c == 0 for c in v):
        raise ParseError("the zero vector makes no angle")
    return VectorAngle(u, v)


def solve_vector_angle(a: VectorAngle) -> Worked:
    dot = sp.Add(*[x * y for x, y in zip(a.u, a.v)])
    cos = sp.nsimplify(sp.simplify(dot / (sp.sqrt(sp.Add(*[x ** 2 for x in a.u])) *
                                          sp.sqrt(sp.Add(*[y ** 2 for y in a.v])))))
    degrees = sp.simplify(sp.acos(cos) * 180 / sp.pi)
    if not degrees.is_Rational:
        raise SolveError(f"the angle is arccos({plain(cos)}), not a whole or fractional number of degrees")
    return Worked(degrees, [Step("The cosine of the angle is the dot product over the lengths' product", cos),
                            Step("The angle whose cosine that is, in degrees", degrees)])


def check_vector_angle(a: VectorAngle, w: Worked) -> Step:
    """By the sine too: atan2(|u × v|, u · v) in floating point, |u × v| from the Gram determinant."""
    u, v = [float(c) for c in a.u], [float(c) for c in a.v]
    dot = sum(x * y for x, y in zip(u, v))
    cross = math.sqrt(max(0.0, sum(x * x for x in u) * sum(y * y for y in v) - dot * dot))
    again = math.degrees(math.atan2(cross, dot))
    if abs(again - float(w.answer)) > 1e-7:
        raise SolveError("the angle failed its check")
    return Step(f"Check: measured by the sine as well, atan2(|u × v|, u · v) = {again:.8g}°")


@dataclass(frozen=True)
class Midpoint:
    p: tuple
    q: tuple
    combine: str | None = None    # 'sum' or 'product' of its coordinates, not the point


def _combined(point: tuple, combine: str | None):
    return sp.Add(*point) if combine == "sum" else sp.Mul(*point) if combine == "product" else sp.Tuple(*point)


def read_midpoint(g: dict, s: Sentence) -> Midpoint:
    return Midpoint(*_two_points(g, s), (g.get("combine") or "").lower() or None)


def _point_asked(found: tuple, combine: str | None, step: Step, fact: str) -> Worked:
    """The point found, or the sum or product of its coordinates, with the step that adds or multiplies them."""
    steps = [step]
    if combine:
        steps.append(Step(f"{'Add' if combine == 'sum' else 'Multiply'} its coordinates", _combined(found, combine)))
    return Worked(_combined(found, combine), steps, facts={fact: found})


def solve_midpoint(m: Midpoint) -> Worked:
    mid = tuple(sp.nsimplify((a + b) / 2) for a, b in zip(m.p, m.q))
    return _point_asked(mid, m.combine, Step("The midpoint averages each coordinate of the endpoints", sp.Tuple(*mid)),
                        "mid")


def _halves(mid: tuple, p: tuple, q: tuple) -> bool:
    """mid is the midpoint of pq: equally far from both ends, and on the segment (the halves add up to the whole)."""
    d1, d2, whole = _distance(mid, p), _distance(mid, q), _distance(p, q)
    return sp.simplify(d1 - d2) == 0 and sp.simplify(d1 + d2 - whole) == 0


def check_midpoint(m: Midpoint, w: Worked) -> Step:
    mid = w.facts["mid"]
    if not _halves(mid, m.p, m.q) or _combined(mid, m.combine) != w.answer:
        raise SolveError("the midpoint failed its check")
    return Step("Check: it is equally far from both endpoints, and the two halves add up to the whole segment")


@dataclass(frozen=True)
class OtherEnd:
    mid: tuple
    end: tuple
    combine: str | None = None


def read_other_end(g: dict, s: Sentence) -> OtherEnd:
    mid, end = _two_points({"a": g["mid"], "b": g["end"]}, s)
    return OtherEnd(mid, end, (g.get("combine") or "").lower() or None)


def solve_other_end(o: OtherEnd) -> Worked:
    other = tuple(2 * m - e for m, e in zip(o.mid, o.end))
    return _point_asked(other, o.combine, Step("The midpoint is halfway, so the other endpoint is as far past it: "
                                               "twice the midpoint minus the endpoint", sp.Tuple(*other)), "other")


def check_other_end(o: OtherEnd, w: Worked) -> Step:
    other = w.facts["other"]
    if not _halves(o.mid, o.end, other) or _combined(other, o.combine) != w.answer:
        raise SolveError("the other endpoint failed its check")
    return Step("Check: the midpoint is equally far from both endpoints, and the two halves add up to the whole "
                "segment")


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


_STOP = r"\s*[.,;]?\s+"   # between two clauses: ' . ', ', ', ' '
_OF_COORDS = r"(?:the (?P<combine>sum|product) of )?(?:the )?(?:coordinates of )?"
A2, B2 = A.replace("<a>", "<a2>"), B.replace("<b>", "<b2>")


def read_midpoint_said(g: dict, s: Sentence) -> Midpoint:
    """The phrasings that say which two points are the ends: a segment's midpoint or a diameter's center."""
    what = g.get("what") or g.get("what2") or ""
    if g.get("asked") and (g["asked"].lower() == "center") != ("diameter" in what.lower()):
        raise ParseError("the center of a circle is asked of a diameter's ends, the midpoint of a segment's")
    return read_midpoint({"a": g.get("a") or g["a2"], "b": g.get("b") or g["b2"], "combine": g.get("combine")}, s)


def _named(text: str) -> tuple[str, tuple]:
    """'M(4,4)', 'M = (4, 4)' -> ('M', (4, 4))."""
    m = re.fullmatch(r"([A-Z])\s*=?\s*(\(.*\))", text.strip())
    if not m:
        raise ParseError(f"expected a named point like M(4, 4), got {text!r}")
    return m.group(1), point(m.group(2))


def read_orthogonal(g: dict, s: Sentence) -> Problem:
    """Orthogonal means a zero dot product: an equation in the one unknown entry, for the equation solver."""
    x = variable(s.slot(g, "v"))
    u, v = (_entries(s.slot(g, k)) for k in ("a", "b"))
    if len(u) != len(v) or set().union(*(sp.sympify(c).free_symbols for c in u + v)) != {x}:
        raise ParseError("two vectors of the same length, with the one unknown among their entries")
    dot = sp.Add(*[a * b for a, b in zip(u, v)])
    p = _classify(s.original, (sp.Eq(dot, 0),), x.name)
    if p.kind != "equation":
        raise ParseError("orthogonal vectors give one equation in the unknown")
    return replace(p, notes=(f"orthogonal vectors have dot product 0: {plain(dot)} = 0",))


def _entries(text: str) -> list:
    """A column or row vector's entries, letters allowed."""
    written = matrix_entries(text, kinds="pbB")
    if written is None:
        raise ParseError("expected a vector written as a matrix")
    return [one(e) for e in written]


def read_other_end_said(g: dict, s: Sentence) -> OtherEnd:
    if not g.get("seg"):
        return read_other_end(g, s)
    # 'Point M(4,4) is the midpoint of AB. If point A has coordinates (8,4), … of point B?': the names must agree
    name, mid = _named(s.slot(g, "m"))
    seg = re.sub(r"\\overline\s*\{?\s*([A-Z]{2})\s*\}?", r"\1", s.slot(g, "seg")).strip()
    end, other = s.slot(g, "e").strip(), s.slot(g, "o").strip()
    if not (re.fullmatch(r"[A-Z]{2}", seg) and {end, other} == set(seg) and end != other and name not in seg):
        raise ParseError("the segment's ends must be the two points named")
    return OtherEnd(mid, point(s.slot(g, "end")), (g.get("combine") or "").lower() or None)


TASKS = (
    Task("distance", "the distance between two points", phrasings=(
        (50, rf"(?:{WHAT} )?the distance,?(?: in units,?)? between (?:the points )?{A} and {B}"),
        (50, rf"(?:{WHAT} )?the distance,?(?: in units,?)? from (?:the point )?{A} to (?:the point )?{B}"),
        (50, rf"(?:how many units long is|{WHAT} the length of) (?:a|the) (?:line )?segment (?:whose endpoints "
             rf"are|with endpoints(?: at)?) {A} and {B}")),
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
    Task("vectorangle", "the angle between two vectors, in degrees", phrasings=(
        # in degrees, said: without it the answer might be wanted in radians
        (50, rf"(?:{WHAT} )?the angle,? in degrees,? between the vectors {A} and {B}"),
        (50, rf"(?:{WHAT} )?the angle between the vectors {A} and {B},? in degrees")),
        read=read_vector_angle, solve=solve_vector_angle, check=check_vector_angle,
        examples=(("Find the angle, in degrees, between the vectors $\\begin{pmatrix} 2 \\\\ 5 \\end{pmatrix}$ and "
                   "$\\begin{pmatrix} -3 \\\\ 7 \\end{pmatrix}.$", "45"),),
        questions=((r"^The cosine of the angle", "What is the dot product, and how long is each vector?"),),
        data=VectorAngle),
    Task("orthogonal", "the unknown entry that makes two vectors orthogonal", phrasings=(
        (50, rf"find {V} (?:so|such) that the vectors {A} and {B} are orthogonal"),),
        read=read_orthogonal,
        examples=(("Find $x$ so that the vectors $\\begin{pmatrix} 2 \\\\ 5 \\end{pmatrix}$ and "
                   "$\\begin{pmatrix} x \\\\ -3 \\end{pmatrix}$ are orthogonal.", "x = 15/2"),)),
    Task("midpoint", "the midpoint of a segment (the center of a diameter), or the sum or product of its "
                     "coordinates", phrasings=(
        (50, rf"(?:{WHAT} )?{_OF_COORDS}the midpoint of (?:the |a )?(?:line )?segment (?:with|whose) endpoints "
             rf"(?:are )?(?:at )?{A} and {B}"),
        # 'The endpoints of a line segment are (2, 3) and (8, 15). What is the sum of the coordinates of the midpoint
        # of the segment?', 'The points … and … are the endpoints of a diameter of a circle. What are the coordinates
        # of the center of the circle?'
        (50, rf"(?:the endpoints of (?P<what>a (?:line )?segment|a diameter of (?:a )?circle(?: ⟦\d+⟧)?) are "
             rf"{A} and {B}|(?:the )?points {A2} and {B2} are the endpoints of (?P<what2>a (?:line )?segment|a "
             rf"diameter of (?:a )?circle(?: ⟦\d+⟧)?))[.,;]? (?:{WHAT}|what are|what is) {_OF_COORDS}(?:the "
             rf"(?P<asked>midpoint|center)) of (?:the (?:line )?segment|(?:the )?circle(?: ⟦\d+⟧)?)"),),
        read=read_midpoint_said, solve=solve_midpoint, check=check_midpoint,
        examples=(("What is the sum of the coordinates of the midpoint of the segment with endpoints $(8, 5)$ and "
                   "$(2, -1)$?", "7"),
                  ("Find the midpoint of the segment with endpoints (1, 2) and (5, 10).", "(3, 6)"),
                  ("The endpoints of a diameter of circle $M$ are $(-3,-6)$ and $(-7,2)$. What are the coordinates "
                   "of the center of circle $M$?", "(-5, -2)")),
        questions=((r"^The midpoint averages", "What number is halfway between the two x-coordinates?"),),
        data=Midpoint),
    Task("otherend", "the other endpoint of a segment given its midpoint and one endpoint", phrasings=(
        (50, rf"the midpoint of (?:a |the )?(?:line )?segment is (?:located )?(?:at )?(?P<mid>⟦\d+⟧){_STOP}"
             rf"(?:if|and) one of (?:the|its) endpoints is (?:at )?(?P<end>⟦\d+⟧){_STOP}(?:{WHAT}|what is) "
             rf"{_OF_COORDS}the other endpoint"),
        (50, rf"(?:the )?point (?P<m>⟦\d+⟧) is the midpoint of (?P<seg>⟦\d+⟧){_STOP}if (?:the )?point "
             rf"(?P<e>⟦\d+⟧) has coordinates (?P<end>⟦\d+⟧){_STOP}(?:{WHAT}|what is) {_OF_COORDS}"
             rf"(?:the )?point (?P<o>⟦\d+⟧)")),
        read=read_other_end_said, solve=solve_other_end, check=check_other_end,
        examples=(("The midpoint of a line segment is located at $(1, -2)$. If one of the endpoints is $(4, 5)$, "
                   "what is the other endpoint?", "(-2, -9)"),
                  ("Point $M(3,7)$ is the midpoint of $\\overline{AB}$. If point $A$ has coordinates $(9,3)$, what "
                   "is the sum of the coordinates of point $B$?", "8")),
        questions=((r"^The midpoint is halfway", "How far is the midpoint from the endpoint you know?"),),
        data=OtherEnd),
    Task("slope", "the slope of the line through two points", phrasings=(
        (50, rf"(?:{WHAT} )?the slope of the line (?:that )?(?:passing |passes |going |goes )?(?:through|containing) "
             rf"(?:the points )?{A} and {B}"),),
        read=read_slope, solve=solve_slope, check=check_slope,
        examples=(("What is the slope of the line passing through $(-3,5)$ and $(2,-5)$?", "-2"),),
        questions=((r"^Rise over run", "How far up does the line go, and how far across?"),),
        data=Slope),
)
