import time
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from phiflash.symbolic.verify import UNVERIFIABLE, VERIFIED, WRONG, _check, check_answer

QUAD = "3x^2+4x+5=1"


@pytest.fixture(autouse=True)
def inline(monkeypatch):
    """Run the checker in-process (the time-limit child is tested separately) so the suite stays fast."""
    monkeypatch.setenv("PHIFLASH_INLINE", "1")


@pytest.mark.parametrize("answer,problem,expected,status", [
    # the student examples
    ("x = -2/3 ± 2√2 i/3", QUAD, None, VERIFIED),
    (r"\frac{-2 \pm 2i\sqrt{2}}{3}", QUAD, None, VERIFIED),        # math-verify alone reads this as 2
    ("x = 2", QUAD, None, WRONG),
    ("no real solution", QUAD, None, VERIFIED),
    ("x = -2/3 ± 2√2/3", QUAD, None, WRONG),                        # real, close-looking, wrong
    # sets, forms, order
    ("x = 3 or x = 2", "x^2-5x+6=0", None, VERIFIED),
    ("{2, 3}", "x^2-5x+6=0", None, VERIFIED),
    ("x=2, 3", "x^2-5x+6=0", None, VERIFIED),
    ("2", "x^2-5x+6=0", None, WRONG),                               # half the solution set
    ("2, 3, 4", "x^2-5x+6=0", None, WRONG),
    ("x = ±2", "x^4 = 16", None, VERIFIED),                         # the real roots
    ("x = ±2, ±2i", "x^4 = 16", None, VERIFIED),
    ("no solution", "sqrt(x) = x - 2", None, WRONG),
    ("x = 4", "sqrt(x) = x - 2", None, VERIFIED),
    ("x = 1, 4", "sqrt(x) = x - 2", None, WRONG),                   # kept the extraneous root
    # systems
    ("(2, 1)", "x+y=3, x-y=1", None, VERIFIED),
    ("x = 2, y = 1", "x+y=3, x-y=1", None, VERIFIED),
    ("y = 1, x = 2", "x+y=3, x-y=1", None, VERIFIED),
    ("x = 1, y = 2", "x+y=3, x-y=1", None, WRONG),
    # inequalities
    ("x > 2", "2x-1 > 3", None, VERIFIED),
    (r"(2, \infty)", "2x-1 > 3", None, VERIFIED),
    (r"[2, \infty)", "2x-1 > 3", None, WRONG),
    ("x < -2 or x >= 1", "(x-1)/(x+2) >= 0", None, VERIFIED),
    ("x <= -2 or x >= 1", "(x-1)/(x+2) >= 0", None, WRONG),
    # calculus
    ("x^3/3 + C", "integrate x^2", None, VERIFIED),
    ("x^3/3", "integrate x^2", None, VERIFIED),
    ("x^3", "integrate x^2", None, WRONG),
    ("1/3", "integrate x^2 from 0 to 1", None, VERIFIED),
    ("0.333", "integrate x^2 from 0 to 1", None, UNVERIFIABLE),        # 1/3 only to the places written
    ("0.375", "integrate 9x^2/8 from 0 to 1", None, VERIFIED),         # a decimal that is the exact value
    ("0.34", "integrate x^2 from 0 to 1", None, WRONG),
    (r"2x\sin x + x^2\cos x", "derivative of x^2 sin(x)", None, VERIFIED),
    ("2x cos x", "derivative of x^2 sin(x)", None, WRONG),
    ("DNE", "limit of 1/x as x -> 0", None, VERIFIED),
    ("0", "limit of 1/x as x -> 0", None, WRONG),
    ("e", "lim x->oo (1+1/x)^x", None, VERIFIED),
    # against an expected answer
    (r"3+4\mathrm{i}", None, "7", WRONG),                           # math-verify alone reads it as 7
    ("3+4i", None, "3 + 4i", VERIFIED),
    ("y = 3x + 13", None, "3x-y+13=0", VERIFIED),                   # equations as equations
    ("y = 3x + 12", None, "3x-y+13=0", WRONG),                      # math-verify alone calls these equal
    ("2y = 6x + 26", None, "3x-y+13=0", VERIFIED),
    (r"\text{Evelyn}", None, r"\text{Evelyn}", VERIFIED),
    (r"\text{Bob}", None, r"\text{Evelyn}", WRONG),
    ("0.5", None, r"\frac{1}{2}", VERIFIED),
    ("0.50001", None, r"\frac{1}{2}", WRONG),
    (r"\frac{\sqrt{2}}{2}", None, r"\frac{1}{\sqrt{2}}", VERIFIED),
    # unreadable or unsolvable: never a guess
    ("__import__('os').system('touch pwned')", None, "2", UNVERIFIABLE),
    ("x = 2", "__import__('os').system('touch pwned')", None, UNVERIFIABLE),
    ("5", "9^9^9^9 = x", None, UNVERIFIABLE),
    ("1", "integrate sin(x^2)/log(x)", None, UNVERIFIABLE),
    ("it is big", None, "2", UNVERIFIABLE),
])
def test_verdicts(answer, problem, expected, status, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    v = _check(answer, problem, expected)
    assert v.status == status, v
    assert not (tmp_path / "pwned").exists()
    if status == WRONG and problem is not None:
        assert v.expected  # the correct answer comes with a wrong verdict
    if status == UNVERIFIABLE:
        assert v.reason


def test_check_answer_runs_under_a_time_limit(monkeypatch):
    monkeypatch.delenv("PHIFLASH_INLINE")
    assert check_answer("x = 2 or x = 3", "x^2-5x+6=0").status == VERIFIED
    import phiflash.symbolic.verify as verify
    monkeypatch.setattr(verify, "solve_problem", lambda *a, **k: time.sleep(60))  # never returns, on any machine
    slow = check_answer("1", "x^2-5x+6=0", seconds=0.05)
    assert slow.status == UNVERIFIABLE and "time limit" in slow.reason


@pytest.mark.slow
def test_math500_answers_verify_against_themselves(math500_verdicts):
    statuses = [v.status for v in math500_verdicts["self"]]
    assert WRONG not in statuses
    assert statuses.count(VERIFIED) >= 495


@pytest.mark.slow
def test_math500_neighbours_are_told_apart(math500_verdicts):
    answers = math500_verdicts["references"]
    statuses = []
    for i, (a, b) in enumerate(zip(answers, answers[1:])):
        v = math500_verdicts["next"][i]
        statuses.append(v.status)
        if v.status == VERIFIED:  # only genuinely equal neighbours (5 vs x=5, 7 vs 7, ...)
            assert math500_verdicts["prev"][i].status == VERIFIED
            assert a.replace("x=", "").strip() == b.replace("x=", "").strip()
    # most neighbours differ, and the checker must say so rather than give up
    assert statuses.count(WRONG) >= 400, statuses.count(WRONG)
    assert statuses.count(VERIFIED) <= 5


fractions = st.fractions(min_value=-20, max_value=20, max_denominator=9)


def _f(q: Fraction) -> str:
    return f"({q.numerator}/{q.denominator})"


@settings(max_examples=25, deadline=None, derandomize=True)
@given(r=fractions, s=fractions, k=st.integers(1, 5), bump=st.fractions(min_value=Fraction(1, 7), max_value=3))
def test_random_quadratics_with_known_roots(r, s, k, bump):
    # k(x - r)(x - s) = 0, expanded by the solver itself
    problem = f"{k}(x - {_f(r)})(x - {_f(s)}) = 0"
    answer = f"x = {_f(r)} or x = {_f(s)}"
    assert _check(answer, problem, None).status == VERIFIED
    perturbed = f"x = {_f(r + bump)} or x = {_f(s)}"
    assert _check(perturbed, problem, None).status == WRONG


@settings(max_examples=25, deadline=None, derandomize=True)
@given(a=fractions.filter(lambda q: q != 0), root=fractions, bump=st.fractions(min_value=Fraction(1, 9), max_value=5))
def test_random_linear_equations(a, root, bump):
    b = -a * root
    problem = f"{_f(a)}x + {_f(b)} = 0"
    assert _check(f"x = {_f(root)}", problem, None).status == VERIFIED
    assert _check(f"x = {_f(root - bump)}", problem, None).status == WRONG
    written = f"{float(root):.6f}"
    exact = sp.Rational(written) == root
    assert _check(written, problem, None).status == (VERIFIED if exact else UNVERIFIABLE)  # rounded is not exact
