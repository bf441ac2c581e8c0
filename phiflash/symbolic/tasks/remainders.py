"""Remainders and modular inverses: 'the remainder when 129^34 is divided by 11', 'the units digit of 7^35',
'17 mod 5', 'the inverse of 4 modulo 35'. A remainder of polynomials is polynomial division (polynomials.py)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..sentence import ATOM, WHAT, A, B, Sentence, has_dots, has_variable, integer, number, one, plain_series
from .base import SolveError, Step, Task, Worked
from .patterns import dotted_total, read_dotted
from .polynomials import division


@dataclass(frozen=True)
class Remainder:
    a: int | None          # the dividend, or None for a sum or product written with … (worked out when solving)
    n: int
    series: object = None  # that sum or product as read (patterns.read_dotted)
    units: bool = False    # asked as "the units digit" (or the last k digits: n = 10^k)
    digit_sum: bool = False    # the sum of those last digits


_HOW_MANY = {"two": 2, "three": 3, "four": 4, "2": 2, "3": 3, "4": 4}


def read_remainder(g: dict, s: Sentence):
    a_text = s.slot(g, "a")
    if "b" in g and has_variable(a_text):
        return division(s.slot(g, "a"), s.slot(g, "b"), "remainder")
    n = 10 ** _HOW_MANY.get((g.get("k") or "").lower(), 1) if "b" not in g else int(integer(s.slot(g, "b")))
    asked = {"units": "b" not in g, "digit_sum": bool(g.get("sum"))}
    if has_dots(a_text):
        return Remainder(None, n, read_dotted(plain_series(a_text)), **asked)
    a = number(a_text)
    if not a.is_Integer or n <= 0:
        raise ParseError("a remainder needs a whole number and a positive divisor")
    return Remainder(int(a), n, **asked)


def _short(a: int) -> str:
    """A whole number as a teacher writes it down: in full up to 30 digits, else its size and last digits (1! + … +
    2006! has 5,700 digits, more than Python will even turn into text by default)."""
    if abs(a) < 10 ** 30:
        return str(a)
    digits = int(abs(a).bit_length() * 0.30102999566398120) + 1
    return f"a number of about {digits:,} digits ending in …{abs(a) % 10 ** 6:06d}"


def solve_remainder(d: Remainder) -> Worked:
    steps = []
    a = d.a
    if d.series:
        a, _ = dotted_total(d.series)    # found, and checked by a second method
        if not a.is_Integer:
            raise SolveError("the sum is not a whole number")
        a = int(a)
        steps.append(Step("Work out the sum or product first (checked by a second method)", sp.Integer(a))
                     if abs(a) < 10 ** 30 else Step(f"Work out the sum or product first (checked by a second "
                                                     f"method): {_short(a)}"))
    n, r = d.n, a % d.n
    if abs(a) > 10 ** 12:
        steps.append(Step(f"Reduce {_short(a)} modulo {n}", sp.Integer(r)))
    else:  # the quotient first, so the first step (a tutor's first hint) does not give the answer away
        steps.append(Step(f"Divide {a} by {n}: {n} goes into it {a // n} whole times", sp.Integer(a // n)))
        steps.append(Step(f"Take away {n} · {a // n} = {n * (a // n)}: what is left is the remainder",
                          sp.Integer(r)))
    k = len(str(n)) - 1
    notes = [] if not d.units else ["the units digit is the remainder mod 10"] if n == 10 else [
        f"the last {k} digits are the remainder mod {n}: {r:0{k}d}"]
    if abs(a) < n // 10 and d.units:
        raise SolveError(f"{a} has fewer than {k} digits")
    if d.digit_sum:
        total = sum(int(c) for c in f"{r:0{k}d}")
        steps.append(Step(f"Add the digits of {r:0{k}d}", sp.Integer(total)))
        return Worked(sp.Integer(total), steps, notes, facts={"a": a})
    return Worked(sp.Integer(r), steps, notes, facts={"a": a})


def check_remainder(d: Remainder, w: Worked) -> Step:
    a, r = w.facts["a"], int(w.answer)
    if d.digit_sum:   # the digits again, from the number's decimal text (its last k characters)
        k = len(str(d.n)) - 1
        if abs(a) >= 10 ** 4000 or sum(int(c) for c in str(abs(a))[-k:].rjust(k, "0")) != int(w.answer):
            raise SolveError("the sum of the last digits failed its check")
        return Step(f"Check: the last {k} digits of the number written out add up to {w.answer}")
    q, rest = divmod(a - int(r), d.n)      # the definition: a = q·n + r with 0 ≤ r < n
    if rest != 0 or not 0 <= r < d.n or q * d.n + int(r) != a:
        raise SolveError("the remainder failed its check")
    return Step(f"Check: {_short(a)} − {r} is a multiple of {d.n}, and 0 ≤ {r} < {d.n}")


@dataclass(frozen=True)
class Residue:
    """p/q modulo n, that is p·q⁻¹: the inverse of q when p = 1."""
    p: int
    q: int
    n: int


def read_residue(g: dict, s: Sentence):
    written = s.slot(g, "a") if g.get("a") else s.slot(g, "ainv")
    a = one(written)
    n = integer(s.slot(g, "b"))
    if g.get("a"):   # "the inverse of a modulo n"
        if not a.is_Integer or n < 2:
            raise ParseError("a modular inverse needs a whole number and a modulus of 2 or more")
        return Residue(1, int(a), int(n))
    if a.is_Integer:  # "17 mod 5": a remainder
        if n <= 0:
            raise ParseError("a remainder needs a positive divisor")
        return Remainder(int(a), int(n))
    # a fraction is read modulo n only where inverses are written (997^{-1}, 3^{-1} + 3^{-2}): 7/2 mod 5 is not
    if not (a.is_Rational and re.search(r"\^\s*\{?\s*-", written)) or n < 2:
        raise ParseError("read as a whole number, or inverses written a^{-1}, modulo n")
    return Residue(int(a.p), int(a.q), int(n))


def solve_residue(d: Residue) -> Worked:
    """q⁻¹ modulo n by the extended Euclidean algorithm, times p."""
    if math.gcd(d.q, d.n) != 1:
        raise SolveError(f"{d.q} has no inverse modulo {d.n}: they share the factor {math.gcd(d.q, d.n)}")
    inv = pow(d.q, -1, d.n)
    steps = [Step(f"Find x with {d.q}·x leaving remainder 1 on division by {d.n} (extended Euclid)", sp.Integer(inv))]
    if d.p != 1:
        steps.append(Step(f"Multiply by {d.p} and reduce modulo {d.n}", sp.Integer(d.p * inv % d.n)))
    return Worked(sp.Integer(d.p * inv % d.n), steps)


def check_residue(d: Residue, w: Worked) -> Step:
    r = int(w.answer)
    product = d.q * r
    if (product - d.p) % d.n != 0 or not 0 <= r < d.n:
        raise SolveError("the inverse failed its check")
    if d.p == 1:
        return Step(f"Check: {d.q} · {r} = {product} = {d.n} · {product // d.n} + 1")
    return Step(f"Check: {d.q} · {r} − {d.p} = {product - d.p} is a multiple of {d.n}")


# 'the remainder when the sum 75 + 76 + … is divided by 16', 'the units digit of the product …': the words name the
# math that follows (a slot of its own), they add nothing to it
_THE = (r"(?:the (?:following )?(?:sum|product|number|expression|integer)\s*[,:]?\s*(?=⟦)|the sum of the series,?\s*"
        r"(?=⟦))?")

TASKS = (
    Task("remainder", "the remainder of a whole number (a power, a product, a sum written with …) on division, "
         "or its units digit (its last digits, their sum)", phrasings=(
             (50, rf"(?:{WHAT} )?the (?:whole number )?remainder (?:when|of) {_THE}{A} (?:is )?divided by {B}"),
             (50, rf"(?:{WHAT} )?the (?:remainder|residue) of {_THE}{A}\s*,?\s*\(?mod(?:ulo)? {B}\)?"),
             (50, rf"(?:{WHAT} )?the modulo {B} (?:remainder|residue) of (?:the following sum:? |the sum )?{A}"),
             (50, rf"(?:{WHAT} )?the (?:units|ones) digit (?:of|in) {_THE}{A}(?: when written(?: as an integer)?)?"),
             (50, rf"(?:{WHAT} |what are )?(?:the (?P<sum>sum) of )?the (?:last|rightmost|final) (?P<k>two|three|"
                  rf"four|[234]) digits (?:of|in) {_THE}{A}")),
         read=read_remainder, solve=solve_remainder, check=check_remainder,
         examples=(("What is the remainder when $2^{10}$ is divided by 7?", "2"),
                   ("Find the units digit of $7^{35}$.", "3"),
                   ("What are the last two digits of $7^{35}$?", "43"),
                   ("What is the remainder of $1 + 2 + 3 + \\dots + 10$ mod 7?", "6"),
                   ("What is the modulo 4 remainder of the sum 5 + 6 + 7 + ... + 20?", "0"),
                   (r"What is the residue of $9^{2010}$, modulo 17?", "13")),
         questions=((r"^Divide \S+ by", "How many whole times does the divisor go into the number?"),
                    (r"^Take away", "What is left after taking those multiples away?"),
                    (r"^Reduce", "Can you work with smaller numbers that leave the same remainder?")),
         data=Remainder),
    Task("inverse", "a modular inverse, a remainder written a mod n, or inverses added modulo n", phrasings=(
        (50, rf"(?:{WHAT} )?(?:the (?:modular |multiplicative )?inverse (?:of|to) (?P<a>{ATOM}+?)|(?P<ainv>{ATOM}+?)) "
             rf",?\(?(?:modulo|mod) {B}\)?"),),
        read=read_residue, solve=solve_residue, check=check_residue,
        examples=(("Find the inverse of 4 modulo 35.", "9"), ("17 mod 5", "2"),
                  ("Find $3^{-1}$ modulo 11.", "4"),
                  (r"What is $3^{-1} + 3^{-2} \pmod{25}$? Express your answer as an integer from $0$ to $24$, "
                   "inclusive.", "6"),
                  (r"Compute the multiplicative inverse of $201$ modulo $299$. Express your answer as an integer from "
                   r"$0$ to $298$.", "180")),
        questions=((r"extended Euclid", "Which multiple of the number is one more than a multiple of the modulus?"),),
        data=Residue),
)
