"""Edited problems: does every word a reading takes off matter? Each problem the engine verifies (from the last
`make eval` results) is edited one way at a time: a word swapped for one that changes the question (least for
greatest, sum for product, positive for negative, …), a number said in words changed, a sentence dropped, a
clause added to the question. An edited problem answered exactly as the original is listed: either the edit did not
change the answer (x² − 5x + 4 and x² − 5x + 5 have the same sum of roots) or the reading skipped what was edited.
Reading the list is a person's job; each skipped word found so far is a test in tests/symbolic/test_phrasings.py.

python -m benchmarks.edits [--family swap,number,drop,add,insert,relation,mathnumber,command,letter,prefix,target,ask,
    half,head] [--limit N] [--seconds S] [--answered] [FILE RESULTS]
(1-8 min per family on 2 cores over the training set's ~1,600 verified problems; mathnumber takes hours: edits that
make a problem unsolvable run to the 5 s limit)
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from phiflash.symbolic.solver import solve

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "math-train" / "train.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "math-train.jsonl"

# each pair both ways; "" deletes the word
SWAPS = [("least", "greatest"), ("smallest", "largest"), ("minimum", "maximum"), ("sum", "product"),
         ("positive", "negative"), ("even", "odd"), ("more", "less"), ("larger", "smaller"), ("first", "last"),
         ("greater", "less"), ("increasing", "decreasing"), ("tenth", "hundredth"), ("integer", "real number"),
         ("integers", "real numbers"), ("prime", "composite"), ("distinct", ""), ("nonnegative", "positive"),
         ("two-digit", "three-digit"), ("square", "cube"), ("perimeter", "area"), ("radius", "diameter"),
         ("sine", "cosine"), ("mean", "median"), ("units digit", "tens digit"), ("remainder", "quotient"),
         ("inclusive", "exclusive"), ("at least", "at most"), ("circumference", "area"),
         ("greatest common divisor", "least common multiple"), ("ones", "tens"), ("twice", "three times"),
         ("half", "third"), ("proper", ""), ("digits", "divisors"), ("factors", "multiples"),
         ("numerator", "denominator"), ("x-intercept", "y-intercept"), ("real", "complex"),
         ("nearest whole number", "nearest tenth"), ("common fraction", "decimal"), ("mean", "mode"),
         ("rational", "irrational"), ("all", ""), ("only", ""), ("positive", ""), ("integer", ""), ("nonzero", ""),
         ("exactly", "at least"), ("x", "y"), ("sum", "difference"), ("product", "quotient"), ("sum", "average"),
         ("largest", "second largest"), ("smallest", "second smallest"), ("solutions", "distinct solutions"),
         ("integer", "prime"), ("positive", "nonnegative"), ("divisors", "prime divisors"), ("digits", "odd digits"),
         ("value", "values"), ("root", "roots"), ("sides", "diagonals"), ("consecutive", "consecutive even"),
         ("and", "or"), ("not", ""), ("different", ""), ("each", "the first"), ("minimum", "maximum possible"),
         ("the sum of", "the number of"), ("how many", "the sum of the"), ("real", "integer"), ("positive", "real"),
         ("square root", "cube root"), ("volume", "surface area"), ("mean", "sum"), ("remainder", "units digit"),
         ("divided by", "multiplied by"), ("plus", "minus"), ("times", "plus"), ("more than", "less than"),
         ("percent", "fraction"), ("inclusive", ""), ("whole", "positive"), ("equal", "not equal"),
         ("feet", "inches"), ("cm", "mm"), ("square feet", "square yards"), ("hours", "minutes"), ("dollars", "cents"),
         ("meters", "centimeters"), ("minutes", "seconds"), ("units", "square units"), ("degrees", "radians"),
         ("miles", "kilometers"), ("days", "weeks"), ("%", "")]
CLAUSES = [", where $x > 0$", ", if $x$ is an integer", " in base 8", " rounded to the nearest tenth", ", in degrees",
           " modulo 7", ", where $n$ is odd", " plus one", " squared", ", assuming $y<0$", " and the product",
           " for $x>100$", " in percent", " times two", ", or its reciprocal", ", where $x \\ne 2$",
           " if $x$ is negative",
           ", given that $n$ is even", " in lowest terms", " to the nearest integer", " (assume $x > 0$)",
           ", and $y$ is an integer", " (in degrees)", " in square units", " in feet", " in dollars", " in radians",
           ", expressed as a percent", " in simplest radical form", " in terms of $\\pi$", " in interval notation",
           ", as an ordered pair", ", to two decimal places", ", in scientific notation", " over the integers"]


def sentences(problem: str) -> list[str]:
    """Split at '. ', '? ', '! ' outside $…$."""
    out, start, in_math = [], 0, False
    for i, ch in enumerate(problem):
        if ch == "$":
            in_math = not in_math
        elif not in_math and ch in ".?!" and (i + 1 == len(problem) or problem[i + 1] in " \n"):
            out.append(problem[start:i + 1])
            start = i + 1
    if problem[start:].strip():
        out.append(problem[start:])
    return out


def swaps(p: str):
    for a, b in SWAPS:
        for old, new in ((a, b), (b, a)):
            m = re.search(rf"\b{re.escape(old)}\b", p) if old else None
            if m:
                yield f"{old!r} -> {new!r}", p[:m.start()] + new + p[m.end():]


def numbers(p: str):
    words = re.sub(r"\$[^$]*\$", lambda m: " " * len(m.group()), p)   # numbers in the words, not the math
    for m in re.finditer(r"(?<![\w.])\d+(?![\w.])", words):
        n = int(m.group())
        yield f"{n} -> {n + 1}", p[:m.start()] + str(n + 1) + p[m.end():]


def drops(p: str):
    parts = sentences(p)
    for k in range(len(parts) - 1):
        yield f"drop {parts[k].strip()[:50]!r}", "".join(parts[:k] + parts[k + 1:]).strip()


def adds(p: str):
    parts = sentences(p)
    last = parts[-1].rstrip() if parts else ""
    if last and last[-1] in ".?":
        for c in CLAUSES:
            yield f"add {c!r}", "".join(parts[:-1]) + last[:-1] + c + last[-1]


# a qualifier put before a noun it narrows: the count, sum or extreme changes unless the words are read
NOUNS = ("integers", "integer", "numbers", "number", "values", "value", "solutions", "roots", "divisors", "factors")
QUALIFIERS = ("odd", "even", "prime", "negative", "irrational", "two-digit", "nonzero", "other")
# in the math: a relation made strict or not, a sign flipped (each occurrence on its own)
MATH_SWAPS = [(r"\\le\b", r"<"), (r"\\ge\b", r">"), (r"\\leq\b", r"<"), (r"\\geq\b", r">"), (r"<", "\\le "),
              (r">", "\\ge "), (r"(?<=\w|\)|\})\+", "-"), (r"(?<=\w|\)|\})-", "+")]


def inserts(p: str):
    for noun in NOUNS:
        for m in re.finditer(rf"\b{noun}\b", p):
            for q in QUALIFIERS:
                yield f"{q} {noun}", p[:m.start()] + f"{q} " + p[m.start():]
            break  # the first occurrence of each noun


def math_spans(p: str):
    return [m.span(1) for m in re.finditer(r"\$([^$]+)\$", p)]


# in the math: a command swapped for one that changes the value (floor for ceiling, sine for cosine, …)
COMMANDS = [(r"\\lfloor", r"\lceil"), (r"\\rfloor", r"\rceil"), (r"\\lceil", r"\lfloor"), (r"\\rceil", r"\rfloor"),
            (r"\\sin\b", r"\cos"), (r"\\cos\b", r"\sin"), (r"\\tan\b", r"\cot"), (r"\\sqrt\{", r"\sqrt[3]{"),
            (r"\\cdot\b", "+"), (r"\\times\b", "+"), (r"\\div\b", r"\times"), (r"\\max\b", r"\min"),
            (r"\\min\b", r"\max"), (r"\\log\b", r"\ln"), (r"\^2\b", "^3"), (r"\^3\b", "^2"), (r"!", "")]


def in_math(p: str, pairs: list):
    """Each match of each pattern inside the math, replaced on its own."""
    for a, b in pairs:
        for s, e in math_spans(p):
            for m in re.finditer(a, p[s:e]):
                i, j = s + m.start(), s + m.end()
                yield f"{p[i:j]!r} -> {b!r} at {i}", p[:i] + b + p[j:]


def commands(p: str):
    return in_math(p, COMMANDS)


def relations(p: str):
    return in_math(p, MATH_SWAPS)


def math_numbers(p: str):
    """Each whole number in the math, one at a time, +1 (the first twelve): math a reading skips keeps the answer."""
    found = [(s + m.start(), s + m.end()) for s, e in math_spans(p)
             for m in re.finditer(r"(?<![\w.\\])\d+(?![\w.])", p[s:e])]
    for i, j in found[:12]:
        yield f"{p[i:j]} -> {int(p[i:j]) + 1} at {i}", p[:i] + str(int(p[i:j]) + 1) + p[j:]


LETTER = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z](?![a-zA-Z])")   # a one-letter name, not part of a command or a word


def math_letters(p: str) -> list[tuple[int, int]]:
    """Where each one-letter name in the math stands."""
    return [(s + m.start(), s + m.end()) for s, e in math_spans(p) for m in LETTER.finditer(p[s:e])]


def letters(p: str):
    """Each single letter in the math, one occurrence at a time (the first eight), renamed to a letter the problem
    does not use: a reading that answers as before skipped that letter."""
    found = math_letters(p)
    used = {p[i:j] for i, j in found}
    fresh = next((c for c in "wvuqpk" if c not in used), None)
    if fresh is None:
        return
    for i, j in found[:8]:
        yield f"{p[i:j]} -> {fresh} at {i}", p[:i] + fresh + p[j:]


# a sentence put before the problem that narrows or changes it
PREFIXES = ["Suppose $x < 0$. ", "Assume that $n$ is odd. ", "Let $x = 3$. ", "All numbers are written in base 6. ",
            "Round your answer to the nearest ten. ", "Give your answer as a decimal. ", "Work modulo 5. ",
            "Let $a$ be negative. ", "Your answer must be a prime number. ", "Answer in degrees. ",
            "In this problem, $i$ is an integer, not the imaginary unit. ", "Only count odd numbers. ",
            "Suppose every number below is doubled. ", "Give the answer in percent. ", "Let $k = 2$. "]


def prefixes(p: str):
    for c in PREFIXES:
        yield f"prefix {c.strip()!r}", c + p


def targets(p: str):
    """The last math of the question, + 1 (or its first number + 1 for an equation or a list): what is asked for
    changes, so an answer as before skipped it."""
    last = sentences(p)[-1] if sentences(p) else ""
    spans = [(s, e) for s, e in math_spans(p) if s >= len(p) - len(last)]
    if not spans:
        return
    s, e = spans[-1]
    body = p[s:e].rstrip(" .,?")
    end = s + len(body)
    if re.search(r"[=<>,]|\\le|\\ge", body):
        m = re.search(r"(?<![\w.\\])\d+(?![\w.])", body)
        if m:
            yield f"{m.group()} -> {int(m.group()) + 1} in the question", \
                p[:s + m.start()] + str(int(m.group()) + 1) + p[s + m.end():]
        return
    yield f"{body!r} + 1", p[:s] + f"({body}) + 1" + p[end:]


def asks(p: str):
    """A letter asked for in the question swapped for another letter of the problem: x for y in 'what is x?'."""
    last = sentences(p)[-1] if sentences(p) else ""
    found = math_letters(p)
    used = sorted({p[i:j] for i, j in found})
    for i, j in found:
        if i >= len(p) - len(last):   # in the question
            for other in used:
                if other != p[i:j]:
                    yield f"{p[i:j]} -> {other} in the question", p[:i] + other + p[j:]


def halves(p: str):
    """Each whole number in the math (the first six) made n.5: a task about integers (divisors, remainders, digits,
    counting) must refuse it. Run with --answered: every answer is listed, not only an answer as before."""
    found = [(s + m.start(), s + m.end()) for s, e in math_spans(p)
             for m in re.finditer(r"(?<![\w.\\^_])\d+(?![\w.])", p[s:e])]
    for i, j in found[:6]:
        yield f"{p[i:j]} -> {p[i:j]}.5 at {i}", p[:i] + p[i:j] + ".5" + p[j:]


# what the question asks for, changed: a reading that answers as before skipped the words put in
HEADS = ("square of the", "reciprocal of the", "negative of the", "sum of the digits of the", "cube of the",
         "absolute value of the", "square root of the", "units digit of the")


def heads(p: str):
    for m in re.finditer(r"\b(?:what is|find|compute|determine|evaluate) the (?!\s)", p, flags=re.IGNORECASE):
        for h in HEADS:
            yield f"the {h}", p[:m.end()] + h + " " + p[m.end():]


FAMILIES = {"swap": swaps, "number": numbers, "drop": drops, "add": adds, "insert": inserts, "relation": relations,
            "mathnumber": math_numbers, "command": commands, "letter": letters, "prefix": prefixes,
            "target": targets, "ask": asks, "half": halves,
            "head": heads}


def edited(job: tuple) -> tuple[list, int]:
    """The edits of one problem answered as the original was, and how many edits were tried."""
    row, problem, answer, families, seconds, answered = job
    same, tried = [], 0
    for family in families:
        for what, text in FAMILIES[family](problem):
            if text == problem:
                continue
            tried += 1
            try:
                got = solve(text, seconds=seconds).answer_text
            except Exception:  # noqa: BLE001 - a refusal of an edited problem is a fine outcome
                continue
            if got == answer or answered:
                same.append({"row": row, "family": family, "edit": what, "answer": answer, "problem": text} |
                            ({"got": got} if answered else {}))
    return same, tried


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.edits")
    ap.add_argument("file", nargs="?", default=str(TRAIN))
    ap.add_argument("results", nargs="?", default=str(RESULTS))
    ap.add_argument("--family", default="swap,number,drop,add")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--answered", action="store_true", help="list every edit answered, not only those as before")
    ap.add_argument("--seconds", type=float, default=5.0, help="time limit of one solve (a slow edit is refused)")
    args = ap.parse_args()
    families = [f for f in args.family.split(",") if f]
    rows = [json.loads(line) for line in Path(args.file).read_text().splitlines() if line.strip()]
    results = [json.loads(line) for line in Path(args.results).read_text().splitlines() if line.strip()]
    jobs = [(i, row["problem"], r["answer"], families, args.seconds, args.answered)
            for i, (row, r) in enumerate(zip(rows, results)) if r["solved"] == "verified"]
    jobs = jobs[:args.limit] if args.limit else jobs
    t0, tried, found = time.perf_counter(), 0, []
    with ProcessPoolExecutor(args.jobs) as pool:
        for same, n in pool.map(edited, jobs, chunksize=4):
            tried += n
            found += same
            for s in same:
                print(json.dumps(s), flush=True)
    by = Counter(s["family"] for s in found)
    print(f"{len(jobs)} verified problems, {tried} edits in {time.perf_counter() - t0:.0f} s: answered as the "
          f"original {len(found)} ({', '.join(f'{f} {by[f]}' for f in families)}); each is read by a person")


if __name__ == "__main__":
    main()
