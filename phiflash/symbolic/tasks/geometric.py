"""Geometric series: the sum of an infinite one ('3/2 − 2/3 + 8/27 − …'), its common ratio, and the sum of the
first n terms of a geometric sequence ('the first six terms of 1/2, 1/4, 1/8, …').

The ratio is read from at least three written terms and every written term must follow it. An infinite series is
summed only when |r| < 1, as a/(1 − r), and checked by adding terms until the rest is below 10⁻³⁰; a finite sum
a(1 − rⁿ)/(1 − r) is checked by adding its n terms one by one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError, parse_number
from ..problem import Problem
from ..sentence import ATOM, WHAT, A, Sentence, whole
from ..solution import plain
from .base import SolveError, Step, Task, Worked
from .patterns import _DOTS, _split, read_dotted
from .sequences import dots_sign_fits

_MAX_TERMS = 20000


@dataclass(frozen=True)
class Geometric:
    terms: tuple          # the written terms
    ratio: sp.Expr
    ask: str              # infinite sum | ratio | first n
    n: int = 0


def _terms(text: str, listed: bool) -> tuple[tuple, str]:
    """The written terms before a final …: '3/2 − 2/3 + 8/27 − …' or a list '1/2, 1/4, 1/8, …'; and the sign
    written before the … ('' where none is)."""
    text = " ".join(re.sub(_DOTS, " … ", text.replace("$", " ")).split())
    if not text.endswith("…") or text.count("…") != 1:
        raise ParseError("read as written terms, then … at the end")
    head = text[:-1].strip()
    sign = head[-1] if head.endswith(("+", "-")) else ""
    if listed and sign:
        raise ParseError(f"a list of terms with '{sign}' before its '…'")
    head = head.rstrip(",+-").strip()
    if listed:
        parts = [p.strip() for p in head.split(",") if p.strip()]
        values = [parse_number(p, latex=True) for p in parts]
    else:
        values = [(-1 if t.startswith("-") else 1) * parse_number(t.lstrip("+-").strip(), latex=True)
                  for t in _split(head, "+")]
    if len(values) < 3:
        raise ParseError("give at least three terms so the ratio is not a guess")
    return tuple(values), sign


def _ratio(terms: tuple) -> sp.Expr:
    if any(t == 0 for t in terms):
        raise ParseError("a geometric sequence has no zero terms")
    r = sp.simplify(terms[1] / terms[0])
    if any(sp.simplify(b - a * r) != 0 for a, b in zip(terms, terms[1:])):
        raise ParseError("the written terms are not geometric: they do not share one ratio")
    return r


def read_geometric(g: dict, s: Sentence):
    written = " ".join(re.sub(_DOTS, " … ", s.slot(g, "a").replace("$", " ")).split())
    if not written.endswith("…") and not g.get("ratio") and not g.get("first"):
        if "…" in written:
            return read_dotted(written)    # a finite sum written with …: the series' or the pattern's task
        math = s.slot(g, "a").replace("$", " ")       # every term written out: a value to evaluate
        return Problem(s.original, "evaluate", (parse_number(math, latex=True),), written=f"${math}$")
    listed = bool(g.get("first"))
    terms, sign = _terms(s.slot(g, "a"), listed or "," in s.slot(g, "a") and "+" not in s.slot(g, "a"))
    r = _ratio(terms)
    dots_sign_fits(sign, terms[-1] * r)
    if g.get("first"):
        n = whole(s.slot(g, "first"))
        if not 1 <= n <= _MAX_TERMS:
            raise ParseError("the number of terms to add")
        return Geometric(terms, r, "first n", n)
    if g.get("ratio"):
        return Geometric(terms, r, "ratio")
    if not abs(r) < 1:
        raise ParseError(f"the ratio is {plain(r)}: the infinite series has no sum")
    return Geometric(terms, r, "infinite sum")


def solve_geometric(g: Geometric) -> Worked:
    a, r = g.terms[0], g.ratio
    steps = [Step("Each term is the one before times the common ratio r", sp.Eq(sp.Symbol("r"), r))]
    if g.ask == "ratio":
        return Worked(r, steps)
    value = sp.simplify(a / (1 - r) if g.ask == "infinite sum" else a * (1 - r ** g.n) / (1 - r))
    rule = "a/(1 − r), since |r| < 1" if g.ask == "infinite sum" else f"a(1 − rⁿ)/(1 − r) with n = {g.n}"
    return Worked(value, steps + [Step(f"The sum is {rule}", value)])


def check_geometric(g: Geometric, w: Worked) -> Step:
    a = g.terms[0]
    if g.ask == "ratio":
        if any(sp.simplify(t * w.answer - u) != 0 for t, u in zip(g.terms, g.terms[1:])):
            raise SolveError("the ratio failed its check")
        return Step("Check: each written term times the ratio gives the next one")
    if g.ask == "first n":
        total, t = sp.Integer(0), a
        for _ in range(g.n):
            total, t = total + t, t * g.ratio
        if sp.simplify(total - w.answer) != 0:
            raise SolveError("the sum failed its check")
        return Step(f"Check: adding the {g.n} terms one by one gives the same")
    r = abs(sp.N(g.ratio, 50))
    count = next((k for k in range(1, _MAX_TERMS) if sp.N(abs(a), 50) * r ** k / (1 - r) < sp.Float("1e-30")), None)
    if count is None:
        raise SolveError("the series converges too slowly to check by adding terms")
    partial = sum((sp.N(a, 60) * sp.N(g.ratio, 60) ** k for k in range(count)), sp.Float(0, 60))
    if abs(partial - sp.N(w.answer, 60)) > sp.Float("1e-25"):
        raise SolveError("the partial sums do not approach the sum")
    return Step(f"Check: the first {count} terms add up to within 10⁻³⁰ of the same value")


_SERIES = r"(?:the )?(?:infinite )?geometric (?:series|sequence)"

TASKS = (
    Task("geometric", "the sum of an infinite geometric series, its common ratio, or the sum of the first n terms",
         phrasings=(
             (55, rf"(?:{WHAT}|evaluate) (?:the sum of )?(?:the )?infinite geometric series:?\s*{A}"),
             (55, rf"(?:{WHAT}) the sum of (?:the )?(?:infinite )?geometric series:?\s*{A}"),
             (55, rf"(?:{WHAT}) the (?P<ratio>common ratio) of {_SERIES}:?\s*{A}"),
             (55, rf"(?:{WHAT}) the sum of the first (?P<first>{ATOM}+?) terms (?:in|of) {_SERIES}:?\s*{A}")),
         read=read_geometric, solve=solve_geometric, check=check_geometric,
         examples=((r"Evaluate the infinite geometric series: $$\frac{3}{2}-\frac{2}{3}+\frac{8}{27}-\frac{32}{243}"
                    r"+\dots$$", "27/26"),
                   (r"Find the common ratio of the infinite geometric series: $$\frac{5}{6}-\frac{4}{9}+"
                    r"\frac{32}{135}-\dots$$", "-8/15"),
                   (r"Find the sum of the first six terms in the geometric sequence $\frac12,\frac14,\frac18,\dots$. "
                    r"Express your answer as a common fraction.", "63/64")),
         questions=((r"^Each term is the one before", "What do you multiply one term by to get the next?"),
                    (r"^The sum is", "Which formula sums a geometric series?")),
         data=Geometric),
)
