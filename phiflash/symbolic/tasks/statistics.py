"""The mean, median, mode and range of numbers listed: 'What is the arithmetic mean of 14, 22 and 36?', 'Find the
median of the numbers $3, 9, 4, 1$', 'What is the mode of the set $\\{2, 5, 5, 7\\}$?'.

Each value is read by the safe parser; the list keeps repeats (a set written in braces is read as written, since a
mode or a median of data counts every entry). The mean may have a letter in it ('the average of 0, 2z and 4z');
the others need numbers, to be put in order. Each is checked by a property it must have or by another algorithm,
never the same computation again: the deviations from a mean sum to 0; a median's middle values are found again by
counting how many values lie below each one (no sorting); the mode occurs more often than every other value, counted
one by one; every value lies within the range of the smallest. A list with two or more most common values has no
single mode and is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import sympy as sp

from ..parse import ParseError
from ..problem import Problem, _classify
from ..sentence import WHAT, A, B, Sentence, V, exact_decimal, list_items, one, variable
from ..solution import plain
from .base import SolveError, Step, Task, Worked

_STATS = {"mean": "mean", "arithmetic mean": "mean", "average": "mean", "median": "median", "mode": "mode",
          "range": "range"}


@dataclass(frozen=True)
class Statistic:
    name: str                   # mean, median, mode or range
    values: tuple               # as listed, repeats kept


def _values(text: str) -> tuple:
    """'14, 22 and 36', '$\\{87, 85, 80\\}$' -> the values in the order written."""
    t = text.strip()
    braces = re.fullmatch(r"(?:\\left\s*)?\\\{(.*?)(?:\\right\s*)?\\\}|\{([^\\]*)\}", t, flags=re.S)
    items = list_items(next(b for b in braces.groups() if b is not None) if braces else t)
    if len(items) < 2:
        raise ParseError("a list of at least two values")
    return tuple(_value(x) for x in items)


def _value(text: str) -> sp.Expr:
    written = exact_decimal(text)      # 1.5 is 3/2 exactly, not a float
    return written if written is not None else one(text)


def read_statistic(g: dict, s: Sentence) -> Statistic:
    name = _STATS[re.sub(r"\s+", " ", g["stat"].lower())]
    values = _values(s.slot(g, "a"))
    if any(v.has(sp.I) or v.has(sp.zoo, sp.oo, sp.nan) for v in values):
        raise ParseError("a statistic of real numbers")
    if name != "mean" and any(v.free_symbols for v in values):
        raise ParseError(f"the {name} is read for numbers: it puts them in order")
    return Statistic(name, values)


def _sorted(values: tuple) -> list:
    return sorted(values, key=lambda v: sp.N(v, 30))


def solve_statistic(st: Statistic) -> Worked:
    n, vs = len(st.values), st.values
    if st.name == "mean":
        total = sp.simplify(sp.Add(*vs))
        mean = sp.simplify(total / n)
        return Worked(mean, [Step("Add the values: " + " + ".join(plain(v) for v in vs), total),
                             Step(f"Divide by how many there are, {n}", mean)])
    ordered = _sorted(vs)
    steps = [Step("Put the values in order: " + ", ".join(plain(v) for v in ordered))]
    if st.name == "median":
        if n % 2:
            value = ordered[n // 2]
            steps.append(Step(f"With {n} values, the median is the middle one, the {n // 2 + 1}th", value))
        else:
            a, b = ordered[n // 2 - 1], ordered[n // 2]
            value = sp.simplify((a + b) / 2)
            steps.append(Step(f"With {n} values, the median is the mean of the two middle ones, "
                              f"({plain(a)} + {plain(b)})/2", value))
        return Worked(value, steps)
    if st.name == "range":
        value = sp.simplify(ordered[-1] - ordered[0])
        steps.append(Step(f"The range is the largest minus the smallest: {plain(ordered[-1])} − {plain(ordered[0])}",
                          value))
        return Worked(value, steps)
    runs: list[list] = []           # the mode: the longest run of equal values in the sorted list
    for v in ordered:
        if runs and sp.simplify(v - runs[-1][0]) == 0:
            runs[-1].append(v)
        else:
            runs.append([v])
    longest = max(len(r) for r in runs)
    modes = [r[0] for r in runs if len(r) == longest]
    if len(modes) > 1:
        raise SolveError("no single mode: " + ", ".join(plain(m) for m in modes) + f" each occur {longest} times")
    steps.append(Step(f"{plain(modes[0])} occurs {longest} times, more than any other value", modes[0]))
    return Worked(modes[0], steps)


def _kth(vs: tuple, k: int):
    """The k-th smallest value: the one with fewer than k values below it and at least k at or below it."""
    below = lambda v: sum(1 for u in vs if sp.N(u - v, 30) < 0)   # noqa: E731
    upto = lambda v: sum(1 for u in vs if sp.N(u - v, 30) <= 0)   # noqa: E731
    return next(v for v in vs if below(v) < k <= upto(v))


def check_statistic(st: Statistic, w: Worked) -> Step:
    vs, m = st.values, w.answer
    if st.name == "mean":
        if sp.simplify(sp.Add(*[v - m for v in vs])) != 0:
            raise SolveError("the mean failed its check")
        return Step(f"Check: the values' differences from {plain(m)} add up to 0")
    if st.name == "median":   # the middle values found by counting, not by sorting
        n = len(vs)
        middle = [_kth(vs, k) for k in ((n + 1) // 2, n // 2 + 1)]
        again = middle[0] if n % 2 else (middle[0] + middle[1]) / 2
        if sp.simplify(again - m) != 0:
            raise SolveError("the median failed its check")
        return Step(f"Check: counting, for each value, how many lie below it finds the middle "
                    f"{'value' if n % 2 else 'two values'} again, giving {plain(again)}")
    if st.name == "range":
        low = [v for v in vs if all(sp.N(v - u, 30) <= 0 for u in vs)][0]
        if not all(0 <= sp.N(v - low, 30) <= sp.N(m, 30) for v in vs) or \
                not any(sp.simplify(v - low - m) == 0 for v in vs):
            raise SolveError("the range failed its check")
        return Step(f"Check: every value lies from {plain(low)} to {plain(low + m)}, and both ends are in the list")
    count = {}                      # the mode: each distinct value's count, one by one
    for v in vs:
        key = next((k for k in count if sp.simplify(k - v) == 0), v)
        count[key] = count.get(key, 0) + 1
    mine = next((c for k, c in count.items() if sp.simplify(k - m) == 0), 0)
    if not mine or any(c >= mine for k, c in count.items() if sp.simplify(k - m) != 0):
        raise SolveError("the mode failed its check")
    return Step(f"Check: counted one by one, {plain(m)} occurs {mine} times and every other value fewer")


def read_mean(g: dict, s: Sentence) -> Problem:
    """'the mean of 7, 2, x and 10 is 9', '10 is the mean of {6, 13, x}', 'the mean of 6, 9 and 18 is equal to the
    mean of 12 and y': an equation in the one unknown, for the equation solver (and its checks)."""
    values = _values(s.slot(g, "a"))
    other = re.fullmatch(rf"the {_MEAN} of {_THE_LIST}(?P<a>.+)", g["b"], flags=re.IGNORECASE | re.S)
    if other:
        more = _values(s.restore(other.group("a")))
        mean, said = sp.Add(*more) / len(more), f"({' + '.join(plain(v) for v in more)})/{len(more)}"
    else:
        mean = _value(s.slot(g, "b"))
        said = plain(mean)
    var = variable(s.slot(g, "v"))
    if set().union(mean.free_symbols, *(v.free_symbols for v in values)) != {var}:
        raise ParseError("a mean is read with one unknown, the letter asked for")
    p = _classify(s.original, (sp.Eq(sp.Add(*values) / len(values), mean),), var.name)
    if p.kind != "equation":
        raise ParseError("a mean is read as an equation in its unknown")
    written = " + ".join(plain(v) for v in values)
    return replace(p, notes=(f"the mean is the sum divided by how many: ({written})/{len(values)} = {said}",))


