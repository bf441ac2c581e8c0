"""`phiflash grade` (issue 27): a class's answers checked, each mistake named, records in the result schema, resume
and --jobs as in batch, strict CSV, and a report a teacher can open (parsed here; opened in a real browser in the
slow tier)."""

import json
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from phiflash.app import record
from phiflash.app.cli import EXIT_ROW_ERRORS, app

runner = CliRunner()

CLASS = """id,student,problem,answer,expected
1,ann,2x+3=11,4,
2,ben,2x+3=11,7,
3,cal,x^2=9,x=3,
4,ann,x^2=9,x=±3,
5,ben,"simplify x/(2x^2)",1/2x,
6,cal,"unterminated quote,5,
7,dan,2x=4,2,2
8,eve,3x=2,0.666...,
9,ann,x^2-5x+6=0,"x=2, x=3",
10,ben,What is 1/2 + 1/3?,2/5,5/6
11,cal,x+1=2,1,extra,field

12,dan,3x=9,3,
"""


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def run(*args):
    return runner.invoke(app, list(args))


def graded(tmp_path, *extra, name="class.csv", text=CLASS):
    f = tmp_path / name
    f.write_text(text)
    r = run("grade", str(f), "--json", *extra)
    out = tmp_path / f"{name}.results.jsonl"
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    return r, recs


def test_a_class_file_is_graded_with_mistakes_named_and_broken_rows_kept_apart(tmp_path):
    r, recs = graded(tmp_path)
    assert r.exit_code == EXIT_ROW_ERRORS, r.output                     # some rows ended in an error
    by_id = {rec["id"]: rec for rec in recs}
    assert len(recs) == 13 - 1                                          # every row but the blank line, once
    assert all(record.problems(rec) == [] for rec in recs)
    assert by_id["1"]["verdict"] == "verified" and by_id["1"]["student"] == "ann"
    assert by_id["2"]["verdict"] == "wrong" and "sign slip" in by_id["2"]["diagnosis"]
    assert by_id["3"]["verdict"] == "wrong" and "forget the negative one" in by_id["3"]["diagnosis"]
    assert by_id["5"]["verdict"] == "unverifiable" and "which did you mean?" in by_id["5"]["reason"]
    assert by_id["7"]["correct"] is True and by_id["10"]["correct"] is False   # against the `expected` column
    assert by_id["8"]["verdict"] == "verified" and by_id["8"]["answer_latex"] == r"\frac{2}{3}"  # as read
    # the unterminated quote and the ragged row are error records naming their lines; the rows after are read
    assert "line 7: not a CSV row" in by_id["line-7"]["error"] and by_id["line-7"]["verdict"] is None
    assert "line 12: 6 fields where the header has 5" in by_id["line-12"]["error"]
    assert by_id["12"]["verdict"] == "verified"
    s = json.loads(r.stdout)["summary"]
    assert (s["graded"], s["errors"]) == (10, 2)
    assert s["checked"] == {"verified": 6, "wrong": 3, "unverifiable": 1}
    assert s["answer_key"] == {"correct": 1, "incorrect": 1, "not graded": 0}
    assert s["by_student"]["ann"]["share_verified"] == 1.0 and s["by_student"]["ben"]["verified"] == 0


def test_grading_resumes_and_jobs_give_the_same_records(tmp_path):
    r1, one = graded(tmp_path)
    r = run("grade", str(tmp_path / "class.csv"))                        # a rerun: nothing twice
    assert "resuming: 12 of 12" in r.stderr
    assert len((tmp_path / "class.csv.results.jsonl").read_text().splitlines()) == 12
    (tmp_path / "two.csv").write_text(CLASS)
    r2, two = graded(tmp_path, "--jobs", "2", name="two.csv")
    def strip(rec):
        return {k: v for k, v in rec.items() if k not in ("time", "seconds")}
    assert sorted(map(json.dumps, map(strip, one))) == sorted(map(json.dumps, map(strip, two)))


