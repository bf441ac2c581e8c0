"""Percents and parts said in words: 'Sixteen is 64% of what number?', '15% of what number is 9?', 'What number
results when 50 is increased by 120%?'. The percent (or fraction) is read by the safe parser ('64\\%' is 16/25)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..sentence import A, B, Sentence, number, whole
from ..solution import plain
from .base import SolveError, Step, Task, Worked


@dataclass(frozen=True)
class PartOf:
    part: sp.Expr         # part = share · whole, the whole asked for
    share: sp.Expr


def _value(text: str) -> sp.Expr:
    v = sp.Integer(whole(text)) if re.fullmatch(r"[A-Za-z -]+", text.strip()) else number(text)   # 'Sixteen'
    if not v.is_Rational:
        raise ParseError("read for rational numbers and percents")
    return v


def read_part_of(g: dict, s: Sentence) -> PartOf:
    part, share = _value(s.slot(g, "a")), _value(s.slot(g, "b"))
    if share == 0:
        raise ParseError("0% of any number is 0: which number is meant is a guess")
    return PartOf(part, share)


def solve_part_of(p: PartOf) -> Worked:
    whole = p.part / p.share
    return Worked(whole, [Step(f"{plain(p.part)} is {plain(p.share)} of the number, so the number is "
                               f"{plain(p.part)} ÷ {plain(p.share)}", whole)])


def check_part_of(p: PartOf, w: Worked) -> Step:
    if p.share * w.answer != p.part:
        raise SolveError("the number failed its check")
    return Step(f"Check: {plain(p.share)} of {plain(w.answer)} is {plain(p.part)}")


@dataclass(frozen=True)
class Change:
    start: sp.Expr
    rate: sp.Expr         # the change as a share: 120% is 6/5
    up: bool


def read_change(g: dict, s: Sentence) -> Change:
    rate = _value(s.slot(g, "b"))
    if "%" not in s.slot(g, "b"):
        raise ParseError("increased by a percent (increased by 3 would be adding 3)")
    return Change(_value(s.slot(g, "a")), rate, g["dir"].lower() == "increased")


def solve_change(c: Change) -> Worked:
    factor = 1 + c.rate if c.up else 1 - c.rate
    value = c.start * factor
    return Worked(value, [Step(f"{'Increasing' if c.up else 'Decreasing'} by {plain(c.rate * 100)}% multiplies by "
                               f"{plain(factor)}", value)])


def check_change(c: Change, w: Worked) -> Step:
    change = w.answer - c.start           # the change itself, as a share of the start
    if change != (c.rate if c.up else -c.rate) * c.start:
        raise SolveError("the change failed its check")
    return Step(f"Check: the change, {plain(change)}, is {plain(c.rate * 100)}% of {plain(c.start)}")


TASKS = (
    Task("partof", "the number a part is a given percent or fraction of", phrasings=(
        (50, rf"{A} is {B} of what number"),
        (50, rf"{B} of what number is {A}")),
        read=read_part_of, solve=solve_part_of, check=check_part_of,
        examples=(("Sixteen is 64$\\%$ of what number?", "25"), ("$15\\%$ of what number is 9?", "60")),
        questions=((r"is .* of the number", "What do you multiply the number by to get the part?"),),
        data=PartOf),
    Task("change", "a number increased or decreased by a percent", phrasings=(
        (50, rf"what number results when {A} is (?P<dir>increased|decreased) by {B}"),
        (50, rf"(?:what is )?{A} (?P<dir>increased|decreased) by {B}")),
        read=read_change, solve=solve_change, check=check_change,
        examples=(("What number results when 50 is increased by $120\\%$?", "110"),),
        questions=((r"multiplies by", "What fraction of the original is left (or added)?"),),
        data=Change),
)
