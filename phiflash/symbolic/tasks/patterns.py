"""Sums and products written with … whose terms share one written form: '3 × 13 × 23 × … × 193',
'(3/6)(6/9)(9/12)⋯(2001/2004)', '1/4 · 2/5 · 3/6 ⋯ 50/53', '1·2 + 2·3 + ⋯ + 99·100', '1! + 2! + ⋯ + 9!'.

A term's form is its text with every number taken out: all written terms must have the same form, and each
number must step the same way from term to term (adding a constant, or multiplying by a whole number), so the
terms the … stands for follow from the written ones; the last written terms fix how many there are. Sums whose
terms' values follow a rule (1 + 3 + 9 + … + 729) are sequences.py's; this reads the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import mpmath
import sympy as sp

from ..parse import ParseError, parse_number
from .base import SolveError, Step, Task, Worked
from .sequences import Series, check_series, dots_sign_fits, read_series, solve_series

MAX_TERMS = 10 ** 4
_DOTS = r"\\[lc]?dots[bmc]?|\\dotsm|\\dotsb|\.\.\.|…"
_NUMBER = re.compile(r"\d+")
_TIMES = r"\\times|\\cdot|×|·|\*"


@dataclass(frozen=True)
class Pattern:
    text: str
    op: str                    # "+" (a sum) or "×" (a product)
    form: str                  # a term with its numbers as {0}, {1}, …
    firsts: tuple[int, ...]    # each number in the first term
    steps: tuple[tuple[str, int], ...]    # each number's rule: ("+", d) or ("×", r)
    signs: tuple[int, int]     # the first term's sign and the sign's change per term (1 or −1); (1, 1) for products
    last: int                  # the index of the last term, from 0


def _split(text: str, op: str) -> list[str]:
    """Top-level terms (outside brackets): at + and − for a sum (each keeps its sign), at ×, ·, \\cdot or between
    bracketed factors written side by side for a product."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        depth += (ch in "({[") - (ch in ")}]")
        if depth == 0 and op == "+" and ch in "+-" and text[start:i].strip():
            parts.append(text[start:i])
            start = i
        elif depth == 0 and op == "×":
            m = re.match(_TIMES, text[i:])
            if m:
                parts.append(text[start:i])
                start = i = i + m.end()
                continue
            if ch == ")" and re.match(r"\)\s*(?:\\left)?\s*\(", text[i:]):
                parts.append(text[start:i + 1])
                start = i + 1
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _form(term: str) -> tuple[str, tuple[int, ...]]:
    numbers = tuple(int(m) for m in _NUMBER.findall(term))
    k = iter(range(len(numbers)))
    return _NUMBER.sub(lambda m: "{" + str(next(k)) + "}", term.replace("{", "{{").replace("}", "}}")), numbers


def _rule(values: list[int]) -> tuple[str, int]:
    d = values[1] - values[0]
    if all(b - a == d for a, b in zip(values, values[1:])):
        return "+", d
    if values[0] and values[1] % values[0] == 0:
        r = values[1] // values[0]
        if r >= 2 and all(b == a * r for a, b in zip(values, values[1:])):
            return "×", r
    raise ParseError("the numbers of the terms before … do not step by one rule")


def _value_at(first: int, rule: tuple[str, int], k: int) -> int:
    return first + rule[1] * k if rule[0] == "+" else first * rule[1] ** k


def read_pattern(text: str) -> Pattern:
    text = " ".join(re.sub(_DOTS, " … ", text.replace("$", " ")).split())
    if text.count("…") != 1:
        raise ParseError("'…' must appear once, between the first terms and the last")
    head, tail = (t.strip() for t in text.split("…"))
    op = "+" if head.endswith(("+", "-")) and tail.startswith(("+", "-")) else "×"
    if op == "×":
        if head.endswith(("+", "-")) or tail.startswith(("+", "-")):   # '2 × 12 × ⋯ + 92'
            raise ParseError("'…' stands between a product's factors and a sum's terms: read as neither")
        head, tail = re.sub(rf"(?:{_TIMES})\s*$", "", head), re.sub(rf"^\s*(?:{_TIMES})", "", tail)
    heads, tails = _split(head.rstrip("+-").strip() if op == "+" else head, op), _split(tail, op)
    if len(heads) < 3 or not tails:
        raise ParseError("give at least three terms before '…' so the pattern is not a guess")
    signs = [-1 if t.startswith("-") else 1 for t in heads + tails]
    bodies = [t.lstrip("+-").strip() for t in heads + tails]
    forms = [_form(b) for b in bodies]
    if len({f for f, _ in forms}) != 1 or not forms[0][1]:
        raise ParseError("the terms around … are not all written in one form")
    written = [n for _, n in forms]
    rules = tuple(_rule([w[j] for w in written[:len(heads)]]) for j in range(len(written[0])))
    flip = signs[1] * signs[0]
    if any(signs[k] != signs[0] * flip ** k for k in range(len(heads))):
        raise ParseError("the signs of the terms before … follow no pattern")
    if op == "+":
        dots_sign_fits(head[-1], signs[0] * flip ** len(heads))
    last = _index(written[-1], written[0], rules)
    first_tail = last - len(tails) + 1
    for j, numbers in enumerate(written[len(heads):]):
        k = first_tail + j
        if tuple(_value_at(a, r, k) for a, r in zip(written[0], rules)) != numbers or \
                signs[len(heads) + j] != signs[0] * flip ** k:
            raise ParseError("the terms after … do not follow the pattern of the first terms")
    if first_tail < len(heads):
        raise ParseError("the terms after … overlap the first terms")
    if last + 1 > MAX_TERMS:
        raise ParseError("too many terms")
    return Pattern(text, op, forms[0][0], written[0], rules, (signs[0], flip), last)


