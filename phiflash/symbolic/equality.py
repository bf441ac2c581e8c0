"""The one test of "is this zero?" that the solver (does a root satisfy the equation?) and the checker (are two
answers equal?) share, so the two can never disagree.

Symbolic first (simplify, then SymPy's `equals`); when neither proves nor refutes it, the expression is evaluated
at a few exact random points: one clearly non-zero value refutes it, and only an expression with no free symbols
that evaluates to exactly zero counts as proved. Anything else is undecided, which callers report as such.
"""

from __future__ import annotations

import random

import sympy as sp


class Undecidable(Exception):
    """Equality could be neither proved nor refuted."""


def numeric(expr) -> complex:
    return complex(sp.N(expr, 30))


def is_zero(expr) -> bool | None:
    """True (proved zero), False (proved non-zero) or None (undecided)."""
    if not isinstance(expr, sp.Basic):
        return expr == 0
    if expr.has(sp.nan, sp.zoo) or expr.has(sp.oo, -sp.oo):
        return False if expr.is_infinite or expr.has(sp.nan, sp.zoo) else None
    d = sp.simplify(expr)
    if d == 0:
        return True
    z = d.equals(0)
    if z is not None:
        return bool(z)
    free = sorted(d.free_symbols, key=lambda s: s.name)
    rng = random.Random(0)
    exact_zero = True
    for _ in range(4):
        point = {s: sp.Rational(rng.randint(1, 97), rng.randint(1, 13)) for s in free}
        try:
            v = abs(numeric(d.subs(point)))
        except (TypeError, ValueError):
            return None
        if v > 1e-20:
            return False
        exact_zero &= v == 0
    return True if exact_zero and not free else None


def identical(a, b) -> bool:
    """a − b is zero; raises Undecidable when that can be neither proved nor refuted."""
    z = is_zero(a - b)
    if z is None:
        raise Undecidable(f"cannot prove {a} = {b}")
    return z
