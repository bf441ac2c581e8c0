"""Bases: a whole number written in another base ('express 555 in base 5', '$1011001_2$ in base 4'), and the
largest or smallest n-digit number of a base."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy as sp
from sympy.ntheory.digits import digits as ntheory_digits

from ..parse import ParseError
from ..sentence import WHAT, A, B, Sentence, base_value, integer, whole
from ..solution import DIGITS, to_base
from .base import SolveError, Step, Task, Worked


@dataclass(frozen=True)
class BaseConversion:
    n: int
    base: int


def read_base(g: dict, s: Sentence) -> BaseConversion:
    a = integer(s.slot(g, "a"))    # the base as a word ('ten'), digits ('10') or math: base_value reads each
    return BaseConversion(int(a), int(base_value(g.get("bw") or g.get("b") or "", s)))


def solve_base(c: BaseConversion) -> Worked:
    """Repeated division: the remainders, last first, are the digits."""
    n, b, digits = abs(c.n), c.base, []
    steps = []
    while n:
        q, r = divmod(n, b)
        if len(steps) < 6:
            steps.append(f"{n} = {b}·{q} + {r}")
        digits.append(DIGITS[r])
        n = q
    written = ("-" if c.n < 0 else "") + ("".join(reversed(digits)) or "0")
    said = "; ".join(steps) + ("; …" if len(digits) > 6 else "")
    return Worked(sp.Integer(c.n), [Step(f"Divide by {b} repeatedly ({said}); the remainders, last first, are the "
                                         "digits", sp.Symbol(f"{written}_{b}"))], facts={"digits": written})


def check_base(c: BaseConversion, w: Worked) -> Step:
    """The digits times powers of the base, added back up."""
    digits = w.facts["digits"]
    back = sum(int(d, 36) * c.base ** k for k, d in enumerate(reversed(digits.lstrip("-")))) * \
        (-1 if digits.startswith("-") else 1)
    if back != c.n or digits != to_base(c.n, c.base) or w.answer != c.n:
        raise SolveError("the base conversion failed its check")
    return Step(f"Check: the digits times powers of {c.base} add back to {c.n}", sp.Integer(back))


@dataclass(frozen=True)
class NDigit:
    digits: int
    base: int
    largest: bool
    said: str = ""            # the word the problem used: largest, greatest, smallest, least


def read_ndigit(g: dict, s: Sentence) -> NDigit:
    n = whole(g["n"])
    if not 0 < n <= 1000:
        raise ParseError(f"can't read the number of digits {g['n']!r}")
    bw = g.get("b") or g.get("b2")
    largest = g["which"] in ("largest", "greatest")
    if not largest and n == 1:
        raise ParseError("whether the smallest one-digit integer is 0 or 1 is a guess")
    return NDigit(n, int(base_value(bw, s)) if bw else 10, largest, g["which"])


def solve_ndigit(d: NDigit) -> Worked:
    """The largest n-digit number in base b is bⁿ − 1, the smallest bⁿ⁻¹."""
    b, n = d.base, d.digits
    value = b ** n - 1 if d.largest else b ** (n - 1)
    rule = f"{b}^{n} − 1" if d.largest else f"{b}^{n - 1}"
    return Worked(sp.Integer(value), [Step(f"The {d.said} {n}-digit integer in base {b} is {rule}", sp.Integer(value))])


def check_ndigit(d: NDigit, w: Worked) -> Step:
    """Written out in the base: n digits (all b − 1, or 1 and zeros), and one step further has another length."""
    value, b, n = int(w.answer), d.base, d.digits
    beyond = value + 1 if d.largest else value - 1
    written = to_base(value, b)
    top = DIGITS[b - 1]
    if len(written) != n or len(to_base(beyond, b)) == n or not re.fullmatch(f"{top}+" if d.largest else "10*",
                                                                               written):
        raise SolveError("the n-digit bound failed its check")
    shown = f"{n} digits {top}" if d.largest else f"1 and {n - 1} zeros"
    return Step(f"Check: written in base {b} it is {shown}, and one {'more' if d.largest else 'less'} has "
                f"{'more' if d.largest else 'fewer'} digits")


@dataclass(frozen=True)
class BaseDigits:
    n: int
    base: int
    what: str                 # sum | product | count
    which: str = ""           # even | odd | nonzero | zero | "" (every digit)


_WHICH = {"even": lambda d: d % 2 == 0, "odd": lambda d: d % 2 == 1, "nonzero": lambda d: d != 0,
          "zero": lambda d: d == 0, "": lambda d: True}


def read_base_digits(g: dict, s: Sentence) -> BaseDigits:
    n = integer(s.slot(g, "a"))
    if n < 0:
        raise ParseError("the digits of a whole number")
    which = (g.get("which") or "").strip().lower()
    what = g["what"].lower() if g.get("what") else "count"
    return BaseDigits(int(n), int(base_value(g["bw"], s)), "count" if what == "number" else what, which)


def _tally(d: BaseDigits, digits: list[int]) -> int:
    """The sum, product or count of the digits the question names."""
    kept = [v for v in digits if _WHICH[d.which](v)]
    return len(kept) if d.what == "count" else sum(kept) if d.what == "sum" else math.prod(kept)


def solve_base_digits(d: BaseDigits) -> Worked:
    written = to_base(d.n, d.base)
    value = _tally(d, [int(c, 36) for c in written])
    said = f"{d.which} digits" if d.which else "digits"
    return Worked(sp.Integer(value), [Step(f"Write {d.n} in base {d.base}", sp.Symbol(f"{written}_{d.base}")),
                                      Step(f"The {d.what} of its {said}", sp.Integer(value))])


def check_base_digits(d: BaseDigits, w: Worked) -> Step:
    """SymPy's own digit list (another routine), checked to add back up to n."""
    digits = ntheory_digits(d.n, d.base)[1:]
    if sum(v * d.base ** k for k, v in enumerate(reversed(digits))) != d.n:
        raise SolveError("the digits do not add back to the number")
    if _tally(d, digits) != w.answer:
        raise SolveError("the digits counted again give another answer")
    return Step(f"Check: SymPy's digit list {digits} times powers of {d.base} adds back to {d.n}, and gives the same "
                f"{d.what}")


