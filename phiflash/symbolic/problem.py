"""What a problem is (`Problem`: what to do, with which parsed objects, in which variable, in which requested
form), and the reading of problems typed as math ("solve 3x^2+4x+5=1", "derivative of x^2 sin x"). Sentences are
the reader's (reader.py), which builds on this module.

The rule is precision: typed math is read through the safe parser, which refuses English words; anything else is
a ParseError, and the problem is then "unverifiable", never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import sympy as sp

from .parse import ENGLISH, UNREAD_MATH, ParseError, parse_as_written, parse_math, parse_one


@dataclass(frozen=True)
class Problem:
    text: str
    kind: str
    items: tuple                      # parsed relations / expressions
    var: sp.Symbol | None = None
    variables: tuple = ()             # for systems, in answer order
    lower: sp.Expr | None = None      # definite integral bounds
    upper: sp.Expr | None = None
    point: sp.Expr | None = None      # limit point
    direction: str = "+-"             # limit side: "+", "-" or "+-" (two-sided)
    order: int = 1                    # derivative order
    n: sp.Expr | None = None          # the base the answer is asked in ("express your answer in base 5")
    target: sp.Expr | None = None     # "…, what is the value of 6x+5?": evaluated at the solution
    pick: str | None = None           # which solution(s) of an equation (sum, positive, …) or inequality (integers)
    domain: sp.Set | None = None      # "for 0 ≤ x < 2π"
    form: str | None = None           # requested form: fraction, decimal, radical, base, integer, interval,
                                      # simplest, rectangular, polynomial, increasing, gaussian (a + bi, integers)
    template: tuple = ()              # 'in the form Ax³ + Bx + C': its variable's name and the powers it has
    places: int | None = None         # 'as a decimal to the nearest tenth': 1
    bounds: tuple = ()                # 'as a positive integer': (1, None); 'as an integer from 0 to 12': (0, 12)
    notes: tuple = ()
    task: object = None               # a registered task's own reading (tasks/), for the kinds tasks/ solves
    written: str = ""                 # an expression to evaluate as written (LaTeX when in $…$): its check re-reads it
    excluded: tuple = ()              # where a denominator as written is zero: x(x − 2)/x is undefined at 0,
                                      # though SymPy cancels the x as it reads it
    denominators: tuple = ()          # of the value asked for, as written (given values must not zero one)

    @property
    def expr(self) -> sp.Expr:
        return self.items[0]


_VAR = r"(?P<var>[a-zA-Z]|theta)"
_WRT = rf"(?:\s*,?\s*(?:with\s+respect\s+to|wrt|w\.r\.t\.?)\s+{_VAR})?"
_TAIL = r"\s*[.?]*\s*$"  # not '!': "What is 5!" is a factorial
_PATTERNS = [
    ("system", rf"^(?:please\s+)?solve\s+(?:the\s+)?(?:system|equations)\s*(?:of\s+equations)?\s*:?\s*"
               rf"(?P<body>.+?){_TAIL}"),
    ("system", rf"^(?:the\s+)?system(?:\s+of\s+equations)?\s*:\s*(?P<body>.+?){_TAIL}"),   # system: x+y=3, x-y=1
    ("derivative", rf"^(?:find\s+|compute\s+|what\s+is\s+)?(?:the\s+)?(?P<nth>second\s+|2nd\s+|third\s+|3rd\s+)?"
                   rf"derivative\s+of\s+(?P<body>.+?){_WRT}{_TAIL}"),
    ("derivative", rf"^differentiate\s+(?P<body>.+?){_WRT}{_TAIL}"),
    ("derivative", rf"^d\s*/\s*d(?P<var>[a-z])\s*(?P<body>.+?){_TAIL}"),
    ("integral", rf"^(?:find\s+|compute\s+|evaluate\s+)?(?:integrate|(?:the\s+)?integral\s+of|∫)\s*(?P<body>.+?)"
                 rf"(?:\s*d(?P<dvar>[a-z]))?(?:\s+from\s+(?P<lo>.+?)\s+to\s+(?P<hi>.+?))?{_WRT}{_TAIL}"),
    ("limit", rf"^(?:find\s+|compute\s+|evaluate\s+)?(?:the\s+)?limit\s+(?:of\s+)?(?P<body>.+?)\s+as\s+{_VAR}\s*"
              rf"(?:->|→|approaches|tends\s+to|goes\s+to)\s*(?P<point>.+?){_TAIL}"),
    ("limit", rf"^lim_?\s*\(?\s*{_VAR}\s*(?:->|→)\s*(?P<point>[^\s)]+?)\)?\s+(?P<body>.+?){_TAIL}"),
    ("simplify", rf"^(?:simplify)\s*:?\s*(?P<body>.+?){_TAIL}"),
    ("expand", rf"^(?:expand)\s*:?\s*(?P<body>.+?){_TAIL}"),
    ("factor", rf"^(?:factor|factorise|factorize)\s*:?\s*(?P<body>.+?){_TAIL}"),
    ("evaluate", rf"^(?:evaluate|compute|calculate|what\s+is)\s*:?\s*(?P<body>.+?){_TAIL}"),
    ("solve", rf"^(?:please\s+)?(?:solve|find\s+{_VAR}\s+(?:if|when|such\s+that))\s*:?\s*(?P<body>.+?)"
              rf"(?:\s+for\s+(?P<var2>[a-zA-Z]))?{_TAIL}"),
]


def _latex_forms(text: str) -> str:
    """LaTeX integrals and limits into the English forms above."""
    m = re.match(r"^\s*\\int(?:_\{?(?P<lo>[^}^]+?)\}?\^\{?(?P<hi>[^}]+?)\}?)?\s*(?P<body>.+?)\s*\\?,?\s*"
                 r"d(?P<v>[a-z])\s*$", text)
    if m:
        bounds = f" from {m['lo']} to {m['hi']}" if m["lo"] else ""
        return f"integrate {m['body']} d{m['v']}{bounds}"
    m = re.match(r"^\s*\\lim_\{\s*(?P<v>[a-z])\s*\\to\s*(?P<p>[^}]+)\}\s*(?P<body>.+)$", text)
    if m:
        return f"limit of {m['body']} as {m['v']} -> {m['p']}"
    return text


def _parse_point(text: str) -> tuple[sp.Expr, str]:
    text = text.strip()
    direction = "+-"
    m = re.match(r"^(.*?)(?:\^?\s*([+-]))$|^(.*?)\s+from\s+the\s+(left|right)$", text)
    if m and m.group(1) is not None and m.group(1).strip() and m.group(1).strip() not in ("", "-", "+"):
        text, direction = m.group(1), m.group(2)
    elif m and m.group(3):
        text, direction = m.group(3), "-" if m.group(4) == "left" else "+"
    return parse_one(text), direction


def choose_var(objs, hint: str | None = None) -> sp.Symbol | None:
    free = set().union(*(o.free_symbols for o in objs if isinstance(o, sp.Basic)))
    if hint:
        return next((s for s in free if s.name == hint), sp.Symbol(hint))
    for name in ("x", "t", "y", "z", "n"):
        for s in free:
            if s.name == name:
                return s
    return sorted(free, key=lambda s: s.name)[0] if free else None


def lines_of_math(text: str) -> str:
    """Lines that are each an equation or inequality are a list of them (a system when they share unknowns),
    never one expression glued across the line break ('2x=4⏎5x=10' is not 2x = 45x = 10)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) < 2 or "$" in text or "\\" in text:
        return text
    for ln in lines:
        try:
            items = parse_math(ln)
        except ParseError:
            return text
        if len(items) != 1 or not isinstance(items[0], (sp.Rel, sp.And)):
            return text
    return "; ".join(lines)


