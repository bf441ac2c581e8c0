"""Verdicts that never guess: `verified`, `wrong` (with the correct answer) or `unverifiable` (with the reason).

An answer is checked against a problem (solved independently by the symbolic engine) or against an expected
answer. Solution sets are compared without order, `x = …` forms and ± are understood, equations are compared as
equations (proportional sides), antiderivatives up to a constant, and a numeric tolerance is used only when the
answer is written as a decimal.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace

import sympy as sp

from ..errors import PhiflashError
from .answers import Answer, math_verify_parse, read_answer
from .equality import Undecidable, identical, numeric
from .parse import ParseError, parse_as_written
from .problem import outside_template
from .reader import parse_problem
from .readings import Ambiguous, all_readings, ask, current, declared, forced, label_of
from .solver import SolveError, exact, solve_problem
from .timelimit import TimeLimitError, run_with_time_limit

VERIFIED, WRONG, UNVERIFIABLE = "verified", "wrong", "unverifiable"
NO_MATCH = "does not match the correct answer"  # the plain "wrong"; any other reason says more


@dataclass
class Verdict:
    status: str
    expected: str | None = None    # the checker's answer, when it has one
    reason: str = ""
    answer: str | None = None      # the answer as read

    def to_dict(self) -> dict:
        return asdict(self)


# ---- equality of single values ----------------------------------------------------------------------------------


def values_equal(a, b, decimals: int | None = None) -> bool:
    """a == b exactly; or, when a was written with `decimals` decimal places, to within half a unit of the last."""
    if isinstance(a, sp.Tuple) or isinstance(b, sp.Tuple):
        if not (isinstance(a, sp.Tuple) and isinstance(b, sp.Tuple)) or len(a) != len(b):
            return False
        return all(values_equal(x, y, decimals) for x, y in zip(a, b))
    if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
        return isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase) and a.shape == b.shape and all(
            values_equal(x, y, decimals) for x, y in zip(a, b))
    if not (isinstance(a, sp.Expr) and isinstance(b, sp.Expr)):
        return a == b
    if decimals is not None or a.has(sp.Float) or b.has(sp.Float):
        if a.free_symbols or b.free_symbols:
            return identical(a, b)
        tol = 0.5 * 10 ** -(decimals if decimals is not None else 6) + 1e-12 * abs(numeric(b))
        return abs(numeric(a) - numeric(b)) <= tol
    if a == b:
        return True
    if a.is_infinite or b.is_infinite:
        return False
    return identical(a, b)


def _same_set(cands: list, expected: list, decimals) -> bool:
    """Equal as sets: every candidate matches an expected value and every expected value is matched."""
    matched = set()
    for c in cands:
        hit = [i for i, e in enumerate(expected) if values_equal(c, e, decimals)]
        if not hit:
            return False
        matched.update(hit)
    return len(matched) == len(expected)


def _is_real(v) -> bool:
    """False only for a value known not to be real: a root in a letter (−w − 6) may be real, so it is never left
    out of the real roots an answer must list."""
    try:
        return abs(numeric(v).imag) < 1e-12
    except (TypeError, ValueError):
        return v.is_real is not False


# ---- comparing answers ------------------------------------------------------------------------------------------


def compare(cand: Answer, exp: Answer, var: sp.Symbol | None = None, antiderivative: bool = False,
            variables: tuple = ()) -> bool:
    """True/False, or raises Undecidable. `exp` is the reference reading."""
    if exp.kind == "dne" or cand.kind == "dne":
        return cand.kind == exp.kind
    if exp.kind == "empty":
        return cand.kind == "empty"
    if antiderivative:
        if cand.kind != "values" or len(cand.values) != 1:
            return False
        c = cand.values[0]
        c = c.subs({s: 0 for s in c.free_symbols if s.name in ("C", "c", "K")})
        x = var or sp.Symbol("x")
        return identical(sp.diff(c - exp.values[0], x), sp.Integer(0))
    if cand.kind == "empty":  # "no real solution" is right when every root is complex
        return exp.kind == "values" and not any(_is_real(v) for v in exp.values)
    if exp.kind == "set" or cand.kind == "set":
        a, b = _as_set(cand, var), _as_set(exp, var)
        return a == b or (cand.decimals is not None and _intervals_close(a, b, cand.decimals))
    if exp.kind == "equation" or cand.kind == "equation":
        cand, exp = _as_equations(cand), _as_equations(exp)
        if cand.kind != "equation" or exp.kind != "equation" or len(cand.values) != len(exp.values):
            return False
        return all(any(_proportional(c, e) for e in exp.values) for c in cand.values)
    if exp.kind == "tuples" and cand.kind == "values" and not cand.names and variables and \
            len(cand.values) == len(variables):  # a bare 2, 1 is the one solution in the problem's order (x, y)
        cand = replace(cand, kind="tuples", values=[sp.Tuple(*cand.values)])
    if exp.kind == "tuples" or cand.kind == "tuples":
        return _same_set(_tuples(cand, variables), _tuples(exp, variables), cand.decimals)
    if _same_set(cand.values, exp.values, cand.decimals):
        return True
    # real-domain reading: all the real roots and nothing else (x^4 = 16 -> ±2)
    real = [v for v in exp.values if _is_real(v)]
    if real and len(real) < len(exp.values) and all(_is_real(c) for c in cand.values):
        return _same_set(cand.values, real, cand.decimals)
    return False


def _intervals_close(a: sp.Set, b: sp.Set, decimals: int) -> bool:
    """(0.6, 2.6667] and (3/5, 8/3]: the same intervals, ends equal to the decimals written, same open/closed."""
    pa = a.args if isinstance(a, sp.Union) else (a,)
    pb = b.args if isinstance(b, sp.Union) else (b,)
    if len(pa) != len(pb) or not all(isinstance(i, sp.Interval) for i in pa + pb):
        return False
    def end_equal(u, v):
        return u == v if (u.is_infinite or v.is_infinite) else values_equal(u, v, decimals)
    return all(x.left_open == y.left_open and x.right_open == y.right_open and
               end_equal(x.start, y.start) and end_equal(x.end, y.end)
               for x, y in zip(sorted(pa, key=lambda i: float(i.start)), sorted(pb, key=lambda i: float(i.start))))


def _as_equations(ans: Answer) -> Answer:
    """`y = 3x + 13` was read as a value of y; as an equation it is y − (3x + 13) = 0."""
    if ans.kind == "values" and ans.names:
        return Answer("equation", [sp.Eq(sp.Symbol(n), v) for n, v in zip(ans.names, ans.values)], text=ans.text)
    return ans


def _proportional(a: sp.Eq, b: sp.Eq) -> bool:
    fa, fb = sp.expand(a.lhs - a.rhs), sp.expand(b.lhs - b.rhs)
    if fb == 0 or fa == 0:
        return fa == fb
    ratio = sp.simplify(fa / fb)
    return not ratio.free_symbols and ratio != 0


def _tuples(ans: Answer, variables: tuple) -> list:
    order = [v.name for v in variables] or sorted({k for d in ans.values if isinstance(d, dict) for k in d})
    out = []
    for v in ans.values:
        if isinstance(v, dict):
            out.append(sp.Tuple(*[v.get(n, sp.Symbol(n)) for n in order]))
        else:
            out.append(v if isinstance(v, sp.Tuple) else sp.Tuple(v))
    return out


def _as_set(ans: Answer, var) -> sp.Set:
    if ans.kind == "empty":
        return sp.EmptySet
    if ans.kind == "values":
        return sp.FiniteSet(*ans.values)
    pieces = []
    for item in ans.values:
        if isinstance(item, sp.Set):
            s = item
        elif isinstance(item, sp.Tuple) and len(item) == 2:
            s = sp.Interval.open(*item)
        elif isinstance(item, (sp.Rel, sp.And)):
            free = item.free_symbols
            x = var if var is not None and var in free else (sorted(free, key=lambda s: s.name) or [None])[0]
            if x is None:
                raise Undecidable("an inequality without a variable")
            real = sp.Symbol(x.name, real=True)
            s = sp.solve_univariate_inequality(item.subs(x, real), real, relational=False) if isinstance(
                item, sp.Rel) else sp.Intersection(*[sp.solve_univariate_inequality(r.subs(x, real), real,
                                                                                    relational=False)
                                                    for r in item.args])
        else:
            s = sp.FiniteSet(item)
        pieces.append(s)
    # Conditions joined by 'and' all hold (x > -2 and x < 2); by 'or', any (a union); a comma between conditions
    # has both readings, and is read only where they agree.
    union = sp.Union(*pieces) if pieces else sp.EmptySet
    conditions = len(pieces) > 1 and any(isinstance(i, sp.And) or isinstance(i, sp.Rel) and not isinstance(
        i, (sp.Eq, sp.Ne)) for i in ans.values)  # inequalities; a list of roots (x = 2 and x = -2) is a union
    if conditions and ans.joined in ("and", ","):
        both = sp.Intersection(*pieces)
        if ans.joined == "," and both != union:
            comma = re.search(r"(?<![\d.])(\d+),(\d+)(?![\d.])", ans.text)
            if comma:  # x>1,5 is also x > 1.5 written with a decimal comma
                a, b = comma.groups()
                raise Undecidable(f"'{ans.text}' may be {a}.{b} written with a decimal comma, or two conditions "
                                  f"meaning both (and) or either (or): write {a}.{b}, or 'and' or 'or'")
            raise Undecidable(f"'{ans.text}' may mean every condition (and) or any of them (or): write 'and' or "
                              "'or'")
        return both
    return union


# ---- verdicts ---------------------------------------------------------------------------------------------------


def _expected_answer(solution) -> tuple[Answer, dict]:
    p = solution.problem
    a = solution.answer
    opts = {"var": p.var, "variables": p.variables}
    if p.kind == "equation" and isinstance(a, sp.Expr):
        return Answer("values", [a]), opts
    if p.kind == "equation":
        if isinstance(a, sp.Set):
            return Answer("set", [a]), opts
        return (Answer("values", list(a)) if a else Answer("empty")), opts
    if p.kind == "system":
        return (Answer("tuples", [dict((k.name, v) for k, v in s.items()) for s in a]) if a else
                Answer("empty")), opts
    if p.kind == "inequality" and p.pick:
        return Answer("values", [a]), opts
    if p.kind == "inequality":
        return (Answer("set", [a]) if a != sp.EmptySet else Answer("empty")), opts
    if isinstance(a, sp.Set):   # a task's set of numbers (a domain): compared as a set, (5, ∞) an interval
        return (Answer("set", [a]) if a != sp.EmptySet else Answer("empty")), opts
    if p.kind == "limit" and a is sp.nan:
        return Answer("dne"), opts
    if p.kind == "integral" and p.lower is None:
        return Answer("values", [a]), opts | {"antiderivative": True}
    return Answer("values", [a]), opts


def _check(answer_text: str, problem_text: str | None, expected_text: str | None) -> Verdict:
    """The verdict under every reading of the texts' notations with several (readings.py): one verdict when
    they all agree, else "unverifiable" with the question that tells the readings apart."""
    with forced(declared(problem_text)):
        return _check_each_reading(answer_text, problem_text, expected_text)


def _check_each_reading(answer_text: str, problem_text: str | None, expected_text: str | None) -> Verdict:
    base = current()
    found = all_readings(_check_once, answer_text, problem_text, expected_text)
    if len(found) == 1:
        f, v = found[0]
        if isinstance(v, Exception):
            raise v
        return v
    maps = [f for f, _ in found]
    verdicts = [v if isinstance(v, Verdict) else Verdict(UNVERIFIABLE, reason=str(v)) for _, v in found]
    question, labels = ask(maps, base), [label_of(f, base) for f in maps]
    first = verdicts[0]
    if len({v.status for v in verdicts}) == 1:
        why = f"{first.reason}; " if first.reason else ""
        expected = " or ".join(dict.fromkeys(str(v.expected) for v in verdicts)) if first.expected else None
        return replace(first, expected=expected, reason=f"{why}the same verdict under each reading ({question})")
    right = [lab for lab, v in zip(labels, verdicts) if v.status == VERIFIED]
    others = [lab for lab, v in zip(labels, verdicts) if v.status != VERIFIED]
    told = (f"; read as {' or '.join(right)} it is right, as {' or '.join(others)} it is not" if right
            else f"; read as {' or '.join(lab for lab, v in zip(labels, verdicts) if v.status == WRONG)} it is "
            "wrong, the other reading cannot be checked")
    return Verdict(UNVERIFIABLE, first.expected, f"{question}{told}: which did you mean?", first.answer)


def _check_once(answer_text: str, problem_text: str | None, expected_text: str | None) -> Verdict:
    try:
        cand = read_answer(answer_text)
    except Ambiguous:
        raise
    except Exception as e:  # noqa: BLE001 - unreadable, whatever the reason
        return Verdict(UNVERIFIABLE, reason=f"cannot read the answer: {e}")
    got = _expected(problem_text, expected_text)
    if isinstance(got, Verdict):
        return got
    exp, opts, expected_str, prob = got
    if prob is not None and prob.form == "base" and prob.n is not None:
        try:
            cand = _in_base(cand, answer_text, int(prob.n))
        except ParseError as e:
            return Verdict(WRONG, expected_str, str(e), cand.text)
    refused = _not_the_answer_stated(cand, prob)
    if refused:
        return Verdict(UNVERIFIABLE, expected_str, refused, cand.text)
    if cand.kind == "text" or exp.kind == "text":
        same = cand.kind == exp.kind and cand.values == exp.values
        return Verdict(VERIFIED if same else WRONG, expected_str, "" if same else "the text differs", cand.text)
    if cand.kind == "equation" and exp.kind == "values" and exp.names is not None and prob is not None and \
            prob.kind == "equation" and all(isinstance(v, sp.Expr) and not v.free_symbols for v in exp.values):
        return Verdict(UNVERIFIABLE, expected_str, f"{answer_text} is an equation still to be solved, not a "
                       f"solution: solve it for {prob.var}", cand.text)
    if cand.unit and exp.unit and cand.unit != exp.unit and not {cand.unit, exp.unit} & _ANY_UNIT:
        return Verdict(UNVERIFIABLE, expected_str, f"the units differ ({cand.unit}, {exp.unit}): not compared",
                       cand.text)
    try:
        restricted = _restrictions_differ(cand, prob)
    except Undecidable as e:
        return Verdict(UNVERIFIABLE, expected_str, str(e), cand.text)
    try:
        ok = compare(cand, exp, **opts)
    except Undecidable as e:
        return Verdict(UNVERIFIABLE, expected_str, f"equivalence undecided: {e}", cand.text)
    except Exception as e:  # noqa: BLE001 - SymPy's failures to compare are "cannot check"
        return Verdict(UNVERIFIABLE, expected_str, f"cannot compare: {type(e).__name__}: {e}", cand.text)
    if not ok:
        how, why, pair = _other_reading_matches(cand, exp, opts)
        if how == "ambiguous":
            return Verdict(UNVERIFIABLE, expected_str, f"{why}; read that way it matches", cand.text)
        if how == "same":
            ok, (cand, exp) = True, pair
    if not ok and expected_text is not None and _second_reader_equal(expected_text, answer_text):
        return Verdict(UNVERIFIABLE, expected_str, "the two readers of the answers disagree (math-verify reads "
                       "them as equal)", cand.text)
    if ok and restricted:
        return Verdict(WRONG, expected_str, f"right value, but {restricted}", cand.text)
    if ok:
        return _agreed(cand, exp, opts, prob, answer_text, expected_str)
    return Verdict(WRONG, expected_str, NO_MATCH, cand.text)


def _expected(problem_text: str | None, expected_text: str | None):
    """The answer to compare with, the comparison's options, its text and the problem as read (None when not
    read): from the expected answer given, else from solving the problem; or the Verdict when neither can be had."""
    expected_str = None
    opts: dict = {}
    prob = None
    if expected_text is not None:
        try:
            exp = read_answer(expected_text)
        except Ambiguous:
            raise
        except Exception as e:  # noqa: BLE001
            return Verdict(UNVERIFIABLE, reason=f"cannot read the expected answer: {e}")
        expected_str = expected_text
        if problem_text is not None:
            try:
                prob = parse_problem(problem_text)
                opts = {"var": prob.var, "variables": prob.variables,
                        "antiderivative": prob.kind == "integral" and prob.lower is None}
            except Ambiguous:
                raise
            except Exception:  # noqa: BLE001 - the problem only refines the comparison; the answers decide
                prob = None
    else:
        try:
            solution = solve_problem(problem_text)
        except Ambiguous:
            raise
        except ParseError as e:
            return Verdict(UNVERIFIABLE, reason=f"cannot read the problem: {e}")
        except SolveError as e:
            return Verdict(UNVERIFIABLE, reason=f"the symbolic engine cannot solve it: {e}")
        except Exception as e:  # noqa: BLE001 - a solver failure is "cannot check", never a crash or a "wrong"
            return Verdict(UNVERIFIABLE, reason=f"the symbolic engine failed on it ({type(e).__name__}: {e})")
        exp, opts = _expected_answer(solution)
        expected_str = solution.answer_text
        prob = solution.problem
    return exp, opts, expected_str, prob


def _agreed(cand: Answer, exp: Answer, opts: dict, prob, answer_text: str, expected_str: str | None) -> Verdict:
    """The values agree: verified, unless the form asked for is not the one written, or decimals agree only to the
    places written."""
    form = _form_problem(answer_text, prob.form) if prob is not None else None
    form = form or (_task_form(cand, prob, answer_text) if prob is not None else None)
    if form:
        return Verdict(WRONG, expected_str, f"right value, but {form}", cand.text)
    if cand.decimals is not None and not (prob is not None and prob.form == "decimal") and \
            not _matches_exactly(cand, exp, opts):
        return Verdict(UNVERIFIABLE, expected_str, f"it agrees with {expected_str} only to the "
                       f"{cand.decimals} decimal place{'s' if cand.decimals > 1 else ''} written, and the problem "
                       "does not ask to round", cand.text)
    unit = cand.unit or exp.unit
    return Verdict(VERIFIED, expected_str, f"compared without the unit ({unit})" if unit and
                   cand.unit != exp.unit else "", cand.text)


def _restrictions_differ(cand: Answer, prob) -> str | None:
    """A stated restriction (x + 1, x ≠ 1) must be exactly where the problem's expression or equation is
    undefined: what is wrong about it, None when it is right or none was stated. Undecidable when the problem
    gives nothing to compare with."""
    if not cand.restrictions:
        return None
    if prob is None or prob.var is None or prob.kind not in ("simplify", "expand", "factor", "evaluate", "equation"):
        raise Undecidable("a restriction is compared only with the expression or equation of a problem")
    x = prob.var
    if any(s != x for s, _ in cand.restrictions):
        raise Undecidable(f"the restriction is about another variable than the problem's {x}")
    e = prob.items[0]
    f = e.lhs - e.rhs if isinstance(e, sp.Eq) else e
    denominators = [sp.fraction(sp.together(t))[1] for t in sp.preorder_traversal(f) if isinstance(t, sp.Expr)]
    undefined = set()
    for d in denominators:
        if d.has(x):
            zeros = sp.solveset(d, x, sp.S.Reals)
            if not isinstance(zeros, sp.FiniteSet):
                raise Undecidable(f"where the problem's expression is undefined is not a finite set ({zeros})")
            undefined |= set(zeros)
    stated = {v for _, v in cand.restrictions}
    if stated == undefined:
        return None
    extra = sorted(stated - undefined, key=sp.default_sort_key)
    missing = sorted(undefined - stated, key=sp.default_sort_key)
    told = [f"{x} ≠ {v} is not needed (it is defined at {v})" for v in extra]
    told += [f"{x} ≠ {v} is missing" for v in missing]
    return "the restrictions differ: " + "; ".join(told)


def _matches_exactly(cand: Answer, exp: Answer, opts: dict) -> bool:
    """The decimals written are the exact value (0.375 = 3/8), not a rounding of it (0.333 for 1/3)."""
    def as_typed(v):
        return {k: as_typed(x) for k, x in v.items()} if isinstance(v, dict) else exact(v)
    as_written = replace(cand, values=[as_typed(v) for v in cand.values], decimals=None, alternatives=[])
    try:
        return compare(as_written, exp, **opts)
    except Exception:  # noqa: BLE001 - not provably exact
        return False


_SCALES = ("%", "°")  # marks whose alternative reading rescales the value
_ANY_UNIT = {"units", "units²", "units³"}  # "square units" matches whatever unit the other side names


def _other_reading_matches(cand: Answer, exp: Answer, opts: dict) -> tuple[str | None, str, tuple]:
    """When the first readings differ: does another honest reading of either side match? ("same", why, pair)
    for a notation of the same value (35% as 0.35), ("ambiguous", why, pair) for a reading that may not be
    meant; (None, "", ()) when none does."""
    # 50% read as 0.5 is compared with a plain value only: against 0.5% it would be a false "same"
    pairs = [(how, why, alt, exp) for how, why, alt in cand.alternatives if exp.unit not in _SCALES]
    pairs += [(how, why, cand, alt) for how, why, alt in exp.alternatives if cand.unit not in _SCALES]
    found: tuple[str | None, str, tuple] = (None, "", ())
    for how, why, c, e in pairs:
        try:
            if compare(c, e, **opts):
                if how == "same":
                    return how, why, (c, e)
                found = (how, why, (c, e))
        except Exception:  # noqa: BLE001 - an alternative that can't be compared proves nothing
            continue
    return found


def _second_reader_equal(reference: str, answer: str) -> bool:
    """math-verify's LaTeX reading of both texts, asked only before saying "wrong" against a reference: if an
    independent grader reads them as equal, our "wrong" is not confident. It can only turn wrong into
    unverifiable, never make anything verified."""
    try:
        from math_verify import verify

        gold = math_verify_parse(reference, wrap="$" not in reference)
        pred = math_verify_parse(answer, wrap="$" not in answer)
        return bool(gold and pred and verify(gold, pred, timeout_seconds=None))
    except Exception:  # noqa: BLE001 - no second opinion
        return False


def _in_base(cand: Answer, text: str, base: int) -> Answer:
    """A bare numeral answering "in base b" is read in base b (202 in base 7 is 100)."""
    digits = re.fullmatch(r"\s*\$?\s*([0-9A-Z]+)\s*\$?\s*", text)
    if not digits or cand.kind != "values":
        return cand
    try:
        return Answer("values", [sp.Integer(int(digits.group(1), base))], text=text)
    except ValueError:
        raise ParseError(f"{digits.group(1)} is not a numeral in base {base}") from None


def _not_the_answer_stated(cand: Answer, prob) -> str | None:
    """Why an answer cannot be judged as the answer to this problem, or None: a chain with a false link, or an
    answer about another unknown than the problem's."""
    if cand.false_link:
        return f"the chain {cand.text.strip()} has a false link ({cand.false_link}): a chain holds only if every " \
               "link holds"
    if prob is None or prob.var is None or prob.kind not in ("equation", "inequality"):
        return None
    names = set(cand.names)
    if cand.kind == "set":
        names |= {s.name for v in cand.values if isinstance(v, (sp.Rel, sp.And)) for s in v.free_symbols}
    allowed = {prob.var.name} | {v.name for v in prob.variables}
    if names and not names & allowed:
        return f"the problem's unknown is {prob.var}; the answer is about {', '.join(sorted(names))}"
    return None


