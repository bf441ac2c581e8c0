"""The tutoring session: problem, hints, checks and conversation, independent of how it is shown.

The session talks to a `view` (see cli.RichTutorView) and to an engine. With the symbolic engine hints and
solutions come from the step-by-step solution; with the phi engine from the model, which keeps multi-turn
memory through the chat template (earlier reasoning sections are not fed back, only the visible replies).
"""

from __future__ import annotations

import json
from pathlib import Path

import sympy as sp

from ..errors import PhiflashError
from ..symbolic.answers import read_answer
from ..symbolic.parse import ParseError
from ..symbolic.solver import solve
from ..symbolic.verify import check_answer, values_equal
from .engines import SymbolicEngine, pretty_answer

HELP = """Type a problem to start, then:
  /hint           the next step only (each hint a little stronger)
  /check ANSWER   check your answer and see what is wrong
  /steps          reveal the whole solution
  /new            a new problem (clears the context)
  /save FILE      save this session      /load FILE   restore a saved session
  /help           this text              /quit        leave (Ctrl-D works too)
Ctrl-C stops the current reply and keeps the session."""

SYSTEM = ("You are a patient math tutor. Help the student solve the problem themselves: ask what they tried, give "
          "one small hint at a time, and never reveal the whole solution unless they ask for it with /steps.")


class TutorSession:
    def __init__(self, engine, view, params=None, max_tokens: int = 4096, log=None):
        self.engine, self.view, self.params, self.max_tokens = engine, view, params, max_tokens
        self.log = log or (lambda **kw: None)
        self.reset()

    def reset(self) -> None:
        self.problem: str | None = None
        self.solution = None          # symbolic engine: the solved problem
        self.hint_level = 0
        self.messages: list[dict] = []

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
                       "/steps": self.steps, "/save": self.save, "/load": self.load}.get(cmd)
            if handler is None:
                raise PhiflashError(f"unknown command {cmd}; /help lists them")
            handler(arg) if cmd in ("/check", "/save", "/load") else handler()
        elif self.problem is None:
            self.start(line)
        elif self.is_phi:
            self._ask(line)
        else:
            self.check(line)
        return True

    # ---- commands -----------------------------------------------------------------------------------------------

    def help(self) -> None:
        self.view.info(HELP)

    def new(self) -> None:
        self.reset()
        self.view.info("New problem: type it.")

    def start(self, problem: str) -> None:
        if self.is_phi:
            self.problem = problem
            self.messages = [{"role": "system", "content": SYSTEM}]
            self._ask(f"Here is my problem: {problem}\nDon't solve it for me yet; help me start.")
        else:
            self.solution = solve(problem)  # ParseError / SolveError: the problem is not taken
            self.problem = problem
            self.view.info(f"Problem: {problem}\nTry it, then /check your answer, or ask for a /hint.")
        self.log(problem=problem, answer=None, verdict=None)

    def _need_problem(self) -> None:
        if self.problem is None:
            raise PhiflashError("no problem yet: type one first")

    def hint(self) -> None:
        self._need_problem()
        self.hint_level += 1
        if self.is_phi:
            self._ask(f"Give me hint number {self.hint_level}: only the next step, a little more explicit than "
                      "any earlier hint. Do not solve the whole problem.")
            return
        steps = [s.to_dict() for s in self.solution.steps]
        index, with_math = divmod(self.hint_level - 1, 2)
        if index >= len(steps):
            self.view.info("No more hints: /steps shows the whole solution.")
            return
        step = steps[index]
        self.view.hint(self.hint_level, step["text"], step["pretty"] if with_math else None)

    def check(self, answer: str) -> None:
        self._need_problem()
        if not answer:
            raise PhiflashError("usage: /check ANSWER")

        verdict = check_answer(answer, self.problem)
        self.view.verdict(verdict, pretty_answer(answer), self._what_is_wrong(answer, verdict))
        self.log(problem=self.problem, answer=answer, verdict=verdict.status)
        if self.is_phi and verdict.status != "verified":
            self._ask(f"I think the answer is {answer}. A checker says this is {verdict.status}. Point out what "
                      "is wrong in my answer without giving the full solution.")

    def _what_is_wrong(self, answer: str, verdict) -> str | None:
        """For equations: which of the student's values solve it, which do not, and how many are missing."""
        if verdict.status != "wrong" or self.solution is None or self.solution.kind != "equation":
            return None


        try:
            cand = read_answer(answer)
        except ParseError:
            return None
        if cand.kind != "values" or not isinstance(self.solution.answer, list):
            return None
        eq, x = self.solution.problem.items[0], self.solution.problem.var
        notes = []
        for v in cand.values:
            lhs, rhs = eq.lhs.subs(x, v), eq.rhs.subs(x, v)
            if any(values_equal(v, s) for s in self.solution.answer):
                notes.append(f"{x} = {v} is a solution")
            else:
                notes.append(f"{x} = {v} is not: substituting gives {sp.simplify(lhs)} on the left and "
                             f"{sp.simplify(rhs)} on the right")
        found = sum(1 for s in self.solution.answer if any(values_equal(v, s) for v in cand.values))
        missing = len(self.solution.answer) - found
        if missing > 0:
            notes.append(f"{missing} solution{'s are' if missing > 1 else ' is'} missing")
        return "; ".join(notes)

    def steps(self) -> None:
        self._need_problem()
        if self.is_phi:
            self._ask("Show the complete step-by-step solution, with the final answer in \\boxed{}.")
            return

        self.view.solution(SymbolicEngine().solve(self.problem))

    # ---- the model ----------------------------------------------------------------------------------------------

    def _ask(self, text: str) -> None:
        from ..lm.generate import SamplingParams

        self.messages.append({"role": "user", "content": text})
        with self.view.stream() as on_event:
            c = self.engine.chat(self.messages, self.params or SamplingParams(), self.max_tokens, on_event)
        reply = c.answer or c.text
        if c.finish_reason == "cancelled":
            reply += " [interrupted]"
            self.view.info("(stopped)")
        self.messages.append({"role": "assistant", "content": reply})  # no reasoning section fed back
        self.view.reply(reply, c)
        self.log(problem=self.problem, answer=reply, verdict=None)

    # ---- persistence --------------------------------------------------------------------------------------------

    def save(self, path: str) -> None:
        if not path:
            raise PhiflashError("usage: /save FILE")
        data = {"engine": self.engine.name, "problem": self.problem, "hint_level": self.hint_level,
                "messages": self.messages}
        try:
            Path(path).expanduser().write_text(json.dumps(data, indent=2, ensure_ascii=False))
        except OSError as e:
            raise PhiflashError(f"cannot save to {path}: {e}") from None
        self.view.info(f"Saved to {path}.")

    def load(self, path: str) -> None:
        """Restore a saved session. The file is checked whole before anything changes: a bad one is refused
        with the reason and the current session is kept."""
        if not path:
            raise PhiflashError("usage: /load FILE")
        try:
            data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise PhiflashError(f"cannot load {path}: {e}") from None
        problem, level, messages = _session_fields(data, path)
        solution = None
        if problem is not None and not self.is_phi:
            solution = solve(problem)  # a problem the engine can't take: refused, the session kept
        self.reset()
        self.problem, self.solution, self.hint_level = problem, solution, level
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
