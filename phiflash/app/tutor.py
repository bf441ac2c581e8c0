"""The tutoring session: problem, hints, checks and conversation, independent of how it is shown.

The session talks to a `view` (see ui.RichTutorView) and to an engine. When the symbolic engine solves the problem,
teaching comes from its plan (symbolic/teaching.py): `/hint` climbs a ladder per step (a question, the move named,
the move carried out) and never shows the answer; a line such as `2x = 8` is checked as a step (progress, another
route, or a slip); a wrong answer gets the likely error by name. With the phi engine the model converses with
multi-turn memory (earlier reasoning sections are not fed back, and never shown); its hints are withheld when they
state the answer the symbolic engine found.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import sympy as sp

from ..errors import PhiflashError
from ..symbolic.answers import read_answer
from ..symbolic.parse import ParseError
from ..symbolic.reader import parse_problem
from ..symbolic.readings import Ambiguous
from ..symbolic.solver import plain, pretty, solve
from ..symbolic.teaching import check_line, diagnose, plan, reveals, transcript_markdown
from ..symbolic.verify import check_answer, values_equal
from .engines import SymbolicEngine, pretty_answer
from .ui import clip

HELP = """Type a problem to start, then:
  /hint           a hint for the step you are on (each /hint goes one rung further: a question, the move, the
                  move carried out; never the answer)
  2x = 8          type a line of your working: I say whether it is right and whether it is progress
  /check ANSWER   check your answer (or just type it) and see what went wrong
  /steps          reveal the whole solution (also /reveal)
  /new            a new problem (clears the context)
  /save FILE      save this session (FILE.md: a readable transcript)   /load FILE   restore a saved session
  /help           this text              /quit        leave (Ctrl-D works too)
Ctrl-C stops the current reply and keeps the session."""

SYSTEM = ("You are a patient math tutor. Help the student solve the problem themselves: ask what they tried, give "
          "one small hint at a time, and never reveal the whole solution unless they ask for it with /steps.")

CHAT = ("I'm a math tutor: type a problem such as 2x + 3 = 11, x^2 - 5x + 6 = 0 or derivative of x^2 sin(x), then "
        "work on it with /hint and your own steps. /help lists everything.")
CHAT_DURING = ("I read your lines as math: type a step of your working (like 2x = 8) or your answer (like x = 4), "
               "or ask for a /hint.")


# a number, perhaps as x = …, with a unit-free sign or fraction: what a student types as an answer
_ANSWER_ALONE = re.compile(r"\s*(?:[A-Za-z]\s*=\s*)?[-+±]?\s*\$?\s*\d[\d,. ]*(?:/\s*\d+)?\s*%?\s*\.?\s*")


def _reads_as_problem(line: str) -> bool:
    try:
        parse_problem(line)
    except PhiflashError:
        return False
    return True


def _looks_like_chat(text: str) -> bool:
    """Words and no math: 'hello', 'I don't get it'."""
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z ,.'!?-]*", text.strip())) and not re.fullmatch(r"[a-z]", text.strip())


