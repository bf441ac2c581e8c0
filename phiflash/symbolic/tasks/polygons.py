"""The area of a triangle or a quadrilateral given by its vertices: 'Find the area of the triangle with vertices
(−1, 4), (7, 0) and (11, 5)', 'How many square units are in the area of the parallelogram with vertices at (0, 0),
(6, 0), (2, 8) and (8, 8)?', 'Find the area of the triangle with vertices (0, 7, 10), (−1, 6, 6), (−4, 9, 6)'.

Solved by the shoelace formula (a triangle in space: half the length of a cross product). A parallelogram, a
rectangle, a square or a trapezoid is convex, so its vertices, listed in any order, are taken around their convex
hull (all four must be corners of it); a quadrilateral of no named kind is taken in the order written, which must
not cross itself. Checked another way: the polygon cut into triangles from its first corner, each triangle's area
by Heron's formula from its side lengths, in 50-digit floating point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import mpmath
import sympy as sp

from ..parse import ParseError
from ..sentence import WHAT, Sentence, number
from .base import SolveError, Step, Task, Worked

_CONVEX = {"parallelogram", "rectangle", "square", "trapezoid", "rhombus"}
_POINT = re.compile(r"\(\s*([^(),]+?)\s*,\s*([^(),]+?)\s*(?:,\s*([^(),]+?)\s*)?\)")


@dataclass(frozen=True)
class Polygon:
    shape: str                  # triangle, quadrilateral, parallelogram, …
    points: tuple               # (x, y) or (x, y, z) tuples of exact numbers, as written


def _points(text: str) -> tuple:
    found = [tuple(number(c) for c in m.groups() if c is not None) for m in _POINT.finditer(text)]
    rest = _POINT.sub(" ", text)
    if re.sub(r"\b[A-Z]\b|\\[ ,;]|[\s,$~]|\band\b|\bat\b", "", rest):
        raise ParseError("expected a list of vertices such as (0, 0), (6, 0) and (2, 8)")
    if not found or len({len(p) for p in found}) != 1 or any(not c.is_real for p in found for c in p):
        raise ParseError("vertices with two (or three) real coordinates each")
    return tuple(found)


def read_polygon(g: dict, s: Sentence) -> Polygon:
    shape = g["shape"].lower()
    points = _points(s.slot(g, "pts"))
    if g.get("shape2") and g["shape2"].lower() != shape:
        raise ParseError("the shape asked about is not the one described")
    need = 3 if shape == "triangle" else 4
    if len(points) != need or len(set(points)) != need:
        raise ParseError(f"a {shape} has {need} different vertices")
    if len(points[0]) == 3 and shape != "triangle":
        raise ParseError("a quadrilateral's vertices are read in the plane")
    return Polygon(shape, points)


def _cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _hull_order(points: tuple) -> tuple:
    """The corners of the convex hull in counterclockwise order (Andrew's monotone chain); every point must be one."""
    pts = sorted(points, key=lambda p: (sp.N(p[0], 50), sp.N(p[1], 50)))
    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    if len(hull) != len(points):
        raise SolveError("the vertices are not the corners of a convex figure")
    return tuple(hull)


def _segments_cross(p, q, r, t) -> bool:
    d = [_cross(p, q, r), _cross(p, q, t), _cross(r, t, p), _cross(r, t, q)]
    return d[0] * d[1] < 0 and d[2] * d[3] < 0


def solve_polygon(poly: Polygon) -> Worked:
    if len(poly.points[0]) == 3:                 # a triangle in space: half |AB × AC|
        a, b, c = (sp.Matrix(p) for p in poly.points)
        area = sp.sqrt(sp.simplify((b - a).cross(c - a).dot((b - a).cross(c - a)))) / 2
        area = sp.simplify(area)
        return Worked(area, [Step("Half the length of the cross product of two sides", area)],
                      facts={"order": poly.points})
    order = poly.points
    if poly.shape in _CONVEX:
        order = _hull_order(poly.points)
    elif poly.shape == "quadrilateral" and (_segments_cross(*order[0:2], *order[2:4]) or
                                            _segments_cross(order[1], order[2], order[3], order[0])):
        raise SolveError("the vertices in the order written make a figure that crosses itself")
    twice = sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(order, order[1:] + order[:1]))
    area = sp.Abs(sp.simplify(twice)) / 2          # 0 when the vertices lie on one line, as in space
    how = "around the convex hull" if order != poly.points else "in the order written"
    return Worked(area, [Step(f"The shoelace formula, the vertices taken {how}: half of |Σ (xᵢyᵢ₊₁ − xᵢ₊₁yᵢ)|",
                              area)], facts={"order": order})


