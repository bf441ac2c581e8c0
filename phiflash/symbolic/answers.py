"""Final answers: find one in model output, and read one (ours, the model's, a student's, a reference) into a
comparable form, the way graders read them: the answer inside a sentence ("The largest $n$ is 34"), a value with
its unit, percent sign, currency or degree mark, thousands separators in every usual form, `x \\in S`, and a chain
`2 \\cdot 5 = 10` read as its last member. What a reading strips is kept (`unit`), and where a text has a second
honest reading of the same value (35% is 35 or 0.35) it is kept as an alternative, so that a comparison never
calls an answer wrong that another reading of it makes right; a notation with readings of different values (1,25:
a decimal comma or two values) goes through readings.choose, so each reading is checked.

Reading tries phiflash's safe parser first and math-verify's LaTeX parser second, with its known traps handled:
`i` is mapped to the imaginary unit and ± is expanded before it sees the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from .parse import CONSTANTS, FUNCTIONS, ParseError, braced, decimals_as_written, parse_math
from .readings import choose

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
    return _full_stop_off(s)


def _full_stop_off(s: str) -> str:
    """Without a sentence's final period (or ';'), keeping the dots of a repeating decimal: 0.666... stays."""
    s = s.rstrip()
    dots = re.search(r"\d(\.\.\.|…)[.;]?$", s)
    if dots:
        return s[:dots.start(1)] + dots.group(1)
    return re.sub(r"\s*[.;]+$", "", s).strip()


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
    unit: str | None = None                     # what followed the value: "cm", "%", "°", "$"…
    # other honest readings of the same text: (how, why, reading), how = "same" (a notation for the same
    # value: 35% as 0.35) or "ambiguous" (1,25 with a decimal comma): a match there is not a confident verdict
    alternatives: list = field(default_factory=list)
    joined: str | None = None                   # how a list of conditions is joined at top level: and | or | ,
    false_link: str | None = None               # a chain with a false link ('5 = 4' in x = 5 = 4)
    restrictions: list = field(default_factory=list)  # values stated as excluded: x + 1, x ≠ 1 → [(x, 1)]


def _decimals(text: str) -> int | None:
    found = re.findall(r"(?<![\d.])\d*\.(\d+)", text)
    return max(len(f) for f in found) if found else None


def _clean(text: str) -> str:
    t = text.strip()
    boxed = last_boxed(t)
    if boxed is not None:
        t = boxed
    t = _strip(t)
    t = re.sub(r"\\(?:text|textbf|mathrm)\{\s*(or|and)\s*\}", r" \1 ", t)
    t = t.replace("\\dfrac", "\\frac")
    return t.strip()


def read_answer(text: str) -> Answer:
    """Raises ParseError when neither parser can read the text."""
    with decimals_as_written():
        return _read_answer(text)