def read_typed(text: str) -> Problem | None:
    """A problem typed as math (calculus words allowed), or None for a sentence, which `reader` reads.
    Raises ParseError for typed math that is not a problem we can read."""
    original = text = re.sub(r"\s*=\s*\?\s*$", "", lines_of_math(text))   # '2 + 2 = ?' asks for 2 + 2
    text = " ".join(text.strip().split())
    if not text:
        raise ParseError("the problem is empty")
    if "$" in text or "\\[" in text or "\\(" in text or re.search(r"…|\.\.\.|\\[lc]?dots", text):
        return None  # sentences, and sums written with … (the reader's series task)
    text = _latex_forms(text)
    for kind, pattern in _PATTERNS:
        m = re.match(pattern, text, flags=re.IGNORECASE)
        if m and (kind in _CALCULUS or not _has_english(m.group("body"))):
            try:
                return _build(kind, m, original)
            except ParseError:
                if kind in _CALCULUS:
                    raise
    if _has_english(text):
        return None
    return _build("solve", None, original, body=text)


_CALCULUS = ("system", "derivative", "integral", "limit")

_ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
# math names and short variable runs; what is left of a typed problem after removing them is English
_KNOWN = re.compile(r"\\[A-Za-z]+|\b(?:sin|cos|tan|cot|sec|csc|asin|acos|atan|arcsin|arccos|arctan|sinh|cosh|"
                    r"tanh|exp|ln|log|log10|log2|sqrt|cbrt|abs|floor|ceil|pi|oo|inf|infinity|theta|alpha|beta|"
                    r"gamma|delta|phi|lambda|mu|sigma|omega|tau|rho|epsilon|or|and|[a-z]{1,3})\b", re.IGNORECASE)


def _has_english(text: str) -> bool:
    """Words beyond math names: the sentence reader's to read. 'mod' counts (17 mod 5 is a remainder task)."""
    rest = _KNOWN.sub(lambda m: m.group(0) if m.group(0).lower() in ENGLISH | UNREAD_MATH else " ", text)
    return bool(_ENGLISH_WORD.search(rest))