# 'the set ⟦0⟧', 'the numbers 23 and ⟦1⟧': words before a list that say it is one
_THE_LIST = r"(?:the (?:following )?(?:numbers|values|set|list|data(?: set)?)(?: of numbers)?\s*:?\s*)?"
_MEAN = r"(?:arithmetic\s+)?(?:mean|average)(?:\s+\((?:average|mean)\))?"
_STAT = r"(?P<stat>arithmetic\s+mean|mean|average|median|mode|range)"
_LIST = rf"{_THE_LIST}(?P<a>.+)"

TASKS = (
    Task("statistic", "the mean (average), median, mode or range of numbers listed", phrasings=(
        (50, rf"(?:{WHAT}|what was) the {_STAT}(?: \((?:average|mean)\))?(?: value)? of {_LIST}"),),
        read=read_statistic, solve=solve_statistic, check=check_statistic,
        examples=(("What is the arithmetic mean of 14, 22 and 36?", "24"),
                  ("Find the median of the numbers $3, 9, 4, 1$.", "7/2"),
                  ("What is the mode of the set $\\{2, 5, 5, 7, 9\\}$?", "5"),
                  ("What is the range of 12, 3, 8 and 20?", "17"),
                  ("Find the average value of $0$, $2z$, $4z$, $8z$, and $16z$.", "6z")),
        questions=((r"^Add the values", "What do the values add up to, and how many are there?"),
                   (r"^Put the values in order", "Which value is in the middle once they are in order?")),
        data=Statistic),
    Task("mean", "an unknown number given the mean", phrasings=(
        (50, rf"(?:if |given that )?the {_MEAN} of {_THE_LIST}{A} is(?: equal to)? {B}[.,;]? (?:then )?"
             rf"(?:{WHAT}|what is)(?: the value of)? {V}"),
        (50, rf"(?:if |given that )?{B} is the {_MEAN} of {_THE_LIST}{A}[.,;]? (?:then )?(?:{WHAT}|what is)"
             rf"(?: the value of)? {V}")),
        read=read_mean,
        examples=((r"The arithmetic mean of 7, 2, $x$ and 10 is 9. What is the value of $x$?", "x = 17"),
                  (r"Given that 10 is the arithmetic mean of the set $\{5, 12, 17, 3, x\}$, what is $x$?", "x = 13"),
                  ("The mean of 4, 8 and 15 is equal to the mean of 10 and $y$. What is the value of $y$?", "y = 8"))),
)