def _read_answer(text: str) -> Answer:
    t = _clean(text)
    special = _special(t, text)
    if special is not None:
        return special
    t = _answer_part(t)
    special = _special(t, text)
    if special is not None:
        return special
    mixed = re.fullmatch(r"(-?)\s*(\d+)\s+(\d+)\s*/\s*(\d+)", t)
    if mixed and int(mixed.group(3)) < int(mixed.group(4)):  # 1 1/4 standing alone is a number: a mixed number
        t = f"{mixed.group(1)}({mixed.group(2)} + {mixed.group(3)}/{mixed.group(4)})"
    # (x, y) = (2, 1): each name with its value
    named = re.fullmatch(r"\(\s*([A-Za-z](?:\s*,\s*[A-Za-z])+)\s*\)\s*=\s*\(([^()]*)\)", t)
    if named and len(names := named.group(1).split(",")) == len(values := named.group(2).split(",")):
        t = ", ".join(f"{n.strip()} = {v.strip()}" for n, v in zip(names, values))
    # x + 1 for x ≠ 1, x + 1 (x ≠ 1), x + 1 where x ≠ 1: a restriction stated beside the answer
    t = re.sub(r"\s*,?\s*\b(?:for|where|when|if|provided(?:\s+that)?|with)\s+(?=[A-Za-z]\s*(?:≠|!=|\\neq?\b))",
               ", ", t)
    t = re.sub(r"\s*\(\s*([A-Za-z]\s*(?:≠|!=|\\neq?\b)[^()]*)\)\s*$", r", \1", t)
    t = t.replace("∨", " or ").replace("∧", " and ").replace("\\lor", " or ").replace("\\land", " and ")
    # answers on several lines, or x=3 x=-3 (the same name again after a space): a list, never 3·x
    t = re.sub(r"\s*\n\s*", ", ", t.strip())
    named = re.match(r"\s*([A-Za-z])\s*=(?!=)", t)
    if named:
        t = re.sub(rf"(?<=[\d)\]}}])\s+(?={named.group(1)}\s*=(?!=))", ", ", t)
        # x=2 y=1: two answers, or the chain x = 2y = 1 (2·y): both readings
        gap = re.search(r"(?<=[\d)\]}])\s+(?=[A-Za-z]\s*=(?!=))", t)
        if gap:
            listed = t[:gap.start()] + ", " + t[gap.end():]
            if choose(("answers side by side", t), (f"{listed} (two answers)", f"{t} (a chain)")) == 0:
                t = listed
    # dy/dx = 3x^2, y' = …, f'(x) = …, \frac{dy}{dx} = …: the derivative's name in front, then the answer
    t = re.sub(r"^\s*(?:dy\s*/\s*dx|\\[dt]?frac\s*\{\s*dy\s*\}\s*\{\s*dx\s*\}|[A-Za-z]\s*(?:'|′|\^\{?\\prime\}?)+"
               r"(?:\s*\(\s*[A-Za-z]\s*\))?)\s*=\s*", "", t)
    form = written_form(t)
    unread = _unreadable_member(form)
    if unread:  # x = -1 ? x = 3 was read as x = 3: a member dropped is a reading that does not account for it
        raise ParseError(f"'{unread}' in the chain {t!r} cannot be read")
    ans = _read(form.value, text)
    ans.unit, ans.false_link = form.unit, form.false_link
    ans.joined = _joiner(form.value)
    for how, why, alt in form.alternatives:
        try:
            ans.alternatives.append((how, why, _read(alt, text)))
        except ParseError:
            continue
    return ans


def _special(t: str, text: str) -> Answer | None:
    if _EMPTY.match(t) or re.fullmatch(r"\\text\{\s*no\s+(real\s+)?solutions?\s*\}", t, re.IGNORECASE):
        return Answer("empty", text=text)
    if _DNE.match(re.sub(r"\\text\{(.*?)\}", r"\1", t)):
        return Answer("dne", text=text)
    if _ALL_REALS.match(re.sub(r"\\text\{(.*?)\}", r"\1", t)):
        return Answer("set", [sp.S.Reals], text=text)
    return None


def _read(t: str, text: str) -> Answer:
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


# ---- the written form around a value --------------------------------------------------------------------------

_MATH_DELIMS = re.compile(r"\$\$|(?<!\\)\$|\\\(|\\\)|\\\[|\\\]")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textnormal|textrm|mbox|mathrm|operatorname)\s*\{([^{}]*)\}")
_LEAD = re.compile(r"\b(?:final\s+answer|answer|result)\b\s*(?:is|was|would\s+be|will\s+be|equals|:|=)?\s*:?",
                   re.IGNORECASE)
_IS = re.compile(r"\b(?:is|are|equals|was|would\s+be)\b", re.IGNORECASE)


def _prose(t: str) -> str:
    """The words of t outside math delimiters and \\text{…} (the answer's own words, e.g. a unit, are inside),
    the rest blanked to spaces of the same length, so an offset in it is the same offset in t."""
    def blank(m: re.Match) -> str:
        return " " * len(m.group())
    outside = re.sub(r"\$\$.*?\$\$|(?<!\\)\$.*?(?<!\\)\$|\\\(.*?\\\)|\\\[.*?\\\]", blank, t, flags=re.DOTALL)
    return _TEXT_CMD.sub(blank, outside)


