"""Final answers: find one in model output, and read one (ours, the model's, a student's, a reference) into a
comparable form. Reading tries phiflash's safe parser first and math-verify's LaTeX parser second, with its
known traps handled: `i` is mapped to the imaginary unit and ± is expanded before it sees the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from .parse import ParseError, braced, parse_math

# ---- extraction from model output -------------------------------------------------------------------------------


def last_boxed(text: str) -> str | None:
    """Content of the last balanced \\boxed{…} (or \\fbox{…}), nested braces allowed."""
    for m in reversed(list(re.finditer(r"\\(?:boxed|fbox)\s*\{", text))):
        try:
            return braced(text, m.end() - 1)[0].strip()
        except ParseError:
            continue
    return None


_FINAL = re.compile(r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=)\s*:?\s*(?P<ans>.+?)(?:\.\s|\.$|\n|$)",
                    re.IGNORECASE)


def extract_answer(text: str) -> str | None:
    """The last \\boxed{…}; else a 'final answer is …' sentence; else the last non-empty line."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    found = list(_FINAL.finditer(text))
    if found:
        return _strip(found[-1].group("ans"))
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return _strip(lines[-1]) if lines else None


def _strip(s: str) -> str:
    s = s.strip().strip("$").strip()
    s = re.sub(r"^\\\[|\\\]$|^\\\(|\\\)$", "", s).strip()
    return s.rstrip(".").strip()


# ---- reading an answer ------------------------------------------------------------------------------------------

_EMPTY = re.compile(r"^(?:there\s+(?:is|are)\s+)?no\s+(?P<real>real\s+)?(?:solutions?|roots?|values?)(?:\s+exists?)?$|"
                    r"^(?:∅|\\emptyset|\\varnothing|\{\s*\}|none|no\s+solution)$", re.IGNORECASE)
_ALL_REALS = re.compile(r"^(?:x\s*(?:\\in|∈)\s*)?(?:all\s+real\s+(?:numbers|values)|all\s+reals|ℝ|\\mathbb\{R\}|"
                        r"every\s+real\s+number|infinitely\s+many\s+solutions)$", re.IGNORECASE)
_DNE = re.compile(r"^(?:the\s+limit\s+)?(?:does\s+not\s+exist|dne|undefined|diverges)$", re.IGNORECASE)


@dataclass
class Answer:
    kind: str                                   # values | tuples | set | equation | empty | dne | text
    values: list = field(default_factory=list)  # exprs; dicts (tuples with names); sp.Tuple; sets; equations; words
    names: list = field(default_factory=list)   # variable names written as "x = …"
    decimals: int | None = None                 # decimal places when the answer is written as a decimal
    text: str = ""


def _decimals(text: str) -> int | None:
    found = re.findall(r"(?<![\d.])\d*\.(\d+)", text)
    return max(len(f) for f in found) if found else None


