"""Matrices and vectors written out in LaTeX: sums, scalar multiples, products and whole powers
('Compute 3(2, −8) − 2(1, −7)', a 2×2 times a 2×2, a rotation matrix to the 6th power), determinants (a vmatrix,
'the determinant of …'), cross products and inverses.

The expression is read by a small grammar of its own (matrices, numbers, + − · × juxtaposition, ^n, brackets);
anything else in it is refused. Solved with SymPy's matrices; checked by a naive twin: the same expression
evaluated again with plain loops in 50-digit floating point (row-times-column products, cofactor determinants).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import mpmath
import sympy as sp

from ..parse import ParseError, parse_number
from ..sentence import WHAT, A, B, Sentence
from .base import NotMine, SolveError, Step, Task, Worked

_ENV = re.compile(r"\\begin\{([pbBvV]?matrix)\}(.*?)\\end\{\1\}", re.S)
_NUM = re.compile(r"\\[dt]?frac\s*\{[^{}]*\}\s*\{[^{}]*\}|\d+(?:\.\d+)?|\.\d+")
_SKIP = re.compile(r"\s+|\\[,;!: ]|\\left|\\right(?=[)\]])")
_MAX = 12                 # the largest dimension read


@dataclass(frozen=True)
class MatrixExpr:
    # ("m", Matrix) | ("n", number) | ("det", t) | ("neg", t) | ("^", t, k) | ("+" | "-" | "*", a, b), or for a
    # cross product ("cross", u, v)
    tree: tuple
    what: str = "value"   # value | det | cross | inverse


def _grid(body: str) -> sp.ImmutableMatrix:
    rows = [r for r in re.split(r"\\\\", body) if r.strip()]
    cells = [[c.strip() for c in r.split("&")] for r in rows]
    if not cells or len({len(r) for r in cells}) != 1 or len(cells) > _MAX or len(cells[0]) > _MAX:
        raise ParseError("a matrix needs rows of equal length")
    m = sp.ImmutableMatrix([[parse_number(c, latex=True) for c in r] for r in cells])
    if any(v.free_symbols for v in m):
        raise ParseError("the matrix entries must be numbers")
    return m


def _tokens(text: str) -> list:
    out, i = [], 0
    while i < len(text):
        skip = _SKIP.match(text, i)
        if skip and skip.end() > i:
            i = skip.end()
            continue
        env = _ENV.match(text, i)
        num = _NUM.match(text, i)
        power = re.match(r"\^\s*(?:\{\s*(-?\d+)\s*\}|(\d))", text[i:])
        op = re.match(r"\\cdot|\\times|[-+()]|\\det", text[i:])
        if env:
            out.append(("det" if env.group(1).lower() == "vmatrix" else "m", _grid(env.group(2))))
            i = env.end()
        elif num:
            out.append(("n", parse_number(num.group(0), latex=True)))
            i = num.end()
        elif power:
            out.append(("^", int(power.group(1) or power.group(2))))
            i += power.end()
        elif op:
            out.append((op.group(0), None))
            i += op.end()
        else:
            raise ParseError(f"can't read {text[i:i + 12]!r} in a matrix expression")
    return out


class _Reader:
    """expr := term (± term)*;  term := factor ((· | × | nothing) factor)*;  factor := −factor | atom (^k)?"""

    def __init__(self, tokens: list):
        self.t, self.i = tokens, 0

    def peek(self):
        return self.t[self.i][0] if self.i < len(self.t) else None

    def take(self):
        self.i += 1
        return self.t[self.i - 1]

    def expr(self):
        node = self.term()
        while self.peek() in ("+", "-"):
            node = (self.take()[0], node, self.term())
        return node

    def term(self):
        node = self.factor()
        while self.peek() in ("\\cdot", "\\times", "m", "n", "(", "det", "\\det"):
            if self.peek() in ("\\cdot", "\\times"):
                self.take()
            node = ("*", node, self.factor())
        return node

    def factor(self):
        if self.peek() == "-":
            self.take()
            return ("neg", self.factor())
        kind, value = self.take() if self.peek() else (None, None)
        if kind == "(":
            node = self.expr()
            if self.peek() != ")":
                raise ParseError("a bracket is not closed")
            self.take()
        elif kind == "\\det":
            node = ("det", self.factor())
        elif kind in ("m", "n"):
            node = (kind, value)
        elif kind == "det":
            node = ("det", ("m", value))
        else:
            raise ParseError("expected a matrix or a number")
        if self.peek() == "^":
            node = ("^", node, self.take()[1])
        return node


def read_tree(text: str) -> tuple:
    if not _ENV.search(text):
        raise NotMine("no matrix written")
    r = _Reader(_tokens(text))
    tree = r.expr()
    if r.peek() is not None:
        raise ParseError("can't read the rest of the matrix expression")
    return tree


def _evaluate(tree, ops):
    """The tree evaluated with one arithmetic: `ops` gives add, mul, neg, power and det for its values."""
    kind = tree[0]
    if kind in ("m", "n"):
        return ops["leaf"](tree[1])
    if kind == "neg":
        return ops["neg"](_evaluate(tree[1], ops))
    if kind == "det":
        return ops["det"](_evaluate(tree[1], ops))
    if kind == "^":
        return ops["pow"](_evaluate(tree[1], ops), tree[2])
    a, b = _evaluate(tree[1], ops), _evaluate(tree[2], ops)
    return ops["add"](a, b) if kind == "+" else ops["add"](a, ops["neg"](b)) if kind == "-" else ops["mul"](a, b)


def _sympy_pow(a, k):
    if isinstance(a, sp.MatrixBase) and (a.rows != a.cols or abs(k) > 10 ** 4):
        raise SolveError("only a square matrix has powers")
    return a ** k


def _sympy_det(a):
    if not isinstance(a, sp.MatrixBase) or a.rows != a.cols:
        raise SolveError("a determinant needs a square matrix")
    return a.det(method="bareiss")


_SYMPY = {"leaf": lambda v: v, "neg": lambda a: -a, "add": lambda a, b: a + b, "mul": lambda a, b: a * b,
          "pow": _sympy_pow, "det": _sympy_det}


# ---- the naive twin: nested lists of 50-digit floats, explicit loops -------------------------------------------


def _lists(v):
    return [[mpmath.mpf(0) + mpmath.mpmathify(sp.N(x, 60)) for x in row] for row in v.tolist()] \
        if isinstance(v, sp.MatrixBase) else mpmath.mpmathify(sp.N(v, 60))


def _is_grid(a) -> bool:
    return isinstance(a, list)


def _twin_add(a, b):
    if _is_grid(a) != _is_grid(b):
        raise SolveError("a matrix and a number cannot be added")
    if not _is_grid(a):
        return a + b
    return [[x + y for x, y in zip(r, s)] for r, s in zip(a, b)]


def _twin_mul(a, b):
    if not _is_grid(a) and not _is_grid(b):
        return a * b
    if not _is_grid(a) or not _is_grid(b):
        k, m = (a, b) if not _is_grid(a) else (b, a)
        return [[k * x for x in r] for r in m]
    return [[sum((a[i][t] * b[t][j] for t in range(len(b))), mpmath.mpf(0)) for j in range(len(b[0]))]
            for i in range(len(a))]


def _twin_det(a):
    if len(a) == 1:
        return a[0][0]
    return sum(((-1) ** j * a[0][j] * _twin_det([r[:j] + r[j + 1:] for r in a[1:]]) for j in range(len(a))),
               mpmath.mpf(0))


def _twin_pow(a, k):
    if not _is_grid(a):
        return a ** k
    if k < 0:
        raise SolveError("negative powers of a matrix are not checked here")
    out = [[mpmath.mpf(int(i == j)) for j in range(len(a))] for i in range(len(a))]
    for _ in range(k):
        out = _twin_mul(out, a)
    return out


_TWIN = {"leaf": _lists, "neg": lambda a: _twin_mul(mpmath.mpf(-1), a), "add": _twin_add, "mul": _twin_mul,
         "pow": _twin_pow, "det": _twin_det}


def _close(exact, approx) -> bool:
    tol = mpmath.mpf(10) ** -35
    if isinstance(exact, sp.MatrixBase):
        return _is_grid(approx) and len(approx) == exact.rows and all(
            abs(mpmath.mpmathify(sp.N(exact[i, j], 60)) - approx[i][j]) <= tol * (1 + abs(approx[i][j]))
            for i in range(exact.rows) for j in range(exact.cols))
    return not _is_grid(approx) and abs(mpmath.mpmathify(sp.N(exact, 60)) - approx) <= tol * (1 + abs(approx))


# ---- the task ---------------------------------------------------------------------------------------------------


def read_matrix(g: dict, s: Sentence) -> MatrixExpr:
    if g.get("defs"):
        return read_named(g, s)
    if g.get("b"):
        return read_cross(g, s)
    if g.get("what") == "inverse":
        return read_inverse(g, s)
    if g.get("what") == "determinant":
        return MatrixExpr(("det", read_tree(s.slot(g, "a"))), "det")
    tree = read_tree(s.slot(g, "a"))
    return MatrixExpr(tree, "det" if tree[0] == "det" else "value")


_NAMED = re.compile(r"\s*\\mathbf\s*\{\s*([A-Za-z])\s*\}\s*=\s*(\\begin\{([pbB]?matrix)\}.*?\\end\{\3\})\s*", re.S)


def read_named(g: dict, s: Sentence) -> MatrixExpr:
    """'Let A = (matrix). Compute A¹⁰⁰': each named matrix put in, in brackets, where its name is written."""
    names = {}
    for k in re.findall(r"⟦(\d+)⟧", g["defs"]):
        m = _NAMED.fullmatch(s.math[int(k)])
        if not m:
            raise NotMine("not a matrix named with a letter")
        if m.group(1) in names:
            raise ParseError(f"the matrix {m.group(1)} is named twice")
        names[m.group(1)] = m.group(2)
    if re.sub(r"⟦\d+⟧|,|and|\s", "", g["defs"]):
        raise NotMine("not only named matrices")
    query = s.slot(g, "a")
    query = re.sub(r"\\mathbf\s*\{\s*([A-Za-z])(\s*\^\s*(?:\{[^{}]*\}|\w))?\s*\}",
                   lambda m: "\\mathbf{" + m.group(1) + "}" + (m.group(2) or ""), query)   # \mathbf{A^3}
    unknown = set(re.findall(r"\\mathbf\s*\{\s*([A-Za-z])\s*\}", query)) - set(names)
    if unknown:
        raise ParseError(f"the matrix {sorted(unknown)[0]} is not given")
    query = re.sub(r"\\mathbf\s*\{\s*([A-Za-z])\s*\}", lambda m: f"({names[m.group(1)]})", query)
    tree = read_tree(query)
    return MatrixExpr(tree, "det" if tree[0] == "det" else "value")


def read_cross(g: dict, s: Sentence) -> MatrixExpr:
    u, v = read_tree(s.slot(g, "a")), read_tree(s.slot(g, "b"))
    if u[0] != "m" or v[0] != "m" or u[1].shape != (3, 1) or v[1].shape != (3, 1):
        raise ParseError("a cross product of two column vectors with three entries")
    return MatrixExpr(("cross", u, v), "cross")


def read_inverse(g: dict, s: Sentence) -> MatrixExpr:
    m = read_tree(s.slot(g, "a"))
    if m[0] != "m" or m[1].rows != m[1].cols:
        raise ParseError("the inverse of a square matrix")
    return MatrixExpr(m, "inverse")


def solve_matrix(e: MatrixExpr) -> Worked:
    if e.what == "cross":
        u, v = e.tree[1][1], e.tree[2][1]
        value = sp.ImmutableMatrix(u.cross(v))
        return Worked(value, [Step("The cross product (u₂v₃ − u₃v₂, u₃v₁ − u₁v₃, u₁v₂ − u₂v₁)", value)])
    if e.what == "inverse":
        m = e.tree[1]
        det = m.det()
        if det == 0:
            raise SolveError("the matrix has determinant 0, so it has no inverse")
        value = sp.ImmutableMatrix(m.inv())
        return Worked(value, [Step("The determinant", det),
                              Step("The inverse: the adjugate over the determinant", value)])
    value = _evaluate(e.tree, _SYMPY)
    value = sp.ImmutableMatrix(value.applyfunc(sp.simplify)) if isinstance(value, sp.MatrixBase) else \
        sp.simplify(value)
    said = "Expand the determinant" if e.what == "det" else "Multiply and add entry by entry (row times column for " \
                                                            "a product)"
    return Worked(value, [Step(said, value)])


def check_matrix(e: MatrixExpr, w: Worked) -> Step:
    with mpmath.workdps(50):
        if e.what == "cross":
            u, v = (_lists(t[1]) for t in e.tree[1:])
            again = [[u[1][0] * v[2][0] - u[2][0] * v[1][0]], [u[2][0] * v[0][0] - u[0][0] * v[2][0]],
                     [u[0][0] * v[1][0] - u[1][0] * v[0][0]]]
            dot = [sum(x[0] * y[0] for x, y in zip(again, t)) for t in (u, v)]
            ok = _close(w.answer, again) and all(abs(d) < mpmath.mpf(10) ** -35 for d in dot)
            said = "the result is perpendicular to both vectors (dot products 0), and the components again"
        elif e.what == "inverse":
            m = _lists(e.tree[1])
            product = _twin_mul(m, _lists(w.answer))
            n = len(m)
            ok = all(abs(product[i][j] - (i == j)) < mpmath.mpf(10) ** -35 for i in range(n) for j in range(n))
            said = "the matrix times the inverse is the identity"
        else:
            again = _evaluate(e.tree, _TWIN)
            ok = _close(w.answer, again)
            said = "the same expression again with plain loops (" + (
                "cofactor expansion" if e.what == "det" else "row times column") + ") in 50-digit floating point"
    if not ok:
        raise SolveError("the matrix arithmetic failed its check")
    return Step("Check: " + said + " agrees")


_SLOT = r"(?P<a>⟦\d+⟧)"

TASKS = (
    Task("matrix", "sums, multiples, products, powers, determinants, cross products and inverses of matrices and "
         "vectors written out", phrasings=(
             (60, rf"(?:{WHAT}|simplify|find) (?:the (?:matrix|vector|product|sum) )?{_SLOT}"),
             (60, rf"(?:{WHAT} )?the (?P<what>determinant|inverse) of (?:the matrix )?{_SLOT}"),
             (60, rf"(?:{WHAT} )?the cross product of {A} and {B}"),
             (60, rf"(?:let|if|given) (?P<defs>⟦\d+⟧(?:\s*,?\s*(?:and )?⟦\d+⟧)*)\s*[.,;]?\s*(?:then )?(?:{WHAT}|find) "
                  rf"(?:the (?:matrix|vector) )?{_SLOT}")),
         read=read_matrix, solve=solve_matrix, check=check_matrix,
         examples=((r"Compute $\begin{pmatrix} 2 & 3 \\ 7 & -1 \end{pmatrix} \begin{pmatrix} 1 & -5 \\ 0 & 4 "
                    r"\end{pmatrix}$.", r"\begin{pmatrix} 2 & 2 \\ 7 & -39 \end{pmatrix}"),
                   (r"Compute $3 \begin{pmatrix} 2 \\ -8 \end{pmatrix} - 2 \begin{pmatrix} 1 \\ -7 \end{pmatrix}$.",
                    r"\begin{pmatrix} 4 \\ -10 \end{pmatrix}"),
                   (r"Compute \[\begin{vmatrix} 7 & 3 \\ -1 & 2 \end{vmatrix}.\]", "17"),
                   (r"Find the cross product of $\begin{pmatrix} 2 \\ 0 \\ 3 \end{pmatrix}$ and "
                    r"$\begin{pmatrix} 5 \\ -1 \\ 7 \end{pmatrix}.$", r"\begin{pmatrix} 3 \\ 1 \\ -2 \end{pmatrix}"),
                   (r"Let $\mathbf{A} = \begin{pmatrix} 2 & 3 \\ 0 & 1 \end{pmatrix}.$  Find $\mathbf{A}^{20} - 2 "
                    r"\mathbf{A}^{19}.$", r"\begin{pmatrix} 0 & 3 \\ 0 & -1 \end{pmatrix}")),
         questions=((r"^Multiply and add", "Which row and which column give this entry?"),
                    (r"^Expand the determinant", "What is ad − bc for a 2 × 2, or the expansion along a row?")),
         data=MatrixExpr),
)