def check_polygon(poly: Polygon, w: Worked) -> Step:
    order = w.facts["order"]
    with mpmath.workdps(50):
        pts = [[mpmath.mpf(sp.N(c, 60)) for c in p] for p in order]
        total = mpmath.mpf(0)
        for i in range(1, len(pts) - 1):
            a, b, c = (mpmath.sqrt(sum((u - v) ** 2 for u, v in zip(p, q)))
                       for p, q in ((pts[0], pts[i]), (pts[i], pts[i + 1]), (pts[i + 1], pts[0])))
            s = (a + b + c) / 2
            total += mpmath.sqrt(max(s * (s - a) * (s - b) * (s - c), 0))
        want = mpmath.mpf(sp.N(w.answer, 60))
        if abs(total - want) > mpmath.mpf(10) ** -20 * (1 + want):
            raise SolveError("the triangles' areas do not add up to the answer")
    return Step("Check: cut into triangles from the first corner, each area by Heron's formula from its side lengths, "
                "the areas add up to the same")


_SHAPE = r"(?P<shape>triangle|quadrilateral|parallelogram|rectangle|square|trapezoid|rhombus)"
_LABEL = r"(?: \$?[A-Z]{3,4}\$?| ⟦\d+⟧)?"
_PTS = r"(?P<pts>.+?)"
_AREA = r"(?:(?:{WHAT}|what is) )?the (?:number of square units in the )?area,?(?: in square units,)? of"

TASKS = (
    Task("polygonarea", "the area of a triangle (in the plane or in space) or a quadrilateral given by its vertices",
         phrasings=(
        (50, rf"{_AREA.format(WHAT=WHAT)} (?:(?:the|a) )?{_SHAPE}{_LABEL} (?:with|whose) (?:the (?:four |three )?)?"
             rf"vertices (?:are )?(?:at )?{_PTS}"),
        (50, rf"how many square units are in the area of (?:(?:the|a) )?{_SHAPE}{_LABEL} (?:with|whose) (?:the )?"
             rf"vertices (?:are )?(?:at )?{_PTS}"),
        (50, rf"(?:when plotted in the standard rectangular coordinate system,? )?(?:an? |the )?{_SHAPE}{_LABEL}"
             rf"(?: in (?:a|the) cartesian coordinate plane| in the plane)? has vertices (?:at )?(?:coordinates )?"
             rf"{_PTS}\s*[.,]\s*(?:how many square units (?:are in|is) the area of the (?P<shape2>\w+)|"
             rf"{_AREA.format(WHAT=WHAT)} (?:the )?(?P<shape3>\w+){_LABEL}(?:, in square units)?)"),),
        read=lambda g, s: read_polygon(g | {"shape2": g.get("shape2") or g.get("shape3")}, s),
        solve=solve_polygon, check=check_polygon,
        examples=((r"Find the area of the triangle with vertices $(-1,4),$ $(7,0),$ and $(11,5).$", "28"),
                  ("How many square units are in the area of the parallelogram with vertices at (0, 0), (6, 0), "
                   "(2, 8) and (8, 8)?", "48"),
                  (r"Find the area of the triangle with vertices $(0,7,10),$ $(-1,6,6),$ and $(-4,9,6).$", "9")),
        questions=((r"^The shoelace formula|^Half the length", "How can you find the area from the coordinates?"),),
        data=Polygon),
)
