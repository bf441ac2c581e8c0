"""Linear congruences: 'Solve the congruence 11n ≡ 7 (mod 43)', 'Find the least positive integer x that satisfies
x + 4609 ≡ 2104 (mod 12)', 'What integer n satisfies 0 ≤ n < 9 and −1111 ≡ n (mod 9)?'."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError, parse_math
from ..sentence import ATOM, Sentence, V, integer, one, variable
from ..solution import plain
from .base import SolveError, Step, Task, Worked

_SCAN = 10 ** 6           # the largest modulus the check scans every residue of


@dataclass(frozen=True)
class Congruence:
    a: int                # a·x ≡ b (mod n)
    b: int
    n: int
    var: str
    pick: str             # unique | least positive | least nonnegative | in range
    lo: int | None = None
    hi: int | None = None


def _congruence(text: str, n_text: str, var_text: str | None) -> tuple[int, int, int, str]:
    sides = re.split(r"\\equiv|≡", text)
    if len(sides) != 2:
        raise ParseError("read as one congruence A ≡ B (mod n)")
    lhs, rhs = (one(t) for t in sides)
    n = int(integer(n_text))
    free = (lhs - rhs).free_symbols
    x = variable(var_text) if var_text else (next(iter(free)) if len(free) == 1 else None)
    if x is None or free != {x} or n < 2:
        raise ParseError("a congruence in one unknown, modulo a whole number of 2 or more")
    try:
        poly = sp.Poly(sp.expand(lhs - rhs), x)
    except sp.PolynomialError:
        raise ParseError("a linear congruence (the unknown to the first power)") from None
    if poly.degree() != 1 or not all(c.is_Integer for c in poly.all_coeffs()):
        raise ParseError("a linear congruence with whole-number coefficients")
    a, c = (int(v) for v in poly.all_coeffs())
    return a % n, (-c) % n, n, x.name


def _range(text: str, var: str) -> tuple[int, int]:
    """'0 ≤ n < 9' -> (0, 8): the whole numbers a bound on the unknown allows."""
    items = parse_math(text, latex=True)
    rels = items[0].args if len(items) == 1 and isinstance(items[0], sp.And) else items
    x = sp.Symbol(var)
    lo, hi = None, None
    for r in rels:
        if not isinstance(r, (sp.Lt, sp.Le, sp.Gt, sp.Ge)) or r.free_symbols != {x}:
            raise ParseError("read as a range of the unknown, like 0 ≤ n < 9")
        r = r.reversed if r.rhs == x else r
        if r.lhs != x or not r.rhs.is_Integer:
            raise ParseError("read as a range of the unknown between whole numbers")
        bound = int(r.rhs)
        if isinstance(r, (sp.Lt, sp.Le)):
            hi = bound - (1 if isinstance(r, sp.Lt) else 0)
        else:
            lo = bound + (1 if isinstance(r, sp.Gt) else 0)
    if lo is None or hi is None or hi < lo:
        raise ParseError("read as a range of the unknown with both ends")
    return lo, hi


def read_congruence(g: dict, s: Sentence) -> Congruence:
    a, b, n, var = _congruence(s.slot(g, "c"), s.slot(g, "n"), s.slot(g, "v") if g.get("v") else None)
    if g.get("range"):
        lo, hi = _range(s.slot(g, "range"), var)
        return Congruence(a, b, n, var, "in range", lo, hi)
    pick = {"positive": "least positive", "nonnegative": "least nonnegative"}.get(g.get("pos") or "", "unique")
    if g.get("least") and pick == "unique":
        raise ParseError("the least solution: say least positive (or nonnegative) integer")
    return Congruence(a, b, n, var, pick)


def _solutions(c: Congruence) -> tuple[int, int]:
    """(x₀, m): every solution is x₀ + k·m."""
    g = math.gcd(c.a, c.n)
    if c.b % g:
        raise SolveError(f"no solution: gcd({c.a}, {c.n}) = {g} does not divide {c.b}")
    m = c.n // g
    return (c.b // g) * pow(c.a // g, -1, m) % m if m > 1 else 0, m


def solve_congruence(c: Congruence) -> Worked:
    x0, m = _solutions(c)
    steps = [Step(f"Write it as {c.a}·{c.var} ≡ {c.b} (mod {c.n})")]
    if m != c.n:
        steps.append(Step(f"Divide by gcd({c.a}, {c.n}) = {c.n // m}: the solutions repeat every {m}"))
    steps.append(Step(f"Multiply by the inverse of {c.a * m // c.n} modulo {m}: {c.var} ≡ {x0} (mod {m})",
                      sp.Integer(x0)))
    if c.pick == "unique":
        if m != c.n:
            raise SolveError(f"{c.n // m} solutions modulo {c.n}: which one is meant is a guess")
        return Worked(sp.Integer(x0), steps)
    if c.pick == "least positive":
        x = x0 if x0 > 0 else x0 + m
        return Worked(sp.Integer(x), steps + [Step(f"The least positive one is {x}")])
    if c.pick == "least nonnegative":
        return Worked(sp.Integer(x0), steps)
    first = c.lo + (x0 - c.lo) % m
    found = list(range(first, c.hi + 1, m))
    if len(found) != 1:
        raise SolveError(f"{len(found)} solutions lie in the range, not exactly one")
    return Worked(sp.Integer(found[0]), steps + [Step(f"The one from {c.lo} to {c.hi}", sp.Integer(found[0]))])


def check_congruence(c: Congruence, w: Worked) -> Step:
    """Every candidate of the range (or every residue) tried in the congruence: the answer is the only one, or the
    least."""
    x = int(w.answer)
    lo, hi = {"unique": (0, c.n - 1), "least positive": (1, x), "least nonnegative": (0, x),
              "in range": (c.lo, c.hi)}[c.pick]
    if hi - lo > _SCAN:
        raise SolveError("too many candidates to try each one")
    hits = [k for k in range(lo, hi + 1) if (c.a * k - c.b) % c.n == 0]
    want = [x] if c.pick in ("unique", "in range") else None
    if (want is not None and hits != want) or (want is None and (not hits or hits[0] != x)):
        raise SolveError("the congruence failed its check")
    said = {"unique": f"every residue from 0 to {c.n - 1}", "in range": f"every integer from {c.lo} to {c.hi}"}.get(
        c.pick, f"every integer up to {x}")
    return Step(f"Check: trying {said} in the congruence, {x} is the {'only' if want else 'first'} one that works")


_CONG = rf"(?P<c>{ATOM}+?) mod (?P<n>{ATOM}+?)"


# ---- the remainder of an expression, given one of the unknown ---------------------------------------------------


@dataclass(frozen=True)
class RemainderGiven:
    condition: Congruence     # what is known of x: a·x ≡ b (mod n)
    expr: sp.Expr             # a polynomial in x with whole-number coefficients
    m: int                    # its remainder on division by m is asked


def _polynomial(text: str, var: str) -> sp.Expr:
    e = one(text)
    x = sp.Symbol(var)
    if e.free_symbols != {x} or not e.is_polynomial(x) or not all(c.is_Integer for c in sp.Poly(e, x).all_coeffs()):
        raise ParseError("the remainder of a polynomial in the unknown, with whole-number coefficients")
    return e


def read_remainder_given(g: dict, s: Sentence) -> RemainderGiven:
    if g.get("r"):   # 'When n is divided by 3, the remainder is 2': n ≡ 2 (mod 3)
        x = variable(s.slot(g, "x"))
        r, n = int(integer(s.slot(g, "r"))), int(integer(s.slot(g, "n")))
        if not 0 <= r < n:
            raise ParseError("a remainder from 0 to one less than the divisor")
        condition = Congruence(1, r, n, x.name, "unique")
    else:
        a, b, n, var = _congruence(s.slot(g, "c"), s.slot(g, "n"), s.slot(g, "x") if g.get("x") else None)
        condition = Congruence(a, b, n, var, "unique")
    m = int(integer(s.slot(g, "m")))
    if m < 2:
        raise ParseError("a divisor of 2 or more")
    return RemainderGiven(condition, _polynomial(s.slot(g, "e"), condition.var), m)


def solve_remainder_given(rg: RemainderGiven) -> Worked:
    """Every x with the condition is x₀ + k·step: the expression's remainder is read off over one whole period of
    both moduli, and must be the same throughout, else the problem does not fix it."""
    x0, step = _solutions(rg.condition)
    x = sp.Symbol(rg.condition.var)
    period = step * rg.m // math.gcd(step, rg.m)
    seen = {int(rg.expr.subs(x, x0 + k * step)) % rg.m for k in range(period // step)}
    if len(seen) != 1:
        raise SolveError(f"the remainder is not fixed: {sorted(seen)} all occur")
    r = seen.pop()
    return Worked(sp.Integer(r), [
        Step(f"{rg.condition.var} ≡ {x0} (mod {step})" + ("" if rg.condition.a == 1 else
                                                          f", solving {rg.condition.a}·{rg.condition.var} ≡ "
                                                          f"{rg.condition.b} (mod {rg.condition.n})")),
        Step(f"Put {rg.condition.var} = {x0} into {plain(rg.expr)} and divide by {rg.m}" +
             ("" if period == step else f" (the same for each {rg.condition.var} ≡ {x0} mod {step})"),
             sp.Integer(r))], facts={"x0": x0, "step": step})


def check_remainder_given(rg: RemainderGiven, w: Worked) -> Step:
    """Actual numbers: the first few thousand positive integers that meet the condition, found by trying each one,
    put into the expression and divided by m."""
    x = sp.Symbol(rg.condition.var)
    c = rg.condition
    found = [k for k in range(1, 3001) if (c.a * k - c.b) % c.n == 0]
    f = sp.lambdify(x, rg.expr, modules=[{}])
    if not found or any(int(f(k)) % rg.m != int(w.answer) for k in found):
        raise SolveError("the remainder failed its check")
    return Step(f"Check: the {len(found)} integers from 1 to 3000 that meet the condition all give remainder "
                f"{w.answer}")


_THEN_ASK = (r"\s*[.,;]?\s*(?:then )?(?:what is|find|determine) the remainder when (?P<e>⟦\d+⟧) is divided by "
             r"(?P<m>⟦\d+⟧|\d+)")

TASKS = (
    Task("remaindergiven", "the remainder of an expression in n, given n's remainder (or a linear congruence)",
         phrasings=(
             (50, rf"when (?P<x>⟦\d+⟧) is divided by (?P<n>⟦\d+⟧|\d+),? (?:the remainder is (?P<r>⟦\d+⟧|\d+)|a "
                  rf"remainder of (?P<r2>⟦\d+⟧|\d+) is (?:given|left)){_THEN_ASK}"),
             (50, rf"(?:let|suppose|if) (?:that )?(?P<x>⟦\d+⟧) (?:be|is) (?:a positive integer|an integer|a "
                  rf"whole number) such that (?P<c>⟦\d+⟧) mod (?P<n>⟦\d+⟧){_THEN_ASK}"),
             (50, rf"if (?P<c>⟦\d+⟧) mod (?P<n>⟦\d+⟧){_THEN_ASK}")),
         read=lambda g, s: read_remainder_given(g | ({"r": g["r2"]} if g.get("r2") else {}), s),
         solve=solve_remainder_given, check=check_remainder_given,
         examples=(("When $n$ is divided by 7, the remainder is 3. What is the remainder when $4n + 5$ is divided "
                    "by 7?", "3"),
                   (r"Let $x$ be a positive integer such that $9x\equiv 1\pmod{25}$.  What is the remainder when "
                    r"$11+x$ is divided by $25$?", "0")),
         questions=((r"^Put \S+ = \S+ into .* and divide by", "What is the smallest number that leaves that "
                                                               "remainder? Try it."),),
         data=RemainderGiven),
    Task("congruence", "a linear congruence a·x ≡ b (mod n): its unique solution, the least positive one, or "
         "the one in a range", phrasings=(
             (50, rf"solve(?: the congruence)? {_CONG}"),
             (50, rf"(?:find|what is|determine) the (?P<least>least|smallest) (?P<pos>positive|nonnegative) "
                  rf"integer {V}\s*,?\s*(?:that satisfies|such that|satisfying|for which|so that) {_CONG}"),
             (50, rf"what integer {V} satisfies (?P<range>{ATOM}+?) and {_CONG}"),
             (50, rf"find the integer {V}\s*,?\s*(?P<range>{ATOM}+?)\s*,?\s*(?:such that|satisfying|for which|that "
                  rf"satisfies) {_CONG}"),
             (50, rf"(?:suppose|if) (?:that )?{_CONG}\s*,?\s*where (?P<range>{ATOM}+?)\s*[.,]?\s*(?:then )?what is the "
                  rf"value of {V}")),
         read=read_congruence, solve=solve_congruence, check=check_congruence,
         examples=((r"Solve the congruence $11n \equiv 7 \pmod{43}$, as a residue modulo 43.", "28"),
                   (r"Find the least positive integer $x$ that satisfies $x+4609 \equiv 2104 \pmod{12}$.", "3"),
                   (r"What integer $n$ satisfies $0\le n<9$ and $$-1111\equiv n\pmod 9~?$$", "5"),
                   (r"Find the integer $n$, $4 \le n \le 8$, such that \[n \equiv 7882 \pmod{5}.\]", "7"),
                   (r"Suppose $11^5\equiv n\pmod 9$, where $0\le n<9$. What is the value of $n$?", "5")),
         questions=((r"^Multiply by the inverse", "Which number times the coefficient leaves remainder 1?"),
                    (r"^Write it as", "Can you collect the unknown on one side?")),
         data=Congruence),
)
