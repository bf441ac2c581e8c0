"""Sequences and series: sums written with … ('1 + 3 + 5 + … + 99'), the sum of the integers from 1 to 100, the
n-th term of an arithmetic or geometric sequence given by its first terms, an unknown term of an arithmetic
sequence."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from fractions import Fraction

import sympy as sp

from ..parse import ParseError, parse_number
from ..problem import Problem, _classify
from ..sentence import (
    ATOM,
    ORD,
    WHAT,
    A,
    B,
    Sentence,
    V,
    exact_decimal,
    integer,
    list_items,
    number,
    one,
    ordinal,
    variable,
)
from ..solution import plain
from .base import SolveError, Step, Task, Worked

BRUTE = 10 ** 6           # the most terms a check adds one by one


# ---- the rule of a run of terms ---------------------------------------------------------------------------------


def rules(terms: list) -> list:
    """(name, difference or ratio) of every rule the written terms follow exactly."""
    if len(terms) < 3:
        raise ParseError("give at least three terms so the pattern is not a guess")
    out = []
    d = terms[1] - terms[0]
    if all(sp.simplify(terms[i + 1] - terms[i] - d) == 0 for i in range(len(terms) - 1)):
        out.append(("arithmetic", d))
    if all(t != 0 for t in terms):
        r = sp.simplify(terms[1] / terms[0])
        if r != 1 and all(sp.simplify(terms[i + 1] / terms[i] - r) == 0 for i in range(len(terms) - 1)):
            out.append(("geometric", r))
    return out


def term(name: str, first, step, k):
    """Term k counted from 0: a + k·d, a·rᵏ, or (−1)ᵏ(a + k·d) for the alternating series (a, d of |terms|)."""
    if name == "arithmetic":
        return first + k * step
    if name == "geometric":
        return first * step ** k
    return (-1) ** k * (first + k * step)


def dots_sign_fits(sign: str, following) -> None:
    """The sign written before '…' is the sign of the term it stands in front of (the first one not written):
    '1 + 2 + 4 − … + 1024' names no pattern, so it is refused, not read as if the sign were '+'. (A term that is
    not real has no sign: the '+' before it only joins.)"""
    if sign in ("+", "-") and sp.sympify(following).is_extended_real and following != 0 and \
            (following < 0) != (sign == "-"):
        raise ParseError(f"the sign '{sign}' before '…' does not fit the pattern of the terms before it (the next "
                         f"term would be {plain(following)})")


def _exact(v):
    """A rational as a Fraction, for the check's own arithmetic; anything else stays SymPy."""
    return Fraction(int(v.p), int(v.q)) if isinstance(v, sp.Rational) else v


# ---- sums written with … ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    text: str
    name: str = ""          # arithmetic | geometric | alternating
    first: sp.Expr = sp.S.Zero
    step: sp.Expr = sp.S.Zero
    last: int = 0           # the index of the last term, from 0


def read_series(text: str) -> Series:
    """1 + 2 + 3 + … + 100, 1 − 2 + 3 − 4 + … − 100, 1 + 3 + 9 + … + 729: the rule follows from the written head
    (arithmetic, alternating arithmetic or geometric) and every written term must follow it, or it is refused."""
    text = re.sub(r"\\[lc]?dots|\.\.\.", "…", text).replace("$", " ")
    if text.count("…") != 1:
        raise ParseError("'…' must appear once, between the first terms and the last")
    head, tail = (t.strip() for t in text.split("…"))
    if not head.endswith(("+", "-")) or not tail.startswith(("+", "-")):
        raise ParseError("'…' is only understood between terms of a sum, as in 1 + 2 + … + 100")
    first, last = _signed_terms(head[:-1]), _signed_terms(tail)
    if len(first) < 3 or not last:
        raise ParseError("give at least three terms before '…' so the pattern is not a guess")
    found = [(name, first[0], step) for name, step in rules(first)]
    alt = [t * (-1) ** k for k, t in enumerate(first)]
    if all(alt[k + 1] - alt[k] == alt[1] - alt[0] for k in range(len(alt) - 1)) and first[0] * first[1] < 0:
        found.append(("alternating", alt[0], alt[1] - alt[0]))
    if len(found) != 1:
        raise ParseError("the pattern of the terms before '…' is ambiguous" if found else
                         "the terms before '…' follow no arithmetic, alternating or geometric pattern")
    name, a, d = found[0]
    dots_sign_fits(head[-1], term(name, a, d, len(first)))
    n_last = _index_of(name, a, d, last[-1])
    n_tail = n_last - len(last) + 1
    if any(term(name, a, d, n_tail + j) != t for j, t in enumerate(last)):
        raise ParseError(f"the terms after '…' do not follow the {name} pattern of the first terms")
    if n_tail < len(first):
        raise ParseError("the terms after '…' overlap the first terms")
    if n_last + 1 > BRUTE:
        raise ParseError("too many terms")
    return Series(" ".join(text.split()), name, a, d, n_last)


