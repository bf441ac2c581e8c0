"""Divisors, greatest common divisors and least common multiples of whole numbers."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..sentence import WHAT, A, Sentence, integer, list_items
from .base import NotMine, SolveError, Step, Task, Worked
from .primes import divisors_in_pairs


def _superscript(e: int) -> str:
    return "" if e == 1 else str(e).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _factored(fac: dict) -> str:
    return " · ".join(f"{q}{_superscript(e)}" for q, e in fac.items()) if fac else "1"


@dataclass(frozen=True)
class Divisors:
    n: int


def read_divisors(g: dict, s: Sentence) -> Divisors:
    a = integer(s.slot(g, "a"))
    if a <= 0:
        raise ParseError("count divisors of a positive whole number")
    return Divisors(int(a))


def solve_divisors(d: Divisors) -> Worked:
    fac = sp.factorint(d.n)
    count = math.prod(e + 1 for e in fac.values())
    # text, not an unevaluated product: that would not survive pickling
    return Worked(sp.Integer(count), [
        Step(f"Prime factorization: {d.n} = {_factored(fac)}"),
        Step("A divisor picks each prime's exponent from 0 up to its power: multiply (exponent + 1)",
             sp.Integer(count))])


def check_divisors(d: Divisors, w: Worked) -> Step:
    """Listed in pairs d, n/d with d ≤ √n (up to 10¹⁴, 10⁷ trial divisions)."""
    n = d.n
    if n > 10 ** 14:
        raise SolveError("too large to check by listing the divisors")
    direct = len(divisors_in_pairs(n))
    if direct != w.answer:
        raise SolveError("the divisor count failed its check")
    return Step(f"Check: listing the divisors one by one, in pairs d and {n}/d, also finds {direct}")


@dataclass(frozen=True)
class Common:
    nums: tuple[int, ...]
    which = ""


class Gcd(Common):
    which = "gcd"


class Lcm(Common):
    which = "lcm"


_WRITTEN = {"gcd": r"\\(?:gcd|operatorname\s*\{gcd\})\s*(?:\\left)?\s*\((?P<a>.*)\)",
            "lcm": r"\\(?:operatorname\s*\{lcm\}|text\s*\{lcm\}|mathop\s*\{\\text\s*\{lcm\}\})\s*(?:\\left)?\s*"
                   r"[\[(](?P<a>.*)(?:\\right)?\s*[\])]"}


def read_common(kind: type):
    def read(g: dict, s: Sentence) -> Common:
        if g.get("f"):      # '$\gcd(83^9 + 1, 83^9 + 83^2 + 1)$': the function as written in the math
            m = re.fullmatch(_WRITTEN[kind.which], s.slot(g, "f").strip(), re.S)
            if not m:
                raise NotMine(f"not a {kind.which} written out")
            text = m.group("a").removesuffix("\\right")
        else:
            text = s.slot(g, "a")
        nums = tuple(int(integer(x)) for x in list_items(text))
        if len(nums) < 2:
            raise ParseError(f"a {kind.which} needs two or more whole numbers")
        if kind is Lcm and 0 in nums or not any(nums):   # the gcd of 12 and 0 is 12 (0 only adds nothing)
            raise ParseError(f"the {kind.which} is read here for nonzero whole numbers")
        return kind(nums)
    return read


def solve_common(c: Common) -> Worked:
    """gcd by Euclid's algorithm; lcm as a·b/gcd(a, b), one number at a time."""
    if c.which == "gcd":
        return Worked(sp.Integer(math.gcd(*c.nums)), [Step("Euclid's algorithm", sp.Integer(math.gcd(*c.nums)))])
    lcm = abs(c.nums[0])
    for v in c.nums[1:]:
        lcm = lcm * abs(v) // math.gcd(lcm, v)
    return Worked(sp.Integer(lcm), [Step("Combine them one at a time: lcm(a, b) = a·b / gcd(a, b)",
                                         sp.Integer(lcm))])


def _bezout(a: int, b: int) -> tuple[int, int, int]:
    """Extended Euclid written out: g, x, y with a·x + b·y = g."""
    x0, y0, x1, y1 = 1, 0, 0, 1
    while b:
        q, a, b = a // b, b, a % b
        x0, x1, y0, y1 = x1, x0 - q * x1, y1, y0 - q * y1
    return a, x0, y0


def check_common(c: Common, w: Worked) -> Step:
    """From the prime factorizations: the lowest power of each common prime, or the highest of each prime. Numbers
    too large to factor: a gcd by its certificate (it divides each number, and a combination of them equals it)."""
    g = int(w.answer)
    if max(abs(v) for v in c.nums) > 10 ** 24:
        if c.which != "gcd" or len(c.nums) != 2 or g <= 0:
            raise SolveError("too large to factor for the check")
        a, b = c.nums
        _, x, y = _bezout(a, b)
        if a % g or b % g or a * x + b * y != g:
            raise SolveError("the gcd failed its certificate")
        return Step(f"Check: {g} divides both numbers, and a whole-number combination of them (by Euclid's steps "
                    f"written out) equals {g}, so no larger number divides both")
    facs = [sp.factorint(abs(v)) for v in c.nums if v]
    primes = set().union(*facs)
    pick = min if c.which == "gcd" else max
    again = math.prod(q ** pick(f.get(q, 0) for f in facs) for q in primes)
    if again != w.answer:
        raise SolveError(f"the {c.which} failed its check")
    said = ", ".join(_factored(f) for f in facs)
    return Step(f"Check: from the prime factorizations {said}, the "
                f"{'lowest power of each common prime' if c.which == 'gcd' else 'highest power of each prime'} "
                "multiplies to the same number", sp.Integer(again))


