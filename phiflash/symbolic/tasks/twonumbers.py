"""Two numbers from two facts about them: 'The sum of two numbers is 22. Their difference is 4. What is the greater
of the two numbers?', 'Two numbers have a difference of 3 and a sum of 31', 'The difference between two positive
integers is 6 and their product is 112. What is the sum of the integers?'.

The numbers are x ≥ y (a difference is the larger minus the smaller); 'positive' and 'integers' are conditions on
them. Every pair that meets the facts is found (the equations are polynomial); the value asked for must be the
same for all of them, or the problem is refused. Checked by putting each pair back into the facts as written.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..sentence import ATOM, Sentence, number
from ..solution import plain
from .base import SolveError, Step, Task, Worked

X, Y = sp.symbols("x y")
_FACT = {"sum": X + Y, "difference": X - Y, "product": X * Y}


@dataclass(frozen=True)
class TwoNumbers:
    facts: tuple[tuple[str, sp.Expr], ...]    # (sum | difference | product, its value)
    positive: bool
    integers: bool
    ask: str              # larger | smaller | sum | product | difference


def read_two_numbers(g: dict, s: Sentence) -> TwoNumbers:
    facts = tuple((g[k].lower(), number(s.slot(g, v))) for k, v in (("k1", "n1"), ("k2", "n2")))
    if facts[0][0] == facts[1][0]:
        raise ParseError("two different facts about the two numbers")
    ask = g["ask"].lower()
    asked = next((w for w in ("larger", "greater", "smaller", "lesser", "sum", "product", "difference") if w in ask),
                 None)
    if asked is None:
        raise ParseError("can't read what is asked about the two numbers")
    asked = {"greater": "larger", "lesser": "smaller"}.get(asked, asked)
    return TwoNumbers(facts, bool(g.get("pos")), "integer" in (g.get("what") or "").lower(), asked)


def _value(t: TwoNumbers, x, y):
    return {"larger": x, "smaller": y, "sum": x + y, "product": x * y, "difference": x - y}[t.ask]


def solve_two_numbers(t: TwoNumbers) -> Worked:
    eqs = [sp.Eq(_FACT[k], v) for k, v in t.facts]
    pairs = []
    for sol in sp.solve(eqs, [X, Y], dict=True):
        x, y = sp.simplify(sol.get(X, X)), sp.simplify(sol.get(Y, Y))
        if x.free_symbols or y.free_symbols or not (x.is_real and y.is_real) or x < y:
            continue
        if t.positive and not (x > 0 and y > 0) or t.integers and not (x.is_integer and y.is_integer):
            continue
        pairs.append((x, y))
    if not pairs:
        raise SolveError("no two numbers meet the facts")
    values = {sp.simplify(_value(t, x, y)) for x, y in pairs}
    if len(values) != 1:
        raise SolveError("the value asked for differs between the pairs that meet the facts")
    said = "; ".join(f"{k}: {plain(_FACT[k])} = {plain(v)}" for k, v in t.facts)
    steps = [Step(f"Call the numbers x ≥ y: {said}"),
             Step("Solve the two equations together: " + " or ".join(f"x = {plain(x)}, y = {plain(y)}"
                                                                        for x, y in pairs)),
             Step(f"The {t.ask}" + ("" if t.ask in ("larger", "smaller") else " of the two numbers"), values.pop())]
    return Worked(steps[-1].math, steps, facts={"pairs": pairs})


def check_two_numbers(t: TwoNumbers, w: Worked) -> Step:
    for x, y in w.facts["pairs"]:
        if any(sp.simplify(_FACT[k].subs({X: x, Y: y}) - v) != 0 for k, v in t.facts) or \
                sp.simplify(_value(t, x, y) - w.answer) != 0:
            raise SolveError("the two numbers failed their check")
    return Step("Check: the numbers put back into each fact as written give " + " and ".join(
        f"the {k} {plain(v)}" for k, v in t.facts))


_N1, _N2 = rf"(?P<n1>{ATOM}+?)", rf"(?P<n2>{ATOM}+?)"
_TWO = r"two (?P<pos>positive )?(?P<what>numbers|integers|real numbers|whole numbers)"
_KIND1, _KIND2 = r"(?P<k1>sum|difference|product)", r"(?P<k2>sum|difference|product)"
_ASK = (r"\s*[.,;]?\s*(?:what is|find|determine) (?:the value of )?(?P<ask>(?:the |their )?(?:larger|greater|smaller|"
        r"lesser|sum|product|positive difference|absolute value of the difference)(?: of the (?:two )?(?:numbers|"
        r"integers))?(?: of (?:these|the) two)?(?: numbers?| integers?)?)")

TASKS = (
    Task("twonumbers", "two numbers from their sum, difference or product: the larger, the smaller, or another of "
         "those", phrasings=(
             (50, rf"the {_KIND1} (?:of|between) {_TWO} is {_N1}\s*(?:[.,;]|and)\s*(?:and )?(?:their|the) {_KIND2}"
                  rf"(?: of the (?:two )?(?:numbers|integers))? is {_N2}{_ASK}"),
             (50, rf"{_TWO} have a {_KIND1} of {_N1} and a {_KIND2} of {_N2}{_ASK}")),
         read=read_two_numbers, solve=solve_two_numbers, check=check_two_numbers,
         examples=(("The sum of two numbers is 22. Their difference is 4. What is the greater of the two numbers?",
                    "13"),
                   ("Two numbers have a difference of 3 and a sum of 31. What is the larger of the two numbers?",
                    "17"),
                   ("The difference between two positive integers is 6 and their product is 112. What is the sum of "
                    "the integers?", "22")),
         questions=((r"^Call the numbers", "What two equations do the facts give?"),),
         data=TwoNumbers),
)
