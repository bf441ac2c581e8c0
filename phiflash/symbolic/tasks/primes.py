"""Prime factors and sums of divisors: 'the largest prime factor of 9879', 'the sum of the distinct prime factors of
5⁵ − 5³', 'how many different prime factors does 20! have', 'the sum of the whole-number factors of 24'.

Solved from SymPy's factorization; checked by factoring again by trial division (up to 10¹² ), and for divisor
sums by listing the divisors in pairs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..sentence import NUMBER_WORDS, WHAT, A, Sentence, integer
from .base import SolveError, Step, Task, Worked

_TRIAL = 10 ** 12         # the largest number the check factors by trial division


@dataclass(frozen=True)
class PrimeFactors:
    n: int
    ask: str              # largest | smallest | sum | count | divisor sum


def _trial(n: int) -> dict[int, int]:
    out, d = {}, 2
    while d * d <= n:
        while n % d == 0:
            out[d] = out.get(d, 0) + 1
            n //= d
        d += 1 if d == 2 else 2
    if n > 1:
        out[n] = out.get(n, 0) + 1
    return out


def _answer(ask: str, fac: dict[int, int]) -> int:
    n, count = math.prod(p ** e for p, e in fac.items()), math.prod(e + 1 for e in fac.values())
    return {"largest": max(fac), "smallest": min(fac), "sum": sum(fac), "count": len(fac),
            "extremes": max(fac) + min(fac),
            "divisor sum": math.prod((p ** (e + 1) - 1) // (p - 1) for p, e in fac.items()),
            # the divisors pair up as d·(n/d) = n: n to the half the number of divisors (n is a square when odd)
            "divisor product": n ** (count // 2) * (math.isqrt(n) if count % 2 else 1)}[ask]


def divisors_in_pairs(n: int) -> list[int]:
    """Every divisor, by trial: each d ≤ √n that divides n, with its partner n/d."""
    return [e for d in range(1, math.isqrt(n) + 1) if n % d == 0 for e in ({d, n // d})]


def read_primes(g: dict, s: Sentence) -> PrimeFactors:
    which = (g.get("which") or "").lower()
    ask = ("largest" if which in ("largest", "greatest") else "smallest") if which else \
        "count" if g.get("count") else "sum" if g.get("primes") else "extremes" if g.get("ends") else \
        "divisor product" if g.get("product") else "divisor sum"
    n = integer(s.slot(g, "a"))
    if n < 2 and ask != "divisor sum" or n < 1:
        raise ParseError("prime factors of a whole number of 2 or more")
    if g.get("said") and (g["said"].lower() not in NUMBER_WORDS or NUMBER_WORDS[g["said"].lower()] !=
                          sp.divisor_count(n)):   # 'the six positive factors of 18': six must be how many there are
        raise ParseError(f"{n} does not have {g['said']} positive divisors")
    return PrimeFactors(int(n), ask)


def solve_primes(p: PrimeFactors) -> Worked:
    fac = sp.factorint(p.n)
    shown = " · ".join(f"{q}^{e}" if e > 1 else str(q) for q, e in fac.items())
    said = {"largest": "The largest prime", "smallest": "The smallest prime", "sum": "Add the distinct primes",
            "count": "Count the distinct primes", "extremes": "Add the largest and the smallest prime",
            "divisor sum": "Each prime power contributes 1 + p + … + pᵉ: multiply those sums",
            "divisor product": "The divisors pair up as d and n/d, each pair multiplying to n: n to the power half "
                               "the number of divisors"}[p.ask]
    value = sp.Integer(_answer(p.ask, fac))
    return Worked(value, [Step(f"Prime factorization: {p.n} = {shown}"), Step(said, value)])


def check_primes(p: PrimeFactors, w: Worked) -> Step:
    """Up to 10¹²: factored again by trial division (divisor sums: the divisors listed in pairs). Past that, the
    factorization is verified as a certificate: its primes pass a primality test and multiply back to the number."""
    if p.ask in ("divisor sum", "divisor product") and p.n <= _TRIAL:
        listed = divisors_in_pairs(p.n)
        again = sum(listed) if p.ask == "divisor sum" else math.prod(listed)
        how = f"{'adding' if p.ask == 'divisor sum' else 'multiplying'} the divisors listed in pairs d and n/d"
    elif p.n <= _TRIAL:
        again, how = _answer(p.ask, _trial(p.n)), "factoring again by trial division"
    else:
        fac = sp.factorint(p.n)
        if math.prod(q ** e for q, e in fac.items()) != p.n or not all(sp.isprime(q) for q in fac):
            raise SolveError("the factorization failed its check")
        again, how = _answer(p.ask, fac), "the primes pass a primality test and multiply back to the number, so"
    if again != w.answer:
        raise SolveError("the prime factors failed their check")
    return Step(f"Check: {how} gives the same")


TASKS = (
    Task("primefactor", "the largest or smallest prime factor, the sum or number of the distinct prime factors, or the "
         "sum of the divisors of a whole number", phrasings=(
             (50, rf"(?:{WHAT} )?the (?P<which>largest|greatest|smallest|least) prime (?:factor|divisor) of {A}"),
             (50, rf"(?:{WHAT} )?the sum of the (?:distinct |different )?(?P<primes>prime) (?:factors|divisors) "
                  rf"of {A}"),
             (50, rf"(?P<count>how many) (?:distinct |different )?(?:positive )?prime (?:factors|divisors) does {A} "
                  rf"have"),
             (50, rf"(?:{WHAT} )?the sum of (?:all )?(?:of )?the (?:(?P<said>\w+) )??(?:positive )?(?:whole-number |"
                  rf"whole number |integer )?(?:divisors|factors) of {A}"),
             (50, rf"(?:{WHAT} )?the sum of the (?P<ends>largest and smallest|smallest and largest) prime "
                  rf"(?:factors|divisors) of {A}"),
             (50, rf"(?:{WHAT} )?the (?P<product>product) of (?:all )?(?:of )?the (?:positive )?(?:whole-number |"
                  rf"whole number |integer )?(?:divisors|factors) of {A}")),
         read=read_primes, solve=solve_primes, check=check_primes,
         examples=(("Find the largest prime factor of $9879$.", "89"),
                   ("Find the sum of the distinct prime factors of $5^5 - 5^3$.", "10"),
                   ("How many different prime factors does $20!$ have?", "8"),
                   ("What is the sum of the whole-number factors of 24?", "60"),
                   ("What is the sum of the largest and smallest prime factors of 990?", "13"),
                   ("Find the product of the divisors of $50$.", "125000")),
         # its first step, "Prime factorization: …", is asked about as the divisor count's is (divisibility.py)
         questions=((r"^The (?:largest|smallest) prime|^Add the distinct|^Count the distinct|^Each prime power|"
                     r"^Add the largest|^The divisors pair up",
                     "Which primes (and which powers of them) does the factorization show?"),),
         data=PrimeFactors),
)

