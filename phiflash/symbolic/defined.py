"""Functions a problem defines before its question: 'Let f(x) = 2x⁴ + x³ + x² − 3x + r. For what value of r is
f(2) = 0?', 'Let p(x) = 2x − 7 and q(x) = 3x − b. If p(q(4)) = 7, what is b?'.

The question is read as a sentence of its own once every call in its math is written out: f(2) becomes the body of f
with (2) in place of x. The writing out is textual (so the question keeps its LaTeX for the phrasing that reads it),
and checked before it is used: each piece of math, read with the functions as functions, must equal the piece
written out, or the problem is refused.
"""

from __future__ import annotations

import re

import sympy as sp

from .parse import ParseError, parse_math
from .sentence import FUNCTION_DEFINITION, SLOT_RE, Sentence, calls, definitions

_LEAD = re.compile(r"(?:let|if|suppose|given)(?: that)? (?P<defs>⟦\d+⟧(?:\s*,?\s*(?:and )?(?:let )?⟦\d+⟧)*)\s*[.,;]\s*"
                   r"(?:then\s+)?(?P<rest>.+)", re.IGNORECASE | re.S)


def _closing(text: str, start: int) -> int:
    """The index of the ')' that closes the '(' at start."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ParseError("unbalanced parentheses in a call of a defined function")


def written_out(math: str, bodies: dict, depth: int = 0) -> str:
    """Every call f(…) of a defined function replaced by its body with the argument in place of its letter, and the
    body's own calls written out in turn ('t(x) = 3 − g(x)')."""
    if depth > 12:
        raise ParseError("the defined functions call each other too deeply (or in a circle)")
    names = "".join(bodies)
    call = calls(names)
    every = re.findall(rf"(?<![A-Za-z\\])[{names}](?![A-Za-z])", math)
    if len(every) != len(call.findall(math)):   # f⁻¹(x), f²(x), f alone: not a call written out here
        raise ParseError("a defined function is used without an argument (or as f⁻¹, f²)")
    m = call.search(math)
    if not m:
        return math
    close = _closing(math, m.end() - 1)
    arg = written_out(re.sub(r"\\right\s*$", "", math[m.end():close]), bodies, depth + 1)
    var, body = bodies[m.group(1)]
    inner = written_out(re.sub(rf"(?<![A-Za-z\\]){var}(?![A-Za-z])", lambda _: rf"\left({arg}\right)", body), bodies,
                        depth + 1)
    return math[:m.start()] + rf"\left({inner}\right)" + written_out(math[close + 1:], bodies, depth)


def _same(original: str, rewritten: str, functions: dict) -> bool:
    try:
        a, b = parse_math(original, functions=functions, latex=True), parse_math(rewritten, latex=True)
    except ParseError:
        return False
    names = {sp.Symbol(n) for n in functions}
    if len(a) != len(b) or any(isinstance(y, sp.Basic) and y.free_symbols & names for y in b):
        return False   # a function's name left as a letter: something was not written out
    for x, y in zip(a, b):
        if isinstance(x, sp.Eq) and isinstance(y, sp.Eq):
            x, y = x.lhs - x.rhs, y.lhs - y.rhs
        if not (isinstance(x, sp.Expr) and isinstance(y, sp.Expr)) or sp.simplify(x - y) != 0:
            return False
    return True


def substituted(original: str) -> tuple[str, str, frozenset] | None:
    """The question with the defined functions written out, a note saying so, and the letters the definitions bring
    besides their variables (f(x) = x + c brings c); None when the problem does not start with definitions of
    functions. ParseError when it does and the writing out fails its check."""
    s = Sentence(original)
    m = _LEAD.fullmatch(s.text)
    if not m:
        return None
    slots = [int(k) for k in SLOT_RE.findall(m.group("defs"))]
    parts = [FUNCTION_DEFINITION.fullmatch(s.math[k]) for k in slots]
    if not all(parts):
        return None
    bodies = {p.group(1): (p.group(2), p.group(3)) for p in parts}
    functions = definitions(" and ".join(s.math[k] for k in slots))
    changed = []

    def put(match: re.Match) -> str:
        math = s.math[int(match.group(1))]
        out = written_out(math, bodies)
        if out != math:
            if not _same(math, out, functions):
                raise ParseError("writing out the defined functions changed the math")
            changed.append(math)
        return f"${out}$"
    question = SLOT_RE.sub(put, m.group("rest"))
    if not changed:
        return None          # no call in the question: the definitions are not what it is about
    note = "with " + " and ".join(f"{s.math[k]}" for k in slots) + " written out in the question"
    return question, note, frozenset().union(*(f.expr.free_symbols - set(f.variables) for f in functions.values()))
