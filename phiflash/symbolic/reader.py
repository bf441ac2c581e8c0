"""Reading a problem: `parse_problem` takes typed math (problem.py) or a sentence, English phrasings around math
in `$…$` (or typed plain).

A sentence is read only when the whole of it matches a phrasing after the requested-form clauses ("Express your
answer as a common fraction.") are taken off, and every math slot parses: first the phrasings of the tasks in
tasks/ (by priority), then the core phrasings below (equations, systems, definitions, expressions), in order.
Otherwise the ParseError names the first word that was not understood, so the problem is refused, never guessed
at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import sympy as sp

from . import tasks
from .defined import substituted
from .parse import ParseError, parse_as_written, parse_math
from .problem import Problem, _classify, choose_var, lines_of_math, read_typed, written_denominators, written_poles
from .sentence import (
    NUMBER_WORDS,
    SLOT_RE,
    SOLS,
    WHAT,
    A,
    B,
    Sentence,
    V,
    base_value,
    definitions,
    has_dots,
    number,
    one,
    said_number,
    words_of,
)
from .solution import DIGITS, plain
from .tasks import operations

# ---- requested forms --------------------------------------------------------------------------------------------

_FORMS = [
    (r"(?:,?\s*)?(?:(?:and )?(?:express|write) (?:your answer|your result|the result|it) |express |expressed |"
     r"written )?as an? (?:(?:common|simplified|simple|reduced|improper) )*fraction(?: in (?:lowest terms|"
     r"simplest form|simplified form))?", "fraction"),
    # 'Convert 0.375 to a fraction': the form said after the number converted
    (r"(?<=^convert )(?P<conv>⟦\d+⟧|[-\d./]+) to an? (?:(?:common|simplified|simple|reduced) )?fraction", "fraction"),
    (r"(?:,?\s*)?(?:express your answer )?in simplest radical form", "radical"),
    (r"(?:,?\s*)?(?:express (?:your answer|the result) |expressed )?as an? (?:integer|whole number|residue) "
     r"from (?P<lo>⟦\d+⟧|[\w-]+) to (?P<hi>⟦\d+⟧|[\w-]+)(?:\s*,?\s*inclusive)?", "integer"),
    (r"(?:,?\s*)?(?:(?:express|write) (?:your answer|the result) |expressed )?as an? (?:integer|whole number)",
     "integer"),
    (r"(?:,?\s*)?(?:express (?:your answer|the result) |expressed )?as a (?:terminating )?decimal"
     r"(?: (?:rounded )?to the nearest (?P<place>tenth|hundredth|thousandth|ten-thousandth|whole number))?",
     "decimal"),
    (r"(?:,?\s*)?\(?(?:enter|express|give) your answer (?:using|in) interval notation(?:,? simplifying (?:any|all) "
     r"fractions(?: which occur)? in your answer)?\.?\)?", "interval"),
    (r"(?:,?\s*)?(?:use interval notation to express your answer|giving your answer in interval notation)",
     "interval"),
    (r"(?:,?\s*)?(?:express|enter|give) your answer as a union of intervals", "interval"),
    (r"(?:,?\s*)?(?:express|write) your answer in base (?P<base>\S+)", "base"),
    (r"(?:,?\s*)?(?:expressed|written) as a (?P<pos>positive) integer", "integer"),
    (r"(?:,?\s*)?in simplest terms", None),
    # a fraction reduced, a radical simplified and out of the denominator: how the solver writes answers anyway, and
    # what the checker holds an answer to
    (r"(?:,?\s*)?(?:(?:and )?(?:express|write) (?:your answer|the result|it) |expressed |written )?in simplest form",
     "simplest"),
    (r"(?:,?\s*)?as a complex number", None),
    # a complex number as a + bi: how the solver writes one anyway, and what the checker holds an answer to
    (r"(?:,?\s*)?(?:(?:enter|express|write) your answer )?(?:in|to) rectangular form", "rectangular"),
    # how a polynomial is written anyway: expanded, terms by decreasing degree
    (r"(?:,?\s*)?express your answer as a polynomial with (?:the )?(?:terms|degrees of the terms) in (?:order by )?"
     r"decreasing (?:degree|order)", None),
    (r"(?:,?\s*)?when it is fully simplified", None),
    (r"(?:,?\s*)?as a residue modulo (?P<mod>⟦\d+⟧|\w+)", "integer"),
    # "in the form a+bi, where a and b are real numbers": how a complex number is written anyway (checked: the slot
    # must say a+bi); "… are integers" is a form the solver holds to
    (r"(?:,?\s*)?\(?(?:your answer should be (?:of|in) the form|express your answer (?:as a complex number )?in "
     r"the form|(?:written )?in the form) ⟦(?P<abi>\d+)⟧(?:\s*,?\s*where (?P<ab>⟦\d+⟧ and ⟦\d+⟧) are (?:both )?"
     r"(?:real(?: numbers)?|(?P<gaussian>integers))(?: and written as improper fractions \(if necessary\))?"
     r"(?: and (?P<isq>⟦\d+⟧))?)?\s*\.?\)?", None),
    # the inverse task refuses a singular matrix, so this clause never decides an answer
    (r"(?:,?\s*)?if the inverse does not exist, (?:then )?enter the zero matrix", None),
    (r"(?:,?\s*)?\(give an answer between (?P<lo>⟦\d+⟧|[\w-]+) and (?P<hi>⟦\d+⟧|[\w-]+)(?:,? inclusive)?\.?\)",
     "integer"),
    # an angle in radians: how the solver writes one anyway (checked: the problem does not also speak of degrees)
    (r"(?:,?\s*)?express your answer in (?P<radians>radians)", None),
    # a point is written as an ordered pair anyway (the answer is a pair only where the task's answer is a point)
    (r"(?:,?\s*)?(?:provide|express|give|enter|write) your answer as an ordered pair(?: ⟦(?P<pair>\d+)⟧)?", None),
    (r"(?:,?\s*)?in your head", None),
    # "where $\log$ is the base $10$ logarithm": readings.declared() takes its meaning from the original text
    (r"(?:,?\s*)?(?:where|here|and)\s+(?:\\?log|\u27e6\d+\u27e7)\s+(?:is|denotes|means|stands\s+for|represents)\s+"
     r"(?:the\s+)?(?:base[- ]?\S+|common|natural|decimal)\s+log(?:arithm)?(?:\s+function)?", None),
    (r"(?:,?\s*)?\(do not use a calculator!?\)", None),
    (r"(?:,?\s*)?\(?(?:without (?:using )?a calculator|no calculators?!?)\)?\s*[,:]?", None),
    # 'Express your answer in the form Ax³ + Bx² + Cx + D': a polynomial written out by powers (checked: the slot is
    # distinct letters times distinct powers of one variable), which is how one is written anyway
    (r"(?:,?\s*)?(?:express|write|give) your answer in the form (?P<poly>⟦\d+⟧)(?:\s*,?\s*where (?P<coeffs>(?:⟦\d+⟧"
     r"\s*,?\s*(?:and\s+)?)+) are (?:all )?(?:real )?(?:numbers|constants|integers)(?: \(possibly negative\))?)?",
     "polynomial"),
    # '(Reminder: If n is a positive integer, then n! stands for the product 1·2·3·⋯·(n−1)·n.)': the usual factorial
    # (checked: the slots say n, n! and the product 1·2·⋯·n)
    (r"(?:,?\s*)?\(?reminder:\s*if (?P<fact>⟦\d+⟧ is a positive integer,? then ⟦\d+⟧ (?:stands for|is|denotes) the "
     r"product ⟦\d+⟧)\s*\.?\s*\)?", None),
    # 'using A for 10 and B for 11 if necessary': how the digits past 9 are written anyway (checked: A is 10, …)
    (r"(?:,?\s*)?(?P<digits>using ⟦\d+⟧ for ⟦\d+⟧(?:\s*,?\s*(?:and )?⟦\d+⟧ for ⟦\d+⟧)*)(?:\s+if necessary)?", None),
    # how a list is written anyway; whether complex solutions belong in it is the solver's to refuse when unsaid
    (r"(?:,?\s*)?list your answers in increasing order(?:,)? separated by commas", "increasing"),
    (r"(?:,?\s*)?enter your answer as a list(?: of numbers)?,? separated by commas", None),
    # 'enter all the integer solutions, separated by commas': the equation's unknown is an integer (kept below)
    (r"(?:,?\s*)?enter (?:all )?(?:of )?(?:the )?(?:possible )?(?:real |(?P<sols>rational|integer) |complex )?"
     r"(?:solutions|roots|values|numbers)(?: of ⟦\d+⟧)?\s*,?\s*separated by commas", None),
]


def _usual_digits(text: str, sentence: Sentence) -> bool:
    """'using ⟦A⟧ for ⟦10⟧ and ⟦B⟧ for ⟦11⟧': every letter named is the usual digit for its value."""
    pairs = re.findall(r"⟦(\d+)⟧ for ⟦(\d+)⟧", text)
    shown = [(sentence.math[int(a)].strip(), sentence.math[int(b)].strip()) for a, b in pairs]
    return all(re.fullmatch(r"[A-Z]", a) and b.isdigit() and 10 <= int(b) <= 35 and
               DIGITS[int(b)] == a for a, b in shown)


def _polynomial_template(text: str) -> tuple[str, frozenset[int]] | None:
    """'Ax^3+Bx^2+Cx+D', 'ax^2 +bx+c', 'Ap^3 + Bp^2 + Cp +D': each term one letter times a power of one variable;
    the variable's name and the powers the form has (an answer holds to them), or None."""
    terms = [re.fullmatch(r"([A-Za-z])(?:([a-z])(?:\^\{?(\d+)\}?)?)?", t.replace(" ", ""))
             for t in re.split(r"\s*\+\s*", text.strip())]
    if len(terms) < 2 or not all(terms):
        return None
    coefficients = [t.group(1) for t in terms]
    variables = {t.group(2) for t in terms if t.group(2)}
    powers = [int(t.group(3) or 1) if t.group(2) else 0 for t in terms]
    if len(variables) == 1 and len(set(coefficients)) == len(terms) and not variables & set(coefficients) \
            and len(set(powers)) == len(powers):
        return variables.pop(), frozenset(powers)
    return None