def _task_form(cand: Answer, prob, text: str) -> str | None:
    """What is wrong with the form a task asks for (factor, expand, simplify, lowest terms), or None: a value
    equal to the answer but not in the asked form is not the answer (the problem copied back is equal to it)."""
    kind = prob.kind
    if kind in ("factor", "expand", "simplify") or prob.form in ("fraction", "simplest"):
        unreduced = _unreduced_fraction(text)
        if unreduced:
            return f"{unreduced} is not in lowest terms"
    if kind == "evaluate" and prob.items:
        restated = _restated(text, prob.text or "", prob.items[0])
        if restated:
            return restated
    if kind == "simplify" or prob.form in ("radical", "simplest") or re.search(r"\bsimplif", prob.text or "",
                                                                               re.IGNORECASE):
        radical = _unsimplified_radical(text)
        if radical:
            return radical
    if prob.form == "polynomial":   # 'in the form Ax³ + Bx² + Cx + D'
        if _not_multiplied_out(text):
            return "not written out as the form asks: multiply out the brackets"
        value = cand.values[0] if cand.kind == "values" and len(cand.values) == 1 else None
        outside = outside_template(value, prob.template)
        if outside:
            return f"the answer {outside}"
    if prob.form == "increasing" and cand.kind == "values" and len(cand.values) > 1 and all(
            isinstance(v, sp.Expr) and v.is_real for v in cand.values) and \
            any(sp.N(a - b) >= 0 for a, b in zip(cand.values, cand.values[1:])):
        return "not listed in increasing order"
    if prob.form == "rectangular" and _not_rectangular(text):
        return "not in rectangular form a + bi"
    if prob.form in ("radical", "simplest"):   # 'in simplest radical form', 'Rationalize the denominator'
        below = _radical_below(text)
        if below:
            return below
    if cand.kind != "values" or len(cand.values) != 1 or not isinstance(cand.values[0], sp.Expr):
        return None
    c = cand.values[0]
    if not c.free_symbols:
        return None
    if kind == "factor" and not _fully_factored(c, text):
        return "not factored completely"
    if kind == "expand" and sp.expand(c) != c:
        return "not expanded"
    if kind == "simplify":
        num, den = sp.fraction(sp.together(c))
        common = sp.gcd(num, den)
        if common.free_symbols:
            return f"not simplified: the numerator and denominator share {common}"
    return None


