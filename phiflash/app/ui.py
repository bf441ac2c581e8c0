"""Everything the terminal shows, with Rich: steps, answer panel, verdict badge, stats, live reasoning.

In a terminal there are panels and colour; when stdout is not a terminal the same content is plain lines.
Nothing here imports torch.
"""

from __future__ import annotations

import time
import unicodedata
from collections import deque
from contextlib import contextmanager

from rich.cells import cell_len
from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.text import Text

from ..symbolic.verify import NO_MATCH, UNVERIFIABLE, VERIFIED, WRONG, Verdict

MAX_SHOWN = 400  # characters of a user's text shown back (a 20,000-character input is not echoed whole)


def clip(text: str, n: int = MAX_SHOWN) -> str:
    return text if len(text) <= n else f"{text[:n]}… ({len(text):,} characters)"

BADGES = {"verified": ("✓ verified", "bold green"), "wrong": ("✗ wrong", "bold red"),
          "unverifiable": ("? unverifiable", "bold yellow"), "consensus": ("≈ consensus", "bold cyan"),
          "split": ("⚠ split", "bold magenta")}


def badge(v: Verdict, notes: list[str] = ()) -> Text:
    """✓ verified (with the solver's notes), ✗ wrong with the correct answer, ? unverifiable with why."""
    label, style = BADGES[v.status]
    t = Text(label, style=style)
    if v.status == WRONG:  # why, when it is more than "differs" (the form asked for), and the correct answer
        said = [v.reason] if v.reason and v.reason != NO_MATCH else []
        said += [f"correct answer: {v.expected}"] if v.expected else []
        if said:
            t.append(" — " + "; ".join(said), style="red")
    elif v.status in (UNVERIFIABLE, "consensus", "split") and v.reason:
        t.append(f" — {v.reason}", style=BADGES[v.status][1].split()[-1])
        if v.status == "consensus":
            t.append(" (agreement is evidence, not proof)", style="dim")
    elif v.status == VERIFIED and notes:
        t.append(f" — {'; '.join(notes)}", style="green")
    return t


def show_steps(console: Console, steps: list[dict]) -> None:
    for i, step in enumerate(steps, 1):
        console.print(Text(f"{i}. ", style="bold cyan") + Text(step["text"]))
        if step.get("pretty"):
            for line in step["pretty"].splitlines():
                console.print(Text("     " + line), soft_wrap=True, overflow="ignore", crop=False)


def show_answer(console: Console, result) -> None:
    body = result.answer_pretty or result.answer or "(no answer)"
    if console.is_terminal:
        console.print(Panel(Text(body), title="Answer", title_align="left", border_style="bold", expand=False))
    else:
        console.print("Answer:")
        console.print(Text(body), soft_wrap=True, overflow="ignore", crop=False)
    if result.notes and (result.engine != "symbolic" or result.verdict != "verified"):
        console.print(Text("; ".join(result.notes), style="italic"))
    console.print(badge(Verdict(result.verdict, result.expected, result.reason),
                        result.notes if result.engine == "symbolic" else []))


def stats_line(result) -> Text:
    t = result.timings
    if result.engine == "symbolic":
        return Text(f"symbolic engine · {t.get('total_s', 0):.2f} s", style="dim")
    parts = [f"{t.get('prompt_tokens') or 0} prompt tokens"]
    if t.get("ttft_s") is not None:
        parts.append(f"first token {t['ttft_s']:.2f} s")
    parts += [f"{t.get('generated_tokens') or 0} tokens at {t.get('tokens_per_s') or 0:.1f} tok/s",
              f"{t.get('total_s') or 0:.1f} s total"]
    if (t.get("samples") or 1) > 1:
        parts.insert(0, f"{t['samples']} samples")
    if t.get("draft_acceptance") is not None:
        parts.append(f"drafts accepted {t['draft_acceptance']:.0%}")
    if t.get("speculation"):
        parts.append(f"speculation {t['speculation']}")
    if result.finish_reason == "cancelled":
        parts.append("cancelled")
    elif result.finish_reason == "length":
        parts.append("stopped at --max-tokens")
    return Text(" · ".join(parts), style="dim")


def show_result(console: Console, result, show_steps_: bool = True) -> None:
    if result.engine == "symbolic" and show_steps_ and result.steps:
        show_steps(console, result.steps)
    show_answer(console, result)
    console.print(stats_line(result))