def _named(slots: str, sentence: Sentence) -> list[str]:
    """The math of each slot in 'where ⟦0⟧, ⟦1⟧ and ⟦2⟧ are …', as written."""
    return [sentence.math[int(k)].strip() for k in SLOT_RE.findall(slots)]


def _usual_factorial(text: str, sentence: Sentence) -> bool:
    n, fact, product = (sentence.math[int(k)].replace(" ", "") for k in SLOT_RE.findall(text))
    product = re.sub(r"\\[lc]?dots|\.\.\.", "…", re.sub(r"\\cdot(?!s)|\\times|×|·", "*", product))
    usual = {f"1*2{mid}…{end}" for mid in ("", "*3") for end in (n, f"({n}-1)*{n}")}   # 1·2·3·⋯·(n−1)·n
    product = re.sub(r"\*?…\*?", "…", product)
    return re.fullmatch(r"[a-z]", n) is not None and fact == f"{n}!" and product in usual


_PLACES = {"whole number": 0, "tenth": 1, "hundredth": 2, "thousandth": 3, "ten-thousandth": 4}


@dataclass
class _Said:
    """What the form clauses taken off a sentence said about the answer."""
    form: str | None = None
    base: sp.Expr | None = None         # 'express your answer in base 5'
    template: tuple = ()                # 'in the form Ax³ + Bx + C': (variable, powers)
    places: int | None = None           # 'to the nearest tenth': 1
    pair: tuple = ()                    # 'as an ordered pair (x, y)': its letters
    bounds: tuple = ()                  # 'as a positive integer', 'from 0 to 12', 'as a residue modulo 13'
    solutions: str = ""                 # 'enter all the integer solutions': rational | integer


def _take_forms(text: str, sentence: Sentence) -> tuple[str, _Said]:
    said = _Said()
    for pattern, name in _FORMS:
        m = re.search(pattern + r"\s*[.?!]?", text, flags=re.IGNORECASE)
        if not m:
            continue
        if m.groupdict().get("abi") and re.sub(r"\s", "", sentence.math[int(m.group("abi"))]) != "a+bi":
            continue
        if m.groupdict().get("ab") and _named(m.group("ab"), sentence) != ["a", "b"]:   # 'where w and b are real'
            continue
        if m.groupdict().get("isq") and re.sub(r"[\s{}]", "", sentence.math[int(m.group("isq")[1:-1])]) != "i^2=-1":
            continue
        if m.groupdict().get("digits") and not _usual_digits(m.group("digits"), sentence):
            continue
        if m.groupdict().get("fact") and not _usual_factorial(m.group("fact"), sentence):
            continue
        if m.groupdict().get("poly"):
            said.template = _polynomial_template(sentence.math[int(m.group("poly")[1:-1])]) or ()
            if not said.template or m.group("coeffs") and sorted(_named(m.group("coeffs"), sentence)) != sorted(
                    t.strip()[0] for t in sentence.math[int(m.group("poly")[1:-1])].split("+")):
                said.template = ()   # 'where a, b and w are numbers' names a letter the form does not have
                continue
        if m.groupdict().get("pair"):
            said.pair = tuple(re.findall(r"[a-z]", sentence.math[int(m.group("pair"))]))
            if not re.fullmatch(r"\(\s*[a-z]\s*,\s*[a-z]\s*\)", sentence.math[int(m.group("pair"))]) or \
                    len(set(said.pair)) != 2:   # '(y, y)' names one letter twice
                said.pair = ()
                continue
        if m.groupdict().get("radians") and re.search(r"\bdegrees?\b|\\circ|°", sentence.original, re.I):
            raise ParseError("the problem speaks of degrees and asks for radians")
        kept = m.groupdict().get("conv") or ""   # the number of 'convert 0.375 to a fraction' stays
        text = (text[:m.start()] + (f" {kept} " if kept else " ") + text[m.end():]).strip()
        name = "gaussian" if m.groupdict().get("gaussian") else name
        said.bounds = _narrower(said.bounds, _bounds(m.groupdict(), sentence))
        said.solutions = m.groupdict().get("sols") or said.solutions
        if name is None:
            continue
        if said.form is not None and said.form != name:
            raise ParseError("the problem asks for two different answer forms")
        said.form = name
        if m.groupdict().get("base"):
            said.base = base_value(m.group("base"), sentence)
        if m.groupdict().get("place"):
            said.places = _PLACES[m.group("place").lower()]
    return " ".join(text.split()), said