def _restated(answer: str, problem: str, value) -> str | None:
    """"Evaluate 3!" answered "3!" (or "2^3" for 2^3): the expression copied back is equal to its value, but it
    is not an evaluation when the value is a rational number. A plain number or fraction is never a restatement,
    and an irrational value's form is not judged ("evaluate 2 + sqrt(3)" answered 2 + sqrt(3))."""
    def squeeze(t: str) -> str:
        t = re.sub(r"\\[,;:! ]|\$|\\left|\\right|\s", "", t)
        return t.replace("\\cdot", "*").replace("\\times", "*").replace("·", "*").replace("×", "*")
    a = squeeze(re.sub(r"^\s*[A-Za-z]\s*=(?!=)", "", answer))
    number = r"[-+]?(?:\d+(?:\.\d+)?(?:/\d+)?|\\[dt]?frac\{\d+\}\{\d+\}|\\[dt]?frac\d\d)"
    if not a or re.fullmatch(number, a) or \
            not re.search(r"[-+*/^!]|\\frac|sqrt|binom|choose", a) or not getattr(value, "is_Rational", False):
        return None  # an irrational value has many final forms (2 + √3, √3 + 2): only a rational one is a number
    if a in squeeze(problem):
        return "it restates the expression to evaluate"
    if re.search(r"\d\s*!", a):
        return "the factorial is not evaluated"
    return None