def _build(kind: str, m, original: str, body: str | None = None) -> Problem:
    groups = m.groupdict() if m else {}
    body = groups.get("body", body)
    hint = groups.get("var") or groups.get("var2") or groups.get("dvar")
    if kind == "derivative":
        expr = parse_one(body)
        nth = (groups.get("nth") or "").strip()
        order = {"second": 2, "2nd": 2, "third": 3, "3rd": 3}.get(nth, 1)
        return Problem(original, kind, (expr,), choose_var([expr], hint), order=order)
    if kind == "integral":
        expr = parse_one(body)
        lo = parse_one(groups["lo"]) if groups.get("lo") else None
        hi = parse_one(groups["hi"]) if groups.get("hi") else None
        return Problem(original, kind, (expr,), choose_var([expr], hint), lower=lo, upper=hi)
    if kind == "limit":
        expr = parse_one(body)
        point, direction = _parse_point(groups["point"])
        return Problem(original, kind, (expr,), choose_var([expr], hint), point=point, direction=direction)
    if kind in ("simplify", "expand", "factor", "evaluate"):
        expr = parse_one(body)
        if kind == "evaluate" and expr.free_symbols:
            kind = "simplify"
        return Problem(original, kind, (expr,), choose_var([expr]), written=body if kind == "evaluate" else "")
    items = tuple(parse_math(body))
    p = _classify(original, items, hint, force_system=kind == "system", written=body)
    return replace(p, excluded=written_poles(body, p.var)) if p.kind in ("equation", "inequality") else p


def outside_template(value, template: tuple) -> str | None:
    """What a value has that the form 'Ax³ + Bx + C' lacks (another letter, a power: 16x² + 4x + 5 is not of the
    form ax³ + bx + c), said of the value multiplied out; None when it fits. The solver and the checker both ask."""
    if not template or not isinstance(value, sp.Expr):
        return "is not a polynomial of the form asked for"
    var, powers = template
    out = sp.expand(value)
    if {s.name for s in out.free_symbols} - {var} or not out.is_polynomial():
        return f"is not a polynomial in {var}, as the form asks"
    used = {m[0] for m in sp.Poly(out, next(iter(out.free_symbols), sp.Symbol(var))).monoms()} if out != 0 else set()
    if not used <= powers:
        k = max(used - powers)
        term = "a constant term" if k == 0 else f"a term in {var}" if k == 1 else f"a term in {var}^{k}"
        return f"has {term}, which the form asked for does not have"
    return None


def written_denominators(text: str, latex: bool = False) -> tuple:
    """The denominators of the math as written, read with nothing evaluated: SymPy's own reading cancels x/x (and
    x(x − 3)/(x − 3)) before any solver sees it, which would make a value where the problem is undefined look
    allowed."""
    try:
        items = parse_as_written(text, latex=latex)
    except Exception:  # noqa: BLE001 - no unevaluated reading: the solver's own exclusions stand
        return ()
    bases = {a.base for i in items if isinstance(i, sp.Basic) for a in sp.preorder_traversal(i)
             if isinstance(a, sp.Pow) and a.exp.is_negative and a.base.free_symbols}
    return tuple(sorted({sp.expand(b) for b in bases}, key=sp.default_sort_key))


def written_poles(text: str, var: sp.Symbol | None, latex: bool = False) -> tuple:
    """The real values of var where a denominator of the math as written is zero."""
    if var is None:
        return ()
    found = set()
    for b in written_denominators(text, latex):
        if b.free_symbols != {var}:
            continue
        try:
            found |= {r for r in sp.solve(b, var) if r.is_real}
        except NotImplementedError:
            continue
    return tuple(sorted(found, key=sp.default_sort_key))


def _classify(original: str, items: tuple, hint: str | None, force_system: bool = False,
              written: str = "") -> Problem:
    rels = [i for i in items if isinstance(i, (sp.Rel, sp.And))]
    if not rels:
        if len(items) != 1 or not isinstance(items[0], sp.Expr):
            raise ParseError("expected an equation, an inequality or an expression")
        expr = items[0]
        kind = "simplify" if expr.free_symbols else "evaluate"
        return Problem(original, kind, items, choose_var(items), written=written if kind == "evaluate" else "")
    if len(rels) != len(items):
        raise ParseError("mixing equations and bare expressions")
    if all(isinstance(r, sp.Eq) for r in rels) and (len(rels) > 1 or force_system):
        variables = tuple(sorted(set().union(*(r.free_symbols for r in rels)), key=lambda s: s.name))
        if len(rels) > len(variables) or len(variables) == 1 and len(rels) > 1:
            raise ParseError("several equations in one variable: is it 'and' or 'or'? Give one equation, or "
                             "write the answer you want checked with `phiflash check`")
        if hint:
            variables = tuple(v for v in variables if v.name == hint) or variables
        return Problem(original, "system", items, variables[0] if variables else None, variables=variables)
    if len(rels) == 1 and isinstance(rels[0], sp.Eq):
        var = choose_var(rels, hint)
        if var is None:
            raise ParseError("the equation has no variable to solve for")
        return Problem(original, "equation", items, var)
    if all(isinstance(r, (sp.Lt, sp.Gt, sp.Le, sp.Ge, sp.And)) for r in rels):
        var = choose_var(rels, hint)
        if var is None or len(set().union(*(r.free_symbols for r in rels))) > 1:
            raise ParseError("inequalities in one variable only")
        return Problem(original, "inequality", items, var)
    raise ParseError("cannot tell what to solve: mix of equations and inequalities")
