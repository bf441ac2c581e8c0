"""Counting and probability: arrangements of a word's letters, choosing k of n, how many integers of a range meet
conditions (and the probability that a random one does), multiples of k in a range."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from itertools import permutations

import sympy as sp

from ..parse import ParseError
from ..sentence import ATOM, WHAT, A, B, Sentence, integer, whole
from .base import SolveError, Step, Task, Worked

# ---- arrangements of letters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrangements:
    word: str


def read_arrangements(g: dict, s: Sentence) -> Arrangements:
    if len(g["word"]) > 20:
        raise ParseError("a word of at most 20 letters")
    return Arrangements(g["word"].upper())


def solve_arrangements(a: Arrangements) -> Worked:
    """n! / (k₁!·k₂!·…): repeated letters are indistinguishable."""
    n, counts = len(a.word), {c: a.word.count(c) for c in dict.fromkeys(a.word)}
    total = math.factorial(n)
    for k in counts.values():
        total //= math.factorial(k)
    repeated = {c: k for c, k in counts.items() if k > 1}
    return Worked(sp.Integer(total), [
        Step(f"{n} letters" + (", with " + ", ".join(f"{c} {k} times" for c, k in repeated.items())
                               if repeated else ", all different")),
        Step(f"{n}! orderings, divided by the orderings of each repeated letter among itself", sp.Integer(total))])


def check_arrangements(a: Arrangements, w: Worked) -> Step:
    """Listing the distinct orderings (up to 9 letters), else placing one letter kind at a time."""
    if len(a.word) <= 9:
        if len(set(permutations(a.word))) != w.answer:
            raise SolveError("the arrangement count failed its check")
        return Step("Check: listing the distinct orderings one by one gives the same")
    left, placed = len(a.word), 1
    for k in (a.word.count(c) for c in dict.fromkeys(a.word)):
        placed, left = placed * math.comb(left, k), left - k
    if placed != w.answer:
        raise SolveError("the arrangement count failed its check")
    return Step("Check: choosing the positions of each letter in turn gives the same", sp.Integer(placed))


# ---- choosing k of n --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choose:
    k: int
    n: int


def read_choose(g: dict, s: Sentence) -> Choose:
    k, n = int(integer(s.slot(g, "a"))), int(integer(s.slot(g, "b")))
    if not 0 <= k <= n or n > 10 ** 5:
        raise ParseError("choose k of n needs 0 ≤ k ≤ n")
    return Choose(k, n)


def solve_choose(c: Choose) -> Worked:
    value = math.factorial(c.n) // (math.factorial(c.k) * math.factorial(c.n - c.k))
    return Worked(sp.Integer(value), [Step(f"Choosing {c.k} of {c.n} without regard to order: C({c.n}, {c.k}) = "
                                           f"{c.n}!/({c.k}!·{c.n - c.k}!)", sp.Integer(value))])


def check_choose(c: Choose, w: Worked) -> Step:
    """Ordered choices n·(n − 1)·…·(n − k + 1), one factor at a time, divided by the k! orders of each choice."""
    ordered, k = 1, min(c.k, c.n - c.k)
    for i in range(k):
        ordered *= c.n - i
    again = Fraction(ordered, math.factorial(k))
    if again != w.answer:
        raise SolveError("the count of choices failed its check")
    return Step(f"Check: {c.n}·{c.n - 1}·… ({k} factors) ordered choices, over the {k}! orders of each, gives the "
                "same")


# ---- integers of a range that meet conditions -------------------------------------------------------------------


_CONDITION = re.compile(r"(?P<neg>not )?(?:(?:divisible by|(?:a )?multiples? of) (?P<k>\S+)|"
                        r"(?:leaves? |has |have |gives? )?"
                        r"a remainder of (?P<r>\S+) when divided by (?P<m>\S+)|congruent to (?P<r2>\S+) "
                        r"\(?mod(?:ulo)? (?P<m2>[^\s)]+)\)?|(?P<kind>even|odd|"
                        r"primes?|prime numbers|a prime(?: number)?|(?:a )?perfect squares?|(?:a )?perfect cubes?|"
                        r"a square|a cube))")


@dataclass(frozen=True)
class IntegersMeeting:
    lo: int
    hi: int
    tests: tuple[str, ...]
    join: str                 # and | or
    count: bool               # True: how many; False: the probability that a random one does


def meeting(lo: int, hi: int, cond: str, count: bool) -> IntegersMeeting:
    if not lo <= hi or hi - lo > 10 ** 6:
        raise ParseError("read for a range of at most a million integers")
    join, tests = conditions(cond)
    return IntegersMeeting(lo, hi, tuple(tests), join, count)


def conditions(text: str) -> tuple[str, list[str]]:
    """'divisible by 2 and not divisible by 3' -> ('and', ['divisible by 2', 'not divisible by 3']): each part one
    property of whole numbers, all joined by the same word; anything else is refused."""
    text = re.sub(r"\s+", " ", text.replace("$", " ")).strip(" .?")
    text = re.sub(r"^(?:are|is) ", "", text)
    # 'divisible by both 11 and 5', 'multiples of neither 5 nor 7', 'both a square and a cube': one condition each
    text = re.sub(r"(divisible by|multiples? of) both (\S+) and (\S+)", r"\1 \2 and \1 \3", text)
    text = re.sub(r"(divisible by|multiples? of) neither (\S+) nor (\S+)", r"not \1 \2 and not \1 \3", text)
    text = re.sub(r"^both (?=\S+ \S+ and )", "", text)
    listed = re.fullmatch(r"(not )?divisible by ([^\s,]+(?:, [^\s,]+)*),? and ([^\s,]+)", text)
    if listed and "," in text:  # "divisible by 3, 4, and 5": one condition per number, all required
        ks = [k.strip() for k in listed.group(2).split(",")] + [listed.group(3)]
        text = " and ".join(f"{listed.group(1) or ''}divisible by {k}" for k in ks)
    parts = re.split(r",? (and|but|or) ", text)
    words, conds = set(parts[1::2]), parts[0::2]
    if len(words - {"and", "but"}) and len(words) > 1:
        raise ParseError("conditions joined by both 'and' and 'or' are not read")
    tests = []
    for c in conds:
        m = _CONDITION.fullmatch(c.strip())
        if not m:
            raise ParseError(f"can't read the condition {c!r}")
        if m.group("k"):
            k = integer(m.group("k"))
            if k <= 0:
                raise ParseError("divisible by a positive whole number")
            tests.append(f"{m.group('neg') or ''}divisible by {k}")
        elif m.group("m") or m.group("m2"):
            r, k = integer(m.group("r") or m.group("r2")), integer(m.group("m") or m.group("m2"))
            if not 0 <= r < k:
                raise ParseError("a remainder from 0 to one less than the divisor")
            tests.append(f"{m.group('neg') or ''}remainder {r} mod {k}")
        else:
            word = m.group("kind")
            kind = "prime" if word.startswith(("prime", "a prime")) else "a perfect square" if "square" in word \
                else "a perfect cube" if "cube" in word else word
            tests.append(f"{m.group('neg') or ''}{kind}")
    return ("or" if "or" in words else "and"), tests


def _test(cond: str, first: bool):
    """A condition on whole numbers as a predicate; first=False gives the twin the check counts with (different
    arithmetic: trial division and integer roots against SymPy's primality and roots)."""
    neg = cond.startswith("not ")
    body = cond[4:] if neg else cond
    if body.startswith("remainder "):
        r, k = (int(v) for v in body.split()[1::2])
        f = (lambda n: n % k == r) if first else (lambda n: math.gcd(n - r, k) == k)
    elif body.startswith("divisible by "):
        k = int(body.split()[-1])
        f = (lambda n: n % k == 0) if first else (lambda n: math.gcd(n, k) == k)
    elif body in ("even", "odd"):
        f = (lambda n: n % 2 == (body == "odd")) if first else (lambda n: (n & 1) == (body == "odd"))
    elif body == "prime":
        f = (lambda n: n > 1 and all(n % d for d in range(2, math.isqrt(n) + 1))) if first else \
            (lambda n: bool(sp.isprime(n)))
    elif body == "a perfect square":
        f = (lambda n: n >= 0 and math.isqrt(n) ** 2 == n) if first else (lambda n: n >= 0 and sp.sqrt(n).is_Integer)
    elif body == "a perfect cube":
        f = (lambda n: round(abs(n) ** (1 / 3)) ** 3 == abs(n)) if first else \
            (lambda n: sp.integer_nthroot(abs(n), 3)[1])
    else:
        raise SolveError(f"unknown condition {cond!r}")
    return (lambda n: not f(n)) if neg else f


def _count(m: IntegersMeeting, first: bool) -> int:
    join = all if m.join == "and" else any
    tests = [_test(c, first) for c in m.tests]
    return sum(1 for n in range(m.lo, m.hi + 1) if join(t(n) for t in tests))


def solve_meeting(m: IntegersMeeting) -> Worked:
    found, total = _count(m, True), m.hi - m.lo + 1
    said = f" {m.join} ".join(m.tests)
    if m.count:
        return Worked(sp.Integer(found), [Step(f"The integers from {m.lo} to {m.hi}: {total} of them"),
                                          Step(f"Count those that are {said}", sp.Integer(found))])
    return Worked(sp.Rational(found, total), [Step(f"There are {total} integers from {m.lo} to {m.hi}, each as likely"),
                                              Step(f"Count those that are {said}", sp.Integer(found)),
                                              Step("The probability is the count over the total",
                                                   sp.Rational(found, total))], facts={"found": found})


def check_meeting(m: IntegersMeeting, w: Worked) -> Step:
    again = _count(m, False)
    if (again if m.count else sp.Rational(again, m.hi - m.lo + 1)) != w.answer:
        raise SolveError("the count failed its check")
    return Step("Check: counting again with another test for each condition gives the same")


def read_count(g: dict, s: Sentence) -> IntegersMeeting:
    if g.get("between"):   # strictly between
        lo, hi = int(integer(s.slot(g, "b"))), int(integer(s.slot(g, "c")))
        kind = meeting(lo, hi, g["cond"], count=True)
        if any(_count(IntegersMeeting(v, v, kind.tests, "and", True), True) for v in (lo, hi)):
            raise ParseError("an end of the range has the property itself, so whether 'between' includes it is a "
                             "guess")
        return meeting(lo + 1, hi - 1, g["cond"], count=True)
    if g.get("digits"):   # the n-digit numbers: 10ⁿ⁻¹ to 10ⁿ − 1
        n = whole(g["digits"])
        if not 2 <= n <= 6:   # one-digit: whether 0 is one is a guess
            raise ParseError("n-digit numbers are counted here for n from 2 to 6")
        return meeting(10 ** (n - 1), 10 ** n - 1, s.slot(g, "cond"), count=True)
    b = whole(s.slot(g, "b"))
    lo, hi = (1, b) if g.get("first") else (1, b - 1) if g.get("c") is None else (b, int(integer(s.slot(g, "c"))))
    return meeting(lo, hi, s.slot(g, "cond"), count=True)


def read_chance(g: dict, s: Sentence) -> IntegersMeeting:
    if g.get("set"):
        m = re.fullmatch(r"\\?\{\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(?:\\[lc]?dots|…)\s*,\s*(-?\d+)"
                         r"\s*\\?\}", s.slot(g, "set").replace(" ", ""))
        if not m or [int(m.group(k)) for k in (2, 3)] != [int(m.group(1)) + 1, int(m.group(1)) + 2]:
            raise ParseError("read as a set of consecutive integers {1, 2, 3, …, n}")
        lo, hi = int(m.group(1)), int(m.group(4))
    else:
        lo, hi = int(integer(s.slot(g, "b"))), int(integer(s.slot(g, "c")))
    return meeting(lo, hi, s.slot(g, "cond"), count=False)


# ---- sums of the integers of a range with a property ------------------------------------------------------------


@dataclass(frozen=True)
class RangeTotal:
    lo: int
    hi: int
    tests: tuple[str, ...]
    first: int = 0            # the first this many of them from lo, not all up to hi


_NOUNS = {"prime": "prime", "primes": "prime", "perfect squares": "a perfect square",
          "perfect cubes": "a perfect cube", "odd": "odd", "even": "even"}


def read_range_total(g: dict, s: Sentence) -> RangeTotal:
    noun = re.sub(r"\s+(?:positive )?(?:integers|numbers|whole numbers)$", "", g["noun"].lower()).strip()
    test = _NOUNS.get(noun)
    if test is None:
        raise ParseError(f"can't read {g['noun']!r} as a kind of whole number")
    if g.get("first"):
        n = whole(s.slot(g, "first"))
        if not 1 <= n <= 10 ** 5:
            raise ParseError("the first n numbers, n from 1 to 100,000")
        return RangeTotal(1, 10 ** 7, (test,), n)
    lo, hi = int(integer(s.slot(g, "b"))), int(integer(s.slot(g, "c")))
    if not lo < hi or hi - lo > 10 ** 6:
        raise ParseError("read for a range of at most a million integers")
    if any(_test(test, True)(v) for v in (lo, hi)):
        raise ParseError("an end of the range has the property itself, so whether 'between' includes it is a guess")
    return RangeTotal(lo + 1, hi - 1, (test,))


def _members(t: RangeTotal, first: bool) -> list[int]:
    tests = [_test(c, first) for c in t.tests]
    found = []
    for n in range(t.lo, t.hi + 1):
        if all(f(n) for f in tests):
            found.append(n)
            if t.first and len(found) == t.first:
                break
    if t.first and len(found) < t.first:
        raise SolveError("not that many such numbers in the range searched")
    return found


def solve_range_total(t: RangeTotal) -> Worked:
    found = _members(t, True)
    said = ", ".join(map(str, found)) if len(found) <= 12 else f"{len(found)} numbers from {found[0]} to {found[-1]}"
    where = f"the first {t.first} that are {t.tests[0]}" if t.first else \
        f"the integers from {t.lo} to {t.hi} that are {t.tests[0]}"
    return Worked(sp.Integer(sum(found)), [Step(f"List {where}: {said}"), Step("Add them", sp.Integer(sum(found)))])


def check_range_total(t: RangeTotal, w: Worked) -> Step:
    again = _members(t, False)
    if sum(again) != w.answer:
        raise SolveError("the sum failed its check")
    return Step("Check: listing them again with another test of the property (SymPy's) gives the same sum")


# ---- multiples of k in a range ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Multiples:
    k: int
    lo: int                   # strictly between lo and hi
    hi: int
    total: bool               # their sum, not their count


def read_multiples(g: dict, s: Sentence) -> Multiples:
    k = int(integer(s.slot(g, "a")))
    between = g["how"] == "between"
    if between != (g.get("c") is not None) or k <= 0:
        raise ParseError("read as: multiples of k between a and b, or positive multiples of k less than n")
    lo, hi = (int(integer(s.slot(g, "b"))), int(integer(s.slot(g, "c")))) if between else (
        0, int(integer(s.slot(g, "b"))))
    if between and (lo % k == 0 or hi % k == 0):
        raise ParseError("an end of the range is itself a multiple, so whether 'between' includes it is a guess")
    if not between and not g.get("pos"):
        raise ParseError("multiples less than n: say positive multiples (the negative ones never end)")
    if between and g.get("pos") and lo < 0:
        raise ParseError("positive multiples between a negative number and another are not read yet")
    return Multiples(k, lo, hi, bool(g.get("pick")))


def solve_multiples(m: Multiples) -> Worked:
    """The first and the last, their count and (count × (first + last)/2) their sum."""
    k = m.k
    first, last = (m.lo // k + 1) * k, -((-m.hi) // k) * k - k        # the smallest above lo, the largest below hi
    count = max(0, (last - first) // k + 1)
    total = count * (first + last) // 2 if count else 0
    steps = [Step(f"The multiples of {k} run from {first} to {last} in steps of {k}") if count else
             Step(f"No multiple of {k} lies strictly between {m.lo} and {m.hi}"),
             Step(f"There are ({last} − {f'({first})' if first < 0 else first})/{k} + 1 of them",
                  sp.Integer(count)) if count else Step("So there are none", sp.Integer(0))]
    if m.total and count:
        steps.append(Step("Their sum: count × (first + last)/2", sp.Integer(total)))
    return Worked(sp.Integer(total if m.total else count), steps)


def check_multiples(m: Multiples, w: Worked) -> Step:
    """Listed one by one (up to ten million numbers)."""
    if m.hi - m.lo > 10 ** 7:
        raise SolveError("too many numbers to check by listing the multiples")
    listed = [v for v in range(m.lo + 1, m.hi) if v % m.k == 0]
    if (sum(listed) if m.total else len(listed)) != w.answer:
        raise SolveError("the count or sum of the multiples failed its check")
    return Step("Check: listing them one by one gives the same")


@dataclass(frozen=True)
class MultipleInDigits:
    k: int
    digits: int
    largest: bool


def read_multiple_in_digits(g: dict, s: Sentence) -> MultipleInDigits:
    k, n = int(integer(s.slot(g, "a"))), whole(g["digits"])
    if k <= 0 or not 2 <= n <= 12:
        raise ParseError("a positive k, and numbers of 2 to 12 digits")
    return MultipleInDigits(k, n, g["which"].lower() in ("greatest", "largest"))


def solve_multiple_in_digits(m: MultipleInDigits) -> Worked:
    lo, hi = 10 ** (m.digits - 1), 10 ** m.digits - 1
    value = hi // m.k * m.k if m.largest else -(-lo // m.k) * m.k
    if not lo <= value <= hi:
        raise SolveError(f"no {m.digits}-digit number is a multiple of {m.k}")
    said = f"{hi} ÷ {m.k}, rounded down, times {m.k}" if m.largest else f"{lo} ÷ {m.k}, rounded up, times {m.k}"
    return Worked(sp.Integer(value), [Step(f"The {'largest' if m.largest else 'smallest'} {m.digits}-digit number is "
                                           f"{hi if m.largest else lo}; the multiple of {m.k} nearest inside is {said}",
                                           sp.Integer(value))])


def check_multiple_in_digits(m: MultipleInDigits, w: Worked) -> Step:
    """A multiple of k with that many digits, and none further out: the k − 1 numbers beyond it are checked."""
    v = int(w.answer)
    beyond = range(v + 1, v + m.k) if m.largest else range(max(v - m.k + 1, 1), v)
    if v % m.k or len(str(v)) != m.digits or any(len(str(u)) == m.digits and u % m.k == 0 for u in beyond):
        raise SolveError("the multiple failed its check")
    return Step(f"Check: {v} = {m.k} · {v // m.k} has {m.digits} digits, and the next multiple "
                f"{'up' if m.largest else 'down'}, {v + m.k if m.largest else v - m.k}, does not")


@dataclass(frozen=True)
class FirstMultiples:
    k: int
    n: int


def read_first_multiples(g: dict, s: Sentence) -> FirstMultiples:
    k, n = int(integer(s.slot(g, "a"))), whole(g["n"])
    if k <= 0 or not 1 <= n <= 10 ** 6:
        raise ParseError("the first n positive multiples of a positive k")
    return FirstMultiples(k, n)


def solve_first_multiples(f: FirstMultiples) -> Worked:
    total = f.k * f.n * (f.n + 1) // 2
    return Worked(sp.Integer(total), [Step(f"{f.k} + {2 * f.k} + … + {f.n * f.k} = {f.k}·(1 + 2 + … + {f.n}) = "
                                           f"{f.k}·{f.n}·{f.n + 1}/2", sp.Integer(total))])


def check_first_multiples(f: FirstMultiples, w: Worked) -> Step:
    if sum(f.k * i for i in range(1, f.n + 1)) != w.answer:
        raise SolveError("the sum failed its check")
    return Step(f"Check: adding the {f.n} multiples one by one gives the same")


TASKS = (
    Task("arrangements", "orderings of a word's letters", phrasings=(
        (50, r"(?:(?:determine|find|compute|what is) the number of|how many) (?:distinct |different )?"
             r"(?:ways (?:are there )?(?:can you |can we |to )?(?:arrange|order)|arrangements of|"
             r"(?:distinct )?permutations of) the letters (?:of|in) the word [\"“']?(?P<word>[A-Za-z]+)[\"”']*"
             r"(?: be arranged| are there| are possible| can be made)?"),),
        read=read_arrangements, solve=solve_arrangements, check=check_arrangements,
        examples=(("Determine the number of ways to arrange the letters of the word ALABAMA.", "210"),),
        questions=((r"orderings, divided", "If every letter were different, how many orderings would there be? "
                                           "Which of them look the same?"),),
        data=Arrangements),
    Task("choose", "choosing k of n (a binomial coefficient)", phrasings=(
        (50, rf"in how many ways can {A} (?:[a-z]+ )?be (?:selected|chosen|picked) from (?:a group of |a set of )?"
             rf"{B}(?: [a-z]+)?"),
        (50, rf"how many ways are there to (?:choose|select|pick) {A} (?:[a-z]+ )?from (?:a group of |a set of )?"
             rf"{B}(?: [a-z]+)?")),
        read=read_choose, solve=solve_choose, check=check_choose,
        examples=(("In how many ways can 3 people be chosen from a group of 8 people?", "56"),),
        questions=((r"^Choosing", "Does the order of the chosen ones matter?"),),
        data=Choose),
    Task("count", "how many integers of a range are even, odd, prime, squares, cubes or divisible by k", phrasings=(
        (50, rf"how many of the (?P<first>first) {B} positive integers are (?P<cond>.+)"),
        (50, rf"how many positive integers (?:less than|below) {B} (?P<cond>(?:are|leave|have) .+)"),
        (50, rf"how many (?:positive )?integers from {B} (?:to|through) (?P<c>{ATOM}+?)(?:,? inclusive,?)? are "
             rf"(?P<cond>.+)"),
        (50, r"how many (?:positive )?(?P<digits>\w+)-digit (?:positive )?(?:integers|numbers|whole numbers) "
             r"(?P<cond>(?:are|leave|have) .+)"),
        (50, rf"how many (?P<cond>prime numbers|primes|perfect squares|perfect cubes) are (?:there )?"
             rf"(?P<between>between) {B} and "
             rf"(?P<c>{ATOM}+?)"),
        (50, rf"how many (?:positive )?(?:integers|natural numbers|whole numbers|numbers) (?:are there )?"
             rf"(?P<between>between) {B} and (?P<c>{ATOM}+?),? (?:are|is) (?P<cond>.+)"),),
        read=read_count, solve=solve_meeting, check=check_meeting,
        examples=(("How many positive integers less than 100 are divisible by 3 and not divisible by 2?", "17"),
                  ("How many of the first 50 positive integers are prime?", "15"),
                  ("How many natural numbers between 150 and 300 are divisible by 9?", "17")),
        questions=((r"^Count those that are", "Which of them meet the condition? Count them."),),
        data=IntegersMeeting),
    Task("rangetotal", "the sum of the primes, squares, cubes, odd or even numbers between a and b, or of the first n",
         phrasings=(
        (50, rf"(?:{WHAT} )?the sum of (?:all )?(?:of )?(?:the )?(?P<noun>prime numbers|primes|perfect squares|"
             rf"perfect cubes|odd (?:positive )?(?:integers|numbers|whole numbers)|even (?:positive )?(?:integers|"
             rf"numbers|whole numbers)) between {B} and (?P<c>{ATOM}+?)"),
        (50, rf"(?:{WHAT} )?the sum of the first (?P<first>{ATOM}+?) (?P<noun>prime numbers|primes|perfect squares|"
             rf"perfect cubes|odd (?:positive )?(?:integers|numbers|whole numbers)|even (?:positive )?(?:integers|"
             rf"numbers|whole numbers))"),),
        read=read_range_total, solve=solve_range_total, check=check_range_total,
        examples=(("What is the sum of all the prime numbers between 1 and 10?", "17"),
                  ("What is the sum of the first 10 odd positive integers?", "100")),
        questions=((r"^List ", "Which numbers of the range have the property?"),),
        data=RangeTotal),
    Task("chance", "the probability that a random integer of a range meets conditions", phrasings=(
        (50, rf"(?:a|an|one) (?:whole )?(?:number|integer) is (?:selected|chosen|picked|drawn) "
             rf"(?:at random|randomly) from (?:the integers )?{B} (?:through|to) (?P<c>{ATOM}+?)"
             rf"(?:,? inclusive)?[.,;]? what is the probability that "
             rf"(?:the|this|it|the selected|the chosen) ?(?:number|integer)? is (?P<cond>.+)"),
        (50, rf"what is the probability that a randomly (?:selected|chosen) (?:whole )?(?:number|integer) "
             rf"(?:in|from) the set (?P<set>{ATOM}+?) is (?P<cond>.+)")),
        read=read_chance, solve=solve_meeting, check=check_meeting,
        examples=(("A number is selected at random from 1 through 100, inclusive. What is the probability that "
                   "the number is a perfect square?", "1/10"),),
        questions=((r"^There are \d+ integers from", "How many numbers can be drawn, each equally likely?"),
                   (r"^The probability is the count", "Probability = favourable outcomes / all outcomes: what is it "
                                                      "here?"))),
    Task("multiples", "how many multiples of k lie in a range, or their sum", phrasings=(
        (50, rf"(?:{WHAT} )?the (?P<pick>sum) of (?:all )?(?:of )?the (?P<pos>positive )?multiples of {A} "
             rf"(?:that are )?(?P<how>between|less than) {B}(?: and (?P<c>{ATOM}+?))?"),
        (50, rf"how many (?P<pos>positive )?multiples of {A} are (?:there )?(?P<how>between|less than) {B}"
             rf"(?: and (?P<c>{ATOM}+?))?")),
        read=read_multiples, solve=solve_multiples, check=check_multiples,
        examples=(("How many positive multiples of 7 are less than 150?", "21"),
                  ("What is the sum of all of the multiples of 3 between 100 and 200?", "4950")),
        questions=((r"^The multiples of", "What are the first and the last multiple in the range?"),),
        data=Multiples),
    Task("digitmultiple", "the largest or smallest n-digit multiple of k", phrasings=(
        (50, rf"(?:{WHAT} )?the (?P<which>greatest|largest|smallest|least) (?:positive )?(?P<digits>\w+)-digit "
             rf"(?:positive )?(?:(?:number|integer|whole number) (?:which is |that is )?(?:a )?)?multiple of {A}"),),
        read=read_multiple_in_digits, solve=solve_multiple_in_digits, check=check_multiple_in_digits,
        examples=(("What is the greatest three-digit multiple of 19?", "988"),
                  ("What is the smallest four-digit number which is a multiple of 13?", "1001")),
        questions=((r"-digit number is", "How many whole times does the divisor go into the largest (or smallest) "
                                            "number with that many digits?"),),
        data=MultipleInDigits),
    Task("firstmultiples", "the sum of the first n positive multiples of k", phrasings=(
        (50, rf"(?:{WHAT} )?the sum of the first (?P<n>\S+) positive multiples of {A}"),),
        read=read_first_multiples, solve=solve_first_multiples, check=check_first_multiples,
        examples=(("What is the sum of the first ten positive multiples of $13$?", "715"),),
        questions=((r"= .*\(1 \+ 2", "Can you take the common factor out of the sum?"),),
        data=FirstMultiples),
)
