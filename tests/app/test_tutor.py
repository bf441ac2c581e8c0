"""The tutor teaches (issue 12): hint ladders that never give the answer away, the student's working checked line
by line, and wrong answers diagnosed by the error that explains them. Sessions are scripted through the session
object (and through the real REPL where the terminal matters)."""

import io
import subprocess
import sys

import pytest
from conftest import ListView  # tests/ is on the path (conftest.py)
from rich.console import Console

from phiflash.app.engines import SymbolicEngine
from phiflash.app.tutor import CHAT, CHAT_DURING, TutorSession
from phiflash.app.ui import RichTutorView
from phiflash.symbolic.verify import VERIFIED, check_answer


def session(*lines):
    view = ListView()
    s = TutorSession(SymbolicEngine(), view)
    for line in lines:
        assert s.handle(line)
    return s, view


def all_hints(problem):
    s, view = session(problem)
    for _ in range(60):
        s.handle("/hint")
        if "No more hints" in view.said("info"):
            break
    hints = [(a[1], a[2]) for k, a in view.lines if k == "hint"]
    return s, hints


# One problem of each family runs in the fast tier; the second and third of a family only in `make test-all`.
SECOND = pytest.mark.slow
PROBLEMS = [
    "2x + 3 = 11", pytest.param("5x - 2 = 3x + 8", marks=SECOND), "x^2 - 5x + 6 = 0",
    pytest.param("x^2 - 4x + 1 = 0", marks=SECOND), pytest.param("x^2 = 3x + 10", marks=SECOND),
    "sqrt(x + 7) = x - 5", "3/(x - 1) = 2", "|2x - 1| = 5", "solve the system x + y = 5, x - y = 1",
    "2x - 1 > 3", "x^2 - 4 < 0", "derivative of x^2 sin(x)", pytest.param("derivative of x/(x+1)", marks=SECOND),
    pytest.param("derivative of sin(x^2)", marks=SECOND), "integrate 3x^2 + 2x",
    pytest.param("integrate 2x cos(x^2)", marks=SECOND), pytest.param("integrate x e^x", marks=SECOND),
    "integrate x^2 from 0 to 3", "limit of sin(x)/x as x -> 0", "What is the remainder when 100 is divided by 7?",
    pytest.param("What is the greatest common divisor of 84 and 126?", marks=SECOND),
    "How many positive divisors does 36 have?",
]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_hint_ladders_climb_and_never_give_the_answer(problem):
    s, hints = all_hints(problem)
    assert s.plan and all(len(set(step.rungs)) == 3 for step in s.plan)   # three distinct levels per step
    texts = [t for t, _ in hints]
    assert len(texts) == len(set(texts)) >= 3                            # no hint twice
    for text, math in hints:                                             # the verdict code finds no answer
        for shown in [text] + ([math] if math else []):
            assert check_answer(shown, problem).status != VERIFIED, (shown, problem)
    s.handle("/steps")                                                   # the answer comes with /steps only
    assert any(k == "solution" for k, _ in s.view.lines)


def test_linear_hints_are_a_teachers_moves_with_the_problems_numbers():
    _, hints = all_hints("2x + 3 = 11")
    texts = [t for t, _ in hints]
    assert texts[0] == "What could you do to both sides to leave the x-term alone?"
    assert texts[1] == "Subtract 3 from both sides."
    assert "2⋅x = 8" in hints[2][1]
    assert texts[4] == "Divide both sides by 2."
    assert "x = 4" not in " ".join(t + (m or "") for t, m in hints)


@pytest.mark.parametrize("problem,line,expect", [
    ("2x + 3 = 11", "2x = 8", "Right — that's the next step. Now: What number multiplies x?"),
    ("5x - 2 = 3x + 8", "2x - 2 = 8", "Right — that's the next step"),
    ("x^2 - 5x + 6 = 0", "(x - 2)(x - 3) = 0", "Right — that's the next step. Now: A product is 0"),
    ("x^2 = 3x + 10", "x^2 - 3x - 10 = 0", "Right — that's the next step"),
    ("2x + 3 = 11", "4x + 6 = 22", "That is true: it has the same solutions as the problem"),
    ("2x + 3 = 11", "2x = 14", "not equivalent to the problem: x = 7 solves your line but not the problem"),
    # the cases of a factored equation (the move the hint asks for) were "an equation still to be solved"
    ("x^2 - 5x + 6 = 0", "x - 2 = 0 or x - 3 = 0", "together those cases have the problem's solutions"),
    ("x^2 - 5x + 6 = 0", "x-3=0, x-2=0", "together those cases have the problem's solutions"),
    ("x^2 - 5x + 6 = 0", "x - 2 = 0 or x - 4 = 0", "x = 4 solves one of your equations but not the problem"),
])
def test_a_line_of_working_is_checked_as_a_step(problem, line, expect):
    s, view = session(problem, line)
    assert expect in view.said("info")
    assert not any(k == "verdict" for k, _ in view.lines)   # a step is not graded as an answer


