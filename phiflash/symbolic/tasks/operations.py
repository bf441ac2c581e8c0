"""Operations a problem defines on two numbers: 'The operation ⋆ is defined as a ⋆ b = a + a/b. What is the value
of 12 ⋆ 3?', '(1 ∇ 2) ∇ 3', 'If 5 ⋆ x = 37, find x', 'what is the value of A for which A ♣ 4 = 58?'.

Solved by rewriting the query innermost application first, each with exact numbers put into the definition.
Checked by a twin that reads the query into a tree of its own (numbers, brackets, the operation taken left to
right) and evaluates that tree in 50-digit floating point; a value found for a letter is put back into the query
and evaluated by the same twin. What the problem says the operands are (a > 0 and b > 0) must hold at every
application, and an example the problem gives (For example, 3 ∇ 6 = 9/19) must agree with the definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import mpmath
import sympy as sp

from ..parse import ParseError, parse_math
from ..problem import written_denominators
from ..sentence import SLOT_RE, WHAT, Sentence, number, one
from ..solution import plain
from .base import NotMine, SolveError, Step, Task, Worked

OP = r"\\(?:star|ast|diamondsuit|diamond|Diamond|odot|oplus|otimes|clubsuit|spadesuit|heartsuit|bowtie|dagger|" \
     r"nabla|circ|bullet|triangle|square|Box|boxtimes|boxplus|S|P|#|&|\$)|#|@|&|\$|¤|⋆|∗|◇|⊕|⊗|⊙|♣|♠|♥|△|□|∘"
# a plain * is also multiplication ('If a*b = a² + ab − b²' reads both ways): an operation only where the problem
# names it ('The operation $*$ is defined …')
OPERATOR_DEF = re.compile(rf"\s*\(?\s*([a-zA-Z])\s*(?P<op>{OP})\s*([a-zA-Z])\s*\)?\s*=\s*(?P<body>.+)", re.S)
_THIN_SPACE = re.compile(r"\\[,;:! ]|~")          # LaTeX's thin spaces: a\,\spadesuit\,b
_SHOWN = {"\\star": "⋆", "\\diamondsuit": "♦", "\\ast": "∗", "\\diamond": "◇", "\\Diamond": "◇", "\\#": "#",
          "\\&": "&", "\\$": "$",
          "\\circ": "∘", "\\oplus": "⊕", "\\otimes": "⊗", "\\odot": "⊙", "\\nabla": "∇", "\\clubsuit": "♣",
          "\\spadesuit": "♠", "\\heartsuit": "♥", "\\dagger": "†", "\\bowtie": "⋈", "\\S": "§", "\\P": "¶"}
_NUMBER = r"-?\d+/\d+|-?\d+(?:\.\d+)?|\.\d+|\\d?frac\{\d+\}\{\d+\}"   # a/b: a value put back


@dataclass(frozen=True)
class Operation:
    a: sp.Symbol
    b: sp.Symbol
    sign: str                          # the operation as written (\star, #, Z)
    body: sp.Expr
    body_text: str
    query: str                         # the application asked for, with its sign as written
    unknown: sp.Symbol | None = None   # the letter to find when the query is an equation
    conditions: tuple = ()             # what the problem says the operands are (a > 0, b > 0)
    denominators: tuple = ()           # of the body as written: a(a − b)/(a − b) is undefined at a = b


def _clean(text: str) -> str:
    text = _THIN_SPACE.sub(" ", text)
    return re.sub(r"\\text\s*\{\s*([A-Za-z])\s*\}|\\mathbin\s*\{([^{}]+)\}", lambda m: m.group(1) or m.group(2), text)


def definition(text: str, sign: str | None = None) -> re.Match | None:
    """'a ⋆ b = 9a + 2b' (or with the sign the problem named, a letter such as Z): the match, or None."""
    text = _clean(text).strip()
    if sign is None:
        return OPERATOR_DEF.fullmatch(text)
    return re.fullmatch(rf"\s*\(?\s*([a-zA-Z])\s*(?P<op>{re.escape(sign)})\s*([a-zA-Z])\s*\)?\s*=\s*(?P<body>.+)",
                        text, re.S)


def read_operation(g: dict, s: Sentence) -> Operation:
    sign = _clean(s.slot(g, "op")).strip() if g.get("op") else None
    if g.get("def2"):   # 'If a Y b is defined as a Y b = …': the first slot shows the sign, the second defines it
        shown = re.fullmatch(r"\s*[a-zA-Z]\s*(.+?)\s*[a-zA-Z]\s*", _clean(s.slot(g, "def")))
        if not shown:
            raise NotMine("not an operation written between two letters")
        sign, g = shown.group(1), g | {"def": g["def2"]}
    defs = [s.math[int(k)] for k in SLOT_RE.findall(g["def"])]
    if len(defs) == 2 and not defs[1].lstrip().startswith("="):   # "$a @ b$ = $3a − 3b$": one definition in two
        defs = [f"{defs[0]} = {defs[1]}"] if "=" not in defs[0] else defs
    if len(defs) != 1 or re.sub(r"⟦\d+⟧|\s|=", "", g["def"]):
        raise NotMine("one definition of an operation")
    m = definition(defs[0], sign)
    if not m:
        raise NotMine("not an operation's definition")
    a, b = sp.Symbol(m.group(1)), sp.Symbol(m.group(3))
    if a == b:
        raise ParseError("an operation needs two different letters, as in a ⋆ b")
    body = one(m.group("body"))
    if not body.free_symbols <= {a, b}:
        raise ParseError("the operation's definition uses letters other than its two operands")
    op = Operation(a, b, m.group("op"), body, m.group("body").strip(), _clean(s.slot(g, "q")).strip(),
                   conditions=_conditions(g, s, {a, b}),
                   denominators=written_denominators(m.group("body"), latex=True))
    if g.get("v"):      # 'If 5 ⋆ x = 37, find x' / 'the value of A for which A ♣ 4 = 58'
        v = one(s.slot(g, "v"))
        if not isinstance(v, sp.Symbol) or "=" not in op.query:
            raise ParseError("expected a letter to find and an equation with the operation")
        op = replace(op, unknown=v)
    elif "=" in op.query:
        raise ParseError("an equation with the operation, and no letter asked for")
    if g.get("ex"):
        _example(op, s.slot(g, "ex"))
    return op


def _conditions(g: dict, s: Sentence, letters: set) -> tuple:
    if not g.get("cond"):
        return ()
    found = []
    for k in SLOT_RE.findall(g["cond"]):
        for rel in parse_math(s.math[int(k)], latex=True):
            if not isinstance(rel, (sp.Rel, sp.And)) or not rel.free_symbols <= letters:
                raise ParseError("expected conditions on the operation's letters")
            found.append(rel)
    return tuple(found)


def _example(op: Operation, text: str) -> None:
    """'3 ∇ 6 = (3 + 6)/(1 + 3 × 6) = 9/19': the example's first and last parts must agree with the definition, and
    every step between must be equal to its value (a step that is false, or not read, is refused)."""
    parts = _clean(text).split("=")
    if len(parts) < 2:
        raise ParseError("an example is an application and its value")
    claimed = number(parts[-1])
    if any(sp.simplify(number(step) - claimed) != 0 for step in parts[1:-1]):
        raise ParseError("a step of the problem's example is not equal to its value")
    if abs(_twin(op, parts[0]) - mpmath.mpmathify(sp.N(claimed, 50))) > mpmath.mpf(10) ** -30:
        raise ParseError("the problem's example disagrees with its definition as read")


def _apply(op: Operation, x, y) -> sp.Expr:
    for c in op.conditions:
        if not (x.free_symbols or y.free_symbols) and c.subs({op.a: x, op.b: y}) is not sp.true:
            raise SolveError(f"{plain(x)} and {plain(y)} do not meet what the problem says the operands are")
    value = op.body.subs({op.a: x, op.b: y})
    if value.has(sp.zoo, sp.nan) or any(sp.simplify(d.subs({op.a: x, op.b: y})) == 0 for d in op.denominators):
        raise SolveError("the operation divides by zero here")
    return sp.nsimplify(sp.simplify(value)) if not value.free_symbols else sp.simplify(value)


def _rewrite(op: Operation, query: str, letter: sp.Symbol | None = None) -> tuple[sp.Expr, list[str]]:
    """The query with each application replaced by its value, innermost and leftmost first."""
    sign, steps = re.escape(op.sign), []
    operand = rf"({_NUMBER}|\(\s*(?:{_NUMBER})\s*\)|{letter.name if letter is not None else '(?!)'})"
    pattern = re.compile(rf"{operand}\s*{sign}\s*{operand}")
    q = query
    for _ in range(40):
        m = pattern.search(q)
        if not m:
            break
        x, y = (one(t.strip("() ")) for t in m.groups())
        value = _apply(op, x, y)
        steps.append(f"{plain(x)} {_SHOWN.get(op.sign, op.sign)} {plain(y)}: put {op.a} = {plain(x)} and {op.b} = "
                     f"{plain(y)} into {op.body_text}, which gives {plain(value)}")
        q = q[:m.start()] + f"({sp.sstr(value)})" + q[m.end():]
        q = re.sub(r"\(\s*\(([^()]*)\)\s*\)", r"(\1)", q)
    if re.search(sign, q):
        raise ParseError("the operation is applied here in a way that is not read")
    return (one(q) if letter is None else parse_math(q, latex=True)[0]), steps


def solve_operation(op: Operation) -> Worked:
    if op.unknown is None:
        value, steps = _rewrite(op, op.query)
        value = sp.nsimplify(sp.simplify(value))
        if value.free_symbols:
            raise SolveError("the value still has a letter in it")
        return Worked(value, [Step(t) for t in steps[:-1]] + [Step(steps[-1].rsplit(", which gives", 1)[0], value)]
                      if steps else [Step("Evaluate", value)])
    left, right = op.query.split("=", 1)
    lhs, steps = _rewrite(op, left, op.unknown)
    rhs = one(right)
    found = [v for v in sp.solve(sp.Eq(lhs, rhs), op.unknown) if v.is_real]
    found = [v for v in found if sp.simplify(_rewrite(op, left.replace(op.unknown.name, f"({sp.sstr(v)})"))[0] - rhs)
             == 0]
    if len(found) != 1:
        raise SolveError(f"{len(found)} values of {op.unknown} satisfy the equation: not one answer")
    return Worked(found[0], [Step(t) for t in steps] + [
        Step(f"Solve {plain(lhs)} = {plain(rhs)} for {op.unknown}", found[0])])


# ---- the twin ---------------------------------------------------------------------------------------------------


def _twin(op: Operation, query: str):
    """The query read into a tree of its own: numbers, brackets, signs, sums and differences of applications of
    the operation (taken left to right, before + and −), each application evaluated in 50-digit floating point."""
    tokens = re.findall(rf"{re.escape(op.sign)}|\d+/\d+|\d+(?:\.\d+)?|\.\d+|\\d?frac\{{\d+\}}\{{\d+\}}|[()+\-]|\S",
                        query)
    pos = 0

    def take(t=None):
        nonlocal pos
        if pos >= len(tokens) or (t is not None and tokens[pos] != t):
            raise SolveError("the twin cannot read the query")
        pos += 1
        return tokens[pos - 1]

    def operand():
        t = take()
        if t == "(":
            v = total()
            take(")")
            return v
        if t == "-":
            return -operand()
        frac = re.fullmatch(r"\\d?frac\{(\d+)\}\{(\d+)\}|(-?\d+)/(\d+)", t)
        if frac:
            top, bottom = (frac.group(1), frac.group(2)) if frac.group(1) else (frac.group(3), frac.group(4))
            return mpmath.mpf(top) / mpmath.mpf(bottom)
        if re.fullmatch(_NUMBER, t):
            return mpmath.mpf(t)
        raise SolveError("the twin cannot read the query")

    def expr():
        v = operand()
        while pos < len(tokens) and tokens[pos] == op.sign:
            take()
            w = operand()
            f = sp.lambdify((op.a, op.b), op.body, "mpmath")
            v = f(v, w)
        return v

    def total():    # applications added and subtracted: (7 @ 4) − (4 @ 7)
        v = expr()
        while pos < len(tokens) and tokens[pos] in "+-":
            sign = take()
            v = v + expr() if sign == "+" else v - expr()
        return v

    with mpmath.workdps(50):
        v = total()
        if pos != len(tokens):
            raise SolveError("the twin cannot read the query")
        return v


def check_operation(op: Operation, w: Worked) -> Step:
    with mpmath.workdps(50):
        if op.unknown is None:
            again = _twin(op, op.query)
            want = mpmath.mpmathify(sp.N(w.answer, 50))
            if abs(again - want) > mpmath.mpf(10) ** -30 * (1 + abs(want)):
                raise SolveError("the operation evaluated again disagrees")
            return Step(f"Check: {op.query} read again as a tree and evaluated in 50-digit floating point gives the "
                        "same value")
        left, right = op.query.split("=", 1)
        again = _twin(op, left.replace(op.unknown.name, f"({sp.N(w.answer, 50)})"))
        want = mpmath.mpmathify(sp.N(one(right), 50))
        if abs(again - want) > mpmath.mpf(10) ** -30 * (1 + abs(want)):
            raise SolveError("the value found does not satisfy the equation")
    return Step(f"Check: with {op.unknown} = {plain(w.answer)}, {left.strip()} evaluated in 50-digit floating point "
                f"is {plain(one(right))}")


_INTRO = r"(?:if |given )?(?:a new |the |let the )?operation (?P<op>⟦\d+⟧) (?:is |be )?defined (?:as|by)(?: follows)?"
_COND = (r"(?:if (?P<cond>⟦\d+⟧(?: and ⟦\d+⟧)?)\s*,?\s*|"
         r"for (?:each pair of|all) (?:real )?numbers (?P<cond2>⟦\d+⟧)\s*,?\s*)?")
_EXAMPLE = r"(?:for example,? (?P<ex>⟦\d+⟧)\s*[.,;]?\s*)?"
_ASK = rf"(?:then )?(?:{WHAT}|calculate|what is)(?: the (?:simplified )?value of)?"
_DEF = r"(?P<def>⟦\d+⟧(?:\s*=?\s*⟦\d+⟧)?)"
_FOR_ALL = r"(?:,? for all (?:real |positive )?(?:(?:numbers|values|integers)(?: (?:⟦\d+⟧|,|and|\s)+)?|" \
           r"⟦\d+⟧(?:,? and ⟦\d+⟧)))?"

_LEAD = (rf"{_COND}(?:{_INTRO}|define the operation (?P<op2>⟦\d+⟧)(?: as follows| by| as)?|define the operation|let|"
         rf"if|given|define)\s*:?\s*{_DEF}{_FOR_ALL}\s*[.,;]?\s*{_EXAMPLE}")

TASKS = (
    Task("operation", "values of an operation the problem defines, and the letter that makes one equal a number",
         phrasings=(
        (60, rf"{_LEAD}{_ASK} (?P<q>⟦\d+⟧)"),
        (60, rf"(?:if |given )?{_DEF} is defined as {_DEF.replace('def', 'def2')}\s*[.,;]?\s*{_ASK} (?P<q>⟦\d+⟧)"),
        (60, rf"define {_DEF} as {_DEF.replace('def', 'def2')}\s*[.,;]?\s*{_ASK} (?P<q>⟦\d+⟧)"),
        (60, rf"{_LEAD}if (?P<q>⟦\d+⟧)\s*,?\s*(?:then )?"
             rf"(?:find|what is|determine)(?: the value of)? (?P<v>⟦\d+⟧)"),
        (60, rf"(?:if |given )?{_DEF} is defined as {_DEF.replace('def', 'def2')}\s*[.,;]?\s*what is the value of "
             rf"(?P<v>⟦\d+⟧) for which (?P<q>⟦\d+⟧)"),),
        read=lambda g, s: read_operation(_merge(g), s), solve=solve_operation, check=check_operation,
        examples=((r"The operation $\star$ is defined as $a \star b = a + \frac{a}{b}$. What is the value of "
                   r"$12 \star 3$?", "16"),
                  (r"If $a>0$ and $b>0,$ a new operation $\nabla$ is defined as follows: $$a \nabla b = "
                   r"\frac{a + b}{1 + ab}.$$For example, $$3 \nabla 6 = \frac{3 + 6}{1 + 3 \times 6} = "
                   r"\frac{9}{19}.$$Calculate $(1 \nabla 2) \nabla 3.$", "1"),
                  (r"Let $a\star b = ab+2b-a$. If $5\star x = 37$, find the value of $x$.", "6"),
                  (r"If $A\ \clubsuit\ B$ is defined as $A\ \clubsuit\ B = 3A + 2B + 5$, what is the value of $A$ for "
                   r"which $A\ \clubsuit\ 4 = 58$?", "15"),
                  (r"If the operation $Z$ is defined as $a Z b = b + 10a - a^2$, what is the value of $2Z6$?", "22")),
        questions=((r"^\S+ \S+ \S+: put", "Which number takes the place of each letter in the definition?"),),
        data=Operation),
)


def _merge(g: dict) -> dict:
    """The phrasings' alternative groups under one name each: the sign named, the conditions."""
    return dict(g) | {"op": g.get("op") or g.get("op2"), "cond": g.get("cond") or g.get("cond2")}