def _narrower(a: tuple, b: tuple) -> tuple:
    """Both clauses' bounds at once ('as a residue modulo 18 (give an answer between 0 and 184)': 0 to 17)."""
    if not a or not b:
        return a or b
    highs = [h for h in (a[1], b[1]) if h is not None]
    return max(a[0], b[0]), min(highs) if highs else None


def _bounds(g: dict, sentence: Sentence) -> tuple:
    """The least and greatest integer a form clause allows (None: no bound on that side); () where it says none."""
    if g.get("pos"):
        return sp.Integer(1), None
    if g.get("mod"):
        m = said_number(g["mod"], sentence)
        if not (m.is_Integer and m >= 2):
            raise ParseError(f"a modulus must be a whole number from 2 up, got {g['mod']!r}")
        return sp.Integer(0), m - 1
    if g.get("lo"):
        lo, hi = (said_number(g[k], sentence) for k in ("lo", "hi"))
        if not (lo.is_Integer and hi.is_Integer and lo <= hi):
            raise ParseError("the range the answer is asked in is not from one whole number to a larger one")
        return lo, hi
    return ()


# ---- the phrasings ----------------------------------------------------------------------------------------------

_PLAIN_NUMBER = r"-?\d+(?:\.\d+)?(?:/\d+)?"   # 'the sum of 12 and 4' typed without $…$