class TutorSession:
    def __init__(self, engine, view, params=None, max_tokens: int = 4096, log=None, samples: int = 4):
        self.engine, self.view, self.params, self.max_tokens = engine, view, params, max_tokens
        self.samples = samples  # with the model: samples that check a /steps answer SymPy cannot
        self.log = log or (lambda **kw: None)
        self.events: list[tuple[str, str]] = []  # the whole session, for /save FILE.md
        self.reset()

    def reset(self) -> None:
        self.problem: str | None = None
        self.solution = None          # the symbolic engine's solution, when it solves the problem
        self.plan: list = []          # its steps as hint ladders
        self.step, self.rung = 0, 0   # where the student is on the ladder
        self.hint_level = 0           # hints given
        self.shown: set[str] = set()  # no hint twice
        self.messages: list[dict] = []
        self.refused: str | None = None  # the last problem the engine could not take

    @property
    def is_phi(self) -> bool:
        return self.engine.name == "phi"

    # ---- input --------------------------------------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """One line of input; False when the session should end. Nothing that goes wrong with one line ends
        the session: it is said in one line and the session goes on."""
        line = line.strip()
        if not line:
            return True
        try:
            return self._dispatch(line)
        except PhiflashError as e:
            self.view.error(str(e))
        except Exception as e:  # noqa: BLE001 - a bug on one line must not lose the session
            self.view.error(f"that failed ({type(e).__name__}: {e}); the session goes on")
        return True

    def _dispatch(self, line: str) -> bool:
        if line.startswith("/"):
            cmd, _, arg = line.partition(" ")
            cmd, arg = cmd.lower(), arg.strip()
            if cmd in ("/quit", "/exit", "/q"):
                return False
            handler = {"/help": self.help, "/new": self.new, "/hint": self.hint, "/check": self.check,
                       "/steps": self.steps, "/reveal": self.steps, "/save": self.save, "/load": self.load}.get(cmd)
            if handler is None:
                raise PhiflashError(f"unknown command {cmd}; /help lists them")
            handler(arg) if cmd in ("/check", "/save", "/load") else handler()
        elif self.problem is None and self.refused is not None and _ANSWER_ALONE.fullmatch(line):
            # after a problem that was refused, a bare number is an answer to it, not a new problem
            raise PhiflashError(f"{line} looks like an answer to the problem I could not read "
                                f"({clip(self.refused)!r}), so I cannot check it: type that problem as math (e.g. "
                                "2x + 3 = 11), or a new one")
        elif self.problem is None:
            self.start(line)
        elif self.is_phi:
            if _looks_like_chat(line) or not self._checked(line):  # words and questions are for the model
                self._ask(line)
        else:
            self.check(line, typed=True)
        return True

    # ---- commands -----------------------------------------------------------------------------------------------

    def help(self) -> None:
        self.view.info(HELP)

    def new(self) -> None:
        self.reset()
        self.view.info("New problem: type it.")

    def start(self, problem: str, solution=None) -> None:
        """A new problem (solution: the engine's, when it was solved already)."""
        try:
            solution = solution or self._solve(problem)
        except ParseError:
            if _looks_like_chat(problem):  # plain words get a friendly line instead of an error
                self.view.info(CHAT)
                return
            self.refused = problem
            raise
        except PhiflashError:
            self.refused = problem
            raise
        self._take(problem, solution)
        self.events.append(("problem", problem))
        if self.is_phi:
            self.messages = [{"role": "system", "content": SYSTEM}]
            self._ask(f"Here is my problem: {problem}\nDon't solve it for me yet; help me start.")
        else:
            self.view.info(f"Problem: {problem}\nTry it: type a step of your working or your answer, or ask for "
                           "a /hint.")
        self.log(problem=problem, answer=None, verdict=None)

    def _solve(self, problem: str):
        """The symbolic engine's solution. With the model a problem it can't solve is still worked on (None);
        with the symbolic engine its error is why the problem is not taken."""
        try:
            return solve(problem)
        except PhiflashError:
            if self.is_phi:
                return None
            raise

    def _take(self, problem: str | None, solution) -> None:
        self.problem, self.solution = problem, solution
        self.plan = plan(solution) if solution is not None else []

    def _need_problem(self) -> None:
        if self.problem is None:
            raise PhiflashError("no problem yet: type one first")

    def hint(self) -> None:
        self._need_problem()
        if self.is_phi:
            self._model_hint()
            return
        text, math = self._next_rung()
        if text is None:
            self.view.info("No more hints: /steps shows the whole solution.")
            return
        self.hint_level += 1
        self.view.hint(self.hint_level, text, pretty(math) if math is not None else None)
        self.events.append(("hint", text + (f" {plain(math)}" if math is not None else "")))

    def _next_rung(self):
        """The next hint of the ladder that has not been shown: (text, math) or (None, None) past the end."""
        while self.step < len(self.plan):
            st = self.plan[self.step]
            text, math = st.rungs[self.rung], st.math if self.rung == 2 else None
            self.rung += 1
            if self.rung == 3:
                self.step, self.rung = self.step + 1, 0
            if text not in self.shown:
                self.shown.add(text)
                return text, math
        return None, None

    def _checked(self, line: str) -> bool:
        """With the model, a typed line that SymPy can judge (a step of working, or an answer it verifies or
        proves wrong) is judged by SymPy, as with the symbolic engine, never left to the model's word; True when
        it was."""
        step = check_line(self.solution, self.plan, line) if self.solution is not None else None
        if step is not None:
            self._step_feedback(line, step)
            return True
        verdict = check_answer(line, self.problem)
        if verdict.status == "unverifiable":
            return False
        self._judged(line, verdict)
        return True

    def check(self, answer: str, typed: bool = False) -> None:
        """An answer or a line of working (typed, or after /check). A typed line that cannot be read as an answer
        but reads as a problem is a new problem: it starts, as /new then the line would."""
        self._need_problem()
        if not answer:
            raise PhiflashError("usage: /check ANSWER")
        if self.solution is not None:
            line = check_line(self.solution, self.plan, answer)
            if line is not None:
                self._step_feedback(answer, line)
                return
        verdict = check_answer(answer, self.problem)
        if typed and verdict.status == "unverifiable" and verdict.reason.startswith("cannot read the answer") and \
                _reads_as_problem(answer):
            solution = self._solve(answer)   # one the engine cannot take says why, and this problem stays
            self.reset()
            self.view.info("That reads as a new problem, so it starts here (/new does the same).")
            self.start(answer, solution)
            return
        if verdict.status == "unverifiable" and _looks_like_chat(answer) and not self.is_phi:
            self.view.info(CHAT_DURING)
            return
        self._judged(answer, verdict)

    def _judged(self, answer: str, verdict) -> None:
        feedback = self._feedback(answer, verdict)
        self.view.verdict(verdict, pretty_answer(answer), feedback)
        self.events.append(("answer", f"{answer} — {verdict.status}"))
        said = feedback or (verdict.reason if verdict.status == "unverifiable" else None)
        if said:  # the transcript keeps what the tutor said back, not only the verdict
            self.events.append(("tutor", said))
        self.log(problem=self.problem, answer=answer, verdict=verdict.status)
        if self.is_phi and verdict.status != "verified":
            self._ask(f"I think the answer is {answer}. A checker says this is {verdict.status}. Point out what "
                      "is wrong in my answer without giving the full solution.")

    def _step_feedback(self, line_text: str, line) -> None:
        if line.kind == "progress":
            self.step, self.rung = line.step + 1, 0
            if self.step < len(self.plan):
                nxt = self.plan[self.step].rungs[0]
                self.shown.add(nxt)
                message = f"Right — that's the next step. Now: {nxt}"
            else:
                message = "Right. Now finish: what is the answer?"
        else:
            message = line.message
        self.view.info(message)
        self.events.append(("step", f"{line_text} — {line.kind}"))
        self.events.append(("tutor", message))
        self.log(problem=self.problem, answer=line_text, verdict=None)

    def _feedback(self, answer: str, verdict) -> str | None:
        """Under the badge: the likely error for a wrong answer, what is wrong in values, or a reminder."""
        if verdict.status == "verified":
            p = self.solution.problem if self.solution is not None else None
            if p is not None and p.kind == "integral" and p.lower is None and not re.search(r"\b[CK]\b", answer):
                return "Remember the constant of integration: + C."
            return None
        if verdict.status != "wrong" or self.solution is None:
            return None
        return diagnose(self.solution, answer) or self._what_is_wrong(answer) or \
            "Not yet: /hint points at the next step."

    def _what_is_wrong(self, answer: str) -> str | None:
        """For equations: which of the student's values solve it, which do not, and how many are missing."""
        if self.solution.kind != "equation" or not isinstance(self.solution.answer, list):
            return None
        try:
            cand = read_answer(answer)
        except (ParseError, Ambiguous):
            return None
        if cand.kind != "values":
            return None
        eq, x = self.solution.problem.items[0], self.solution.problem.var
        notes = []
        for v in cand.values:
            if any(values_equal(v, s) for s in self.solution.answer):
                notes.append(f"{x} = {v} is a solution")
            else:
                lhs, rhs = sp.simplify(eq.lhs.subs(x, v)), sp.simplify(eq.rhs.subs(x, v))
                notes.append(f"{x} = {v} is not: substituting gives {lhs} on the left and {rhs} on the right")
        missing = len(self.solution.answer) - sum(1 for s in self.solution.answer
                                                  if any(values_equal(v, s) for v in cand.values))
        if missing > 0 and any(any(values_equal(v, s) for s in self.solution.answer) for v in cand.values):
            notes.append(f"{missing} solution{'s are' if missing > 1 else ' is'} missing")
        return "; ".join(notes)

    def steps(self) -> None:
        self._need_problem()
        self.events.append(("revealed", "the whole solution"))
        if self.is_phi:
            self._ask("Show the complete step-by-step solution, with the final answer in \\boxed{}.")
            if self.solution is None and self.samples > 1:
                self._sampled_answer()
            return
        self.view.solution(SymbolicEngine().solve(self.problem))

    def _sampled_answer(self) -> None:
        """When SymPy cannot check the problem: sample the model's solution several times and say whether the
        samples agree on an answer (evidence, not proof)."""
        from ..lm.generate import SamplingParams
        from ..symbolic.verify import Verdict

        self.view.info(f"Checking the answer by solving it {self.samples} more times…")
        with self.view.stream() as on_event:
            r = self.engine.solve_samples(self.problem, self.samples, self.params or SamplingParams(),
                                          self.max_tokens, on_event=on_event)
        self.view.verdict(Verdict(r.verdict, None, r.reason), pretty_answer(r.answer or "(no answer)"),
                          f"{r.agreement['support']} of {self.samples} samples agree" if r.agreement else None)
        self.events.append(("samples", f"{r.answer} — {r.verdict} ({r.reason})"))

    # ---- the model ----------------------------------------------------------------------------------------------

    def _ask(self, text: str, show: bool = True) -> str:
        """One turn with the model; its reasoning is never shown in the tutor, only the reply."""
        from ..lm.generate import SamplingParams

        self.messages.append({"role": "user", "content": text})
        with self.view.stream() as on_event:
            c = self.engine.chat(self.messages, self.params or SamplingParams(), self.max_tokens, on_event)
        reply = c.answer or c.text
        if c.finish_reason == "cancelled":
            reply += " [interrupted]"
            self.view.info("(stopped)")
        self.messages.append({"role": "assistant", "content": reply})  # no reasoning section fed back
        if show:
            self.view.reply(reply, c)
        self.log(problem=self.problem, answer=reply, verdict=None)
        return reply

    def _model_hint(self) -> None:
        """A Socratic hint from the model for the step the student is on. When the symbolic engine solved the
        problem, a reply that states its answer is withheld and the symbolic hint is shown instead."""
        step = self.plan[self.step] if self.step < len(self.plan) else None
        focus = f" The next step is: {step.rungs[1]}" if step is not None else ""
        self.hint_level += 1
        reply = self._ask(f"Give me hint number {self.hint_level} for the step I am on, as a question that points "
                          f"at the next move.{focus} Do not state the final answer.", show=self.solution is None)
        if self.solution is None:
            return
        if reveals(reply, None, self.solution):
            text, math = self._next_rung()
            self.view.info("(The model's hint gave the answer away, so here is the step-by-step hint instead.)")
            if text is not None:
                self.view.hint(self.hint_level, text, pretty(math) if math is not None else None)
            return
        self.view.reply(reply, None)

    # ---- persistence --------------------------------------------------------------------------------------------

    def save(self, path: str) -> None:
        """FILE.md: a readable transcript; any other name: the session as JSON, for /load."""
        if not path:
            raise PhiflashError("usage: /save FILE")
        if path.lower().endswith((".md", ".markdown")):
            text = transcript_markdown(self.events)
        else:
            text = json.dumps({"engine": self.engine.name, "problem": self.problem, "hint_level": self.hint_level,
                               "messages": self.messages}, indent=2, ensure_ascii=False)
        try:
            Path(path).expanduser().write_text(text, encoding="utf-8")
        except OSError as e:
            raise PhiflashError(f"cannot save to {path}: {e}") from None
        self.view.info(f"Saved to {path}.")

    def load(self, path: str) -> None:
        """Restore a saved session. The file is checked whole before anything changes: a bad one is refused
        with the reason and the current session is kept."""
        if not path:
            raise PhiflashError("usage: /load FILE")
        try:
            raw = Path(path).expanduser().read_bytes()
        except OSError as e:
            raise PhiflashError(f"cannot load {path}: {e.strerror or e}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PhiflashError(f"cannot load {path}: not a saved session (a binary file, not JSON text)") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            if text.lstrip().startswith("#"):
                raise PhiflashError(f"cannot load {path}: that is a transcript (Markdown), not a saved session; "
                                    "/save FILE.json writes a session /load can read") from None
            raise PhiflashError(f"cannot load {path}: not a saved session (not JSON)") from None
        problem, level, messages = _session_fields(data, path)
        saved_engine = data.get("engine")
        if saved_engine is not None and saved_engine != self.engine.name:
            raise PhiflashError(f"cannot load {path}: it was saved with the {saved_engine} engine, and this session "
                                f"uses the {self.engine.name} engine")
        solution = self._solve(problem) if problem is not None else None  # refused: the session is kept
        rungs = sum(len(st.rungs) for st in plan(solution)) if solution is not None else 0
        if solution is not None and level > rungs:
            raise PhiflashError(f"cannot load {path}: hint_level {level} is past this problem's {rungs} hints")
        self.reset()
        self._take(problem, solution)
        for _ in range(level):  # back to the same rung of the ladder
            self._next_rung()
        self.hint_level = level
        if self.is_phi and problem is not None:
            self.messages = messages or [{"role": "system", "content": SYSTEM}]
        self.view.info(f"Loaded {path}: {problem or 'no problem yet'} (hints used: {level}).")


def _session_fields(data, path: str) -> tuple[str | None, int, list[dict]]:
    """(problem, hint_level, messages) of a saved session, or a PhiflashError saying what is wrong."""
    def bad(what: str) -> PhiflashError:
        return PhiflashError(f"cannot load {path}: {what}")

    if not isinstance(data, dict):
        raise bad("not a saved session (a JSON object with 'problem', 'hint_level', 'messages')")
    problem = data.get("problem")
    if problem is not None and (not isinstance(problem, str) or not problem.strip()):
        raise bad("'problem' must be text or null")
    level = data.get("hint_level", 0)
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 1000:
        raise bad("'hint_level' must be a whole number from 0")
    messages = data.get("messages", [])
    if not isinstance(messages, list) or not all(
            isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
            and isinstance(m.get("content"), str) for m in messages):
        raise bad("'messages' must be a list of {role: system|user|assistant, content: text}")
    return problem, level, messages
