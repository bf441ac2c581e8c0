"""The command line as a user meets it, two ways.

`phiflash(...)` runs the console script's own entry point, `main(argv)`, in this process: the same exit codes
(64 for usage errors, check's 1 and 2), stdout and stderr apart, stdin from `input`. It costs milliseconds where a
subprocess costs a second of Python start-up, so it is the default.

`console_script(...)` starts a real `python -m phiflash` process, for what only a process shows: the program name
in usage lines, signals, pipes, imports at start-up, time limits. Tests that use it are marked slow.
"""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from phiflash.app.cli import main


def phiflash(*args, input: str | bytes | None = None) -> subprocess.CompletedProcess:
    """main([...args]) in-process; returncode, stdout and stderr as a subprocess would give them."""
    argv = [str(a) for a in args]
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch else None  # --threads sets torch's pool for the whole process
    with CliRunner().isolation(input=input) as (out, err, _):
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        sys.stdout.flush()  # plain print() goes through a buffered text wrapper over the captured bytes
        sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    if threads is not None:
        torch.set_num_threads(threads)
    return subprocess.CompletedProcess(["phiflash", *argv], code, stdout, stderr)


def console_script(*args, input=None, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    """A real `python -m phiflash` process (the console script's entry point, main())."""
    return subprocess.run([sys.executable, "-m", "phiflash", *map(str, args)], input=input, capture_output=True,
                          text=True, timeout=timeout, **kwargs)
