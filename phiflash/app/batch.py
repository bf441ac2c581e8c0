"""Batch solving: read problems (.txt, .jsonl, .csv), solve them, and append one JSON line per problem to a
results file, flushed and synced as each finishes. Rerunning resumes: finished ids are skipped, none is written
twice, and a line cut short by a crash is dropped before appending.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from ..errors import PhiflashError, one_line
from ..symbolic.verify import VERIFIED, WRONG, check_answer
from . import record
from .engines import Refused, SymbolicEngine, refused_record


@dataclass
class Item:
    id: str
    problem: str | None
    reference: str | None = None
    error: str | None = None   # a bad input line: recorded as an error result
    subject: str | None = None
    level: str | None = None
    line: int = 0              # where it is in the file (1-based)
    auto_id: bool = False      # the file gave no id: it is named line-N
    answer: str | None = None  # grade: the answer to judge (the `answer` column; `reference` is `expected`)
    student: str | None = None


# The columns of each kind of file: batch reads problems (`answer` is the reference), grade reads answers.
SOLVE_COLUMNS = {"answer": "reference"}
GRADE_COLUMNS = {"answer": "answer", "expected": "reference"}


def read_problems(path: str | Path, columns: dict = SOLVE_COLUMNS) -> tuple[list[Item], list[str]]:
    """The problems in a file, and warnings about it (duplicate ids). A line that can't be read (bad JSON, bytes
    that are not UTF-8, no problem, a ragged CSV row) becomes an item with an error naming its line, so the rest
    still runs. `columns` maps the file's answer columns to Item fields (GRADE_COLUMNS for `grade`)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PhiflashError(f"no such file: {path}") from None
    except OSError as e:
        raise PhiflashError(f"cannot read {path}: {e}") from None
    # Undecodable bytes become lone surrogates, found again per line below (a byte offset names no line).
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        items = [Item("", line.strip(), line=n, auto_id=True) for n, line in enumerate(text.splitlines(), 1)
                 if line.strip() and not line.lstrip().startswith("#")]
    elif suffix == ".jsonl":
        items = list(_jsonl(text, columns))
    elif suffix == ".csv":
        items = list(_csv(text, path, columns))
    else:
        raise PhiflashError(f"{path}: unknown format {suffix or '(none)'}; use .txt, .jsonl or .csv")
    for it in items:
        bad = _undecodable(it.problem, it.reference, it.id, it.answer, it.student)
        if bad:
            it.problem, it.error = None, f"line {it.line}: {bad}"
    return items, _name(items)


_SURROGATE = re.compile("[\udc80-\udcff]")


def _undecodable(*fields: str | None) -> str | None:
    for f in fields:
        m = _SURROGATE.search(f or "")
        if m:
            byte = ord(m.group()) - 0xDC00
            return f"not valid UTF-8 (byte 0x{byte:02x} at character {m.start() + 1})"
    return None


def _name(items: list[Item]) -> list[str]:
    """Give rows without an id the name line-N (never one an explicit id uses) and make duplicate explicit ids
    error records that say where the first one is."""
    warnings, first = [], {}
    for it in items:
        if it.auto_id:
            continue
        if it.id in first:
            dup = it.id
            it.id = f"{dup}@line-{it.line}"
            it.error = f"line {it.line}: duplicate id {dup!r} (first on line {first[dup]})"
            warnings.append(it.error)
        else:
            first[it.id] = it.line
    for it in items:
        if it.auto_id:
            it.id = f"line-{it.line}"
            while it.id in first:
                it.id += "'"
            first[it.id] = it.line
    return warnings


