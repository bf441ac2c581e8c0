"""Run a function under a wall-clock limit in a forked child process.

SIGALRM-based limits only work in the main thread and cancel any outer alarm; a child process works from any
thread or worker and can always be killed, so a SymPy call that never returns costs at most `seconds`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import traceback

from ..errors import PhiflashError


class TimeLimitError(PhiflashError):
    pass


def _child(conn, fn, args, kwargs):
    try:
        result = (True, fn(*args, **kwargs))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
        result = (False, e if _picklable(e) else PhiflashError(f"{type(e).__name__}: {e}"))
    try:
        conn.send(result)
    except Exception as e:  # an unpicklable result
        conn.send((False, PhiflashError(f"internal error: {e}\n{traceback.format_exc()}")))
    conn.close()


def _picklable(obj) -> bool:

    try:
        pickle.dumps(obj)
        return True
    except Exception:
        return False


def run_with_time_limit(fn, *args, seconds: float = 10.0, **kwargs):
    """fn(*args, **kwargs) in a child process; TimeLimitError after `seconds`. Exceptions are re-raised here."""
    if os.environ.get("PHIFLASH_INLINE") == "1":  # debugging: run in-process, no limit
        return fn(*args, **kwargs)
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args, kwargs), daemon=False)
    proc.start()
    send.close()
    try:
        if not recv.poll(seconds):
            raise TimeLimitError(f"gave up after {seconds:g} s")
        ok, payload = recv.recv()
    except EOFError:
        raise PhiflashError("the solver process died unexpectedly") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
    if ok:
        return payload
    raise payload