def _unsimplified_radical(text: str) -> str | None:
    """√8 (sqrt(8), \\sqrt{8}) written in an answer that should be simplified: 8 has the square factor 4. The value
    is read as 2√2 by the parser, so only the text shows it."""
    for m in re.finditer(r"(?:√|sqrt|\\sqrt)\s*[({]?\s*(\d+)\s*[)}]?", text):
        n = int(m.group(1))
        square = max((k * k for k in range(2, int(n ** 0.5) + 1) if n % (k * k) == 0), default=1)
        if n > 1 and square > 1:
            return f"not in simplest radical form: {m.group(0).strip()} has the square factor {square}"
    return None


def _unevaluated(text: str) -> list:
    try:
        return [e for e in parse_as_written(text, latex=True) if isinstance(e, sp.Basic)]
    except (ParseError, TypeError, ValueError):
        return []


def _not_multiplied_out(text: str) -> bool:
    """x(3x² − 2) − 5(x² − 2x + 7), (x + 1)²: a product or a power of a sum, as written."""
    def sum_of_terms(b) -> bool:   # a sum with a letter in it: the parser's −7 is Add(−7, 0), a number
        return isinstance(b, sp.Add) and bool(b.free_symbols)
    return any(isinstance(a, sp.Mul) and any(sum_of_terms(b) for b in a.args) or
               isinstance(a, sp.Pow) and sum_of_terms(a.base)
               for e in _unevaluated(text) for a in sp.preorder_traversal(e))


