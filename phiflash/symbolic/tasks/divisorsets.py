"""Divisors with a property, counted or added: 'How many positive factors of 96 are also multiples of 12?', 'How
many perfect squares are factors of 180?', 'How many even divisors does 7! have?', 'If n = 2³·3²·5, how many even
positive factors does n have?', 'How many positive divisors do 8400 and 7560 have in common?', 'Find the sum of all
positive divisors of 50 that are also divisors of 15.'

Solved from the prime factorization: every divisor is one choice of exponent for each prime, listed and tested.
Checked by SymPy's own list of the divisors (sympy.divisors) tested with SymPy's own predicates (isprime,
integer_nthroot, Mod): both must count (or add up) the same.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError, parse_math
from ..sentence import Sentence
from .base import SolveError, Step, Task, Worked

_MOST_DIVISORS = 10 ** 6       # more divisors than this are not listed


@dataclass(frozen=True)
class Property:
    kind: str                  # prime, square, cube, even, odd, multiple, divides, greater, less
    k: int = 0
    negated: bool = False

    def said(self) -> str:
        said = {"prime": "prime", "square": "a perfect square", "cube": "a perfect cube", "even": "even",
                "odd": "odd", "multiple": f"a multiple of {self.k}", "divides": f"a divisor of {self.k}",
                "greater": f"greater than {self.k}", "less": f"less than {self.k}"}[self.kind]
        return f"not {said}" if self.negated else said


@dataclass(frozen=True)
class DivisorSet:
    n: int
    properties: tuple[Property, ...]
    total: bool = False        # add them up instead of counting them
    pick: str = ""             # "largest" or "smallest": the one divisor, not a count


_QUALIFIER = r"(?:positive|natural-number|natural number|distinct|different|whole-number|integer|even|odd|prime|" \
             r"perfect[- ]square|perfect[- ]cube|proper)"
_QUALIFIERS = rf"(?P<q>(?:{_QUALIFIER}\s*,?\s+)*)"
_NUM = r"(?:⟦\d+⟧|\d+(?:,\d{3})*)"
_PROPERTIES = [(re.compile(p), kind) for p, kind in [
    (r"prime(?: numbers?| positive integers?| integers?)?", "prime"),
    (r"(?:perfect )?squares?|perfect[- ]square", "square"),
    (r"(?:perfect )?cubes?|perfect[- ]cube", "cube"),
    (r"even(?: numbers?)?", "even"),
    (r"odd(?: numbers?)?", "odd"),
    (rf"(?:a )?multiples? of (?P<k>{_NUM})|divisible by (?P<k2>{_NUM})", "multiple"),
    (rf"(?:a )?(?:divisors?|factors?) of (?P<k>{_NUM})", "divides"),
    (rf"(?:larger|greater|bigger) than (?P<k>{_NUM})", "greater"),
    (rf"(?:smaller|less) than (?P<k>{_NUM})", "less"),
]]
_JOINER = re.compile(r"\s*,?\s*(?:(?:and|but|also|are|that|do|does)\s+)*(?P<neg>not\s+)?")


def _number(text: str, letter: dict) -> int:
    items = parse_math(text, latex=True)
    if len(items) == 1 and isinstance(items[0], sp.Eq) and items[0].lhs.is_Symbol:   # 'does n = 2² · 3 have'
        items = [items[0].rhs]
    if len(items) != 1 or not isinstance(items[0], sp.Expr):
        raise ParseError(f"expected a whole number, got {text!r}")
    v = items[0].subs(letter) if letter else items[0]
    v = sp.nsimplify(v)
    if not v.is_Integer or v < 1:
        raise ParseError(f"expected a positive whole number, got {text!r}")
    if v > 10 ** 30:
        raise ParseError("the number is too large to list its divisors")
    return int(v)


def _properties(text: str, s: Sentence, letter: dict) -> list[Property]:
    found, pos = [], 0
    text = text.strip()
    while pos < len(text):
        j = _JOINER.match(text, pos)
        negated, pos = bool(j.group("neg")), j.end()
        for pattern, kind in _PROPERTIES:
            m = pattern.match(text, pos)
            if m and (m.end() == len(text) or not text[m.end()].isalnum()):
                k = m.groupdict().get("k") or m.groupdict().get("k2")
                found.append(Property(kind, _number(s.restore(k), letter) if k else 0, negated))
                pos = m.end()
                break
        else:
            raise ParseError(f"can't read the property {s.restore(text[pos:])!r} of a divisor")
    return found


def _qualifiers(text: str) -> list[Property]:
    words = re.findall(r"even|odd|prime|perfect[- ]square|perfect[- ]cube", text or "")
    return [Property({"even": "even", "odd": "odd", "prime": "prime"}.get(w, "square" if "square" in w else "cube"))
            for w in words]


def _letter(g: dict, s: Sentence) -> dict:
    """'If n = 2³ · 3² · 5, …': the letter the problem names and its value."""
    if not (g.get("def") or g.get("def2")):
        return {}
    items = parse_math(s.slot(g, "def" if g.get("def") else "def2"), latex=True)
    if len(items) != 1 or not isinstance(items[0], sp.Eq) or not items[0].lhs.is_Symbol \
            or items[0].rhs.free_symbols:
        raise ParseError("expected a letter given a value, like n = 2^3 · 5")
    return {items[0].lhs: items[0].rhs}


def read_divisor_set(g: dict, s: Sentence) -> DivisorSet:
    letter = _letter(g, s)
    n = _number(s.slot(g, "n"), letter)
    props = _qualifiers(g.get("q")) + _qualifiers(g.get("what"))
    if re.search(r"\bproper\b", g.get("q") or ""):    # every divisor but the number itself
        props.append(Property("less", n))
    if g.get("prop"):
        props += _properties(g["prop"], s, letter)
    if g.get("m"):    # 'have in common': the divisors of n that divide m
        props.append(Property("divides", _number(s.slot(g, "m"), letter)))
    pick = {"largest": "largest", "greatest": "largest", "smallest": "smallest", "least": "smallest"}.get(
        (g.get("pick") or "").lower(), "")
    return DivisorSet(n, tuple(props), bool(g.get("total")), pick)


# ---- from the factorization -------------------------------------------------------------------------------------


def _passes(p: Property, d: int, primes: set) -> bool:
    """A divisor of n is prime exactly when it is one of n's primes; powers by the integer root."""
    ok = {"prime": lambda: d in primes, "square": lambda: math.isqrt(d) ** 2 == d,
          "cube": lambda: any(c ** 3 == d for c in range(max(round(d ** (1 / 3)) - 1, 0), round(d ** (1 / 3)) + 2)),
          "even": lambda: d % 2 == 0, "odd": lambda: d % 2 == 1, "multiple": lambda: d % p.k == 0,
          "divides": lambda: p.k % d == 0, "greater": lambda: d > p.k, "less": lambda: d < p.k}[p.kind]()
    return ok != p.negated


