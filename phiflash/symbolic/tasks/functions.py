"""Functions defined by cases or formulas: 'Let f(x) = {2x + 9 if x < −2; 5 − 2x if x ≥ −2}. Find f(3)',
f(f(f(2))), f(−7) + f(0) + f(7), and values of inverses, f⁻¹(58) for f(x) = 2x³ + 4. The cases' conditions must
cover every argument the question reaches exactly once.

Solved with SymPy's Piecewise (an inverse by solving every case's equation: exactly one real preimage, or refused);
checked by a twin that picks each case itself: the arguments evaluated in 50-digit floating point, every condition
tested there (exactly one must hold; an argument on a case's boundary is decided at the simple rational it is), the
chosen case evaluated there, and each inverse value put back into the function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import mpmath
import sympy as sp

from ..parse import ParseError, parse_math
from ..problem import written_denominators
from ..sentence import SLOT_RE, WHAT, A, Sentence, one
from ..solution import plain
from .base import NotMine, SolveError, Step, Task, Worked

_CASES = re.compile(r"^\s*(?:\\left\s*\\\{\s*)?\\begin\{(cases|array|aligned)\}(?:\{[a-z]*\})?(?P<body>.*)"
                    r"\\end\{\1\}(?:\s*\\right\s*\.?)?\s*$", re.S)
_DEF = re.compile(r"\s*([a-zA-Z])\s*\(\s*([a-zA-Z])\s*\)\s*=\s*(.+)", re.S)


@dataclass(frozen=True)
class Branch:
    expr: sp.Expr
    cond: object          # a SymPy relation / And, True ("otherwise"), or ("parity", "even" | "odd")
    denominators: tuple = ()   # as written: x(x − 3)/(x − 3) is undefined at 3 though SymPy reads it as x


@dataclass(frozen=True)
class CaseFunction:
    name: str
    var: sp.Symbol
    branches: tuple[Branch, ...]


@dataclass(frozen=True)
class FunctionValue:
    functions: tuple[CaseFunction, ...]
    query: str
    inverses: tuple[tuple[str, str], ...] = ()     # (the letter standing for f⁻¹ in the query, f)
    written: str = ""                              # the query as the problem writes it
    at: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()  # "…, evaluated when x = 1": the query's letter given a value
    polynomial: bool = False                       # "Express f(x) + g(x) as a single polynomial": expanded


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
    x = sp.Symbol(var)
    if not m:   # a formula: one case that always holds
        expr = one(body, known)
        if expr.free_symbols - {x}:
            raise ParseError("the definition uses a letter other than the function's variable")
        return CaseFunction(name, x, (Branch(expr, True, written_denominators(body, latex=True)),))
    branches = []
    for row in (r for r in re.split(r"\\\\", m.group("body")) if r.strip()):
        if row.count("&") != 1:
            raise ParseError("each case is 'value & condition'")
        value, cond = row.split("&")
        expr = one(value.strip().rstrip(","), known)
        if expr.free_symbols - {x}:
            raise ParseError("a case uses a letter other than the function's variable")
        branches.append(Branch(expr, _condition(cond, x), written_denominators(value.strip().rstrip(","), latex=True)))
    if len(branches) < 2 or any(b.cond is True for b in branches[:-1]):
        raise ParseError("read as two or more cases, 'otherwise' only last")
    return CaseFunction(name, x, tuple(branches))


_JOINED = re.compile(r"(?:⟦\d+⟧\s*(?:,|;|,?\s*and(?: let)?|,?\s*let|,?\s*and also)?\s*)+")


def read_function_value(g: dict, s: Sentence) -> FunctionValue:
    defs = g["defs"].strip()
    if not _JOINED.fullmatch(defs):
        raise NotMine("the definitions are not all math")
    functions, known = [], {}
    for k in SLOT_RE.findall(defs):
        m = _DEF.fullmatch(s.math[int(k)])
        if not m:
            raise NotMine("not a function definition")
        f = case_function(m.group(1), m.group(2), m.group(3), known)
        functions.append(f)
        known[f.name] = _piecewise(f)
    if g.get("named") and re.sub(r"\s", "", s.slot(g, "named")) not in {f"{f.name}({f.var})" for f in functions} \
            | {f.name for f in functions}:
        raise ParseError("the function named is not the one defined")
    query, inverses = _inverses(s.slot(g, "a"), {f.name for f in functions})
    if re.search(r"[a-zA-Z]\s*\^", query):
        raise ParseError("a power of a function (f^2) is not read here")
    v = FunctionValue(tuple(functions), query, inverses, s.slot(g, "a"), _at(g, s), bool(g.get("poly")))
    free = one(query, _undefined(v)).free_symbols
    if free and (len(free) > 1 or inverses or any(len(f.branches) > 1 for f in functions)):
        raise ParseError("a value in a letter is read for formulas of one variable, not cases or inverses")
    if v.at and not free:
        raise ParseError("'evaluated when' names a letter the expression does not have")
    return v


def _at(g: dict, s: Sentence) -> tuple:
    if not g.get("at"):
        return ()
    eq = parse_math(s.slot(g, "at"), latex=True)
    if len(eq) != 1 or not isinstance(eq[0], sp.Eq) or not eq[0].lhs.is_Symbol or eq[0].rhs.free_symbols:
        raise ParseError("expected 'evaluated when x = a number'")
    return ((eq[0].lhs, eq[0].rhs),)


def _inverses(query: str, names: set[str]) -> tuple[str, tuple]:
    """f^{-1}(9) -> F(9) with ('F', 'f'): a letter of its own for each inverse written."""
    free = [c for c in "FGHJKLMNPQRTUVWXYZ" if c not in query and c not in names]
    found: dict[str, str] = {}

    def letter(m: re.Match) -> str:
        if m.group(1) not in names:
            raise ParseError(f"the inverse of {m.group(1)}, which the problem does not define")
        return found.setdefault(m.group(1), free[len(found)])
    query = re.sub(r"([a-zA-Z])\s*\^\s*\{\s*-\s*1\s*\}", letter, query)
    return query, tuple((v, k) for k, v in found.items())


def _piecewise(f: CaseFunction) -> sp.Lambda:
    def cond(c):
        if isinstance(c, tuple):
            return sp.Eq(sp.Mod(f.var, 2), 0 if c[1] == "even" else 1)
        return c
    return sp.Lambda(f.var, sp.Piecewise(*[(b.expr, cond(b.cond)) for b in f.branches]))


def _preimage(f: CaseFunction, y) -> sp.Expr:
    """The one real x with f(x) = y, from every case's equation, keeping roots the case's condition allows."""
    lam, found = _piecewise(f), []
    for b in f.branches:
        for r in sp.solve(sp.Eq(b.expr, y), f.var):
            if r.is_real and sp.simplify(lam(r) - y) == 0:   # lam(r) takes the case r is in
                found.append(r)
    found = list({sp.nsimplify(r) if r.is_Float else r for r in found})
    if len(found) != 1:
        raise SolveError(f"{f.name}⁻¹({plain(y)}) is not one number: {f.name}(x) = {plain(y)} has {len(found)} "
                         "real solutions")
    return found[0]


def _exact(e, v: FunctionValue, seen: list, applied: list):
    """The query evaluated exactly: each f(a) by its case (Piecewise), each f⁻¹(y) by solving f(x) = y."""
    if isinstance(e, sp.core.function.AppliedUndef):
        a = sp.simplify(_exact(e.args[0], v, seen, applied))
        inverse = dict(v.inverses).get(e.func.__name__)
        f = next(f for f in v.functions if f.name == (inverse or e.func.__name__))
        if inverse:
            x = _preimage(f, a)
            seen.append((f.name, a, x))
            return x
        if not a.free_symbols and any(_applies(b, f.var, a) and any(sp.simplify(d.subs(f.var, a)) == 0
                                                                   for d in b.denominators) for b in f.branches):
            raise SolveError(f"{f.name}({plain(a)}) is undefined: a denominator of the formula as written is zero")
        value = sp.simplify(_piecewise(f)(a))
        applied.append((f.name, a, value))
        return value
    if e.args:
        return e.func(*[_exact(a, v, seen, applied) for a in e.args])
    return e


def _applies(b: Branch, x: sp.Symbol, a) -> bool:
    if b.cond is True:
        return True
    if isinstance(b.cond, tuple):
        return a.is_integer and (a % 2 == 0) == (b.cond[1] == "even")
    return bool(b.cond.subs(x, a))


def _undefined(v: FunctionValue) -> dict:
    return {f.name: sp.Function(f.name) for f in v.functions} | {k: sp.Function(k) for k, _ in v.inverses}


def _query(v: FunctionValue) -> sp.Expr:
    q = one(v.query, _undefined(v))
    return q.subs(dict(v.at)) if v.at else q


def solve_function_value(v: FunctionValue) -> Worked:
    seen: list = []
    applied: list = []
    query = _query(v)
    value = _exact(query, v, seen, applied)
    value = sp.expand(value) if v.polynomial else sp.simplify(value)
    if value.free_symbols - query.free_symbols or value.has(sp.Piecewise, sp.nan, sp.zoo):
        raise SolveError("the cases do not give one value here (an argument outside every case)")
    if v.polynomial and not value.is_polynomial():
        raise SolveError("the result is not a polynomial")
    steps = [Step(f"{name}⁻¹({plain(y)}): solve {name}(x) = {plain(y)}", x) for name, y, x in seen]
    if v.at:
        steps.append(Step(f"Put {', '.join(f'{k} = {plain(a)}' for k, a in v.at)} into {v.written}"))
    # the inner values a teacher writes down first: g(3) = 9, then f(9)
    inner = [(n, a, r) for n, a, r in applied[:-1] if not a.free_symbols and not r.free_symbols]
    steps += [Step(f"{n}({plain(a)}) = {plain(r)}") for n, a, r in dict.fromkeys(inner)]
    cases = ", using for each argument the case whose condition it meets" if any(
        len(f.branches) > 1 for f in v.functions) else ""
    what = "Expand and collect like terms" if v.polynomial else (
        "Put the formulas into each other and simplify" if query.free_symbols else
        f"Evaluate {v.written or v.query} from the inside out{cases}")
    steps.append(Step(what, value))
    return Worked(value, steps, facts={"inverses": seen})


# ---- the twin ---------------------------------------------------------------------------------------------------


def _holds(cond, x: sp.Symbol, a) -> bool:
    """Does the condition hold at the 50-digit number a? Within 10⁻³⁰ of its boundary (f(2) with cases x < 2 and
    x ≥ 2) a float cannot tell the side: the condition is decided at the simple rational a is nearest to, so a
    wrong side can only make the twin disagree with the exact solve, a refusal, never a different answer."""
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


def _numeric(e, functions: dict, inverses: dict | None = None):
    if isinstance(e, sp.core.function.AppliedUndef) and e.func.__name__ in (inverses or {}):
        # f⁻¹(y): the value found exactly whose image, computed here, is y (a check by substitution)
        f, pairs = inverses[e.func.__name__]
        y = _numeric(e.args[0], functions, inverses)
        near = [x for _, yy, x in pairs if abs(mpmath.mpmathify(sp.N(yy, 50)) - y) < mpmath.mpf(10) ** -30]
        if len(near) != 1 or abs(_numeric(sp.Function(f)(near[0]), functions) - y) > mpmath.mpf(10) ** -30:
            raise SolveError("an inverse value failed its check by substitution")
        return mpmath.mpmathify(sp.N(near[0], 50))
    if isinstance(e, sp.core.function.AppliedUndef):
        f = functions[e.func.__name__]
        a = _numeric(e.args[0], functions, inverses)
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
        args = [_numeric(a, functions, inverses) for a in e.args]
        symbols = sp.symbols(f"t0:{len(args)}")
        return mpmath.mpmathify(sp.N(e.func(*symbols).subs(dict(zip(symbols, [sp.Float(str(a), 60) for a in args]))),
                                     50))
    return mpmath.mpmathify(sp.N(e, 50))


def check_function_value(v: FunctionValue, w: Worked) -> Step:
    query = _query(v)
    free = sorted(query.free_symbols, key=str)
    # a value in a letter: compared at three points, each evaluated inside out by the twin (a point where the
    # expression is undefined is skipped; fewer than three usable points is a refusal)
    points = [{free[0]: t} for t in (sp.Rational(1, 3), sp.Rational(7, 5), sp.Rational(5, 2), sp.Rational(-13, 4),
                                     sp.Rational(17, 3))] if free else [{}]
    used: list = []
    with mpmath.workdps(50):
        functions = {f.name: f for f in v.functions}
        seen = w.facts["inverses"]
        inverses = {k: (f, [p for p in seen if p[0] == f]) for k, f in v.inverses}
        for point in points:
            try:
                again = _numeric(query.subs(point), functions, inverses)
                exact = mpmath.mpmathify(sp.N(w.answer.subs(point), 50))
            except (TypeError, ValueError, ZeroDivisionError):
                continue
            if not (mpmath.isfinite(again) and mpmath.isfinite(exact)):
                continue
            if abs(again - exact) > mpmath.mpf(10) ** -30 * (1 + abs(exact)):
                raise SolveError("the cases evaluated again disagree")
            used.append(point)
            if len(used) == 3 or not free:
                break
        if len(used) < (3 if free else 1):
            raise SolveError("too few points where the expression can be evaluated to check it")
    if free:
        at = ", ".join(plain(p[free[0]]) for p in used)
        return Step(f"Check: at {free[0]} = {at} the formulas evaluated inside out in 50-digit floating "
                    "point give the same values as the answer")
    if not any(len(f.branches) > 1 for f in v.functions):
        return Step("Check: each argument evaluated again in 50-digit floating point and put into the formulas, "
                    "inner first" + (", and each inverse value put back into the function" if v.inverses else "")
                    + ", gives the same")
    return Step("Check: each argument evaluated again in 50-digit floating point, its case chosen by testing every "
                "condition" + (", and each inverse value put back into the function" if v.inverses else "") +
                ", gives the same")


_INTRO = r"(?:given the (?:two |three )?functions|if|let|given(?: that)?|suppose(?: that)?|define)"
_ASK = rf"(?:then )?(?:{WHAT}|calculate|what is)(?: the value of)?"

TASKS = (
    Task("cases", "values of functions defined by cases or formulas, and of their inverses, nested or added",
         phrasings=(
        (60, rf"{_INTRO} (?P<defs>.+?)[,.;]? {_ASK} {A}(?:,? evaluated (?:when|at) (?P<at>⟦\d+⟧))?"),
        (60, rf"(?:the|a) function (?P<named>⟦\d+⟧) is defined (?:by|as) (?P<defs>⟦\d+⟧)\s*[,.;]?\s*{_ASK} {A}"),
        (60, rf"{_INTRO} (?P<defs>.+?)[,.;]? express {A} as a (?P<poly>single polynomial|polynomial)(?:,? with the "
             rf"terms in order by decreasing degree)?"),),
        read=read_function_value, solve=solve_function_value, check=check_function_value,
        examples=((r"Let \[f(x) = \begin{cases} 2x + 9 &\text{if }x<-2, \\ 5-2x&\text{if }x\ge -2. \end{cases} "
                   r"\]Find $f(3).$", "-1"),
                  (r"Let \[f(x) = \left\{ \begin{array}{cl} x^2+1 &\text{ if }x>5, \\ 2x-3 &\text{ if } -5 \le x "
                   r"\le 5, \\ 3 &\text{ if } x <-5. \end{array} \right.\]Find $f(-7)+f(0)+f(7)$.", "50"),
                  (r"Suppose that $f(x)=4x+5$. What is $f^{-1}(f^{-1}(9))$?", "-1"),
                  (r"If $f(x)=2x^3+4$, find $f^{-1}(58)$.", "3"),
                  (r"Given the functions $p(x)=x^2-1$ and $q(x)=3x+2$, what is $q(p(4))$?", "47"),
                  (r"The function $h(t)$ is defined by $h(t)=t^3-t$. What is the value of $h(-2)$?", "-6"),
                  (r"Let $f(x)=x+1$ and let $g(x)=2x$. Find $f(g(x))-g(f(x))$.", "-1"),
                  (r"Let $f(x)=x^2$ and $g(x)=x-3$. Express $f(x)+g(x)$ as a single polynomial.", "x^2 + x - 3")),
        questions=((r"^Evaluate .* from the inside out", "Which case does the argument fall in?"),
                   (r"^Put the formulas into each other", "What do you get when you replace the inner function's "
                                                           "letter by its formula?")),
        data=FunctionValue),
)
