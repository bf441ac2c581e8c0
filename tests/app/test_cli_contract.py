"""What scripts and users rely on (issue 11): arguments, exit codes, one JSON schema, batches that never lose work,
tutor files that are checked. Run through the console script's entry point, main(argv), in-process (clirun), with
a real process where only a process shows it (the program name, SIGKILL); CliRunner on the app where a fault has to
be injected."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirun import console_script, phiflash
from typer.testing import CliRunner

from phiflash.app import record
from phiflash.app.cli import EXIT_ROW_ERRORS, EXIT_USAGE, app
from phiflash.app.engines import TIMING_KEYS

runner = CliRunner()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def results(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def assert_record(rec, command):
    assert record.problems(rec) == [], rec
    assert list(rec) == list(record.FIELDS) and rec["command"] == command


# ---- arguments and exit codes ------------------------------------------------------------------------------------


def test_negative_numbers_are_arguments_not_options():
    assert phiflash("check", "x+5=0", "-5").returncode == 0
    assert phiflash("check", "x+5=0", "-1.25").returncode == 1
    p = phiflash("solve", "-x+3=0", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["answer"] == "x = 3"


def test_usage_errors_have_their_own_exit_code_and_say_what_to_type():
    p = phiflash("check", "x^2=4")
    assert p.returncode == EXIT_USAGE  # not 2, which check uses for "unverifiable"
    assert "check [OPTIONS] PROBLEM ANSWER" in p.stderr
    assert "Missing argument" in p.stderr and "--help" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow
def test_the_console_script_names_itself_in_usage_lines():
    p = console_script("check", "x^2=4")
    assert p.returncode == EXIT_USAGE
    assert "Usage: python -m phiflash check [OPTIONS] PROBLEM ANSWER" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("cmd", [[], ["solve"], ["check"], ["batch"], ["tutor"], ["log"]])
def test_help_shows_flags_as_flags_and_arguments_by_name(cmd):
    p = phiflash(*cmd, "--help")
    assert p.returncode == 0
    assert "<bool>" not in p.stdout and "{" not in p.stdout.splitlines()[1]
    if cmd == ["check"]:
        assert "check [OPTIONS] PROBLEM ANSWER" in p.stdout


@pytest.mark.parametrize("args,needle", [
    (("--temperature", "-1"), "Invalid value for '--temperature': Input should be greater than or equal to 0"),
    (("--top-p", "0"), "0.0 is not in 0 < top-p ≤ 1"),
    (("--quantize", "int3"), "'int3' is not one of none, int8"),
    (("--max-tokens", "0"), "Invalid value for '--max-tokens': Input should be greater than or equal to 1"),
])
def test_invalid_values_are_refused_for_every_engine(args, needle, chat_checkpoint):
    for engine in (["--engine", "symbolic"], ["--model", chat_checkpoint]):
        p = phiflash("solve", "x+1=2", *engine, *args)
        assert p.returncode == EXIT_USAGE and needle in p.stderr, (engine, p.stderr)


def test_model_options_are_refused_by_the_symbolic_engine():
    p = phiflash("solve", "x+1=2", "--engine", "symbolic", "--quantize", "int8")
    assert p.returncode == 1 and "--quantize only applies to the model" in p.stderr
    p = phiflash("solve", "x+1=2", "--temperature", "0", "--seed", "3")  # no weights: symbolic by default
    assert p.returncode == 1 and "--temperature, --seed only apply to the model" in p.stderr
    assert "no model weights were found" in p.stderr
    p = phiflash("batch", "nothing.txt", "--engine", "symbolic", "--batch-size", "4")
    assert p.returncode == 1 and "no such file" in p.stderr  # the file is read first, then the options
    Path("p.txt").write_text("x+1=2\n")
    p = phiflash("batch", "p.txt", "--engine", "symbolic", "--batch-size", "4")
    assert p.returncode == 1 and "--batch-size only applies to the model" in p.stderr
    assert not Path("p.txt.results.jsonl").exists()


def test_the_no_weights_notice_is_said_once_per_machine():
    first, second = phiflash("solve", "x+1=2"), phiflash("solve", "x+2=3")
    assert "No model weights found" in first.stderr
    assert "No model weights found" not in second.stderr and second.returncode == 0


def test_log_n_0_lists_everything():
    for k in range(23):
        run("check", f"x+{k}=0", str(-k))
    assert len(phiflash("log", "--json").stdout.splitlines()) == 20
    p = phiflash("log", "-n", "0", "--json")
    assert len(p.stdout.splitlines()) == 23
    assert "no entries" not in phiflash("log", "-n", "0").stdout


def test_log_fits_80_columns_and_keeps_the_tutors_verdicts(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    run("check", "What is the remainder when 100 is divided by 7? Give the remainder only.", "2")
    phiflash("tutor", "--engine", "symbolic", input="x^2=9\nx=3\n")
    shown = phiflash("log", "-n", "5").stdout
    assert all(len(line) <= 80 for line in shown.splitlines()) and "verdict" in shown
    rows = [line for line in shown.splitlines() if line.startswith("│")]
    assert len(rows) == 3 and "…" in rows[-1]                     # one line per entry: cut with …, never wrapped
    tutor = [json.loads(x) for x in phiflash("log", "--json", "-n", "2").stdout.splitlines()]
    assert [(t["command"], t["answer"], t["verdict"]) for t in tutor][0] == ("tutor", "x=3", "wrong")
    assert "checks" in phiflash("log", "--help").stdout


# ---- one JSON schema ---------------------------------------------------------------------------------------------


def test_every_command_speaks_one_schema(tmp_path):
    s = phiflash("solve", "x^2 = 4", "--json")
    solve = json.loads(s.stdout)
    assert_record(solve, "solve")
    assert solve["verdict"] == "verified" and solve["steps"] and solve["seconds"] is not None
    c = phiflash("check", "x^2 = 4", "it is big", "--json")
    check = json.loads(c.stdout)
    assert_record(check, "check")
    assert c.returncode == 2 and check["answer"] == "it is big"  # the user's answer, as given, even unreadable
    c = phiflash("check", "anything", "0.5", "--expected", r"\frac{1}{2}", "--json")
    check = json.loads(c.stdout)
    assert check["reference"] == r"\frac{1}{2}" and check["correct"] is True and check["answer_latex"] == "0.5"
    Path("p.jsonl").write_text('{"problem": "2x = 6", "answer": "3"}\nnot json\n')
    assert phiflash("batch", "p.jsonl", "--engine", "symbolic").returncode == EXIT_ROW_ERRORS
    lines = results("p.jsonl.results.jsonl")
    for rec in lines:
        assert_record(rec, "batch")
    assert lines[0]["correct"] is True and lines[1]["error"] and lines[1]["verdict"] is None
    logged = [json.loads(x) for x in phiflash("log", "-n", "0", "--json").stdout.splitlines()]
    assert [e["command"] for e in logged] == ["batch", "batch", "check", "check", "solve"]
    for e in logged:
        assert_record(e, e["command"])


def test_a_refused_solve_under_json_prints_a_record_with_the_reason():
    """A refusal is a result record (verdict unverifiable, refused), no longer an error record."""
    p = phiflash("solve", "sin(x) = x", "--json")
    assert p.returncode == 1 and "error: " not in p.stderr
    rec = json.loads(p.stdout)
    assert_record(rec, "solve")
    assert "needs a domain" in rec["reason"] and rec["problem"] == "sin(x) = x" and rec["verdict"] == "unverifiable"
    assert rec["refused"] is True and rec["error"] is None and rec["answer"] is None
    p = phiflash("solve", "sin(x) = x")                                  # in the terminal: one line, as before
    assert p.returncode == 1 and "needs a domain" in p.stderr


def test_the_model_record_carries_its_whole_output(chat_checkpoint, tmp_path):
    r = run("solve", "2x = 6", "--model", chat_checkpoint, "--json", "--temperature", "0", "--max-tokens", "6")
    rec = json.loads(r.stdout)
    assert_record(rec, "solve")
    assert rec["text"] and rec["engine"] == "phi" and rec["finish_reason"] == "length"
    f = tmp_path / "p.txt"
    f.write_text("2x = 6\n")
    run("batch", f, "--model", chat_checkpoint, "--temperature", "0", "--max-tokens", "6")
    (line,) = results(tmp_path / "p.txt.results.jsonl")
    assert_record(line, "batch")
    assert line["text"] == rec["text"] and line["finish_reason"] == "length"
    assert line["timings"]["generated_tokens"] == 6
    # the same timing keys on every model path: solve (speculating), batch, samples
    r = run("solve", "2x = 6", "--model", chat_checkpoint, "--json", "--samples", "2", "--max-tokens", "6")
    samples = json.loads(r.stdout)
    assert set(rec["timings"]) == set(line["timings"]) == set(samples["timings"]) == set(TIMING_KEYS)
    assert samples["timings"]["samples"] == 2 and line["timings"]["samples"] == rec["timings"]["samples"] == 1
    # cut at --max-tokens: no answer (the unfinished text was the answer, LaTeX and all, and 4 split samples were
    # four whole texts shown as "candidates")
    for cut in (rec, line):
        assert cut["answer"] is None and cut["answer_latex"] is None and cut["verdict"] == "unverifiable"
        assert "cut at 6 tokens (--max-tokens) before a final answer" in cut["reason"]
    assert samples["answer"] is None and all(s["answer"] is None for s in samples["samples"])


# ---- no exception escapes a problem ------------------------------------------------------------------------------


@pytest.fixture
def broken_solver(monkeypatch):
    """Every solve raises what a SymPy gap raises (the bug class seen with |2x+1| < 7 and sin(x) = x)."""
    import phiflash.symbolic.solver as solver
    import phiflash.symbolic.verify as verify

    def boom(*args, **kwargs):
        raise NotImplementedError("inequality not supported")
    monkeypatch.setattr(solver, "solve_problem", boom)
    monkeypatch.setattr(verify, "solve_problem", boom)


def test_check_with_a_failing_solver_is_unverifiable_with_json(broken_solver):
    r = run("check", "x+1=2", "x=1", "--json")
    rec = json.loads(r.stdout)
    assert r.exit_code == 2 and rec["verdict"] == "unverifiable" and "NotImplementedError" in rec["reason"]


def test_solve_with_a_failing_solver_is_one_line_and_one_record(broken_solver):
    r = run("solve", "x+1=2", "--json")
    assert r.exit_code == 1 and "the solver failed (NotImplementedError" in json.loads(r.stdout)["error"]
    assert "Traceback" not in r.output


def test_tutor_with_a_failing_solver_keeps_the_session(broken_solver):
    r = run("tutor", "--engine", "symbolic", input="x+1=2\n/help\n/quit\n")
    assert r.exit_code == 0
    assert "NotImplementedError" in r.stdout and "/hint" in r.stdout  # said, then the session went on


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_batch_with_a_failing_solver_goes_on_and_retries_errors_when_asked(tmp_path, monkeypatch, jobs):
    import phiflash.symbolic.solver as solver
    import phiflash.symbolic.verify as verify
    real = solver.solve_problem

    def fails_on_4(problem, *args, **kwargs):
        if "4" in str(problem.items):
            raise NotImplementedError("not today")
        return real(problem, *args, **kwargs)
    monkeypatch.setattr(solver, "solve_problem", fails_on_4)
    monkeypatch.setattr(verify, "solve_problem", fails_on_4)
    f = tmp_path / "p.txt"
    f.write_text("x + 1 = 2\nx + 4 = 5\nx + 2 = 5\n")
    r = run("batch", f, "--engine", "symbolic", "--jobs", jobs)
    assert r.exit_code == EXIT_ROW_ERRORS and "--retry-errors" in r.stderr
    recs = {x["id"]: x for x in results(tmp_path / "p.txt.results.jsonl")}
    assert "(NotImplementedError: not today)" in recs["line-2"]["error"] and recs["line-3"]["answer"] == "x = 3"
    monkeypatch.setattr(solver, "solve_problem", real)
    monkeypatch.setattr(verify, "solve_problem", real)
    run("batch", f, "--engine", "symbolic")                       # a plain rerun keeps the error
    assert len(results(tmp_path / "p.txt.results.jsonl")) == 3
    r = run("batch", f, "--engine", "symbolic", "--retry-errors")
    assert "resuming: 2 of 3" in r.stderr and r.exit_code == 0              # every row has its result now
    lines = results(tmp_path / "p.txt.results.jsonl")
    assert len(lines) == 3 and {x["id"]: x["answer"] for x in lines}["line-2"] == "x = 1"


# ---- batch input and output --------------------------------------------------------------------------------------


def test_batch_refuses_to_write_over_its_input(tmp_path):
    original = "id,problem\na,x+1=2\n"
    Path("p.csv").write_text(original)
    for target in ("p.csv", "./p.csv", str(tmp_path / "p.csv")):
        p = phiflash("batch", "p.csv", "--out", target, "--engine", "symbolic")
        assert p.returncode == 1 and "is the input file" in p.stderr
    Path("notes.txt").write_text("my notes\n")
    p = phiflash("batch", "p.csv", "--out", "notes.txt", "--engine", "symbolic")
    assert p.returncode == 1 and "not a phiflash results file" in p.stderr
    assert Path("p.csv").read_text() == original and Path("notes.txt").read_text() == "my notes\n"


def test_a_bad_byte_spoils_only_its_line():
    Path("p.jsonl").write_bytes(b'{"problem": "x+1=2"}\n{"problem": "caf\xe9 x=1"}\n{"problem": "2x=8"}\n')
    Path("p.txt").write_bytes(b"x+1=2\n\xff\xfe\n2x=8\n")
    for name in ("p.jsonl", "p.txt"):
        p = phiflash("batch", name, "--engine", "symbolic")
        assert p.returncode == EXIT_ROW_ERRORS, p.stderr
        recs = {x["id"]: x for x in results(name + ".results.jsonl")}
        assert recs["line-2"]["error"].startswith("line 2: not valid UTF-8 (byte 0x")
        assert recs["line-1"]["answer"] == "x = 1" and recs["line-3"]["answer"] == "x = 4"


def test_automatic_ids_never_collide_with_explicit_ones_and_duplicates_are_reported():
    rows = ['{"id": 1, "problem": "x=1"}', '{"id": 2, "problem": "x=2"}', '{"id": 3, "problem": "x=3"}',
            '{"id": 4, "problem": "x=4"}', "{broken", '{"id": 5, "problem": "x+5=10"}',
            '{"id": "line-5", "problem": "x=7"}', '{"id": 2, "problem": "x=8"}']
    Path("p.jsonl").write_text("\n".join(rows) + "\n")
    p = phiflash("batch", "p.jsonl", "--engine", "symbolic")
    assert "duplicate id '2' (first on line 2)" in p.stderr
    recs = {x["id"]: x for x in results("p.jsonl.results.jsonl")}
    assert len(recs) == 8
    assert recs["5"]["answer"] == "x = 5" and recs["line-5"]["answer"] == "x = 7"
    assert "not valid JSON" in recs["line-5'"]["error"]
    assert "duplicate id '2'" in recs["2@line-8"]["error"] and recs["2"]["answer"] == "x = 2"


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process tables from /proc (Linux)")
def test_workers_die_with_a_sigkilled_batch(tmp_path):
    Path("many.txt").write_text("".join(f"integrate x^{k % 9 + 1} sin({k % 5 + 1}x) cos(x)\n" for k in range(400)))
    proc = subprocess.Popen([sys.executable, "-m", "phiflash", "batch", "many.txt", "--engine", "symbolic",
                             "--jobs", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, PHIFLASH_NO_LOG="1"))
    deadline = time.time() + 60
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.1)
        workers = _children(proc.pid)
    assert len(workers) >= 2, "the batch should have started its workers"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 5
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    alive = [w for w in workers if _alive(w)]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive, "workers outlived their batch"


# ---- tutor files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content,needle", [
    ('{"problem": 5}', "'problem' must be text"),
    ('{"problem": "x^2-5x+6=0", "hint_level": -3}', "'hint_level' must be a whole number"),
    ('{"problem": "x+1=2", "messages": "hi"}', "'messages' must be a list"),
    ("[1, 2]", "not a saved session"),
    ("{", "cannot load"),
])
def test_tutor_refuses_a_bad_session_file_and_keeps_the_session(content, needle):
    Path("s.json").write_text(content)
    p = phiflash("tutor", "--engine", "symbolic", input="2x = 8\n/load s.json\n/check x = 4\n/quit\n")
    assert p.returncode == 0 and "Traceback" not in p.stdout + p.stderr
    assert needle in p.stdout
    assert "✓ verified" in p.stdout  # the problem from before the bad /load is still there
    assert "x = 3" not in p.stdout  # no hint from a negative hint level


# ---- quantized weights (issue 13) ---------------------------------------------------------------------------------


def test_quantize_command_writes_a_checkpoint_that_solve_and_info_use(chat_checkpoint, tmp_path):
    p = phiflash("quantize", chat_checkpoint, tmp_path / "q4", "--to", "int4")
    assert p.returncode == 0, p.stderr
    assert "int4 checkpoint in" in p.stdout and (tmp_path / "q4" / "tokenizer.json").exists()
    p = phiflash("solve", "2x = 6", "--model", tmp_path / "q4", "--json", "--temperature", "0", "--max-tokens", "4")
    assert p.returncode == 0 and json.loads(p.stdout)["engine"] == "phi"
    assert "Quantizing" not in p.stderr                  # already quantized: loaded as stored
    info = phiflash("info", "--model", tmp_path / "q4").stdout
    assert "int4 (this checkpoint)" in info and "in int4 (quantized;" in info    # was "… GB in float32"
    p = phiflash("quantize", chat_checkpoint, tmp_path / "q4", "--to", "int4")
    assert p.returncode == 1 and "not empty" in p.stderr
    p = phiflash("quantize", chat_checkpoint, tmp_path / "q3", "--to", "int3")
    assert p.returncode == 1 and "--to must be int8 or int4" in p.stderr


def test_the_model_engine_quantizes_once_and_caches_the_copy(chat_checkpoint, isolated_home):
    args = ("solve", "2x = 6", "--model", chat_checkpoint, "--json", "--temperature", "0", "--max-tokens", "4")
    first = phiflash(*args)
    assert first.returncode == 0 and "Quantizing" in first.stderr and "to int8 once" in first.stderr
    cached = list((isolated_home / "phiflash_home" / "models").iterdir())
    assert len(cached) == 1 and "int8" in cached[0].name
    second = phiflash(*args)
    assert second.returncode == 0 and "Quantizing" not in second.stderr
    assert json.loads(second.stdout)["text"] == json.loads(first.stdout)["text"]
    p = phiflash(*args, "--quantize", "none", "--threads", "1")
    assert p.returncode == 0 and "Quantizing" not in p.stderr
    assert len(list((isolated_home / "phiflash_home" / "models").iterdir())) == 1


def test_think_budget_on_the_command_line(chat_checkpoint):
    r = run("solve", "2x = 6", "--model", chat_checkpoint, "--think-budget", "0", "--json", "--max-tokens", "4",
            "--temperature", "0")
    rec = json.loads(r.stdout)
    assert r.exit_code == 0 and rec["timings"]["think_budget_hit"] is True
    assert "no reasoning (--think-budget 0)" in rec["notes"]
    # every combination runs (they were refused before issue 25): the record says how it went
    r = run("solve", "2x = 6", "--model", chat_checkpoint, "--think-budget", "5", "--samples", "3", "--json",
            "--max-tokens", "6", "--temperature", "0")
    rec = json.loads(r.stdout)
    assert rec["timings"]["samples"] == 3 and len(rec["samples"]) == 3 and rec["timings"]["speculation"] is None
    r = run("solve", "2x = 6", "--model", chat_checkpoint, "--speculate", "--samples", "2", "--json",
            "--max-tokens", "6", "--temperature", "0")
    rec = json.loads(r.stdout)
    assert len(rec["samples"]) == 2 and "2 samples decode together" in rec["timings"]["speculation"]
    p = phiflash("solve", "2x = 6", "--engine", "symbolic", "--think-budget", "5")
    assert p.returncode == 1 and "--think-budget only applies to the model" in p.stderr


def test_speculation_is_on_by_default_and_changes_nothing_but_speed(chat_checkpoint):
    args = ["solve", "2*2*2*2*2*2*2*2", "--model", chat_checkpoint, "--json", "--temperature", "0",
            "--max-tokens", "24", "--quantize", "none"]
    plain = json.loads(run(*args, "--no-speculate").stdout)
    for flag in ((), ("--speculate",)):
        fast = json.loads(run(*args, *flag).stdout)
        assert fast["text"] == plain["text"] and fast["timings"]["generated_tokens"] == \
            plain["timings"]["generated_tokens"]
        assert isinstance(fast["timings"]["draft_acceptance"], float)   # drafts were verified
    assert plain["timings"]["draft_acceptance"] is None


def test_speculation_with_a_thinking_budget(chat_checkpoint):
    args = ["solve", "2*2*2*2*2*2*2*2", "--model", chat_checkpoint, "--json", "--temperature", "0",
            "--max-tokens", "24", "--quantize", "none", "--think-budget", "6"]
    plain, fast = (json.loads(run(*args, flag).stdout) for flag in ("--no-speculate", "--speculate"))
    assert fast["text"] == plain["text"] and fast["timings"]["think_budget_hit"] == \
        plain["timings"]["think_budget_hit"]


def test_the_readme_documents_every_record_field():
    """The README's record table and record.FIELDS list the same keys (refused was added with #23's item 4)."""
    import re
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| key | meaning |"):]
    table = table[:table.index("\n\n")]
    documented = {k for row in table.splitlines()[2:] for k in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert documented == set(record.FIELDS)


@pytest.mark.slow
def test_a_reader_that_leaves_the_pipe_gets_no_error_line(tmp_path):
    """`phiflash solve … --json | head -c 50` printed "error: BrokenPipeError" when head closed the pipe."""
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-m", "phiflash", "solve", "x^2 = 4", "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=tmp_path)
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "BrokenPipe" not in err and "error:" not in err
