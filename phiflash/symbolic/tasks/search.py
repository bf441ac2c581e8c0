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
                "ends": f"{e} ends in {self.k}", "coprime": f"{e} and {self.k} have no common factor"}[self.kind]
        return f"not ({said})" if self.negated else said


@dataclass(frozen=True)
class Search:
    var: sp.Symbol
    tests: tuple[Test, ...]


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
    (rf"{_SUBJECT}is (?:a )?prime(?: number)?", "prime"),
    (rf"{_SUBJECT}is (?:a )?perfect (?P<p>square|cube|fourth power|fifth power)", "power"),
    (rf"{_SUBJECT}is (?:an )?integer", "integer"),
    (r"(?:has )?exactly (?P<count>\S+) (?:distinct )?(?:positive )?(?:integer |integral )?(?:divisors|factors)",
     "divisors"),
    (rf"{_SUBJECT}(?:is )?greater than (?P<k>{_NUM})", "greater"),
    (rf"ends in (?P<k>{_NUM})", "ends"),
    (rf"(?:is )?relatively prime to (?P<k>{_NUM})", "coprime"),
    (r"(?P<ks>⟦\d+⟧) (?:is a factor of|divides) (?P<e>⟦\d+⟧)", "multiple"),
    # '$4x \equiv 13 \pmod{27}$' is '⟦4x ≡ 13⟧ mod ⟦27⟧' in the sentence: both sides differ by a multiple of 27
    (rf"(?:satisfies the congruence )?(?P<cong>⟦\d+⟧) mod (?P<ks>{_NUM})", "multiple"),
]]
_JOINER = re.compile(r"\s*,?\s*(?:(?:and|but|that|which|also|is)\s+)*(?P<neg>not\s+)?")


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
    if kind in ("multiple", "remainder", "coprime") and min(ks) < 1 or kind == "remainder" and not all(
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
        free = {v for k in SLOT_RE.findall(g["cond"]) for item in parse_math(s.math[int(k)].replace("\\equiv", "="),
                                                                                  latex=True)
                for v in item.free_symbols}
        var = free.pop() if len(free) == 1 else sp.Symbol("n")
    tests = _clauses(g["cond"], s, var)
    if not all(t.expr.free_symbols <= {var} for t in tests):
        raise ParseError("every property must be of the one number sought")
    return Search(var, tests)


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
    for n in range(1, LIMIT + 1):
        try:
            passes = all(_holds(t, int(p(n)), int(q(n))) for t, (p, q) in zip(s.tests, programs))
        except (OverflowError, ValueError, ZeroDivisionError, TypeError) as e:   # never skipped: that would
            raise SolveError(f"the property cannot be tested at {s.var} = {n}") from e   # miss the least
        if passes:
            said = " and ".join(t.said() for t in s.tests)
            return Worked(sp.Integer(n), [
                Step(f"Try {s.var} = 1, 2, 3, … in turn and test whether {said}"),
                Step(f"The first that passes is {s.var} = {n}: each smaller one failed", sp.Integer(n))])
    raise SolveError(f"no positive integer up to {LIMIT:,} has the property: not searched further")


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
    raise AssertionError(t.kind)


def check_search(s: Search, w: Worked) -> Step:
    n = int(w.answer)
    if n < 1 or not all(_sympy_holds(t, s.var, n) for t in s.tests):
        raise SolveError("the answer does not have the property by SymPy's test")
    below = next((m for m in range(1, n) if all(_sympy_holds(t, s.var, m) for t in s.tests)), None)
    if below is not None:
        raise SolveError(f"{below}, which is smaller, also has the property by SymPy's test")
    return Step(f"Check: SymPy's own tests find the property at {n} and at none of 1 to {n - 1}")


_LEAST = rf"(?:{WHAT} |name )?the (?:smallest|least) positive (?:integer|whole number)"

TASKS = (
    Task("search", "the least positive integer with properties tested one number at a time (a multiple of, a "
                   "remainder, prime, a perfect power, an integer, a divisor count, how it ends, coprime to, not …)",
         phrasings=(
        # below the other families (45): where a family of its own reads the sentence (a congruence's least
        # solution), that family's method is the one shown
        (45, rf"{_LEAST}(?: value of)?(?: (?P<v>⟦\d+⟧))?,?\s*(?:such that |for which |so that |where |with )?"
             rf"(?P<cond>.+)"),),
        read=read_search, solve=solve_search, check=check_search,
        examples=(("What is the least positive integer value of $x$ such that $(2x)^2 + 2\\cdot 37\\cdot 2x + 37^2$ "
                   "is a multiple of 47?", "5"),
                  ("What is the smallest positive integer $n$ such that $3n$ is a perfect square and $2n$ is a "
                   "perfect cube?", "108"),
                  ("What is the least positive integer with exactly $10$ positive factors?", "48"),
                  ("Find the smallest positive integer divisible by $10$, $11$, and $12$.", "660"),
                  ("What is the smallest positive integer that leaves a remainder of 4 when divided by 5 and a "
                   "remainder of 6 when divided by 7?", "34"),
                  ("What is the smallest positive integer that is a multiple of both 30 and 40 but not a multiple "
                   "of 16?", "120")),
        questions=((r"^Try \S+ = 1, 2, 3", "What is the first number to try, and how do you test it?"),),
        data=Search),
)