def _clean(text: str) -> str:
    t = text.strip()
    boxed = last_boxed(t)
    if boxed is not None:
        t = boxed
    t = _strip(t)
    t = re.sub(r"\\(?:text|textbf|mathrm)\{\s*(?:or|and)\s*\}", " or ", t)
    t = re.sub(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*", "", t, flags=re.IGNORECASE)
    if re.fullmatch(r"[\\$\s]*\d{1,3}(?:,\d{3})+(?:\.\d+)?", t):  # one number with thousands separators
        t = t.replace(",", "")
    t = t.replace("\\dfrac", "\\frac").replace("\\!", "")
    return t.strip()


def read_answer(text: str) -> Answer:
    """Raises ParseError when neither parser can read the text."""
    t = _clean(text)
    if _EMPTY.match(t) or re.fullmatch(r"\\text\{\s*no\s+(real\s+)?solutions?\s*\}", t, re.IGNORECASE):
        return Answer("empty", text=text)
    if _DNE.match(re.sub(r"\\text\{(.*?)\}", r"\1", t)):
        return Answer("dne", text=text)
    if _ALL_REALS.match(re.sub(r"\\text\{(.*?)\}", r"\1", t)):
        return Answer("set", [sp.S.Reals], text=text)
    try:
        items = parse_math(t)
    except ParseError as ours:
        # plain text is ours alone; math-verify's LaTeX grammar is a second reader for LaTeX only
        items = _math_verify_items(t) if "\\" in t else None
        if items is None:
            raise ours
        if isinstance(items, str):
            return Answer("text", [items], text=text)
    return _from_items(items, text)


def _from_items(items: list, text: str) -> Answer:
    dec = _decimals(text)
    flat: list = []
    for it in items:
        if isinstance(it, sp.FiniteSet):
            flat.extend(it.args)
        else:
            flat.append(it)
    first = flat[0] if flat else None
    if isinstance(first, sp.Eq) and isinstance(first.lhs, sp.Symbol) and all(
            isinstance(i, sp.Expr) for i in flat[1:]):  # x = 2, 3
        flat = [first] + [sp.Eq(first.lhs, i, evaluate=False) for i in flat[1:]]
    if all(isinstance(i, sp.Eq) and isinstance(i.lhs, sp.Symbol) and i.lhs not in i.rhs.free_symbols
           for i in flat):
        names = [i.lhs.name for i in flat]
        if len(set(names)) > 1:  # a system written as x = 2, y = 1 (one solution)
            return Answer("tuples", [{i.lhs.name: i.rhs for i in flat}], names, dec, text=text)
        return Answer("values", [i.rhs for i in flat], names, dec, text=text)
    if all(isinstance(i, sp.Eq) for i in flat):
        return Answer("equation", flat, decimals=dec, text=text)
    if all(isinstance(i, sp.Tuple) for i in flat):
        return Answer("tuples", flat, decimals=dec, text=text)
    if any(isinstance(i, (sp.Rel, sp.And, sp.Interval, sp.Union)) for i in flat) or any(
            i in (sp.S.Reals, sp.EmptySet) for i in flat):
        return Answer("set", flat, decimals=dec, text=text)
    if all(isinstance(i, (sp.Expr, sp.MatrixBase)) for i in flat):
        return Answer("values", flat, decimals=dec, text=text)
    raise ParseError(f"cannot read the answer {text!r}")


def _math_verify_items(t: str) -> list | str | None:
    """math-verify's LaTeX parser (never its plain-expression parser, which evaluates code). A word answer
    (\\text{Evelyn}) comes back as its normalised words."""
    try:
        import logging

        from math_verify import LatexExtractionConfig, parse
        logging.getLogger("math_verify").setLevel(logging.ERROR)
    except ImportError:
        return None
    t = re.sub(r"\\(?:mathrm|mathit|text)\{i\}", "i", t)
    if "\\pm" in t or "±" in t:
        return None  # math-verify drops one branch of ±; our parser handles the ones it can
    try:
        parsed = parse(f"${t}$", extraction_config=[LatexExtractionConfig()], parsing_timeout=None)
    except Exception:  # noqa: BLE001 - any failure means "cannot read"
        return None
    if not parsed:
        return None
    obj = parsed[0]
    if isinstance(obj, str):  # a word answer (\text{Evelyn}); anything else unreadable stays unreadable
        words = re.fullmatch(r"\s*\\text\{([^{}]*)\}\s*", t)
        return " ".join(words.group(1).split()).lower() if words else None
    if isinstance(obj, sp.Basic):
        obj = obj.xreplace({s: sp.I for s in obj.free_symbols if s.name == "i"}) if obj.free_symbols else obj
        if isinstance(obj, sp.Eq) and isinstance(obj.rhs, sp.FiniteSet):
            return [sp.Eq(obj.lhs, v, evaluate=False) for v in obj.rhs.args]
        if isinstance(obj, sp.FiniteSet):
            return list(obj.args)
        return [obj]
    try:  # matrices and the like
        return [sp.ImmutableMatrix(obj)]
    except Exception:  # noqa: BLE001
        return None
