"""Reading answers the way graders do (issue 15): every notation of an equal answer is verified or, when the reading
is honestly ambiguous, unverifiable — never "wrong"; an unequal answer is never verified. Pairs by class, our own."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phiflash.symbolic.verify import UNVERIFIABLE, VERIFIED, WRONG, _check

V, W, U = VERIFIED, WRONG, UNVERIFIABLE


def verdict(answer: str, reference: str, problem: str | None = None):
    return _check(answer, problem, reference)  # in-process: the time limit is not what is tested here


CLASSES = {
    "relations": [
        ("x \\ge 2", "$x >= 2$", V), ("y < 4", "$y \\lt 4$", V), ("x \\neq 1", "x != 1", V),
        ("t \\leq -1", "t ≤ -1", V), ("a \\ne 0", "a ≠ 0", V), ("x > 3", "$x \\geq 3$", W), ("x < 3", "x > 3", W),
    ],
    "units and text": [
        ("2/5", "\\frac{2}{5} \\text{ cm}", V), ("12", "12 \\textbf{inches}", V), ("7", "7\\textnormal{ feet}", V),
        ("30", "30 m^2", V), ("45", "45 €", V), ("8", "8 \\mbox{ dollars}", V), ("5", "5\\text{ cm}^2", V),
        ("x=3", "x = 3 \\text{ cm}", V), ("7", "\\boxed{7 \\text{ apples}}", V), ("5", "\\text{5}", V),
        ("12", "12cm", V), ("8", "9 \\text{ dollars}", W), ("4 \\text{ cm}", "5 \\text{ cm}", W),
        ("3 \\text{ km}", "3000 \\text{ m}", U), ("3 \\text{ km}", "3 \\text{ m}", U),
    ],
    "one-letter units only when set apart": [
        ("4 h", "4", V), ("4h", "5", W),
    ],
    "thousands separators": [
        ("2000", "2 000", V), ("52340.75", "\\$52,\\!340.75", V), ("31415", "31{,}415", V),
        ("1234567", "1,234,567", V), ("1000000", "1\\,000\\,000", V), ("21934", "21 {, }934", V),
        ("1234", "1,235", W), ("2000", "3 000", W),
    ],
    "percent": [
        ("35\\%", "35 percent", V), ("35\\%", "35 pct", V), ("35\\%", "35", V), ("12", "12 \\%", V),
        ("40\\%", "0.4", V), ("\\frac{1}{2}", "50\\%", V), ("40\\%", "41\\%", W), ("30\\%", "0.33", W),
        ("50\\%", "0.5\\%", W), ("0.5\\%", "50\\%", W), ("30^\\circ", "\\frac{\\pi}{6}^\\circ", W),
    ],
    "currency": [("\\$4.50", "4.5", V), ("4.50", "\\$4.50", V), ("5", "€6", W)],
    "degrees": [("15", "15^\\circ", V), ("60^\\circ", "60", V), ("\\frac{\\pi}{3}", "60^\\circ", V),
                ("45^\\circ", "50^\\circ", W)],
    "membership and intervals": [
        ("[-1, 5]", "x \\in [-1,5]", V), ("(-\\infty, 3)", "x \\in (-\\infty, 3)", V), ("[0, 2)", "x\\in[0,2]", W),
        ("(\\frac{2}{5}, \\frac{7}{4}]", "(0.4, 1.75]", V),   # the decimals are the exact ends
        ("(\\frac{3}{5},\\frac{8}{3}]", "(0.6,2.6667]", U),   # 8/3 only to the places written
        ("(\\frac{3}{5},\\frac{8}{3}]", "(0.6,2.7]", U), ("(\\frac{3}{5},\\frac{8}{3}]", "(0.6,2.9]", W),
    ],
    "chains read as their last member, when every link holds": [
        ("x = 9", "x = 4+4+1 = 9", V), ("x=10", "x = 2 \\cdot 5 = 10", V), ("12", "3 \\times 4 = 12", V),
        ("x = 11", "x = 5+5+1 = 7 = 11", U),  # 7 = 11 is false
        ("13", "3 \\times 4 = 12", W), ("y = 2x + 1", "y = 2x+1", V),
        ("y = 2x + 1", "y = 2x + 2", W),
    ],
    "answer sentences": [
        ("21934", "The final answer is $21 {, }934$", V), ("17", "The smallest $k$ is 17", V),
        ("5", "Answer \\( 5 \\)", V), ("5", "Answer $$ 5 $$", V), ("5", "Answer: $5$.", V),
        ("9", "The answer is: $9$", V), ("5", "This answer is $5$", V),   # "is" inside "This"
        ("5", "The answer is $6$.", W), ("2", "The answer is 2 or 3", W), ("2", "it is big", U),
        ("\\pm 5", "x is 5 or x is -5", U), ("5", "The final answer is 5, which is odd", U),
    ],
    "matrices": [
        ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{bmatrix} 1 \\\\ 2 \\end{bmatrix}", V),
        ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
         "\\left[\\begin{array}{cc} 1 & 2 \\\\ 3 & 4 \\end{array}\\right]", V),
        ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 3 \\end{pmatrix}", W),
    ],
    "decimals to the precision written": [
        ("\\frac{3}{8}", "0.375", V), ("\\frac{1}{3}", "0.333", U), ("\\sqrt{2}", "1.414", U),
        ("\\frac{1}{3}", "0.34", W), ("\\frac{1}{2}", "0.50", V),
    ],
    "decimal comma is ambiguous": [("1.25", "1,25", U), ("3.5", "3,5", U), ("1.234", "1,234", U), ("1234", "1,234", U),
                                   ("1050", "1,050", V), ("1250000", "1,250,000", V)],
    "ordered pairs": [("(1, 2)", "(1,2)", V), ("(2, 1)", "(1, 2)", W),
                      ("\\{1, 2\\}", "(1, 2)", U), ("1, 2", "\\left(1, 2\\right)", U), ("1, 2", "(1, 3)", W)],
}


@pytest.mark.parametrize("reference,answer,expected",
                         [p for pairs in CLASSES.values() for p in pairs],
                         ids=[f"{c}:{a}" for c, pairs in CLASSES.items() for _, a, _ in pairs])
def test_pairs_by_class(reference, answer, expected):
    v = verdict(answer, reference)
    assert v.status == expected, v


@pytest.mark.parametrize("problem,answer,status", [
    ("Find all solutions to x^2 = 1.", "-1, 1", V), ("Find all solutions to x^2 = 1.", "(-1, 1)", U),
    ("solve the system x+y=3, x-y=1", "(2, 1)", V), ("solve the system x+y=3, x-y=1", "(1, 2)", W),
])
def test_pairs_and_sets_as_the_problem_asks(problem, answer, status):
    assert _check(answer, problem, None).status == status


def test_a_rounded_decimal_is_verified_when_the_problem_asks_to_round():
    assert verdict("0.333", "\\frac{1}{3}", "Write $\\frac{1}{3}$ as a decimal to the nearest thousandth.").status \
        == VERIFIED
    v = verdict("0.333", "\\frac{1}{3}")
    assert "only to the 3 decimal places written" in v.reason


def test_the_unit_is_said_and_compared_when_both_sides_have_one():
    assert verdict("12 \\text{ cm}", "12").reason == "compared without the unit (cm)"
    assert verdict("12 \\text{ cm}", "12 \\text{ centimeters}").reason == ""
    assert "the units differ (cm, in)" in verdict("12 \\text{ cm}", "12 \\text{ inches}").reason


def test_the_second_reader_can_only_withhold_a_wrong(monkeypatch):
    import phiflash.symbolic.verify as verify
    monkeypatch.setattr(verify, "_second_reader_equal", lambda ref, ans: True)
    assert verdict("3 \\times 4 = 13", "12").status == UNVERIFIABLE       # a "wrong" it disagrees with
    assert verdict("12", "12").status == VERIFIED
    monkeypatch.setattr(verify, "_second_reader_equal", lambda ref, ans: False)
    assert verdict("13", "12").status == WRONG


# ---- formatting never changes a verdict ----------------------------------------------------------------------


def _plain(q: Fraction) -> str:
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def _forms(q: Fraction) -> list[str]:
    """Every notation of q we claim to read."""
    n, d = q.numerator, q.denominator
    out = [_plain(q), f"\\frac{{{n}}}{{{d}}}" if d != 1 else str(n)]
    if d == 1 and abs(n) >= 1000:
        digits = f"{abs(n):,}"
        sign = "-" if n < 0 else ""
        out += [sign + digits, sign + digits.replace(",", "{,}"), sign + digits.replace(",", "\\,"),
                sign + digits.replace(",", " "), sign + digits.replace(",", ",\\!")]
    if 10 ** 6 % d == 0:  # a terminating decimal is exact
        out.append(str(n / d) if d != 1 else str(n))
    return out


WRAPPERS = ["{}", "${}$", "\\({}\\)", "\\boxed{{{}}}", "The final answer is ${}$.", "Answer: {}", "{} \\text{{ cm}}",
            "$$ {} $$", "x = {}"]

fractions = st.builds(Fraction, st.integers(-10 ** 7, 10 ** 7), st.sampled_from([1, 1, 1, 2, 3, 4, 5, 7, 8, 16]))


@settings(max_examples=60, deadline=None)
@given(fractions, fractions, st.data())
def test_formatting_an_answer_never_changes_its_verdict(value, other, data):
    reference = _plain(value)
    for candidate, equal in ((value, True), (other, other == value)):
        form = data.draw(st.sampled_from(_forms(candidate)))
        wrapper = data.draw(st.sampled_from(WRAPPERS))
        v = verdict(wrapper.format(form), reference)
        assert v.status == (VERIFIED if equal else WRONG), (wrapper.format(form), reference, v)


# ---- real answer formats: MATH-500's references ------------------------------------------------------------------


@pytest.mark.slow
def test_math500_references_against_themselves_and_their_neighbours(math500_verdicts):
    """Each reference verifies against itself, and a different row's reference never verifies unless the two
    are the same value written alike (rows 5 and x=5)."""
    REFERENCES = math500_verdicts["references"]
    for i, ref in enumerate(REFERENCES):
        assert math500_verdicts["self"][i].status == VERIFIED, ref
        other = REFERENCES[(i + 1) % len(REFERENCES)]
        v = math500_verdicts["prev"][i]
        if v.status == VERIFIED:
            assert other.strip() == ref.strip() or {other, ref} == {"5", "x=5"}, (ref, other)
