"""Grading given answers (`phiflash grade`): each answer is checked against the answer key when its row has one
(`expected`), else against the problem solved independently, with the verdict code of `check`; a wrong answer gets
the tutor's diagnosis of the likely mistake when a hypothesis reproduces it.

Rows of one problem are graded together in one time-limited child process, so the problem is solved once for all
of them (a class file has few problems and many answers); a chunk that runs past its limit is graded again row by
row, each under its own limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import one_line
from ..symbolic import solver as S
from ..symbolic.teaching import diagnose
from ..symbolic.timelimit import run_with_time_limit
from ..symbolic.verify import UNVERIFIABLE, WRONG, Verdict, _check, check_answer
from . import record
from .batch import GRADE_COLUMNS, Item, correct, in_processes, read_problems
from .engines import latex_answer

SECONDS = 10.0   # one answer's limit, as `check`
CHUNK = 50       # rows of one problem graded in one child


def read_answers(path) -> tuple[list[Item], list[str]]:
    """Rows with `problem` and `answer`, optionally `id`, `student`, `expected`, `subject`, `level`."""
    return read_problems(path, GRADE_COLUMNS)


def graded(item: Item, v: Verdict, diagnosis: str | None, seconds: float) -> dict:
    return record.make("grade", id=item.id, problem=item.problem, engine="symbolic", answer=item.answer,
                       answer_latex=latex_answer(item.answer), verdict=v.status, reason=v.reason,
                       expected=v.expected, reference=item.reference,
                       correct=correct(v.status) if item.reference is not None else None, student=item.student,
                       diagnosis=diagnosis, subject=item.subject, level=item.level, seconds=round(seconds, 3))


def failed(item: Item, message: str | None = None) -> dict:
    return record.error("grade", message or item.error or "no result", id=item.id, problem=item.problem,
                        answer=item.answer, reference=item.reference, student=item.student, subject=item.subject,
                        level=item.level)


def _grade_here(item: Item) -> dict:
    """One row in this process (the child of a chunk): the verdict, and for a wrong answer its likely mistake."""
    start = time.perf_counter()
    try:
        v = _check(item.answer, item.problem, item.reference)
    except Exception as e:  # noqa: BLE001 - as check: a failure is an unverifiable verdict with its reason
        v = Verdict(UNVERIFIABLE, reason=f"the checker failed ({one_line(e)})")
    return graded(item, v, _diagnosis(item) if v.status == WRONG else None, time.perf_counter() - start)


def _diagnosis(item: Item) -> str | None:
    try:
        return diagnose(S.solve_problem(item.problem), item.answer)
    except Exception:  # noqa: BLE001 - a problem the engine cannot solve gets no diagnosis, never a guess
        return None


def _grade_chunk_in_child(items: list[Item]) -> list[dict]:
    with S.memo():
        return [_grade_here(it) for it in items]


def _grade_alone(item: Item) -> dict:
    """One row under its own limit (after its chunk ran past the chunk's)."""
    start = time.perf_counter()
    v = check_answer(item.answer, item.problem, item.reference, seconds=SECONDS)
    return graded(item, v, None, time.perf_counter() - start)


def grade_chunk(items: list[Item]) -> list[dict]:
    """Rows of one problem: error rows as they are, the others graded in one child under a shared limit."""
    out = [failed(it) for it in items if it.error]
    live = [it for it in items if not it.error]
    if live:
        try:
            out += run_with_time_limit(_grade_chunk_in_child, live, seconds=SECONDS + 2 * len(live))
        except Exception:  # noqa: BLE001 - past the limit or a child that died: each row alone
            out += [_grade_alone(it) for it in live]
    return out


def chunks(items: list[Item]) -> list[list[Item]]:
    """Rows grouped by problem (in file order of first appearance), CHUNK rows at most per group."""
    by_problem: dict = {}
    for it in items:
        by_problem.setdefault(it.problem, []).append(it)
    return [rows[i:i + CHUNK] for rows in by_problem.values() for i in range(0, len(rows), CHUNK)]


def run_grading(items: list[Item], jobs: int, on_record: Callable[[dict], None]) -> None:
    def each(records: list[dict]) -> None:
        for rec in records:
            on_record(rec)
    in_processes(chunks(items), grade_chunk, jobs, lambda rows, why: [failed(it, why) for it in rows], each)


def summarize(records: list[dict]) -> dict:
    """Two separate counts: what SymPy's check said, and the grade against the answer key where rows have one."""
    ok = [r for r in records if not r.get("error")]
    keyed = [r for r in ok if r.get("reference") is not None]
    out = {"rows": len(records), "graded": len(ok), "errors": len(records) - len(ok),
           "checked": {s: sum(1 for r in ok if r["verdict"] == s) for s in ("verified", "wrong", "unverifiable")},
           "answer_key": {"correct": sum(1 for r in keyed if r["correct"] is True),
                          "incorrect": sum(1 for r in keyed if r["correct"] is False),
                          "not graded": sum(1 for r in keyed if r["correct"] is None)} if keyed else None,
           "diagnosed": sum(1 for r in ok if r.get("diagnosis"))}
    return out | record.by_column(records, ("student", "subject", "level"), _group)


def _group(records) -> dict:
    rs = list(records)
    ok = [r for r in rs if not r.get("error")]
    right = sum(1 for r in ok if r["verdict"] == "verified")
    return {"rows": len(rs), "graded": len(ok), "verified": right,
            "wrong": sum(1 for r in ok if r["verdict"] == "wrong"),
            "unverifiable": sum(1 for r in ok if r["verdict"] == "unverifiable"),
            "share_verified": right / len(ok) if ok else None}   # None: nothing graded (shown as —)
