"""Number tasks: remainders, divisors, gcd/lcm, base conversion, discriminants and sums of series. Each answer is
computed one way and checked another (the check is a step of its own), so a verdict never rests on one method."""

from __future__ import annotations

import math

import sympy as sp

from .solver import Solution, SolveError, Step, register, to_base


@register("remainder")
def _remainder(p) -> Solution:
    a, n = int(p.expr), int(p.n)
    r = a % n
    steps = []
    if p.source:
        steps.append(Step("Sum the series first", sp.Integer(a)))
    if abs(a) > 10 ** 12:
        steps.append(Step(f"Reduce modulo {n} (Python's exact integers)", sp.Integer(r)))
    else:
        steps.append(Step(f"Divide: {a} = {n} · {a // n} + {r}", sp.Integer(r)))
    if (a - r) % n != 0 or not 0 <= r < n:
        raise SolveError("the remainder failed its check")
    steps.append(Step(f"Check: {a} − {r} is a multiple of {n}, and 0 ≤ {r} < {n}"))
    return Solution(p, sp.Integer(r), steps, list(p.notes), check="a − r divisible by n")


@register("divisors")
def _divisors(p) -> Solution:
    n = int(p.expr)
    fac = sp.factorint(n)
    count = math.prod(e + 1 for e in fac.values())
    steps = [Step("Prime factorization", sp.Mul(*[sp.Pow(q, e, evaluate=False) for q, e in fac.items()],
                                                evaluate=False) if fac else sp.Integer(1)),
             Step("A divisor picks each prime's exponent from 0 up to its power: multiply (exponent + 1)",
                  sp.Integer(count))]
    if n <= 10 ** 7:
        direct = sum(1 for d in range(1, math.isqrt(n) + 1) if n % d == 0 for _ in ((d,) if d * d == n else (d, n)))
        if direct != count:
            raise SolveError("the divisor count failed its check")
        steps.append(Step(f"Check: listing the divisors one by one also finds {direct}"))
    return Solution(p, sp.Integer(count), steps, check="count by listing")


@register("gcd", "lcm")
def _gcd_lcm(p) -> Solution:
    nums = [int(v) for v in p.items]
    g = math.gcd(*nums)
    if p.kind == "gcd":
        steps = [Step("Euclid's algorithm", sp.Integer(g))]
        if any(v % g for v in nums if g):
            raise SolveError("the gcd failed its check")
        facs = [sp.factorint(v) for v in nums]
        common = math.prod(q ** min(f.get(q, 0) for f in facs) for q in facs[0])
        if common != g:
            raise SolveError("the gcd failed its check")
        steps.append(Step("Check: the common prime powers multiply to the same number", sp.Integer(common)))
        return Solution(p, sp.Integer(g), steps, check="prime factorizations")
    lcm = math.lcm(*nums)
    facs = [sp.factorint(v) for v in nums]
    primes = set().union(*facs)
    other = math.prod(q ** max(f.get(q, 0) for f in facs) for q in primes)
    if other != lcm:
        raise SolveError("the lcm failed its check")
    return Solution(p, sp.Integer(lcm), [Step("Highest power of each prime", sp.Integer(other)),
                                          Step("Check: lcm via gcd gives the same", sp.Integer(lcm))],
                    check="prime factorizations and gcd")


@register("base")
def _base(p) -> Solution:
    n, b = int(p.expr), int(p.n)
    digits = to_base(n, b)
    steps = [Step(f"Divide by {b} repeatedly; the remainders, last first, are the digits", sp.Symbol(f"{digits}_{b}"))]
    back = sum(int(d, 36) * b ** k for k, d in enumerate(reversed(digits.lstrip("-")))) * (-1 if n < 0 else 1)
    if back != n:
        raise SolveError("the base conversion failed its check")
    steps.append(Step(f"Check: the digits times powers of {b} add back to {n}", sp.Integer(back)))
    return Solution(p, sp.Integer(n), steps, check="conversion back to base 10")


@register("discriminant")
def _discriminant(p) -> Solution:
    a, b, c = sp.Poly(p.expr, p.var).all_coeffs()
    d = sp.expand(b ** 2 - 4 * a * c)
    if sp.simplify(d - sp.discriminant(p.expr, p.var)) != 0:
        raise SolveError("the discriminant failed its check")
    return Solution(p, d, [Step(f"a = {a}, b = {b}, c = {c}"), Step("b² − 4ac", d),
                           Step("Check: SymPy's discriminant of the polynomial agrees")], check="two methods")


@register("series")
def _series_sum(p) -> Solution:
    from .reader import _series
    total, steps = _series(p.source)
    return Solution(p, total, steps, check="closed form and term-by-term sum")