def _signed_terms(text: str) -> list:
    return [(-1 if sign == "-" else 1) * parse_number(body, latex=True)
            for sign, body in re.findall(r"([+-]?)\s*([^+-]+)", text.strip())]


def _index_of(name, a, d, value) -> int:
    gap = abs(term(name, a, d, 1) - term(name, a, d, 0))
    for k in range(0, BRUTE + 1):
        v = term(name, a, d, k)
        if v == value:
            return k
        if k > 2 and (abs(v) > abs(value) * 10 ** 3 if name == "geometric" else abs(v) > abs(value) + gap * 2):
            break
    raise ParseError(f"the last term {value} does not follow the pattern of the first terms")


def solve_series(s: Series) -> Worked:
    k = sp.Symbol("k", integer=True, nonnegative=True)
    general = term(s.name, s.first, s.step, k)
    total = sp.summation(general, (k, 0, s.last))
    return Worked(total, [Step(f"The terms are {s.name}: term k (from 0) is", sp.Eq(sp.Symbol("a_k"), general)),
                          Step(f"The last term is term {s.last}, so there are {s.last + 1} terms"),
                          Step("Sum them", total)])


def check_series(s: Series, w: Worked) -> Step:
    """The terms added one by one (exact fractions where the terms are rational)."""
    a, d = _exact(s.first), _exact(s.step)
    brute = sum((term(s.name, a, d, j) for j in range(s.last + 1)), Fraction(0) if isinstance(a, Fraction) else 0)
    again = sp.Rational(brute.numerator, brute.denominator) if isinstance(brute, Fraction) else brute
    if sp.simplify(again - w.answer) != 0:
        raise SolveError("the closed form and the term-by-term sum disagree")
    return Step(f"Check: adding the {s.last + 1} terms one by one gives the same", again)


# ---- ranges of integers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeSum:
    lo: int
    hi: int
    which: str            # all | odd | even


def read_range_sum(g: dict, s: Sentence) -> RangeSum:
    lo, hi = int(integer(s.slot(g, "b"))), int(integer(s.slot(g, "c")))
    if hi < lo:
        raise ParseError("read for a range from a smaller number to a larger one")
    return RangeSum(lo, hi, (g.get("par") or "all").strip())


def _ends(r: RangeSum) -> tuple[int, int, int]:
    step = 1 if r.which == "all" else 2
    first = r.lo if step == 1 or (r.lo % 2 == 1) == (r.which == "odd") else r.lo + 1
    last = r.hi if step == 1 or (r.hi % 2 == 1) == (r.which == "odd") else r.hi - 1
    return first, last, step


