"""Notations with more than one reading: every reading is produced, none is chosen silently.

A reader that meets such a notation (`1/2x`, `2^3^2`, `log 100`, `2 3`, `1 1/4`, a decimal comma) calls
`choose(key, labels)` instead of deciding. Inside `all_readings` the first call records the choice point and
takes its first option; the enumeration then runs the reader again with each option forced, so a text with k
independent points gives at most 2^k runs (bounded). The key names the notation and its text, so the same
fragment is read the same way everywhere in one problem and its answer (a writer is consistent).

Outside an enumeration an unforced choice raises `Ambiguous` at once, carrying every forced map; callers that
can act on each reading (the checker, the solver front ends) run again under each with `forced(...)` and compare
outcomes: when they agree the notation did not matter, when they differ the user is asked "A or B?".
"""

from __future__ import annotations

import contextvars
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import PhiflashError

MAX_RUNS = 64

Key = tuple[str, str]  # (what kind of notation, its text)


class Ambiguous(PhiflashError):
    """A notation whose readings give different results. `maps[i]` forces reading i; `shown[i]` says it."""

    def __init__(self, message: str, maps: list[dict], shown: list[str]):
        super().__init__(message, maps, shown)
        self.message, self.maps, self.shown = message, maps, shown

    def __str__(self) -> str:
        return self.message


@dataclass
class _State:
    forced: dict = field(default_factory=dict)    # key -> option index
    labels: dict = field(default_factory=dict)    # key -> option labels, every key met
    open: dict | None = None                      # keys met unforced in this run (None: not enumerating)


_ROOT = _State()  # outside any `forced`/`all_readings`: nothing forced, not enumerating
_STATE: contextvars.ContextVar[_State | None] = contextvars.ContextVar("phiflash_readings", default=None)


def _state() -> _State:
    return _STATE.get() or _ROOT


def choose(key: Key, labels: tuple[str, ...]) -> int:
    """The option to read `key` by: forced, or the first while enumerating; otherwise Ambiguous."""
    st = _state()
    if len(st.labels) > 10_000:  # a long-lived process (the server) meets many texts; labels follow from keys
        st.labels.clear()
    st.labels.setdefault(key, labels)
    if key in st.forced:
        return st.forced[key]
    if (key[0], "*") in st.forced:   # a problem's words that settle every notation of a kind
        return st.forced[(key[0], "*")]
    if st.open is not None:
        st.open.setdefault(key, labels)
        return 0
    maps = [{**st.forced, key: i} for i in range(len(labels))]
    raise Ambiguous(describe(key, labels), maps, list(labels))


def describe(key: Key, labels) -> str:
    n = {2: "two", 3: "three"}.get(len(labels), str(len(labels)))
    return f"'{key[1]}' has {n} readings: {' or '.join(labels)}"


def current() -> dict:
    return dict(_state().forced)


@contextmanager
def forced(choices: dict):
    """Read every notation in `choices` the way it says (on top of what is already forced)."""
    outer = _state()
    token = _STATE.set(_State({**outer.forced, **choices}, outer.labels, None))
    try:
        yield
    finally:
        _STATE.reset(token)


def all_readings(fn, *args, **kwargs) -> list[tuple[dict, object]]:
    """[(forced map, fn's result or the exception it raised)] for every reading fn meets, first reading first.
    Only PhiflashErrors are results; anything else propagates."""
    outer = _state()
    stack, out, runs = [dict(outer.forced)], [], 0
    while stack:
        f = stack.pop()
        runs += 1
        if runs > MAX_RUNS:
            raise PhiflashError("this has too many possible readings: add parentheses")
        st = _State(f, outer.labels, {})
        token = _STATE.set(st)
        try:
            result = fn(*args, **kwargs)
        except Ambiguous as e:  # a nested reader that could not settle: its maps extend ours by its keys
            stack.extend(reversed(e.maps))
            continue
        except PhiflashError as e:
            result = e
        finally:
            _STATE.reset(token)
        if st.open:
            key, labels = next(iter(st.open.items()))
            stack.extend({**f, key: i} for i in reversed(range(len(labels))))
            continue
        out.append((f, result))
    return out


def label_of(choices: dict, base: dict | None = None) -> str:
    """How a forced map reads, for the keys not already in `base`: "1/(2·x)"; "; " between several."""
    labels = _state().labels
    return "; ".join(labels[k][i] for k, i in choices.items() if (base is None or k not in base) and k in labels)


def ask(maps: list[dict], base: dict | None = None) -> str:
    """The question to put to the user: "'1/2x' has two readings: (1/2)·x or 1/(2·x)"."""
    labels = _state().labels
    keys = [k for k in dict.fromkeys(k for m in maps for k in m) if (base is None or k not in base)
            and len({m.get(k) for m in maps}) > 1 and k in labels]
    return "; ".join(describe(k, labels[k]) for k in keys) or "the text has more than one reading"


LOG = ("log without a base", "log")
_LOG_IS = r"\$?\\?log\$?\s*(?:x\s*)?(?:is|denotes|means|stands\s+for|represents)\s+(?:the\s+)?"
_DECLARED = [
    (re.compile(_LOG_IS + r"(?:base[- ]?\$?\s*10\s*\$?|common|decimal)", re.IGNORECASE), LOG, 1),
    (re.compile(_LOG_IS + r"(?:natural|base[- ]?\$?\s*e\s*\$?)", re.IGNORECASE), LOG, 0),
    # 'enter all the roots, separated by commas': '-2,1' is the list -2, 1, not -2.1 with a decimal comma
    (re.compile(r"separated by commas", re.IGNORECASE), ("decimal comma or two values", "*"), 1),
]


def declared(text: str | None) -> dict:
    """Readings a problem fixes in words: "where $\\log$ is the base $10$ logarithm" settles every bare log,
    in the problem and in its answer; "separated by commas" makes a comma between digits a separator."""
    return {key: option for pattern, key, option in _DECLARED if text and pattern.search(text)}