def solve_divisor_set(ds: DivisorSet) -> Worked:
    fac = sp.factorint(ds.n)
    if math.prod(e + 1 for e in fac.values()) > _MOST_DIVISORS:
        raise SolveError("too many divisors to list")
    primes = list(fac)
    chosen = []
    for exps in itertools.product(*[range(fac[q] + 1) for q in primes]):
        d = math.prod(q ** e for q, e in zip(primes, exps))
        if all(_passes(p, d, set(primes)) for p in ds.properties):
            chosen.append(d)
    if ds.pick and not chosen:
        raise SolveError("no divisor has the property")
    value = sp.Integer(max(chosen) if ds.pick == "largest" else min(chosen) if ds.pick else
                       sum(chosen) if ds.total else len(chosen))
    said = " and ".join(p.said() for p in ds.properties) or "divisors"
    listed = ", ".join(map(str, sorted(chosen))) if len(chosen) <= 20 else f"{len(chosen)} of them"
    factored = " · ".join(f"{q}^{e}" if e > 1 else str(q) for q, e in fac.items()) or "1"
    return Worked(value, [
        Step(f"Prime factorization: {ds.n} = {factored}"),
        Step("Each divisor picks an exponent for every prime, from 0 up to its power: list them and keep those "
             f"that are {said}: {listed}"),
        Step(f"The {ds.pick} of them" if ds.pick else "Add them up" if ds.total else "Count them", value)])