def test_a_number_after_a_refused_word_problem_is_its_answer_not_a_new_problem():
    s, view = session("A train goes 40 miles per hour for 2 hours. How far does it go?", "80")
    assert s.problem is None and "Problem: 80" not in view.said()
    assert "80 looks like an answer to the problem I could not read" in view.said("error")
    s.handle("2x + 3 = 11")                                     # a problem typed as math is taken as usual
    assert s.problem == "2x + 3 = 11"


def test_a_new_problem_typed_in_place_of_an_answer_starts():
    """A problem typed where an answer was expected ('Compute 1 + 2 + ⋯ + 10 in base 8.' after '2x + 3 = 11') was
    checked as an answer ('cannot read the answer: unknown word Compute'); it starts as a new problem now. A line that
    is neither an answer nor a problem the engine reads keeps the problem."""
    s, view = session("2x + 3 = 11", "x = 4", "Compute $1+2+3+\\dots+10$ in base 8.", "67_8")
    assert s.problem == "Compute $1+2+3+\\dots+10$ in base 8."
    assert "reads as a new problem" in view.said("info")
    assert [a[0].status for k, a in view.lines if k == "verdict"] == ["verified", "verified"]
    s.handle("What is the frobnication of 3?")
    assert s.problem == "Compute $1+2+3+\\dots+10$ in base 8."
    s.handle("/check What is 2 + 2?")                      # /check always checks an answer
    assert s.problem == "Compute $1+2+3+\\dots+10$ in base 8."


@pytest.mark.parametrize("typed, shown", [("67_8", "67₈"), ("$67_{8}$", "67₈"), ("1000011_2", "1000011₂")])
def test_an_answer_in_a_base_is_shown_as_written_not_as_its_value(typed, shown):
    """'67_8' was shown back as 55 under the verdict: the student wrote 67 in base 8, so that is what is shown."""
    s, view = session("Compute $1+2+3+\\dots+10$ in base 8." if "8" in typed else "Express 67 in base 2.", typed)
    (verdict,) = [a for k, a in view.lines if k == "verdict"]
    assert verdict[0].status == "verified" and verdict[1] == shown


@pytest.mark.parametrize("typed, shown", [("1.75", "1.75"), ("x = 0.25", "x = 0.25"), ("-0.5", "-0.5")])
def test_a_decimal_answer_is_shown_as_typed(typed, shown):
    """'1.75' was shown back as 1.75000000000000 (the float's fifteen digits)."""
    problem = {"1.75": "What is 1/2 + 5/4?", "x = 0.25": "4x = 1", "-0.5": "What is 1/2 - 1?"}[typed]
    s, view = session(problem, typed)
    (verdict,) = [a for k, a in view.lines if k == "verdict"]
    assert verdict[0].status == "verified" and verdict[1] == shown


def test_a_notation_with_two_readings_is_asked_about_in_the_tutor():
    s, view = session("simplify x/(2x^2)", "1/2x")
    (verdict,) = [a for k, a in view.lines if k == "verdict"]
    assert verdict[0].status == "unverifiable" and "which did you mean?" in verdict[0].reason


def test_progress_moves_the_ladder_to_the_next_step():
    s, view = session("2x + 3 = 11", "2x = 8", "/hint")
    assert [a[1] for k, a in view.lines if k == "hint"] == ["Divide both sides by 2."]


@pytest.mark.parametrize("problem,answer,name", [
    ("2x + 3 = 11", "x = 7", "sign slip"),
    ("2x - 7 = 5", "x = -1", "(add 7 to both sides)"),                # was "subtract it" for a negative term
    ("x^2 = 2x", "x = 2", "a root was lost"),
    ("sqrt(x + 7) = x - 5", "x = 2, x = 9", "extraneous"),
    ("x^2 = 9", "x = 3", "forget the negative"),
    ("x^2 = 9", "x = -3", "forget the positive"),                 # was "the negative one" for the negative root
    ("(x+1)^2 = 2x^2 - 3", "x = 2, x = -2", "(a + b)² was expanded as a² + b²"),
    ("derivative of x^2 sin(x)", "2x cos(x)", "differentiated each factor separately"),
    ("derivative of sin(x^2)", "cos(x^2)", "chain rule is missing"),
    ("derivative of x/(x+1)", "-1/(x+1)^2", "sign in the quotient rule"),
    ("integrate x^3", "3x^2", "the derivative of the integrand"),
    ("integrate x^3", "x^4", "divides by the new exponent"),
    ("integrate x^2 from 0 to 3", "-9", "F(upper) − F(lower)"),
    ("integrate x e^x", "x e^x", "the derivative of your answer is x·e^x + e^x, but the integrand is"),
    ("integrate x^2", "x^2/2", "the derivative of your answer is x, but the integrand is x^2"),
    ("2x = 6", "x = 1/3", "reciprocal"),
    ("What is the remainder when 100 is divided by 7?", "3", "arithmetic slip"),
    ("x^2 - 9 > 0", "x > 3", "Part of the solution set is missing"),
    ("x^2 - 9 >= 0", "x < -3 or x > 3", "Only the endpoints differ"),
    ("x^2 - 9 > 0", "x < -3 or x > 2", "includes values that do not satisfy"),
])
def test_wrong_answers_are_diagnosed_by_name_without_the_answer(problem, answer, name):
    s, view = session(problem, answer)
    (verdict,) = [a for k, a in view.lines if k == "verdict"]
    assert verdict[0].status == "wrong" and name in verdict[2]
    assert s.solution.answer_text not in verdict[2]


