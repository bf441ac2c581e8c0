"""The command line through Typer's CliRunner (and real subprocesses where it matters)."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from phiflash.app.cli import EXIT_ROW_ERRORS, app

runner = CliRunner()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # home directories: the autouse isolated_home in conftest.py


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def one_error_line(result):
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return errors[0]


# ---- solve -------------------------------------------------------------------------------------------------------


def test_solve_symbolic_shows_steps_answer_and_badge():
    r = run("solve", "3x^2+4x+5=1")
    assert r.exit_code == 0, r.output
    assert "1. Move every term to one side" in r.stdout
    assert "Discriminant" in r.stdout and "✓ verified" in r.stdout and "no real solution" in r.stdout
    assert "symbolic engine" in r.stdout
    assert "phiflash download" in r.stderr  # said once, on stderr


def test_solve_json_is_one_object():
    r = run("solve", "3x^2+4x+5=1", "--json")
    assert r.exit_code == 0
    obj = json.loads(r.stdout)
    for key in ("problem", "engine", "answer", "answer_latex", "verdict", "expected", "steps", "timings"):
        assert key in obj
    assert obj["engine"] == "symbolic" and obj["verdict"] == "verified"
    assert "i" in obj["answer"] and "\\sqrt{2}" in obj["answer_latex"]


def test_solve_reads_stdin():
    r = run("solve", "--json", input="solve the system x+y=3, x-y=1\n")
    assert json.loads(r.stdout)["answer"] == "x = 2, y = 1"
    r = run("solve", "-", "--json", input="x^2 = 4")
    assert json.loads(r.stdout)["answer"] == "x = -2, x = 2"


@pytest.mark.parametrize("args,needle", [
    (("solve", "__import__('os').system('touch pwned')"), "can't read 'import'"),
    (("solve", "solve hello world"), "can't read 'hello'"),
    (("solve", "x=1", "--engine", "phi"), "no model weights found"),
    (("solve", "x=1", "--model", "nowhere"), "does not exist"),
])
def test_solve_errors_are_one_line(args, needle):
    r = run(*args)
    assert r.exit_code == 1
    assert needle in one_error_line(r)
    assert not Path("pwned").exists()


@pytest.mark.parametrize("args,needle", [
    (("solve", "x=1", "--engine", "gpt"), "'gpt' is not one of phi, symbolic"),      # was exit 1
    (("check", "", ""), "the problem is empty"),                                     # was "cannot read the answer"
    (("check", "x=1", " "), "the answer is empty"),
])
def test_usage_errors_exit_64(args, needle):
    from clirun import phiflash
    r = phiflash(*args)
    assert r.returncode == 64 and needle in r.stderr and "Traceback" not in r.stderr


def test_stdin_that_is_not_utf8_is_named():
    from clirun import phiflash
    r = phiflash("solve", "-", input=b"\xff\xfe x=1\n")
    assert r.returncode == 1 and "stdin is not UTF-8 text (byte 0xff at offset 0)" in r.stderr


def test_a_long_answer_is_not_echoed_whole():
    r = run("check", "x=1", "q" * 20_000)
    assert len(r.stdout) < 1000 and "20,000 characters" in r.stdout


def test_debug_shows_the_traceback(monkeypatch):
    from phiflash.app.engines import Refused
    from phiflash.symbolic.parse import ParseError

    r = run("solve", "solve hello world")
    assert isinstance(r.exception, SystemExit) and "can't read 'hello'" in one_error_line(r)
    monkeypatch.setenv("PHIFLASH_DEBUG", "1")
    r = run("solve", "solve hello world")
    assert isinstance(r.exception, Refused) and "can't read 'hello'" in str(r.exception)
    assert isinstance(r.exception.__cause__, ParseError)


def test_solve_with_the_model(chat_checkpoint):
    r = run("solve", "3x^2+4x+5=1", "--model", str(chat_checkpoint), "--json", "--temperature", "0",
            "--max-tokens", "12")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert obj["engine"] == "phi" and "reasoning" in obj and obj["finish_reason"] in ("stop", "length")
    assert obj["timings"]["prompt_tokens"] > 10 and obj["timings"]["generated_tokens"] <= 12
    r = run("solve", "3x^2+4x+5=1", "--model", str(chat_checkpoint), "--temperature", "0", "--max-tokens", "12")
    assert "prompt tokens" in r.stdout and "tok/s" in r.stdout


def test_corrupt_checkpoint_is_one_line(tmp_path, chat_checkpoint):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(chat_checkpoint, bad)
    shard = bad / "model-00001-of-00002.safetensors"
    shard.write_bytes(shard.read_bytes()[:1000])
    r = run("solve", "x=1", "--model", str(bad))
    assert r.exit_code == 1 and "corrupt or truncated" in one_error_line(r)


def test_ctrl_c_during_generation_keeps_the_partial_answer(chat_checkpoint, monkeypatch):
    import phiflash.lm.generate as G
    real, calls = G.Generation.step, []

    def interrupted(self):
        calls.append(1)
        if len(calls) % 6 == 0:
            raise KeyboardInterrupt
        return real(self)
    monkeypatch.setattr(G.Generation, "step", interrupted)
    for flag in ("--speculate", "--no-speculate"):  # plain and speculative decoding alike
        r = run("solve", "x=1", "--model", str(chat_checkpoint), "--temperature", "0", "--max-tokens", "30", flag)
        assert r.exit_code == 130
        assert "cancelled" in r.stdout


# ---- check -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,code,word", [
    (("3x^2+4x+5=1", "x = -2/3 ± 2√2 i/3"), 0, "✓ verified"),
    (("3x^2+4x+5=1", r"\frac{-2 \pm 2i\sqrt{2}}{3}"), 0, "✓ verified"),
    (("3x^2+4x+5=1", "x = 2"), 1, "✗ wrong"),
    (("x^2 = 4", "it is big"), 2, "? unverifiable"),
    (("anything", "0.5", "--expected", r"\frac{1}{2}"), 0, "✓ verified"),
])
def test_check_exit_status(args, code, word):
    r = run("check", *args)
    assert r.exit_code == code, r.output
    assert word in r.stdout


def test_check_json():
    r = run("check", "3x^2+4x+5=1", "x = 2", "--json")
    obj = json.loads(r.stdout)
    assert r.exit_code == 1 and obj["verdict"] == "wrong" and "2√2" in obj["expected"]


# ---- batch -------------------------------------------------------------------------------------------------------


def results(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_batch_jsonl_with_references_and_a_bad_line(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "a", "problem": "x^2-5x+6=0", "answer": "2, 3"}\n'
                 'not json\n'
                 '{"id": "c", "problem": "2x = 6", "answer": "4"}\n'
                 '{"id": "d", "problem": "hello there"}\n')
    r = run("batch", str(f), "--engine", "symbolic")
    assert r.exit_code == EXIT_ROW_ERRORS, r.output      # finished, but rows ended in an error: a script can tell
    recs = {x["id"]: x for x in results(tmp_path / "p.jsonl.results.jsonl")}
    assert set(recs) == {"a", "line-2", "c", "d"}
    assert recs["a"]["correct"] is True and recs["c"]["correct"] is False
    assert "line 2: not valid JSON" in recs["line-2"]["error"]
    # a refusal is a result (deterministic: retrying cannot help), an error is a failure
    assert recs["d"]["refused"] and recs["d"]["verdict"] == "unverifiable" and recs["d"]["error"] is None
    assert "can't read 'hello'" in recs["d"]["reason"] and "refused" in r.stdout
    for rec in recs.values():
        assert set(rec) >= {"id", "problem", "answer", "verdict", "reference", "correct", "error", "seconds"}
    assert "against the answer key" in r.stdout and "50.0% of 2" in r.stdout


def test_batch_txt_and_csv_and_resume(tmp_path):
    (tmp_path / "p.txt").write_text("x + 1 = 2\n\n# a comment\n2x = 8\n")
    r = run("batch", str(tmp_path / "p.txt"), "--engine", "symbolic", "--out", "out.jsonl")
    assert r.exit_code == 0 and [x["answer"] for x in results("out.jsonl")] == ["x = 1", "x = 4"]
    r = run("batch", str(tmp_path / "p.txt"), "--engine", "symbolic", "--out", "out.jsonl")
    assert "resuming: 2 of 2" in r.stderr and len(results("out.jsonl")) == 2
    (tmp_path / "p.csv").write_text("id,problem,answer\nq1,x^2=9,\"-3, 3\"\nq2,,1\n")
    r = run("batch", str(tmp_path / "p.csv"), "--engine", "symbolic", "--jobs", "2")
    recs = {x["id"]: x for x in results(tmp_path / "p.csv.results.jsonl")}
    assert recs["q1"]["correct"] is True and "empty problem" in recs["q2"]["error"]


def test_batch_drops_a_torn_line_and_finishes(tmp_path):
    (tmp_path / "p.txt").write_text("x + 1 = 2\n2x = 8\n")
    out = tmp_path / "o.jsonl"
    out.write_text('{"id": "line-1", "problem": "x + 1 = 2", "answer": "x = 1", "verdict": "verified"}\n'
                   '{"id": "line-2", "pro')
    r = run("batch", str(tmp_path / "p.txt"), "--engine", "symbolic", "--out", str(out))
    assert r.exit_code == 0
    assert [x["id"] for x in results(out)] == ["line-1", "line-2"]


@pytest.mark.parametrize("content,name,needle", [
    (None, "missing.jsonl", "no such file"),
    ("a,b\n1,2\n", "p.csv", "columns 'problem'"),
    ("x", "p.docx", "unknown format"),
])
def test_batch_input_errors(tmp_path, content, name, needle):
    if content is not None:
        (tmp_path / name).write_text(content)
    r = run("batch", str(tmp_path / name))
    assert r.exit_code == 1 and needle in one_error_line(r)


@pytest.mark.slow
def test_batch_killed_mid_run_resumes_without_duplicates(tmp_path):
    # Far more problems than a batch can finish between two looks at its output (20 ms apart), on any machine.
    problems = [f"{k}x^2 - {k * (k + 1)}x + {k * k} = 0" for k in range(1, 31)] + \
               [f"integrate x^{k} sin(x)" for k in range(1, 11)] + [f"x + {k} = {2 * k}" for k in range(160)]
    f = tmp_path / "many.txt"
    f.write_text("\n".join(problems) + "\n")
    out = tmp_path / "many.txt.results.jsonl"
    env = dict(os.environ, PHIFLASH_NO_LOG="1")
    proc = subprocess.Popen([sys.executable, "-m", "phiflash.app.cli", "batch", str(f), "--engine", "symbolic"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(out.read_text().splitlines())
    assert 3 <= done_before < len(problems), "the kill should land mid-run"
    r = run("batch", str(f), "--engine", "symbolic")
    assert r.exit_code == 0
    ids = [x["id"] for x in results(out)]
    assert sorted(ids) == sorted(f"line-{i}" for i in range(1, len(problems) + 1))  # each exactly once


# ---- tutor -------------------------------------------------------------------------------------------------------


def test_tutor_symbolic_session(tmp_path):
    script = "\n".join(["/hint", "x^2-5x+6=0", "/hint", "/hint", "/check x = 2", "/check x = 2 or x = 3",
                        "x = 4", "/save s.json", "/new", "/load s.json", "/steps", "/bogus", "/quit"]) + "\n"
    r = run("tutor", "--engine", "symbolic", input=script)
    assert r.exit_code == 0, r.output
    o = r.stdout
    assert "no problem yet" in o
    assert "Hint 1: Can x^2 - 5x + 6 be written as a product of two brackets?" in o
    assert "Hint 2: Look for two numbers whose product is 6 and whose sum is -5." in o
    assert "You found 1 of the 2 solutions" in o
    assert "✓ verified" in o
    assert "x = 4 is not: substituting gives 2 on the left and 0 on the right" in o
    assert "Loaded s.json: x^2-5x+6=0 (hints used: 2)" in o
    assert "unknown command /bogus" in o
    assert json.loads(Path("s.json").read_text())["problem"] == "x^2-5x+6=0"


class FakeModelEngine:
    name = "phi"

    def __init__(self):
        self.calls = []

    def chat(self, messages, params, max_tokens, on_event=None):
        from phiflash.lm.generate import Completion
        self.calls.append([dict(m) for m in messages])
        on_event and on_event("reasoning", "thinking hard")
        on_event and on_event("answer", f"reply {len(self.calls)}")
        return Completion(text=f"<think>thinking hard</think>reply {len(self.calls)}", reasoning="thinking hard",
                          answer=f"reply {len(self.calls)}", finish_reason="stop")


def test_tutor_model_keeps_memory_without_reasoning():
    from conftest import ListView

    from phiflash.app.tutor import TutorSession
    eng, view = FakeModelEngine(), ListView()
    s = TutorSession(eng, view)
    for line in ["x^2 = 4", "/hint", "/hint", "why?", "/check x = 3", "/steps"]:
        assert s.handle(line)
    last = eng.calls[-1]
    assert last[0]["role"] == "system"
    assistant = [m["content"] for m in last if m["role"] == "assistant"]
    assert assistant == [f"reply {i}" for i in range(1, 6)]           # visible replies only, no <think>
    users = [m["content"] for m in last if m["role"] == "user"]
    assert "hint number 1" in users[1] and "hint number 2" in users[2] and users[3] == "why?"
    assert "x = 3" in users[4] and "wrong" in users[4]
    assert "complete step-by-step solution" in users[5]
    s.handle("/new")
    s.handle("2x = 2")
    assert len(eng.calls[-1]) == 2  # context cleared: system + the new problem


# ---- download, info, log, help -----------------------------------------------------------------------------------


def test_download_uses_huggingface_hub(monkeypatch, tmp_path):
    import huggingface_hub
    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        return str(tmp_path / "dl")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    r = run("download", "--dir", str(tmp_path / "dl"))
    assert r.exit_code == 0 and str(tmp_path / "dl") in r.stdout
    assert seen["repo_id"] == "microsoft/Phi-4-mini-flash-reasoning"
    assert "*.safetensors" in seen["allow_patterns"] and "tokenizer.json" in seen["allow_patterns"]
    assert not any(p.endswith(".py") or p.endswith(".bin") for p in seen["allow_patterns"])


def test_model_found_in_the_hf_cache(chat_checkpoint, isolated_home):
    import shutil

    from phiflash.lm.hub import hf_cache_dir
    repo = hf_cache_dir() / "models--microsoft--Phi-4-mini-flash-reasoning"
    assert repo.is_relative_to(isolated_home)
    shutil.copytree(chat_checkpoint, repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    r = run("info")
    assert "snapshots/abc123" in r.stdout and "│ solve engine" in r.stdout and "phi" in r.stdout


def test_info(chat_checkpoint):
    r = run("info", "--model", str(chat_checkpoint))
    assert r.exit_code == 0
    assert "0, 2" in r.stdout and "emits the GMU memory" in r.stdout and "cross_attn" in r.stdout
    r = run("info")
    assert "3,852,562,944" in r.stdout and "5,120 bytes per token" in r.stdout


def test_log_records_and_can_be_turned_off(monkeypatch):
    run("solve", "x + 1 = 2")
    run("check", "x^2 = 4", "x = 2")
    r = run("log", "--json")
    entries = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["command"] for e in entries] == ["check", "solve"]
    assert entries[1]["answer"] == "x = 1" and entries[0]["verdict"] == "wrong"
    run("solve", "x + 2 = 2", "--no-log")
    monkeypatch.setenv("PHIFLASH_NO_LOG", "1")
    run("solve", "x + 3 = 2")
    assert len(run("log", "--json").stdout.splitlines()) == 2
    assert "x + 1 = 2" in run("log").stdout


@pytest.mark.parametrize("cmd", ["solve", "check", "batch", "tutor", "download", "info", "log", "serve"])
def test_help_has_examples(cmd):
    r = run(cmd, "--help")
    assert r.exit_code == 0 and "Example" in r.stdout


def test_model_free_commands_do_not_import_torch():
    """One fresh process runs each command in turn; none of them may pull in torch or transformers."""
    code = ("import sys\nfrom phiflash.app.cli import main\n"
            "for argv in ([['check', 'x^2=4', 'x=2'], ['solve', 'x+1=2'], ['log'], ['--help']]):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "    assert 'torch' not in sys.modules and 'transformers' not in sys.modules, ('heavy import', argv)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


# ---- Rich rendering on a fixed-width terminal --------------------------------------------------------------------


def capture() -> Console:
    return Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None, legacy_windows=False)


def test_rich_answer_panel_and_badges():
    from phiflash.app import ui
    from phiflash.app.engines import Result
    c = capture()
    ui.show_result(c, Result("x^2=4", "phi", "x = 2", answer_pretty="x = 2", verdict="wrong", expected="x = -2, x = 2",
                             timings={"prompt_tokens": 30, "ttft_s": 0.5, "generated_tokens": 100,
                                      "tokens_per_s": 4.2, "total_s": 24.0}, finish_reason="stop"))
    text = c.file.getvalue()
    assert text.splitlines()[0].startswith("╭─ Answer")
    assert "│ x = 2" in text
    assert "✗ wrong — correct answer: x = -2, x = 2" in text
    assert "30 prompt tokens · first token 0.50 s · 100 tokens at 4.2 tok/s · 24.0 s total" in text


def test_reasoning_stream_keeps_only_the_last_lines():
    from phiflash.app import ui
    c, e = capture(), capture()
    with ui.ReasoningStream(c, e, lines=3) as s:
        for i in range(50):
            s("reasoning", f"line {i}\n")
        s("answer", "x = 2")
        rendered = s._render()
    c2 = capture()
    c2.print(rendered)
    shown = c2.file.getvalue()
    assert "line 49" in shown and "line 48" in shown and "line 47" not in shown
    assert "x = 2" in shown
    assert len(s.reasoning) == 50


@pytest.mark.parametrize("width,height", [(120, 50), (40, 14)])
def test_the_live_reasoning_panel_never_wraps_or_outgrows_the_screen(width, height):
    """A 120×50 tmux pane kept 37 stacked '╭─ thinking… ─' borders after the tiny model's multilingual output: the
    live region wrapped where Rich did not expect it. Every line is cut to the width by the most cells any
    terminal gives its characters (wide, emoji, combining), and the region stays shorter than the screen."""
    from rich.console import Console

    from phiflash.app import ui
    c = Console(file=io.StringIO(), width=width, height=height, force_terminal=True, color_system=None)
    pieces = ["日本語のテキスト" * 9, "🙂👩‍👩‍👧" * 30, "e\u0301a\u0308" * 40, "plain words " * 20, "\x1b[2J\tcontrol",
              "\u200bzero\u200dwidth" * 10, "Ελληνικά кириллица " * 10]
    s = ui.ReasoningStream(c, c, lines=12)
    for k in range(60):
        s("reasoning", pieces[k % len(pieces)] + ("\n" if k % 3 == 0 else ""))
    for k in range(5):
        s("answer", pieces[k] + "\n")
    lines = c.render_lines(s._render(), c.options, pad=False, new_lines=False)
    assert len(lines) <= height - 3                                     # the region never reaches the screen's end
    for segments in lines:
        text = "".join(seg.text for seg in segments)
        assert sum(ui._cells_at_most(ch) for ch in text) <= width, text  # fits in any terminal
        assert "\x1b" not in text


def test_batch_with_the_model_batched_equals_one_at_a_time(tmp_path, chat_checkpoint, monkeypatch):
    """One prompt at a time goes through speculative decoding, several through batched decoding (a problem left
    alone at the end speculates again): the same texts."""
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "a", "problem": "x^2 = 4", "answer": "±2"}\n{"id": "b", "problem": "2x = 6"}\n'
                 '{"id": "c", "problem": "integrate x^2 from 0 to 1"}\nbad line\n')
    outs = {}
    for bs in (1, 3):
        out = tmp_path / f"o{bs}.jsonl"
        r = run("batch", str(f), "--model", str(chat_checkpoint), "--batch-size", str(bs), "--temperature", "0",
                "--max-tokens", "8", "--out", str(out))
        assert r.exit_code == EXIT_ROW_ERRORS, r.output
        recs = {x["id"]: x for x in results(out)}
        assert set(recs) == {"a", "b", "c", "line-4"} and "not valid JSON" in recs["line-4"]["error"]
        assert all(recs[i]["engine"] == "phi" for i in "abc")
        outs[bs] = {i: (recs[i]["text"], recs[i]["timings"]["generated_tokens"]) for i in "abc"}
        paused = [i for i in "abc" if "rows decode together" in (recs[i]["timings"]["speculation"] or "")]
        assert paused == ([] if bs == 1 else ["a", "b", "c"])
    assert outs[1] == outs[3]


def test_batch_scores_against_references_by_subject_and_level(tmp_path):
    f = tmp_path / "p.jsonl"
    rows = [{"id": "a", "problem": "What is the remainder when 100 is divided by 7?", "answer": "2", "subject": "NT",
             "level": 1},
            {"id": "b", "problem": "What is 30% of 90?", "answer": "27", "subject": "Pre", "level": 1},
            {"id": "c", "problem": "How many apples does Sam have?", "answer": "4", "subject": "Pre", "level": 2},
            {"id": "d", "problem": r"Express $100_{10}$ in base $7$.", "answer": "202_7", "subject": "NT",
             "level": 2}]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run("batch", str(f), "--engine", "symbolic", "--json")
    assert r.exit_code == 0, r.output                                  # a refusal is no error
    s = json.loads(r.stdout)["summary"]
    assert s["refused"] == 1 and s["errors"] == 0 and s["unverifiable"] == 0
    assert s["by_subject"]["NT"] == {"problems": 2, "attempted": 2, "correct": 2, "incorrect": 0, "not graded": 0,
                                     "accuracy": 1.0}
    assert s["by_subject"]["Pre"]["attempted"] == 1 and s["by_subject"]["Pre"]["correct"] == 1
    assert s["by_level"]["1"]["accuracy"] == 1.0                        # of the answers graded, as overall
    assert s["by_level"]["2"]["problems"] == 2 and s["by_level"]["2"]["correct"] == 1
    r = run("batch", str(f), "--engine", "symbolic")      # a rerun resumes and prints the tables
    assert "by subject" in r.stdout and "by level" in r.stdout
    assert "checked by SymPy" in r.stdout and "against the answer key" in r.stdout
    c = tmp_path / "p.csv"                                # the same columns in a CSV
    c.write_text("id,problem,answer,subject,level\na,What is 30% of 90?,27,Pre,1\nb,How many apples?,4,Pre,2\n")
    s = json.loads(run("batch", str(c), "--engine", "symbolic", "--json").stdout)["summary"]
    assert s["by_subject"]["Pre"]["problems"] == 2 and s["by_level"]["1"]["correct"] == 1


def test_check_never_calls_a_reference_answer_wrong_on_sentences():
    r = run("check", "What is the remainder when $129^{34}+96^{38}$ is divided by $11$?", "9", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["verdict"] == "verified"
    r = run("check", "What is the train's speed in miles per hour?", "40", "--json")
    reason = json.loads(r.stdout)["reason"]
    assert r.exit_code == 2 and "can't read" in reason and "train's" in reason
    r = run("check", r"Write $\frac{3}{8}$ as a decimal.", r"\frac{3}{8}", "--json")
    assert r.exit_code == 1 and "asks for a decimal" in json.loads(r.stdout)["reason"]
    r = run("check", r"Write $\frac{3}{8}$ as a decimal.", r"\frac{3}{8}")   # the badge says why, not only "wrong"
    assert "✗ wrong — right value, but the problem asks for a decimal; correct answer: 0.375" in r.stdout


@pytest.mark.parametrize("args,code", [(("check", "x+5=0", "-5"), 0), (("check", "x+5=0", "-1.25"), 1),
                                       (("check", "x+5=0", "--", "-5"), 0), (("solve", "-x+3=0", "--json"), 0)])
def test_problems_and_answers_may_start_with_a_dash(args, code):
    r = run(*args)
    assert r.exit_code == code, r.output
    if "--json" in args:
        assert json.loads(r.stdout)["answer"] == "x = 3"


@pytest.mark.slow  # builds the o200k tokenizer from vocab.json (test_o200k.py covers the rebuild in the fast tier)
def test_a_checkpoint_without_tokenizer_json_uses_the_one_rebuilt_from_vocab_json(tmp_path, chat_checkpoint,
                                                                                 official_dir, isolated_home):
    """The mirror's case: vocab.json and tokenizer_config.json but no tokenizer.json. The model engine rebuilds
    it once into the data directory and gives the same output as with the file."""
    bare = tmp_path / "bare"
    shutil.copytree(chat_checkpoint, bare)
    (bare / "tokenizer.json").unlink()
    shutil.copyfile(official_dir / "vocab.json", bare / "vocab.json")
    args = ["solve", "2x = 6", "--json", "--temperature", "0", "--max-tokens", "12", "--quantize", "none"]
    with_file = json.loads(run(*args, "--model", str(chat_checkpoint)).stdout)
    rebuilt = json.loads(run(*args, "--model", str(bare)).stdout)
    assert rebuilt["text"] == with_file["text"] and rebuilt["error"] is None
    assert list((isolated_home / "phiflash_home" / "tokenizers").glob("*/tokenizer.json"))
    assert not (bare / "tokenizer.json").exists()


def test_paths_are_printed_whole_at_any_width(tmp_path, monkeypatch):
    """A path in a message is copied by the user: at 80 columns a long one is never broken across lines."""
    import huggingface_hub
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "dl"
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **kwargs: str(deep))
    monkeypatch.setenv("COLUMNS", "80")
    from phiflash.lm.testing import REFERENCE
    r = run("download", "--dir", str(deep))
    assert r.exit_code == 0 and f"model files in {deep}\n" in r.stdout
    r = run("log")
    assert str(tmp_path) in r.stdout.replace("\n", "") and "no entries in /" in r.stdout
    assert len([ln for ln in r.stdout.splitlines() if ln.strip()]) == 1
    (deep / "config.json").parent.mkdir(parents=True, exist_ok=True)
    import shutil
    shutil.copyfile(REFERENCE / "config.json", deep / "config.json")
    r = run("info", "--model", str(deep))
    assert f"model: {deep}\n" in r.stdout


def test_batch_files_that_cannot_hurt(tmp_path):
    """An unterminated quote swallowed the rows after it (c5, c6 vanished into c4's text); a batch whose every line
    failed exited 0; a subject with nothing graded showed 0.0%."""
    f = tmp_path / "p.csv"
    f.write_text('id,problem,answer,subject\nc1,2x=4,2,Alg\nc4,"unterminated quote,5,Alg\nc5,3x=9,3,Alg\n'
                 'c6,How many apples?,4,Pre\n')
    r = run("batch", str(f), "--json")
    recs = {x["id"]: x for x in results(tmp_path / "p.csv.results.jsonl")}
    assert set(recs) == {"c1", "line-3", "c5", "c6"} and "line 3: not a CSV row" in recs["line-3"]["error"]
    assert recs["c5"]["correct"] is True and r.exit_code == EXIT_ROW_ERRORS
    s = json.loads(r.stdout)["summary"]
    assert s["by_subject"]["Pre"]["accuracy"] is None and s["by_subject"]["Alg"]["accuracy"] == 1.0
    b = tmp_path / "junk.jsonl"
    b.write_bytes(bytes(range(256)) * 4)                                # a binary file named .jsonl
    r = run("batch", str(b))
    assert r.exit_code == EXIT_ROW_ERRORS and all(x["error"] for x in results(tmp_path / "junk.jsonl.results.jsonl"))


def test_check_shows_the_reading_with_its_and_or_or():
    """'x < -2 and x > 3' and 'x < -2 or x > 3' were both shown as read as 'x < -2, x > 3' above opposite verdicts."""
    both = run("check", "|2x-1| > 5", "x < -2 and x > 3")
    either = run("check", "|2x-1| > 5", "x < -2 or x > 3")
    assert both.stdout.splitlines()[0] == "x < -2 and x > 3" and both.exit_code == 1
    assert either.stdout.splitlines()[0] == "x < -2 or x > 3" and either.exit_code == 0
    rec = json.loads(run("check", "x^2 < 4", "x > -2 and x < 2", "--json").stdout)
    assert rec["answer_latex"] == r"x > -2 \text{ and } x < 2"


def test_stats_line_says_why_speculation_was_off():
    from phiflash.app import ui
    from phiflash.app.engines import Result, model_timings
    why = "off: 3 samples decode together, one batched step for all"
    r = Result("2+2", "phi", timings=model_timings(samples=3, speculation=why, generated_tokens=9, total_s=1.0))
    assert f"speculation {why}" in ui.stats_line(r).plain
    assert "speculation" not in ui.stats_line(Result("2+2", "phi", timings=model_timings())).plain
