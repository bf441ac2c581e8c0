"""The layout's rule, checked in a fresh interpreter: the math engine stands alone."""

import ast
import subprocess
import sys
from pathlib import Path


def test_symbolic_imports_neither_torch_nor_the_model_nor_the_app():
    code = ("import sys\n"
            "import phiflash.symbolic.parse, phiflash.symbolic.problem, phiflash.symbolic.solver\n"
            "import phiflash.symbolic.answers, phiflash.symbolic.verify, phiflash.symbolic.equality\n"
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('phiflash.lm', 'phiflash.app'))]\n"
            "assert not bad, bad\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_python_dash_m_phiflash_is_the_cli():
    p = subprocess.run([sys.executable, "-m", "phiflash", "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("phiflash "), p.stderr


# ---- the engine's shape (#23): read from the source, so a lazy import inside a function counts too ----------------

_SYMBOLIC = Path(__file__).resolve().parents[2] / "phiflash" / "symbolic"


def _module_of(path: Path) -> str:
    rel = path.relative_to(_SYMBOLIC.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(("phiflash",) + parts)


def _imports(path: Path) -> set[str]:
    """The phiflash.symbolic modules this file imports, anywhere in it (relative imports resolved)."""
    package = _module_of(path).split(".") if path.name == "__init__.py" else _module_of(path).split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + (node.module.split(".") if node.module else []))
            names = [f"{target}.{a.name}" for a in node.names]
            found |= {n for n in names if n in _all_modules()} or {target}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m in _all_modules() and m != _module_of(path)}


def _all_modules() -> dict[str, Path]:
    return {_module_of(p): p for p in _SYMBOLIC.rglob("*.py")}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> list[str] | None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return trail + [m, n]
            if n not in state and (found := visit(n, trail + [m])):
                return found
        state[m] = 2
        return None

    return next((c for m in sorted(graph) if m not in state and (c := visit(m, []))), None)


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_chain():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_symbolic_has_no_import_cycle():
    graph = {m: _imports(p) for m, p in _all_modules().items()}
    # a package imports its modules; a module importing its own package's __init__ is the only allowed loop
    graph = {m: {n for n in deps if not m.startswith(n + ".")} for m, deps in graph.items()}
    assert "phiflash.symbolic.solution" in graph["phiflash.symbolic.solver"]
    assert _cycle(graph) is None, " → ".join(_cycle(graph))


def test_no_function_in_symbolic_is_longer_than_80_lines():
    long = [f"{p.relative_to(_SYMBOLIC)}:{n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for p in _SYMBOLIC.rglob("*.py") for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 80]
    assert not long, long
