
import pytest
import sympy as sp

from phiflash.symbolic.answers import extract_answer, last_boxed, read_answer
from phiflash.symbolic.readings import Ambiguous, forced


@pytest.mark.parametrize("text,expected", [
    (r"so \boxed{2} and finally \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
    (r"\boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)"),
    (r"answer \boxed{x^{2}+\sqrt{\frac{a}{b}}}", r"x^{2}+\sqrt{\frac{a}{b}}"),
    (r"\boxed{unclosed {", None),
])
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("<think>…</think> The final answer is \\boxed{7}.", "7"),
    ("Thus the final answer is x = 2 or x = 3.", "x = 2 or x = 3"),
    ("Work...\nAnswer: $\\frac{3}{4}$", "\\frac{3}{4}"),
    ("lots of text\n\nx = 5\n", "x = 5"),
    ("", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


x = sp.Symbol("x")


@pytest.mark.parametrize("text,kind,values", [
    ("x = 2 or x = 3", "values", [2, 3]),
    ("x=2, 3", "values", [2, 3]),
    ("{2, 3}", "values", [2, 3]),
    (r"\{2, 3\}", "values", [2, 3]),
    ("(2, 1)", "tuples", [sp.Tuple(2, 1)]),
    ("[1, 3)", "set", [sp.Interval.Ropen(1, 3)]),
    ("x > 2", "set", [x > 2]),
    (r"\frac{3}{4}", "values", [sp.Rational(3, 4)]),
    ("0.75", "values", [sp.Float(0.75)]),
    (r"2\sqrt{3}", "values", [2 * sp.sqrt(3)]),
    (r"\pi/2", "values", [sp.pi / 2]),
    ("No real solution", "empty", []),
    (r"\emptyset", "empty", []),
    ("does not exist", "dne", []),
    ("3x-y+13=0", "equation", [sp.Eq(3 * x - sp.Symbol("y") + 13, 0)]),
    (r"\$32,348", "values", [32348]),
])
def test_read_answer(text, kind, values):
    a = read_answer(text)
    assert a.kind == kind
    if kind == "set" and isinstance(values[0], sp.Rel):
        assert str(a.values[0]) == str(values[0])
    else:
        assert a.values == values


def test_decimals_are_noted():
    assert read_answer("0.333").decimals == 3
    assert read_answer(r"\frac{1}{3}").decimals is None


def test_every_math500_reference_answer_is_readable(math500_rows):
    """Each reference reads (ParseError if neither parser can); one with two readings (-2,1: a decimal comma or
    two values) reads under each of them."""
    assert len(math500_rows) == 500
    two = []
    for r in math500_rows:
        try:
            read_answer(r["answer"])
        except Ambiguous as e:
            two.append(r["answer"])
            for choice in e.maps:
                with forced(choice):
                    read_answer(r["answer"])
    assert sorted(two) == ["-2,1", "58,500"]
