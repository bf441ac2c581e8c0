"""Batch solving: read problems (.txt, .jsonl, .csv), solve them, and append one JSON line per problem to a
results file, flushed and synced as each finishes. Rerunning resumes: finished ids are skipped, none is written
twice, and a line cut short by a crash is dropped before appending.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from ..errors import PhiflashError
from ..symbolic.verify import VERIFIED, WRONG, check_answer
from .engines import SymbolicEngine


@dataclass
class Item:
    id: str
    problem: str | None
    reference: str | None = None
    error: str | None = None   # a bad input line: recorded as an error result
    subject: str | None = None
    level: str | None = None


def read_problems(path: str | Path) -> list[Item]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PhiflashError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PhiflashError(f"cannot read {path}: {e}") from None
    suffix = path.suffix.lower()
    if suffix == ".txt":
        items = [Item(str(n), line.strip()) for n, line in enumerate(text.splitlines(), 1)
                 if line.strip() and not line.lstrip().startswith("#")]
    elif suffix == ".jsonl":
        items = list(_jsonl(text))
    elif suffix == ".csv":
        items = list(_csv(text, path))
    else:
        raise PhiflashError(f"{path}: unknown format {suffix or '(none)'}; use .txt, .jsonl or .csv")
    seen: set[str] = set()
    for n, it in enumerate(items, 1):
        if it.id in seen:
            it.id, it.error = f"{it.id}#{n}", f"duplicate id {it.id!r}"
        seen.add(it.id)
    return items


def _jsonl(text: str) -> Iterator[Item]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield Item(str(n), None, error=f"line {n}: not valid JSON ({e.msg})")
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("problem"), str) or not obj["problem"].strip():
            yield Item(str(obj.get("id", n)) if isinstance(obj, dict) else str(n), None,
                       error=f"line {n}: needs a non-empty string 'problem'")
            continue
        ref = obj.get("answer")
        yield Item(str(obj.get("id", n)), obj["problem"], None if ref is None else str(ref),
                   subject=_opt(obj.get("subject")), level=_opt(obj.get("level")))


def _opt(v) -> str | None:
    return None if v is None or str(v).strip() == "" else str(v)


def _csv(text: str, path: Path) -> Iterator[Item]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "problem" not in reader.fieldnames:
        raise PhiflashError(f"{path}: the CSV needs a 'problem' column (and optionally 'id', 'answer')")
    for n, row in enumerate(reader, 1):
        problem = (row.get("problem") or "").strip()
        rid = (row.get("id") or "").strip() or str(n)
        ref = row.get("answer")
        yield Item(rid, problem or None, ref if ref not in (None, "") else None,
                   None if problem else f"row {n}: empty problem", _opt(row.get("subject")), _opt(row.get("level")))


def default_out(path: str | Path) -> Path:
    return Path(str(path) + ".results.jsonl")


def load_done(out: Path) -> dict[str, dict]:
    """Finished results by id. A torn last line (killed mid-write) is removed from the file."""
    if not out.exists():
        return {}
    done, good, torn = {}, [], False
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
            done[str(rec["id"])] = rec
            good.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            torn = True
    if torn:
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text("".join(g + "\n" for g in good), encoding="utf-8")
        os.replace(tmp, out)
    return done


class ResultWriter:
    def __init__(self, out: Path):
        out.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(out, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def grade_reference(answer: str | None, reference: str | None, problem: str | None = None) -> bool | None:
    """The same verdict code as `check PROBLEM ANSWER --expected REFERENCE`."""
    if reference is None:
        return None
    if answer is None:
        return False
    status = check_answer(answer, problem, expected=reference).status
    return True if status == VERIFIED else False if status == WRONG else None


def record_for(item: Item, result=None, error: str | None = None, seconds: float = 0.0) -> dict:
    answer = result.answer if result is not None else None
    return {"id": item.id, "problem": item.problem, "answer": answer,
            "verdict": result.verdict if result is not None else None,
            "expected": result.expected if result is not None else None,
            "reference": item.reference,
            "correct": grade_reference(answer, item.reference, item.problem) if error is None and result is not None
            else None,
            "error": error or item.error, "seconds": round(seconds, 3),
            "engine": result.engine if result is not None else None, "subject": item.subject, "level": item.level}


def solve_symbolic(item: Item) -> dict:
    """One item with the symbolic engine; every failure becomes the record's error (runs in worker processes)."""

    if item.error:
        return record_for(item)
    start = time.perf_counter()
    try:
        result = SymbolicEngine().solve(item.problem)
    except PhiflashError as e:
        return record_for(item, error=str(e), seconds=time.perf_counter() - start)
    return record_for(item, result, seconds=time.perf_counter() - start)


