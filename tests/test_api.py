"""The public API (phiflash/__init__.py): declared statically, every name importable, internals not exported,
and the package import stays cheap (no torch until a model name is used)."""

import ast
import subprocess
import sys
from pathlib import Path

import phiflash

INIT = Path(phiflash.__file__)


def test_every_public_name_is_declared_for_tools_and_resolves():
    tree = ast.parse(INIT.read_text())
    declared = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.If)
                for imp in node.body if isinstance(imp, ast.ImportFrom) for a in imp.names}
    public = set(phiflash.__all__) - {"__version__"}
    assert declared == public == set(phiflash._HOME)
    for name in sorted(public):
        assert getattr(phiflash, name) is not None


def test_internals_are_not_exported():
    for name in ("Trail", "Cache", "cache_bytes", "random_model", "generate_batch", "speculative_generate",
                 "complete"):
        assert name not in phiflash.__all__
        assert not hasattr(phiflash, name)


def test_importing_the_package_and_the_math_engine_imports_no_torch():
    code = ("import sys, phiflash; phiflash.check_answer('2', 'x+1=3'); phiflash.SamplingParams(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_readme_api_example_runs(chat_checkpoint, tmp_path, capsys):
    """The README's Python API block, run as written against the tiny checkpoint (download() aside: no network)."""
    readme = (INIT.parents[1] / "README.md").read_text()
    code = readme.split("## Python API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert "path = phiflash.download()" in code
    code = code.replace("path = phiflash.download()", f"path = {str(chat_checkpoint)!r}")
    code = code.replace('"./copy"', repr(str(tmp_path / "copy")))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["reply"].finish_reason in ("stop", "length") and len(scope["completions"]) == 1
    assert (tmp_path / "copy" / "config.json").exists()
