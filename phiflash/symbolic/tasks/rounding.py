"""Rounding a number to a place: 'Round 3.45 to the nearest tenth', 'Round to the nearest hundredth: 18.4851',
'Rounded to 2 decimal places, what is 7/9?', 'What is log₇ 2400 rounded to the nearest integer?'.

A written decimal is read exactly (3.45 is 345/100, never the binary float just below it), and a half rounds up,
away from zero (3.45 → 3.5); an exact half of a negative number is refused, as conventions differ there. Solved
in exact arithmetic (the floor of v·10ᵏ + ½); checked by Python's decimal module, which rounds the value's 60-digit
expansion half up on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

import sympy as sp

from ..parse import ParseError
from ..sentence import ATOM, NUMBER_WORDS, Sentence, exact_decimal, one
from .base import SolveError, Step, Task, Worked

_PLACES = {"tenth": 1, "hundredth": 2, "thousandth": 3, "ten-thousandth": 4, "hundred-thousandth": 5,
           "millionth": 6, "whole number": 0, "integer": 0, "one": 0, "unit": 0, "ten": -1, "hundred": -2,
           "thousand": -3}


@dataclass(frozen=True)
class Rounding:
    value: sp.Expr
    places: int                 # digits after the point; −1 is the nearest ten


def _exact(text: str) -> sp.Expr:
    written = exact_decimal(text)
    if written is not None:
        return written
    v = one(text)
    if v.has(sp.Float) or v.free_symbols:
        raise ParseError("round a number written exactly (a decimal, a fraction, an expression)")
    return v


def read_rounding(g: dict, s: Sentence) -> Rounding:
    if g.get("k"):
        word = g["k"].lower()
        places = NUMBER_WORDS.get(word, 1 if word == "one" else None) if not word.isdigit() else int(word)
        if places is None:
            raise ParseError(f"can't read the number of decimal places {g['k']!r}")
    else:
        places = _PLACES[g["place"].lower()]
    value = _exact(s.slot(g, "a"))
    if not value.is_real:
        raise ParseError("round a real number")
    return Rounding(value, places)


def solve_rounding(r: Rounding) -> Worked:
    scale = sp.Integer(10) ** r.places
    scaled = r.value * scale
    if scaled.is_negative and (scaled + sp.Rational(1, 2)).is_integer:
        raise SolveError("an exact half of a negative number: rounding conventions differ, so this is not decided")
    rounded = sp.floor(scaled + sp.Rational(1, 2)) / scale
    if not rounded.is_Rational:
        raise SolveError("the value's digits could not be decided exactly")
    where = {0: "the ones digit"}.get(r.places, f"{r.places} digit{'s' if r.places > 1 else ''} after the point"
                                      if r.places > 0 else f"the {10 ** -r.places}s")
    return Worked(rounded, [Step(f"The value is {_digits(r.value, r.places)}"),
                            Step(f"Keep {where}; the next digit decides, 5 or more rounds up: "
                                 f"{_digits(rounded, r.places)}")])


def _digits(v: sp.Expr, places: int) -> str:
    """A terminating decimal as it is, anything else to a few more digits than kept, with …"""
    if v.is_Rational and set(sp.factorint(v.q)) <= {2, 5}:
        return format(Decimal(v.p) / Decimal(v.q), "f")
    return f"{sp.N(v, max(places, 0) + len(str(abs(int(v)))) + 4)}…"


def check_rounding(r: Rounding, w: Worked) -> Step:
    with localcontext() as ctx:
        ctx.prec = 80
        digits = Decimal(str(sp.N(r.value, 60)))
        again = digits.quantize(Decimal(1).scaleb(-r.places), rounding=ROUND_HALF_UP)
        if r.places < 0:
            again = (digits.scaleb(r.places)).quantize(Decimal(1), rounding=ROUND_HALF_UP).scaleb(-r.places)
    if sp.Rational(str(again)) != w.answer:
        raise SolveError("the rounding failed its check")
    return Step(f"Check: Python's decimal module rounds the 60-digit value half up to {again:f} as well")


_PLACE = r"(?P<place>tenth|hundredth|thousandth|ten-thousandth|hundred-thousandth|millionth|whole number|integer|" \
         r"one|unit|ten|hundred|thousand)s?"
_VALUE = rf"(?P<a>{ATOM}+?)"

TASKS = (
    Task("rounding", "a number rounded to a place (tenths, hundredths, whole numbers, tens, n decimal places)",
         phrasings=(
        (50, rf"round {_VALUE} to the nearest {_PLACE}"),
        (50, rf"round {_VALUE} to (?P<k>\d+|one|two|three|four|five|six) decimal places?"),
        (50, rf"round to the nearest {_PLACE}\s*:\s*{_VALUE}"),
        (50, rf"rounded to (?P<k>\d+|one|two|three|four|five|six) decimal places?,? what is {_VALUE}"),
        (50, rf"(?:what is )?{_VALUE},? rounded to the nearest {_PLACE}"),),
        read=read_rounding, solve=solve_rounding, check=check_rounding, form="decimal",
        examples=(("Round $3.45$ to the nearest tenth.", "3.5"),
                  ("Round to the nearest hundredth: 18.4851", "18.49"),
                  ("Rounded to 2 decimal places, what is $\\frac{7}{9}$?", "0.78"),
                  ("Round 2.675 to two decimal places.", "2.68"),
                  ("What is $\\log_{7}{2400}$ rounded to the nearest integer?", "4"),
                  ("Round $54.\\overline{54}$ to the nearest hundredth.", "54.55"),
                  ("Round 8899.50241201 to the nearest whole number.", "8900")),
        questions=((r"^Keep ", "Which digit is the one you keep, and what is the digit after it?"),),
        data=Rounding),
)
