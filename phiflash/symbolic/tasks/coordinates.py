"""A point converted between rectangular, polar, cylindrical and spherical coordinates, and a point written again in
its system's standard representation ('Convert the point (1, −√3) in rectangular coordinates to polar
coordinates', 'In polar coordinates, the point (−2, 3π/8) is equivalent to what other point, in the standard polar
coordinate representation?').

Solved exactly by the textbook formulas (x = r cos θ, r = √(x² + y²), θ from atan2, φ = arccos(z/ρ)), the angle
put in the range the problem states, or the standard one: r > 0 (ρ > 0), 0 ≤ θ < 2π, 0 ≤ φ ≤ π. A point whose
angle is not determined (the origin, a point on the z-axis in spherical coordinates) is refused.

Checked by another method: each point is carried to rectangular coordinates by rotations, R_z(θ)·(r, 0, z) and
R_z(θ)·R_y(φ)·(0, 0, ρ), computed as 50-digit matrix products; the answer and the point given must land on the same
place, and the answer must meet every condition the problem states (and the standard ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp

from ..parse import ParseError, parse_math
from ..sentence import SLOT_RE, Sentence
from ..solution import plain
from .base import SolveError, Step, Task, Worked

R, THETA, PHI, RHO, X, Y, Z = sp.symbols("r theta phi rho x y z")
LETTERS = {"rectangular": None, "polar": (R, THETA), "cylindrical": (R, THETA, Z), "spherical": (RHO, THETA, PHI)}
TWO_PI = 2 * sp.pi


@dataclass(frozen=True)
class Conversion:
    point: tuple                   # the point as given, in the source system
    source: str                    # rectangular, polar, cylindrical, spherical
    target: str
    conditions: tuple = ()         # what the problem says the answer's coordinates are (r > 0, 0 ≤ θ < 2π)


def _letters(system: str, size: int) -> tuple:
    if system == "rectangular":
        return (X, Y) if size == 2 else (X, Y, Z)
    return LETTERS[system]


def _point(text: str, system: str) -> tuple:
    """'(1, −√3)' or '(ρ, θ, φ) = (12, 7π/6, π/3)': the numbers, with named letters that must be the system's."""
    names = None
    if "=" in text:
        left, text = text.split("=", 1)
        names = parse_math(left, latex=True)[0]
    items = parse_math(text, latex=True)
    if len(items) != 1 or not isinstance(items[0], (tuple, sp.Tuple)) or len(items[0]) not in (2, 3):
        raise ParseError("expected a point like (2, −6) or (1, 2, 3)")
    coords = tuple(sp.sympify(c) for c in items[0])
    if any(c.free_symbols or not c.is_real for c in coords):
        raise ParseError("a point's coordinates are real numbers")
    if system != "rectangular" and len(coords) != len(LETTERS[system]):
        raise ParseError(f"a point in {system} coordinates has {len(LETTERS[system])} coordinates")
    if names is not None and tuple(names) != _letters(system, len(coords)):
        raise ParseError("the point's letters are not those of its coordinate system")
    return coords


def _conditions(g: dict, s: Sentence, letters: tuple) -> tuple:
    found = []
    for k in SLOT_RE.findall(g.get("cond") or ""):
        for rel in parse_math(s.math[int(k)], latex=True):
            if not isinstance(rel, (sp.Rel, sp.And)) or not rel.free_symbols <= set(letters):
                raise ParseError("expected conditions on the answer's coordinates")
            found.append(rel)
    if g.get("form"):
        form = parse_math(s.slot(g, "form"), latex=True)
        if len(form) != 1 or tuple(form[0]) != letters:
            raise ParseError("the answer's form names other coordinates than the ones asked for")
    return tuple(found)


def read_conversion(g: dict, s: Sentence) -> Conversion:
    source, target = g["src"].lower(), (g.get("dst") or g["src"]).lower()
    point = _point(s.slot(g, "p"), source)
    if {source, target} & {"polar"} and len(point) != 2 or \
            {source, target} & {"cylindrical", "spherical"} and len(point) != 3:
        raise ParseError(f"a point in {source} coordinates cannot be written in {target} coordinates")
    return Conversion(point, source, target, _conditions(g, s, _letters(target, len(point))))


