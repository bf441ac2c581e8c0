import pytest
import sympy as sp

from phiflash.symbolic.parse import ParseError, parse_math

x, y, a = sp.symbols("x y a")
I, pi, sqrt = sp.I, sp.pi, sp.sqrt

CASES = [
    ("3x^2+4x+5=1", [sp.Eq(3 * x**2 + 4 * x + 5, 1)]),
    ("2(x+1)=x/3", [sp.Eq(2 * x + 2, x / 3)]),
    ("3x**2", [3 * x**2]),
    ("x² − 4 = 0", [sp.Eq(x**2 - 4, 0)]),
    ("3×4÷2", [6]),
    ("√(x+1)=3", [sp.Eq(sqrt(x + 1), 3)]),
    ("2π", [2 * pi]),
    (r"\frac{1}{2}x+3=0", [sp.Eq(x / 2 + 3, 0)]),
    (r"\sqrt{x+1}=3", [sp.Eq(sqrt(x + 1), 3)]),
    (r"\sqrt[3]{8}", [2]),
    (r"\frac12", [sp.Rational(1, 2)]),
    (r"\left( 3, \frac{\pi}{2} \right)", [sp.Tuple(3, pi / 2)]),
    ("2x-1 > 3", [2 * x - 1 > 3]),
    ("x ≤ 3", [x <= 3]),
    ("1 < x < 3", [sp.And(sp.Lt(1, x), sp.Lt(x, 3))]),
    ("x+y=3, x-y=1", [sp.Eq(x + y, 3), sp.Eq(x - y, 1)]),
    ("|2x-1| = 5", [sp.Eq(sp.Abs(2 * x - 1), 5)]),
    ("e^x", [sp.exp(x)]),
    ("sin x cos x", [sp.sin(x) * sp.cos(x)]),
    ("sin^2 x", [sp.sin(x) ** 2]),
    ("sinx", [sp.sin(x)]),
    ("xy", [x * y]),
    ("3+4i", [3 + 4 * I]),
    (r"3+4\mathrm{i}", [3 + 4 * I]),
    ("x = 2 or x = 3", [sp.Eq(x, 2), sp.Eq(x, 3)]),
    ("{2, 3}", [sp.FiniteSet(2, 3)]),
    (r"\{1\pm\sqrt{5},-2\}", [sp.FiniteSet(1 + sqrt(5), 1 - sqrt(5), -2)]),
    ("[1, 3)", [sp.Interval.Ropen(1, 3)]),
    (r"(-\infty, 0]", [sp.Interval(-sp.oo, 0)]),
    ("(-oo, -2) U [1, oo)", [sp.Union(sp.Interval.open(-sp.oo, -2), sp.Interval(1, sp.oo))]),
    ("x = -2/3 ± 2√2 i/3", [sp.Eq(x, -sp.Rational(2, 3) + 2 * sqrt(2) * I / 3),
                            sp.Eq(x, -sp.Rational(2, 3) - 2 * sqrt(2) * I / 3)]),
    (r"\frac{-2 \pm 2i\sqrt{2}}{3}", [-sp.Rational(2, 3) + 2 * sqrt(2) * I / 3,
                                      -sp.Rational(2, 3) - 2 * sqrt(2) * I / 3]),
    ("5!", [120]),
    ("10%", [sp.Rational(1, 10)]),
    ("90^\\circ", [pi / 2]),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_parses(text, expected):
    got = parse_math(text)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g == e or sp.simplify(g - e) == 0 if isinstance(e, sp.Expr) else g == e, (g, e)


@pytest.mark.parametrize("text,needle", [
    ("__import__('os').system('touch pwned')", "unexpected character"),
    ("import os", "unknown word"),
    ("lambda: 1", "unexpected character"),
    ("().__class__", "unexpected"),
    ("x" * 3000, "longer than"),
    ("(" * 100 + "1" + ")" * 100, "nested too deeply"),
    ("9^(9^(9^9))", "too large"),
    ("2^(10^7)", "too large"),
    ("100000!", "too large"),
    ("1/0", "division by zero"),
    ("2 +", "end of input"),
    ("", "nothing to parse"),
    ("x = 1 ± 2 ± 3", "more than one ±"),
])
def test_refuses(text, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParseError, match=needle):
        parse_math(text)
    assert not (tmp_path / "pwned").exists()


def test_parser_never_evaluates_python(monkeypatch):
    # sympify/parse_expr/eval are never reached, whatever the input
    import builtins

    def boom(*args, **kwargs):
        raise AssertionError("evaluated")
    monkeypatch.setattr(sp, "sympify", boom)
    monkeypatch.setattr(builtins, "eval", boom)
    import sympy.parsing.sympy_parser as spp
    monkeypatch.setattr(spp, "parse_expr", boom)
    for text, _ in CASES:
        parse_math(text)
