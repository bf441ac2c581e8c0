"""Functions defined by cases: 'Let f(x) = {2x + 9 if x < −2; 5 − 2x if x ≥ −2}. Find f(3)', f(f(f(2))),
f(−7) + f(0) + f(7). The branches' conditions must cover every argument the question reaches exactly once.

Solved with SymPy's Piecewise; checked by a twin that picks each branch itself: the arguments evaluated in 50-digit
floating point, every condition tested there (exactly one must hold, and not within 10⁻³⁰ of its boundary), and the
chosen branch evaluated there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import mpmath
import sympy as sp

from ..parse import ParseError, parse_math
from ..sentence import SLOT_RE, WHAT, A, Sentence, one
from .base import NotMine, SolveError, Step, Task, Worked

_CASES = re.compile(r"^\s*(?:\\left\s*\\\{\s*)?\\begin\{(cases|array|aligned)\}(?:\{[a-z]*\})?(?P<body>.*)"
                    r"\\end\{\1\}(?:\s*\\right\s*\.?)?\s*$", re.S)
_DEF = re.compile(r"\s*([a-zA-Z])\s*\(\s*([a-zA-Z])\s*\)\s*=\s*(.+)", re.S)


@dataclass(frozen=True)
class Branch:
    expr: sp.Expr
    cond: object          # a SymPy relation / And, True ("otherwise"), or ("parity", "even" | "odd")


@dataclass(frozen=True)
class CaseFunction:
    name: str
    var: sp.Symbol
    branches: tuple[Branch, ...]


@dataclass(frozen=True)
class FunctionValue:
    functions: tuple[CaseFunction, ...]
    query: str


def _condition(text: str, x: sp.Symbol):
    t = re.sub(r"\\(?:text|mathrm)\s*\{([^{}]*)\}", r" \1 ", text)
    t = re.sub(r"\\quad|\\qquad|\\,|\\;|~", " ", t)
    t = " ".join(t.replace("$", " ").split()).strip(" ,.")
    t = re.sub(r"^(?:if|for|when)\s+", "", t)
    if t in ("otherwise", "else", "elsewhere"):
        return True
    m = re.fullmatch(rf"{x.name}\s+is\s+(even|odd)", t)
    if m:
        return ("parity", m.group(1))
    items = parse_math(t, latex=True)
    if len(items) != 1 or not isinstance(items[0], (sp.Rel, sp.And)) or items[0].free_symbols != {x}:
        raise ParseError(f"can't read the condition {text.strip()!r}")
    return items[0]


def case_function(name: str, var: str, body: str, known: dict) -> CaseFunction:
    m = _CASES.match(body)
    if not m:
        raise NotMine("not a function defined by cases")
    x = sp.Symbol(var)
    branches = []
    for row in (r for r in re.split(r"\\\\", m.group("body")) if r.strip()):
        if row.count("&") != 1:
            raise ParseError("each case is 'value & condition'")
        value, cond = row.split("&")
        expr = one(value.strip().rstrip(","), known)
        if expr.free_symbols - {x}:
            raise ParseError("a case uses a letter other than the function's variable")
        branches.append(Branch(expr, _condition(cond, x)))
    if len(branches) < 2 or any(b.cond is True for b in branches[:-1]):
        raise ParseError("read as two or more cases, 'otherwise' only last")
    return CaseFunction(name, x, tuple(branches))


def read_function_value(g: dict, s: Sentence) -> FunctionValue:
    defs = g["defs"].strip()
    if not re.fullmatch(r"(?:⟦\d+⟧\s*(?:,|and|,\s*and)?\s*)+", defs):
        raise NotMine("the definitions are not all math")
    functions, known = [], {}
    for k in SLOT_RE.findall(defs):
        m = _DEF.fullmatch(s.math[int(k)])
        if not m:
            raise NotMine("not a function definition")
        f = case_function(m.group(1), m.group(2), m.group(3), known)
        functions.append(f)
        known[f.name] = _piecewise(f)
    query = s.slot(g, "a")
    if re.search(r"[a-zA-Z]\s*\^", query):
        raise ParseError("a power or inverse of a function (f^{-1}, f^2) is not read here")
    return FunctionValue(tuple(functions), query)


def _piecewise(f: CaseFunction) -> sp.Lambda:
    def cond(c):
        if isinstance(c, tuple):
            return sp.Eq(sp.Mod(f.var, 2), 0 if c[1] == "even" else 1)
        return c
    return sp.Lambda(f.var, sp.Piecewise(*[(b.expr, cond(b.cond)) for b in f.branches]))


def solve_function_value(v: FunctionValue) -> Worked:
    functions = {f.name: _piecewise(f) for f in v.functions}
    value = sp.simplify(one(v.query, functions))
    if value.free_symbols or value.has(sp.Piecewise, sp.nan):
        raise SolveError("the cases do not give one value here (an argument outside every case)")
    steps = [Step(f"Evaluate {v.query} from the inside out, using for each argument the case whose condition it "
                  "meets", value)]
    return Worked(value, steps)


# ---- the twin ---------------------------------------------------------------------------------------------------


def _holds(cond, x: sp.Symbol, a) -> bool:
    """Does the condition hold at the 50-digit number a? Refused when a is within 10⁻³⁰ of its boundary."""
    if cond is True:
        return True
    if isinstance(cond, tuple):
        n = mpmath.nint(a)
        if abs(a - n) > mpmath.mpf(10) ** -30:
            raise SolveError("an even/odd case at an argument that is not a whole number")
        return int(n) % 2 == (0 if cond[1] == "even" else 1)
    if isinstance(cond, sp.And):
        return all(_holds(c, x, a) for c in cond.args)
    gap = mpmath.mpmathify(sp.N((cond.lhs - cond.rhs).subs(x, sp.Float(str(a), 60)), 50))
    if abs(gap) < mpmath.mpf(10) ** -30 and not isinstance(cond, (sp.Eq, sp.Ne)):
        exact = cond.subs(x, sp.nsimplify(sp.Float(str(a), 60), rational=True))
        return bool(exact)
    return {sp.Lt: gap < 0, sp.Le: gap <= 0, sp.Gt: gap > 0, sp.Ge: gap >= 0,
            sp.Eq: abs(gap) < mpmath.mpf(10) ** -30, sp.Ne: abs(gap) >= mpmath.mpf(10) ** -30}[type(cond)]


def _numeric(e, functions: dict):
    if isinstance(e, sp.core.function.AppliedUndef):
        f = functions[e.func.__name__]
        a = _numeric(e.args[0], functions)
        meets = [b for b in f.branches[:-1] if _holds(b.cond, f.var, a)]
        last = f.branches[-1]
        if last.cond is not True and _holds(last.cond, f.var, a):
            meets.append(last)
        elif last.cond is True and not meets:
            meets = [last]
        if len(meets) != 1:
            raise SolveError(f"{len(meets)} cases hold at {mpmath.nstr(a, 15)}: the cases must hold one at a time")
        return mpmath.mpmathify(sp.N(meets[0].expr.subs(f.var, sp.Float(str(a), 60)), 50))
    if e.args and any(isinstance(a, sp.core.function.AppliedUndef) or a.has(sp.core.function.AppliedUndef)
                      for a in e.args):
        args = [_numeric(a, functions) for a in e.args]
        symbols = sp.symbols(f"t0:{len(args)}")
        return mpmath.mpmathify(sp.N(e.func(*symbols).subs(dict(zip(symbols, [sp.Float(str(a), 60) for a in args]))),
                                     50))
    return mpmath.mpmathify(sp.N(e, 50))


def check_function_value(v: FunctionValue, w: Worked) -> Step:
    with mpmath.workdps(50):
        undefined = {f.name: sp.Function(f.name) for f in v.functions}
        again = _numeric(one(v.query, undefined), {f.name: f for f in v.functions})
        exact = mpmath.mpmathify(sp.N(w.answer, 50))
        if abs(again - exact) > mpmath.mpf(10) ** -30 * (1 + abs(exact)):
            raise SolveError("the cases evaluated again disagree")
    return Step("Check: each argument evaluated again, its case chosen by testing every condition, gives the same")


TASKS = (
    Task("cases", "values of a function defined by cases, nested or added", phrasings=(
        (60, rf"(?:if|let|given(?: that)?|suppose(?: that)?|define) (?P<defs>.+?)[,.;]? (?:then )?"
             rf"(?:{WHAT}|calculate|what is)(?: the value of)? {A}"),),
        read=read_function_value, solve=solve_function_value, check=check_function_value,
        examples=((r"Let \[f(x) = \begin{cases} 2x + 9 &\text{if }x<-2, \\ 5-2x&\text{if }x\ge -2. \end{cases} "
                   r"\]Find $f(3).$", "-1"),
                  (r"Let \[f(x) = \left\{ \begin{array}{cl} x^2+1 &\text{ if }x>5, \\ 2x-3 &\text{ if } -5 \le x "
                   r"\le 5, \\ 3 &\text{ if } x <-5. \end{array} \right.\]Find $f(-7)+f(0)+f(7)$.", "50")),
        questions=((r"^Evaluate .* from the inside out", "Which case does the argument fall in?"),),
        data=FunctionValue),
)