# the engine's core kinds (equations, inequalities, systems, expressions): phrasings tried after every task of
# tasks/, in this order, the first that reads the sentence wins
_PHRASES: list[tuple[str, str]] = [
    ("given", rf"(?:if|let|given(?: that)?|suppose(?: that)?) (?P<defs>.+?)[,.;]? (?:then )?(?:{WHAT}|what is|"
              rf"what's)(?: the value of)?(?: the (?:expression|product|sum|quotient))? {A}(?: equal to)?"),
    ("define", rf"(?:if|let|given|define) (?P<defs>.+?)[,.;]? (?:then )?(?:{WHAT}|what is)(?: the value of)? {A}"),
    # 'The two lines y = 4x − 19 and 2x + y = 95 intersect. What is the value of x at the point of intersection?',
    # 'The lines y = 5x + 3, y = −2x − 25 and y = 3x + k intersect at the same point. What is the value of k?'
    ("lines", rf"the (?:two |three )?lines (?P<defs>⟦\d+⟧(?:\s*,\s*⟦\d+⟧)*,? and ⟦\d+⟧) intersect(?: at the same "
              rf"point| at one point| (?:when|where) (?P<when>⟦\d+⟧))?\s*[.,;]?\s*(?:{WHAT}|what is) the value of "
              rf"{A}(?: at the point of intersection)?"),
    # 'Real numbers x and y satisfy the equation …. What is x + y?', 'Two reals a and b are such that … Compute ab.'
    ("introduced", rf"(?:two |three )?(?P<kind>(?:(?:positive|nonzero|nonnegative) )?real|positive|nonzero|"
                   rf"nonnegative)? ?(?:numbers|reals) (?P<vars>⟦\d+⟧(?:\s*(?:,|and|,\s*and)\s*⟦\d+⟧)*),? "
                   rf"(?:satisfy|are such that)(?: the (?:following )?(?:equations?|equality))?\s*:?\s*(?P<defs>.+?)"
                   rf"\s*[,.;]?\s+(?:then )?(?:{WHAT}|what is)(?: the value of)? {A}"),
    ("solve_for", rf"(?:if|given that) (?P<eq>.+?)[,.;]? (?:then )?(?:what is|find|determine)(?: all)?"
                  rf"(?: possible)?(?: the)?(?: values? of)? {V}(?: equal to)?"),
    ("solve_for", rf"for what (?:real )?value of {V},? (?:is|does|do|will) (?P<eq>.+?)(?: true| hold)?"),
    ("pick", rf"for what (?P<pick>positive|negative) (?:real )?value of {V},? (?:is|does|do) (?P<eq>.+?)"
             rf"(?: true| hold)?"),
    ("solve_for", rf"(?:find|what is|determine) (?:the value of )?{V},? (?:if|such that|when|given that|for which) "
                  rf"(?P<eq>.+)"),
    ("solve_for", rf"(?:{WHAT} )?the value of {V} in the equation (?P<eq>.+)"),
    ("solve_for", rf"find the (?:value of )?{V} that satisfies (?P<eq>.+)"),
    ("solve_for", rf"solve for {V},? (?:if|where|given that|when) (?P<eq>.+)"),
    ("solve_for", rf"solve for {V} in the (?:following )?equation\s*:?\s*(?P<eq>.+)"),
    ("solve_for", rf"solve for {V}\s*:?\s*(?P<eq>.+)"),
    ("solve_for", rf"solve (?:the equation )?(?P<eq>⟦\d+⟧)\s*,?\s*for {V}"),
    ("solve_for", rf"solve the following equation for {V}\s*:?\s*(?P<eq>.+)"),
    ("solve_for", rf"(?P<eq>.+?)[.,] solve for {V}"),
    ("given", rf"(?:{WHAT}|evaluate|simplify)(?: the value of)?(?: the (?:expression|product|sum|quotient))? {A},? "
              rf"(?:when|if|for|where|"
              rf"given that|given) (?P<defs>.+)"),
    ("solve_for", rf"(?P<eq>⟦\d+⟧)\s*[.,;]?\s*(?:what is|find|determine)(?: the value of)? {V}"),
    ("pick", rf"find the integer {V}\s*,?\s*(?P<dom>⟦\d+⟧)\s*,?\s*(?:such that|satisfying|for which) "
             rf"(?P<eq>.+)"),
    ("pick", rf"solve for the (?P<pick>positive|negative) (?:value of )?{V}(?: such that| that satisfies| in)? "
             rf"(?P<eq>.+)"),
    ("pick", rf"(?:{WHAT} )?the (?P<pick>largest|smallest|greatest|least|positive|negative) (?:value of )?{V} "
             rf"(?:that satisfies|such that|satisfying|for which)(?: the equation)? (?P<eq>.+)"),
    ("pick", rf"(?:{WHAT} |solve for )?the (?P<pick>sum|product) of {SOLS} (?:when |if )?(?P<eq>.+)"),
    # 'The quadratic x² − 3x + 9 = x + 41 has two solutions. What is the positive difference between these solutions?'
    ("pick", rf"the (?:quadratic|equation) (?P<eq>⟦\d+⟧) has two (?:real )?solutions\s*[.,;]?\s*(?:{WHAT}|what is) "
             rf"the (?P<pick>sum|product|positive difference) (?:of|between) (?:these|the) (?:two )?solutions"),
    # 'If √(2x² + 1) = √19, find the average of all the possible values of x'
    ("pick", rf"(?:if|given that) (?P<eq>⟦\d+⟧)\s*,?\s*(?:then )?(?:{WHAT}|what is) the "
             rf"(?P<pick>average|mean|sum|product) of {SOLS}"),
    ("pick", rf"(?:{WHAT} )?the (?P<pick>larger|greater|smaller|lesser|positive difference) (?:of|between) the "
             rf"(?:two )?(?:distinct )?(?:real )?(?:solutions|roots)(?: of| to| for)?(?: the equation)? (?P<eq>.+)"),
    ("pick", rf"what (?P<pick>integer) {V} satisfies (?P<eq>.+)"),
    ("pick", rf"(?:{WHAT} )?the (?P<pick>sum) of (?:all )?(?:the )?(?P<int>integer) solutions (?:to|of) (?P<eq>.+)"),
    ("pick", rf"(?:{WHAT} )?the (?P<pick>sum) of all (?:the )?(?P<pos>positive )?(?P<int>integer)s? (?:values of )?{V} "
             rf"(?:such that|for which|that satisfy) (?P<eq>.+)"),
    ("pick", rf"(?:{WHAT} )?the (?P<pick>greatest|largest|smallest|least) (?P<int>integer)(?: value of)? {V},? "
             rf"(?:such that|for which|that satisfies) (?P<eq>.+)"),
    # 'the largest whole number value of n that makes the following inequality true? …', 'Find the greatest whole
    # number that will satisfy this inequality: …', 'the largest integral value of x which solves: …'
    ("pick", rf"(?:{WHAT} )?the (?P<pick>greatest|largest|smallest|least) (?:(?P<int>integer|integral)|(?P<whole>"
             rf"whole number))(?: value)?(?: of {V})?,? (?:that makes the following inequality true|which solves|"
             rf"that will satisfy (?:this|the) inequality|that satisfies (?:this|the) inequality)\s*[?:]?\s*"
             rf"(?P<eq>⟦\d+⟧)"),
    ("pick", rf"(?:{WHAT} )?the (?P<pick>smallest|largest|greatest|least) (?:solution|root) (?:of|to) "
             rf"(?:the equation )?(?P<eq>.+)"),
    ("pick", r"how many (?P<pos>positive )?(?P<pick>integers) (?:are (?:there )?in the solution set of|satisfy"
             r"(?: the inequality)?|are solutions (?:to|of) the inequality) (?P<eq>.+)"),
    ("pick", rf"how many (?P<pos>positive )?(?P<pick>integers)(?: values of)?,? {V},? (?:satisfy|are there such that) "
             rf"(?:the inequality )?(?P<eq>.+)"),
    ("pick", rf"how many (?P<pos>positive )?integer values of {V} (?:(?P<pick>satisfy) (?:the inequality )?|are "
             rf"(?P<sols>solutions) (?:to|of) the inequality )(?P<eq>.+)"),
    ("pick", rf"for how many (?P<pos>positive )?(?P<pick>integers)(?: values of)? {V} is(?: it true that)? "
             rf"(?P<eq>.+)"),
    ("pick", r"how many (?P<real>(?:distinct |different )?(?:real )?)(?P<pick>solutions) (?:are there )?"
             r"(?:to|of|for) (?:the equation )?(?P<eq>.+)"),
    ("pick", rf"in the equation (?P<eq>.+?),? what is the (?P<pick>sum|product) of {SOLS}"),
    ("solve", rf"(?:{WHAT} |solve )?(?:all )?(?:the )?(?:real )?(?:solutions|roots|values of {V})"
              rf"(?: that satisfy| to| of| satisfying)?(?: the (?:equation|inequality))? (?P<eq>.+)"),
    ("solve", rf"(?:find|determine) all (?:real )?(?:numbers |values of |(?P<cx>complex) numbers )?{V},? "
              rf"(?:such that|which satisfy|that satisfy) (?P<eq>.+)"),
    # 'Find all roots of the polynomial x³ + x² − 4x − 4', 'Find all rational roots of …', 'Find the roots of …'
    ("roots", rf"(?:{WHAT} )?(?:all )?(?:of )?the (?:(?P<kind>real|rational|integer) )?roots of (?:the polynomial )?"
              rf"(?P<poly>⟦\d+⟧)"),
    ("roots", rf"(?:{WHAT} )?all (?:(?P<kind>real|rational|integer) )?roots of (?:the polynomial )?(?P<poly>⟦\d+⟧)"),
    ("solve", rf"for what (?:real )?values of {V} is (?P<eq>.+)"),
    ("solve", rf"if {V} is a real number and (?P<eq>.+?),? what are the possible values (?:for|of) (?P<v2>⟦\d+⟧)"),
    ("solve", r"solve(?: the equation| the inequality| the (?:following )?system(?: of equations)?)?\s*:?\s*"
              r"(?P<eq>.+)"),
    ("of", rf"(?:what is |find |compute )?{A} of {B}"),
    ("value", rf"(?:{WHAT} )?the (?:product|sum|quotient|difference) (?:of )?(?P<a>\u27e6\d+\u27e7)"),
    ("two", rf"(?:{WHAT} |express )?the (?P<op>product|sum|quotient|difference) (?P<prep>of|between) "
            rf"(?P<a>⟦\d+⟧|{_PLAIN_NUMBER}) and (?P<b>⟦\d+⟧|{_PLAIN_NUMBER})(?: in base (?P<base>\S+))?"),
    ("value", r"express the (?:sum|product|quotient|difference) (?P<a>⟦\d+⟧) in base (?P<base>\S+)"),
    # 'Add 10₇ + 163₇. Express your answer in base 7.': the sum written is the value asked for
    ("value", r"add\s*:?\s*(?P<a>⟦\d+⟧)"),
    # 'What is the value of 25₁₀ + 36₁₀ in base 3?': the base is the answer's (a phrasing of its own, not a clause
    # taken off every sentence: 'the largest 3-digit number in base 5' is a number of base 5)
    ("value", rf"(?:{WHAT} )?(?:the value of )?(?P<a>⟦\d+⟧) in base (?P<base>\S+)"),
    ("value", rf"(?:write|express|convert|simplify and write) (?:(?:the following|this) (?:sum|product|expression|"
              rf"number|fraction)|the result)?\s*:?\s*{A}"),
    ("value", rf"find the (?:common )?fraction that (?:equals|is equal to) {A}"),
    ("value", rf"(?:find|compute|evaluate) the (?:sum|product)\s*:\s*{A}"),
    ("value", rf"simplify completely\s*:?\s*{A}"),
    ("expand", rf"expand(?: and simplify)?(?: completely)?(?: the (?:following )?(?:expression|product))?\s*:?\s*{A}"),
    ("factor", rf"(?:completely )?factor(?: completely)?(?: the (?:following )?expression)?\s*:?\s*{A}"),
    ("value", rf"(?:{WHAT}|simplify)(?: the value of)?(?: the following(?: expression)?)?(?: the expression)?"
              rf"(?: in (?P<letter>⟦\d+⟧))?\s*:?\s*{A}"),
    ("value", rf"what is the value of {A}"),
    ("value", A),
]
_VOCABULARY = {w for pattern in [p for p, _ in _FORMS] + [p for _, p in _PHRASES] for w in words_of(pattern)} \
    | set(NUMBER_WORDS) | tasks.vocabulary()
# which solutions a phrasing may pick, by what was read
_PICKS = {"equation": {"sum", "product", "average", "count", "positive", "negative", "largest", "smallest", "larger",
                       "smaller", "difference", "in range", "integer sum", "largest integer", "smallest integer"},
          "inequality": {"integer", "integers", "integer sum", "largest integer", "smallest integer", "largest",
                         "smallest"}}