class ReasoningStream:
    """Receives ("reasoning" | "answer", text) events while the model generates.

    In a terminal the reasoning shows in a dim panel holding its last `lines` lines (a long trace stays
    readable), refreshed at most 10 times a second, and removed when generation ends. Elsewhere reasoning goes
    to `err` (stderr) as it comes, unless hidden. Answer text is collected for the final panel.
    """

    def __init__(self, console: Console, err: Console, hide: bool = False, lines: int = 12):
        self.console, self.err, self.hide, self.lines = console, err, hide, lines
        self.reasoning, self.answer = [], []
        self._tail: deque[str] = deque([""], maxlen=lines)
        self._live: Live | None = None
        self._last = 0.0
        self.tokens = 0
        self._status = ""

    def __enter__(self):
        if self.console.is_terminal and not self.hide:
            self._live = Live(self._render(), console=self.console, auto_refresh=False, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.__exit__(*exc)
        if not self.console.is_terminal and not self.hide and self.reasoning:
            self.err.print()
        return False

    def _render(self):
        """A view that never wraps and never outgrows the screen: a live region taller than the terminal, or a
        line the terminal wraps where Rich did not expect it, leaves stacked borders behind on every refresh. So
        each line is cut by the most cells any terminal gives its characters, and the frame has no right border
        (padding up to one would be measured Rich's way, not the terminal's)."""
        width = max(10, self.console.width)
        rows = max(1, min(self.lines, self.console.height - 8))  # + 2 frame lines, answer (2) and status: 3 spare
        title = f"reasoning · {self.tokens} pieces" if self.reasoning else "thinking…"
        top = f"╭─ {title} " + "─" * max(0, width - len(title) - 5)
        lines = [Text(fit_cells(top, width), style="dim", no_wrap=True, overflow="crop")]
        lines += [Text("│ ", style="dim") + Text(fit_cells(line, width - 2), style="dim", no_wrap=True, overflow="crop")
                  for line in (list(self._tail)[-rows:] + [""] * rows)[:rows]]
        lines.append(Text(fit_cells("╰" + "─" * (width - 2), width), style="dim", no_wrap=True, overflow="crop"))
        answer = "".join(self.answer).split("\n")[-2:]
        lines += [Text(fit_cells(a, width), no_wrap=True, overflow="crop") for a in answer]
        lines.append(Text(fit_cells(self._status, width), style="dim", no_wrap=True, overflow="crop"))
        return Group(*lines)

    def status(self, text: str) -> None:
        """A compact line under the stream (the other samples' progress)."""
        self._status = text
        self._refresh()

    def _refresh(self) -> None:
        """Redraw, at most 10 times a second."""
        now = time.monotonic()
        if self._live is not None and now - self._last > 0.1:
            self._last = now
            self._live.update(self._render(), refresh=True)

    def __call__(self, kind: str, text: str) -> None:
        self.tokens += 1
        if kind == "reasoning":
            self.reasoning.append(text)
            if not self.hide and not self.console.is_terminal:
                self.err.print(Text(text, style="dim"), end="", soft_wrap=True)
            parts = text.split("\n")
            self._tail[-1] += parts[0]
            self._tail.extend(parts[1:])
        else:
            self.answer.append(text)
        self._refresh()


def _cells_at_most(ch: str) -> int:
    """The most cells a terminal may give ch. Where terminals disagree (wide East Asian characters, emoji,
    combining and format characters, variation selectors) the answer is 2, so text cut to a width by this measure
    fits that width in any terminal that draws Rich's own borders (East Asian "ambiguous" characters, box drawing
    among them, as one cell)."""
    w = cell_len(ch)
    if w == 1 and unicodedata.east_asian_width(ch) not in ("W", "F") and \
            unicodedata.category(ch) not in ("Mn", "Me", "Cf", "Co", "Cn") and ord(ch) < 0x1F000:
        return 1
    return 2


def fit_cells(line: str, width: int) -> str:
    """line cut (with …) to at most `width` cells in any terminal; control characters become spaces."""
    line = "".join(" " if unicodedata.category(c) == "Cc" else c for c in line)
    used, out = 0, []
    for ch in line:
        w = _cells_at_most(ch)
        if used + w > width - 1:
            rest = sum(_cells_at_most(c) for c in line[len(out):])
            if used + rest <= width:
                out.extend(line[len(out):])
            else:
                out.append("…")
            break
        out.append(ch)
        used += w
    return "".join(out)


@contextmanager
def _nothing():
    yield


class RichTutorView:
    """The tutor session's view in a terminal (the session itself is UI-free: app/tutor.py)."""

    def __init__(self, console: Console, errc: Console):
        self.console, self.err = console, errc

    def info(self, text: str) -> None:
        self.console.print(Text(text))

    def error(self, text: str) -> None:
        self.console.print(Text(text, style="red"))

    def hint(self, level: int, text: str, pretty: str | None) -> None:
        self.console.print(Text(f"Hint {level}: ", style="bold cyan") + Text(text))
        for line in (pretty or "").splitlines():
            self.console.print(Text("   " + line), overflow="ignore", crop=False)

    def verdict(self, v: Verdict, pretty: str, detail: str | None) -> None:
        self.console.print(Text(pretty), overflow="ignore", crop=False)
        # in the tutor a wrong answer never comes with the correct one: that is what /steps is for
        self.console.print(badge(Verdict(v.status, None if v.status == WRONG else v.expected, v.reason)))
        if detail:
            self.console.print(Text(detail, style="italic"))

    def solution(self, result) -> None:
        show_result(self.console, result)

    @contextmanager
    def stream(self):
        # the tutor never shows the model's reasoning: it could state the answer the student is working toward
        with self.console.status("thinking…") if self.console.is_terminal else _nothing():
            with ReasoningStream(self.console, self.err, hide=True) as s:
                yield s

    def reply(self, text: str, completion) -> None:
        self.console.print(Markdown(text) if self.console.is_terminal else Text(text))
