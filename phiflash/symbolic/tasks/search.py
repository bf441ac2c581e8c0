"""The least positive integer with a property that can be tested one number at a time: 'the least positive integer
value of x such that (2x)² + 2·37·2x + 37² is a multiple of 47', 'the smallest positive integer n such that 3n is a
perfect square and 2n is a perfect cube', 'the least positive integer with exactly 10 positive factors', 'the
smallest positive integer divisible by 10, 11 and 12'.

Solved by trying 1, 2, 3, … in Python's exact integers (the expression's numerator and denominator evaluated as
integer programs), up to 20,000: the first number that passes is the least, as every smaller one was tried.
Checked by a second evaluator: SymPy substitutes each number below the answer, and the answer, into the expression
as read and tests the property with its own functions (isprime, integer_nthroot, divisor_count), which must fail
below and hold at the answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy as sp
from sympy.ntheory.digits import digits

from ..parse import ParseError, parse_math
from ..sentence import SLOT_RE, WHAT, Sentence, integer, list_items, one, whole
from ..solution import plain
from .base import SolveError, Step, Task, Worked

LIMIT = 20_000
_POWERS = {"square": 2, "cube": 3, "fourth power": 4, "fifth power": 5}


@dataclass(frozen=True)
class Test:
    kind: str                 # multiple, prime, power, integer, remainder, divisors, greater, ends, coprime
    expr: sp.Expr
    k: int = 0                # the divisor, the power, the divisor count, the bound, the ending
    r: int = 0                # the remainder
    negated: bool = False     # "but not a multiple of 16"

    def said(self) -> str:
        e = plain(self.expr)
        power = next((w for w, p in _POWERS.items() if p == self.k), "")
        said = {"multiple": f"{e} is a multiple of {self.k}", "prime": f"{e} is prime",
                "power": f"{e} is a perfect {power}", "integer": f"{e} is an integer",
                "remainder": f"{e} leaves remainder {self.r} on division by {self.k}",
                "divisors": f"{e} has exactly {self.k} positive divisors", "greater": f"{e} > {self.k}",
                "ends": f"{e} ends in {self.k}", "coprime": f"{e} and {self.k} have no common factor",
                "less": f"{e} < {self.k}", "digitsum": f"the digits of {e} add up to {self.k}",
                "gcd": f"gcd({e}, {self.k}) = {self.r}"}[self.kind]
        return f"not ({said})" if self.negated else said


@dataclass(frozen=True)
class Search:
    var: sp.Symbol
    tests: tuple[Test, ...]
    lo: int = 1               # the numbers searched: lo … hi, from the end the question starts at
    hi: int = LIMIT
    largest: bool = False     # from hi down (the largest), or from lo up (the least)


_NUM = r"(?:⟦\d+⟧|\d+)"
_LIST = rf"(?P<ks>{_NUM}(?:\s*(?:,|and|,\s*and)\s*{_NUM})*)"
_SUBJECT = r"(?:(?P<e>⟦\d+⟧) )?"
# what one clause says of the number sought (or of an expression in it, the subject); clauses follow one another
# joined by commas, 'and', 'that', 'but not'
_CLAUSES = [(re.compile(p), kind) for p, kind in [
    (rf"{_SUBJECT}(?:is |are )?(?:both )?(?:a multiple of|multiples of|divisible by)(?: both| each of)? {_LIST}",
     "multiple"),
    (rf"{_SUBJECT}(?:leaves|has|gives) a remainder of (?P<r>{_NUM}) when (?:it is )?divided by (?:each of )?{_LIST}",
     "remainder"),
    (rf"when divided by (?:each of )?{_LIST},? (?:it )?(?:leaves|has|gives) a remainder of (?P<r>{_NUM})",
     "remainder"),
    (rf"a remainder of (?P<r>{_NUM}) when divided by {_LIST}", "remainder"),
    (rf"{_SUBJECT}(?:is )?(?:a )?prime(?: number)?", "prime"),
    (rf"{_SUBJECT}(?:is )?(?:a )?perfect (?P<p>square|cube|fourth power|fifth power)", "power"),
    (rf"{_SUBJECT}is (?:an )?integer", "integer"),
    (r"(?:has )?exactly (?P<count>\S+) (?:distinct )?(?:positive )?(?:integer |integral )?(?:divisors|factors)",
     "divisors"),
    (rf"{_SUBJECT}(?:is )?greater than (?P<k>{_NUM})", "greater"),
    (rf"ends in (?P<k>{_NUM})", "ends"),
    (rf"{_SUBJECT}(?:is )?(?:less|smaller) than (?P<k>{_NUM})", "less"),
    (rf"(?:whose digits(?:'|’)? sum is|whose digits add up to|the sum of whose digits is) (?P<k>{_NUM})", "digitsum"),
    (rf"the greatest common (?:factor|divisor) of (?:that (?:integer|number)|it) and (?P<k>{_NUM}) is (?P<r>{_NUM})",
     "gcd"),
    (rf"(?:is )?relatively prime to (?P<k>{_NUM})", "coprime"),
    (r"(?P<ks>⟦\d+⟧) (?:is a factor of|divides) (?P<e>⟦\d+⟧)", "multiple"),
    # '$4x \equiv 13 \pmod{27}$' is '⟦4x ≡ 13⟧ mod ⟦27⟧' in the sentence: both sides differ by a multiple of 27
    (rf"(?:satisfies the congruence )?(?P<cong>⟦\d+⟧) mod (?P<ks>{_NUM})", "multiple"),
]]
_JOINER = re.compile(r"\s*,?\s*(?:(?:and|but|that|which|also|is|both|for which|such that|so that)\s+)*"
                     r"(?P<neg>not\s+)?")


def _clauses(cond: str, s: Sentence, var: sp.Symbol) -> tuple[Test, ...]:
    """The whole condition read clause by clause, or refused: every word must belong to a clause."""
    tests, pos = [], 0
    while pos < len(cond):
        j = _JOINER.match(cond, pos)
        negated, pos = bool(j.group("neg")), j.end()
        for pattern, kind in _CLAUSES:
            m = pattern.match(cond, pos)
            if m:
                tests += _tests(kind, m.groupdict(), s, var, negated)
                pos = m.end()
                break
        else:
            raise ParseError(f"can't read the property {s.restore(cond[pos:])!r}")
    if not tests:
        raise ParseError("no property to search for")
    return tuple(tests)


def _tests(kind: str, g: dict, s: Sentence, var: sp.Symbol, negated: bool) -> list[Test]:
    expr = one(s.slot(g, "e")) if g.get("e") else var
    if g.get("cong"):
        rel = parse_math(s.slot(g, "cong").replace("\\equiv", "="), latex=True)
        if len(rel) != 1 or not isinstance(rel[0], sp.Eq):
            raise ParseError("expected a congruence a ≡ b (mod n)")
        expr = rel[0].lhs - rel[0].rhs
    if kind == "divisors":
        return [Test(kind, expr, whole(s.slot(g, "count")), negated=negated)]
    if kind == "power":
        return [Test(kind, expr, _POWERS[g["p"]], negated=negated)]
    if kind in ("prime", "integer"):
        return [Test(kind, expr, negated=negated)]
    ks = [int(integer(x)) for x in list_items(s.slot(g, "ks"))] if g.get("ks") else [int(integer(s.slot(g, "k")))]
    r = int(integer(s.slot(g, "r"))) if g.get("r") else 0
    if kind in ("multiple", "remainder", "coprime", "gcd") and min(ks) < 1 or kind == "remainder" and not all(
            0 <= r < k for k in ks):
        raise ParseError("a divisor must be a positive whole number, a remainder less than it")
    if kind == "ends" and ks[0] < 0:
        raise ParseError("a number ends in digits")
    return [Test(kind, expr, k, r, negated) for k in ks]


def read_search(g: dict, s: Sentence) -> Search:
    var = one(s.slot(g, "v")) if g.get("v") else None
    if var is not None and not isinstance(var, sp.Symbol):
        raise ParseError("expected the letter of the number sought")
    if var is None:      # the letter of its expressions, or the number itself
        written = [item for k in SLOT_RE.findall(g["cond"])
                   for item in parse_math(s.math[int(k)].replace("\\equiv", "="), latex=True)]
        if any(isinstance(item, sp.Symbol) for item in written):   # '…, and y is odd': y is never introduced
            raise ParseError("a letter in the conditions is never said to be the number sought")
        free = {v for item in written for v in item.free_symbols}
        var = free.pop() if len(free) == 1 else sp.Symbol("n")
    tests = _clauses(g["cond"], s, var) if g.get("cond") else ()
    if g.get("mult"):      # 'the largest multiple of 12 that …'
        tests = (Test("multiple", var, int(integer(s.slot(g, "mult")))),) + tests
    if not tests or not all(t.expr.free_symbols <= {var} for t in tests):
        raise ParseError("every property must be of the one number sought")
    return Search(var, tests, *_range(g, tests, var))


def _range(g: dict, tests: tuple, var: sp.Symbol) -> tuple[int, int, bool]:
    """Where to search: n-digit, positive, below or above a bound the properties state; the least needs a start,
    the largest an end, or the search is refused (it could not be finished)."""
    largest = g.get("which", "least").lower() in ("largest", "greatest")
    lo, hi = (None, None)
    sign = (g.get("sign") or g.get("sign0") or "").strip()   # 'positive four-digit' or 'four-digit positive'

    if g.get("digits"):
        d = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}.get(g["digits"].lower()) or \
            int(integer(g["digits"]))
        lo, hi = 10 ** (d - 1) if d > 1 else 0, 10 ** d - 1
        if sign == "negative":
            lo, hi = -hi, -lo
    if sign == "positive" or g.get("least_positive"):
        lo = max(lo or 1, 1)
    if sign == "negative":   # 'the largest negative multiple of 12 less than 350' is −12
        hi = min(hi if hi is not None else -1, -1)
    for t in tests:
        if t.expr == var and not t.negated and t.kind == "less":
            hi = t.k - 1 if hi is None else min(hi, t.k - 1)
        if t.expr == var and not t.negated and t.kind == "greater":
            lo = t.k + 1 if lo is None else max(lo, t.k + 1)
    if largest and hi is None or not largest and lo is None:
        raise ParseError("no end to search from: say positive, n-digit, or less than / greater than a number")
    lo = lo if lo is not None else hi - LIMIT
    hi = hi if hi is not None else lo + LIMIT
    if hi - lo > 10 ** 6:
        raise ParseError("too many numbers to search")
    return lo, hi, largest


# ---- the search: Python's integers ------------------------------------------------------------------------------


def _program(expr: sp.Expr, var: sp.Symbol):
    """The expression as two integer programs, numerator and denominator, or refused when it is not made of
    integer operations (whole-number coefficients, powers with whole exponents, |·|, factorials)."""
    num, den = sp.fraction(sp.together(expr))
    for part in (num, den):
        for a in sp.preorder_traversal(part):
            if isinstance(a, sp.Number) and not a.is_Integer or a.is_Pow and not (a.exp.is_Integer and a.exp >= 0
                                                                                    or a.exp.has(var)):
                raise ParseError("the property's expression is not made of whole-number operations")
            if isinstance(a, sp.Function) and not isinstance(a, (sp.Abs, sp.factorial)):
                raise ParseError("the property's expression uses a function not read here")
    mods = [{"Abs": abs, "factorial": math.factorial}]
    return sp.lambdify(var, num, modules=mods), sp.lambdify(var, den, modules=mods)


def _holds(t: Test, num: int, den: int) -> bool:
    return _passes(t, num, den) != t.negated


def _passes(t: Test, num: int, den: int) -> bool:
    if den == 0:
        return False
    if t.kind == "integer":
        return num % den == 0
    if num % den:
        return False
    v = num // den
    if t.kind == "multiple":
        return v % t.k == 0
    if t.kind == "remainder":
        return v % t.k == t.r
    if t.kind == "prime":
        return v > 1 and all(v % d for d in range(2, math.isqrt(v) + 1))
    if t.kind == "power":
        return _root(-v, t.k) is not None if v < 0 and t.k % 2 else v >= 0 and _root(v, t.k) is not None
    if t.kind == "divisors":
        return v > 0 and sum(1 if d * d == v else 2 for d in range(1, math.isqrt(v) + 1) if v % d == 0) == t.k
    if t.kind == "greater":
        return v > t.k
    if t.kind == "ends":
        return v >= 0 and v % 10 ** len(str(t.k)) == t.k
    if t.kind == "coprime":
        return math.gcd(v, t.k) == 1
    if t.kind == "less":
        return v < t.k
    if t.kind == "digitsum":
        return v >= 0 and sum(map(int, str(v))) == t.k
    if t.kind == "gcd":
        return math.gcd(v, t.k) == t.r
    raise AssertionError(t.kind)


def _root(v: int, k: int) -> int | None:
    """The whole k-th root of v when there is one (Newton's method in integers: no float to overflow)."""
    if v < 2:
        return v
    x = 1 << -(-v.bit_length() // k)
    while True:
        y = ((k - 1) * x + v // x ** (k - 1)) // k
        if y >= x:
            break
        x = y
    return x if x ** k == v else None


def solve_search(s: Search) -> Worked:
    programs = [_program(t.expr, s.var) for t in s.tests]
    for n in (range(s.hi, s.lo - 1, -1) if s.largest else range(s.lo, s.hi + 1)):
        try:
            passes = all(_holds(t, int(p(n)), int(q(n))) for t, (p, q) in zip(s.tests, programs))
        except (OverflowError, ValueError, ZeroDivisionError, TypeError) as e:   # never skipped: that would
            raise SolveError(f"the property cannot be tested at {s.var} = {n}") from e   # miss the least
        if passes:
            said = " and ".join(t.said() for t in s.tests)
            order = f"{s.hi}, {s.hi - 1}, {s.hi - 2}, …" if s.largest else f"{s.lo}, {s.lo + 1}, {s.lo + 2}, …"
            return Worked(sp.Integer(n), [
                Step(f"Try {s.var} = {order} in turn and test whether {said}"),
                Step(f"The first that passes is {s.var} = {n}: each one before it failed", sp.Integer(n))])
    raise SolveError(f"no number from {s.lo:,} to {s.hi:,} has the property: not searched further")


# ---- the check: SymPy -------------------------------------------------------------------------------------------


def _sympy_holds(t: Test, var: sp.Symbol, n: int) -> bool:
    return _sympy_passes(t, var, n) != t.negated


def _sympy_passes(t: Test, var: sp.Symbol, n: int) -> bool:
    v = sp.nsimplify(t.expr.subs(var, n))
    if v.has(sp.zoo, sp.nan) or not v.is_Rational:
        return False
    if t.kind == "integer":
        return v.is_Integer
    if not v.is_Integer:
        return False
    v = int(v)
    if t.kind == "multiple":
        return sp.Mod(v, t.k) == 0
    if t.kind == "remainder":
        return sp.Mod(v, t.k) == t.r
    if t.kind == "prime":
        return sp.isprime(v)
    if t.kind == "power":
        root, exact = sp.integer_nthroot(abs(v), t.k)
        return exact and (v >= 0 or t.k % 2 == 1)
    if t.kind == "divisors":
        return v > 0 and sp.divisor_count(v) == t.k
    if t.kind == "greater":
        return sp.Gt(v, t.k) == sp.true
    if t.kind == "ends":
        return v >= 0 and str(v).endswith(str(t.k))
    if t.kind == "coprime":
        return sp.igcd(v, t.k) == 1
    if t.kind == "less":
        return sp.Lt(v, t.k) == sp.true
    if t.kind == "digitsum":
        return v >= 0 and sum(digits(v)[1:]) == t.k
    if t.kind == "gcd":
        return sp.igcd(v, t.k) == t.r
    raise AssertionError(t.kind)


def check_search(s: Search, w: Worked) -> Step:
    n = int(w.answer)
    if not s.lo <= n <= s.hi or not all(_sympy_holds(t, s.var, n) for t in s.tests):
        raise SolveError("the answer does not have the property by SymPy's test")
    before = range(n + 1, s.hi + 1) if s.largest else range(s.lo, n)
    if len(before) > 10 ** 5:
        raise SolveError("too many numbers before the answer to test them all again")
    other = next((m for m in before if all(_sympy_holds(t, s.var, m) for t in s.tests)), None)
    if other is not None:
        raise SolveError(f"{other}, which comes before it, also has the property by SymPy's test")
    span = f"{before.start} to {before.stop - 1}" if len(before) else "no other number"
    return Step(f"Check: SymPy's own tests find the property at {n} and at none of {span}")


_LEAST = rf"(?:{WHAT} |name )?the (?:smallest|least) positive (?:integer|whole number)"
_WHICH = (rf"(?:{WHAT} |name )?the (?P<which>smallest|least|largest|greatest)(?: possible)?,? (?P<sign0>positive |"
          rf"negative )?(?:(?P<digits>\S+)-digit )?(?P<sign>positive |negative )?(?:integer|whole number|number|"
          rf"multiple of (?P<mult>⟦\d+⟧|\d+))")

TASKS = (
    Task("search", "the least positive integer with properties tested one number at a time (a multiple of, a "
                   "remainder, prime, a perfect power, an integer, a divisor count, how it ends, coprime to, not …)",
         phrasings=(
        # below the other families (45): where a family of its own reads the sentence (a congruence's least
        # solution), that family's method is the one shown
        (45, rf"{_LEAST}(?: value of)?(?: (?P<v>⟦\d+⟧))?,?\s*(?:such that |for which |so that |where |with )?"
             rf"(?P<cond>.+)"),
        (44, rf"{_WHICH}(?: value of)?(?: (?P<v>⟦\d+⟧))?,?\s*(?:such that |for which |so that |where |with )?"
             rf"(?P<cond>.*)"),),
        read=lambda g, s: read_search(g | ({"least_positive": True} if "which" not in g else {}), s),
        solve=solve_search, check=check_search,
        examples=(("What is the least positive integer value of $x$ such that $(2x)^2 + 2\\cdot 37\\cdot 2x + 37^2$ "
                   "is a multiple of 47?", "5"),
                  ("What is the smallest positive integer $n$ such that $3n$ is a perfect square and $2n$ is a "
                   "perfect cube?", "108"),
                  ("What is the least positive integer with exactly $10$ positive factors?", "48"),
                  ("Find the smallest positive integer divisible by $10$, $11$, and $12$.", "660"),
                  ("What is the smallest positive integer that leaves a remainder of 4 when divided by 5 and a "
                   "remainder of 6 when divided by 7?", "34"),
                  ("What is the smallest positive integer that is a multiple of both 30 and 40 but not a multiple "
                   "of 16?", "120"),
                  ("What is the largest positive multiple of $12$ that is less than $350?$", "348"),
                  ("What is the least four-digit whole number that is both a perfect square and a perfect cube?",
                   "4096"),
                  ("What is the largest three-digit multiple of 9 whose digits' sum is 18?", "990"),
                  ("What is the greatest integer less than 100 for which the greatest common factor of that integer "
                   "and 18 is 3?", "93")),
        questions=((r"^Try \S+ = 1, 2, 3", "What is the first number to try, and how do you test it?"),),
        data=Search),
)
