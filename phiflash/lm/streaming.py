"""Turning a stream of token ids into text events: UTF-8-safe detokenization, stop strings, and the split of a
`<think>…</think>` reasoning section from the final answer. All three are plain state machines fed piece by piece,
so they work the same on a live stream and in tests that cut the text at every possible boundary.
"""

from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class IncrementalDecoder:
    """Emits text for new tokens only once it is complete UTF-8 (a byte-level token can end mid-character)."""

    def __init__(self, decode):
        self._decode = decode  # list[int] -> str
        self.ids: list[int] = []
        self._prefix = 0   # start of the window re-decoded for context
        self._read = 0     # end of the text already emitted

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        before = self._decode(self.ids[self._prefix:self._read])
        after = self._decode(self.ids[self._prefix:])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self.ids)
            return after[len(before):]
        return ""

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character decodes as U+FFFD)."""
        before = self._decode(self.ids[self._prefix:self._read])
        after = self._decode(self.ids[self._prefix:])
        self._prefix = self._read = len(self.ids)
        return after[len(before):]


def _held_back(text: str, markers: tuple[str, ...]) -> int:
    """Length of the longest suffix of text that is a proper prefix of one of the markers."""
    best = 0
    for m in markers:
        for n in range(min(len(m) - 1, len(text)), best, -1):
            if text.endswith(m[:n]):
                best = n
                break
    return best


class StopStrings:
    """Holds back text that may be the start of a stop string; `stopped` once one appears (it is cut off)."""

    def __init__(self, stops: tuple[str, ...] | list[str] = ()):
        self.stops = tuple(s for s in stops if s)
        self._buf = ""
        self.stopped = False

    def push(self, text: str) -> str:
        if self.stopped or not self.stops:
            return "" if self.stopped else text
        self._buf += text
        hits = [i for i in (self._buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self._buf, self.stopped = self._buf[: min(hits)], "", True
            return out
        keep = _held_back(self._buf, self.stops)
        out, self._buf = self._buf[: len(self._buf) - keep], self._buf[len(self._buf) - keep:]
        return out

    def flush(self) -> str:
        out, self._buf = self._buf, ""
        return "" if self.stopped else out


class ReasoningSplitter:
    """Splits streamed text into ("reasoning", text) and ("answer", text) events.

    Text is reasoning between `<think>` and `</think>`; a `<think>` is recognised only before any answer text
    (leading whitespace aside). A tag cut across pieces is held back until it is complete.
    """

    def __init__(self):
        self.mode = "start"  # start -> reasoning -> answer, or start -> answer
        self._buf = ""

    def push(self, text: str) -> list[tuple[str, str]]:
        self._buf += text
        events: list[tuple[str, str]] = []
        while True:
            if self.mode == "start":
                stripped = self._buf.lstrip()
                if stripped.startswith(THINK_OPEN):
                    self._buf, self.mode = stripped[len(THINK_OPEN):], "reasoning"
                    continue
                if stripped and not THINK_OPEN.startswith(stripped):
                    self.mode = "answer"
                    continue
                return events
            if self.mode == "reasoning":
                i = self._buf.find(THINK_CLOSE)
                if i >= 0:
                    if i:
                        events.append(("reasoning", self._buf[:i]))
                    self._buf, self.mode = self._buf[i + len(THINK_CLOSE):], "answer"
                    continue
                keep = _held_back(self._buf, (THINK_CLOSE,))
                out, self._buf = self._buf[: len(self._buf) - keep], self._buf[len(self._buf) - keep:]
                if out:
                    events.append(("reasoning", out))
                return events
            if self._buf:  # answer
                events.append(("answer", self._buf))
                self._buf = ""
            return events

    def flush(self) -> list[tuple[str, str]]:
        out, self._buf = self._buf, ""
        if not out:
            return []
        return [("reasoning" if self.mode == "reasoning" else "answer", out)]


def split_reasoning(text: str) -> tuple[str, str]:
    """(reasoning, answer) of a whole completion. A `</think>` with no opening tag ends a reasoning section too
    (some templates put the opening tag in the prompt)."""
    s = ReasoningSplitter()
    events = s.push(text) + s.flush()
    reasoning = "".join(t for k, t in events if k == "reasoning")
    answer = "".join(t for k, t in events if k == "answer")
    if not reasoning and THINK_CLOSE in answer:
        reasoning, _, answer = answer.partition(THINK_CLOSE)
    return reasoning.strip(), answer.strip()


class TextStream:
    """One row's text: token ids in, ("reasoning" | "answer", text) pieces out, through the three machines above
    (UTF-8-safe decoding, then stop strings, then the reasoning split). `text` is everything emitted so far;
    `stopped` once a stop string has appeared. `reasoning=True` starts inside a reasoning section (the prompt
    opened it)."""

    def __init__(self, decode, stop_strings=(), reasoning: bool = False):
        self._detok, self._stops, self._split = IncrementalDecoder(decode), StopStrings(stop_strings), \
            ReasoningSplitter()
        if reasoning:
            self._split.mode = "reasoning"
        self._pieces: list[str] = []

    @property
    def stopped(self) -> bool:
        return self._stops.stopped

    @property
    def in_reasoning(self) -> bool:
        return self._split.mode == "reasoning"

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    def push(self, token_id: int) -> list[tuple[str, str]]:
        return self._through(self._stops.push(self._detok.push(token_id)))

    def flush(self) -> list[tuple[str, str]]:
        out = self._through(self._stops.push(self._detok.flush()))
        out += self._through(self._stops.flush())
        return out + self._split.flush()

    def _through(self, text: str) -> list[tuple[str, str]]:
        if not text:
            return []
        self._pieces.append(text)
        return self._split.push(text)