def _not_rectangular(text: str) -> bool:
    """√2·e^(3πi/4), 2(cos 30° + i sin 30°), cis θ: a complex number written another way than a + bi."""
    return any(isinstance(a, sp.Function) and not isinstance(a, sp.Abs) or isinstance(a, sp.Pow) and a.base == sp.E
               for e in _unevaluated(text) for a in sp.preorder_traversal(e))


def _radical_below(text: str) -> str | None:
    """1/√2, 6/√3, √(1/2): a radical in a denominator. The parser writes 1/√2 as √2/2 as it reads, so the answer
    is read again with nothing evaluated, and its tree searched for a negative power of a radical (or a radical
    of a negative power)."""
    def radical(e) -> bool:
        return any(isinstance(a, sp.Pow) and a.exp.is_Rational and not a.exp.is_Integer
                   for a in sp.preorder_traversal(e))
    for e in _unevaluated(text):
        for a in sp.preorder_traversal(e):
            if isinstance(a, sp.Pow) and a.exp.is_negative and radical(a.base):
                return "the denominator still has a radical in it"
            if isinstance(a, sp.Pow) and a.exp.is_Rational and not a.exp.is_Integer and any(
                    isinstance(b, sp.Pow) and b.exp.is_negative for b in sp.preorder_traversal(a.base)):
                return "a radical of a fraction: the denominator still has a radical in it"
    return None