def _jsonl(text: str, columns: dict) -> Iterator[Item]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        bad = _undecodable(line)
        if bad:
            yield Item("", None, error=f"line {n}: {bad}", line=n, auto_id=True)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield Item("", None, error=f"line {n}: not valid JSON ({e.msg})", line=n, auto_id=True)
            continue
        if not isinstance(obj, dict):
            yield Item("", None, error=f"line {n}: needs a JSON object with a 'problem'", line=n, auto_id=True)
            continue
        rid = _opt(obj.get("id"))
        item = Item(rid or "", None, line=n, auto_id=rid is None)
        if not isinstance(obj.get("problem"), str) or not obj["problem"].strip():
            item.error = f"line {n}: needs a non-empty string 'problem'"
        else:
            item.problem = obj["problem"]
        _columns(item, obj, columns)
        yield item


def _columns(item: Item, row: dict, columns: dict) -> None:
    for column, attr in columns.items():
        v = row.get(column)
        setattr(item, attr, None if v is None or str(v).strip() == "" else str(v))
    item.subject, item.level, item.student = (_opt(row.get(k)) for k in ("subject", "level", "student"))
    if columns is GRADE_COLUMNS and item.answer is None and not item.error:  # grade: the answer is the point
        item.error = f"line {item.line}: needs an 'answer' to grade"


def _opt(v) -> str | None:
    return None if v is None or str(v).strip() == "" else str(v).strip()


def _csv(text: str, path: Path, columns: dict) -> Iterator[Item]:
    """Strict CSV, one row a line: a ragged row or an unterminated quote is an error record naming its line and
    the rows after it are still read (a lenient reader would merge them into the open quote)."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    header = _csv_line(lines[start]) if start is not None else None
    if not isinstance(header, list) or "problem" not in [h.strip() for h in header]:
        need = "'problem' and 'answer' (and optionally 'id', 'student', 'expected')" if columns is GRADE_COLUMNS \
            else "'problem' (and optionally 'id', 'answer')"
        raise PhiflashError(f"{path}: the CSV needs a header line with the columns {need}")
    header = [h.strip() for h in header]
    for n, line in enumerate(lines[start + 1:], start + 2):
        if not line.strip():
            continue
        fields = _csv_line(line)
        if isinstance(fields, str) or len(fields) != len(header):
            why = fields if isinstance(fields, str) else f"{len(fields)} fields where the header has {len(header)}"
            yield Item("", None, error=f"line {n}: {why}", line=n, auto_id=True)
            continue
        row = dict(zip(header, fields))
        problem = (row.get("problem") or "").strip()
        rid = _opt(row.get("id"))
        item = Item(rid or "", problem or None, error=None if problem else f"line {n}: empty problem", line=n,
                    auto_id=rid is None)
        _columns(item, row, columns)
        yield item


def _csv_line(line: str) -> list[str] | str:
    """The fields of one CSV line, or what is wrong with it."""
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error as e:
        return f"not a CSV row ({e}: an unterminated or misplaced quote?)"


def default_out(path: str | Path) -> Path:
    return Path(str(path) + ".results.jsonl")


def check_out_path(out: Path, source: Path) -> None:
    """Refuse a results path that would overwrite the input, or append to a file that is not a results file."""
    same = out.resolve() == source.resolve() or (out.exists() and source.exists() and out.samefile(source))
    if same:
        raise PhiflashError(f"--out {out} is the input file: choose another results file")
    if out.exists() and out.stat().st_size and not _is_results(out):
        raise PhiflashError(f"{out} exists and is not a phiflash results file: choose another --out, or remove it")


def _is_results(path: Path) -> bool:
    """The first line is a result record (results files start with one; a torn line can only be the last)."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
        rec = json.loads(first)
    except (OSError, ValueError):
        return False
    return isinstance(rec, dict) and "id" in rec and ("verdict" in rec or "error" in rec)


