"""An expression written in a given form, and a value of the form's letters: 'The quadratic x² − 20x + 36 can be
written in the form (x + b)² + c, where b and c are constants. What is b + c?', 'If we express 3x² − 6x − 2 in the
form a(x − h)² + k, then what is a + h + k?', 'The expression 16x² − 106x − 105 can be written as (8x + a)(2x + b),
where a and b are integers. What is a + 2b?'.

Solved by matching coefficients: the two sides are the same polynomial in the variable exactly when every power
of it has the same coefficient on both, a system in the form's letters whose solutions are found exactly. The
solutions that are numbers of the kind the problem says (integers, positive integers, real constants) and meet
its conditions (a > b) are kept; the value asked for must be the same for all of them, or there is no single
answer. Checked another way: the letters found are put into the form, and the form and the expression are
evaluated at seven rational points of the variables in exact arithmetic; they must agree at all of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from ..parse import ParseError, parse_math
from ..sentence import SLOT_RE, Sentence
from ..solution import plain
from .base import SolveError, Step, Task, Worked

KINDS = {"constants": "real", "real constants": "real", "real numbers": "real", "numbers": "real", "real": "real",
         "integers": "integer", "integer": "integer", "positive integers": "positive integer",
         "nonnegative integers": "nonnegative integer", "negative integers": "negative integer",
         "rational numbers": "rational", "positive numbers": "positive", "positive real numbers": "positive",
         "positive": "positive", "positive constants": "positive"}


@dataclass(frozen=True)
class Form:
    identities: tuple          # (expression, form) pairs that are the same polynomial in the variables
    letters: tuple             # the letters to find, sorted by name
    variables: tuple           # the variables the identity holds for
    asked: sp.Expr             # in the letters
    kind: str = "real"         # what the letters are: real, integer, positive integer, …
    conditions: tuple = ()     # a > b


def _letters_named(g: dict, s: Sentence) -> list[sp.Symbol] | None:
    if not g.get("who"):
        return None
    named = []
    for k in SLOT_RE.findall(g["who"]):
        for item in parse_math(s.math[int(k)], latex=True):
            if not isinstance(item, sp.Symbol) and not (isinstance(item, (tuple, sp.Tuple))
                                                         and all(isinstance(v, sp.Symbol) for v in item)):
                raise ParseError("expected the letters of the form")
            named += list(item) if isinstance(item, (tuple, sp.Tuple)) else [item]
    if SLOT_RE.sub("", g["who"]).replace(",", " ").replace("and", " ").strip():
        raise ParseError("expected the letters of the form")
    return named


def read_form(g: dict, s: Sentence) -> Form:
    if g.get("id"):
        return read_constants(g, s)
    named = _letters_named(g, s)
    table = {v.name: v for v in named or ()}      # e in (ax + b)(cx² + dx + e) is a letter, not Euler's number
    pairs = [(g["p"], g["f"])] + ([(g["p2"], g["f2"])] if g.get("p2") else [])
    identities = []
    for p, f in pairs:
        left, right = (parse_math(s.slot({"t": t}, "t"), symbols=dict(table), latex=True) for t in (p, f))
        if len(left) != 1 or len(right) != 1 or not all(isinstance(v, sp.Expr) for v in left + right):
            raise ParseError("expected an expression and the form to write it in")
        identities.append((left[0], right[0]))
    everything = set().union(*(p.free_symbols | f.free_symbols for p, f in identities))
    letters = set(named) if named is not None else \
        set().union(*(f.free_symbols - p.free_symbols for p, f in identities))
    variables = everything - letters
    if not letters or not variables or not letters <= everything:
        raise ParseError("a form needs letters to find and a variable the identity holds for")
    if named is None and any(p.free_symbols - variables for p, _ in identities):
        raise ParseError("the expression has letters the problem does not say are constants")
    asked = parse_math(s.slot(g, "e"), symbols=dict(table), latex=True)
    if len(asked) != 1 or not isinstance(asked[0], sp.Expr) or not asked[0].free_symbols <= letters:
        raise ParseError("the value asked for is made of the form's letters")
    kind = KINDS.get(" ".join((g.get("kind") or "constants").lower().split()))
    if kind is None:
        raise ParseError(f"can't read what the letters are: {g['kind']!r}")
    conditions = []
    for k in SLOT_RE.findall(g.get("cond") or ""):
        for rel in parse_math(s.math[int(k)], symbols=dict(table), latex=True):
            if not isinstance(rel, (sp.Rel, sp.And)) or not rel.free_symbols <= letters:
                raise ParseError("expected conditions on the form's letters")
            conditions.append(rel)
    return Form(tuple(identities), tuple(sorted(letters, key=lambda v: v.name)),
                tuple(sorted(variables, key=lambda v: v.name)), asked[0], kind, tuple(conditions))


def read_constants(g: dict, s: Sentence) -> Form:
    """'Find constants A, B and C so that (identity in x). Enter the ordered triple (A, B, C).'"""
    named = _letters_named({"who": g["who"]}, s)
    table = {v.name: v for v in named}
    items = parse_math(s.slot(g, "id"), symbols=dict(table), latex=True)
    if len(items) != 1 or not isinstance(items[0], sp.Eq):
        raise ParseError("expected an identity: two sides with an equals sign")
    left, right = items[0].lhs, items[0].rhs
    x = sp.Symbol("x")
    letters = (left.free_symbols | right.free_symbols) - {x}
    if x not in left.free_symbols | right.free_symbols or not set(named) <= letters:
        raise ParseError("an identity in x, with the constants asked for in it")
    order = "order" if g.get("order") else "order2" if g.get("order2") else None
    if order:
        shown = parse_math(s.slot(g, order), symbols=dict(table), latex=True)
        if len(shown) != 1 or not isinstance(shown[0], (tuple, sp.Tuple)) or set(shown[0]) != set(named) or \
                len(shown[0]) != len(named):
            raise ParseError("the answer's form names other letters than the ones asked for")
        asked = sp.Tuple(*shown[0])
    elif len(named) == 1:
        asked = named[0]
    else:
        raise ParseError("several constants asked for and no order to give them in")
    return Form(((left, right),), tuple(sorted(letters, key=lambda v: v.name)), (x,), asked)


def _polynomial(e: sp.Expr, variables: tuple) -> sp.Poly:
    """The numerator of e over one denominator: zero as a polynomial exactly when e is zero wherever defined."""
    try:
        return sp.Poly(sp.expand(sp.numer(sp.together(e))), *variables)
    except sp.PolynomialError as err:
        raise SolveError("the two sides are not polynomials in the variable") from err


def _fits(kind: str, v: sp.Expr) -> bool:
    if v.free_symbols or not v.is_real:
        return False
    if "integer" in kind and not v.is_integer or kind == "rational" and not v.is_rational:
        return False
    return not ("positive" in kind and not v.is_positive or "nonnegative" in kind and not v.is_nonnegative
                or "negative integer" == kind and not v.is_negative)


def solve_form(form: Form) -> Worked:
    equations = []
    for p, f in form.identities:
        equations += [c for c in _polynomial(p - f, form.variables).coeffs() if c != 0]
    if not equations:
        raise SolveError("the form equals the expression whatever its letters are")
    found = sp.solve(equations, form.letters, dict=True)
    if any(set(sol) != set(form.letters) or any(v.free_symbols for v in sol.values()) for sol in found):
        raise SolveError("the form does not fix its letters")
    if any(not v.is_real for sol in found for v in sol.values()) and form.kind == "real":
        raise SolveError("some ways of matching the form need complex numbers, and the problem does not say which")
    kept = [sol for sol in found if all(_fits(form.kind, v) for v in sol.values())
            and all(sp.simplify(c.subs(sol)) is sp.true for c in form.conditions)]
    if not kept:
        raise SolveError("no letters of the kind the problem says make the two sides equal")
    values = {_exact(form.asked.subs(sol)) for sol in kept}
    if len(values) != 1:
        raise SolveError(f"{len(kept)} ways of matching the form give different values: no single answer")
    value = values.pop()
    shown = ", ".join(f"{plain(k)} = {plain(v)}" for k, v in sorted(kept[0].items(), key=lambda kv: kv[0].name))
    steps = [Step("Expand the form and match the coefficient of each power of "
                  f"{', '.join(plain(v) for v in form.variables)} on both sides", sp.Tuple(*equations)),
             Step(f"Solve for the letters{' (the solutions of the kind the problem says)' if len(found) > 1 else ''}"
                  f": {shown}" + (f"; {len(kept)} ways, all giving the same value" if len(kept) > 1 else "")),
             Step(f"Then {plain(form.asked)} is", value)]
    return Worked(value, steps, facts={"letters": kept})


def _exact(e):
    if isinstance(e, (tuple, sp.Tuple)):
        return sp.Tuple(*(_exact(v) for v in e))
    return sp.radsimp(sp.simplify(e))


def check_form(form: Form, w: Worked) -> Step:
    rng = random.Random(7)
    for sol in w.facts["letters"]:
        if _exact(form.asked.subs(sol)) != w.answer:
            raise SolveError("the letters found do not give the answer")
        tried = 0
        for _ in range(200):
            if tried == 7:
                break
            point = {v: sp.Rational(Fraction(rng.randint(-40, 40), rng.randint(1, 9))) for v in form.variables}
            sides = [(p.subs(sol).subs(point), f.subs(sol).subs(point)) for p, f in form.identities]
            if any(v.has(sp.zoo, sp.nan) for pair in sides for v in pair):
                continue       # a pole of the expression: the identity says nothing there
            tried += 1
            if any(sp.simplify(left - right) != 0 for left, right in sides):
                raise SolveError("the form with the letters found is not the expression")
        if tried < 7:
            raise SolveError("no points away from the poles to check at")
    return Step("Check: with the letters found, the form and the expression are evaluated exactly at seven rational "
                "points and agree at each")


_WHAT = r"\s*[.,;]?\s*(?:then )?(?:what is|what's|find|compute|determine|evaluate)(?: the value of)?"
_KIND = r"(?:all |both )?(?P<kind>(?:positive |negative |nonnegative |real |rational )?" \
        r"(?:integers?|constants|numbers|real|positive))"
_WHERE = rf"(?:\s*,?\s*(?:where|with|for (?:some )?) (?P<who>(?:⟦\d+⟧|,|and|\s)+?) (?:are|is) {_KIND}" \
         r"(?:\s*,?\s*(?:and|with) (?P<cond>⟦\d+⟧(?:\s*,?\s*(?:and )?⟦\d+⟧)*))?)?"
_THE = r"(?:the (?:quadratic|expression|polynomial|cubic|quadratic expression|quadratic polynomial) )?"
_CAN = r"(?:can|may) be (?:written|expressed|rewritten|factored)(?: uniquely)? (?:in the form|as|into the form)"

TASKS = (
    Task("form", "an expression written in a given form, and a value of the form's letters (completing the square, "
                 "factoring)",
         phrasings=(
        (50, rf"{_THE}(?P<p>⟦\d+⟧) {_CAN} (?P<f>⟦\d+⟧)(?:\s*,?\s*and {_THE}(?P<p2>⟦\d+⟧) (?:can be )?(?:written|"
             rf"expressed) as (?P<f2>⟦\d+⟧))?{_WHERE}{_WHAT} (?P<e>⟦\d+⟧)"),
        (50, rf"(?:if we |if you |when we )?(?:rewrite|write|express) {_THE}(?P<p>⟦\d+⟧) in the form (?P<f>⟦\d+⟧)"
             rf"{_WHERE}{_WHAT} (?P<e>⟦\d+⟧)"),
        (50, rf"if {_THE}(?P<p>⟦\d+⟧) is (?:written|expressed|rewritten) in the form (?P<f>⟦\d+⟧){_WHERE}"
             rf"{_WHAT} (?P<e>⟦\d+⟧)"),
        (50, r"find (?:the )?(?:constants? |values? of |real numbers )?(?P<who>⟦\d+⟧(?:\s*,?\s*(?:and )?⟦\d+⟧)*)"
             r"\s*,?\s*(?:such that|so that)\s*:?\s*(?P<id>⟦\d+⟧)(?:\s*[.]?\s*(?:write|enter|express) your answer "
             r"(?:in the form|as the ordered (?:pair|triple|triplet)) (?P<order>⟦\d+⟧)|\s*[.]?\s*enter the ordered "
             r"(?:pair|triple|triplet) (?P<order2>⟦\d+⟧))?"),),
        read=read_form, solve=solve_form, check=check_form,
        examples=((r"The quadratic $x^2-20x+36$ can be written in the form $(x+b)^2+c$, where $b$ and $c$ are "
                   r"constants. What is $b+c$?", "-74"),
                  (r"If we express $3x^2 - 6x - 2$ in the form $a(x - h)^2 + k$, then what is $a + h + k$?", "-1"),
                  (r"The expression $16x^2-106x-105$ can be written as $(8x + a)(2x + b),$ where $a$ and $b$ are "
                   r"integers. What is $a + 2b$?", "-23"),
                  (r"The expression $x^2 - 16x + 60$ can be written in the form $(x - a)(x - b)$, where $a$ and $b$ "
                   r"are both nonnegative integers and $a > b$. What is the value of $3b - a$?", "8"),
                  (r"Rewrite the expression $6j^2 - 4j + 12$ in the form $c(j + p)^2 + q$, where $c$, $p$, and "
                   r"$q$ are constants. What is $\frac{q}{p}$?", "-34"),
                  (r"Find constants $A,$ $B,$ and $C$ so that \[\frac{x^2 - 7}{(x - 2)(x - 3)(x - 5)} = "
                   r"\frac{A}{x - 2} + \frac{B}{x - 3} + \frac{C}{x - 5}.\]Enter the ordered triple $(A,B,C).$",
                   "(-1, -1, 3)"),
                  (r"Find the constant $t$ such that \[(5x^2 - 6x + 7)(4x^2 +tx + 10) = 20x^4 -54x^3 +114x^2 -102x "
                   r"+70.\]", "-6")),
        questions=((r"^Expand the form", "What do you get when you multiply the form out?"),),
        data=Form),
)
