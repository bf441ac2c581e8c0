"""The scripts in examples/ parse their arguments: --help prints usage and writes nothing; they do their job."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def run_example(script: Path, *args, monkeypatch) -> int:
    monkeypatch.setattr(sys, "argv", [str(script), *map(str, args)])
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as e:
        return e.code or 0
    return 0


def written(root: Path) -> list[str]:
    """Everything under root (the test's cwd, home and temporary folder all live there)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_there_are_examples():
    assert {p.name for p in SCRIPTS} >= {"make_tiny_checkpoint.py", "solve_one.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help_prints_usage_and_writes_nothing(script, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_example(script, "--help", monkeypatch=monkeypatch) == 0
    assert capsys.readouterr().out.startswith("usage: ")
    assert written(tmp_path) == ["tmp"]           # the test's (empty) temporary folder, nothing else


def test_unknown_options_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_example(EXAMPLES / "make_tiny_checkpoint.py", "--bogus", monkeypatch=monkeypatch) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert written(tmp_path) == ["tmp"]


def test_the_api_example_solves_and_checks(monkeypatch, capsys):
    assert run_example(EXAMPLES / "solve_one.py", "--problem", "2x+3=11", monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "answer: x = 4" in out and "wrong" in out
