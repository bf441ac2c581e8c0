"""A safe parser for math as people type it: plain text, Unicode and common LaTeX, to SymPy objects.

Untrusted text never reaches `eval`, `sympify` or `parse_expr`: a whitelist lexer and a recursive-descent
parser build SymPy objects directly, so `__import__('os')` is simply not math. Sizes are bounded (length,
tokens, nesting, and integer powers/factorials whose result would be huge) so nothing can hang the parser.

Grammar (loosest first):
    list      := relation ((',' | ';' | 'or' | 'and') relation)*
    relation  := sum (relop sum)*                       chained: 1 < x < 3
    sum       := product (('+' | '-' | '±') product)*
    product   := unary (('*' | '/' | implicit) unary)*  implicit: 2x, 3(x+1), x y, 2 sqrt(x)
    unary     := ('-' | '+') unary | power
    power     := postfix ('^' unary)?                   right-associative; '**' is '^'
    postfix   := primary '!'*
    primary   := number | name | func arg | '(' list ')' | '[' list ']' | '{' list '}' | '|' sum '|'
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import sympy as sp

from ..errors import PhiflashError
from .equality import is_zero
from .readings import Ambiguous, all_readings, ask, choose, current, label_of


class ParseError(PhiflashError):
    """Text that is not math we can read; the message says where."""


class TooLarge(ParseError):
    """Math that is well formed but too large to compute exactly (9^(9^9), 100000!): still a reading of the text."""


MAX_CHARS, MAX_TOKENS, MAX_DEPTH, MAX_BITS = 2000, 600, 60, 20_000

FUNCTIONS = {
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "cot": sp.cot, "sec": sp.sec, "csc": sp.csc,
    "asin": sp.asin, "acos": sp.acos, "atan": sp.atan, "arcsin": sp.asin, "arccos": sp.acos, "arctan": sp.atan,
    "acot": sp.acot, "asec": sp.asec, "acsc": sp.acsc, "arccot": sp.acot, "arcsec": sp.asec, "arccsc": sp.acsc,
    "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh, "exp": sp.exp, "ln": sp.log, "log": sp.log,
    "sqrt": sp.sqrt, "abs": sp.Abs, "floor": sp.floor, "ceil": sp.ceiling,
}
CONSTANTS = {"pi": sp.pi, "oo": sp.oo, "inf": sp.oo, "infinity": sp.oo, "infty": sp.oo, "e": sp.E, "i": sp.I}
GREEK = {"alpha", "beta", "gamma", "delta", "theta", "phi", "lambda", "mu", "sigma", "omega", "tau", "rho",
         "epsilon", "psi", "eta", "zeta", "kappa", "nu", "xi", "chi"}
WORD_OPS = {"or", "and"}

_UNICODE = {
    "×": "*", "·": "*", "⋅": "*", "∙": "*", "÷": "/", "−": "-", "–": "-", "—": "-", "π": "pi", "∞": "oo",
    "≤": "<=", "≥": ">=", "≠": "!=", "⩽": "<=", "⩾": ">=", "√": "sqrt", "∛": "cbrt", "θ": "theta", "α": "alpha",
    "β": "beta", "λ": "lambda", "：": ":", "，": ",", "（": "(", "）": ")", "∨": " or ", "∧": " and ",
    "°": "^deg",   # 30° as LaTeX's 30^\circ
}
_VULGAR = {"½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅖": "2/5", "⅗": "3/5",
           "⅘": "4/5", "⅙": "1/6", "⅚": "5/6", "⅐": "1/7", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8", "⅞": "7/8",
           "⅑": "1/9", "⅒": "1/10"}
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


# ---- normalisation: Unicode and LaTeX to one plain syntax --------------------------------------------------------


def braced(s: str, i: int) -> tuple[str, int]:
    """The content of the balanced {…} group whose '{' is s[i], and the index after its '}'. The one brace
    scanner: LaTeX arguments here, \\boxed{…} in answers. Raises ParseError when the braces are unbalanced."""
    depth = 0
    for j in range(i, len(s)):
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        if depth == 0:
            return s[i + 1:j], j + 1
    raise ParseError("unbalanced braces in LaTeX")


def _group(s: str, i: int) -> tuple[str, int]:
    """The braced group starting at s[i] == '{' (or a single character), and the index after it."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        raise ParseError("a LaTeX command is missing its argument")
    if s[i] == "\\":  # a command as the argument: \frac\pi2
        m = re.match(r"\\[A-Za-z]+", s[i:])
        if m:
            return s[i:i + m.end()], i + m.end()
    if s[i] != "{":
        return s[i], i + 1
    return braced(s, i)


def _floor_and_ceiling_paired(s: str) -> None:
    """⌊x⌋ is the floor and ⌈x⌉ the ceiling; a bracket closed by the other kind (⌊x⌉, which some write for the
    nearest integer) is refused, not read by its opening half."""
    opened = []
    for m in re.finditer(r"\\([lr])(floor|ceil)(?![A-Za-z])", s):
        side, kind = m.groups()
        if side == "l":
            opened.append(kind)
        elif not opened or opened.pop() != kind:
            raise ParseError(f"'\\r{kind}' closes a bracket it does not open: ⌊x⌋ is the floor, ⌈x⌉ the ceiling")
    if opened:
        raise ParseError(f"a {opened[-1]} bracket is never closed")