def _index(numbers: tuple, firsts: tuple, rules: tuple) -> int:
    """The term index k at which every number has its written value."""
    changing = [(a, r, v) for a, r, v in zip(firsts, rules, numbers) if r != ("+", 0)]
    if not changing:
        raise ParseError("every number of the terms is the same: how many there are is a guess")
    a, (kind, step), v = changing[0]
    if kind == "+":
        k, rest = divmod(v - a, step)
    else:
        k = 0
        while a * step ** k < v and k < MAX_TERMS:
            k += 1
        rest = a * step ** k - v
    if rest or k < 0 or tuple(_value_at(x, q, k) for x, q in zip(firsts, rules)) != numbers:
        raise ParseError("the last term does not follow the pattern of the first terms")
    return k


def _term(p: Pattern, k: int) -> str:
    return p.form.format(*(_value_at(a, r, k) for a, r in zip(p.firsts, p.steps)))


def solve_pattern(p: Pattern) -> Worked:
    """Every term written out and combined exactly."""
    total = sp.Integer(0 if p.op == "+" else 1)
    for k in range(p.last + 1):
        v = parse_number(_term(p, k), latex=True)
        total = total + p.signs[0] * p.signs[1] ** k * v if p.op == "+" else total * v
    what = "sum" if p.op == "+" else "product"
    if sp.count_ops(total) > 40:   # cos²1° + cos²2° + …: exact terms, but no simple exact total found
        raise SolveError(f"the {what} has no simple exact form that SymPy finds")
    return Worked(sp.nsimplify(total) if total.is_Float else total, [
        Step(f"The terms are written {p.form.format(*('n' if r != ('+', 0) else a for a, r in zip(p.firsts, p.steps)))}"
             f" with each number stepping by its rule: there are {p.last + 1} of them, the last "
             f"{_term(p, p.last)}"),
        Step(f"Write every term out and take the {what}", total)])


def check_pattern(p: Pattern, w: Worked) -> Step:
    """The terms again in 60-digit floating point (another arithmetic), combined the same way."""
    with mpmath.workdps(60):
        acc = mpmath.mpf(0 if p.op == "+" else 1)
        for k in range(p.last + 1):
            v = mpmath.mpmathify(sp.N(parse_number(_term(p, k), latex=True), 70))
            acc = acc + p.signs[0] * p.signs[1] ** k * v if p.op == "+" else acc * v
        exact = mpmath.mpmathify(sp.N(w.answer, 70))
        if abs(acc - exact) > mpmath.mpf(10) ** -40 * max(1, abs(exact)):
            raise SolveError("the exact and the floating-point results disagree")
    return Step("Check: the terms again in 60-digit floating point give the same "
                + ("sum" if p.op == "+" else "product"))


def read_dotted(text: str):
    """A sum or product written with …: by the values of its terms (sequences.py), else by their written form."""
    try:
        return read_series(text)
    except ParseError as first:
        try:
            return read_pattern(text)
        except ParseError:
            raise first from None


def dotted_total(data) -> tuple[sp.Expr, list[Step]]:
    """The value of a sum or product written with …, found and checked (for tasks that need its value)."""
    solve, check = (solve_series, check_series) if isinstance(data, Series) else (solve_pattern, check_pattern)
    w = solve(data)
    return w.answer, w.steps + [check(data, w)]


TASKS = (
    Task("pattern", "a sum or product written with … whose terms share one form (each number stepping by a rule)",
         phrasings=(), read=None, solve=solve_pattern, check=check_pattern,
         examples=((r"Find the remainder when $3 \times 13 \times 23 \times 33 \times \ldots \times 183 \times 193$ "
                    r"is divided by $5$.", "1"),
                   (r"Calculate the product $\left(\frac{3}{6}\right)\left(\frac{6}{9}\right)\left(\frac{9}{12}\right)"
                    r"\cdots\left(\frac{2001}{2004}\right)$. Express your answer as a common fraction.", "1/668"),
                   (r"Compute $1 \cdot 2 + 2 \cdot 3 + 3 \cdot 4 + \dots + 9 \cdot 10$.", "330")),
         questions=((r"^The terms are written", "What changes from one term to the next, and how many terms are "
                                                "there?"),),
         data=Pattern),
)
