"""What a solve returns, and how it is written: Solution and its Steps (data: a sentence and a SymPy object), the
answer as plain text people read back, LaTeX or 2-D Unicode, and the small exact helpers every task shares.

The lowest module of the engine's solving side: task modules, `arith`, `given` and `solver` build on it, it builds
on nothing of theirs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

import sympy as sp

from ..errors import PhiflashError
from .problem import Problem


class SolveError(PhiflashError):
    """The engine cannot solve this problem (said plainly, never guessed)."""


@dataclass
class Step:
    text: str
    math: sp.Basic | None = None

    def to_dict(self) -> dict:
        if "_shown" in self.__dict__:   # written where it was made (see __getstate__)
            return dict(self.__dict__["_shown"])
        m = self.math
        return {"text": self.text, "latex": latex(m) if m is not None else None,
                "plain": plain(m) if m is not None else None, "pretty": pretty(m) if m is not None else None}

    def __getstate__(self) -> dict:
        # a solve under a time limit runs in a child process; SymPy rebuilds unpickled expressions by evaluating
        # them (15(3x + 2) arrives as 45x + 30), so the step travels already written as well
        return self.__dict__ | {"_shown": self.to_dict()}


@dataclass
class Solution:
    problem: Problem
    answer: object                  # kind-specific: list of values, list of dicts, a Set, or an expression
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    check: str = ""                 # how the answer was verified

    @property
    def kind(self) -> str:
        return self.problem.kind

    @property
    def answer_text(self) -> str:
        return self.__dict__.get("_shown", {}).get("text") or format_answer(self, plain)

    @property
    def answer_latex(self) -> str:
        return self.__dict__.get("_shown", {}).get("latex") or format_answer(self, latex)

    def __getstate__(self) -> dict:
        # as Step's: the answer travels written as it was found, since unpickling would evaluate its form again
        return self.__dict__ | {"_shown": {"text": self.answer_text, "latex": self.answer_latex,
                                           "pretty": self.answer_pretty}}

    @property
    def answer_pretty(self) -> str:
        """Unicode 2-D rendering for the terminal, one block per solution."""
        if "_shown" in self.__dict__:
            return self.__dict__["_shown"]["pretty"]
        p, a = self.problem, self.answer
        if p.form in ("base", "decimal"):
            return self.answer_text
        if p.kind == "equation" and isinstance(a, list):
            objs = [sp.Eq(p.var, v) for v in _shown_roots(p, a)] if a else []
            if not objs:
                return self.answer_text
        elif p.kind == "system" and a:
            objs = [sp.Tuple(*[sp.Eq(v, s[v]) for v in p.variables if v in s]) for s in a]
        elif p.kind == "integral" and p.lower is None:
            objs = [a + sp.Symbol("C")]
        elif p.kind == "limit" and a is sp.nan or (isinstance(a, list) and not a):
            return self.answer_text
        else:
            objs = [a]
        return "\n\n".join(pretty(o) for o in objs)


DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"   # a base's digits, the ones past 9 as capitals


def to_base(n: int, b: int) -> str:
    """555, 5 -> '4210' (digits above 9 as capitals)."""
    if n == 0:
        return "0"
    sign, n, digits = "-" if n < 0 else "", abs(n), []
    while n:
        n, r = divmod(n, b)
        digits.append(DIGITS[r])
    return sign + "".join(reversed(digits))


def plain(obj, order: str | None = None) -> str:
    """One-line plain text that phiflash's own parser reads back: i for √−1, e for Euler's number, ln for the
    natural logarithm, intervals as (a, b], unions with U. order="none" prints a sum's terms as they stand (an
    unevaluated substitution: ordering them evaluates each numerically, seconds for nested radicals)."""
    if obj is sp.S.Reals:  # an Interval too: test it first
        return "all real numbers"
    if isinstance(obj, sp.MatrixBase):  # as LaTeX writes it, which the answer reader reads back
        rows = " \\\\ ".join(" & ".join(plain(v) for v in obj.row(i)) for i in range(obj.rows))
        return f"\\begin{{pmatrix}} {rows} \\end{{pmatrix}}"
    if isinstance(obj, sp.Interval):
        return f"{'(' if obj.left_open else '['}{plain(obj.start)}, {plain(obj.end)}{')' if obj.right_open else ']'}"
    if isinstance(obj, sp.Union):
        return " U ".join(plain(a) for a in obj.args)
    if obj is sp.EmptySet:
        return "∅"
    if isinstance(obj, sp.FiniteSet):
        return "{" + ", ".join(plain(a) for a in obj.args) + "}"
    if isinstance(obj, sp.Rel):  # 2x = 8 as people write it, never Eq(2*x, 8)
        return f"{plain(obj.lhs)} {_REL[type(obj)]} {plain(obj.rhs)}"
    if isinstance(obj, sp.And):
        return " and ".join(plain(a) for a in obj.args)
    if isinstance(obj, sp.Integral) and len(obj.limits) == 1:
        (v, *ends) = obj.limits[0]
        bounds = f" from {plain(ends[0])} to {plain(ends[1])}" if len(ends) == 2 else ""
        return f"∫ {plain(obj.function)} d{v}{bounds}"
    if isinstance(obj, sp.Derivative) and len(obj.variables) == 1:
        return f"d/d{obj.variables[0]} ({plain(obj.expr)})"
    s = (sp.sstr(obj, order=order) if order else sp.sstr(obj)) if isinstance(obj, sp.Basic) else str(obj)
    s = s.replace("**", "^")
    s = re.sub(r"\blog\(", "ln(", s)  # SymPy's log is ln: a bare log would read back two ways (readings.py)
    s = re.sub(r"\bI\b", "i", s)
    s = re.sub(r"\bE\b", "e", s)
    return _as_written(s.replace("oo", "∞"))


def _e_powers(s: str) -> str:
    """exp(x) → e^x, exp(2*x) → e^(2*x); one raised to a power stays exp(x)^(1/4) (e^x^(1/4) reads two ways)."""
    out, i = [], 0
    for m in re.finditer(r"\bexp\(", s):
        if m.start() < i:
            continue
        depth, j = 0, m.end() - 1
        for j in range(m.end() - 1, len(s)):
            depth += {"(": 1, ")": -1}.get(s[j], 0)
            if depth == 0:
                break
        inner = s[m.end():j]
        if s[j + 1:j + 2] == "^":
            continue
        atom = re.fullmatch(r"\d+|[a-zA-Z]", inner)
        out += [s[i:m.start()], f"e^{inner}" if atom else f"e^({_e_powers(inner)})"]
        i = j + 1
    return "".join(out) + s[i:]


def _as_written(s: str) -> str:
    """SymPy's output as people write it: 2x, 2(x + 1), (x - 2)(x + 2), 2√3, √(x + 1), e^x, e^(2x); any other
    product with a dot, 2·4 and x·y (a number after ^, √ or a decimal point keeps its dot: 10^2·x is not 10^(2x),
    √2·x not √(2x))."""
    s = _e_powers(s)
    s = re.sub(r"\bsqrt\((\d+|[a-zA-Z])\)", r"√\1", s)
    s = re.sub(r"\bsqrt\(", "√(", s)
    s = re.sub(r"(?<![\w.^√])(\d+)\*(?=[a-zA-Z(√])", r"\1", s)
    return s.replace(")*(", ")(").replace("*", "·")


_REL = {sp.Eq: "=", sp.Ne: "≠", sp.Lt: "<", sp.Le: "≤", sp.Gt: ">", sp.Ge: "≥"}


def pretty(obj) -> str:
    return sp.pretty(obj, use_unicode=True) if isinstance(obj, (sp.Basic, sp.MatrixBase)) else str(obj)


def latex(obj) -> str:
    return sp.latex(obj, imaginary_unit="i") if isinstance(obj, (sp.Basic, sp.MatrixBase)) else str(obj)


def _shown_roots(p: Problem, roots: list) -> list:
    """(x − 4)³ = 8 is answered x = 6: where real solutions exist they are the answer, unless complex ones are asked
    for; with none real, the complex ones are (3x² + 4x + 5 = 1). The check accepts either list. A root whose
    realness is not known (−w − 6, with w a letter of the problem) is never left out."""
    real = [r for r in roots if sp.N(r).is_real is not False]
    return real if real and not re.search(r"complex|imaginary", p.text, re.IGNORECASE) else roots


def terminating(v) -> bool:
    """An exact number whose decimal expansion ends: a fraction whose denominator has no prime but 2 and 5."""
    return isinstance(v, sp.Rational) and not (sp.factorint(v.q).keys() - {2, 5})


def _decimal(v: sp.Rational) -> str:
    return format(Decimal(int(v.p)) / Decimal(int(v.q)), "f")


def format_answer(sol: Solution, fmt) -> str:
    p, a = sol.problem, sol.answer
    if p.form == "decimal" and terminating(a):  # "Express your answer as a decimal": 28.2, not 141/5
        return _decimal(a)
    if p.form == "decimal" and p.kind == "equation" and isinstance(a, list) and a and all(map(terminating, a)):
        return ", ".join(f"{fmt(p.var)} = {_decimal(v)}" for v in a)
    if p.kind == "equation" and isinstance(a, sp.Expr):  # a target's value, or the sum of the solutions
        return fmt(a)
    if p.form == "base" and isinstance(a, sp.Integer) and p.n is not None:
        digits, b = to_base(int(a), int(p.n)), int(p.n)
        return f"{digits}_{{{b}}}" if fmt is latex else f"{digits}_{b}"
    if p.form == "decimal" and isinstance(a, sp.Rational):
        return _decimal(a)
    if p.kind == "equation":
        if isinstance(a, sp.Set):
            return fmt(a) if fmt is plain else f"{fmt(p.var)} \\in {fmt(a)}"
        if not a:
            return "no solution"
        return (", " if fmt is plain else r",\ ").join(f"{fmt(p.var)} = {fmt(v)}" for v in _shown_roots(p, a))
    if p.kind == "system":
        if not a:
            return "no solution"
        rows = []
        for sol_ in a:
            rows.append(", ".join(f"{fmt(v)} = {fmt(sol_[v])}" for v in p.variables if v in sol_))
        return " or ".join(f"({r})" if len(a) > 1 else r for r in rows)
    if p.kind == "inequality":
        return fmt(a)  # a set, or the integer / count asked for
    if p.kind == "integral" and p.lower is None:
        return f"{fmt(a)} + C"
    if p.kind == "limit" and a is sp.nan:
        return "does not exist"
    return fmt(a)


def exact(expr):
    """Decimals typed by the user become exact rationals (0.1 -> 1/10) before solving."""
    return expr.xreplace({f: sp.Rational(str(f)) for f in expr.atoms(sp.Float)}) if isinstance(expr, sp.Basic) \
        else expr


def linear_system(exprs: list, xs: list) -> tuple | None:
    """(A, b) with A·xs = b when every expression (each = 0) is linear in xs, else None."""
    try:
        return sp.linear_eq_to_matrix(exprs, xs)
    except (sp.PolynomialError, ValueError, NotImplementedError):
        return None