def test_a_right_antiderivative_without_c_is_verified_with_a_reminder():
    s, view = session("integrate 3x^2", "x^3")
    (verdict,) = [a for k, a in view.lines if k == "verdict"]
    assert verdict[0].status == "verified" and "+ C" in verdict[2]


def test_no_diagnosis_is_guessed():
    s, view = session("2x + 3 = 11", "x = 100")
    (verdict,) = [a for k, a in view.lines if k == "verdict"]
    assert "x = 100 is not: substituting gives 203 on the left and 11 on the right" in verdict[2]


def test_words_get_a_friendly_line_and_a_transcript_is_readable(tmp_path):
    s, view = session("hello", "2x + 3 = 11", "I don't get it", "/hint", "2x = 8", "x = 4",
                      f"/save {tmp_path / 't.md'}")
    said = view.said("info")
    assert CHAT in said and CHAT_DURING in said
    md = (tmp_path / "t.md").read_text()
    assert "## Problem: 2x + 3 = 11" in md and "**hint:** What could you do" in md
    assert "**step:** 2x = 8 — progress" in md and "**answer:** x = 4 — verified" in md
    assert "**tutor:** Right — that's the next step. Now:" in md               # what the tutor said is kept too


def test_a_saved_session_comes_back_on_the_same_rung(tmp_path):
    s, view = session("x^2 - 5x + 6 = 0", "/hint", "/hint", f"/save {tmp_path / 's.json'}", "/new",
                      f"/load {tmp_path / 's.json'}", "/hint")
    hints = [a[1] for k, a in view.lines if k == "hint"]
    assert len(hints) == 3 and len(set(hints)) == 3