def _answer_part(t: str) -> str:
    """The answer of a sentence: 'The final answer is $14 {, }916$' → 14 {, }916, 'The largest $n$ is 34' → 34,
    'Answer \\( 9 \\)' → 9. Text that is not a sentence comes back as it is (without math delimiters)."""
    prose = _prose(t)
    lead = list(_LEAD.finditer(prose))
    if lead and lead[-1].group().strip():
        cut = len(prose[:lead[-1].end()].rstrip())  # blanked math after the lead is the answer, not its end
    else:
        verbs = list(_IS.finditer(prose))  # 'x is 5 or x is -5' has two: no single answer to take
        cut = verbs[0].end() if len(verbs) == 1 and re.search(r"[A-Za-z]{2}", prose) else 0
    whole = _full_stop_off(_MATH_DELIMS.sub(" ", t))
    if not cut:
        return whole
    part = _full_stop_off(_MATH_DELIMS.sub(" ", t[cut:]))
    return part if _plausible(part) else whole


def _plausible(part: str) -> bool:
    """Could this be an answer on its own: math, perhaps with a unit; not more words ('it is big' is no answer)."""
    if not part or _special(part, part) is not None:
        return bool(part)
    value = re.sub(r"\\(?:begin|end)\{[A-Za-z*]+\}", " ", written_form(part).value)
    if re.fullmatch(r"\s*\\text\{[^{}]*\}\s*", value):
        return True  # a word answer: \text{Evelyn}
    words = re.findall(r"[A-Za-z]{2,}", re.sub(r"\\[A-Za-z]+", " ", value))
    return all(w.lower() in FUNCTIONS or w.lower() in CONSTANTS or w.lower() in ("or", "and") for w in words)


@dataclass
class WrittenForm:
    value: str
    unit: str | None = None
    alternatives: list = field(default_factory=list)  # (how, why, text)
    chain: str = ""                                      # the value before a chain was cut to its last member
    false_link: str | None = None


def _top_level(v: str):
    """(index, character) of v outside brackets."""
    depth = 0
    for i, ch in enumerate(v):
        depth += ch in "([{" and 1 or ch in ")]}" and -1 or 0
        if depth == 0:
            yield i, ch


def _joiner(v: str) -> str | None:
    """How the members of a list answer are joined at top level: 'and', 'or' or ',' (None for one member, or
    for several different joiners, which compare() does not read as conditions)."""
    found = set()
    for i, ch in _top_level(v):
        if ch in ",;":
            found.add(",")
        for word in ("and", "or"):
            if v[i:i + len(word) + 2].lower() == f" {word} ":
                found.add(word)
    return found.pop() if len(found) == 1 else None


_UNIT_WORDS = {
    # length, area, volume, mass, time, speed, money, angle, misc (singular and plural, common abbreviations)
    **dict.fromkeys(["m", "meter", "meters", "metre", "metres"], "m"),
    **dict.fromkeys(["cm", "centimeter", "centimeters", "centimetre", "centimetres"], "cm"),
    **dict.fromkeys(["mm", "millimeter", "millimeters"], "mm"),
    **dict.fromkeys(["km", "kilometer", "kilometers", "kilometre", "kilometres"], "km"),
    **dict.fromkeys(["in", "inch", "inches"], "in"), **dict.fromkeys(["ft", "foot", "feet"], "ft"),
    **dict.fromkeys(["yd", "yard", "yards"], "yd"), **dict.fromkeys(["mi", "mile", "miles"], "mi"),
    **dict.fromkeys(["g", "gram", "grams"], "g"), **dict.fromkeys(["kg", "kilogram", "kilograms"], "kg"),
    **dict.fromkeys(["lb", "lbs", "pound", "pounds"], "lb"), **dict.fromkeys(["oz", "ounce", "ounces"], "oz"),
    **dict.fromkeys(["s", "sec", "secs", "second", "seconds"], "s"),
    **dict.fromkeys(["min", "mins", "minute", "minutes"], "min"),
    **dict.fromkeys(["h", "hr", "hrs", "hour", "hours"], "h"), **dict.fromkeys(["day", "days"], "day"),
    **dict.fromkeys(["week", "weeks"], "week"), **dict.fromkeys(["year", "years"], "year"),
    **dict.fromkeys(["mph", "miles per hour"], "mph"), **dict.fromkeys(["l", "liter", "liters", "litre"], "L"),
    **dict.fromkeys(["ml", "milliliter", "milliliters"], "mL"), **dict.fromkeys(["gallon", "gallons"], "gal"),
    **dict.fromkeys(["dollar", "dollars", "usd", "$", "\\$"], "$"), **dict.fromkeys(["cent", "cents"], "cent"),
    **dict.fromkeys(["euro", "euros", "€", "eur"], "€"), **dict.fromkeys(["£", "pounds sterling"], "£"),
    **dict.fromkeys(["unit", "units"], "units"),
    **dict.fromkeys(["square units", "sq units", "units^2", "square unit"], "units²"),
    **dict.fromkeys(["cubic units", "units^3"], "units³"),
    **dict.fromkeys(["people", "students", "ways", "days", "apples", "marbles", "cookies", "books", "coins",
                     "cups", "pieces", "times", "points", "games", "handshakes", "outfits", "numbers", "integers",
                     "digits", "dots", "cents", "candies", "cards", "boxes", "rows", "seats", "pages", "stamps"],
                    None),  # counted things: dropped, never compared
}
_POWERS = {"^2": "²", "^{2}": "²", "²": "²", "^3": "³", "^{3}": "³", "³": "³"}