def load_done(out: Path, drop_errors: bool = False) -> dict[str, dict]:
    """Finished results by id. A torn last line (killed mid-write) is removed from the file, and with
    drop_errors so are error records, so that those problems run again and each id stays on one line."""
    if not out.exists():
        return {}
    done, good, changed = {}, [], False
    for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
            rid = str(rec["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            changed = True
            continue
        if drop_errors and rec.get("error"):
            changed = True
            continue
        done[rid] = rec
        good.append(line)
    if changed:
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


def correct(status: str) -> bool | None:
    """A verdict against a reference as a grade: verified → True, wrong → False, unverifiable → None."""
    return True if status == VERIFIED else False if status == WRONG else None


def grade_reference(answer: str | None, reference: str | None, problem: str | None = None) -> bool | None:
    """The same verdict code as `check PROBLEM ANSWER --expected REFERENCE`."""
    if reference is None:
        return None
    if answer is None:
        return False
    return correct(check_answer(answer, problem, expected=reference).status)


def record_for(item: Item, result=None, error: str | None = None, seconds: float = 0.0) -> dict:
    """The batch line for an item: its result in the one record schema, or an error record."""
    common = {"id": item.id, "problem": item.problem, "reference": item.reference, "subject": item.subject,
              "level": item.level, "seconds": round(seconds, 3)}
    if error or item.error or result is None:
        return record.error("batch", error or item.error or "no result", **common)
    return result.to_record("batch", **common, correct=grade_reference(result.answer, item.reference,
                                                                         item.problem))


def solve_symbolic(item: Item) -> dict:
    """One item with the symbolic engine; every failure becomes the record's error (runs in worker processes)."""

    if item.error:
        return record_for(item)
    start = time.perf_counter()
    try:
        result = SymbolicEngine().solve(item.problem)
        return record_for(item, result, seconds=time.perf_counter() - start)
    except Refused as e:  # declined: a result, not an error (--retry-errors would only get the same refusal)
        return refused_record("batch", item.problem, str(e), id=item.id, reference=item.reference,
                              subject=item.subject, level=item.level, seconds=round(time.perf_counter() - start, 3))
    except Exception as e:  # noqa: BLE001 - one problem's failure is that problem's result, the run goes on
        message = one_line(e)
        return record_for(item, error=message, seconds=time.perf_counter() - start)


def _die_with_parent(parent: int) -> None:
    """Worker initializer: exit when the batch process is gone, even after SIGKILL (which runs no cleanup and
    would leave workers blocked on the task pipe forever). Linux gets the kernel's parent-death signal; every
    platform gets a thread that watches the parent id."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the pool
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def in_processes(tasks: list, fn: Callable, jobs: int, died: Callable, on_result: Callable) -> None:
    """on_result(fn(task)) for every task, in `jobs` forked workers that exit with this process (one: here, in
    order). A task whose worker was killed (out of memory…) gets died(task, why) instead; the others go on."""
    if jobs <= 1:
        for task in tasks:
            on_result(fn(task))
        return
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork"), initializer=_die_with_parent,
                               initargs=(os.getpid(),))
    futures = {pool.submit(fn, task): task for task in tasks}
    try:
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except BrokenProcessPool as e:
                result = died(futures[fut], f"the worker process died ({e})")
            on_result(result)
    finally:
        for f in futures:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def run_symbolic(items: list[Item], jobs: int, on_record: Callable[[dict], None]) -> None:
    in_processes(items, solve_symbolic, jobs, lambda it, why: record_for(it, error=why), on_record)


def run_phi(engine, items: list[Item], batch_size: int, params, max_tokens: int,
            on_record: Callable[[dict], None], samples: int = 1) -> None:
    """Model engine: up to batch_size problems decode together, a new one joining as soon as one finishes (a
    problem alone speculates); each is graded as it finishes. With samples > 1, one problem at a time as that
    many rows (consensus.py). A problem that cannot start (a prompt past the context length…) becomes an error
    record; a failure while decoding makes error records of the problems in flight, and the run goes on."""
    from ..lm.generate import Generation

    if samples > 1:
        for it in items:
            if it.error:
                on_record(record_for(it))
                continue
            start = time.perf_counter()
            try:
                result = engine.solve_samples(it.problem, samples, params, max_tokens)
            except Exception as e:  # noqa: BLE001 - this problem's result; the others still run
                on_record(record_for(it, error=one_line(e), seconds=time.perf_counter() - start))
                continue
            on_record(record_for(it, result, seconds=time.perf_counter() - start))
        return
    todo = [it for it in reversed(items)]
    flying: dict[int, tuple[Item, float]] = {}
    g = Generation(engine.model, engine.tokenizer)
    while todo or g.busy:
        while todo and len(g) < max(1, batch_size):
            it = todo.pop()
            if it.error:
                on_record(record_for(it))
                continue
            try:
                flying[g.add(engine.messages(it.problem), params, max_new_tokens=max_tokens, speculate=True)] = \
                    (it, time.perf_counter())
            except Exception as e:  # noqa: BLE001 - this problem's result; the others still run
                on_record(record_for(it, error=one_line(e)))
        if not g.busy:
            continue
        try:
            events = g.step()
        except Exception as e:  # noqa: BLE001 - the problems in flight get the error; the run goes on
            for it, t0 in flying.values():
                on_record(record_for(it, error=one_line(e), seconds=time.perf_counter() - t0))
            flying.clear()
            g = Generation(engine.model, engine.tokenizer)
            continue
        for e in events:
            if e.kind != "finish":
                continue
            it, t0 = flying.pop(e.request)
            try:
                result = engine.result(it.problem, e.completion)
            except Exception as err:  # noqa: BLE001 - grading one answer never stops the batch
                on_record(record_for(it, error=f"grading failed ({type(err).__name__}: {err})",
                                     seconds=time.perf_counter() - t0))
                continue
            on_record(record_for(it, result, seconds=time.perf_counter() - t0))


def summarize(records: list[dict]) -> dict:
    """Totals, and when the input has subject/level columns, the same scores broken down by each."""
    return _totals(records) | record.by_column(records, ("subject", "level"), _scores)


def _scores(records) -> dict:
    """Against references: correct, wrong (a confident 'differs'), unverifiable, not attempted (refused)."""
    rs = list(records)
    attempted = [r for r in rs if r.get("answer") and not r.get("error")]
    correct = sum(1 for r in attempted if r.get("correct") is True)
    graded = [r for r in attempted if r.get("correct") is not None]
    return {"problems": len(rs), "attempted": len(attempted), "correct": correct,
            "incorrect": sum(1 for r in attempted if r.get("correct") is False),
            "not graded": sum(1 for r in attempted if r.get("correct") is None),
            # as the overall accuracy: of the answers graded against the key; None (shown —) when none were
            "accuracy": correct / len(graded) if graded else None}


def _totals(records: list[dict]) -> dict:
    n = len(records)
    graded = [r for r in records if r.get("correct") is not None]
    return {
        "problems": n,
        "solved": sum(1 for r in records if r.get("answer") and not r.get("error")),
        "verified": sum(1 for r in records if r.get("verdict") == "verified"),
        "wrong": sum(1 for r in records if r.get("verdict") == "wrong"),
        "unverifiable": sum(1 for r in records if r.get("verdict") == "unverifiable" and not r.get("refused")),
        "refused": sum(1 for r in records if r.get("refused")),
        "consensus": sum(1 for r in records if r.get("verdict") == "consensus"),   # model samples agreeing
        "split": sum(1 for r in records if r.get("verdict") == "split"),
        "errors": sum(1 for r in records if r.get("error")),
        "graded": len(graded),
        "correct": sum(1 for r in graded if r["correct"]),
        "incorrect": sum(1 for r in graded if r["correct"] is False),
        "not graded": sum(1 for r in records if r.get("reference") is not None and not r.get("error")
                          and r.get("correct") is None),
        "accuracy": (sum(1 for r in graded if r["correct"]) / len(graded)) if graded else None,
        "mean_seconds": (sum(r.get("seconds") or 0 for r in records) / n) if n else None,
    }
