"""A sentence with its math taken out: `Sentence` puts a slot ⟦k⟧ where each `$…$` was, and the readers below turn
a slot's text into a number, a whole number, a variable, a list, a point or a vector through the safe parser, or
refuse it. Task phrasings are written with the pattern atoms here (A, B, V: a lazy run of words and slots).

The lowest module of the reading side: `tasks/` and `reader` build on it.
"""

from __future__ import annotations

import re

import sympy as sp

from .parse import ParseError, parse_math, parse_number, parse_one

SLOT = "\u27e6{}\u27e7"                      # ⟦0⟧ stands for the first math segment
SLOT_RE = re.compile("\u27e6(\\d+)\u27e7")
NUMBER_WORDS = {"two": 2, "binary": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "octal": 8, "nine": 9, "ten": 10, "decimal": 10, "eleven": 11, "twelve": 12, "sixteen": 16,
                 "hexadecimal": 16}


class Sentence:
    """The problem with its math segments replaced by slots, and the segments themselves."""

    def __init__(self, text: str):
        self.original = text
        text = re.sub(r"\\\[(.*?)\\\]|\$\$(.*?)\$\$|\\\((.*?)\\\)",
                      lambda m: "$" + next(g for g in m.groups() if g is not None) + "$", text, flags=re.S)
        self.math: list[str] = []

        def slot(m: re.Match) -> str:
            self.math.append(m.group(1))
            return " " + SLOT.format(len(self.math) - 1) + " "

        text = re.sub(r"\\\$", " ", text)    # \$30: a dollar sign, not math (the amount stays)
        text = _align_as_math(text)
        text = re.sub(r"(?<![\w.])\.\$(\s*\\overline)", r"$.\1", text)    # '.$\overline{28}$' is 0.282828…
        if text.count("$") % 2:
            raise ParseError("unbalanced $ in the problem")
        # "$11n \equiv 7 \pmod{43}$": the modulus is the sentence's ("… mod 43"), so phrasings can name it
        text = re.sub(r"\$([^$]*?)\s*\\pmod\s*(\{[^{}$]*\}|\d+|[a-zA-Z])[\s~]*([.,;:?!]?)[\s~]*\$",
                      lambda m: f"${m.group(1)}$ mod ${m.group(2).strip('{}')}${m.group(3)}", text)
        text = re.sub(r"\$([^$]*)\$", slot, text)
        text = re.sub(r"\\begin\{align\*?\}|\\end\{align\*?\}", " ", text)
        # outside $…$ nothing is typeset: '2^10' typed in the words is 2¹⁰ (inside, LaTeX's 2¹0 is a second reading)
        text = re.sub(r"\^(\d{2,})", r"^{\1}", text)
        self.text = " ".join(text.split())
        # punctuation that LaTeX writers leave inside the math ("$18^6.$", "$x,$") belongs to the sentence; a '!'
        # inside the math is a factorial ("$7!$", "$(8-3)!.$"), never punctuation
        self.math = [re.sub(r"[\s.,;:?]+$|^\s*:", "", m).strip() for m in self.math]

    def slot(self, groups: dict, key: str) -> str:
        """A pattern group's text with its math put back ('⟦0⟧ apples' -> '3x+1 apples')."""
        return self.restore(groups[key])

    def restore(self, s: str) -> str:
        return SLOT_RE.sub(lambda m: " " + self.math[int(m.group(1))] + " ", s).strip()


def _align_as_math(text: str) -> str:
    """A system written in an align block outside $…$ ('\\begin{align*} 3x-5y&=-11,\\\\ 7x+2y&=-12. \\end{align*}') as
    one piece of math, its equations separated by commas (the alignment marks dropped)."""
    out, last = [], 0
    for m in re.finditer(r"\\begin\{align\*?\}(.*?)\\end\{align\*?\}", text, flags=re.S):
        if text[:m.start()].count("$") % 2:   # inside math already
            continue
        rows = [r.replace("&", " ").strip(" ,.") for r in re.split(r"\\\\", m.group(1))]
        out += [text[last:m.start()], " $" + ", ".join(r for r in rows if r) + "$ "]
        last = m.end()
    return "".join(out) + text[last:]


def said_number(word: str, sentence: Sentence) -> sp.Expr:
    """A number a clause names: a word ('ten', 'octal'), digits, or math in a slot."""
    word = word.strip(" .,?")
    return sp.Integer(NUMBER_WORDS[word.lower()]) if word.lower() in NUMBER_WORDS else one(sentence.restore(word))


def base_value(word: str, sentence: Sentence) -> sp.Integer:
    b = said_number(word, sentence)   # every number word is a base from 2 to 16
    word = word.strip(" .,?")
    if not (b.is_Integer and 2 <= b <= 36):
        raise ParseError(f"a base must be a whole number from 2 to 36, got {word!r}")
    return b