def _unit(words: str) -> tuple[bool, str | None]:
    """(is a unit, its canonical name) for the words after a value: 'cm^2', 'square feet', 'miles'."""
    w = " ".join(words.replace("\\ ", " ").split()).strip().lower()
    power = ""
    for k, v in _POWERS.items():
        if w.endswith(k):
            w, power = w[: -len(k)].strip(), v
            break
    for prefix, v in (("square ", "²"), ("sq ", "²"), ("sq. ", "²"), ("cubic ", "³")):
        if w.startswith(prefix) and not power:
            w, power = w[len(prefix):], v
    if w in _UNIT_WORDS:
        name = _UNIT_WORDS[w]
        return True, (name + power) if name else None
    return False, None


def _value_like(v: str) -> bool:
    """A number or numeric expression: no letters once LaTeX commands (\\frac, \\sqrt, \\pi) are removed."""
    rest = re.sub(r"\\[A-Za-z]+", "", v)
    return bool(re.search(r"\d", v)) and not re.search(r"[A-Za-z]", rest.replace("pi", ""))


def written_form(t: str) -> WrittenForm:
    """Split an answer into its value and what is written around it, with the other honest readings."""
    t = t.strip()
    t = re.sub(r"^[A-Za-z]\w*\s*(?:\\in|∈)\s*(?=[\[(\\{]|\\left|\\mathbb)", "", t)  # x \in [2, 5] is [2, 5]
    unit = None
    name = re.match(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=(?![=<>])\s*", t)  # x = 3 \text{ cm}: the value is after x =
    name_part = name.group(0) if name and t.count("=") == 1 else ""
    t = t[len(name_part):]
    # currency in front: \$16,386.20, €12, USD 5
    m = re.match(r"^(-?)\s*(\\\$|\$|€|£|USD\s)\s*", t)
    if m and _value_like(t[m.end():]):
        unit, t = _UNIT_WORDS.get(m.group(2).strip().lower(), "$"), m.group(1) + t[m.end():]
    # words after the value: \text{ meters}, \textbf{inches}, \text{ cm}^2, cm^2, 45 €, 20 \%
    while True:
        m = re.search(r"\s*(?:(?:" + _TEXT_CMD.pattern + r")(\s*\^\s*\{?[23]\}?)?|\\?%|°|\^\s*\{?\\circ\}?|"
                      r"\\degree|€|£|(?<=[\d}\s])[A-Za-z][A-Za-z. ]*(?:\^\{?[23]\}?|[²³])?)\s*$", t)
        if not m or m.start() == 0:
            break
        tail, head = m.group(0).strip(), t[: m.start()].strip()
        words = m.group(1) + (m.group(2) or "").replace(" ", "") if m.group(1) is not None else tail
        if tail in ("%", "\\%") or words.strip().lower() in ("%", "percent", "pct", "per cent", "\\%"):
            kind = "%"
        elif tail in ("°", "\\degree") or "circ" in tail or words.strip().lower() in ("degree", "degrees"):
            kind = "°"
        else:
            is_unit, kind = _unit(words)
            # 4h may be 4·h: a one-letter unit counts only when set apart (4 h, 4\\text{ h})
            attached = m.group(1) is None and not m.group(0)[:1].isspace()
            if not is_unit or (attached and len(re.sub(r"[^A-Za-z]", "", words)) == 1):
                break
        if not _value_like(head):
            break
        t, unit = head, kind if unit is None else unit
    value = _separators(t)
    form = WrittenForm(name_part + _chain_end(value), unit, false_link=_false_link(name_part + value),
                       chain=name_part + value)
    if unit == "%":
        form.alternatives.append(("same", "a percent is a hundredth", f"{name_part}({value})/100"))
    elif unit == "°":
        form.alternatives.append(("same", "degrees in radians", f"{name_part}({value})*pi/180"))
    pair = re.fullmatch(r"(?:\\left)?\(\s*([^(),\[\]]+?)\s*,\s*([^(),\[\]]+?)\s*(?:\\right)?\)", value.strip())
    if pair and not name_part:
        form.alternatives.append(("ambiguous", f"'{value.strip()}' may be an interval, an ordered pair or the two "
                                  "values themselves", f"{pair.group(1)}, {pair.group(2)}"))
    # 1,25: a decimal comma or the two values 1 and 25; 1,250: a thousands separator or a decimal comma. A group
    # that starts with 0 (1,050) or a second group (1,250,000) is a thousands separator only.
    decimal_comma = re.fullmatch(r"(-?\d+),(\d+)", t.strip())
    if decimal_comma:
        a, b = decimal_comma.groups()
        if len(b) != 3:
            if choose(("decimal comma or two values", t.strip()), (f"{a}.{b} (a decimal comma)",
                                                                     f"{a}, {b} (two values)")) == 0:
                form.value = f"{name_part}{a}.{b}"
        elif not b.startswith("0") and len(a.lstrip("-")) <= 3 and unit not in ("$", "€", "£"):  # cents: 2 digits
            if choose(("decimal comma", t.strip()), (f"{a}{b} (a thousands separator)",
                                                     f"{a}.{b} (a decimal comma)")) == 1:
                form.value = f"{name_part}{a}.{b}"
    return form


def _separators(v: str) -> str:
    """14{,}916, 16,\\!386.20, 1\\,000\\,000, 2 000, 21 {, }934 → one number; anything else unchanged."""
    w = re.sub(r"\s*\{\s*,\s*\}\s*", ",", v).replace(",\\!", ",").replace("\\!", "")
    w = re.sub(r"(?<=\d)\s*\\[,;: ]\s*(?=\d)", " ", w)
    m = re.fullmatch(r"\s*(-?)(\d{1,3}(?:([,  ])\d{3})(?:\3\d{3})*)(\.\d+)?\s*", w)
    if m:
        return m.group(1) + re.sub(r"\D", "", m.group(2)) + (m.group(4) or "")
    return v


def _chain_cuts(v: str) -> list[int] | None:
    """Where the top-level '=' of a chain are (not <=, >=, !=, ==); None for a list ('x = 2, 3', 'x = 2 or x = 3'),
    whose members are each their own answer."""
    cuts = []
    for i, ch in _top_level(v):
        if ch == "=" and v[i - 1:i] not in ("<", ">", "!", "=") and v[i + 1:i + 2] != "=":
            cuts.append(i)
        if ch in ",;" or v[i:i + 4] in (" or ", " and"):
            return None
    return cuts


def _false_link(v: str) -> str | None:
    """'5 = 4' when a chain of equalities (x = 5 = 4, 2 + 2 = 5 = 5) has two constant members that differ: a chain
    holds only if every link holds, so its last member alone is not the answer it states."""
    cuts = _chain_cuts(v)
    if not cuts or len(cuts) < 2:
        return None
    members = [v[a + 1:b].strip() for a, b in zip([-1] + cuts, cuts + [len(v)])]
    values = []
    for m in members:
        try:
            items = parse_math(m)
        except ParseError:
            continue
        if len(items) == 1 and isinstance(items[0], sp.Expr) and not items[0].free_symbols:
            values.append((m, items[0]))
    for (ma, a), (mb, b) in zip(values, values[1:]):
        diff = sp.simplify(a - b)
        if diff.is_number and diff != 0:
            return f"{ma} = {mb}"
    return None


def _unreadable_member(form: WrittenForm) -> str | None:
    """A member of a chain `a = b = c` that is not math, when the reading keeps only the chain's end."""
    v = form.chain
    cuts = _chain_cuts(v) if v else None
    if not cuts:
        return None
    for a, b in zip([-1] + cuts, cuts + [len(v)]):
        member = v[a + 1:b].strip()
        try:
            parse_math(member)
        except ParseError:
            return member
        except Exception:  # noqa: BLE001 - read two ways or otherwise: it is math, judged elsewhere
            continue
    return None


def _chain_end(v: str) -> str:
    """`2 \\cdot 5 = 10` is 10 and `x = 4+4+1 = 9` is x = 9: a chain of equalities is read as its last member
    (the name in front kept), as graders read worked answers. One equation with letters on the left is kept."""
    cuts = _chain_cuts(v)
    if not cuts:
        return v  # no '=', or a list: each member is its own answer
    first, last = v[: cuts[0]].strip(), v[cuts[-1] + 1:].strip()
    if len(cuts) == 1 and re.fullmatch(r"[A-Za-z](?:_\{?\w+\}?)?", last) and \
            not re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", first)):
        return f"{last} = {first}"  # 4 = x: the unknown may stand on either side
    if re.fullmatch(r"[A-Za-z](?:_\{?\w+\}?)?", first):
        return v if len(cuts) == 1 else f"{first} = {last}"
    if re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", first)):
        return v  # an equation such as y - 2x = 3
    return last


def _from_items(items: list, text: str) -> Answer:
    flat: list = []
    for it in items:
        if isinstance(it, sp.FiniteSet):
            flat.extend(it.args)
        else:
            flat.append(it)
    # x + 1, x ≠ 1: restrictions beside values (not beside inequalities, where x ≠ 1 is part of the set)
    excluded = [i for i in flat if isinstance(i, sp.Ne) and isinstance(i.lhs, sp.Symbol) and not i.rhs.free_symbols]
    rest = [i for i in flat if i not in excluded]
    if excluded and rest and all(isinstance(i, sp.Expr) or isinstance(i, sp.Eq) for i in rest):
        ans = _from_items(rest, text)
        ans.restrictions = [(i.lhs, i.rhs) for i in excluded]
        return ans
    dec = _decimals(text)
    # 4 = x is x = 4: either side of '=' may hold the unknown
    flat = [sp.Eq(i.rhs, i.lhs, evaluate=False) if isinstance(i, sp.Eq) and isinstance(i.rhs, sp.Symbol)
            and not i.lhs.free_symbols else i for i in flat]
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


def math_verify_parse(text: str, wrap: bool = True) -> list | None:
    """math-verify's LaTeX reading of text (never its plain-expression parser, which evaluates code), its known
    traps handled: \\mathrm{i} becomes i (it drops it: 3+4\\mathrm{i} read as 7) and ± is refused (it keeps one
    branch). wrap: put the text in $…$ first. None when it is not installed, refuses or fails."""
    if any(pm in text for pm in ("\\pm", "±", "\\mp", "∓")):
        return None
    try:
        import logging

        from math_verify import LatexExtractionConfig, parse
        logging.getLogger("math_verify").setLevel(logging.ERROR)
        text = re.sub(r"\\(?:mathrm|mathit|text)\{i\}", "i", text)
        return parse(f"${text}$" if wrap else text, extraction_config=[LatexExtractionConfig()],
                     parsing_timeout=None) or None
    except Exception:  # noqa: BLE001 - any failure means "cannot read"
        return None


def _math_verify_items(t: str) -> list | str | None:
    """math-verify's reading as our items. A word answer (\\text{Evelyn}) comes back as its normalised words."""
    parsed = math_verify_parse(t)
    if parsed is None:
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
