"""The checker on answers written the way students write them, generated (issue 22): for each answer kind, a
problem, notations equal to its answer and near misses. The properties: an equal notation is never "wrong", a
near miss is never "verified". `make test-all` asserts them on thousands of cases; this script prints how often
each kind ends "unverifiable" (honest is required, useful is the goal).

python -m benchmarks.notations [--problems 30] [--seed 22]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from fractions import Fraction

from phiflash.symbolic.verify import UNVERIFIABLE, VERIFIED, WRONG, _check


def _num(q: Fraction) -> str:
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def _signed(k: int, var: str = "x") -> str:
    """+ 3x, - 3x, + x for use after another term."""
    if k == 0:
        return ""
    mag = "" if abs(k) == 1 and var else str(abs(k))
    return f" {'+' if k > 0 else '-'} {mag}{var}"


def number(rng: random.Random):
    """k·x + b = c with an integer root."""
    n, k, b = rng.randint(-40, 40), rng.randint(2, 9), rng.randint(-20, 20)
    problem = f"{k}x{_signed(b, '')} = {k * n + b}".replace(" + -", " - ")
    equal = [f"{n}", f"x = {n}", f"{n} = x", f"x={n}.", f"{n}.0", f"${n}$", f"\\boxed{{{n}}}", f"The answer is {n}.",
             f"x = ({n})", f"{2 * n}/2", f"x = {n} = {n}", f"{{{n}}}", f"x \\in \\{{{n}\\}}"]
    near = [f"{n + 1}", f"x = {n - 1}", f"y = {n}", f"x = {n} = {n + 1}", f"x = {n}, x = {n + 1}",
            f"{k}x = {k * n}"]
    if n != 0:
        near += [f"{-n}", f"{k * n}"]
    return problem, equal, near


def fraction(rng: random.Random):
    """k·x = m with a root that is a fraction in lowest terms, not an integer."""
    while True:
        q = Fraction(rng.randint(-30, 30), rng.randint(2, 12))
        if q.denominator > 1:
            break
    k = q.denominator * rng.randint(1, 3)
    m = q * k
    problem = f"{k}x = {_num(m)}"
    p, d = q.numerator, q.denominator
    equal = [f"{p}/{d}", f"x = {p}/{d}", f"\\frac{{{p}}}{{{d}}}", f"\\dfrac{{{p}}}{{{d}}}", f"({p})/({d})",
             f"{2 * p}/{2 * d}", f"x = {p}/{d}".replace("-", "−")]
    if p < 0:
        equal += [f"-\\frac{{{-p}}}{{{d}}}", f"-({-p}/{d})"]
    if 10 ** 6 % d == 0:
        equal.append(f"{float(q):g}")                                  # a terminating decimal, exactly
    elif d in (3, 9):                                                  # a repeating decimal: 0.333..., 0.(3)
        whole, rest = divmod(abs(p), d)
        digit, sign = str(rest * 9 // d), "-" if p < 0 else ""
        equal += [f"{sign}{whole}.{digit * 3}...", f"{sign}{whole}.({digit})"]
    if p > d:
        equal.append(f"{p // d} {p % d}/{d}")                           # a mixed number standing alone
    near = [f"{d}/{p}", f"{p}/{d + 1}", f"{p + 1}/{d}", f"x = {-p}/{d}", f"y = {p}/{d}", f"{p}{d}"]
    return problem, equal, near


def roots(rng: random.Random):
    """x² − (a+b)x + ab = 0 with two integer roots."""
    a, b = rng.sample(range(-15, 16), 2)
    problem = f"x^2{_signed(-(a + b))} {'+' if a * b >= 0 else '-'} {abs(a * b)} = 0".replace("  ", " ")
    equal = [f"x = {a}, x = {b}", f"x={b} or x={a}", f"{a}, {b}", f"{{{a}, {b}}}", f"x \\in \\{{{a}, {b}\\}}",
             f"x = {a} and x = {b}", f"{b} = x or {a} = x", f"x = {b}, {a}", f"\\{{{b},{a}\\}}",
             f"x={a} x={b}", f"x = {a}\nx = {b}", f"x = {a} ∨ x = {b}", f"{a}; {b}"]
    near = [f"x = {a}", f"x = {a}, x = {b + 1}", f"y = {a}, y = {b}", f"(x - {a})(x - {b}) = 0".replace("- -", "+ "),
            f"x = {a}, x = {b}, x = {a + b + 40}"]
    if {-a, -b} != {a, b}:
        near.append(f"x = {-a}, x = {-b}")
    return problem, equal, near


def interval(rng: random.Random):
    """a < k·x < b with rational ends, the ends written as decimals where they terminate and as fractions."""
    k = rng.randint(1, 6)
    lo = Fraction(rng.randint(-20, 10), rng.choice([1, 2, 4, 5]))
    hi = lo + Fraction(rng.randint(1, 12), rng.choice([1, 2, 4]))
    problem = f"{_num(k * lo)} < {k}x < {_num(k * hi)}"

    def show(q: Fraction) -> str:
        return str(q.numerator) if q.denominator == 1 else f"{float(q):g}" if 10 ** 6 % q.denominator == 0 \
            else _num(q)
    lo_s, hi_s = show(lo), show(hi)
    equal = [f"{lo_s} < x < {hi_s}", f"({lo_s}, {hi_s})", f"x > {lo_s} and x < {hi_s}", f"x ∈ ({lo_s}, {hi_s})",
             f"{hi_s} > x > {lo_s}", f"x < {hi_s} and x > {lo_s}", f"\\left({lo_s}, {hi_s}\\right)"]
    if (lo_s, hi_s) != (_num(lo), _num(hi)):
        equal.append(f"{_num(lo)} < x < {_num(hi)}")                   # the same ends as fractions
    near = [f"[{lo_s}, {hi_s}]", f"x < {lo_s} or x > {hi_s}", f"{lo_s} < x < {show(hi + 1)}",
            f"{show(lo - Fraction(1, 2))} < x < {hi_s}", f"x > {lo_s} or x < {hi_s}", f"{lo_s} < y < {hi_s}",
            f"({lo_s}, {hi_s}]", f"{lo_s} <= x < {hi_s}"]
    return problem, equal, near


def system(rng: random.Random):
    """x + y = s, x − y = d with an integer solution."""
    u, v = rng.randint(-12, 12), rng.randint(-12, 12)
    problem = f"x + y = {u + v}, x - y = {u - v}"
    equal = [f"x = {u}, y = {v}", f"({u}, {v})", f"{u}, {v}", f"y = {v}, x = {u}", f"x={u} and y={v}",
             f"(x, y) = ({u}, {v})", f"x={u} y={v}", f"x = {u}\ny = {v}"]
    near = [f"x = {u}, y = {v + 1}", f"x = {u}", f"({u + 1}, {v})", f"{u}"]
    if u != v:
        near.append(f"({v}, {u})")
    return problem, equal, near


def form(rng: random.Random):
    """factor / expand: the asked form is part of the task, the problem copied back is not its answer."""
    a, b = rng.sample([k for k in range(-9, 10) if k], 2)
    poly = f"x^2{_signed(a + b)} {'+' if a * b >= 0 else '-'} {abs(a * b)}".replace("  ", " ")
    fa, fb = f"(x{_signed(a, '')})", f"(x{_signed(b, '')})"
    if rng.random() < 0.5:
        problem = f"factor {poly}"
        equal = [f"{fa}{fb}", f"{fb}{fa}", f"{fa}*{fb}", f"{fb} \\cdot {fa}"]
        near = [poly, f"{fa}(x{_signed(-b, '')})", f"{fa}^2", f"(x{_signed(a + 1, '')}){fb}"]
    else:
        problem = f"expand {fa}{fb}"
        equal = [poly, f"x^2 + {a * b}{_signed(a + b)}".replace("+ -", "- "), f"{a * b}{_signed(a + b)} + x^2",
                 f"x*x{_signed(a + b)} + {a * b}".replace("+ -", "- ")]
        near = [f"{fa}{fb}", f"x^2{_signed(a + b + 1)} + {a * b}".replace("+ -", "- "),
                f"x^2{_signed(a + b)} + {a * b + 1}".replace("+ -", "- ")] + ([f"x^2 + {a * b}"] if a + b else [])
    return problem, equal, near


def calculus(rng: random.Random):
    """A derivative or an antiderivative of a polynomial term and a multiple of x."""
    n, c = rng.randint(2, 7), rng.choice([k for k in range(-9, 10) if k])
    if rng.random() < 0.5:
        problem = f"derivative of x^{n}{_signed(c)}"
        equal = [f"{n}x^{n - 1}{_signed(c, '')}", f"{c} + {n}x^{n - 1}", f"{n}*x^({n - 1}) + ({c})",
                 f"{n} x^{{{n - 1}}}{_signed(c, '')}", f"{n}x^{n - 1}{_signed(c, '')}".replace("^1 ", " "),
                 f"dy/dx = {n}x^{n - 1}{_signed(c, '')}", f"f'(x) = {n}x^{n - 1}{_signed(c, '')}"]
        near = [f"{n}x^{n}{_signed(c, '')}", f"{n}x^{n - 1}", f"{n - 1}x^{n}{_signed(c, '')}",
                f"x^{n - 1}{_signed(c, '')}"]
    else:
        problem = f"integrate {n}x^{n - 1}{_signed(c, '')}"
        equal = [f"x^{n}{_signed(c)} + C", f"x^{n}{_signed(c)}", f"{c}x + x^{n} + C", f"x^{n}{_signed(c)} + 7",
                 f"x^{n}{_signed(c)} + c"]
        near = [f"{n}x^{n}{_signed(c)}", f"x^{n + 1}{_signed(c)} + C", f"x^{n} + C", f"{n - 1}x^{n - 2} + C"]
    return problem, equal, near


def arithmetic(rng: random.Random):
    """a/b + c/d: the sum in its notations; near misses are the expression copied back, the classic
    (a+c)/(b+d), and the product."""
    while True:
        a, b, c, d = rng.randint(1, 9), rng.randint(2, 9), rng.randint(1, 9), rng.randint(2, 9)
        q = Fraction(a, b) + Fraction(c, d)
        if q != Fraction(a + c, b + d) and q != Fraction(a * c, b * d) and q.denominator > 1:
            break
    problem = f"What is {a}/{b} + {c}/{d}?"
    p, e = q.numerator, q.denominator
    equal = [f"{p}/{e}", f"\\frac{{{p}}}{{{e}}}", f"{2 * p}/{2 * e}", f"The answer is {p}/{e}."]
    if 10 ** 6 % e == 0:
        equal.append(f"{float(q):g}")
    if p > e:
        equal.append(f"{p // e} {p % e}/{e}")
    near = [f"{a}/{b} + {c}/{d}", f"{a + c}/{b + d}", f"{a * c}/{b * d}", f"{e}/{p}"]
    return problem, equal, near


FAMILIES = {"number": number, "arithmetic": arithmetic, "fraction": fraction, "root set": roots, "interval": interval,
            "system": system, "required form": form, "derivative/antiderivative": calculus}


def run(kind: str, problems: int, seed: int) -> tuple[Counter, Counter, list]:
    """(verdicts of equal notations, verdicts of near misses, [(problem, answer, verdict) breaking a property])."""
    rng = random.Random(f"{seed}-{kind}")
    equal_v, near_v, broken = Counter(), Counter(), []
    for _ in range(problems):
        problem, equal, near = FAMILIES[kind](rng)
        for answer in equal:
            v = _check(answer, problem, None)
            equal_v[v.status] += 1
            if v.status == WRONG:
                broken.append((problem, answer, v))
        for answer in near:
            v = _check(answer, problem, None)
            near_v[v.status] += 1
            if v.status == VERIFIED:
                broken.append((problem, answer, v))
    return equal_v, near_v, broken


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.notations")
    ap.add_argument("--problems", type=int, default=30, help="problems per answer kind")
    ap.add_argument("--seed", type=int, default=22)
    args = ap.parse_args()
    print(f"{'answer kind':28} {'cases':>6} {'equal: verified':>16} {'unverifiable':>13} {'wrong':>6}   "
          f"{'near: wrong':>12} {'unverifiable':>13} {'verified':>9}  seconds")
    for kind in FAMILIES:
        t0 = time.perf_counter()
        eq, nr, broken = run(kind, args.problems, args.seed)
        ne, nn = sum(eq.values()), sum(nr.values())
        print(f"{kind:28} {ne + nn:6d} {eq[VERIFIED] / ne:16.0%} {eq[UNVERIFIABLE] / ne:13.0%} {eq[WRONG]:6d}   "
              f"{nr[WRONG] / nn:12.0%} {nr[UNVERIFIABLE] / nn:13.0%} {nr[VERIFIED]:9d}  {time.perf_counter() - t0:.1f}")
        for problem, answer, v in broken:
            print(f"    BROKEN {problem!r} answered {answer!r}: {v.status} ({v.reason})")


if __name__ == "__main__":
    main()
