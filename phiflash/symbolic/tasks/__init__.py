"""The registry of tasks: every family module's TASKS, read, solved and checked the same way.

Adding a family is adding one module here with its TASKS (see base.py for what a task declares) and naming it in
FAMILIES: its examples become tests, its phrasings' words the reader's vocabulary, and its summary and first
example a line of the README's list (`python -m phiflash.symbolic.tasks` prints that list).
"""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import groupby

from ..parse import ParseError
from ..problem import Problem
from ..sentence import words_of
from ..solution import Solution
from . import (
    asymptotes,
    bases,
    boxes,
    circles,
    clocks,
    coefficients,
    congruences,
    coordinates,
    counting,
    divisibility,
    divisorsets,
    domains,
    extrema,
    forms,
    functions,
    geometric,
    geometry,
    graphs,
    lines,
    matrices,
    numbers,
    operations,
    optimum,
    patterns,
    percent,
    periods,
    polygons,
    polynomials,
    primes,
    remainders,
    roots,
    rounding,
    search,
    sequences,
    statistics,
    termfacts,
    trigvalues,
    twonumbers,
)
from .base import NotMine, SolveError, Task

FAMILIES = (remainders, congruences, divisibility, divisorsets, primes, bases, counting, sequences, termfacts,
            patterns, numbers, polynomials, coefficients, forms, roots, search, geometry, polygons, graphs, lines,
            circles, coordinates, matrices, functions, domains, asymptotes, operations, extrema, optimum, trigvalues,
            periods, twonumbers, geometric, percent, rounding, statistics, clocks, boxes)
TASKS: tuple[Task, ...] = tuple(t for family in FAMILIES for t in family.TASKS)
BY_NAME = {t.name: t for t in TASKS}
BY_TYPE: dict[type, Task] = {}
for _t in TASKS:
    if _t.data is not None:
        BY_TYPE.setdefault(_t.data, _t)
PHRASINGS = sorted(((priority, re.compile(pattern, re.IGNORECASE | re.S), t) for t in TASKS
                    for priority, pattern in t.phrasings), key=lambda x: -x[0])
QUESTIONS = tuple(q for t in TASKS for q in t.questions)   # (step-text pattern, the first rung of a hint)
assert len(BY_NAME) == len(TASKS), "two tasks share a name"


def read(text: str, sentence) -> tuple[Problem | None, ParseError | None]:
    """The one task that reads the sentence (the highest priority that reads it at all), or None and the first
    error met. Two different readings at one priority are a refusal: the sentence is ambiguous."""
    first_error = None
    for _, same_priority in groupby(PHRASINGS, key=lambda x: x[0]):
        found: list[Problem] = []
        for _, pattern, task in same_priority:
            m = pattern.fullmatch(text)
            if not m:
                continue
            groups = {k: v.strip() for k, v in m.groupdict().items() if v is not None}
            try:
                p = problem(task, task.read(groups, sentence), sentence.original)
            except NotMine:
                continue
            except ParseError as e:
                first_error = first_error or e
                continue
            if not any(p.kind == q.kind and p.task == q.task and p.items == q.items for q in found):
                found.append(p)
        if len(found) > 1:
            raise ParseError("the sentence reads as more than one task (" + " and ".join(p.kind for p in found)
                             + "), so which one is meant is a guess")
        if found:
            return found[0], None
    return None, first_error


def problem(task: Task, data, original: str) -> Problem:
    """A task's reading as a Problem: its dataclass carried as `task`, or a Problem of a core kind as it is."""
    if isinstance(data, Problem):
        return data
    owner = task if type(data) is task.data else BY_TYPE[type(data)]
    p = Problem(original, owner.name, (), task=data)
    if owner.form == "base":
        p = replace(p, form="base", n=data.base)
    elif owner.form is not None:
        p = replace(p, form=owner.form)
    return p


def run(p: Problem) -> Solution:
    """Solve a task's problem, then check it by the task's second method; the check is always the last step."""
    task = BY_NAME[p.kind]
    try:
        worked = task.solve(p.task)
        check = task.check(p.task, worked)
    except ValueError as e:   # Python will not write out an integer of more than 4,300 digits: a refusal
        if "integer string conversion" not in str(e):
            raise
        raise SolveError("a number on the way is too large to write out") from e
    return Solution(p, worked.answer, worked.steps + [check], list(p.notes) + worked.notes,
                    check=check.text.removeprefix("Check: "))


def vocabulary() -> set[str]:
    return {w for _, pattern, _ in PHRASINGS for w in words_of(pattern.pattern)}


def catalogue() -> str:
    """The README's list of what the tasks read: one line per task, with its first example."""
    lines = []
    for family in FAMILIES:
        name = family.__name__.rsplit(".", 1)[-1]
        for t in family.TASKS:
            example = f": “{t.examples[0][0]}” → {t.examples[0][1]}" if t.examples else ""
            lines.append(f"- **{t.name}** ({name}.py): {t.summary}{example}")
    return "\n".join(lines)