def check_divisor_set(ds: DivisorSet, w: Worked) -> Step:
    """SymPy's list of the divisors, each tested with SymPy's predicates."""
    def holds(p: Property, d: int) -> bool:
        ok = {"prime": lambda: sp.isprime(d), "square": lambda: sp.integer_nthroot(d, 2)[1],
              "cube": lambda: sp.integer_nthroot(d, 3)[1], "even": lambda: sp.Mod(d, 2) == 0,
              "odd": lambda: sp.Mod(d, 2) == 1, "multiple": lambda: sp.Mod(d, p.k) == 0,
              "divides": lambda: sp.Mod(p.k, d) == 0, "greater": lambda: sp.Integer(d) > p.k,
              "less": lambda: sp.Integer(d) < p.k}[p.kind]()
        return bool(ok) != p.negated
    kept = [d for d in sp.divisors(ds.n) if all(holds(p, d) for p in ds.properties)]
    again = (max(kept) if ds.pick == "largest" else min(kept)) if ds.pick and kept else \
        sum(kept) if ds.total else len(kept)
    if again != w.answer:
        raise SolveError("the divisors listed by SymPy give another total")
    return Step(f"Check: SymPy's own list of the {sp.divisor_count(ds.n)} divisors of {ds.n}, tested with its own "
                f"predicates, gives {again} as well")


_DEF = r"(?:(?:if|let|given) (?P<def>⟦\d+⟧)\s*[.,]?\s*)?"
_OF = r"(?:the (?:number |integer )?)?(?P<n>⟦\d+⟧|\d+(?:,\d{3})*!?)"

TASKS = (
    Task("divisorset", "divisors with a property (prime, a perfect square or cube, even or odd, a multiple of k, "
                       "dividing m, in common, larger than k), counted or added up",
         phrasings=(
        (45, rf"{_DEF}how many {_QUALIFIERS}(?:factors|divisors) does {_OF} have(?: if (?P<def2>⟦\d+⟧))?"),
        (45, rf"{_DEF}how many (?:of )?(?:the )?{_QUALIFIERS}(?:factors|divisors) of {_OF} are (?P<prop>.+)"),
        (45, rf"{_DEF}how many (?P<what>(?:perfect )?squares|(?:perfect )?cubes|prime (?:positive )?"
             rf"(?:integers|numbers)|(?:even|odd) (?:positive )?(?:integers|numbers|whole numbers)) "
             rf"are (?:factors|divisors) of {_OF}"),
        (45, rf"how many {_QUALIFIERS}(?:factors|divisors) do {_OF} and (?P<m>⟦\d+⟧|\d+(?:,\d{3})*) have in common"),
        (45, rf"{_DEF}(?:find|what is) the (?P<total>sum) of (?:all )?(?:of )?(?:the )?{_QUALIFIERS}"
             rf"(?:factors|divisors) of {_OF}(?:(?: that| which)? (?:are|is) (?P<prop>.+))?"),
        (45, rf"{_DEF}(?:find|what is) the (?P<pick>largest|greatest|smallest|least) {_QUALIFIERS}(?:factor|divisor) "
             rf"of {_OF}(?: that| which)? (?:is|are) (?P<prop>.+)"),),
        read=read_divisor_set, solve=solve_divisor_set, check=check_divisor_set,
        examples=(("How many positive factors of 96 are also multiples of 12?", "4"),
                  ("How many perfect squares are factors of 180?", "4"),
                  ("How many even divisors does $7!$ have?", "48"),
                  ("If $n=2^3 \\cdot 3^2 \\cdot 5$, how many even positive factors does $n$ have?", "18"),
                  ("How many positive divisors do 8400 and 7560 have in common?", "32"),
                  ("Find the sum of all positive divisors of $50$ that are also divisors of $15$.", "6"),
                  ("How many positive divisors of $150$ are not divisible by 5?", "4"),
                  ("What is the sum of all of the odd divisors of $180$?", "78"),
                  ("What is the sum of the proper divisors of 256?", "255"),
                  ("What is the largest divisor of 342 that is also a factor of 285?", "57")),
        questions=((r"^Each divisor picks an exponent", "Which exponents can each prime have in such a divisor?"),),
        data=DivisorSet),
)
