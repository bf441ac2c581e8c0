"""Numbers: square roots, bounds (the greatest integer below a number), positive differences, radical conjugates,
sums of digits, arithmetic said in words ('add 3 to 5'), decimals, and 'what power of 2 is 64'."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..problem import Problem
from ..sentence import WHAT, A, B, Sentence, number
from ..solution import exact, plain
from .base import SolveError, Step, Task, Worked

_NEAR = sp.Float("1e-40")


def _value(text: str) -> sp.Expr:
    return sp.simplify(exact(number(text)))


# ---- square roots -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SquareRoot:
    v: sp.Expr


def read_sqrt(g: dict, s: Sentence) -> SquareRoot:
    v = exact(number(s.slot(g, "a")))
    if not v.is_nonnegative:
        raise ParseError("the square root is read here for a number ≥ 0")
    return SquareRoot(v)


def solve_sqrt(r: SquareRoot) -> Worked:
    root = sp.sqrt(r.v)
    return Worked(root, [Step(f"Take out the square factors of {plain(r.v)}", root)])


def check_sqrt(r: SquareRoot, w: Worked) -> Step:
    if sp.simplify(sp.expand(w.answer ** 2) - r.v) != 0 or not w.answer.is_nonnegative:
        raise SolveError("the square root failed its check")
    return Step(f"Check: ({plain(w.answer)})² = {plain(r.v)}, and the root is not negative")


# ---- bounds -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    v: sp.Expr
    below: bool               # the greatest integer below, or the least above
    strict: bool
    said: str                 # the problem's words, for the steps


def read_bound(g: dict, s: Sentence) -> Bound:
    v = _value(s.slot(g, "a"))
    if not v.is_real:
        raise ParseError("the bound must be a real number")
    if not v.is_Integer and abs(sp.N(v, 60) - sp.Integer(round(sp.N(v, 60)))) < _NEAR:
        raise ParseError("the bound is too close to an integer to tell which side it is on")
    return Bound(v, g["which"] in ("greatest", "largest"), g["rel"] in ("less than", "greater than"),
                 f"the {g['which']} integer {g['rel']}")


def solve_bound(b: Bound) -> Worked:
    m = (sp.ceiling(b.v) - 1 if b.strict else sp.floor(b.v)) if b.below else (
        sp.floor(b.v) + 1 if b.strict else sp.ceiling(b.v))
    rule = {(True, True): "⌈a⌉ − 1", (True, False): "⌊a⌋", (False, True): "⌊a⌋ + 1",
            (False, False): "⌈a⌉"}[(b.below, b.strict)]
    return Worked(m, [Step(f"{b.said[0].upper()}{b.said[1:]} a is {rule}, with a = {plain(b.v)}", m)])


def check_bound(b: Bound, w: Worked) -> Step:
    """The answer m is on the right side of a, and m ± 1 is not (compared at 60 digits)."""
    a, m = sp.N(b.v, 60), int(w.answer)
    inside = (lambda k: k < a if b.strict else k <= a) if b.below else (lambda k: k > a if b.strict else k >= a)
    if not inside(m) or inside(m + 1 if b.below else m - 1):
        raise SolveError("the bound failed its check")
    return Step(f"Check: {m} is {b.said.split(' integer ')[1]} {sp.N(b.v, 12)}, and {m + 1 if b.below else m - 1} "
                "is not")


# ---- positive differences and conjugates -----------------------------------------------------------------------


@dataclass(frozen=True)
class PositiveDifference:
    a: sp.Expr
    b: sp.Expr


def read_posdiff(g: dict, s: Sentence) -> PositiveDifference:
    a, b = (exact(sp.Mul(*[number(s.restore(x)) for x in re.split(r"\s+of\s+", g[k])])) for k in ("a", "b"))
    if not (a.is_real and b.is_real):
        raise ParseError("a positive difference of two real numbers")
    return PositiveDifference(a, b)


def solve_posdiff(d: PositiveDifference) -> Worked:
    v = sp.simplify(sp.Abs(d.a - d.b))
    return Worked(v, [Step(f"The positive difference is |{plain(d.a)} − {plain(d.b)}|", v)])


def check_posdiff(d: PositiveDifference, w: Worked) -> Step:
    """The larger minus the smaller, the two compared numerically."""
    big, small = (d.a, d.b) if sp.N(d.a, 40) >= sp.N(d.b, 40) else (d.b, d.a)
    if sp.simplify(big - small - w.answer) != 0:
        raise SolveError("the difference failed its check")
    return Step(f"Check: the larger, {plain(big)}, minus the smaller, {plain(small)}, is the same")


@dataclass(frozen=True)
class Conjugate:
    rational: sp.Expr         # a + b√c as a and b√c
    radical: sp.Expr
    product: bool


def read_conjugate(g: dict, s: Sentence) -> Conjugate:
    v = sp.expand(exact(number(s.slot(g, "a"))))
    rational, rest = v.as_coeff_Add()
    if not rational.is_Rational or not rest.is_Mul and not rest.is_Pow or not any(
            isinstance(f, sp.Pow) and f.exp == sp.Rational(1, 2) for f in sp.Mul.make_args(rest)):
        raise ParseError("read for a number a + b√c with a rational a")
    return Conjugate(rational, rest, g["op"] == "product")


def solve_conjugate(c: Conjugate) -> Worked:
    v, conj = c.rational + c.radical, c.rational - c.radical
    value = sp.expand(v * conj) if c.product else sp.expand(v + conj)
    return Worked(value, [Step(f"The radical conjugate of {plain(v)} is {plain(conj)}"),
                          Step("Multiply them" if c.product else "Add them", value)])


def check_conjugate(c: Conjugate, w: Worked) -> Step:
    """(a + r)(a − r) = a² − r² and (a + r) + (a − r) = 2a, from the parts."""
    again = c.rational ** 2 - sp.expand(c.radical ** 2) if c.product else 2 * c.rational
    if sp.simplify(again - w.answer) != 0:
        raise SolveError("the conjugate failed its check")
    return Step("Check: " + ("a² − (b√c)²" if c.product else "2a") + " gives the same", again)


# ---- digits -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigitSum:
    v: sp.Rational


def read_digit_sum(g: dict, s: Sentence) -> DigitSum:
    v = exact(number(s.slot(g, "a")))
    if not v.is_Rational or v < 0:
        raise ParseError("digits are summed here for a whole number or a terminating decimal ≥ 0")
    return DigitSum(sp.Rational(v))


def solve_digit_sum(d: DigitSum) -> Worked:
    twos_fives = sp.factorint(d.v.q)
    if any(q not in (2, 5) for q in twos_fives):
        raise SolveError("the number is not a terminating decimal, so its digits do not end")
    places = max(twos_fives.values(), default=0)             # 10^places · v is a whole number
    scaled = int(d.v * 10 ** places)
    if scaled > 10 ** 100000:
        raise SolveError("too many digits")
    digits = str(scaled).rjust(places + 1, "0")
    written = digits if not places else digits[:-places] + "." + digits[-places:]
    total = sum(int(c) for c in digits)
    shown = written if len(written) <= 120 else f"{written[:40]}…{written[-40:]} ({len(digits)} digits)"
    return Worked(sp.Integer(total), [Step("Write the number out in full", sp.Symbol(shown)),
                                      Step("Add its digits", sp.Integer(total))], facts={"scaled": scaled})


def check_digit_sum(d: DigitSum, w: Worked) -> Step:
    """The digits taken off one by one as remainders mod 10."""
    peeled, n = 0, w.facts["scaled"]
    while n:
        peeled, n = peeled + n % 10, n // 10
    if peeled != w.answer:
        raise SolveError("the digit sum failed its check")
    return Step("Check: taking the digits off one by one (remainders mod 10) gives the same sum")


# ---- readings into the engine's core kinds: the expression (or equation) is then solved and checked as such -----


def read_words(g: dict, s: Sentence) -> Problem:
    """add A to B, subtract A from B, multiply A by B, divide A by B: an expression, kept unevaluated."""
    x, y = exact(number(s.slot(g, "a"))), exact(number(s.slot(g, "b")))
    if g["op"].lower() == "divide" and y == 0:
        raise ParseError("division by zero")
    expr = {"add": sp.Add(x, y, evaluate=False), "subtract": sp.Add(y, -x, evaluate=False),
            "multiply": sp.Mul(x, y, evaluate=False),
            "divide": sp.Mul(x, sp.Pow(y, -1), evaluate=False)}[g["op"].lower()]
    return Problem(s.original, "evaluate", (expr,))


def read_as_decimal(form: str):
    def read(g: dict, s: Sentence) -> Problem:
        return Problem(s.original, "evaluate", (number(s.slot(g, "a")),), form=form)
    return read


def read_power(g: dict, s: Sentence) -> Problem:
    """'what power of 4 is 64': the x with 4^x = 64, an equation."""
    a, b = number(s.slot(g, "a")), number(s.slot(g, "b"))
    if not (a.is_positive and a != 1 and b.is_positive):
        raise ParseError("read for a positive base other than 1 and a positive value")
    x = sp.Symbol("x")
    return Problem(s.original, "equation", (sp.Eq(a ** x, b),), x,
                   notes=(f"the power x of {plain(a)} that gives {plain(b)}: {plain(a)}^x = {plain(b)}",))


@dataclass(frozen=True)
class FractionParts:
    value: sp.Rational
    op: str                 # 'sum' or 'product' of the numerator and the denominator in lowest terms


def read_fraction_parts(g: dict, s: Sentence) -> FractionParts:
    value = number(s.slot(g, "a"))
    if not value.is_Rational or value.is_Integer:
        raise ParseError("read for a fraction (a repeating decimal, a ratio) that is not a whole number")
    return FractionParts(value, g["op"].lower())


def solve_fraction_parts(f: FractionParts) -> Worked:
    p, q = f.value.p, f.value.q
    value = sp.Integer(p + q if f.op == "sum" else p * q)
    return Worked(value, [Step("In lowest terms", f.value),
                          Step(f"{'Add' if f.op == 'sum' else 'Multiply'} the numerator {p} and the denominator {q}",
                               value)], facts={"p": p, "q": q})


def check_fraction_parts(f: FractionParts, w: Worked) -> Step:
    """The two numbers share no factor, give the value back, and combine to the answer."""
    p, q = w.facts["p"], w.facts["q"]
    if sp.igcd(p, q) != 1 or q <= 0 or p != f.value * q or (p + q if f.op == "sum" else p * q) != w.answer:
        raise SolveError("the fraction's parts failed their check")
    return Step(f"Check: {p} and {q} share no factor, and {p}/{q} is the number")


TASKS = (
    Task("fractionparts", "the sum or product of a fraction's numerator and denominator in lowest terms", phrasings=(
        # the form clause ('is expressed as a common fraction in lowest terms') is taken off before these are tried
        (50, rf"when (?:the (?:repeating )?decimal )?{A} is\s*,?\s*what is the (?P<op>sum|product) of (?:the|its) "
             rf"numerator and (?:the |its )?denominator"),
        (50, rf"what is the (?P<op>sum|product) of the numerator and (?:the )?denominator when {A} is")),
        read=read_fraction_parts, solve=solve_fraction_parts, check=check_fraction_parts,
        examples=((r"When $0.\overline{45}$ is expressed as a common fraction in lowest terms, what is the sum of the "
                   "numerator and denominator?", "16"),),
        questions=((r"^In lowest terms", "What fraction is the number, once nothing divides top and bottom?"),),
        data=FractionParts),
    Task("sqrt", "the square root of a number", phrasings=(
        (50, rf"(?:{WHAT} )?the (?:positive |principal )?square root of (?:the (?:product|sum|number) )?{A}"),),
        read=read_sqrt, solve=solve_sqrt, check=check_sqrt,
        examples=(("What is the positive square root of the product $10 \\times 15 \\times 24$?", "60"),
                  ("Find the square root of 72.", "6√2")),
        questions=((r"^Take out the square factors", "Which perfect square divides the number?"),),
        data=SquareRoot),
    Task("bound", "the greatest integer below (or least above) a number", phrasings=(
        (50, rf"(?:{WHAT} )?the (?P<which>greatest|largest) integer (?:that is |which is )?"
             rf"(?P<rel>less than or equal to|less than|not (?:greater than|more than|exceeding)|that does not "
             rf"exceed|at most) {A}"),
        (50, rf"(?:{WHAT} )?the (?P<which>least|smallest) integer (?:that is |which is )?"
             rf"(?P<rel>greater than or equal to|greater than|not less than|at least) {A}")),
        read=read_bound, solve=solve_bound, check=check_bound,
        examples=(("What is the greatest integer less than $\\sqrt{300}$?", "17"),
                  ("Find the least integer greater than $-3.5$.", "-3")),
        questions=((r"integer .* a is", "Between which two integers does the number lie?"),),
        data=Bound),
    Task("posdiff", "the positive difference of two numbers", phrasings=(
        (50, rf"(?:{WHAT} )?the positive difference between {A} and {B}"),),
        read=read_posdiff, solve=solve_posdiff, check=check_posdiff,
        examples=(("What is the positive difference between $\\frac{1}{2}$ and $\\frac{1}{3}$?", "1/6"),),
        questions=((r"^The positive difference", "Which of the two numbers is larger?"),),
        data=PositiveDifference),
    Task("conjugate", "the sum or product of a + b√c and its radical conjugate", phrasings=(
        (50, rf"(?:{WHAT} )?the (?P<op>product|sum) of (?:the number )?{A} and its (?:radical )?conjugate"),),
        read=read_conjugate, solve=solve_conjugate, check=check_conjugate,
        examples=(("Compute the product of the number $5+\\sqrt{3}$ and its radical conjugate.", "22"),),
        questions=((r"^The radical conjugate", "What do you get when you change the sign of the radical part?"),),
        data=Conjugate),
    Task("digitsum", "the sum of the digits of a number", phrasings=(
        (50, rf"(?:{WHAT} )?the sum of (?:all )?the digits (?:of|in) (?:the (?:terminating )?decimal "
             rf"(?:representation|expansion) of )?(?:the (?:fraction|number|integer) )?{A}"),),
        read=read_digit_sum, solve=solve_digit_sum, check=check_digit_sum,
        examples=(("What is the sum of the digits of $2^{10}$?", "7"),
                  ("What is the sum of the digits of the decimal representation of $\\frac{1}{2^{5}}$?", "11")),
        questions=((r"^Write the number out in full", "What are the digits? Write the number out in full first."),
                   (r"^Add its digits", "Now add the digits up, one by one.")),
        data=DigitSum),
    Task("words", "arithmetic said in words: add, subtract, multiply, divide", phrasings=(
        (50, rf"(?P<op>add) {A} to {B}"), (50, rf"(?P<op>subtract) {A} from {B}"),
        (50, rf"(?P<op>multiply) {A} by {B}"), (50, rf"(?P<op>divide) {A} by {B}")),
        read=read_words, examples=(("Subtract 8 from 20.", "12"), ("Divide 7 by 2.", "7/2"))),
    Task("decimal", "a number written as a decimal", phrasings=(
        (50, rf"(?:write|convert|express) {A} (?:as|to) a (?:terminating )?decimal"),
        (50, rf"(?:what is )?{A} expressed as a decimal")),
        read=read_as_decimal("decimal"), examples=(("Express 1/8 as a decimal.", "0.125"),)),
    Task("rationalize", "a fraction with its denominator rationalized", phrasings=(
        (50, rf"rationalize the denominator(?: of)?:? {A}"),),
        read=read_as_decimal("radical"), examples=(("Rationalize the denominator: $\\frac{1}{\\sqrt{2}}$", "√2/2"),)),
    Task("power", "what power of a number gives another", phrasings=(
        (50, rf"(?:to )?what power (?:must|should) {A} be raised to (?:get|give|equal|make) {B}"),
        (50, rf"what power of {A} (?:is equal to|equals|is|gives) {B}")),
        read=read_power, examples=(("What power of 4 is equal to 64?", "x = 3"),)),
)