def test_grade_input_errors_are_one_line(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    r = run("grade", str(tmp_path / "x.csv"))
    assert r.exit_code == 1 and "needs a header line with the columns 'problem' and 'answer'" in r.stderr
    (tmp_path / "x.jsonl").write_text('{"problem": "2x=4"}\n')
    r, recs = graded(tmp_path, name="y.jsonl", text='{"problem": "2x=4"}\n{"problem": "2x=4", "answer": "2"}\n')
    assert "needs an 'answer' to grade" in recs[0]["error"] and recs[1]["verdict"] == "verified"


class Page(HTMLParser):
    """What the report holds: its rows, plots, math and every URL it would fetch."""

    def __init__(self):
        super().__init__()
        self.rows, self.svgs, self.maths, self.urls = 0, 0, 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.rows += tag == "tr" and a.get("class") == "row"
        self.svgs += tag == "svg"
        self.maths += tag == "math"
        self.urls += [v for k, v in attrs if k in ("src", "href", "xmlns", "action") and v]


def test_the_html_report_is_one_self_contained_page(tmp_path):
    r, recs = graded(tmp_path, "--report", "class.html")
    text = (tmp_path / "class.html").read_text()
    page = Page()
    page.feed(text)
    assert page.rows == len(recs) == 12                                 # every row, errors included
    assert page.svgs >= 3 and page.maths >= 8                           # plots inline; answers as MathML
    assert page.urls == [] and "http" not in text and "url(" not in text   # nothing fetched from anywhere
    for needle in ("Checked by SymPy", "Against the answer key", "Per student", "sign slip", "line 7: not a CSV row",
                   "Share verified, per problem", "Most common mistakes"):
        assert needle in text, needle
    assert "<script" not in text


def test_the_markdown_report_and_batch_report(tmp_path):
    graded(tmp_path, "--report", "class.md")
    md = (tmp_path / "class.md").read_text()
    assert "| ben | 3 | 0 | 2 | 1 | 0% |" in md and md.count("\n| ") >= 12
    (tmp_path / "p.jsonl").write_text('{"id": "a", "problem": "2x=4", "answer": "2", "subject": "Alg"}\n'
                                      '{"id": "b", "problem": "How many apples?", "subject": "Pre"}\n')
    r = run("batch", str(tmp_path / "p.jsonl"), "--report", "b.html")
    assert r.exit_code == 0                                             # b is refused: a result, not an error
    page = Page()
    page.feed((tmp_path / "b.html").read_text())
    assert page.rows == 2 and page.svgs >= 1


def test_a_report_needs_html_or_md(tmp_path):
    (tmp_path / "c.csv").write_text("problem,answer\n2x=4,2\n")
    r = run("grade", str(tmp_path / "c.csv"), "--report", "c.pdf")
    assert r.exit_code == 1 and "write .html or .md" in r.stderr


def _browser():
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def _headless(tmp_path, *args, page):
    """Chromium headless on a page, its profile and temporary files inside the test's directory."""
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # its socket path must be short (a Unix socket)
        env = {**os.environ, "TMPDIR": short, "HOME": str(tmp_path)}
        return subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                               f"--user-data-dir={tmp_path / 'profile'}", *args, page.as_uri()],
                              capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="no Chromium installed (apt-get install chromium)")
def test_the_report_renders_in_a_real_browser(tmp_path):
    """Opened headless: the math is laid out by the browser (a fraction stacks, so MathML rendered) and the plots
    are drawn (the first bar has its width); the screenshot is kept beside the test's files."""
    graded(tmp_path, "--report", "class.html")
    dumped = _headless(tmp_path, "--dump-dom", page=tmp_path / "class.html")
    assert "<math" in dumped.stdout and "<svg" in dumped.stdout, dumped.stderr[-2000:]
    probe = tmp_path / "probe.html"
    probe.write_text((tmp_path / "class.html").read_text().replace(
        "</body>", "<script>document.title = [document.querySelector('mfrac').getBoundingClientRect().height,"
                   "document.querySelector('mn').getBoundingClientRect().height,"
                   "document.querySelector('rect.bar').getBoundingClientRect().width].join(',')</script></body>"))
    out = _headless(tmp_path, "--dump-dom", page=probe)
    title = out.stdout.split("<title>")[1].split("</title>")[0]
    frac_h, digit_h, bar_w = map(float, title.split(","))
    assert frac_h > 1.5 * digit_h > 0                                    # a stacked fraction: MathML laid out
    assert bar_w > 0
    shot = tmp_path / "report.png"
    _headless(tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", page=tmp_path / "class.html")
    assert shot.exists() and shot.stat().st_size > 10_000


def test_a_fuzzed_csv_loses_and_merges_no_row(tmp_path):
    """Random rows with quotes, delimiters, tabs, blank lines, CRLF, a BOM and bytes in another encoding: every
    line with content is exactly one record (graded or an error naming that line), ids never merge."""
    import random

    from phiflash.app.grading import read_answers
    rng = random.Random(27)
    pieces = ['2x=4', '"x, y"', '"a ""quoted"" b"', 'x;y', '\t3', '"unclosed', 'x"y', '', ' ', 'é', '"', ',', '1/2',
              '"line""', '∞']
    for trial in range(60):
        lines, content = ["id,problem,answer"], 0
        for k in range(rng.randint(1, 25)):
            if rng.random() < 0.1:
                lines.append(rng.choice(["", "   "]))                 # blank: not a row
                continue
            n = rng.choice([1, 2, 2, 2, 3])                             # 2 is the header's count: others ragged
            fields = [f"r{k}"] + [rng.choice(pieces) + rng.choice(["", "x"]) for _ in range(n)]
            lines.append(",".join(fields))
            content += 1
        raw = (rng.choice(["\n", "\r\n"])).join(lines).encode()
        if rng.random() < 0.2:
            raw = b"\xef\xbb\xbf" + raw                                # a BOM
        if rng.random() < 0.2:
            raw = raw.replace("é".encode(), b"\xe9")                   # latin-1 bytes in a UTF-8 file
        f = tmp_path / f"f{trial}.csv"
        f.write_bytes(raw)
        items, _ = read_answers(f)
        assert len(items) == content, (trial, raw)
        assert len({it.id for it in items}) == len(items)
        lines_seen = [it.line for it in items]
        assert lines_seen == sorted(set(lines_seen))                   # one item per line, in order
