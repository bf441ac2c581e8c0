"""Number tasks: remainders, divisors, gcd/lcm, base conversion, discriminants, sums of series and terms of
sequences. Each answer is computed one way and checked another (the check is a step of its own), so a verdict
never rests on one method."""

from __future__ import annotations

import math
import re

import sympy as sp

from .parse import ParseError, parse_number
from .solution import Solution, SolveError, Step, to_base


def _remainder(p) -> Solution:
    a, n = int(p.expr), int(p.n)
    r = a % n
    steps = []
    if p.source:
        steps.append(Step("Sum the series first", sp.Integer(a)))
    if abs(a) > 10 ** 12:
        steps.append(Step(f"Reduce {a} modulo {n}", sp.Integer(r)))
    else:  # the quotient first, so the first step (a tutor's first hint) does not give the answer away
        steps.append(Step(f"Divide {a} by {n}: {n} goes into it {a // n} whole times", sp.Integer(a // n)))
        steps.append(Step(f"Take away {n} · {a // n} = {n * (a // n)}: what is left is the remainder",
                          sp.Integer(r)))
    if (a - r) % n != 0 or not 0 <= r < n:
        raise SolveError("the remainder failed its check")
    steps.append(Step(f"Check: {a} − {r} is a multiple of {n}, and 0 ≤ {r} < {n}"))
    return Solution(p, sp.Integer(r), steps, list(p.notes), check="a − r divisible by n")


def _superscript(e: int) -> str:
    return "" if e == 1 else str(e).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _divisors(p) -> Solution:
    n = int(p.expr)
    fac = sp.factorint(n)
    count = math.prod(e + 1 for e in fac.values())
    powers = " · ".join(f"{q}{_superscript(e)}" for q, e in fac.items()) if fac else "1"
    steps = [Step(f"Prime factorization: {n} = {powers}"),  # text: an unevaluated product would not survive pickling
             Step("A divisor picks each prime's exponent from 0 up to its power: multiply (exponent + 1)",
                  sp.Integer(count))]
    if n <= 10 ** 7:  # each divisor d ≤ √n pairs with n/d, itself when d² = n
        direct = sum(1 if d * d == n else 2 for d in range(1, math.isqrt(n) + 1) if n % d == 0)
        if direct != count:
            raise SolveError("the divisor count failed its check")
        steps.append(Step(f"Check: listing the divisors one by one also finds {direct}"))
    return Solution(p, sp.Integer(count), steps, check="count by listing")


def _gcd_lcm(p) -> Solution:
    nums = [int(v) for v in p.items]
    g = math.gcd(*nums)
    if p.kind == "gcd":
        steps = [Step("Euclid's algorithm", sp.Integer(g))]
        if any(v % g for v in nums if g):
            raise SolveError("the gcd failed its check")
        facs = [sp.factorint(v) for v in nums]
        common = math.prod(q ** min(f.get(q, 0) for f in facs) for q in facs[0])
        if common != g:
            raise SolveError("the gcd failed its check")
        steps.append(Step("Check: the common prime powers multiply to the same number", sp.Integer(common)))
        return Solution(p, sp.Integer(g), steps, check="prime factorizations")
    lcm = math.lcm(*nums)
    facs = [sp.factorint(v) for v in nums]
    primes = set().union(*facs)
    other = math.prod(q ** max(f.get(q, 0) for f in facs) for q in primes)
    if other != lcm:
        raise SolveError("the lcm failed its check")
    return Solution(p, sp.Integer(lcm), [Step("Highest power of each prime", sp.Integer(other)),
                                          Step("Check: lcm via gcd gives the same", sp.Integer(lcm))],
                    check="prime factorizations and gcd")


def _base(p) -> Solution:
    n, b = int(p.expr), int(p.n)
    digits = to_base(n, b)
    steps = [Step(f"Divide by {b} repeatedly; the remainders, last first, are the digits", sp.Symbol(f"{digits}_{b}"))]
    back = sum(int(d, 36) * b ** k for k, d in enumerate(reversed(digits.lstrip("-")))) * (-1 if n < 0 else 1)
    if back != n:
        raise SolveError("the base conversion failed its check")
    steps.append(Step(f"Check: the digits times powers of {b} add back to {n}", sp.Integer(back)))
    return Solution(p, sp.Integer(n), steps, check="conversion back to base 10")


def _discriminant(p) -> Solution:
    a, b, c = sp.Poly(p.expr, p.var).all_coeffs()
    d = sp.expand(b ** 2 - 4 * a * c)
    if sp.simplify(d - sp.discriminant(p.expr, p.var)) != 0:
        raise SolveError("the discriminant failed its check")
    return Solution(p, d, [Step(f"a = {a}, b = {b}, c = {c}"), Step("b² − 4ac", d),
                           Step("Check: SymPy's discriminant of the polynomial agrees")], check="two methods")


def _series(p) -> Solution:
    total, steps = series_sum(p.source)
    return Solution(p, total, steps, check="closed form and term-by-term sum")


def _sequence(p) -> Solution:
    """The n-th term of a sequence given by its first terms: the rule is read from at least three of them (and
    must be the one the problem names, if it names one); the closed form is checked by stepping the rule from the
    first term."""
    terms, n = list(p.items), int(p.n)
    rules = [r for r in _rules(terms) if not p.rule or r[0] == p.rule]
    if len(rules) != 1:
        raise ParseError(f"the given terms are not {p.rule}" if p.rule and not rules else
                         "the pattern of the given terms is ambiguous" if rules else
                         "the given terms follow no arithmetic or geometric pattern")
    name, step, general = rules[0]
    k = sp.Symbol("n", integer=True, positive=True)
    value = sp.nsimplify(general(n)) if any(isinstance(t, sp.Float) for t in terms) else general(n)
    move = f"adds {sp.sstr(step)} to" if name == "arithmetic" else f"is multiplied by {sp.sstr(step)} from"
    shown = general(k)
    if name == "geometric" and isinstance(step, sp.Rational) and step.q != 1:
        # p^(n−1)/q^(n−1): the 2-D printer shows a Rational ratio raised to a power without brackets (125⋅3/5ⁿ⁻¹)
        shown = terms[0] * sp.Pow(step.p, k - 1) / sp.Pow(step.q, k - 1)
    steps = [Step(f"Each term {move} the one before (a {name} sequence); write term n as a formula",
                  sp.Eq(sp.Symbol("a_n"), shown)),
             Step(f"Put n = {n}", value)]
    if n <= 10 ** 5:
        v = terms[0]
        for _ in range(n - 1):
            v = v + step if name == "arithmetic" else v * step
        if sp.simplify(v - value) != 0:
            raise SolveError("the n-th term failed its check")
        steps.append(Step(f"Check: stepping from the first term {n - 1} times gives the same", v))
    return Solution(p, value, steps, check="closed form and stepping the rule")


def _rules(terms: list) -> list:
    """(name, difference or ratio, term n from 1) of every rule the written terms follow exactly."""
    if len(terms) < 3:
        raise ParseError("give at least three terms so the pattern is not a guess")
    out = []
    d = terms[1] - terms[0]
    if all(sp.simplify(terms[i + 1] - terms[i] - d) == 0 for i in range(len(terms) - 1)):
        out.append(("arithmetic", d, lambda n: terms[0] + (n - 1) * d))
    if all(t != 0 for t in terms):
        r = sp.simplify(terms[1] / terms[0])
        if r != 1 and all(sp.simplify(terms[i + 1] / terms[i] - r) == 0 for i in range(len(terms) - 1)):
            out.append(("geometric", r, lambda n: terms[0] * r ** (n - 1)))
    return out


def _inverse(p) -> Solution:
    """a⁻¹ modulo n by the extended Euclidean algorithm; checked: a·a⁻¹ leaves remainder 1."""
    a, n = int(p.expr), int(p.n)
    if math.gcd(a, n) != 1:
        raise SolveError(f"{a} has no inverse modulo {n}: they share the factor {math.gcd(a, n)}")
    inv = pow(a, -1, n)
    if a * inv % n != 1:
        raise SolveError("the inverse failed its check")
    steps = [Step(f"Find x with {a}·x leaving remainder 1 on division by {n} (extended Euclid)", sp.Integer(inv)),
             Step(f"Check: {a} · {inv} = {a * inv} = {n} · {a * inv // n} + 1")]
    return Solution(p, sp.Integer(inv), steps, check="a·x ≡ 1")


def _polydiv(p) -> Solution:
    """The quotient or remainder of polynomial long division; checked: quotient × divisor + remainder is the
    dividend with the remainder's degree below the divisor's (and, for x − c, the remainder is f(c))."""
    f, d, x = p.items[0], p.items[1], p.var
    q, r = sp.div(sp.expand(f), sp.expand(d), x)
    if sp.expand(q * d + r - f) != 0 or sp.degree(r, x) >= sp.degree(d, x):
        raise SolveError("the division failed its check")
    steps = [Step(f"Divide {sp.sstr(f)} by {sp.sstr(d)} (long division)"), Step("Quotient", q), Step("Remainder", r),
             Step("Check: quotient × divisor + remainder gives back the dividend")]
    if sp.degree(d, x) == 1:
        root = sp.solve(d, x)[0]
        if sp.simplify(f.subs(x, root) - r) != 0:
            raise SolveError("the remainder theorem disagrees with the division")
        steps.append(Step(f"Check: the remainder theorem, f({sp.sstr(root)}) = {sp.sstr(r)}"))
    return Solution(p, q if p.pick == "quotient" else r, steps, check="dividend rebuilt")


def _arrangements(p) -> Solution:
    """Orderings of a word's letters, repeated letters indistinguishable: n! / (k₁!·k₂!·…); checked by listing
    the distinct orderings (up to 9 letters) or by placing one letter kind at a time (choose its positions)."""
    letters = [str(c) for c in p.items]
    n = len(letters)
    counts = {c: letters.count(c) for c in dict.fromkeys(letters)}
    total = math.factorial(n)
    for k in counts.values():
        total //= math.factorial(k)
    repeated = {c: k for c, k in counts.items() if k > 1}
    steps = [Step(f"{n} letters" + (", with " + ", ".join(f"{c} {k} times" for c, k in repeated.items())
                                    if repeated else ", all different")),
             Step(f"{n}! orderings, divided by the orderings of each repeated letter among itself", sp.Integer(total))]
    left, placed = n, 1
    for k in counts.values():  # choose the positions of each letter kind in turn
        placed *= math.comb(left, k)
        left -= k
    if placed != total:
        raise SolveError("the arrangement count failed its check")
    if n <= 9:
        from itertools import permutations
        if len(set(permutations(letters))) != total:
            raise SolveError("the arrangement count failed its check")
        steps.append(Step("Check: listing the distinct orderings one by one gives the same"))
    else:
        steps.append(Step("Check: choosing the positions of each letter in turn gives the same", sp.Integer(placed)))
    return Solution(p, sp.Integer(total), steps, check="formula and listing")


def _test(cond: str, exact: bool):
    """A condition on whole numbers as a predicate; exact=False gives the twin used to check the count (different
    arithmetic: SymPy's primality and roots against trial division and integer roots)."""
    neg = cond.startswith("not ")
    body = cond[4:] if neg else cond
    if body.startswith("divisible by "):
        k = int(body.split()[-1])
        f = (lambda n: n % k == 0) if exact else (lambda n: math.gcd(n, k) == k)
    elif body in ("even", "odd"):
        f = (lambda n: n % 2 == (body == "odd")) if exact else (lambda n: (n & 1) == (body == "odd"))
    elif body == "prime":
        f = (lambda n: n > 1 and all(n % d for d in range(2, math.isqrt(n) + 1))) if exact else \
            (lambda n: bool(sp.isprime(n)))
    elif body == "a perfect square":
        f = (lambda n: n >= 0 and math.isqrt(n) ** 2 == n) if exact else (lambda n: n >= 0 and sp.sqrt(n).is_Integer)
    elif body == "a perfect cube":
        f = (lambda n: round(abs(n) ** (1 / 3)) ** 3 == abs(n)) if exact else \
            (lambda n: sp.integer_nthroot(abs(n), 3)[1])
    else:
        raise SolveError(f"unknown condition {cond!r}")
    return (lambda n: not f(n)) if neg else f


def _chance(p) -> Solution:
    """The probability that an integer drawn uniformly from lo..hi meets the conditions: those that do, counted,
    over all of them; the count is checked with a second implementation of each condition."""
    lo, hi = int(p.items[0]), int(p.items[1])
    join = all if p.source == "and" else any
    counts = []
    for exact in (True, False):
        tests = [_test(c, exact) for c in p.items[2:]]
        counts.append(sum(1 for n in range(lo, hi + 1) if join(t(n) for t in tests)))
    if counts[0] != counts[1]:
        raise SolveError("the count failed its check")
    total = hi - lo + 1
    said = f" {p.source} ".join(p.items[2:])
    if p.pick == "count":
        steps = [Step(f"The integers from {lo} to {hi}: {total} of them"),
                 Step(f"Count those that are {said}", sp.Integer(counts[0])),
                 Step("Check: counting again with another test for each condition gives the same")]
        return Solution(p, sp.Integer(counts[0]), steps, check="two counts")
    steps = [Step(f"There are {total} integers from {lo} to {hi}, each as likely"),
             Step(f"Count those that are {said}", sp.Integer(counts[0])),
             Step("The probability is the count over the total", sp.Rational(counts[0], total)),
             Step("Check: counting again with another test for each condition gives the same")]
    return Solution(p, sp.Rational(counts[0], total), steps, check="two counts")


def _multiples(p) -> Solution:
    """Multiples of k strictly between lo and hi: the first and last, their count and sum by the arithmetic-series
    formula, checked by listing them (up to ten million numbers)."""
    k, lo, hi = (int(v) for v in p.items)
    first, last = (lo // k + 1) * k, -((-hi) // k) * k - k        # the smallest above lo, the largest below hi
    count = max(0, (last - first) // k + 1)
    total = count * (first + last) // 2 if count else 0
    steps = [Step(f"The multiples of {k} run from {first} to {last} in steps of {k}") if count else
             Step(f"No multiple of {k} lies strictly between {lo} and {hi}"),
             Step(f"There are ({last} − {f'({first})' if first < 0 else first})/{k} + 1 of them",
                  sp.Integer(count)) if count else
             Step("So there are none", sp.Integer(0))]
    if p.pick == "sum" and count:
        steps.append(Step("Their sum: count × (first + last)/2", sp.Integer(total)))
    answer = total if p.pick == "sum" else count
    if hi - lo <= 10 ** 7:
        listed = [m for m in range(lo + 1, hi) if m % k == 0]
        if (sum(listed) if p.pick == "sum" else len(listed)) != answer:
            raise SolveError("the count or sum of the multiples failed its check")
        steps.append(Step("Check: listing them one by one gives the same"))
    return Solution(p, sp.Integer(answer), steps, check="formula and listing")


def _range_sum(p) -> Solution:
    """The integers lo..hi (all, or the odd or the even ones) added: count × (first + last)/2, checked by adding
    them one by one (up to ten million), or for all integers by T(hi) − T(lo − 1) with T(n) = n(n + 1)/2."""
    lo, hi = (int(v) for v in p.items)
    step = 1 if p.pick == "all" else 2
    first = lo if step == 1 or (lo % 2 == 1) == (p.pick == "odd") else lo + 1
    last = hi if step == 1 or (hi % 2 == 1) == (p.pick == "odd") else hi - 1
    count = max(0, (last - first) // step + 1)
    total = count * (first + last) // 2
    which = "integers" if step == 1 else f"{p.pick} integers"
    steps = [Step(f"The {which} from {lo} to {hi} run from {first} to {last} in steps of {step}: {count} of them"),
             Step("Their sum: count × (first + last)/2", sp.Integer(total))]
    if hi - lo <= 10 ** 7:
        if sum(range(first, last + 1, step)) != total:
            raise SolveError("the sum failed its check")
        steps.append(Step("Check: adding them one by one gives the same"))
    elif step == 1:
        if hi * (hi + 1) // 2 - (lo - 1) * lo // 2 != total:
            raise SolveError("the sum failed its check")
        steps.append(Step("Check: 1 + 2 + … + n = n(n + 1)/2, so the sum is T(hi) − T(lo − 1), the same"))
    else:
        raise SolveError("too many numbers to check the sum by adding them")
    return Solution(p, sp.Integer(total), steps, check="formula and adding")


def _digit_sum(p) -> Solution:
    """The digits of a whole number or a terminating decimal, summed; checked by peeling digits off with % 10."""
    v = p.expr
    twos_fives = sp.factorint(v.q)
    if any(q not in (2, 5) for q in twos_fives):
        raise SolveError("the number is not a terminating decimal, so its digits do not end")
    places = max(twos_fives.values(), default=0)             # 10^places · v is a whole number
    scaled = int(v * 10 ** places)
    if scaled > 10 ** 100000:
        raise SolveError("too many digits")
    digits = str(scaled).rjust(places + 1, "0")
    written = digits if not places else digits[:-places] + "." + digits[-places:]
    total = sum(int(d) for d in digits)
    peeled, n = 0, scaled
    while n:
        peeled, n = peeled + n % 10, n // 10
    if peeled != total:
        raise SolveError("the digit sum failed its check")
    shown = written if len(written) <= 120 else f"{written[:40]}…{written[-40:]} ({len(digits)} digits)"
    steps = [Step("Write the number out in full", sp.Symbol(shown)),
             Step("Add its digits", sp.Integer(total)),
             Step("Check: taking the digits off one by one (remainders mod 10) gives the same sum")]
    return Solution(p, sp.Integer(total), steps, check="digits by writing and by remainders")


HANDLERS = {"remainder": _remainder, "divisors": _divisors, "gcd": _gcd_lcm, "lcm": _gcd_lcm, "base": _base,
            "discriminant": _discriminant, "series": _series, "sequence": _sequence, "digitsum": _digit_sum,
            "multiples": _multiples, "inverse": _inverse, "polydiv": _polydiv,
            "arrangements": _arrangements, "chance": _chance, "rangesum": _range_sum}


# ---- sums written with … ----------------------------------------------------------------------------------------


def series_sum(text: str) -> tuple[sp.Expr, list]:
    """1 + 2 + 3 + … + 100, 1 − 2 + 3 − 4 + … − 100, 1 + 3 + 9 + … + 729: the terms follow from the written ones
    (arithmetic, alternating arithmetic or geometric), or the series is refused. Returns the sum and the steps."""
    if text.count("…") != 1:
        raise ParseError("'…' must appear once, between the first terms and the last")
    head, tail = text.split("…")
    head, tail = head.strip(), tail.strip()
    if not head.endswith(("+", "-")) or not tail.startswith(("+", "-")):
        raise ParseError("'…' is only understood between terms of a sum, as in 1 + 2 + … + 100")
    first = _signed_terms(head[:-1])
    last = _signed_terms(tail)
    if len(first) < 3 or not last:
        raise ParseError("give at least three terms before '…' so the pattern is not a guess")
    # decide the rule from the written head and check it against every written term; term k counts from 0
    rules = [(name, lambda k, general=general: general(k + 1)) for name, _, general in _rules(first)]
    alt = [t * (-1) ** k for k, t in enumerate(first)]
    da = alt[1] - alt[0]
    if all(alt[k + 1] - alt[k] == da for k in range(len(alt) - 1)) and first[0] * first[1] < 0:
        rules.append(("alternating", lambda k: (-1) ** k * (alt[0] + k * da)))
    if len(rules) != 1:
        raise ParseError("the pattern of the terms before '…' is ambiguous" if rules else
                         "the terms before '…' follow no arithmetic, alternating or geometric pattern")
    name, term = rules[0]
    # the index of the last written term, and the terms between must follow the same rule
    n_last = _index_of(term, last[-1], name)
    n_first_tail = n_last - len(last) + 1
    for j, t in enumerate(last):
        if term(n_first_tail + j) != t:
            raise ParseError(f"the terms after '…' do not follow the {name} pattern of the first terms")
    if n_first_tail < len(first):
        raise ParseError("the terms after '…' overlap the first terms")
    count = n_last + 1
    if count > 10 ** 6:
        raise ParseError("too many terms")
    k = sp.Symbol("k", integer=True, nonnegative=True)
    general = term(k) if name != "alternating" else (-1) ** k * (alt[0] + k * da)
    total = sp.summation(general, (k, 0, n_last))
    brute = sum(term(j) for j in range(count)) if count <= 20000 else None
    if brute is not None and sp.simplify(brute - total) != 0:
        raise ParseError("the closed form and the term-by-term sum disagree")
    steps = [Step(f"The terms are {name}: term k (from 0) is", sp.Eq(sp.Symbol("a_k"), general)),
             Step(f"The last term {sp.sstr(last[-1])} is term {n_last}, so there are {count} terms"),
             Step("Sum them", total)]
    if brute is not None:
        steps.append(Step(f"Check: adding the {count} terms one by one gives the same", sp.Integer(brute)
                          if isinstance(brute, int) else brute))
    return total, steps


def _signed_terms(text: str) -> list:
    text = text.strip()
    if not text:
        return []
    parts = re.findall(r"([+-]?)\s*([^+-]+)", text)
    out = []
    for sign, body in parts:
        v = parse_number(body, latex=True)
        out.append(-v if sign == "-" else v)
    return out


def _index_of(term, value, name) -> int:
    for k in range(0, 10 ** 6 + 1):
        v = term(k)
        if v == value:
            return k
        if name != "geometric" and abs(v) > abs(value) + abs(term(1) - term(0)) * 2 and k > 2:
            break
        if name == "geometric" and abs(v) > abs(value) * 10 ** 3 and k > 2:
            break
    raise ParseError(f"the last term {value} does not follow the pattern of the first terms")