def test_load_names_what_is_wrong_with_the_file(tmp_path):
    """/load of a transcript said "Expecting value: line 1 column 1"; hint_level 999 and another engine loaded."""
    import json
    (tmp_path / "bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    (tmp_path / "ok.json").write_text(json.dumps({"engine": "symbolic", "problem": "2x + 3 = 11", "hint_level": 1}))
    (tmp_path / "far.json").write_text(json.dumps({"problem": "2x + 3 = 11", "hint_level": 999}))
    (tmp_path / "phi.json").write_text(json.dumps({"engine": "phi", "problem": "2x + 3 = 11", "hint_level": 0}))
    s, view = session("2x + 3 = 11", f"/save {tmp_path / 't.md'}", f"/load {tmp_path / 't.md'}",
                      f"/load {tmp_path / 'bin'}", f"/load {tmp_path / 'far.json'}", f"/load {tmp_path / 'phi.json'}")
    errors = view.said("error")
    assert "that is a transcript (Markdown), not a saved session" in errors
    assert "not a saved session (a binary file, not JSON text)" in errors
    assert "hint_level 999 is past this problem's" in errors
    assert "saved with the phi engine, and this session uses the symbolic engine" in errors
    assert "Expecting value" not in errors and s.problem == "2x + 3 = 11"      # the session is kept
    s.handle(f"/load {tmp_path / 'ok.json'}")
    assert "Loaded" in view.said("info")


# ---- with the model ------------------------------------------------------------------------------------------


class Model:
    name = "phi"

    def __init__(self, replies):
        self.replies, self.calls = list(replies), []

    def chat(self, messages, params, max_tokens, on_event=None):
        from phiflash.lm.generate import Completion
        self.calls.append(messages)
        reply = self.replies.pop(0)
        on_event and on_event("reasoning", "the answer is x = 4, obviously")
        on_event and on_event("answer", reply)
        return Completion(text=f"<think>the answer is x = 4</think>{reply}", reasoning="the answer is x = 4",
                          answer=reply, finish_reason="stop")


def test_a_model_hint_that_states_the_answer_is_withheld():
    view = ListView()
    s = TutorSession(Model(["Let's start.", "So the answer is $x = 4$.", "What could you subtract first?"]), view)
    s.handle("2x + 3 = 11")
    s.handle("/hint")
    assert "gave the answer away" in view.said("info")
    assert [a[1] for k, a in view.lines if k == "hint"] == ["What could you do to both sides to leave the x-term "
                                                            "alone?"]
    s.handle("/hint")
    assert view.lines[-1] == ("reply", ("What could you subtract first?", None))


def test_the_tutor_never_shows_the_models_reasoning():
    out = Console(file=io.StringIO(), width=100, force_terminal=False)
    view = RichTutorView(out, out)
    s = TutorSession(Model(["Where would you like to start?"]), view)
    s.handle("2x + 3 = 11")
    shown = out.file.getvalue()
    assert "Where would you like to start?" in shown and "obviously" not in shown and "x = 4" not in shown


@pytest.mark.slow
def test_the_real_repl_teaches_through_a_pipe(tmp_path):
    script = "x^2 - 5x + 6 = 0\n/hint\n/hint\n(x-2)(x-3) = 0\nx = 2\nx = 2, x = 3\n/quit\n"
    p = subprocess.run([sys.executable, "-m", "phiflash", "tutor", "--engine", "symbolic"], input=script,
                       capture_output=True, text=True, timeout=120,
                       env={"PHIFLASH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    assert "Hint 1: Can x^2 - 5x + 6 be written as a product of two brackets?" in p.stdout
    assert "Right — that's the next step" in p.stdout
    assert "You found 1 of the 2 solutions" in p.stdout and "✓ verified" in p.stdout


def test_the_model_tutor_checks_a_steps_answer_sympy_cannot_by_samples():
    from phiflash.app.engines import Result

    class Sampling(Model):
        def solve_samples(self, problem, k, params, max_tokens, on_event=None):
            self.asked = k
            return Result(problem, "phi", "7", verdict="consensus", reason=f"3 of {k} samples agree",
                          agreement={"support": 3, "of": k})
    eng, view = Sampling(["Start by reading it.", "Here is the solution: \\boxed{7}"]), ListView()
    s = TutorSession(eng, view, samples=4)
    s.handle("Sam has 10 apples and eats 3. How many are left?")
    s.handle("/steps")
    (verdict,) = [a for k, a in view.lines if k == "verdict"]
    assert eng.asked == 4 and verdict[0].status == "consensus" and "3 of 4 samples agree" in verdict[2]


def test_the_model_tutor_judges_typed_math_with_sympy_not_the_model():
    """With the model, a line of working and an answer are checked by SymPy as with the symbolic engine (the
    model is not asked whether they are right); words still go to the model, and a wrong answer gets SymPy's
    verdict before the model's comment."""
    eng, view = Model(["Let's begin.", "Good question: look at the constant term.", "Check x = 4 again."]), ListView()
    s = TutorSession(eng, view)
    s.handle("x^2 - 5x + 6 = 0")
    s.handle("(x-2)(x-3) = 0")
    assert "Right — that's the next step" in view.said("info") and len(eng.calls) == 1
    s.handle("why do we factor it")
    assert len(eng.calls) == 2
    s.handle("x = 2 or x = 4")
    (verdict,) = [a for k, a in view.lines if k == "verdict"]
    assert verdict[0].status == "wrong" and len(eng.calls) == 3
    assert "x = 4 is not" in verdict[2]


@pytest.mark.parametrize("problem", [r"If $a\star b = 9a+2b-ab+5$, what is the value of $5\star1$?",
                                     "A number is selected at random from 1 through 100, inclusive. What is the "
                                     "probability that the number is a multiple of 3?",
                                     "What is the 20th term of the arithmetic sequence 2, 5, 8, ...?"])
def test_hints_of_the_new_problem_classes_never_give_the_answer(problem):
    """Every rung of every step, asked for one by one: none verifies as the answer (a step whose words ended in
    '= 47' used to be shown as a hint)."""
    s, view = session(problem, *["/hint"] * 12)
    hints = [a[1] for k, a in view.lines if k == "hint"]
    assert len(hints) >= 3
    for h in hints:
        assert check_answer(h, problem).status != VERIFIED, h


def test_a_hint_with_a_logarithm_is_still_recognised_as_the_answer():
    """plain() printed ln as 'log', which now reads two ways (ln or log₁₀): the verdict code called a hint that
    states the answer 'unverifiable', so it was not withheld. ln is printed as ln."""
    import sympy as sp

    from phiflash.symbolic.solver import plain, solve_problem
    from phiflash.symbolic.teaching import reveals
    sol = solve_problem("10^x = 5")
    assert "log(" not in sol.answer_text and plain(sp.log(sp.Symbol("y"))) == "ln(y)"
    assert reveals(None, sp.Eq(sp.Symbol("x"), sol.answer[0]), sol)
