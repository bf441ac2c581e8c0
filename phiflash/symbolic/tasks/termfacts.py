"""An arithmetic sequence known by facts about its terms: 'The first and thirteenth terms of an arithmetic sequence
are 5 and 29, respectively. What is the fiftieth term?', 'If the sum of the second and fourth terms of an arithmetic
sequence is 6, what is the third term?', 'The sum of the first four terms of an arithmetic sequence is 10. If the
fifth term is 5, what is the sixth term?'.

Each fact is one linear equation in the first term a and the common difference d (the nth term is a + (n − 1)d);
solved exactly, and the value asked for must not depend on anything the facts leave open. Checked by a twin that
writes the sequence out term by term in exact fractions (for facts that leave a and d open, for two different
choices) and reads every fact and the answer off those lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from ..parse import ParseError
from ..sentence import Sentence, number, ordinal, whole
from ..solution import plain
from .base import NotMine, SolveError, Step, Task, Worked

A, D = sp.symbols("a d")
_SEQ = r"(?:an|the|this|the same) arithmetic (?:sequence|progression)|the (?:same )?sequence"
_ORD = r"(\S+(?: (?:st|nd|rd|th))?)"
_VAL = r"(⟦\d+⟧|-?\d+(?:\.\d+)?)"


@dataclass(frozen=True)
class TermFacts:
    facts: tuple          # (kind, indices, value): ("terms", (1, 13), (5, 29)) one term per index; ("sum", (2, 4), 6)
    asked: tuple          # ("term", n) | ("product", (1, 2)) | ("difference",) | ("sum", (i, j))


def _value(text: str, s: Sentence) -> sp.Expr:
    v = number(s.restore(text))
    if not v.is_Rational:
        raise ParseError("a term's value is a whole number or a fraction")
    return v


def _fact(clause: str, s: Sentence) -> tuple:
    c = clause.strip()
    m = re.fullmatch(rf"the {_ORD} and {_ORD} terms (?:of|in) (?:{_SEQ}) are {_VAL} and {_VAL}"
                     r"(?:\s*,?\s*respectively)?", c)
    if m:
        return "terms", (ordinal(m.group(1)), ordinal(m.group(2))), (_value(m.group(3), s), _value(m.group(4), s))
    m = re.fullmatch(rf"the first (\w+) terms (?:of|in) (?:{_SEQ}) are ((?:{_VAL}(?:\s*,?\s*and\s+|\s*,\s*))+{_VAL})"
                     r"(?:\s*,?\s*respectively)?", c)
    if m:
        values = [_value(v, s) for v in re.split(r"\s*,?\s*and\s+|\s*,\s*", m.group(2))]
        if whole(m.group(1)) != len(values):
            raise ParseError("the number of terms given is not the number said")
        return "terms", tuple(range(1, len(values) + 1)), tuple(values)
    m = re.fullmatch(rf"the {_ORD} term(?: (?:of|in) (?:{_SEQ}))? is {_VAL}", c)
    if m:
        return "terms", (ordinal(m.group(1)),), (_value(m.group(2), s),)
    m = re.fullmatch(rf"the sum of the {_ORD} and {_ORD} terms(?: (?:of|in) (?:{_SEQ}))? is {_VAL}", c)
    if m:
        return "sum", (ordinal(m.group(1)), ordinal(m.group(2))), _value(m.group(3), s)
    m = re.fullmatch(rf"the sum of the first (\S+) terms(?: (?:of|in) (?:{_SEQ}))? is {_VAL}", c)
    if m:
        return "sum", tuple(range(1, whole(s.restore(m.group(1))) + 1)), _value(m.group(2), s)
    # only 'the common difference': 'the difference between two consecutive terms is 1' could be either sign
    m = re.fullmatch(rf"the common difference(?: of (?:{_SEQ}))? is {_VAL}", c)
    if m:
        return "difference", (), _value(m.group(1), s)
    raise NotMine(f"not a fact about an arithmetic sequence: {clause!r}")


def _asked(q: str) -> tuple:
    q = q.strip()
    m = re.fullmatch(rf"(?:the value of )?the {_ORD} term(?: (?:of|in) (?:{_SEQ}))?", q)
    if m:
        return "term", ordinal(m.group(1))
    if re.fullmatch(r"the product of the first two terms", q):
        return "product", (1, 2)
    if re.fullmatch(rf"the common difference(?: (?:of|in) (?:{_SEQ}))?", q):
        return ("difference",)
    raise NotMine("not a question about the sequence's terms")


def read_term_facts(g: dict, s: Sentence) -> TermFacts:
    text = g["facts"]
    if not re.search(r"arithmetic (?:sequence|progression)", text):
        raise NotMine("no arithmetic sequence")
    clauses = [re.sub(r"^(?:if|also)\s+", "", c.strip().lower())
               for c in re.split(r"\s*\.\s+|\s*,\s*(?=if\s)", text) if c.strip()]
    facts = tuple(_fact(c, s) for c in clauses)
    indices = [i for f in facts for i in f[1]]
    if any(i < 1 or i > 10 ** 6 for i in indices):
        raise ParseError("a term's place is a whole number from 1 on")
    return TermFacts(facts, _asked(g["q"].lower()))


def _term(n: int) -> sp.Expr:
    return A + (n - 1) * D


def _equations(t: TermFacts) -> list:
    out = []
    for kind, idx, value in t.facts:
        if kind == "terms":
            out += [sp.Eq(_term(i), v) for i, v in zip(idx, value)]
        elif kind == "sum":
            out.append(sp.Eq(sum(_term(i) for i in idx), value))
        else:
            out.append(sp.Eq(D, value))
    return out


def _asked_expr(asked: tuple) -> sp.Expr:
    if asked[0] == "term":
        return _term(asked[1])
    if asked[0] == "product":
        return _term(1) * _term(2)
    return D


def solve_term_facts(t: TermFacts) -> Worked:
    equations = _equations(t)
    found = sp.linsolve(equations, [A, D])
    if not found:
        raise SolveError("the facts contradict each other")
    (a, d), = found
    value = sp.simplify(_asked_expr(t.asked).subs({A: a, D: d}))
    if value.free_symbols:
        raise SolveError("the facts do not fix the value asked for")
    facts = ", ".join(plain(e) for e in equations)
    return Worked(value, [Step(f"The nth term is a + (n − 1)d; the facts say {facts}"),
                          Step("Solve for the first term a and the difference d" if not (a.free_symbols or
                               d.free_symbols) else "Solve: the facts leave a and d open, but not the value asked for",
                               sp.Tuple(a, d)),
                          Step(f"Then {plain(_asked_expr(t.asked))} is", value)],
                  facts={"a": a, "d": d})


def _fraction(v: sp.Expr) -> Fraction:
    if not v.is_Rational:
        raise SolveError("a term is not a fraction")
    return Fraction(int(v.p), int(v.q))


def check_term_facts(t: TermFacts, w: Worked) -> Step:
    a, d = w.facts["a"], w.facts["d"]
    open_ = sorted(a.free_symbols | d.free_symbols, key=lambda v: v.name)    # what the facts leave open
    last = max([i for f in t.facts for i in f[1]] + [t.asked[1] if t.asked[0] == "term" else 2])
    for choice in (0, 1) if open_ else (0,):
        pick = {v: sp.Integer(choice) for v in open_}
        first, step = (_fraction(x.subs(pick)) for x in (a, d))
        terms = [first]
        while len(terms) < last:
            terms.append(terms[-1] + step)
        for kind, idx, value in t.facts:
            got = [terms[i - 1] for i in idx]
            ok = got == [_fraction(v) for v in value] if kind == "terms" else \
                sum(got) == _fraction(value) if kind == "sum" else step == _fraction(value)
            if not ok:
                raise SolveError("the sequence written out does not meet the facts")
        answer = terms[t.asked[1] - 1] if t.asked[0] == "term" else terms[0] * terms[1] \
            if t.asked[0] == "product" else step
        if sp.Rational(answer.numerator, answer.denominator) != w.answer:
            raise SolveError("the sequence written out gives another answer")
    return Step(f"Check: the sequence written out term by term up to term {last} in exact fractions"
                f"{' (for two choices of what the facts leave open)' if open_ else ''} meets every fact and gives "
                "the same answer")


TASKS = (
    Task("termfacts", "an arithmetic sequence known by facts about its terms (two terms, a sum of terms, the "
                      "difference): another term, the difference, the product of the first two terms",
         phrasings=(
        (50, r"(?P<facts>.+?)\s*[.,]\s*(?:then )?what is (?P<q>the .+)"),),
        read=read_term_facts, solve=solve_term_facts, check=check_term_facts,
        examples=(("The first and thirteenth terms of an arithmetic sequence are 5 and 29, respectively. What is the "
                   "fiftieth term?", "103"),
                  ("If the sum of the second and fourth terms of an arithmetic sequence is $6$, what is the third "
                   "term?", "3"),
                  ("The sum of the first four terms of an arithmetic sequence is $10$. If the fifth term is $5$, what "
                   "is the sixth term?", "6"),
                  ("The fifth term of an arithmetic sequence is $11$. If the common difference is $1$, what is the "
                   "product of the first two terms?", "56")),
        questions=((r"^The nth term is a \+ \(n − 1\)d", "Can you write each fact with a and d?"),),
        data=TermFacts),
)