# ---- the formulas -----------------------------------------------------------------------------------------------


def _rectangular(system: str, c: tuple) -> tuple:
    if system == "polar":
        r, t = c
        return r * sp.cos(t), r * sp.sin(t)
    if system == "cylindrical":
        r, t, z = c
        return r * sp.cos(t), r * sp.sin(t), z
    if system == "spherical":
        rho, t, phi = c
        return rho * sp.sin(phi) * sp.cos(t), rho * sp.sin(phi) * sp.sin(t), rho * sp.cos(phi)
    return c


def _angle(x, y) -> sp.Expr:
    if x == 0 and y == 0:
        raise SolveError("the point is on the axis, so its angle θ could be anything: no single answer")
    t = sp.atan2(y, x)
    return sp.simplify(t + TWO_PI if t.is_negative else t)


def _from_rectangular(system: str, p: tuple) -> tuple:
    x, y = p[0], p[1]
    if system == "polar":
        return sp.sqrt(x ** 2 + y ** 2), _angle(x, y)
    if system == "cylindrical":
        return sp.sqrt(x ** 2 + y ** 2), _angle(x, y), p[2]
    rho = sp.sqrt(x ** 2 + y ** 2 + p[2] ** 2)
    if rho == 0:
        raise SolveError("the origin has no angles: no single answer")
    return rho, _angle(x, y), sp.acos(p[2] / rho)


def _standard(system: str, c: tuple) -> tuple:
    """The same point with r > 0 (ρ > 0), 0 ≤ φ ≤ π and 0 ≤ θ < 2π, by the identities of the angles."""
    c = list(c)
    if c[0] == 0:
        raise SolveError("the point is the origin: its angle could be anything")
    if system == "spherical":
        rho, t, phi = c
        phi = phi - TWO_PI * sp.floor(phi / TWO_PI)
        if phi > sp.pi:                   # past the pole: the same point by φ → 2π − φ, θ → θ + π
            phi, t = TWO_PI - phi, t + sp.pi
        if rho < 0:                       # through the origin: ρ → −ρ, φ → π − φ, θ → θ + π
            rho, phi, t = -rho, sp.pi - phi, t + sp.pi
        if phi in (0, sp.pi):
            raise SolveError("the point is on the z-axis, so its angle θ could be anything: no single answer")
        c = [rho, t, phi]
    elif c[0] < 0:                        # r → −r is the point across the origin: θ → θ + π
        c[0], c[1] = -c[0], c[1] + sp.pi
    c[1] = sp.simplify(c[1] - TWO_PI * sp.floor(c[1] / TWO_PI))
    return tuple(sp.simplify(v) for v in c)


def _same_point(system: str, c: tuple) -> list[tuple]:
    """Other ways of writing the point c: θ a whole turn on or back, r (ρ) negated with θ half a turn on (and φ
    mirrored), φ past the pole; two turns each way are enough for any stated range a problem gives."""
    if system == "rectangular":
        return []
    turns = [k * TWO_PI for k in (-2, -1, 1, 2)]
    half = [sp.pi + k * TWO_PI for k in (-2, -1, 0, 1)]
    out = [c[:1] + (c[1] + t,) + c[2:] for t in turns]
    if system == "spherical":   # (−ρ, θ + π, φ) is not the point: φ is mirrored too
        rho, theta, phi = c
        out += [(rho, theta + t, TWO_PI - phi) for t in half] + [(-rho, theta + t, sp.pi - phi) for t in half]
        out += [(rho, theta + t, phi + u) for t in [0, *turns] for u in (-TWO_PI, TWO_PI)]
    else:
        out += [(-c[0], c[1] + t) + c[2:] for t in half]
    return [tuple(sp.simplify(v) for v in o) for o in out]


def _meets(conditions: tuple, letters: tuple, c: tuple) -> bool:
    values = dict(zip(letters, c))
    return all(sp.simplify(rel.subs(values)) is sp.true for rel in conditions)


