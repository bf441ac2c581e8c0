"""Balls into boxes: 'How many ways are there to put 5 balls in 3 boxes if the balls are distinguishable but the
boxes are not?', 'How many ways are there to put 4 indistinguishable balls into 2 indistinguishable boxes?'.
Boxes may stay empty.

Solved by the four counts: distinguishable balls into distinguishable boxes nᵏ; identical balls into distinguishable
boxes C(k + n − 1, n − 1) (stars and bars); distinguishable balls into identical boxes the Stirling numbers
S(k, 1) + … + S(k, n); identical balls into identical boxes the partitions of k into at most n parts. Checked by
listing: every way to send each labelled ball to a labelled box, each then written in a form that forgets what is
not distinguishable (the count in each box, or the set of groups of balls), and the distinct forms counted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import product

import sympy as sp
from sympy.functions.combinatorial.numbers import stirling

from ..parse import ParseError
from ..sentence import Sentence, whole
from .base import SolveError, Step, Task, Worked

_LIST_LIMIT = 10 ** 6     # the check lists every assignment: nᵏ of them


@dataclass(frozen=True)
class Boxes:
    balls: int
    boxes: int
    distinct_balls: bool
    distinct_boxes: bool


def read_boxes(g: dict, s: Sentence) -> Boxes:
    k, n = whole(s.slot(g, "k")), whole(s.slot(g, "n"))
    if not (1 <= k <= 30 and 1 <= n <= 30):
        raise ParseError("from 1 to 30 balls and boxes")
    if g.get("bkind"):    # 'put 4 indistinguishable balls into 2 distinguishable boxes'
        balls, boxes = g["bkind"].lower() == "distinguishable", g["xkind"].lower() == "distinguishable"
    else:                 # 'if the balls are not distinguishable but the boxes are'
        balls = not g.get("bnot")
        tail = re.sub(r"\s+", " ", g["tail"].lower()).strip()
        # 'but the boxes are' contrasts with balls that are not; 'neither' follows a 'not'
        said = {"and the boxes are distinguishable": True, "and the boxes are too": True,
                "and so are the boxes": True, "but the boxes are distinguishable": True,
                "but the boxes are not": False, "and the boxes are not": False,
                "and the boxes are not distinguishable": False, "but the boxes are not distinguishable": False}
        if tail in said:
            boxes = said[tail]
        elif tail == "but the boxes are" and not balls or tail == "and neither are the boxes" and not balls:
            boxes = tail == "but the boxes are"
        else:
            raise ParseError(f"can't read what the boxes are: {g['tail']!r}")
    return Boxes(k, n, balls, boxes)


def solve_boxes(b: Boxes) -> Worked:
    k, n = b.balls, b.boxes
    if b.distinct_balls and b.distinct_boxes:
        value, how = n ** k, f"Each of the {k} balls goes to any of the {n} boxes: {n}^{k}"
    elif b.distinct_boxes:
        value = math.comb(k + n - 1, n - 1)
        how = f"Stars and bars: {k} identical balls and {n - 1} dividers in a row, C({k + n - 1}, {n - 1})"
    elif b.distinct_balls:
        value = sum(int(stirling(k, j)) for j in range(1, n + 1))
        how = f"Split the {k} balls into at most {n} unlabelled groups: S({k}, 1) + … + S({k}, {n}) (Stirling numbers)"
    else:
        value = sum(1 for p in sp.utilities.iterables.partitions(k) if sum(p.values()) <= n)
        how = f"The ways to write {k} as a sum of at most {n} positive parts, order not mattering (partitions)"
    return Worked(sp.Integer(value), [Step(how, sp.Integer(value))])


def check_boxes(b: Boxes, w: Worked) -> Step:
    k, n = b.balls, b.boxes
    if n ** k > _LIST_LIMIT:
        raise SolveError("too many ways to list them all again")
    seen = set()
    for where in product(range(n), repeat=k):          # ball i goes to box where[i]
        if b.distinct_balls:
            groups = [frozenset(i for i in range(k) if where[i] == box) for box in range(n)]
            seen.add(tuple(groups) if b.distinct_boxes else frozenset(g for g in groups if g))
        else:
            counts = tuple(where.count(box) for box in range(n))
            seen.add(counts if b.distinct_boxes else tuple(sorted(counts)))
    if len(seen) != w.answer:
        raise SolveError("the count failed its check")
    return Step(f"Check: listing all {n ** k} ways to send each labelled ball to a labelled box, and forgetting what "
                f"cannot be told apart, leaves {len(seen)} different ones")


_KIND = r"(?:distinguishable|indistinguishable)"
_HOW = r"how many (?:different )?ways are there to (?:put|place|distribute)"

TASKS = (
    Task("boxes", "balls put into boxes, each kind distinguishable or not (boxes may stay empty)", phrasings=(
        (50, rf"{_HOW} (?P<k>\S+) balls (?:in|into) (?P<n>\S+) boxes,? if the balls are (?P<bnot>not )?"
             rf"distinguishable,? (?P<tail>(?:and|but) (?:the boxes are(?: not)?(?: distinguishable)?|neither are the "
             rf"boxes|so are the boxes|the boxes are too))"),
        (50, rf"{_HOW} (?P<k>\S+) (?P<bkind>{_KIND}) balls (?:in|into) (?P<n>\S+) (?P<xkind>{_KIND}) boxes")),
        read=read_boxes, solve=solve_boxes, check=check_boxes,
        examples=(("How many ways are there to put 5 balls in 3 boxes if the balls are distinguishable but the boxes "
                   "are not?", "41"),
                  ("How many ways are there to put 4 indistinguishable balls into 2 indistinguishable boxes?", "3")),
        questions=((r"^(?:Each of the|Stars and bars|Split the|The ways to write)",
                    "Which can you tell apart here: the balls, the boxes, both or neither?"),),
        data=Boxes),
)