def _unreduced_fraction(text: str) -> str | None:
    for m in re.finditer(r"(?<![\d.])(\d+)\s*/\s*(\d+)(?![\d.])|\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}",
                         text):
        a, b = (int(g) for g in (m.group(1, 2) if m.group(1) else m.group(3, 4)))
        if b and math.gcd(a, b) > 1:
            return m.group(0).strip()
    return None


def _fully_factored(c: sp.Expr, text: str = "") -> bool:
    """Every factor with a variable is irreducible over the rationals and keeps no whole-number factor inside:
    (x - 2)(x - 3), 2x(x + 1)², 15(3x + 2), not x² - 5x + 6, x(x² - 1), 45x + 30 or (2x - 4)(x + 2). SymPy
    multiplies a number into a sum as it reads 15(3x + 2), so the number written in front (`text`) is taken out
    again before the rest is judged."""
    shown = re.match(r"\s*([-+]?\d+)\s*[·*×]?\s*\(", text)
    front = abs(int(shown.group(1))) if shown else 1
    bases = [f.base if f.is_Pow and f.exp.is_Integer and f.exp > 0 else f for f in sp.Mul.make_args(c)]
    bases = [b for b in bases if b.free_symbols]
    contents = [b.as_content_primitive()[0] for b in bases]
    for i, k in enumerate(contents):   # the number in front went into one sum: take it out of that one
        if front > 1 and isinstance(bases[i], sp.Add) and (k / front).is_Integer:
            contents[i], front = k / front, 1
    if any(k.is_Integer and abs(k) > 1 for k in contents):
        return False
    for base in bases:
        _, factors = sp.factor_list(base)
        if len(factors) != 1 or factors[0][1] != 1:
            return False
    return True


def _form_problem(text: str, form: str | None) -> str | None:
    """What is wrong with the form of an answer whose value is right, or None."""
    decimal = re.search(r"\d*\.\d", text) is not None
    mixed = re.search(r"\d\s*\\[dt]?frac|\d\s+\d+\s*/\s*\d", text) is not None
    if form == "fraction" and (decimal or mixed):
        return "the problem asks for a common fraction"
    if form == "decimal" and not decimal and re.search(r"/|\\[dt]?frac", text):
        return "the problem asks for a decimal"
    return None


def check_answer(answer: str, problem: str | None = None, expected: str | None = None,
                 seconds: float = 10.0) -> Verdict:
    """Check `answer` against `expected` if given, else against the problem solved independently."""
    if problem is None and expected is None:
        raise PhiflashError("check_answer needs a problem or an expected answer")
    try:
        return run_with_time_limit(_check, answer, problem, expected, seconds=seconds)
    except TimeLimitError as e:
        return Verdict(UNVERIFIABLE, reason=f"time limit: {e}")
    except Exception as e:  # noqa: BLE001 - whatever breaks inside one check is that check's result
        return Verdict(UNVERIFIABLE, reason=f"the checker failed ({type(e).__name__}: {e})")