def one(text: str, functions: dict | None = None) -> sp.Expr:
    return parse_one(text, functions, latex=True)


def number(text: str) -> sp.Expr:
    return parse_number(text, latex=True)


def exact_decimal(text: str) -> sp.Rational | None:
    """A plain decimal as written, exactly: '2.675' is 2675/1000, never the binary float just below it (which the
    parser's reading of a decimal gives). None for anything else."""
    t = text.strip().replace("$", "").replace(",", "").strip()
    return sp.Rational(t) if re.fullmatch(r"-?\d*\.\d+|-?\d+", t) else None


def integer(text: str) -> sp.Integer:
    v = number(text)
    if not v.is_Integer:
        raise ParseError(f"expected a whole number, got {text!r}")
    return v


def variable(text: str) -> sp.Symbol:
    v = one(text)
    if not isinstance(v, sp.Symbol):
        raise ParseError(f"expected a variable, got {text!r}")
    return v


def list_items(text: str) -> list[str]:
    """'12, 18 and 30' -> ['12', '18', '30']: a list written with commas and 'and'. A comma between digits and
    three more (9,009) is kept for the parser, which reads digit groups."""
    return [x for x in re.split(r"\s*(?:,\s*and\s+|(?<!\d),|,(?!\d{3}(?![\d.]))|\s+and\s+)\s*", text)
            if x.strip()]


# 'f(x) = 2x + 1': a function's name, its letter, its body
FUNCTION_DEFINITION = re.compile(r"\s*([a-zA-Z])\s*\(\s*([a-zA-Z])\s*\)\s*=\s*(.+)", re.S)


def calls(names: str) -> re.Pattern:
    """A call f(…) (or f\\left(…) of one of the named functions; the f of \\frac is a command's, not a call."""
    return re.compile(rf"(?<![A-Za-z\\])([{names}])\s*(?:\\left\s*)?\(")


def definitions(text: str) -> dict:
    """'f(x) = 2x+1 and g(x) = x^2' -> {'f': Lambda(x, 2x+1), 'g': …}. One may use another, defined before or after
    it ('t(x) = 3 − g(x) and g(x) = √x'): each is read once those it calls are; a name that is never defined stays
    unread, and a function's name left as a letter in a body (g read as g·x) is refused."""
    parts = {}
    for part in re.split(r"\s*(?:,?\s+and\s+|,|;)\s*", text):
        m = FUNCTION_DEFINITION.fullmatch(part)
        if not m:
            raise ParseError(f"expected a function definition like f(x) = 2x + 1, got {part!r}")
        if m.group(1) in parts:
            raise ParseError(f"{m.group(1)} is defined twice")
        parts[m.group(1)] = (sp.Symbol(m.group(2)), m.group(3))
    functions: dict = {}
    while len(functions) < len(parts):
        pending = calls("".join(n for n in parts if n not in functions))
        ready = [n for n, (_, body) in parts.items() if n not in functions and not pending.search(body)]
        if not ready:
            raise ParseError("the functions are defined in terms of each other in a circle")
        for name in ready:
            var, body = parts[name]
            functions[name] = sp.Lambda(var, one(body, functions))
    for name, f in functions.items():
        if {sp.Symbol(n) for n in parts} & f.expr.free_symbols - {f.variables[0]}:
            raise ParseError(f"a function's name is left as a letter in the definition of {name}")
        if f.expr.free_symbols and f.variables[0] not in f.expr.free_symbols:   # 'p(y) = x⁴ − 3x + 2'
            raise ParseError(f"the definition of {name} does not use its variable {f.variables[0]}")
    return functions


def words_of(pattern: str) -> set[str]:
    """The English words a phrasing's pattern reads (its group names left out): the reader's vocabulary."""
    return {w.lower() for w in re.findall(r"[A-Za-z]{2,}", re.sub(r"\(\?P<\w+>", "(", pattern))}


ATOM = "(?:\u27e6\\d+\u27e7|[^\u27e6\u27e7])"   # a slot is one atom: a lazy match never ends inside ⟦0⟧
A = rf"(?P<a>{ATOM}+?)"
B = rf"(?P<b>{ATOM}+?)"
V = rf"(?P<v>{ATOM}+?)"
WHAT = r"(?:what is|what's|find|compute|calculate|evaluate|determine)"
ORD = r"\S+(?: (?:st|nd|rd|th))?"   # '20th', 'eighth', '$100$th' (a slot, then its suffix)
SOLS = (r"(?:all )?(?:of )?(?:the )?(?:two )?(?:possible )?(?:real )?(?:(?:values|numbers) of " + V +
        r"|solutions|roots|(?:numbers )?(?P<v2>⟦\d+⟧)(?:\s*-values)?)"
        r"(?: that satisfy| which satisfy| of:?| to| for which| for| satisfying| such that)?(?: the equation)?")