def latex_to_plain(s: str) -> str:
    """Rewrite the LaTeX commands we understand into the plain syntax; unknown commands are an error later."""
    s = re.sub(r"\\(left|right|big|Big|bigg|Bigg|displaystyle|mathrm|mathit|mathbf|operatorname)(?![A-Za-z])",
               " ", s)
    s = re.sub(r"\\(text|textbf|mbox)\s*\{([^{}]*)\}", r" \2 ", s)
    s = re.sub(r"\\[,;:! ]|~|\\quad|\\qquad", " ", s)
    # LaTeX writes ≠ as \neq: '8!=40320' in LaTeX is 8! = 40320, a factorial equal to a number
    s = re.sub(r"([\d)}])!=", r"\1! =", s)
    s = s.replace("\\{", " SETOPEN ").replace("\\}", " SETCLOSE ").replace("\\%", "/100")
    out, i = [], 0
    while i < len(s):
        if s[i] != "\\":
            out.append(s[i])
            i += 1
            continue
        m = re.match(r"\\([A-Za-z]+)", s[i:])
        if not m:
            out.append(" ")
            i += 1
            continue
        name, i = m.group(1), i + m.end()
        if name in ("binom", "dbinom", "tbinom"):
            a, i = _group(s, i)
            b, i = _group(s, i)
            out.append(f" binomial(({latex_to_plain(a)}),({latex_to_plain(b)})) ")
        elif name == "log" and s[i:i + 1] == "_":
            base, i = _group(s, i + 1)
            out.append(f" logbase(({latex_to_plain(base)})) ")
        elif name in ("frac", "dfrac", "tfrac", "cfrac"):
            a, i = _group(s, i)
            b, i = _group(s, i)
            out.append(f"(({latex_to_plain(a)})/({latex_to_plain(b)}))")
        elif name == "sqrt":
            n = None
            if i < len(s) and s[i] == "[":
                j = s.index("]", i)
                n, i = s[i + 1:j], j + 1
            a, i = _group(s, i)
            a = latex_to_plain(a)
            out.append(f"sqrt(({a}))" if n is None else f"root(({a}),({latex_to_plain(n)}))")
        else:
            out.append({"cdot": "*", "times": "*", "div": "/", "pm": "±", "mp": "∓", "le": "<=", "leq": "<=",
                        "ge": ">=", "geq": ">=", "ne": "!=", "neq": "!=", "infty": "oo", "to": "->",
                        "rightarrow": "->", "cup": " ∪ ", "lt": "<", "gt": ">", "circ": "deg",
                        "dots": " … ", "ldots": " … ", "cdots": " … ", "lim": " lim ", "int": " ∫ ",
                        "lfloor": " floor( ", "rfloor": " ) ", "lceil": " ceil( ", "rceil": " ) ",
                        }.get(name, f" {name} "))
    return "".join(out).replace("{", "(").replace("}", ")")