_BASE_WORD = r"the base(?:\s?-\s?|\s)?(?P<bw>\w+|⟦\d+⟧)"  # 'the base 2', 'the base-$7$', 'the base ten'
_BASE_REP = _BASE_WORD + r" (?:representation|expression|form) (?:of|for) {A}"

TASKS = (
    Task("base", "a whole number written in another base", phrasings=(
        (50, rf"express {A} in base {B}"),
        (50, rf"(?:what is )?{_BASE_WORD} (?:equivalent|representation|expression|form) (?:of|for) {A}"),
        (50, rf"(?:the )?(?:binary |decimal |octal )?number {A} is equal to what number in base (?P<bw>\w+)"),
        (50, rf"(?:convert |write |what is )?{A} (?:in|to) base {B}"),
        (50, rf"convert {A} (?:to|into) an? base[- ](?P<bw>\w+) (?:integer|number)"),
        # the number is read in base ten, so only 'base-10' may be said of it ('the base-11 integer 515' is 621)
        (50, rf"what is the (?:base[- ](?:10|ten) )?(?:integer|number) {A} when (?:expressed|written) in base {B}")),
        read=read_base, solve=solve_base, check=check_base, form="base",
        examples=(("Express 555 in base 5.", "4210_5"), ("Convert $1011001_2$ to base 4.", "1121_4"),
                  ("What is the base ten equivalent of $12345_{6}$?", "1865_10"),
                  (r"What is the base-$3$ representation of $100_{10}$?", "10201_3")),
        questions=((r"^Divide by", "What is the remainder when you divide by the base? That is the last digit."),),
        data=BaseConversion),
    Task("ndigit", "the largest or smallest n-digit whole number (in a base)", phrasings=(
        (50, r"(?:what is |what's |find )?the (?P<which>largest|greatest|smallest|least) (?:positive )?"
             r"(?P<n>\w+)-digit (?:base[- ](?P<b>\w+) )?(?:positive )?(?:integer|number|whole number)"
             r"(?: in base (?P<b2>\w+))?"),),
        read=read_ndigit, solve=solve_ndigit, check=check_ndigit,
        examples=(("What is the largest 3-digit base 8 positive integer?", "511"),
                  ("What is the smallest four-digit positive integer?", "1000")),
        questions=((r"-digit integer in base", "What does the number look like written in that base?"),),
        data=NDigit),
    Task("basedigits", "the sum, product or number of (even, odd, nonzero) digits of a number written in a base",
         phrasings=(
        (50, rf"(?:{WHAT} )?the (?P<what>sum|product) of the (?P<which>even |odd |nonzero )?digits (?:of|in) "
             + _BASE_REP.format(A=A)),
        (50, rf"(?:{WHAT} )?the (?P<what>number) of (?P<which>even|odd|nonzero|zero) digits (?:of|in) "
             + _BASE_REP.format(A=A)),
        (50, r"how many (?P<which>even |odd |nonzero )?digits (?:are (?:there )?)?in " + _BASE_REP.format(A=A)),),
        read=read_base_digits, solve=solve_base_digits, check=check_base_digits,
        examples=((r"What is the product of the digits in the base 8 representation of $6543_{10}$?", "168"),
                  (r"Find the number of even digits in the base-7 representation of $403_{10}$.", "1")),
        questions=((r"^Write \d+ in base", "What is the number written in that base, digit by digit?"),),
        data=BaseDigits),
)