def run_symbolic(items: list[Item], jobs: int, on_record: Callable[[dict], None]) -> None:
    if jobs <= 1:
        for it in items:
            on_record(solve_symbolic(it))
        return

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) as pool:
        futures = [pool.submit(solve_symbolic, it) for it in items]
        try:
            for fut in as_completed(futures):
                on_record(fut.result())
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            raise


def run_phi(engine, items: list[Item], batch_size: int, params, max_tokens: int,
            on_record: Callable[[dict], None]) -> None:
    """Model engine: batched generation of up to batch_size prompts at a time, then grading."""
    from ..lm.generate import generate_batch
    from ..lm.streaming import split_reasoning

    tok = engine.tokenizer
    for i in range(0, len(items), max(1, batch_size)):
        chunk = items[i: i + max(1, batch_size)]
        for it in chunk:
            if it.error:
                on_record(record_for(it))
        live = [it for it in chunk if not it.error]
        if not live:
            continue
        start = time.perf_counter()
        prompts = [tok.encode_chat(engine.messages(it.problem)) for it in live]
        rows: list[list[int]] = [[] for _ in live]
        for step in generate_batch(engine.model, prompts, max_tokens, params, tok.stop_ids):
            for r, t in enumerate(step):
                if t is not None and t not in tok.stop_ids:
                    rows[r].append(t)
        seconds = (time.perf_counter() - start) / len(live)
        for it, ids in zip(live, rows):
            _, answer_text = split_reasoning(tok.decode(ids))
            t0 = time.perf_counter()
            result = engine.grade(it.problem, answer_text or tok.decode(ids))
            on_record(record_for(it, result, seconds=seconds + time.perf_counter() - t0))


def summarize(records: list[dict]) -> dict:
    """Totals, and when the input has subject/level columns, the same scores broken down by each."""
    out = _totals(records)
    for key in ("subject", "level"):
        groups = sorted({str(r[key]) for r in records if r.get(key) is not None})
        if groups:
            out[f"by_{key}"] = {g: _scores(r for r in records if str(r.get(key)) == g) for g in groups}
    return out


def _scores(records) -> dict:
    """Against references: correct, wrong (a confident 'differs'), unverifiable, not attempted (refused)."""
    rs = list(records)
    attempted = [r for r in rs if r.get("answer") and not r.get("error")]
    correct = sum(1 for r in attempted if r.get("correct") is True)
    return {"problems": len(rs), "attempted": len(attempted), "correct": correct,
            "wrong": sum(1 for r in attempted if r.get("correct") is False),
            "unverifiable": sum(1 for r in attempted if r.get("correct") is None),
            "accuracy": correct / len(rs) if rs else None}


def _totals(records: list[dict]) -> dict:
    n = len(records)
    graded = [r for r in records if r.get("correct") is not None]
    return {
        "problems": n,
        "solved": sum(1 for r in records if r.get("answer") and not r.get("error")),
        "verified": sum(1 for r in records if r.get("verdict") == "verified"),
        "wrong": sum(1 for r in records if r.get("verdict") == "wrong"),
        "unverifiable": sum(1 for r in records if r.get("verdict") == "unverifiable"),
        "errors": sum(1 for r in records if r.get("error")),
        "graded": len(graded),
        "accuracy": (sum(1 for r in graded if r["correct"]) / len(graded)) if graded else None,
        "mean_seconds": (sum(r.get("seconds", 0) for r in records) / n) if n else None,
    }