def normalise(text: str, latex: bool = False) -> str:
    """Unicode and LaTeX to the plain syntax (does not parse). With latex=True (math from `$…$`) braces group,
    as in LaTeX, even when no backslash command appears."""
    if len(text) > MAX_CHARS:
        raise ParseError(f"input is longer than {MAX_CHARS} characters")
    s = re.sub(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+", lambda m: "^(" + m.group(0).translate(_SUPERSCRIPTS) + ")", text)
    s = s.translate(_SUBSCRIPTS)
    # ½, 1½: a vulgar fraction, and after a whole number a mixed number (1½ is 3/2, never 1·½)
    s = re.sub(rf"(\d+)\s*([{''.join(_VULGAR)}])", lambda m: f"({m.group(1)}+{_VULGAR[m.group(2)]})", s)
    s = re.sub(rf"[{''.join(_VULGAR)}]", lambda m: f"({_VULGAR[m.group(0)]})", s)
    for k, v in _UNICODE.items():
        s = s.replace(k, v)
    # 10 % 3 is a programmer's remainder; as written here it would be 10/100 times 3
    if re.search(r"\d\s*%\s*[\d(]", s):
        raise ParseError("'%' between two numbers: write 'a mod b' for a remainder, or '10% of 3' for a percent")
    # 0.666... and 0.1(6)... are repeating decimals when the digits show their cycle at least twice
    s = re.sub(r"(?<![\w.])(\d*)\.(\d+)(?:\.\.\.|…)", _dotted_repeating, s)
    s = s.replace("$", " ").replace("%", "/100").replace("...", " … ")
    s = _arithmetic_words(s)
    s = _plus_minus(s)
    s = _digit_groups(s)
    # \cos^{-1} x and sin^-1(x) are the inverse functions, never 1/cos x (the competition and calculator notation)
    s = re.sub(r"(\\?)(sin|cos|tan|cot|sec|csc)\s*\^\s*(?:\{\s*-\s*1\s*\}|\(\s*-\s*1\s*\)|-\s*1(?![\d.]))",
               r"\1arc\2", s)
    # 912,\!673 and 14{,}916: thousands separators inside one number, before ',' can mean a list
    # (the integer part's only: in 66.5,\!666 the separator follows a decimal point, which no number has)
    if re.search(r"\d\.\d+(?:,\\!|\{,\}|,\\,)\s*\d", s):
        raise ParseError("a thousands separator after a decimal point: the number cannot be read")
    s = re.sub(r"\b\d{1,3}(?:(?:,\\!|\{,\}|,\\,)\s*\d{3})+(?!\d)", lambda m: re.sub(r"\D", "", m.group(0)), s)
    # 9,009 and 14,014: plain commas between groups of three digits
    s = re.sub(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?![\d.]|,\d)", _comma_groups, s)
    # 0.1\overline{23}: a repeating decimal, as the exact fraction it is
    s = re.sub(r"(?<![\w.])(\d*)\.(\d*)\\overline\s*\{\s*(\d+)\s*\}", _repeating, s)
    # 0.(3) is 0.3 repeating; 0.1(6) also reads as 0.1·6, so it is refused with both readings
    s = re.sub(r"(?<![\w.])(\d*)\.()\((\d+)\)", _repeating, s)
    s = re.sub(r"(?<![\w.])(\d*)\.(\d+)\((\d+)\)", _repeating_or_product, s)
    # 4\dfrac{5}{8}: a mixed number is 4 + 5/8, never 4·5/8
    s = re.sub(r"(?<![\w.}^_])(\d+)\s*\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}",
               r"(\1+\2/\3)", s)
    # 1\frac12, the same without braces (one digit each, as LaTeX reads it): 1½, never 1·½
    s = re.sub(r"(?<![\w.}^_])(\d+)\s*\\[dt]?frac\s*(\d)\s*(\d)(?!\d)", r"(\1+\2/\3)", s)
    # log bases before numerals in bases: \log_28 is log base 2 of 8; log10(x), log_2(x)
    s = re.sub(r"(?<![A-Za-z\\])log_?\{?(\d+)\}?(?=\s*\()", r"logbase(\1)", s)
    s = re.sub(r"(?<![A-Za-z\\])log(10|2)(?=\s*\()", r"logbase(\1)", s)
    # log_2 8 and log_{10} x typed without parentheses: the base's subscript, then the argument
    s = re.sub(r"(?<![A-Za-z\\])log_\{?(\d+)\}?\s+(?=[\w(√])", r"logbase(\1) ", s)
    s = re.sub(r"\b(\d+)\s+choose\s+(\d+)\b", r"binomial(\1,\2)", s, flags=re.IGNORECASE)
    if re.search(r"\d[eE][-+]?\d", s):
        raise ParseError("scientific notation like 1e-3 is ambiguous here: write 10^(-3) or 0.001")
    s = BASE_NUMERAL.sub(_base_number, s)  # 52_8: a numeral in base 8
    if "\\" in s or latex:
        # in LaTeX an exponent without braces is one character ($5^65^w$ is typeset 5⁶5ʷ), where a typist means
        # 5^(65…): two readings, so the braces are asked for
        s = re.sub(r"\^\s*(\d)(\d+)", _latex_exponent, s)
        _floor_and_ceiling_paired(s)
        s = latex_to_plain(s)
    else:  # in plain text braces are set brackets, except the LaTeX-style group of an exponent: 2^{10}
        s = _exponent_groups(s).replace("{", " SETOPEN ").replace("}", " SETCLOSE ")
    s = s.replace("**", "^").replace("≤", "<=").replace("≥", ">=").replace("=<", "<=").replace("=>", ">=")
    return s


_ARITHMETIC_WORDS = [(r"plus\s+or\s+minus", "±"), (r"divided\s+by", "/"), (r"multiplied\s+by", "*"),
                     (r"times", "*"), (r"plus", "+"), (r"minus", "-"),
                     # '2 to the power of 10', '3 squared', '2 cubed', 'log base 2 of 32'
                     (r"(?:raised\s+)?to\s+the\s+(?:power\s+of\s+(\d+)|(\d+)(?:st|nd|rd|th)\s+power)", r"^{\1\2}"),
                     (r"(?:raised\s+)?to\s+the\s+power\s+of", "^"), (r"squared", "^2"), (r"cubed", "^3"),
                     (r"log\s+base\s+(\d+)\s+of", r"log_\1"), (r"(\d+(?:\.\d+)?)\s+percent", r"(\1/100)"),
                     (r"(?<=\d )factorial", "!"),
                     (r"(\d+(?:\.\d+)?)\s+degrees?", r"\1^deg"),
                     # 'the cube root of 27': of a number that ends the phrase ('the cube root of 27 plus 1' has
                     # two readings, and 'of 8x^3' would need a bracket)
                     (r"(?:the\s+)?square\s+root\s+of\s+(\d+(?:\.\d+)?)(?=\s*(?:[?.!,;)]|$))", r"sqrt(\1)"),
                     (r"(?:the\s+)?cube\s+root\s+of\s+(\d+(?:\.\d+)?)(?=\s*(?:[?.!,;)]|$))", r"cbrt(\1)")]


def _arithmetic_words(s: str) -> str:
    """'7 divided by 2', '3 times 4', '5 plus 1', '9 minus 2', '3 squared', '15 percent' as the operators they name
    ('minus' must never read as m·i·ν·s). LaTeX's \\times keeps its backslash and is read as LaTeX."""
    for words, op in _ARITHMETIC_WORDS:
        s = re.sub(rf"(?<![\\\w]){words}(?!\w)", f" {op} ", s, flags=re.IGNORECASE)
    return s


def _plus_minus(s: str) -> str:
    """+/- is ±, and so is +- where a value starts (x = +-3, +-2): after an operand, x+-3 is x + (-3)."""
    s = s.replace("+/-", "±")
    return re.sub(r"(^|[=(\[,{<>]|\bor\b|\band\b)(\s*)\+-", r"\1\2±", s)


_SPACES = "[ \u00a0\u202f]"


def _digit_groups(s: str) -> str:
    """Numbers written with spaces: 1 200 and 12 345 678 (groups of three digits) are one number. Any other two
    numbers side by side have two readings (2 3 is 23 or 2·3; 1 1/4 is 1 + 1/4 or 1/4) and are refused, never
    multiplied silently. LaTeX environments (matrices) are left alone."""
    if "\\begin" in s:
        return s
    s = re.sub(rf"(?<![\w.,/^])(\d{{1,3}})((?:{_SPACES}\d{{3}})+)(?![\w./]|{_SPACES}*[\d/])",
               lambda m: m.group(1) + re.sub(r"\D", "", m.group(2)), s)
    # (an exponent's digits are not a number of their own: \sin^2 20^\circ is sin²(20°))
    return re.sub(rf"(?<![\w.^_])(\d+(?:\.\d+)?){_SPACES}+(\d+(?:\.\d+)?)(\s*/\s*\d+)?", _side_by_side, s)


def _side_by_side(m: re.Match) -> str:
    """Two numbers side by side: 1 1/4 is the mixed number 1 + 1/4 or 1·1/4; 2 3 is 23 or 2·3. Both readings."""
    a, b, frac = m.group(1), m.group(2), m.group(3)
    if frac:
        c = frac.strip().lstrip("/").strip()
        k = choose(("mixed number", f"{a} {b}/{c}"), (f"{a} + {b}/{c}", f"{a}·{b}/{c}"))
        return f"({a}+{b}/{c})" if k == 0 else f"({a}*{b}/{c})"
    if "." in a + b:
        raise ParseError(f"'{a} {b}': two numbers side by side; write the operation between them")
    text, i = m.string, m.start()
    sign = "-" if i > 0 and text[i - 1] == "-" and (i == 1 or text[i - 2] in " (,=[{") else ""  # -3 3: a value's sign
    k = choose(("numbers side by side", f"{sign}{a} {b}"),
               (f"{sign}{a}{b}", f"{sign}{a}·{b}", f"{sign}{a}, {b} (two values)"))
    return f"{a}{b}" if k == 0 else f"({a}*{b})" if k == 1 else f"{a}, {b}"


def _exponent_groups(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        if s[i] == "^" and s[i + 1:i + 2] == "{":
            inner, i = braced(s, i + 1)
            out.append(f"^({_exponent_groups(inner)})")
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


# 52_8, 52_{8}: a numeral written in a base
BASE_NUMERAL = re.compile(r"\b([0-9A-Za-z]+)_\{?(\d+)\}?")


def _base_number(m: re.Match) -> str:
    digits, base = m.group(1), int(m.group(2))
    if not digits.isdigit() and not (digits.isupper() and digits.isalnum()):
        return m.group(0)  # x_1 or log_2 is no numeral; hex-style digits are capitals (A3_{16})
    try:
        return f"({int(digits, base)})" if 2 <= base <= 36 else m.group(0)
    except ValueError:
        return m.group(0)


# ---- lexer ------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?|\.\d+)|(?P<name>[A-Za-z]+)"
                    r"|(?P<op><=|>=|!=|==|->|[-+*/^()\[\],;=<>|!±∓∪…]))")


@dataclass(frozen=True)
class Tok:
    kind: str  # num | name | op | end
    text: str
    pos: int


def lex(s: str) -> list[Tok]:
    toks, i = [], 0
    s = s.rstrip()
    while i < len(s):
        m = _TOKEN.match(s, i)
        if not m or m.end() == i:
            j = len(s[:i]) + len(s[i:]) - len(s[i:].lstrip())
            raise ParseError(f"unexpected character {s[j]!r} at position {j + 1}")
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "name":
            toks.extend(_split_name(text, m.start(kind)))
        else:
            toks.append(Tok(kind, text, m.start(kind)))
        i = m.end()
        if len(toks) > MAX_TOKENS:
            raise ParseError(f"input has more than {MAX_TOKENS} tokens")
    toks.append(Tok("end", "", len(s)))
    return toks


_SPECIAL = {"root", "cbrt", "binomial", "logbase"}
_RADICALS = {"sqrt", "root", "cbrt"}
_TRANSCENDENTAL = (set(FUNCTIONS) | {"logbase", "binomial"}) - _RADICALS
_WORDS = set(FUNCTIONS) | set(CONSTANTS) | GREEK | WORD_OPS | _SPECIAL | {"deg", "SETOPEN", "SETCLOSE"}
_INNER = sorted((w for w in set(FUNCTIONS) | set(CONSTANTS) | GREEK | _SPECIAL if len(w) > 1),
                key=len, reverse=True)
# Short English words that would otherwise read as products of one-letter variables ("of" as o·f).
ENGLISH = {
    "an", "as", "at", "be", "by", "do", "go", "he", "if", "in", "is", "it", "me", "my", "no", "of", "on", "so",
    "to", "up", "us", "we", "am", "are", "can", "did", "few", "for", "get", "got", "had", "has", "her", "him",
    "his", "how", "its", "let", "may", "not", "now", "off", "one", "our", "out", "own", "per", "put", "run",
    "say", "see", "set", "she", "the", "too", "two", "use", "was", "way", "who", "why", "yes", "yet", "you",
    "all", "any", "but", "each", "what", "when", "find", "then", "than", "that", "this", "with", "from",
    "add", "ten", "six", "new", "end", "try", "big", "old", "day", "age",   # "Add $4_6 + 14_6$" is no A·d·d
}
# Names of operations and functions this parser does not evaluate: read as letters they would be products of
# variables ("17 mod 5" as 85·m·o·d), so they are refused, never guessed at.
UNREAD_MATH = {"mod", "bmod", "pmod", "div", "rem", "gcd", "lcm", "max", "min", "sup", "lim", "det", "dim", "ker",
               "arg", "sgn", "mid", "deg", "sum", "prod", "int", "avg"} - set(FUNCTIONS) - set(CONSTANTS)
MAX_LOOSE = 3  # 'xy', 'abc' are products; a longer run of letters ('banana') is a word, not math


def _split_name(word: str, pos: int) -> list[Tok]:
    """'xy' -> x, y; 'sinx' -> sin, x; known words stay whole. A run of more than MAX_LOOSE loose letters, or a
    short English word, is refused: English is never read as a product of variables."""
    if word in _WORDS:
        return [Tok("name", word, pos)]
    if word.lower() in ENGLISH or word.lower() in UNREAD_MATH:
        raise ParseError(f"unknown word {word!r} at position {pos + 1}")
    out, run, i = [], "", 0
    while i < len(word):
        k = next((k for k in _INNER if word.startswith(k, i)), None) if len(word) > 2 else None
        if k is None:
            k = word[i]
            run += k
            if len(run) > MAX_LOOSE:
                raise ParseError(f"unknown word {word!r} at position {pos + 1}")
        else:
            run = ""
        out.append(Tok("name", k, pos + i))
        i += len(k)
    return out


# ---- parser -----------------------------------------------------------------------------------------------------


class Alternatives(tuple):
    """Several answers written as one (x = 1 ± 2); parse_math flattens them into its list."""


@dataclass(frozen=True)
class PlusMinus:
    """a ± b, carried through arithmetic as its two values, so answer checking can test both."""
    plus: sp.Expr
    minus: sp.Expr

    def values(self) -> list[sp.Expr]:
        return [self.plus, self.minus]

    def map(self, f) -> PlusMinus:
        return PlusMinus(f(self.plus), f(self.minus))


class _Parser:
    def __init__(self, toks: list[Tok], symbols: dict[str, sp.Symbol], functions: dict | None = None,
                 src: str = ""):
        self.toks, self.i, self.depth, self.symbols, self.src = toks, 0, 0, symbols, src
        self.functions = functions or {}
        self.lazy = 0  # > 0 inside the exponent of 1

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> Tok:
        t = self.tok
        if text is not None and t.text != text:
            found = t.text or "end of input"
            raise ParseError(f"expected {text!r} at position {t.pos + 1}, found {found!r}")
        self.i += 1
        return t

    def nest(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("expression is nested too deeply")

    # list := relation ((',' | ';' | 'or' | 'and') relation)*
    def parse_list(self, closers=("end",)) -> list:
        items = [self.parse_union()]
        while self.tok.text in (",", ";", "or", "and"):
            self.take()
            if self.tok.text in closers or self.tok.kind in closers:
                break
            items.append(self.parse_union())
        return items

    def parse_union(self):
        """relation ('∪' relation)*: intervals and sets joined into one Union."""
        first = self.parse_relation()
        if self.tok.text != "∪":
            return first
        parts = [first]
        while self.tok.text == "∪":
            self.take()
            parts.append(self.parse_relation())
        return sp.Union(*[_as_set(p) for p in parts])

    def parse_relation(self):
        left = self.parse_sum()
        rels = []
        while self.tok.text in ("=", "==", "<", ">", "<=", ">=", "!="):
            op = self.take().text
            right = self.parse_sum()
            if isinstance(right, PlusMinus) and op in ("=", "==") and not rels:
                return Alternatives(_relation(op, left, v) for v in right.values())
            rels.append(_relation(op, left, right))
            left = right
        if not rels:
            return left
        return rels[0] if len(rels) == 1 else sp.And(*rels)

    def parse_sum(self):
        left = self.parse_product()
        while self.tok.text in ("+", "-", "±", "∓"):
            op = self.take().text
            right = self.parse_product()
            if op in ("±", "∓"):
                if isinstance(left, PlusMinus) or isinstance(right, PlusMinus):
                    raise ParseError("more than one ± in one expression")
                a, b = _expr(left), _expr(right)
                left = PlusMinus(a + b, a - b) if op == "±" else PlusMinus(a - b, a + b)
            else:
                left = _arith(left, right, op)
        return left

    def _starts_primary(self) -> bool:
        t = self.tok
        return t.kind in ("num", "name") and t.text not in WORD_OPS | {"SETCLOSE"} or t.text in ("(", "[")

    def parse_product(self):
        start = self.tok.pos
        left = self.parse_unary()
        while True:
            if self.tok.text in ("*", "/"):
                slash = self.tok.pos
                op = self.take().text
                right = self.parse_unary()
                if op == "/" and self._starts_primary():  # 1/2x: (1/2)·x or 1/(2x), both honest readings
                    left = self._division_run(start, slash, left, right)
                    continue
            elif self._starts_primary():
                op, right = "*", self.parse_unary()
            else:
                return left
            left = _arith(left, right, op)

    def _division_run(self, start: int, slash: int, left, right):
        """a/b c…: the implicit product after a division either follows it, (a/b)·c, or is its denominator,
        a/(b·c); both are read and `choose` decides nothing by itself."""
        at = self.tok.pos
        run = _expr(self.parse_unary())
        while self._starts_primary():
            run = run * _expr(self.parse_unary())
        a, b, c = (self.src[i:j].strip() for i, j in ((start, slash), (slash + 1, at), (at, self.tok.pos)))
        k = choose(("division", self.src[start:self.tok.pos].strip()), (f"({a}/{b})·{c}", f"{a}/({b}·{c})"))
        return _arith(_arith(left, right, "/"), run, "*") if k == 0 else _arith(left, _arith(right, run, "*"), "/")

    def parse_unary(self):
        if self.tok.text in ("±", "∓"):  # ±2
            self.take()
            v = _expr(self.parse_unary())
            return PlusMinus(v, -v)
        if self.tok.text in ("-", "+"):
            return self._signed(self.parse_unary)
        return self.parse_power()

    def _signed(self, operand):
        """'-' or '+' in front of what `operand` reads (signs may repeat: - -2)."""
        op = self.take().text
        self.nest()
        v = operand()
        self.depth -= 1
        return _arith(0, v, "-") if op == "-" else v

    def _function_argument(self):
        """sin x, sqrt 2, \\log_2 8\\sqrt{2}: without parentheses the argument is the implicit product that
        follows (the textbook convention: sin 2x = sin(2x)), up to an explicit operator or the next function."""
        arg = _expr(self.parse_power())
        while self._starts_primary() and self.tok.text not in _TRANSCENDENTAL and self.tok.text != "(":
            arg = arg * _expr(self.parse_power())
        return arg

    def parse_power(self):
        start = self.tok.pos
        base = self.parse_postfix()
        if self.tok.text != "^":
            return base
        one = base == 1
        self.lazy += one  # inside the exponent of 1 nothing is computed: 1^(2^235423523)
        exps, texts = [], [self.src[start:self.tok.pos].strip()]
        while self.tok.text == "^":
            self.take()
            at = self.tok.pos
            self.nest()
            exps.append(self._exponent())
            self.depth -= 1
            texts.append(self.src[at:self.tok.pos].strip())
        self.lazy -= one
        if exps == [_DEG]:  # 90^\circ
            return _expr(base) * sp.pi / 180
        base, exps = _expr(base), [_expr(e) for e in exps]
        lazy = self.lazy > 0 or one
        if len(exps) > 1:  # 2^3^2: 2^(3^2) as mathematicians read it, or (2^3)^2 as calculators do
            left = f"{texts[0]}^{texts[1]}"
            for t in texts[2:]:
                left = f"({left})^{t}"
            right = "^(".join(texts[:-1]) + "^" + texts[-1] + ")" * (len(texts) - 2)
            if choose(("power tower", "^".join(texts)), (right, left)) == 1:
                for e in exps:
                    base = safe_pow(base, e, lazy=lazy)
                return base
        v = exps[-1]
        for e in reversed(exps[:-1]):
            v = safe_pow(e, v, lazy=lazy)
        return safe_pow(base, v, lazy=lazy)

    def _exponent(self):
        """One level of a power tower: signs, then a postfix term (x^-2, 2^3!)."""
        if self.tok.text in ("-", "+"):
            return self._signed(self._exponent)
        return self.parse_postfix()

    def parse_postfix(self):
        v = self.parse_primary()
        while self.tok.text == "!":
            self.take()
            v = _expr(v)
            if v.is_Integer and v > 5000:
                raise TooLarge("factorial argument too large")
            if v.is_number and not (v.is_Integer and v >= 0):   # 2.5! would be Γ(3.5), a reading nobody means
                raise ParseError(f"the factorial of {sp.sstr(v)}: n! is for whole numbers n ≥ 0")
            v = sp.factorial(v)
        if self.tok.text == "deg":
            self.take()
            v = _expr(v) * sp.pi / 180
        return v

    def parse_primary(self):
        t = self.tok
        self.nest()
        try:
            if t.kind == "num":
                self.take()
                if "." not in t.text:
                    return sp.Integer(t.text)
                return sp.Float(t.text) if _DECIMALS_WRITTEN.get() else sp.Rational(t.text)   # 0.1 is 1/10
            if t.text == "(":
                self.take()
                items = self.parse_list(closers=(")", "]"))
                close = self.take().text if self.tok.text in (")", "]") else self.take(")")
                return _bracketed("(", items, close)
            if t.text == "[":
                self.take()
                items = self.parse_list(closers=(")", "]"))
                close = self.take().text if self.tok.text in (")", "]") else self.take("]")
                return _bracketed("[", items, close)
            if t.text == "SETOPEN":
                self.take()
                if self.tok.text == "SETCLOSE":
                    self.take()
                    return sp.EmptySet
                items = self.parse_list(closers=("SETCLOSE",))
                self.take("SETCLOSE")
                values = []
                for x in items:
                    values.extend(x.values() if isinstance(x, PlusMinus) else [_expr(x)])
                return sp.FiniteSet(*values)
            if t.text == "|":
                self.take()
                v = self.parse_sum()
                self.take("|")
                return sp.Abs(_expr(v))
            if t.kind == "name":
                return self._name()
            raise ParseError(f"unexpected {t.text or 'end of input'!r} at position {t.pos + 1}")
        finally:
            self.depth -= 1

    def _name(self):
        t = self.take()
        name = t.text
        if name == "logbase":  # logbase(b) arg: the base was read from log_b / log10
            self.take("(")
            base = _expr(self.parse_sum())
            self.take(")")
            arg = self._function_argument()
            if base.is_number and (base <= 0 or base == 1):
                raise ParseError(f"a logarithm's base must be positive and not 1, got {base}")
            return sp.log(arg, base)
        if name in FUNCTIONS or name in ("root", "cbrt", "binomial"):
            power = None
            if self.tok.text == "^" and name not in ("sqrt", "root", "cbrt"):  # sin^2 x
                self.take()
                power = _expr(self.parse_primary())
            if self.tok.text == "(":
                self.take()
                args = [_expr(a) for a in self.parse_list(closers=(")",))]
                self.take(")")
            elif name in _RADICALS:  # √2 i is i·√2: a radical sign covers the next factor only
                args = [_expr(self.parse_power())]
            else:
                args = [self._function_argument()]
            if name == "log" and len(args) == 1:  # ln to a mathematician, log₁₀ to a student's calculator
                k = choose(("log without a base", "log"), ("ln (base e)", "log₁₀ (base 10)"))
                value = sp.log(args[0]) if k == 0 else sp.log(args[0], 10)
            else:
                value = _call(name, args)
            return safe_pow(value, power) if power is not None else value
        if name in CONSTANTS and name not in self.symbols:  # a letter the problem named (roots d and e) stays one
            return CONSTANTS[name]
        if name in self.functions and self.tok.text == "(":  # f(2) for a function the problem defined
            self.take()
            args = [_expr(a) for a in self.parse_list(closers=(")",))]
            self.take(")")
            return self.functions[name](*args)
        if name == "deg":
            return _DEG
        if name in WORD_OPS or name == "SETCLOSE":
            raise ParseError(f"unexpected {name!r} at position {t.pos + 1}")
        if len(name) > 1 and name not in GREEK:
            raise ParseError(f"unknown word {name!r} at position {t.pos + 1}")
        return self.symbols.setdefault(name, sp.Symbol(name))


_DEG = sp.Symbol("°")



def _as_set(v) -> sp.Set:
    if isinstance(v, sp.Set):
        return v
    if isinstance(v, sp.Tuple) and len(v) == 2:
        return sp.Interval.open(*v)
    raise ParseError(f"∪ joins sets or intervals, not {v}")


def _relation(op, a, b):
    a, b = _expr(a), _expr(b)
    return {"=": sp.Eq, "==": sp.Eq, "<": sp.Lt, ">": sp.Gt, "<=": sp.Le, ">=": sp.Ge, "!=": sp.Ne}[op](
        a, b, evaluate=False)


def _expr(v):
    if isinstance(v, PlusMinus):
        raise ParseError("± can only appear in an answer, not inside a larger expression")
    if isinstance(v, sp.Expr):
        if v == _DEG:
            raise ParseError("a degree sign needs a number before it")
        return v
    raise ParseError(f"expected an expression, found {v}")


def _arith(a, b, op):
    if isinstance(a, PlusMinus) and isinstance(b, PlusMinus):
        raise ParseError("more than one ± in one expression")
    if isinstance(a, PlusMinus):
        return a.map(lambda v: _arith(v, b, op))
    if isinstance(b, PlusMinus):
        return b.map(lambda v: _arith(a, v, op))
    a, b = sp.Integer(a) if isinstance(a, int) else _expr(a), _expr(b)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise ParseError("division by zero")
    return a / b


def safe_pow(base: sp.Expr, exp: sp.Expr, lazy: bool = False) -> sp.Expr:
    """base**exp, refusing exact powers whose value would have more than MAX_BITS bits (9^9^9^9)."""
    if base == 1 and exp.is_finite is not False:
        return sp.Integer(1)
    if lazy:  # inside the exponent of 1: 1^(2^235423523) is 1 without computing 2^235423523
        return sp.Pow(base, exp, evaluate=False)
    if exp.is_Number and abs(exp) > 10 ** 6:
        raise TooLarge("exponent too large")
    if base.is_Number and exp.is_Number and not base.is_zero and abs(base) != 1:  # 0. is zero (Float(0) != 0)
        bits = abs(float(exp)) * abs(math.log2(abs(float(base)))) if base.is_finite else 0
        if bits > MAX_BITS:
            raise TooLarge("number too large to compute exactly")
    if exp.is_Rational and exp.q % 2 == 1 and exp.q > 1 and base.is_number and base.is_extended_negative:
        return _odd_root(base, exp.q) ** exp.p  # (−125)^(4/3) = 625, (−27)^(5/3) = −243: real, as in competitions
    return sp.Pow(base, exp)


def _odd_root(a: sp.Expr, n) -> sp.Expr:
    """The n-th root; of a negative number and odd n, the real one (∛−8 = −2), never SymPy's complex principal."""
    odd = int(n) % 2 == 1 if isinstance(n, int) or getattr(n, "is_Integer", False) else False  # root(-8, k): no
    if odd and a.is_number and a.is_extended_negative:
        return -sp.root(-a, n)
    return sp.root(a, n)


def _call(name: str, args: list[sp.Expr]) -> sp.Expr:
    if name == "root":
        if len(args) != 2:
            raise ParseError("root takes two arguments")
        return _odd_root(args[0], args[1])
    if name == "cbrt":
        return _odd_root(args[0], 3) if len(args) == 1 else _bad_arity(name)
    if name == "log" and len(args) == 2:
        return sp.log(args[0], args[1])
    if name == "binomial":
        if len(args) != 2:
            raise ParseError("binomial takes two arguments")
        if all(a.is_Integer for a in args) and args[0] > 10 ** 5:
            raise TooLarge("binomial argument too large")
        return sp.binomial(*args)
    if len(args) != 1:
        return _bad_arity(name)
    return FUNCTIONS[name](args[0])


def _bad_arity(name: str):
    raise ParseError(f"{name} takes one argument")


def _bracketed(open_: str, items: list, close: str):
    if len(items) == 1 and open_ == "(" and close == ")":
        return items[0]  # plain grouping (a relation or a PlusMinus pass through)
    if len(items) == 2 and (open_, close) != ("(", ")"):
        a, b = (_expr(x) for x in items)
        return sp.Interval(a, b, left_open=open_ == "(", right_open=close == ")")
    if open_ == "(" and close == ")":
        if len(items) == 2 and any(_expr(x).has(sp.oo, -sp.oo) for x in items):
            return sp.Interval.open(_expr(items[0]), _expr(items[1]))
        return sp.Tuple(*[_expr(x) if not isinstance(x, sp.Basic) else x for x in items])
    raise ParseError(f"cannot read {open_}…{close} with {len(items)} items")


def _comma_groups(m: re.Match) -> str:
    """1,200 is a number with a thousands separator or the list 1, 200: both readings. A group that starts with
    0 (9,009; 3,000) is never a list item, so there it is one number."""
    groups = m.group(0).split(",")
    if any(g.startswith("0") for g in groups[1:]):
        return "".join(groups)
    s, i, j = m.string, m.start(), m.end()
    if i > 0 and s[i - 1] in "([" and s[j:j + 1] in ")]":  # (12,102): a pair or an interval, never one number
        return ", ".join(groups)
    k = choose(("digit groups", m.group(0)), ("".join(groups), ", ".join(groups) + " (a list)"))
    return "".join(groups) if k == 0 else ", ".join(groups)


def _repeating_or_product(m: re.Match) -> str:
    """0.1(6): 0.1 then 6 repeating, or 0.1·6."""
    a, b, c = m.group(1) or "0", m.group(2), m.group(3)
    k = choose(("repeating decimal", m.group(0)), (f"{a}.{b} then {c} repeating ({_repeating(m)[1:-1]})",
                                                   f"{a}.{b}·{c}"))
    return _repeating(m) if k == 0 else f"({a}.{b}*{c})"


def _latex_exponent(m: re.Match) -> str:
    """In LaTeX an exponent without braces is one character ($5^65^w$ is typeset 5⁶5ʷ), where a typist means
    5^(65…)."""
    d, rest = m.group(1), m.group(2)
    k = choose(("unbraced exponent", m.group(0)), (f"^{d} then {rest} (as LaTeX typesets it)", f"^{{{d}{rest}}}"))
    return f"^{{{d}}}{rest}" if k == 0 else f"^{{{d}{rest}}}"


def _dotted_repeating(m: re.Match) -> str:
    """'0.1666...' -> '(1/6)': the shortest cycle the digits end with, written at least twice; '3.14...' (no
    cycle shown) is a value cut short, which is refused rather than rounded one way or the other."""
    whole, digits = m.group(1) or "0", m.group(2)
    for n in range(1, len(digits) // 2 + 1):
        cycle = digits[-n:]
        if digits.endswith(cycle * 2):
            fixed = digits[:-n]
            while fixed.endswith(cycle):
                fixed = fixed[:-n]
            value = sp.Rational(int(whole + fixed + cycle) - int(whole + fixed),
                                10 ** len(fixed) * (10 ** n - 1))
            return f"({value.p}/{value.q})"
    raise ParseError(f"'{m.group(0)}' is a decimal cut short with no repeating digits shown: write the value "
                     "exactly, or to the places the problem asks for")


def _repeating(m: re.Match) -> str:
    r"""'0.1\overline{23}' -> '(122/990)': digits a.b then c repeating is (abc − ab) / (10^|b| · (10^|c| − 1))."""
    whole, fixed, cycle = m.group(1) or "0", m.group(2), m.group(3)
    value = sp.Rational(int(whole + fixed + cycle) - int(whole + fixed), 10 ** len(fixed) * (10 ** len(cycle) - 1))
    return f"({value.p}/{value.q})"


# A decimal in a problem is the exact number written (5.5 is 11/2: sums, distances and compositions come out exact,
# never 6.16666666666667); in an answer it stays a decimal, shown as typed and held to the places written.
_DECIMALS_WRITTEN: ContextVar[bool] = ContextVar("decimals_written", default=False)


@contextmanager
def decimals_as_written():
    token = _DECIMALS_WRITTEN.set(True)
    try:
        yield
    finally:
        _DECIMALS_WRITTEN.reset(token)


def parse_math(text: str, symbols: dict[str, sp.Symbol] | None = None, functions: dict | None = None,
               latex: bool = False) -> list:
    """Parse text into a list of SymPy objects (expressions, relations, tuples, intervals, sets).

    A comma/semicolon/'or'/'and' separated list gives several items. `functions` maps names the problem defined
    (f in "f(x) = 2x+1") to callables, so f(3) is a call, not f·3. Every reading of a notation with several
    (readings.py) is parsed: when they all give the same items those are returned, otherwise `Ambiguous` is
    raised with each reading. Raises ParseError for text that is not math.
    """
    symbols = {} if symbols is None else symbols
    found = all_readings(_parse_once, text, symbols, functions, latex)
    if all(isinstance(r, Exception) for _, r in found):
        raise found[0][1]
    # a reading that is not well-formed math is no reading ((12102) ∪ …); one too large to compute (2^(3^1024)) is
    found = [(f, r) for f, r in found if not isinstance(r, Exception) or isinstance(r, TooLarge)]
    distinct: list[tuple[dict, object]] = []
    for f, items in found:
        if isinstance(items, Exception) or not any(_same_items(items, other) for _, other in distinct):
            distinct.append((f, items))
    if len(distinct) == 1:
        return distinct[0][1]
    base, maps = current(), [f for f, _ in distinct]
    raise Ambiguous(ask(maps, base), maps, [label_of(f, base) for f in maps])


def parse_as_written(text: str, latex: bool = False) -> list:
    """parse_math with nothing evaluated: x/x keeps its denominator, 2 + 3 stays a sum, (x + 1)(x + 2) a product;
    for questions about how the math is written rather than what it equals."""
    with sp.evaluate(False):
        return parse_math(text, latex=latex)


def _same_items(a: list, b: list) -> bool:
    """The readings agree: the same number of items, each provably equal (log(3)/log(2) in either base)."""
    if isinstance(b, Exception):
        return False
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


def _same(a, b) -> bool:
    if a == b:
        return True
    if isinstance(a, sp.Expr) and isinstance(b, sp.Expr):
        return is_zero(a - b) is True
    if isinstance(a, sp.Rel) and type(a) is type(b):
        return _same(a.lhs - a.rhs, b.lhs - b.rhs)
    return False


def _parse_once(text: str, symbols: dict, functions: dict | None, latex: bool) -> list:
    s = normalise(text, latex)
    s = re.sub(r"(?<![A-Za-z])U(?![A-Za-z])", " ∪ ", s)  # set union written as a capital U
    toks = lex(s)
    if toks[0].kind == "end":
        raise ParseError("nothing to parse")
    if any(t.text == "…" for t in toks):
        raise ParseError("'…' (a pattern left to the reader) is only understood in sums whose terms follow from "
                         "the written ones")
    p = _Parser(toks, symbols, functions, s)
    items = p.parse_list()
    if p.tok.kind != "end":
        raise ParseError(f"unexpected {p.tok.text!r} at position {p.tok.pos + 1}")
    flat = []
    for item in items:
        if isinstance(item, PlusMinus):
            item = Alternatives(item.values())
        flat.extend(item if isinstance(item, Alternatives) else [item])
    return flat


def parse_one(text: str, functions: dict | None = None, latex: bool = False) -> sp.Expr:
    """Exactly one expression (parse_math's arguments); ParseError otherwise."""
    items = parse_math(text, functions=functions, latex=latex)
    if len(items) != 1 or not isinstance(items[0], sp.Expr):
        raise ParseError(f"expected one expression, got {text!r}")
    return items[0]


def parse_number(text: str, latex: bool = False) -> sp.Expr:
    """Exactly one expression with no variable in it."""
    v = parse_one(text, latex=latex)
    if v.free_symbols:
        raise ParseError(f"expected a number, got {text!r}")
    return v