_DOMAIN = re.compile(r"^(?P<body>.+?),? (?:for|where|with|on|in the interval|over) (?P<dom>[^,]+?)$")


def parse_problem(text: str) -> Problem:
    """The engine's reading of a problem, typed math or a sentence. Raises ParseError for anything that is not a
    problem we can read."""
    return read_typed(text) or read_sentence(lines_of_math(text))


def read_sentence(original: str) -> Problem:
    sentence = Sentence(original)
    text, said = _take_forms(sentence.text, sentence)
    form, base = said.form, said.base
    text = re.sub(r"\s*[.?]+\s*$", "", text.replace("...", "…")).strip()  # "2, 5, 8, ...?" keeps its dots
    text = re.sub(r"^(?:please|now|next),?\s+", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^\s*:\s*(?=⟦)", "", text)   # 'Express as a common fraction: ⟦0⟧' less its form clause
    p, first_error = _read(text, sentence, original)
    declared = _DECLARED.fullmatch(text)
    if p is None and declared:   # 'If x is a positive integer such that …': read the rest, then add what x is
        rest = declared.group("rest")
        shorter = rest if declared.group("join").strip(" ,") in ("", "then") else f"{declared.group('lead')} {rest}"
        p, _ = _read(shorter, sentence, original)
        if p is not None:
            p = _with_declared(p, one(sentence.math[int(declared.group("v")[1:-1])]), declared.group("kind"))
    if p is None and first_error is not None:   # 'Let f(x) = …. For what value of r is f(2) = 0?'
        p = _with_functions_written_out(original)
    if p is not None:
        if p.form == "base" and form not in (None, "base", "integer", "simplest"):
            raise ParseError("the problem asks for a number in another base and in another form")
        if p.form == "base":   # 'expressed as a positive integer in base 8' is 10₈: the base says how to write it
            form = None
        extras = {"form": None if form == "simplest" and p.form else form,   # a task's own form says more
                  "template": said.template if form == "polynomial" else None,
                  "places": said.places if form == "decimal" else None, "bounds": said.bounds or None}
        if base is not None and p.kind != "base":
            extras |= {"form": "base", "n": base}
        if said.solutions:   # 'enter all the integer solutions': of an equation, whose unknown is then an integer
            if p.kind != "equation":
                raise ParseError(f"the {said.solutions} solutions are asked for, and the problem is not an equation")
            kind = {"rational": sp.S.Rationals, "integer": sp.S.Integers}[said.solutions]
            extras |= {"domain": kind if p.domain is None else p.domain.intersect(kind)}
        if said.pair and p.variables:   # a system's answer in the pair's order: '(y, x)' is y first
            named = {v.name: v for v in p.variables}
            if set(named) != set(said.pair):
                raise ParseError("the ordered pair asked for names letters other than the unknowns")
            extras |= {"variables": tuple(named[v] for v in said.pair)}
        return replace(p, **{k: v for k, v in extras.items() if v is not None})
    words = re.findall(r"[A-Za-z']{2,}", SLOT_RE.sub(" ", text))
    unknown = [w for w in words if w.lower().strip("'") not in _VOCABULARY]
    if unknown or (words and first_error is None):
        raise ParseError(f"can't read {(unknown or words)[0]!r} — try the model, or type the math")
    if first_error is None or _stray_word(first_error) in words:
        # the words are known but no phrasing fits them: the catch-all's "unknown word 'the' at position 1", met
        # reading the sentence as bare math, says nothing useful
        raise ParseError("can't read the problem: its words are known, but no phrasing the engine reads fits them "
                         "— try the model, or type the math")
    raise first_error




def _with_functions_written_out(original: str) -> Problem | None:
    """The question after the definitions, read with each call of a defined function written out (defined.py)."""
    try:
        found = substituted(original)
    except ParseError:
        return None
    if found is None:
        return None
    question, note, brought = found
    try:
        p = read_sentence(question)
    except ParseError:
        return None
    if p.kind in ("evaluate", "simplify", "expand", "factor") and any(
            isinstance(i, sp.Basic) and i.free_symbols & brought for i in p.items):
        return None   # 'f(x) = 2x, g(x) = f(x) + h: what is g(2)?': h is never said, so the value is not fixed
    return replace(p, text=original, notes=(note,) + p.notes)


# 'the product (1 + 2)(3 + 4)', 'the sum of 1 + 2 + ⋯ + 10': the noun says what the math written after it is
_NOUN_OF_MATH = re.compile(r"\bthe (?:following )?(?P<noun>sum|product|quotient|difference)(?: of)?\s*:?\s*"
                           r"(?P<slot>⟦\d+⟧)(?=\s*(?:[.?;]|$|in base\b|is divided\b|"
                           r",?\s*(?:when|if|where|given|express|expressed)\b))", re.I)
_NOUN_FITS = {"sum": (sp.Add, sp.Sum), "difference": (sp.Add,), "product": (sp.Mul, sp.Product),
              "quotient": (sp.Mul, sp.Rational)}


def _noun_misfit(text: str, sentence: Sentence) -> ParseError | None:
    """'What is the product of 1/3 + 1/9?': a sum called a product is a problem misread or mistyped, refused."""
    for m in _NOUN_OF_MATH.finditer(text):
        noun = m.group("noun").lower()
        if not _noun_fits(noun, sentence.math[int(m.group("slot")[1:-1])]):
            return ParseError(f"the problem says 'the {noun}', and the math after it is not one")
    return None


def _noun_fits(noun: str, math: str) -> bool:
    """False only where the math as written is plainly not what the noun says; what cannot be told fits."""
    try:
        items = parse_as_written(math, latex=True)
    except (ParseError, TypeError, ValueError):   # '1 + 2 + ⋯ + 49' is read whole, not as written
        return not (re.search(r"\\[lc]?dots|…|\.\.\.", math) and (
            noun in ("difference", "quotient") or _series_operation(math) not in (noun, None)))
    e = items[0] if len(items) == 1 else None
    if not isinstance(e, sp.Expr):
        return True
    if noun == "difference":   # a − b: a sum with a term taken away ('the difference 1 + 3 + 5' is not one)
        return isinstance(e, sp.Add) and any(a.could_extract_minus_sign() for a in e.args)
    if noun == "quotient" and isinstance(e, sp.Mul):   # a ÷ b: a product with a divisor ('218₉ · 5₉' is not one)
        return any(isinstance(a, sp.Pow) and a.exp.is_negative for a in e.args)
    return isinstance(e, _NOUN_FITS[noun])


def _series_operation(math: str) -> str | None:
    """'1 + 2 + ⋯ + 49': sum; '2 · 4 · ⋯ · 20': product; by the operations outside every bracket (None: neither)."""
    depth, found = 0, set()
    for i, ch in enumerate(math):
        depth += (ch in "({[") - (ch in ")}]")
        if depth == 0 and (ch == "+" or ch == "-" and math[:i].strip()):
            found.add("sum")
        if depth == 0 and (ch in "·×*" or math.startswith(("\\cdot", "\\times"), i) and
                           not math.startswith("\\cdots", i)):
            found.add("product")
    return found.pop() if len(found) == 1 else None


def _read(text: str, sentence: Sentence, original: str) -> tuple[Problem | None, ParseError | None]:
    """The tasks' phrasings, then the core ones: the first reading, or None and the first error met."""
    misfit = _noun_misfit(text, sentence)
    if misfit is not None:
        return None, misfit
    p, first_error = tasks.read(text, sentence)
    if p is not None:
        return p, None
    for kind, pattern in _PHRASES:
        m = re.fullmatch(pattern, text, flags=re.IGNORECASE | re.S)
        if not m:
            continue
        try:
            return _READERS[kind]({k: (v.strip() if isinstance(v, str) else v) for k, v in m.groupdict().items()},
                                  sentence, original), None
        except ParseError as e:   # a reading's own reason is worth more than bare math's "unknown word"
            first_error = e if first_error is None or _stray_word(first_error) and not _stray_word(e) else \
                first_error
    return None, first_error


def _stray_word(e: ParseError) -> str | None:
    m = re.match(r"unknown word '([A-Za-z']+)' at position", str(e))
    return m.group(1) if m else None


# 'If x is a real number and x² = 16, …', 'If x is a positive integer such that …, what is x?', 'If x is a real
# number, find …': what a letter is, said before the problem
_SIGN = r"(?:positive|negative|nonnegative|nonzero)"
_DECLARED = re.compile(rf"(?P<lead>if|given that|suppose(?: that)?) (?P<v>⟦\d+⟧) is an? (?P<kind>(?:{_SIGN} )?(?:real "
                       rf"number|integer)|{_SIGN} number)(?P<join>,? (?:and|such that) |\s*,\s*(?:then )?)(?P<rest>.+)",
                       re.IGNORECASE | re.S)
_DECLARED_SETS = {"real number": sp.S.Reals, "number": sp.S.Reals, "integer": sp.S.Integers,
                  "positive": sp.Interval.open(0, sp.oo),
                  "negative": sp.Interval.open(-sp.oo, 0), "nonnegative": sp.Interval(0, sp.oo),
                  "nonzero": sp.S.Reals - sp.FiniteSet(0)}


def _letters_written(p: Problem) -> set:
    """The letters of a value to find as it is written: (x + 1)² − x² − 2x has x, though it reads as 1."""
    try:
        return set().union(*(e.free_symbols for e in parse_as_written(p.written.strip("$"), latex=True)
                             if isinstance(e, sp.Basic))) if p.written else p.expr.free_symbols
    except (ParseError, TypeError, ValueError):
        return p.expr.free_symbols


def _with_declared(p: Problem, v, kind: str) -> Problem:
    """The problem read without the declaration, and the declaration added back: a domain of the equation's
    unknown, or a condition of the given equations. Anything else is refused: what the letter is would be lost."""
    if not isinstance(v, sp.Symbol):
        raise ParseError("a declaration names one letter")
    words = kind.lower().split(" ", 1) if kind.lower().split(" ")[0] in _DECLARED_SETS else [kind.lower()]
    domain = sp.S.Reals
    for w in words:
        domain = domain.intersect(_DECLARED_SETS[w])
    if p.kind == "equation" and p.var == v:
        return replace(p, domain=domain if p.domain is None else p.domain.intersect(domain))
    if p.kind == "given" and v in set().union(*(e.free_symbols for e in p.items)):
        return replace(p, items=p.items + (sp.Contains(v, domain),))
    if p.kind in ("evaluate", "simplify") and kind.lower() == "real number" and v in _letters_written(p):
        return p   # 'If x is a real number, find …'
    raise ParseError(f"what {v} is said to be is read for an equation in it, or equations given")


def _introduced(g: dict) -> str:
    """'Real numbers ⟦0⟧ and ⟦1⟧ satisfy ⟦2⟧' as the given phrasing's '⟦0⟧ and ⟦1⟧ be real numbers such that ⟦2⟧'."""
    kind = (g.get("kind") or "").lower()
    return f"{g['vars']} be {kind + ' ' if kind else ''}numbers such that {g['defs']}"


def _define(g: dict, s: Sentence, text: str) -> Problem:
    # "a ⊕ b = 3a + 4b for all real numbers a and b": the letters are the definition's own, the words add nothing
    g = g | {"defs": re.sub(r",?\s+for all (?:real |positive )?(?:numbers|values)(?: (?:⟦\d+⟧|,|and|\s)+)?$", "",
                            g["defs"])}
    if operations.definition(s.restore(g["defs"])):   # an operation: the operations task's, which did not read it
        raise ParseError("an operation applied in a way that is not read")
    functions = definitions(s.restore(g["defs"]))
    v = one(s.restore(g["a"]), functions)
    if v.free_symbols:
        raise ParseError("the value asked for still has a variable in it")
    return Problem(text, "evaluate", (v,))


def _solve(g: dict, s: Sentence, text: str) -> Problem:
    """An equation, inequality or system to solve: perhaps on a domain, for one unknown or an expression in it,
    or one solution picked (the positive one, the sum of them, …)."""
    eq_text, domain, dom_text = _split_domain(s.restore(g["eq"]))
    if g.get("dom"):   # 'Find the integer n, 0 ≤ n ≤ 180, such that …'
        dom_text = s.restore(g["dom"])
        domain = _domain(dom_text)
    items = tuple(parse_math(eq_text, latex=True))
    rels = [i for i in items if isinstance(i, (sp.Rel, sp.And))]
    if not rels or len(rels) != len(items):
        raise ParseError("expected an equation or inequality to solve")
    bound = _letter_with_bounds(g.get("v"), s)
    if bound is not None:   # 'How many integers −11 ≤ n ≤ 11 satisfy …': the range joins the inequality
        if not all(isinstance(r, (sp.Lt, sp.Le, sp.Gt, sp.Ge, sp.And)) for r in rels):
            raise ParseError("a range written with the letter is read for inequalities")
        items, g = (sp.And(*items, bound),), g | {"v": None}
        rels = list(items)
    letters = set().union(*(r.free_symbols for r in rels))   # the letters as written, before the conditions below
    inequalities = all(isinstance(r, (sp.Lt, sp.Le, sp.Gt, sp.Ge, sp.And)) for r in rels)
    if g.get("cx") and not all(isinstance(r, sp.Eq) for r in rels):   # complex numbers are not ordered
        raise ParseError("an inequality is not read for complex numbers")
    if g.get("whole"):   # a whole number is an integer, 0 or more: one more condition on the inequality's letter
        if len(letters) != 1 or not inequalities:
            raise ParseError("'whole number' is read here for an inequality in one letter")
        items = (sp.And(*items, sp.Ge(next(iter(letters)), 0)),)
        rels = list(items)
        g = g | {"int": "integer"}
    if g.get("pos"):   # 'the sum of all positive integers n such that 1.2n − 4.4 < 5.2': n > 0 is one more condition
        if not inequalities or not (g.get("v") or len(letters) == 1):
            raise ParseError("'positive' is read here for an inequality in a named letter, or in one letter")
        letter = one(s.restore(g["v"])) if g.get("v") else next(iter(letters))
        items = (sp.And(*items, sp.Gt(letter, 0)),)
        rels = list(items)
    asked = g.get("v") or g.get("v2")   # 'values of x', 'the x-values'
    if g.get("v") and g.get("v2") and one(s.restore(g["v"])) != one(s.restore(g["v2"])):
        raise ParseError("the values asked for are of another letter than the one the problem names")
    denominators = written_denominators(s.restore(asked), latex=True) if asked else ()
    var, target = _asked(asked, s, set().union(*(r.free_symbols for r in rels)), denominators)
    p = _classify(text, items, var.name if var is not None else None)
    if dom_text and p.kind != "system" and _letters(dom_text) != {p.var}:   # 'the integer n, 0 ≤ w ≤ 180, such that'
        raise ParseError("the range is written for another letter than the unknown")
    if p.kind == "system" and (var is not None or target is not None):
        raise ParseError("one unknown of a system is not read yet; solve the system instead")
    if p.kind not in ("equation", "inequality", "system"):
        raise ParseError("expected an equation or inequality to solve")
    if target is not None and (p.kind != "equation" or target.free_symbols != {p.var}):
        raise ParseError("the value asked for must depend on the one unknown")
    pick = g.get("pick") or ("satisfy" if g.get("sols") else "") or ("in range" if g.get("dom") else "")
    pick = pick.lower() or None
    pick = {"greatest": "largest", "least": "smallest", "greater": "larger", "lesser": "smaller",
            "positive difference": "difference", "mean": "average", "satisfy": "integers",
            "solutions": "count"}.get(pick, pick)
    if g.get("int"):   # "the sum of all integer solutions", "the greatest integer x such that": the integers only
        pick = {"sum": "integer sum", "largest": "largest integer", "smallest": "smallest integer"}[pick]
    if pick and pick not in _PICKS.get(p.kind, ()):
        raise ParseError(f"cannot pick the {pick} solution of this {p.kind}")
    if domain is None and p.kind == "equation" and re.search(r"\breal (?:values|solutions|roots|zeros|numbers)\b",
                                                              s.text, re.IGNORECASE):
        domain = sp.S.Reals  # "the sum of the real roots" means the real ones, not all of them
    return replace(p, target=target, pick=pick, domain=domain,
                   excluded=written_poles(eq_text, p.var, latex=True) if p.kind != "system" else (),
                   denominators=denominators)


def _letter_with_bounds(v: str | None, s: Sentence) -> sp.Basic | None:
    """'⟦−11 ≤ n ≤ 11⟧' where a letter is expected: the bounds on it, else None."""
    if not v or not SLOT_RE.fullmatch(v.strip()):
        return None
    try:
        items = parse_math(s.restore(v), latex=True)
    except ParseError:
        return None
    if len(items) != 1 or not isinstance(items[0], (sp.And, sp.Lt, sp.Le, sp.Gt, sp.Ge)) or \
            len(items[0].free_symbols) != 1:
        return None
    return items[0]


def _split_domain(eq_text: str) -> tuple[str, sp.Set | None, str | None]:
    """'x^2 = 1 for 0 ≤ x < 2π' -> the equation, its domain and the domain as written; a tail that is not a domain
    stays."""
    dm = _DOMAIN.match(eq_text)
    if dm:
        try:
            return dm.group("body"), _domain(dm.group("dom")), dm.group("dom")
        except ParseError:
            pass
    return eq_text, None, None


def _letters(text: str) -> set:
    return set().union(*(i.free_symbols for i in parse_math(text, latex=True)))


def _asked(asked: str | None, s: Sentence, free: set, denominators: tuple) -> tuple:
    """The unknown asked for ('solve for x'), or an expression in it ('the value of 6x + 5'), or neither."""
    if not asked:
        return None, None
    t = one(s.restore(asked))
    if isinstance(t, sp.Symbol) and t in free and not denominators:
        return t, None   # the letter itself (x(x − 3)/(x − 3) is read as x, but it asks for a value, not x)
    if t.free_symbols and t.free_symbols <= free:
        return None, t
    raise ParseError(f"{asked!r} does not appear in the equation")


def _of(g: dict, s: Sentence, text: str) -> Problem:
    """3/4 of 48, 20% of 50% of 80: each part a number, "of" a product."""
    parts = [number(s.restore(x)) for x in [g["a"], *re.split(r"\s+of\s+", g["b"])]]
    return Problem(text, "evaluate", (sp.Mul(*parts, evaluate=False),), notes=(
        "“a of b” is a × b: " + " × ".join(sp.sstr(v) for v in parts),))


def _value(g: dict, s: Sentence, text: str) -> Problem:
    body = s.restore(g["a"])
    if has_dots(body):  # a sum written with …: the series task's
        return _in_base(tasks.problem(tasks.BY_NAME["series"], tasks.patterns.read_dotted(body), text), g, s)
    p = _in_base(_classify(text, tuple(parse_math(body, latex=True)), None, written=f"${body}$"), g, s)
    if g.get("letter") and one(s.slot(g, "letter")) not in _letters_written(p):  # 'the following expression in y'
        raise ParseError("the expression is said to be in a letter it does not have")
    return p


def _in_base(p: Problem, g: dict, s: Sentence) -> Problem:
    return replace(p, form="base", n=base_value(g["base"], s)) if g.get("base") else p


def _two(g: dict, s: Sentence, text: str) -> Problem:
    """'the product of ⟦1/5⟧ and ⟦3/7⟧': the two written as one expression, read like any value."""
    a, b = s.restore(g["a"]), s.restore(g["b"])
    body = {"product": f"\\left({a}\\right)\\cdot\\left({b}\\right)",
            "sum": f"\\left({a}\\right)+\\left({b}\\right)", "difference": f"\\left({a}\\right)-\\left({b}\\right)",
            "quotient": f"\\frac{{{a}}}{{{b}}}"}[g["op"].lower()]
    p = _in_base(_classify(text, tuple(parse_math(body, latex=True)), None, written=f"${body}$"), g, s)
    if g["op"].lower() == "difference" and g["prep"] == "between" and p.kind == "evaluate":
        value = p.items[0]
        if isinstance(value, sp.Expr) and value.is_negative:   # a − b, or the distance between them, as often meant
            a, b = plain(one(a)), plain(one(b))
            raise ParseError(f"'the difference between {a} and {b}' has two readings: {a} − {b} = {plain(value)}, "
                             f"or the positive difference {plain(-value)}: say 'the positive difference', or write "
                             "the subtraction")
    return p


def _expand_or_factor(kind: str):
    def read(g: dict, s: Sentence, text: str) -> Problem:
        f = one(s.restore(g["a"]))
        return Problem(text, kind, (f,), choose_var([f]))
    return read


def _roots(g: dict, s: Sentence, text: str) -> Problem:
    """The roots of a polynomial written alone (its zeros) or as an equation; 'rational', 'integer', 'real' keep
    those."""
    written = s.slot(g, "poly")
    items = parse_math(written, latex=True)
    if len(items) != 1 or not isinstance(items[0], (sp.Eq, sp.Expr)):
        raise ParseError("the roots of one polynomial")
    if isinstance(items[0], sp.Expr) and not (len(items[0].free_symbols) == 1 and items[0].is_polynomial()):
        raise ParseError("the roots of a polynomial in one letter: an expression's zeros are asked another way")
    equation = Sentence(f"${written}$" if isinstance(items[0], sp.Eq) else f"${written} = 0$")
    p = _solve({"eq": "⟦0⟧"}, equation, text)
    if p.kind != "equation":
        raise ParseError("the roots of one polynomial equation")
    kind = (g.get("kind") or "").lower()
    return replace(p, domain={"real": sp.S.Reals, "rational": sp.S.Rationals, "integer": sp.S.Integers}[kind]) \
        if kind else p


_READERS = {"given": lambda g, s, text: _given(text, g["defs"], g["a"], s), "define": _define, "roots": _roots,
            "introduced": lambda g, s, text: _given(text, _introduced(g), g["a"], s),
            "lines": lambda g, s, text: _given(text, g["defs"] + (f" and {g['when']}" if g.get("when") else ""),
                                               g["a"], s),
            "solve_for": _solve, "pick": _solve, "solve": _solve, "of": _of, "value": _value, "two": _two,
            "expand": _expand_or_factor("expand"), "factor": _expand_or_factor("factor")}


_JOIN = r"\s*(?:[,;.]\s*)?(?:(?:and|then)\s+)?(?:let\s+)?"
_FUNCTION_DEF = re.compile(r"\s*[a-zA-Z]\s*\(\s*[a-zA-Z]\s*\)\s*=")


def _given(text: str, defs: str, asked: str, s: Sentence) -> Problem:
    """'⟦0⟧ and ⟦1⟧' (or typed: 'x+y=4 and xy=3'), each an equation or a condition (≠, <, ≤, >, ≥), and the
    expression asked for, which must use their unknowns. Function or operation definitions are not read here."""
    defs, said = _declared_unknowns(re.sub(r"^that\s+", "", defs.strip()), s)
    if SLOT_RE.search(defs):
        if not re.fullmatch(rf"⟦\d+⟧(?:{_JOIN}⟦\d+⟧)*", defs):
            raise ParseError("read as equations joined by 'and' or commas")
        parts = [s.math[int(k)] for k in SLOT_RE.findall(defs)]
    else:
        parts = [t for t in re.split(r"\s*(?:,|;)?\s+and\s+|\s*[,;]\s*", defs) if t.strip()]
    items = []
    for part in parts:
        if _FUNCTION_DEF.match(part) or operations.definition(part):
            raise ParseError("a definition, not an equation")
        read = parse_math(part, latex=True)   # one, or a system written in one piece ('x+y=13, y+z=14')
        if not read or not all(isinstance(r, (sp.Eq, sp.Ne, sp.Lt, sp.Le, sp.Gt, sp.Ge)) for r in read):
            raise ParseError(f"expected an equation or a condition, got {part!r}")
        items.extend(read)
    unknowns = set().union(*(e.free_symbols for e in items if isinstance(e, sp.Eq)))
    target = one(s.restore(asked))
    if not unknowns and not target.free_symbols:
        return _known(text, items, s.restore(asked))
    # one equation in one unknown is the equation solver's (solve_for), unless it only gives the letter a value
    # that an expression is evaluated at ('Evaluate x³ + x when x = 3')
    assignment = isinstance(items[0], sp.Eq) and (items[0].lhs.is_Symbol and not items[0].rhs.free_symbols or
                                                   items[0].rhs.is_Symbol and not items[0].lhs.free_symbols)
    if len(items) == 1 and len(unknowns) == 1 and (not assignment or target in unknowns):
        raise ParseError("one equation in one unknown")
    if not target.free_symbols or not target.free_symbols <= unknowns:
        raise ParseError("the value asked for must be an expression in the equations' unknowns")
    if any(v not in unknowns for v, _ in said):
        raise ParseError("a letter the problem introduces is not in its equations")
    if said and unknowns - {v for v, _ in said}:   # 'Let y, y, z be real numbers so that x + y = 15, …'
        raise ParseError("a letter of the equations is not one the problem introduces")
    said_conditions = tuple(_KIND[word](v) for v, kind in said for word in (kind or "").split())
    return Problem(text, "given", tuple(items) + said_conditions, target=target,
                   denominators=written_denominators(s.restore(asked), latex=True))


def _known(text: str, items: list, asked: str) -> Problem:
    """'Given that 8! = 40320, what is 8! ÷ 3!?': facts of plain numbers, each checked, then a value to compute
    (a fact that is false is refused: the problem would be reasoning from it)."""
    for fact in items:
        if not isinstance(fact, sp.Eq) or sp.simplify(fact.lhs - fact.rhs) != 0:
            raise ParseError(f"a given fact is not true: {plain(fact.lhs)} ≠ {plain(fact.rhs)}"
                             if isinstance(fact, sp.Eq) else "a given fact is not an equation of numbers")
    return _classify(text, tuple(parse_math(asked, latex=True)), None, written=f"${asked}$")


_VARS = r"(?P<vars>⟦\d+⟧(?:\s*(?:,|and|,\s*and)\s*⟦\d+⟧)*)"
_KINDS = r"(?P<kind>(?:positive |nonzero |nonnegative )?real|positive|nonzero|nonnegative)"
_INTRO = [re.compile(rf"^{_VARS},?\s+(?:satisfy(?: the (?:system of )?equations?)?|(?:are|be) (?:{_KINDS} )?numbers "
                     rf"(?:such that|satisfying|so that|with|for which))\s+(?P<rest>.+)$"),
          re.compile(rf"^(?P<rest>.+?),?\s+(?:for|where) {_KINDS} numbers {_VARS}$")]
# what "Let x and y be positive real numbers" adds, word by word: conditions every solution must meet (given.py
# filters by them; "real" is |Im x| ≤ 0, a condition, not one more equation to solve)
_KIND = {"real": lambda v: sp.Le(sp.Abs(sp.im(v)), 0), "positive": lambda v: sp.Gt(v, 0),
         "nonnegative": lambda v: sp.Ge(v, 0), "nonzero": lambda v: sp.Ne(v, 0)}


def _declared_unknowns(defs: str, s: Sentence) -> tuple[str, list]:
    """'⟦0⟧ and ⟦1⟧ be positive real numbers such that ⟦2⟧ and ⟦3⟧' -> ('⟦2⟧ and ⟦3⟧', [(m, 'positive real'), …]):
    the letters a problem introduces, and what it says they are."""
    for intro in _INTRO:
        m = intro.match(defs)
        if not m:
            continue
        letters = [one(v) for k in SLOT_RE.findall(m.group("vars")) for v in s.math[int(k)].split(",") if v.strip()]
        if not all(isinstance(v, sp.Symbol) for v in letters) or len(set(letters)) != len(letters):
            raise ParseError("read as distinct letters, then what they satisfy")
        return m.group("rest"), [(v, m.group("kind")) for v in letters]
    return defs, []


def _domain(text: str) -> sp.Set:
    items = parse_math(text, latex=True)
    if len(items) != 1:
        raise ParseError("expected one domain")
    d = items[0]
    if isinstance(d, sp.Interval):
        return d
    if isinstance(d, (sp.And, sp.Rel)):
        free = d.free_symbols
        if len(free) != 1:
            raise ParseError("a domain is a range of one variable")
        x = next(iter(free))
        real = sp.Symbol(x.name, real=True)
        rels = d.args if isinstance(d, sp.And) else (d,)
        s = sp.S.Reals
        for r in rels:
            s = s.intersect(sp.solve_univariate_inequality(r.subs(x, real), real, relational=False))
        if not isinstance(s, sp.Interval) or s.measure.is_infinite:
            raise ParseError("a domain must be a bounded interval")
        return s
    raise ParseError("expected a domain like 0 ≤ x < 2π")