def _in_stated_range(conv: Conversion, c: tuple, letters: tuple) -> tuple:
    """The stated conditions may put θ elsewhere (−π < θ ≤ π): the one turn of θ that meets them all."""
    if _meets(conv.conditions, letters, c):
        return c
    turns = [c[:1] + (sp.simplify(c[1] + k * TWO_PI),) + c[2:] for k in (-1, 1)]
    fits = [t for t in turns if _meets(conv.conditions, letters, t)]
    if len(fits) != 1:
        raise SolveError("no one way of writing the point meets the conditions the problem states")
    return fits[0]


def solve_conversion(conv: Conversion) -> Worked:
    letters = _letters(conv.target, len(conv.point))
    names = ", ".join(plain(v) for v in letters)
    if conv.target == "rectangular":
        p = tuple(sp.simplify(v) for v in _rectangular(conv.source, conv.point))
        how = {"polar": "x = r cos θ, y = r sin θ", "cylindrical": "x = r cos θ, y = r sin θ, z = z",
               "spherical": "x = ρ sin φ cos θ, y = ρ sin φ sin θ, z = ρ cos φ"}[conv.source]
        return Worked(sp.Tuple(*p), [Step(f"Use {how}", sp.Tuple(*p))])
    if conv.source == "rectangular":
        how = {"polar": "r = √(x² + y²) and θ is the angle of (x, y) from the positive x-axis",
               "cylindrical": "r = √(x² + y²), θ is the angle of (x, y) from the positive x-axis, z = z",
               "spherical": "ρ = √(x² + y² + z²), θ is the angle of (x, y) from the positive x-axis, φ = arccos(z/ρ)"}
        c = _from_rectangular(conv.target, conv.point)
        steps = [Step(f"Use {how[conv.target]}", sp.Tuple(*c))]
    else:
        c = _standard(conv.source, conv.point)
        steps = [Step("Make the first coordinate positive and bring the angles into their standard ranges "
                      "(a turn of 2π, or through the origin with θ + π, is the same point)", sp.Tuple(*c))]
    found = _in_stated_range(conv, c, letters)
    if found != c:
        steps.append(Step("Turn θ by 2π to meet the conditions the problem states", sp.Tuple(*found)))
    steps[-1] = Step(f"{steps[-1].text}, the point as ({names})", sp.Tuple(*found))   # one step, not twice
    return Worked(sp.Tuple(*found), steps)


# ---- the check: rotations in 50-digit floating point -------------------------------------------------------------


def _rotated(system: str, c: tuple) -> list:
    def rz(t):
        return mpmath.matrix([[mpmath.cos(t), -mpmath.sin(t), 0], [mpmath.sin(t), mpmath.cos(t), 0], [0, 0, 1]])

    def ry(t):
        return mpmath.matrix([[mpmath.cos(t), 0, mpmath.sin(t)], [0, 1, 0], [-mpmath.sin(t), 0, mpmath.cos(t)]])

    v = [mpmath.mpf(sp.N(x, 60)) for x in c]
    if system == "rectangular":
        return v + [mpmath.mpf(0)] * (3 - len(v))
    if system == "spherical":
        out = rz(v[1]) * ry(v[2]) * mpmath.matrix([0, 0, v[0]])
    else:
        out = rz(v[1]) * mpmath.matrix([v[0], 0, v[2] if len(v) == 3 else 0])
    return [out[i] for i in range(3)]


def _at(given: list, system: str, c: tuple) -> bool:
    """c (in system) is the point given (in rectangular coordinates, 50-digit floating point)."""
    return all(abs(a - b) <= mpmath.mpf(10) ** -30 * (1 + abs(a)) for a, b in zip(given, _rotated(system, c)))


_STANDARD = {"polar": (R > 0, sp.And(THETA >= 0, THETA < TWO_PI)),
             "cylindrical": (R > 0, sp.And(THETA >= 0, THETA < TWO_PI)),
             "spherical": (RHO > 0, sp.And(THETA >= 0, THETA < TWO_PI), sp.And(PHI >= 0, PHI <= sp.pi))}