@dataclass(frozen=True)
class GcdTimesLcm:
    nums: tuple[int, ...]


_LCM = r"(?:least common multiple|lcm)(?: \((?:lcm)\))?"
_GCD = r"(?:greatest common (?:divisor|factor)|gcd|gcf)(?: \((?:gcd|gcf)\))?"


def read_gcd_times_lcm(g: dict, s: Sentence) -> GcdTimesLcm:
    lists = [tuple(int(integer(x)) for x in list_items(s.slot(g, k))) for k in ("a", "a2") if g.get(k)]
    if len(lists) == 2 and lists[0] != lists[1]:
        raise ParseError("the gcd and the lcm of different numbers")
    nums = lists[0]
    if len(nums) < 2 or any(v <= 0 for v in nums):
        raise ParseError("a gcd and an lcm of two or more positive whole numbers")
    return GcdTimesLcm(nums)


def solve_gcd_times_lcm(t: GcdTimesLcm) -> Worked:
    gcd, lcm = math.gcd(*t.nums), math.lcm(*t.nums)
    return Worked(sp.Integer(gcd * lcm), [Step("The greatest common divisor, by Euclid's algorithm", sp.Integer(gcd)),
                                          Step("The least common multiple", sp.Integer(lcm)),
                                          Step("Multiply them", sp.Integer(gcd * lcm))])


def check_gcd_times_lcm(t: GcdTimesLcm, w: Worked) -> Step:
    """From the prime factorizations: each prime to the power (lowest + highest) of its exponents; for two numbers
    that is their product."""
    facs = [sp.factorint(v) for v in t.nums]
    primes = set().union(*facs)
    again = math.prod(q ** (min(f.get(q, 0) for f in facs) + max(f.get(q, 0) for f in facs)) for q in primes)
    if again != w.answer or len(t.nums) == 2 and again != t.nums[0] * t.nums[1]:
        raise SolveError("the gcd times the lcm failed its check")
    tail = f", which for two numbers is their product {t.nums[0]} · {t.nums[1]}" if len(t.nums) == 2 else ""
    return Step("Check: from the prime factorizations, each prime to its lowest plus its highest power multiplies to "
                f"the same{tail}")


TASKS = (
    Task("divisors", "the number of positive divisors of a whole number", phrasings=(
        (50, rf"how many positive (?:whole-number |integer )?(?:divisors|factors) does {A} have"),),
        read=read_divisors, solve=solve_divisors, check=check_divisors,
        examples=(("How many positive divisors does 360 have?", "24"),
                  ("How many positive whole-number divisors does $196$ have?", "9")),
        questions=((r"^Prime factorization", "Can you write the number as a product of prime powers?"),
                   (r"^A divisor picks", "How many choices are there for each prime's exponent in a divisor?")),
        data=Divisors),
    Task("gcd", "the greatest common divisor of whole numbers", phrasings=(
        (50, rf"(?:{WHAT} )?the (?:greatest common (?:divisor|factor)|gcd) of (?:the numbers )?{A}"),
        (50, rf"(?:{WHAT} )?(?P<f>⟦\d+⟧)"),),
        read=read_common(Gcd), solve=solve_common, check=check_common,
        examples=(("What is the greatest common factor of 68 and 92?", "4"),
                  ("Find the greatest common divisor of 12, 18 and 30.", "6"),
                  (r"What is $\gcd(2^{1001}-1, 2^{1012}-1)$?", "2047")),
        questions=((r"^Euclid", "What is left when you divide the larger number by the smaller?"),),
        data=Gcd),
    Task("lcm", "the least common multiple of whole numbers", phrasings=(
        (50, rf"(?:{WHAT} )?the (?:least common multiple|lcm) of (?:the numbers )?{A}"),
        (50, rf"(?:{WHAT} )?(?P<f>⟦\d+⟧)"),),
        read=read_common(Lcm), solve=solve_common, check=check_common,
        examples=(("What is the least common multiple of 12, 18 and 30?", "180"),),
        questions=((r"^Combine them", "How are the lcm and the gcd of two numbers related?"),),
        data=Lcm),
    Task("gcdlcm", "the product of the greatest common divisor and the least common multiple of whole numbers",
         phrasings=(
        (50, rf"(?:{WHAT} )?the product of the (?:{_LCM} and the {_GCD}|{_GCD} and the {_LCM}) of {A}"),
        (50, rf"(?:{WHAT} )?the product of the {_LCM} of (?P<a2>.+?) and the {_GCD} of {A}"),
        (50, rf"(?:{WHAT} )?the product of the {_GCD} of (?P<a2>.+?) and the {_LCM} of {A}"),),
        read=read_gcd_times_lcm, solve=solve_gcd_times_lcm, check=check_gcd_times_lcm,
        examples=(("What is the product of the least common multiple and the greatest common factor of $20$ and "
                   "$90$?", "1800"),
                  ("Find the product of the least common multiple (LCM) of $8$ and $6$ and the greatest common "
                   "divisor (GCD) of $8$ and $6$.", "48")),
        questions=((r"^The greatest common divisor, by Euclid", "Which is the largest number dividing all of them?"),),
        data=GcdTimesLcm),
)
