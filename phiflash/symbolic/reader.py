"""Problems written as sentences: English task phrasings around math in `$…$` (or typed plain).

Each phrasing below is one task class ("What is the remainder when A is divided by N?"). A sentence is read
only when the whole of it matches a phrasing after the requested-form clauses ("Express your answer as a common
fraction.") are taken off, and every math slot parses. Otherwise the ParseError names the first word that was
not understood, so the problem is refused, never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import replace

import sympy as sp

from .arith import series_sum
from .parse import ParseError, parse_math
from .problem import Problem, _classify, choose_var, lines_of_math, read_typed
from .sentence import (
    ATOM,
    NUMBER_WORDS,
    ORD,
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
    has_variable,
    integer,
    list_items,
    number,
    one,
    ordinal,
    plain_series,
    point,
    variable,
    vector,
    whole,
)
from .solution import exact, to_base

# ---- requested forms --------------------------------------------------------------------------------------------

_FORMS = [
    (r"(?:,?\s*)?(?:express your answer |expressed |written )?as a common fraction(?: in lowest terms)?", "fraction"),
    (r"(?:,?\s*)?(?:express your answer )?in simplest radical form", "radical"),
    (r"(?:,?\s*)?(?:express (?:your answer|the result) |expressed )?as an? (?:integer|whole number|residue) "
     r"from \S+ to \S+(?: inclusive)?", "integer"),
    (r"(?:,?\s*)?(?:express (?:your answer|the result) |expressed )?as an? (?:integer|whole number)", "integer"),
    (r"(?:,?\s*)?(?:express (?:your answer|the result) |expressed )?as a (?:terminating )?decimal"
     r"(?: (?:rounded )?to the nearest (?:tenth|hundredth|thousandth|ten-thousandth|whole number))?",
     "decimal"),
    (r"(?:,?\s*)?(?:enter|express) your answer (?:using|in) interval notation", "interval"),
    (r"(?:,?\s*)?express your answer in base (?P<base>\S+)", "base"),
    (r"(?:,?\s*)?express your answer in radians", None),
    (r"(?:,?\s*)?in your head", None),
    # "where $\log$ is the base $10$ logarithm": readings.declared() takes its meaning from the original text
    (r"(?:,?\s*)?(?:where|here|and)\s+(?:\\?log|\u27e6\d+\u27e7)\s+(?:is|denotes|means|stands\s+for|represents)\s+"
     r"(?:the\s+)?(?:base[- ]?\S+|common|natural|decimal)\s+log(?:arithm)?(?:\s+function)?", None),
    (r"(?:,?\s*)?\(do not use a calculator!?\)", None),
]


def _take_forms(text: str, sentence: Sentence) -> tuple[str, str | None, sp.Expr | None]:
    form, base = None, None
    for pattern, name in _FORMS:
        m = re.search(pattern + r"\s*[.?!]?", text, flags=re.IGNORECASE)
        if not m:
            continue
        text = (text[:m.start()] + " " + text[m.end():]).strip()
        if name is None:
            continue
        if form is not None and form != name:
            raise ParseError("the problem asks for two different answer forms")
        form = name
        if m.groupdict().get("base"):
            base = base_value(m.group("base"), sentence)
    return " ".join(text.split()), form, base


# ---- reading math slots ----------------------------------------------------------------------------------------


# ---- the phrasings ----------------------------------------------------------------------------------------------

_PHRASES: list[tuple[str, str]] = [
    ("remainder", rf"(?:{WHAT} )?the remainder (?:when|of) {A} (?:is )?divided by {B}"),
    ("remainder", rf"(?:{WHAT} )?the remainder of {A} \(?mod(?:ulo)? {B}\)?"),
    ("remainder", rf"(?:{WHAT} )?the modulo {B} remainder of (?:the following sum:? |the sum )?{A}"),
    ("arith", rf"(?P<op>add) {A} to {B}"),
    ("arith", rf"(?P<op>subtract) {A} from {B}"),
    ("arith", rf"(?P<op>multiply) {A} by {B}"),
    ("arith", rf"(?P<op>divide) {A} by {B}"),
    ("dot", rf"(?:{WHAT} )?the dot product of {A} and {B}"),
    ("inverse", rf"(?:{WHAT} )?(?:the (?:modular )?inverse of (?P<a>{ATOM}+?)|(?P<ainv>{ATOM}+?)) "
                rf",?\(?(?:modulo|mod) {B}\)?"),
    ("quotient", rf"(?:{WHAT} )?the quotient (?:when|of) {A} (?:is )?divided by {B}"),
    ("distance", rf"(?:{WHAT} )?the distance,?(?: in units,?)? between (?:the points )?{A} and {B}"),
    ("units", rf"(?:{WHAT} )?the units digit of {A}"),
    ("divisors", rf"how many positive (?:whole-number |integer )?(?:divisors|factors) does {A} have"),
    ("gcd", rf"(?:{WHAT} )?the (?:greatest common (?:divisor|factor)|gcd) of {A}"),
    ("lcm", rf"(?:{WHAT} )?the (?:least common multiple|lcm) of {A}"),
    ("base", rf"express {A} in base {B}"),
    ("base", rf"(?:what is )?the base (?P<bw>\w+) (?:equivalent|representation) of {A}"),
    ("base", rf"(?:the )?(?:binary |decimal |octal )?number {A} is equal to what number in base (?P<bw>\w+)"),
    ("base", rf"(?:convert |write |what is )?{A} (?:in|to) base {B}"),
    ("discriminant", rf"(?:{WHAT} )?the discriminant of {A}"),
    ("multiples", rf"(?:{WHAT} )?the (?P<pick>sum) of (?:all )?(?:of )?the (?P<pos>positive )?multiples of {A} "
                  rf"(?:that are )?(?P<how>between|less than) {B}(?: and (?P<c>{ATOM}+?))?"),
    ("rangesum", rf"(?:{WHAT} )?the sum of (?:all )?(?:of )?(?:the )?(?P<par>odd |even )?(?:positive )?"
                 rf"(?:integers|whole numbers|natural numbers|numbers) from {B} (?:to|through) (?P<c>{ATOM}+?)"
                 rf"(?:,? inclusive)?"),
    ("multiples", rf"how many (?P<pos>positive )?multiples of {A} are (?:there )?(?P<how>between|less than) {B}"
                  rf"(?: and (?P<c>{ATOM}+?))?"),
    ("power", rf"(?:to )?what power (?:must|should) {A} be raised to (?:get|give|equal|make) {B}"),
    ("power", rf"what power of {A} (?:is equal to|equals|is|gives) {B}"),
    ("sqrt", rf"(?:{WHAT} )?the (?:positive |principal )?square root of (?:the (?:product|sum|number) )?{A}"),
    ("arrangements", r"(?:(?:determine|find|compute|what is) the number of|how many) (?:distinct |different )?"
                     r"(?:ways (?:are there )?(?:can you |can we |to )?(?:arrange|order)|arrangements of|"
                     r"(?:distinct )?permutations of) the letters (?:of|in) the word (?P<word>[A-Za-z]+)"
                     r"(?: be arranged| are there| are possible| can be made)?"),
    ("chance", rf"(?:a|an|one) (?:whole )?(?:number|integer) is (?:selected|chosen|picked|drawn) "
               rf"(?:at random|randomly) from (?:the integers )?{B} (?:through|to) (?P<c>{ATOM}+?)"
               rf"(?:,? inclusive)?[.,;]? what is the probability that "
               rf"(?:the|this|it|the selected|the chosen) ?(?:number|integer)? is (?P<cond>.+)"),
    ("chance", rf"what is the probability that a randomly (?:selected|chosen) (?:whole )?(?:number|integer) "
               rf"(?:in|from) the set (?P<set>{ATOM}+?) is (?P<cond>.+)"),
    ("ndigit", r"(?:what is |what's |find )?the (?P<which>largest|greatest|smallest|least) (?:positive )?"
               r"(?P<n>\w+)-digit (?:base[- ](?P<b>\w+) )?(?:positive )?(?:integer|number|whole number)"
               r"(?: in base (?P<b2>\w+))?"),
    ("conjugate", rf"(?:{WHAT} )?the (?P<op>product|sum) of (?:the number )?{A} and its (?:radical )?conjugate"),
    ("choose", rf"in how many ways can {A} (?:[a-z]+ )?be (?:selected|chosen|picked) from (?:a group of |a set of )?"
               rf"{B}(?: [a-z]+)?"),
    ("choose", rf"how many ways are there to (?:choose|select|pick) {A} (?:[a-z]+ )?from (?:a group of |a set of )?"
               rf"{B}(?: [a-z]+)?"),
    ("apunknown", rf"(?:{WHAT} )?the (?:integer |real )?value of {V} in the arithmetic sequence {A}"),
    ("posdiff", rf"(?:{WHAT} )?the positive difference between {A} and {B}"),
    ("count", rf"how many of the (?P<first>first) {B} positive integers are (?P<cond>.+)"),
    ("count", rf"how many positive integers (?:less than|below) {B} are (?P<cond>.+)"),
    ("count", rf"how many (?:positive )?integers from {B} (?:to|through) (?P<c>{ATOM}+?)(?:,? inclusive,?)? are "
              rf"(?P<cond>.+)"),
    ("digitsum", rf"(?:{WHAT} )?the sum of (?:all )?the digits (?:of|in) (?:the (?:terminating )?decimal "
                 rf"(?:representation|expansion) of )?(?:the (?:fraction|number|integer) )?{A}"),
    ("mean", rf"(?:if )?the (?:arithmetic )?(?:mean|average) of {A} is {B}[.,;]? (?:then )?(?:{WHAT}|what is)"
             rf"(?: the value of)? {V}"),
    ("bound", rf"(?:{WHAT} )?the (?P<which>greatest|largest) integer (?:that is |which is )?"
              rf"(?P<rel>less than or equal to|less than|not (?:greater than|more than|exceeding)|that does not "
              rf"exceed|at most) {A}"),
    ("bound", rf"(?:{WHAT} )?the (?P<which>least|smallest) integer (?:that is |which is )?"
              rf"(?P<rel>greater than or equal to|greater than|not less than|at least) {A}"),
    ("sequence", rf"(?:{WHAT} )?the (?P<ord>{ORD}) term (?:of|in) the (?P<rule>arithmetic |geometric )?sequence"
                 rf"(?: of (?P<parity>odd|even) (?:numbers|integers|whole numbers))?:? {A}"),
    ("sequence", rf"(?:consider|in|given) the (?P<rule>arithmetic |geometric )?sequence:? {A}[.,;]? "
                 rf"(?:{WHAT}|what is) the (?P<ord>{ORD}) term(?: (?:of|in) (?:the|this) sequence)?"),
    ("decimal", rf"(?:write|convert|express) {A} (?:as|to) a (?:terminating )?decimal"),
    ("decimal", rf"(?:what is )?{A} expressed as a decimal"),
    ("rationalize", rf"rationalize the denominator(?: of)?:? {A}"),
    ("given", rf"(?:if|let|given(?: that)?|suppose(?: that)?) (?P<defs>.+?)[,.;]? (?:then )?(?:{WHAT}|what is|"
              rf"what's)(?: the value of)?(?: the expression)? {A}(?: equal to)?"),
    ("define", rf"(?:if|let|given) (?P<defs>.+?)[,.;]? (?:then )?(?:{WHAT}|what is)(?: the value of)? {A}"),
    ("solve_for", rf"(?:if|given that) (?P<eq>.+?)[,.;]? (?:then )?(?:what is|find|determine)(?: all)?"
                  rf"(?: possible)?(?: the)?(?: values? of)? {V}(?: equal to)?"),
    ("solve_for", rf"for what (?:real )?value of {V},? (?:is|does|do) (?P<eq>.+?)(?: true| hold)?"),
    ("solve_for", rf"(?:find|what is|determine) (?:the value of )?{V},? (?:if|such that|when|given that) (?P<eq>.+)"),
    ("solve_for", rf"solve for {V}\s*:?\s*(?P<eq>.+)"),
    ("solve_for", rf"solve the following equation for {V}\s*:?\s*(?P<eq>.+)"),
    ("solve_for", rf"(?P<eq>.+?)[.,] solve for {V}"),
    ("pick", rf"solve for the (?P<pick>positive|negative) (?:value of )?{V}(?: such that| that satisfies| in)? "
             rf"(?P<eq>.+)"),
    ("pick", rf"(?:{WHAT} )?the (?P<pick>largest|smallest|greatest|least|positive|negative) (?:value of )?{V} "
             rf"(?:that satisfies|such that|satisfying|for which)(?: the equation)? (?P<eq>.+)"),
    ("pick", rf"(?:{WHAT} )?the (?P<pick>sum|product) of {SOLS} (?P<eq>.+)"),
    ("pick", rf"what (?P<pick>integer) {V} satisfies (?P<eq>.+)"),
    ("pick", r"how many (?P<pick>integers) (?:are in the solution set of|satisfy) (?P<eq>.+)"),
    ("pick", rf"in the equation (?P<eq>.+?),? what is the (?P<pick>sum|product) of {SOLS}"),
    ("solve", rf"(?:{WHAT} |solve )?(?:all )?(?:the )?(?:real )?(?:solutions|roots|values of {V})"
              rf"(?: that satisfy| to| of| satisfying)?(?: the equation)? (?P<eq>.+)"),
    ("solve", r"solve(?: the equation| the inequality)?\s*:?\s*(?P<eq>.+)"),
    ("of", rf"(?:what is |find |compute )?{A} of {B}"),
    ("value", rf"(?:{WHAT} )?the (?:product|sum|quotient|difference) (?:of )?(?P<a>\u27e6\d+\u27e7)"),
    ("value", rf"(?:write|express|convert) {A}"),
    ("expand", rf"expand(?: and simplify)?(?: completely)?(?: the (?:following )?(?:expression|product))?\s*:?\s*{A}"),
    ("factor", rf"(?:completely )?factor(?: completely)?(?: the (?:following )?expression)?\s*:?\s*{A}"),
    ("value", rf"(?:{WHAT}|simplify)(?: the value of)?(?: the following(?: expression)?)?(?: the expression)?"
              rf"(?: in \S+)?\s*:?\s*{A}"),
    ("value", rf"what is the value of {A}"),
    ("value", A),
]
_VOCABULARY = {w.lower() for pattern in [p for p, _ in _FORMS] + [p for _, p in _PHRASES]
               for w in re.findall(r"[A-Za-z]{2,}", re.sub(r"\(\?P<\w+>", "(", pattern))} | set(NUMBER_WORDS)
# which solutions a phrasing may pick, by what was read
_PICKS = {"equation": {"sum", "product", "positive", "negative", "largest", "smallest"},
          "inequality": {"integer", "integers"}}
_DOMAIN = re.compile(r"^(?P<body>.+?),? (?:for|where|with|on|in the interval|over) (?P<dom>[^,]+?)$")


def parse_problem(text: str) -> Problem:
    """The engine's reading of a problem, typed math or a sentence. Raises ParseError for anything that is not a
    problem we can read."""
    return read_typed(text) or read_sentence(lines_of_math(text))


def read_sentence(original: str) -> Problem:
    sentence = Sentence(original)
    text, form, base = _take_forms(sentence.text, sentence)
    text = re.sub(r"\s*[.?]+\s*$", "", text.replace("...", "…")).strip()  # "2, 5, 8, ...?" keeps its dots
    text = re.sub(r"^(?:please|now|next),?\s+", "", text, flags=re.IGNORECASE)
    first_error: ParseError | None = None
    for kind, pattern in _PHRASES:
        m = re.fullmatch(pattern, text, flags=re.IGNORECASE | re.S)
        if not m:
            continue
        try:
            p = _build(kind, m, sentence, original)
        except ParseError as e:
            first_error = first_error or e
            continue
        extras = {"form": form}
        if base is not None and p.kind != "base":
            extras |= {"form": "base", "n": base}
        return replace(p, **{k: v for k, v in extras.items() if v is not None})
    words = re.findall(r"[A-Za-z']{2,}", SLOT_RE.sub(" ", text))
    unknown = [w for w in words if w.lower().strip("'") not in _VOCABULARY]
    if unknown or (words and first_error is None):
        raise ParseError(f"can't read {(unknown or words)[0]!r} — try the model, or type the math")
    raise first_error or ParseError("can't read the problem — try the model, or type the math")


def _build(kind: str, m: re.Match, s: Sentence, original: str) -> Problem:
    g = {k: (v.strip() if isinstance(v, str) else v) for k, v in m.groupdict().items()}
    text = original
    if kind == "quotient" or kind == "remainder" and has_variable(s.restore(g["a"])):
        f, d = one(s.restore(g["a"])), one(s.restore(g["b"]))
        x = choose_var([f, d])
        if x is None or not (f.free_symbols | d.free_symbols) <= {x}:
            raise ParseError("polynomial division needs polynomials in one variable")
        try:
            pf, pd = sp.Poly(f, x), sp.Poly(d, x)
        except sp.PolynomialError:
            raise ParseError("polynomial division needs polynomials") from None
        if pd.degree() < 1 or not (pf.domain.is_QQ or pf.domain.is_ZZ) or not (pd.domain.is_QQ or pd.domain.is_ZZ):
            raise ParseError("polynomial division needs rational coefficients and a divisor with the variable")
        return Problem(text, "polydiv", (f, d), x, pick=kind)
    if kind == "inverse":
        a = one(s.restore(g.get("a") or g["ainv"]))
        n = integer(s.restore(g["b"]))
        if not g.get("a") and a.is_Integer:  # "17 mod 5": a remainder
            if n <= 0:
                raise ParseError("a remainder needs a positive divisor")
            return Problem(text, "remainder", (a,), n=n)
        if not g.get("a"):  # written a^{-1} mod n
            if not (a.is_Rational and a.p == 1 and a.q > 1):  # 997^{-1} arrives as the rational 1/997
                raise ParseError("read as a^{-1} modulo n")
            a = sp.Integer(a.q)
        if not a.is_Integer or n < 2:
            raise ParseError("a modular inverse needs a whole number and a modulus of 2 or more")
        return Problem(text, "inverse", (a,), n=n)
    if kind == "distance":
        P, Q = point(s.restore(g["a"])), point(s.restore(g["b"]))
        if len(P) != len(Q):
            raise ParseError("the two points have different numbers of coordinates")
        expr = sp.sqrt(sp.Add(*[(a - b) ** 2 for a, b in zip(P, Q)]))
        return Problem(text, "evaluate", (expr,), notes=(
            f"the distance is the square root of the sum of the squared differences of the coordinates: "
            f"√({' + '.join(f'({sp.sstr(a)} − {sp.sstr(b)})²' for a, b in zip(P, Q))})",))
    if kind in ("remainder", "units"):
        a_text = s.restore(g["a"])
        a = _series_or_number(a_text)
        n = sp.Integer(10) if kind == "units" else integer(s.restore(g["b"]))
        if not a.is_Integer or n <= 0:
            raise ParseError("a remainder needs a whole number and a positive divisor")
        return Problem(text, "remainder", (a,), n=n, notes=("the units digit is the remainder mod 10",)
                       if kind == "units" else (), source=plain_series(a_text) if has_dots(a_text) else "")
    if kind == "divisors":
        a = integer(s.restore(g["a"]))
        if a <= 0:
            raise ParseError("count divisors of a positive whole number")
        return Problem(text, "divisors", (a,))
    if kind in ("gcd", "lcm"):
        nums = tuple(integer(x) for x in list_items(s.restore(g["a"])))
        if len(nums) < 2:
            raise ParseError(f"a {kind} needs two or more whole numbers")
        return Problem(text, kind, nums)
    if kind == "base":
        a = integer(s.restore(g["a"]))
        b = NUMBER_WORDS.get((g.get("bw") or "").lower()) if g.get("bw") else None
        n = sp.Integer(b) if b else base_value(g.get("b") or "", s)
        return Problem(text, "base", (a,), n=n, form="base")
    if kind == "discriminant":
        f = one(s.restore(g["a"]))
        x = choose_var([f])
        poly = sp.Poly(f, x) if x is not None else None
        if poly is None or poly.degree() != 2:
            raise ParseError("the discriminant is defined here for a quadratic polynomial")
        return Problem(text, "discriminant", (f,), x)
    if kind == "arith":  # add A to B, subtract A from B, multiply A by B, divide A by B
        x, y = exact(number(s.restore(g["a"]))), exact(number(s.restore(g["b"])))
        if g["op"].lower() == "divide" and y == 0:
            raise ParseError("division by zero")
        expr = {"add": sp.Add(x, y, evaluate=False), "subtract": sp.Add(y, -x, evaluate=False),
                "multiply": sp.Mul(x, y, evaluate=False),
                "divide": sp.Mul(x, sp.Pow(y, -1), evaluate=False)}[g["op"].lower()]
        return Problem(text, "evaluate", (expr,))
    if kind == "dot":
        u, v = (vector(s.restore(g[k])) for k in ("a", "b"))
        if len(u) != len(v):
            raise ParseError("the two vectors have different lengths")
        return Problem(text, "evaluate", (sp.Add(*[x * y for x, y in zip(u, v)]),), notes=(
            "the dot product adds the products of matching entries: " + " + ".join(
                f"({sp.sstr(x)})({sp.sstr(y)})" for x, y in zip(u, v)),))
    if kind == "choose":  # unordered choices of k from n
        k, n = integer(s.restore(g["a"])), integer(s.restore(g["b"]))
        if not 0 <= k <= n or n > 10 ** 6:
            raise ParseError("choose k of n needs 0 ≤ k ≤ n")
        return Problem(text, "evaluate", (sp.binomial(n, k),), notes=(
            f"choosing {k} of {n} without regard to order: C({n}, {k}) = {n}!/({k}!·{n - k}!)",))
    if kind == "apunknown":  # an arithmetic sequence with one unknown term: equal differences
        var = variable(s.restore(g["v"]))
        terms = [one(t) for t in re.split(r"\s*,\s*", s.restore(g["a"]).strip()) if t.strip()]
        if len(terms) < 3 or any(t.free_symbols - {var} for t in terms) or not any(t.has(var) for t in terms):
            raise ParseError("read as the terms of an arithmetic sequence with one unknown")
        eqs = [sp.Eq(terms[i + 1] - terms[i], terms[i + 2] - terms[i + 1]) for i in range(len(terms) - 2)]
        p = _classify(text, (eqs[0],), var.name)
        if p.kind != "equation":
            raise ParseError("read as the terms of an arithmetic sequence with one unknown")
        roots = sp.solve(eqs[0], var)
        if not roots or any(sp.simplify(e.lhs - e.rhs).subs(var, r) != 0 for r in roots for e in eqs[1:]):
            raise ParseError("no value makes every difference of the sequence equal")
        said = "; ".join(f"{sp.sstr(e.lhs)} = {sp.sstr(e.rhs)}" for e in eqs)
        return replace(p, notes=(f"in an arithmetic sequence consecutive differences are equal: {said}",))
    if kind == "multiples":  # multiples of k strictly between two numbers, or positive ones below a number
        k = integer(s.restore(g["a"]))
        between = g["how"] == "between"
        if between != (g.get("c") is not None) or k <= 0:
            raise ParseError("read as: multiples of k between a and b, or positive multiples of k less than n")
        lo, hi = (integer(s.restore(g["b"])), integer(s.restore(g["c"]))) if between else (
            sp.Integer(0), integer(s.restore(g["b"])))
        if between and (lo % k == 0 or hi % k == 0):
            raise ParseError("an end of the range is itself a multiple, so whether 'between' includes it is a guess")
        if not between and not g.get("pos"):
            raise ParseError("multiples less than n: say positive multiples (the negative ones never end)")
        if between and g.get("pos") and lo < 0:
            raise ParseError("positive multiples between a negative number and another are not read yet")
        return Problem(text, "multiples", (k, lo, hi), pick="sum" if g.get("pick") else "count")
    if kind == "rangesum":  # the sum of the (odd / even) integers from lo to hi
        lo, hi = integer(s.restore(g["b"])), integer(s.restore(g["c"]))
        if hi < lo:
            raise ParseError("read for a range from a smaller number to a larger one")
        return Problem(text, "rangesum", (lo, hi), pick=(g.get("par") or "all").strip())
    if kind == "power":  # what power of a is b: the x with a^x = b
        a, b = number(s.restore(g["a"])), number(s.restore(g["b"]))
        if not (a.is_positive and a != 1 and b.is_positive):
            raise ParseError("read for a positive base other than 1 and a positive value")
        x = sp.Symbol("x")
        return Problem(text, "equation", (sp.Eq(a ** x, b),), x,
                       notes=(f"the power x of {sp.sstr(a)} that gives {sp.sstr(b)}: {sp.sstr(a)}^x = {sp.sstr(b)}",))
    if kind == "sqrt":
        v = number(s.restore(g["a"]))
        if not v.is_nonnegative:
            raise ParseError("the square root is read here for a number ≥ 0")
        return Problem(text, "evaluate", (sp.sqrt(v),))
    if kind == "arrangements":
        word = g["word"].upper()
        if len(word) > 20:
            raise ParseError("a word of at most 20 letters")
        return Problem(text, "arrangements", tuple(sp.Symbol(c) for c in word))
    if kind == "count":  # how many integers of a range meet the conditions
        b = whole(s.restore(g["b"]))
        lo, hi = (1, b) if g.get("first") else (1, b - 1) if g.get("c") is None else (
            b, int(integer(s.restore(g["c"]))))
        return _integers_meeting(text, lo, hi, s.restore(g["cond"]), pick="count")
    if kind == "chance":  # an integer drawn uniformly from lo..hi: the share that meets the condition
        if g.get("set"):
            m = re.fullmatch(r"\\?\{\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(?:\\[lc]?dots|…)\s*,\s*(-?\d+)"
                             r"\s*\\?\}", s.restore(g["set"]).replace(" ", ""))
            if not m or [int(m.group(k)) for k in (2, 3)] != [int(m.group(1)) + 1, int(m.group(1)) + 2]:
                raise ParseError("read as a set of consecutive integers {1, 2, 3, …, n}")
            lo, hi = int(m.group(1)), int(m.group(4))
        else:
            lo, hi = int(integer(s.restore(g["b"]))), int(integer(s.restore(g["c"])))
        return _integers_meeting(text, lo, hi, s.restore(g["cond"]))
    if kind == "ndigit":  # the largest n-digit integer in base b is b^n − 1, the smallest b^(n−1)
        n = whole(g["n"])
        if not 0 < n <= 1000:
            raise ParseError(f"can't read the number of digits {g['n']!r}")
        bw = g.get("b") or g.get("b2")
        b = base_value(bw, s) if bw else sp.Integer(10)
        largest = g["which"] in ("largest", "greatest")
        if not largest and n == 1:
            raise ParseError("whether the smallest one-digit integer is 0 or 1 is a guess")
        value = b ** n - 1 if largest else b ** (n - 1)
        beyond = value + 1 if largest else value - 1     # one step further has another number of digits
        if len(to_base(int(value), int(b))) != n or len(to_base(int(beyond), int(b))) == n:
            raise ParseError("the n-digit bound failed its check")
        return Problem(text, "evaluate", (value,), notes=(
            f"the {g['which']} {n}-digit integer in base {b} is " + (f"{b}^{n} − 1" if largest else f"{b}^{n - 1}")
            + f": written in base {b} it is " + (f"{n} digits {b - 1}" if largest else f"1 and {n - 1} zeros"),))
    if kind == "conjugate":  # a + b√c and its radical conjugate a − b√c
        v = sp.expand(number(s.restore(g["a"])))
        rational, rest = v.as_coeff_Add()
        if not rational.is_Rational or not rest.is_Mul and not rest.is_Pow or not any(
                isinstance(f, sp.Pow) and f.exp == sp.Rational(1, 2) for f in sp.Mul.make_args(rest)):
            raise ParseError("read for a number a + b√c with a rational a")
        conj = rational - rest
        expr = v * conj if g["op"] == "product" else v + conj
        return Problem(text, "evaluate", (expr,), notes=(
            f"the radical conjugate of {sp.sstr(v)} is {sp.sstr(conj)}",))
    if kind == "digitsum":
        v = exact(number(s.restore(g["a"])))
        if not v.is_Rational or v < 0:
            raise ParseError("digits are summed here for a whole number or a terminating decimal ≥ 0")
        return Problem(text, "digitsum", (sp.Rational(v),))
    if kind == "mean":  # "the mean of 7, 2, x and 10 is 9": an equation in the one unknown
        values = [one(x) for x in list_items(s.restore(g["a"]))]
        mean = one(s.restore(g["b"]))
        var = variable(s.restore(g["v"]))
        if len(values) < 2 or mean.free_symbols or {var} != set().union(*(v.free_symbols for v in values)):
            raise ParseError("a mean is read as numbers and one unknown, equal to a number")
        eq = sp.Eq(sp.Add(*values) / len(values), mean)
        p = _classify(text, (eq,), var.name)
        written = " + ".join(sp.sstr(v) for v in values)
        return replace(p, notes=(f"the mean is the sum divided by {len(values)}: ({written})/{len(values)} = "
                                 f"{sp.sstr(mean)}",))
    if kind == "bound":  # the greatest integer below a number, or the least above it
        v = number(s.restore(g["a"]))
        v = sp.simplify(exact(v))
        if not v.is_real:
            raise ParseError("the bound must be a real number")
        near = sp.N(v, 60)
        if not v.is_Integer and abs(near - sp.Integer(round(near))) < sp.Float("1e-40"):
            raise ParseError("the bound is too close to an integer to tell which side it is on")
        strict = g["rel"] in ("less than", "greater than")
        below = g["which"] in ("greatest", "largest")
        expr = (sp.ceiling(v) - 1 if strict else sp.floor(v)) if below else (
            sp.floor(v) + 1 if strict else sp.ceiling(v))
        rule = {(True, True): "⌈a⌉ − 1", (True, False): "⌊a⌋", (False, True): "⌊a⌋ + 1",
                (False, False): "⌈a⌉"}[(below, strict)]
        return Problem(text, "evaluate", (expr,), notes=(
            f"the {g['which']} integer {g['rel']} a is {rule}, with a = {sp.sstr(v)}",))
    if kind == "sequence":
        n = ordinal(s.restore(g["ord"]))
        items = [x.strip() for x in re.sub(r"\\[lc]?dots|\.\.\.", "…", s.restore(g["a"])).split(",")]
        if items[-1] != "…" or "…" in items[:-1]:
            raise ParseError("a sequence is read as its first terms, then …")
        if len(items) < 4:
            raise ParseError("give at least three terms so the pattern is not a guess")
        terms = tuple(number(x) for x in items[:-1])
        parity = g.get("parity")
        if parity and not all(t.is_Integer and t % 2 == (1 if parity == "odd" else 0) for t in terms):
            raise ParseError(f"the terms are not all {parity}")
        return Problem(text, "sequence", terms, n=sp.Integer(n), rule=(g.get("rule") or "").strip().lower())
    if kind in ("decimal", "rationalize"):
        v = number(s.restore(g["a"]))
        return Problem(text, "evaluate", (v,), form="decimal" if kind == "decimal" else "radical")
    if kind == "given":   # equations and conditions, then an expression in their unknowns (given.py)
        return _given(text, g["defs"], g["a"], s)
    if kind == "define":
        op = _OPERATOR_DEF.fullmatch(s.restore(g["defs"]).strip())
        if op:  # "a ⋆ b = 9a + 2b − ab + 5": an operation the problem defines, applied to numbers
            return _operator_value(text, op, s.restore(g["a"]))
        functions = definitions(s.restore(g["defs"]))
        v = one(s.restore(g["a"]), functions)
        if v.free_symbols:
            raise ParseError("the value asked for still has a variable in it")
        return Problem(text, "evaluate", (v,))
    if kind in ("solve_for", "pick", "solve"):
        eq_text = s.restore(g["eq"])
        domain = None
        dm = _DOMAIN.match(eq_text)
        if dm:
            try:
                domain = _domain(dm.group("dom"))
                eq_text = dm.group("body")
            except ParseError:
                domain = None
        items = tuple(parse_math(eq_text, latex=True))
        rels = [i for i in items if isinstance(i, (sp.Rel, sp.And))]
        if not rels or len(rels) != len(items):
            raise ParseError("expected an equation or inequality to solve")
        target, var = None, None
        if g.get("v"):
            t = one(s.restore(g["v"]))
            free = set().union(*(r.free_symbols for r in rels))
            if isinstance(t, sp.Symbol) and t in free:
                var = t
            elif t.free_symbols and t.free_symbols <= free:
                target = t
            else:
                raise ParseError(f"{g['v']!r} does not appear in the equation")
        p = _classify(text, items, var.name if var is not None else None)
        if p.kind == "system" and (var is not None or target is not None):
            raise ParseError("one unknown of a system is not read yet; solve the system instead")
        if p.kind not in ("equation", "inequality", "system"):
            raise ParseError("expected an equation or inequality to solve")
        if target is not None:
            if p.kind != "equation" or target.free_symbols != {p.var}:
                raise ParseError("the value asked for must depend on the one unknown")
        pick = (g.get("pick") or "").lower() or None
        pick = {"greatest": "largest", "least": "smallest"}.get(pick, pick)
        if pick and pick not in _PICKS.get(p.kind, ()):
            raise ParseError(f"cannot pick the {pick} solution of this {p.kind}")
        if domain is None and p.kind == "equation" and re.search(r"\breal (?:values|solutions|roots|zeros)\b",
                                                                  s.text, re.IGNORECASE):
            domain = sp.S.Reals  # "the sum of the real roots" means the real ones, not all of them
        return replace(p, target=target, pick=pick, domain=domain)
    if kind == "posdiff":  # |A − B|, each side a number or "a of b"
        a, b = (sp.Mul(*[number(s.restore(x)) for x in re.split(r"\s+of\s+", g[k])]) for k in ("a", "b"))
        return Problem(text, "evaluate", (sp.Abs(a - b),), notes=(
            f"the positive difference is |{sp.sstr(a)} − {sp.sstr(b)}|",))
    if kind == "of":  # 3/4 of 48, 20% of 50% of 80: each part a number, "of" a product
        parts = [number(s.restore(x)) for x in [g["a"], *re.split(r"\s+of\s+", g["b"])]]
        return Problem(text, "evaluate", (sp.Mul(*parts),), notes=(
            "“a of b” is a × b: " + " × ".join(sp.sstr(v) for v in parts),))
    if kind in ("expand", "factor"):
        f = one(s.restore(g["a"]))
        return Problem(text, kind, (f,), choose_var([f]))
    if kind == "value":
        body = s.restore(g["a"])
        if has_dots(body):  # read and summed by the solver (arith.series_sum)
            return Problem(text, "series", (), source=plain_series(body))
        return _classify(text, tuple(parse_math(body, latex=True)), None)
    raise ParseError(f"unknown task {kind}")


_JOIN = r"\s*(?:[,;.]\s*)?(?:(?:and|then)\s+)?"
_FUNCTION_DEF = re.compile(r"\s*[a-zA-Z]\s*\(\s*[a-zA-Z]\s*\)\s*=")


def _given(text: str, defs: str, asked: str, s: Sentence) -> Problem:
    """'⟦0⟧ and ⟦1⟧' (or typed: 'x+y=4 and xy=3'), each an equation or a condition (≠, <, ≤, >, ≥), and the
    expression asked for, which must use their unknowns. Function or operation definitions are not read here."""
    defs = re.sub(r"^that\s+", "", defs.strip())
    if SLOT_RE.search(defs):
        if not re.fullmatch(rf"⟦\d+⟧(?:{_JOIN}⟦\d+⟧)*", defs):
            raise ParseError("read as equations joined by 'and' or commas")
        parts = [s.math[int(k)] for k in SLOT_RE.findall(defs)]
    else:
        parts = [t for t in re.split(r"\s*(?:,|;)?\s+and\s+|\s*[,;]\s*", defs) if t.strip()]
    items = []
    for part in parts:
        if _FUNCTION_DEF.match(part) or _OPERATOR_DEF.fullmatch(part):
            raise ParseError("a definition, not an equation")
        read = parse_math(part, latex=True)
        if len(read) != 1 or not isinstance(read[0], (sp.Eq, sp.Ne, sp.Lt, sp.Le, sp.Gt, sp.Ge)):
            raise ParseError(f"expected an equation or a condition, got {part!r}")
        items.append(read[0])
    unknowns = set().union(*(e.free_symbols for e in items if isinstance(e, sp.Eq)))
    if len(items) == 1 and len(unknowns) == 1:   # one equation in one unknown: the equation solver's (solve_for)
        raise ParseError("one equation in one unknown")
    target = one(s.restore(asked))
    if not target.free_symbols or not target.free_symbols <= unknowns:
        raise ParseError("the value asked for must be an expression in the equations' unknowns")
    return Problem(text, "given", tuple(items), target=target)


_CONDITION = re.compile(r"(?P<neg>not )?(?:(?:divisible by|(?:a )?multiples? of) (?P<k>\S+)|(?P<kind>even|odd|"
                        r"primes?|prime numbers|a prime(?: number)?|(?:a )?perfect squares?|(?:a )?perfect cubes?|"
                        r"a square|a cube))")


def _integers_meeting(text: str, lo: int, hi: int, cond: str, pick: str | None = None) -> Problem:
    """The integers lo..hi and the conditions on them (arith._chance counts them; pick "count" or a probability)."""
    if not lo <= hi or hi - lo > 10 ** 6:
        raise ParseError("read for a range of at most a million integers")
    joiner, tests = _conditions(cond)
    return Problem(text, "chance", (sp.Integer(lo), sp.Integer(hi), *tests), source=joiner, pick=pick)


def _conditions(text: str) -> tuple[str, list[str]]:
    """'divisible by 2 and not divisible by 3' -> ('and', ['divisible by 2', 'not divisible by 3']): each part one
    property of whole numbers, all joined by the same word; anything else is refused."""
    text = re.sub(r"\s+", " ", text.replace("$", " ")).strip(" .?")
    # "divisible by 3, 4, and 5": one condition per number, all required
    listed = re.fullmatch(r"(not )?divisible by (\S+(?:, \S+)*),? and (\S+)", text)
    if listed and "," in text:
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
        else:
            word = m.group("kind")
            kind = "prime" if word.startswith(("prime", "a prime")) else "a perfect square" if "square" in word \
                else "a perfect cube" if "cube" in word else word
            tests.append(f"{m.group('neg') or ''}{kind}")
    return ("or" if "or" in words else "and"), tests


_OP = r"\\(?:star|ast|diamond|odot|oplus|otimes|clubsuit|spadesuit|heartsuit|bowtie|dagger|nabla|circ|bullet|" \
      r"triangle|square|Box|boxtimes|boxplus|S|P|#|&|\$)|#|@|&|\$|¤|⋆|∗|◇|⊕|⊗|⊙|♣|♠|♥|△|□|∘"
_OPERATOR_DEF = re.compile(rf"\s*([a-z])\s*(?P<op>{_OP})\s*([a-z])\s*=\s*(?P<body>.+)")


def _operator_value(text: str, op: re.Match, query: str) -> Problem:
    """The value of a query like '5 ⋆ 1' or '(1 ⋆ 2) ⋆ 3' under the defined operation: innermost, leftmost first."""
    a, b = sp.Symbol(op.group(1)), sp.Symbol(op.group(3))
    if a == b:
        raise ParseError("an operation needs two different letters, as in a ⋆ b")
    body = one(op.group("body"))
    if not body.free_symbols <= {a, b}:
        raise ParseError("the operation's definition uses letters other than its two operands")
    sign = re.escape(op.group("op"))
    symbol = {"\\star": "⋆", "\\ast": "∗", "\\diamond": "◇", "\\#": "#", "\\&": "&", "\\$": "$",
              "\\circ": "∘", "\\oplus": "⊕", "\\otimes": "⊗", "\\odot": "⊙"}.get(op.group("op"), op.group("op"))
    operand = r"(-?\d+(?:\.\d+)?|\(\s*-?\d+(?:\.\d+)?\s*\)|\\frac\{\d+\}\{\d+\})"
    pattern = re.compile(rf"{operand}\s*{sign}\s*{operand}")
    q, steps = query.strip(), []
    for _ in range(20):
        m = pattern.search(q)
        if not m:
            break
        x, y = (number(t.strip("() ")) for t in m.groups())
        value = sp.nsimplify(body.subs({a: x, b: y}))
        put = {a.name: f"({sp.sstr(x)})", b.name: f"({sp.sstr(y)})"}   # the definition with the numbers put in
        shown = re.sub(r"(?<![A-Za-z\\])([A-Za-z]+)(?![A-Za-z])",
                       lambda t, put=put: "".join(put[c] for c in t.group(1)) if set(t.group(1)) <= set(put)
                       else t.group(1), op.group("body").strip())
        steps.append((f"{sp.sstr(x)} {symbol} {sp.sstr(y)}: put {a} = {sp.sstr(x)} and {b} = {sp.sstr(y)} into "
                      f"{op.group('body').strip()}, which gives {shown}", value))
        q = q[:m.start()] + f"({sp.sstr(value)})" + q[m.end():]
        q = re.sub(r"\(\s*\((-?[\d/.]+)\)\s*\)", r"(\1)", q)
    if re.search(sign, q):
        raise ParseError("the operation is applied here in a way that is not read")
    v = number(q.replace("(", " ( ").replace(")", " ) "))
    # each application's value is said, except the last one's, which is the answer
    said = [t if k == len(steps) - 1 else f"{t} = {sp.sstr(value)}" for k, (t, value) in enumerate(steps)]
    return Problem(text, "evaluate", (v,), notes=tuple(said))


def _series_or_number(text: str) -> sp.Expr:
    if has_dots(text):
        return series_sum(plain_series(text))[0]
    return number(text)


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