ORDINALS = {w: i + 1 for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split())} | {
    "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60, "seventieth": 70, "eightieth": 80,
    "ninetieth": 90, "hundredth": 100, "thousandth": 1000}


def ordinal(text: str) -> int:
    """'eighth', '20th', '2003rd', '2003^{\\text{rd}}' -> the number; anything else is refused."""
    t = re.sub(r"\s+", "", text.lower())
    t = re.sub(r"\^\{?(?:\\(?:text|mathrm)\{)?(st|nd|rd|th)\}?\}?$", r"\1", t)
    m = re.fullmatch(r"(\d+)(st|nd|rd|th)", t)
    if m:
        n, suffix = int(m.group(1)), m.group(2)
        right = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        if suffix != right or n < 1:
            raise ParseError(f"can't read the ordinal {text!r}")
        return n
    if t in ORDINALS:
        return ORDINALS[t]
    raise ParseError(f"can't read the ordinal {text!r}")


def matrix_entries(text: str, kinds: str = "pbBvV") -> list[str] | None:
    """The entries of one row or one column written as a matrix (pmatrix, bmatrix, …), as text; None when the text
    is no such matrix, a ParseError when it has rows and columns."""
    m = re.fullmatch(rf"\s*\\begin\{{([{kinds}]?matrix)\}}(?P<body>.*?)\\end\{{\1\}}\s*", text, flags=re.S)
    if not m:
        return None
    rows = [r.split("&") for r in re.split(r"\\\\", m.group("body")) if r.strip()]
    if len(rows) > 1 and any(len(r) > 1 for r in rows):
        raise ParseError("expected a vector (one row or one column), got a matrix")
    return [e for r in rows for e in r]


def vector(text: str) -> list:
    """A column or row of numbers written as a matrix (pmatrix, bmatrix) or in brackets."""
    written = matrix_entries(text)
    if written is not None:
        entries = [number(e) for e in written]
        if len(entries) < 2:
            raise ParseError("a vector of numbers, at least two")
        return entries
    items = parse_math(text, latex=True)
    if len(items) != 1:
        raise ParseError(f"expected a vector, got {text!r}")
    v = items[0]
    if isinstance(v, sp.MatrixBase) and 1 in v.shape:
        entries = list(v)
    elif isinstance(v, (tuple, sp.Tuple)):
        entries = list(v)
    else:
        raise ParseError(f"expected a vector, got {text!r}")
    if len(entries) < 2 or any(sp.sympify(e).free_symbols for e in entries):
        raise ParseError("a vector of numbers, at least two")
    return [sp.sympify(e) for e in entries]


UNITS = {w: n for w, n in NUMBER_WORDS.items() if w not in ("binary", "octal", "decimal", "hexadecimal")}
TENS = {"ten": 10, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}


def whole(text: str) -> int:
    """A whole number in digits or in words up to the thousands ('one hundred', 'fifty', 'two thousand')."""
    words = text.strip().lower().replace("-", " ").split()
    if not words or not all(w in UNITS or w in TENS or w in ("one", "a", "hundred", "thousand")
                            for w in words):
        return int(integer(text))
    total, part = 0, 0
    for w in words:
        if w in ("hundred", "thousand"):
            part = (part or 1) * (100 if w == "hundred" else 1000)
            if w == "thousand":
                total, part = total + part, 0
        else:
            part += TENS.get(w) or (1 if w in ("one", "a") else UNITS[w])
    return total + part


def has_variable(text: str) -> bool:
    try:
        return bool(one(text).free_symbols)
    except ParseError:
        return False


def point(text: str) -> tuple:
    """'(2, -6)' -> (2, -6): two or three numbers in brackets."""
    items = parse_math(text, latex=True)
    if len(items) != 1 or not isinstance(items[0], (tuple, sp.Tuple)) or len(items[0]) not in (2, 3):
        raise ParseError(f"expected a point like (2, -6), got {text!r}")
    coords = tuple(sp.sympify(c) if not isinstance(c, sp.Basic) else c for c in items[0])
    if any(c.free_symbols or not c.is_real for c in coords):
        raise ParseError(f"expected a point with real number coordinates, got {text!r}")
    return coords


def has_dots(text: str) -> bool:
    return any(d in text for d in ("…", "\\dots", "\\cdots", "\\ldots", "..."))


def plain_series(text: str) -> str:
    t = re.sub(r"\\[lc]?dots|\.\.\.", "…", text)
    return t.replace("$", " ")