def check_conversion(conv: Conversion, w: Worked) -> Step:
    answer = tuple(w.answer)
    letters = _letters(conv.target, len(conv.point))
    with mpmath.workdps(50):
        given = _rotated(conv.source, conv.point)
        if not _at(given, conv.target, answer):
            raise SolveError("the answer is not the same point")
    wanted = conv.conditions + (() if conv.conditions or conv.target == "rectangular" else _STANDARD[conv.target])
    if not _meets(wanted, letters, answer):
        raise SolveError("the answer does not meet the conditions on its coordinates")
    others = [o for o in _same_point(conv.target, answer) if _meets(wanted, letters, o)]
    if others:   # '0 ≤ θ < 3π' lets (4√3, π/6) be written (4√3, 13π/6) too: the answer is not the one asked for
        raise SolveError(f"the conditions allow another way of writing the point too: {plain(sp.Tuple(*others[0]))}")
    said = "the conditions the problem states" if conv.conditions else "the standard ranges"
    tail = "" if conv.target == "rectangular" else f", and the answer meets {said}"
    return Step("Check: carried to rectangular coordinates by rotations about the axes, in 50-digit floating point, "
                f"the answer and the point given are the same point{tail}")


_SYSTEM = r"rectangular|polar|cylindrical|spherical"
_FORM = r"(?:\s*[.]?\s*enter your answer in the form (?P<form>⟦\d+⟧)\s*,?(?: where (?P<cond>⟦\d+⟧(?:\s*,?\s*" \
        r"(?:and )?⟦\d+⟧)*))?)?"

TASKS = (
    Task("coordinates", "a point converted between rectangular, polar, cylindrical and spherical coordinates, or "
                        "written in its system's standard representation",
         phrasings=(
        (50, rf"convert the point (?P<p>⟦\d+⟧) in (?P<src>{_SYSTEM}) coordinates to (?P<dst>{_SYSTEM}) "
             rf"coordinates{_FORM}"),
        (50, rf"in (?P<src>polar|cylindrical|spherical) coordinates,? the point (?P<p>⟦\d+⟧) is equivalent to what "
             rf"other point,? in the standard (?P=src) coordinate representation\s*\??{_FORM}"),),
        read=read_conversion, solve=solve_conversion, check=check_conversion,
        examples=((r"Convert the point $(1,-\sqrt{3})$ in rectangular coordinates to polar coordinates.  Enter your "
                   r"answer in the form $(r,\theta),$ where $r > 0$ and $0 \le \theta < 2 \pi.$",
                   "(2, 5pi/3)"),
                  (r"Convert the point $\left( 8, \frac{7 \pi}{6} \right)$ in polar coordinates to rectangular "
                   r"coordinates.", "(-4√3, -4)"),
                  (r"Convert the point $(\rho,\theta,\phi) = \left( 4, \frac{5 \pi}{3}, \frac{\pi}{2} \right)$ in "
                   r"spherical coordinates to rectangular coordinates.", "(2, -2√3, 0)"),
                  (r"Convert the point $( 1, -1, -6 )$ in rectangular coordinates to cylindrical coordinates.  Enter "
                   r"your answer in the form $(r,\theta,z),$ where $r > 0$ and $0 \le \theta < 2 \pi.$",
                   "(√2, 7pi/4, -6)"),
                  (r"Convert the point $(\sqrt{3}, 1, 2)$ in rectangular coordinates to spherical coordinates.",
                   "(2√2, pi/6, pi/4)"),
                  (r"In polar coordinates, the point $\left( -3, \frac{\pi}{5} \right)$ is equivalent to what other "
                   r"point, in the standard polar coordinate representation?  Enter your answer in the form "
                   r"$(r,\theta),$ where $r > 0$ and $0 \le \theta < 2 \pi.$", "(3, 6pi/5)")),
        questions=((r"^Use x = ", "What are the formulas that take r and θ to x and y?"),
                   (r"^Use r = |^Use ρ = ",
                    "How far is the point from the origin, and in which direction does it lie?")),
        data=Conversion),
)
