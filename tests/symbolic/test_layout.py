"""The layout's rule, checked in a fresh interpreter: the math engine stands alone."""

import subprocess
import sys


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
