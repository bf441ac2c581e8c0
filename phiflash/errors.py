"""User-facing errors: the CLI prints these as one line (tracebacks only with PHIFLASH_DEBUG=1)."""


class PhiflashError(Exception):
    """Something the user can fix: a bad path, file, problem or option."""


class CheckpointError(PhiflashError):
    """A checkpoint directory that cannot be loaded; the message names the file or tensor."""


def one_line(e: BaseException) -> str:
    """How an error is told: a PhiflashError by its message, anything else (a bug) with its type too."""
    return str(e) if isinstance(e, PhiflashError) else f"{type(e).__name__}: {e}"