def solve_range_sum(r: RangeSum) -> Worked:
    """count × (first + last)/2."""
    first, last, step = _ends(r)
    count = max(0, (last - first) // step + 1)
    total = count * (first + last) // 2
    which = "integers" if step == 1 else f"{r.which} integers"
    return Worked(sp.Integer(total), [
        Step(f"The {which} from {r.lo} to {r.hi} run from {first} to {last} in steps of {step}: {count} of them"),
        Step("Their sum: count × (first + last)/2", sp.Integer(total))])


def check_range_sum(r: RangeSum, w: Worked) -> Step:
    """Added one by one (up to ten million), or for all integers T(hi) − T(lo − 1) with T(n) = n(n + 1)/2."""
    first, last, step = _ends(r)
    if r.hi - r.lo <= 10 ** 7:
        if sum(range(first, last + 1, step)) != w.answer:
            raise SolveError("the sum failed its check")
        return Step("Check: adding them one by one gives the same")
    if step == 1:
        if r.hi * (r.hi + 1) // 2 - (r.lo - 1) * r.lo // 2 != w.answer:
            raise SolveError("the sum failed its check")
        return Step("Check: 1 + 2 + … + n = n(n + 1)/2, so the sum is T(hi) − T(lo − 1), the same")
    raise SolveError("too many numbers to check the sum by adding them")


# ---- the n-th term ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NthTerm:
    terms: tuple
    n: int
    rule: str = ""        # the rule the problem names, if it names one


def read_nth_term(g: dict, s: Sentence) -> NthTerm:
    n = ordinal(s.slot(g, "ord"))
    items = [x.strip() for x in re.sub(r"\\[lc]?dots|\.\.\.", "…", s.slot(g, "a")).split(",")]
    if items[-1] != "…" or "…" in items[:-1]:
        raise ParseError("a sequence is read as its first terms, then …")
    if len(items) < 4:
        raise ParseError("give at least three terms so the pattern is not a guess")
    terms = tuple(number(x) for x in items[:-1])
    parity = g.get("parity")
    if parity and not all(t.is_Integer and t % 2 == (1 if parity == "odd" else 0) for t in terms):
        raise ParseError(f"the terms are not all {parity}")
    rule = (g.get("rule") or "").strip().lower()
    found = [r for r in rules(list(terms)) if not rule or r[0] == rule]
    if len(found) != 1:
        raise ParseError(f"the given terms are not {rule}" if rule and not found else
                         "the pattern of the given terms is ambiguous" if found else
                         "the given terms follow no arithmetic or geometric pattern")
    return NthTerm(terms, n, found[0][0])


def solve_nth_term(t: NthTerm) -> Worked:
    """Term n as a formula in n, from the rule of the written terms."""
    step = dict(rules(list(t.terms)))[t.rule]
    k = sp.Symbol("n", integer=True, positive=True)
    value = term(t.rule, t.terms[0], step, t.n - 1)
    if any(isinstance(v, sp.Float) for v in t.terms):
        value = sp.nsimplify(value)
    move = f"adds {plain(step)} to" if t.rule == "arithmetic" else f"is multiplied by {plain(step)} from"
    shown = term(t.rule, t.terms[0], step, k - 1)
    if t.rule == "geometric" and isinstance(step, sp.Rational) and step.q != 1:
        # p^(n−1)/q^(n−1): the 2-D printer shows a Rational ratio raised to a power without brackets (125⋅3/5ⁿ⁻¹)
        shown = t.terms[0] * sp.Pow(step.p, k - 1) / sp.Pow(step.q, k - 1)
    return Worked(value, [Step(f"Each term {move} the one before (a {t.rule} sequence); write term n as a formula",
                               sp.Eq(sp.Symbol("a_n"), shown)),
                          Step(f"Put n = {t.n}", value)], facts={"step": step})


def check_nth_term(t: NthTerm, w: Worked) -> Step:
    """Stepping the rule from the first term n − 1 times (up to 10⁵ steps); past that, the formula is shown to
    start at the first term and to step by the rule for every n (induction)."""
    step = w.facts["step"]
    if t.n > 10 ** 5:
        k = sp.Symbol("k", integer=True, nonnegative=True)
        general = term(t.rule, t.terms[0], step, k)
        stepped = general + step if t.rule == "arithmetic" else general * step
        if sp.simplify(general.subs(k, k + 1) - stepped) != 0 or general.subs(k, 0) != t.terms[0] or \
                sp.simplify(general.subs(k, t.n - 1) - w.answer) != 0:
            raise SolveError("the n-th term failed its check")
        return Step("Check: the formula gives the first term at n = 1 and steps by the rule from each term to the "
                    "next, so it gives every term")
    v = t.terms[0]
    for _ in range(t.n - 1):
        v = v + step if t.rule == "arithmetic" else v * step
    if sp.simplify(v - w.answer) != 0:
        raise SolveError("the n-th term failed its check")
    return Step(f"Check: stepping from the first term {t.n - 1} times gives the same", v)


# ---- unknowns: readings as equations, which the equation solver solves and checks ---------------------------------


def read_sequence_unknown(g: dict, s: Sentence) -> Problem:
    """'the value of x in the arithmetic sequence 3², x, 3⁴': consecutive differences are equal."""
    var = variable(s.slot(g, "v"))
    terms = [one(t) for t in re.split(r"\s*,\s*", s.slot(g, "a").strip()) if t.strip()]
    if len(terms) < 3 or any(t.free_symbols - {var} for t in terms) or not any(t.has(var) for t in terms):
        raise ParseError("read as the terms of an arithmetic sequence with one unknown")
    eqs = [sp.Eq(terms[i + 1] - terms[i], terms[i + 2] - terms[i + 1]) for i in range(len(terms) - 2)]
    p = _classify(s.original, (eqs[0],), var.name)
    if p.kind != "equation":
        raise ParseError("read as the terms of an arithmetic sequence with one unknown")
    roots = sp.solve(eqs[0], var)   # validation only: the other differences must agree where the first does
    if not roots or any(sp.simplify(e.lhs - e.rhs).subs(var, r) != 0 for r in roots for e in eqs[1:]):
        raise ParseError("no value makes every difference of the sequence equal")
    if g.get("int") and not all(r.is_integer for r in roots):   # 'the integer value of y': it must be one
        raise ParseError("the integer value is asked for, and the value that fits is not an integer")
    said = "; ".join(plain(e) for e in eqs)
    return replace(p, notes=(f"in an arithmetic sequence consecutive differences are equal: {said}",))


# ---- how many numbers in a list written with … ------------------------------------------------------------------


@dataclass(frozen=True)
class ListCount:
    head: tuple           # the terms before …
    tail: tuple           # the terms after it


def read_list_count(g: dict, s: Sentence) -> ListCount:
    text = re.sub(r"\\[lc]?dots[bc]?|\.\.\.|…", "…", s.slot(g, "a")).replace("$", " ")
    if text.count("…") != 1:
        raise ParseError("a list written as first terms, …, last terms")
    def exact(t: str):    # 1.5 is 3/2 exactly, never a float that is off by a rounding
        written = exact_decimal(t) if "," not in t else None   # 9,009: the parser's digit-group readings
        return written if written is not None else number(t)
    head, tail = ([exact(t) for t in list_items(part.strip(" ,"))] for part in text.split("…"))
    if len(head) < 3 or not tail:
        raise ParseError("give at least three terms before '…' so the pattern is not a guess")
    return ListCount(tuple(head), tuple(tail))


def solve_list_count(c: ListCount) -> Worked:
    found = [step for name, step in rules(list(c.head)) if name == "arithmetic"]
    if not found or found[0] == 0:
        raise SolveError("the first terms do not step by a constant difference")
    d = found[0]
    n = (c.tail[-1] - c.head[0]) / d
    if not (n.is_Integer and n >= len(c.head) - 1 + len(c.tail) - 1):
        raise SolveError("the last term is not reached from the first in steps of the difference")
    if any(c.head[0] + (n - len(c.tail) + 1 + j) * d != t for j, t in enumerate(c.tail)):
        raise SolveError("the terms after '…' do not follow the difference of the first terms")
    count = sp.Integer(n + 1)
    return Worked(count, [Step(f"The numbers go up by {plain(d)} each time" if d > 0 else
                               f"The numbers go down by {plain(-d)} each time"),
                          Step(f"From {plain(c.head[0])} to {plain(c.tail[-1])} is {plain(n)} steps of {plain(d)}, "
                               "so one more number than steps", count)])


def check_list_count(c: ListCount, w: Worked) -> Step:
    """The list written out term by term (exact fractions) until the last number, each written term found."""
    first, d = _exact(c.head[0]), _exact(c.head[1] - c.head[0])
    last, written = _exact(c.tail[-1]), [_exact(t) for t in c.head + c.tail]
    terms, v = [], first
    while (v <= last if d > 0 else v >= last) and len(terms) <= BRUTE:
        terms.append(v)
        v += d
    if not terms or terms[-1] != last or any(t not in terms for t in written) or len(terms) != w.answer:
        raise SolveError("the list written out does not end at the last number with that many terms")
    return Step(f"Check: writing the list out term by term ends at {plain(c.tail[-1])} after {len(terms)} numbers")


TASKS = (
    Task("series", "a sum written with … (arithmetic, alternating or geometric terms)", phrasings=(),
         read=None, solve=solve_series, check=check_series,
         examples=(("1 + 2 + 3 + ... + 100", "5050"), ("Compute $1 - 2 + 3 - 4 + \\dots - 100$.", "-50"),
                   ("1 + 3 + 9 + ... + 729", "1093")),
         questions=((r"^The terms are \w+:", "What changes from one term to the next?"),
                    (r"^The last term", "Which term is the last one: how many terms are there?")),
         data=Series),
    Task("rangesum", "the sum of the (odd or even) integers from a to b", phrasings=(
        (50, rf"(?:{WHAT} )?the sum of (?:all )?(?:of )?(?:the )?(?P<par>odd |even )?(?:positive )?"
             rf"(?:integers|whole numbers|natural numbers|numbers) from {B} (?:to|through) (?P<c>{ATOM}+?)"
             rf"(?:,? inclusive)?"),),
        read=read_range_sum, solve=solve_range_sum, check=check_range_sum,
        examples=(("Find the sum of all integers from 1 to 100.", "5050"),
                  ("What is the sum of the odd integers from 11 through 39, inclusive?", "375")),
        questions=((r"^The .*integers from", "How many numbers are there, and what are the first and the last?"),),
        data=RangeSum),
    Task("sequence", "the n-th term of an arithmetic or geometric sequence given by its first terms", phrasings=(
        (50, rf"(?:{WHAT} )?(?:the value of )?the (?P<ord>{ORD}) term (?:of|in) the "
             rf"(?P<rule>arithmetic |geometric )?sequence"
             rf"(?: of (?P<parity>odd|even) (?:numbers|integers|whole numbers))?:? {A}"),
        (50, rf"(?:consider|in|given) the (?P<rule>arithmetic |geometric )?sequence:? {A}[.,;]? "
             rf"(?:{WHAT}|what is) the (?P<ord>{ORD}) term(?: (?:of|in) (?:the|this) sequence)?")),
        read=read_nth_term, solve=solve_nth_term, check=check_nth_term,
        examples=(("What is the 20th term of the arithmetic sequence 2, 5, 8, ...?", "59"),
                  ("What is the eighth term in the geometric sequence $2, 6, 18, \\ldots$?", "4374")),
        questions=((r"^Each term (?:adds|is multiplied)", "How do you get from each term to the next one? Is it the "
                                                     "same every time?"),
                   (r"^Put n =", "Which term do you want? Put its number into the formula for term n.")),
        data=NthTerm),
    Task("apunknown", "an unknown term of an arithmetic sequence", phrasings=(
        (50, rf"(?:{WHAT} )?the (?:(?P<int>integer) |real )?value of {V} in the arithmetic sequence {A}"),),
        read=read_sequence_unknown,
        examples=((r"What is the integer value of $x$ in the arithmetic sequence $3^2, x, 3^4$?", "x = 45"),)),
    Task("listcount", "how many numbers are in a list written with … (an arithmetic list)", phrasings=(
        (50, r"how many numbers are (?:there )?in the (?:following )?list\s*:?\s*(?P<a>⟦\d+⟧)"),),
        read=read_list_count, solve=solve_list_count, check=check_list_count,
        examples=((r"How many numbers are in the list $ -33, -28, -23, \ldots, 52, 57?$", "19"),
                  (r"How many numbers are in the list $$ 1.5, 5.5, 9.5, 13.5, \ldots, 41.5, 45.5? $$", "12"),
                  (r"How many numbers are in the list $ 147, 144, 141, \ldots, 42, 39?$", "37")),
        questions=((r"^From .* steps of", "How many steps of the difference take you from the first number to the "
                                          "last?"),),
        data=ListCount),
)
