"""The phiflash command line: thin Typer commands over the engines, the checker and the batch runner.

Commands that need no model (check, symbolic solve, log, --help) never import torch: phiflash.lm is imported
inside the functions that need a model, everything else at the top.
Every user error is one line on stderr and a non-zero exit; PHIFLASH_DEBUG=1 shows the traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from .. import __version__
from ..errors import PhiflashError, one_line
from ..lm import hub  # no torch: finds and downloads checkpoints
from ..lm.params import SamplingParams  # no torch
from ..symbolic.verify import check_answer
from . import batch as B
from . import logdb, record, ui
from .engines import Refused, auto_samples, latex_answer, make_engine, model_path, pretty_answer, refused_record
from .report import write_report
from .tutor import TutorSession

EXIT_USAGE = 64  # a mistyped command line; 1 and 2 mean "wrong" and "unverifiable" to `check`
EXIT_ROW_ERRORS = 3  # batch and grade: the run finished, but some rows ended in an error (named in their records)
# Click's exceptions as the installed typer uses them (recent typer vendors its own copy of click).
click_errors = sys.modules[typer.BadParameter.__module__]


class FlagsAsFlags:
    """Flags (--json, --help, completion) shown without `<bool>` after them: they take no value."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for p in params:
            if getattr(p, "is_flag", False):
                p.metavar = ""
        return params


class Group(FlagsAsFlags, TyperGroup):
    pass


class Command(FlagsAsFlags, TyperCommand):
    """Usage lines name arguments plainly: `phiflash check [OPTIONS] PROBLEM ANSWER`."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if p.param_type_name == "argument":
                name = (p.metavar or p.name or "").upper()
                pieces.append(name if p.required else f"[{name}]")
        return pieces


app = typer.Typer(
    name="phiflash", cls=Group, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="rich",
    help="A math tutor and solver on Phi-4-mini-flash-reasoning (SambaY) in pure PyTorch, with every answer "
         "checked by SymPy.\n\nWithout model weights the symbolic engine answers; `phiflash download` fetches "
         "the model.",
    epilog="Examples:  phiflash solve \"3x^2+4x+5=1\"  ·  phiflash check \"x^2=4\" \"x=±2\"  ·  "
           "phiflash batch problems.jsonl --jobs 2  ·  phiflash tutor",
)


def out() -> Console:
    return Console(highlight=False)


def err() -> Console:
    return Console(stderr=True, highlight=False)


def user_errors(fn):
    """One line on stderr and exit 1 for anything that goes wrong; the traceback only with PHIFLASH_DEBUG=1.
    Under --json the error is also one JSON record on stdout (its `error` set), so a script always gets JSON."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click_errors.ClickException):  # usage errors: main() shows them, exit 64
            raise
        except BrokenPipeError:  # `phiflash … | head`: the reader left; click stops quietly (exit 1)
            raise
        except KeyboardInterrupt:
            err().print("interrupted")
            raise typer.Exit(130) from None
        except Exception as e:  # noqa: BLE001 - the one place errors become messages
            if os.environ.get("PHIFLASH_DEBUG"):
                raise
            msg = one_line(e)
            hint = "" if isinstance(e, PhiflashError) else " (PHIFLASH_DEBUG=1 shows the traceback)"
            err().print(Text(f"error: {msg}{hint}", style="red"), soft_wrap=True)
            if kwargs.get("as_json"):
                problem = kwargs.get("problem")
                print(json.dumps(record.error(fn.__name__, msg, problem=problem if problem != "-" else None),
                                 ensure_ascii=False))
            raise typer.Exit(1) from None
    return wrapper


def _version(value: bool):
    if value:
        print(f"phiflash {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False):
    pass


# ---- shared options -------------------------------------------------------------------------------------------

def _engine_name(value: Optional[str]) -> Optional[str]:
    if value is not None and value not in ("phi", "symbolic"):
        raise typer.BadParameter(f"{value!r} is not one of phi, symbolic")
    return value


Engine = Annotated[Optional[str], typer.Option("--engine", "-e", callback=_engine_name, metavar="phi|symbolic",
                                               help="phi (the model) or symbolic (SymPy). Default: phi when weights "
                                                    "are found, else symbolic.")]
Model = Annotated[Optional[str], typer.Option("--model", "-m", envvar="PHIFLASH_MODEL",
                                              help="Checkpoint directory (else PHIFLASH_MODEL, else the "
                                                   "Hugging Face cache).")]
QUANTIZE_MODES = ("none", "int8", "int4")


def _quantize_mode(value: Optional[str]) -> Optional[str]:
    if value is not None and value not in QUANTIZE_MODES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(QUANTIZE_MODES)}")
    return value


Temperature = Annotated[float, typer.Option(min=0.0, help="Sampling temperature; 0 = greedy.")]
def _top_p(value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise typer.BadParameter(f"{value} is not in 0 < top-p ≤ 1")
    return value


TopP = Annotated[float, typer.Option("--top-p", callback=_top_p, help="Nucleus sampling mass, 0 < p ≤ 1.")]
MaxTokens = Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens to generate.")]
Seed = Annotated[Optional[int], typer.Option(help="Random seed for reproducible sampling.")]
Quantize = Annotated[Optional[str], typer.Option(callback=_quantize_mode, metavar="none|int8|int4",
                                                 help="Weights of the model's large layers: int8 (the default on "
                                                      "CPU), int4 (about 1.3x faster, a little less accurate) "
                                                      "or none (the checkpoint's bf16). Quantized once, then "
                                                      "cached.")]
Threads = Annotated[Optional[int], typer.Option(min=1, help="CPU threads for the model (default: the cores not "
                                                           "busy with other work).")]
NoLog = Annotated[bool, typer.Option("--no-log", help="Do not record this in the local log (also "
                                                      "PHIFLASH_NO_LOG=1).")]
RayAddress = Annotated[Optional[str], typer.Option("--ray", metavar="ADDRESS",
                                                  help="Spread the rows over a Ray cluster: auto (the running "
                                                       "one), ray://HOST:PORT, or local (start one here). Needs "
                                                       "pip install 'phiflash\\[ray]'.")]
Actors = Annotated[Optional[int], typer.Option("--actors", min=1, help="With --ray: actors (default: as many as "
                                                                       "the cluster's CPUs allow).")]
ActorCpus = Annotated[Optional[int], typer.Option("--actor-cpus", min=1, help="With --ray: CPUs per actor, its "
                                                                             "threads (default: 1; the model: a "
                                                                             "node's).")]
Report = Annotated[Optional[Path], typer.Option("--report", help="Also write a report: FILE.html (one self-contained "
                                                                 "page with plots) or FILE.md.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object (the schema is in the "
                                                     "README).")]

# Options that only mean something to the model: given to the symbolic engine they are refused, not ignored.
MODEL_ONLY = ("temperature", "top_p", "max_tokens", "seed", "system", "hide_reasoning", "quantize", "batch_size",
              "threads", "samples", "early_stop", "think_budget", "speculate", "max_rows", "max_queue")


CARD = SamplingParams()  # the model card's temperature and top_p: every command's defaults


def _params(temperature: float, top_p: float, seed: Optional[int]):
    return SamplingParams(temperature=temperature, top_p=top_p, seed=seed)


def _engine(ctx: typer.Context, engine, model, quantize, threads=None):
    with _Bar("quantizing") as bar:
        eng = make_engine(engine, model, quantize, threads=threads, no_weights=_notice_once, progress=bar,
                          notice=lambda m: err().print(Text(m, style="dim"), soft_wrap=True))
    if eng.name == "symbolic":
        _no_model_options(ctx, engine)
    return eng


def _no_model_options(ctx: typer.Context, engine: str | None) -> None:
    """The symbolic engine answers: an option that applies only to the model is a mistake, said so."""
    given = [name for name in MODEL_ONLY if name in ctx.params and ctx.get_parameter_source(name).name in (
        "COMMANDLINE", "ENVIRONMENT")]
    if given:
        opts = ", ".join("--" + g.replace("_", "-") for g in given)
        why = "" if engine == "symbolic" else " (no model weights were found)"
        raise PhiflashError(f"{opts} only appl{'ies' if len(given) == 1 else 'y'} to the model, and the "
                            f"symbolic engine answers here{why}")


def _ray_job(ctx: typer.Context, engine, model, quantize, params, max_tokens: int, samples: int):
    """What each Ray actor runs, chosen here without loading the model (the actors load it, once each)."""
    from .cluster import ModelJob, SolveJob

    path = model_path(engine, model, no_weights=_notice_once)
    if path is None:
        _no_model_options(ctx, engine)
        return SolveJob()
    return ModelJob(str(path.resolve()), quantize, params, max_tokens, samples)


def _ray_options(ctx: typer.Context, ray: Optional[str], jobs: int) -> None:
    """--actors and --actor-cpus need --ray; --jobs is for this machine's processes, --actors for the cluster's."""
    given = {n for n in ("actors", "actor_cpus", "jobs") if ctx.get_parameter_source(n).name == "COMMANDLINE"}
    if not ray and given & {"actors", "actor_cpus"}:
        raise click_errors.UsageError("--actors and --actor-cpus apply with --ray ADDRESS")
    if ray and "jobs" in given:
        raise click_errors.UsageError("--jobs runs processes on this machine; with --ray, use --actors")
    if ray:
        from .cluster import NoRay, need_ray
        try:
            need_ray()
        except NoRay as e:
            raise click_errors.UsageError(str(e)) from None


@contextlib.contextmanager
def _ray_cluster(address: Optional[str]):
    """Connected to the Ray cluster at `address` while the block runs (one started here is stopped after it);
    nothing when address is None."""
    if address is None:
        yield
        return
    from . import cluster

    started = cluster.connect(address)
    try:
        yield
    finally:
        if started:
            cluster.disconnect()


def _on_ray(job, tasks_for: Callable[[int], list], actors: Optional[int], actor_cpus: Optional[int], on_record,
            console: Console) -> None:
    """Run the tasks `tasks_for(number of actors)` on the connected cluster's actors. `console` (the progress
    bar's) says how many actors, and when one dies."""
    from . import cluster

    cpus = actor_cpus or job.actor_cpus or cluster.node_cpus()
    count = actors or max(1, cluster.cluster_cpus() // cpus)
    tasks = tasks_for(count)
    console.print(Text(f"ray: {count} actor(s) of {cpus} CPU(s) on {cluster.describe()}", style="dim"),
                  soft_wrap=True)
    cluster.run_on_ray(tasks, job, on_record, count, cpus,
                       notice=lambda m: console.print(Text(m, style="yellow"), soft_wrap=True))


class _Bar:
    """A progress bar on stderr that appears only when there is progress to show: progress(done, total, name)."""

    def __init__(self, what: str):
        self.what, self.progress, self.task = what, None, None

    def __enter__(self):
        return self

    def __call__(self, done: int, total: int, name: str = "") -> None:
        if self.progress is None:
            self.progress = Progress(TextColumn(self.what), BarColumn(), MofNCompleteColumn(),
                                     TimeRemainingColumn(), console=err(), transient=True)
            self.progress.start()
            self.task = self.progress.add_task(self.what, total=total)
        self.progress.update(self.task, completed=done)

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()


def _notice_once(message: str) -> None:
    """The 'no model weights' notice: once per machine (a marker in the data directory), not on every call."""
    marker = logdb.data_dir() / "notices" / "no-weights"
    if marker.exists():
        return
    err().print(Text(message + " (said once)", style="dim"), soft_wrap=True)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass


def _stdin_text() -> str:
    """stdin as text; bytes that are not UTF-8 are named, never parsed as characters."""
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PhiflashError(f"stdin is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None


def _read_problem(problem: Optional[str]) -> str:
    if problem is None or problem == "-":
        if sys.stdin is None or (problem is None and sys.stdin.isatty()):
            raise PhiflashError("give a problem, e.g. phiflash solve \"3x^2+4x+5=1\", or pipe one on stdin")
        problem = _stdin_text()
    problem = problem.strip()
    if not problem:
        raise PhiflashError("the problem is empty")
    return problem


# ---- solve ----------------------------------------------------------------------------------------------------


# A problem or answer may start with '-' ("-x+3=0", "-5"): unknown "options" are then arguments, not errors.
ARGS_MAY_START_WITH_DASH = {"ignore_unknown_options": True}


@app.command(cls=Command, context_settings=ARGS_MAY_START_WITH_DASH)
@user_errors
def solve(
    ctx: typer.Context,
    problem: Annotated[Optional[str], typer.Argument(help="The problem; '-' or a pipe reads it from stdin.")] = None,
    engine: Engine = None, model: Model = None,
    temperature: Temperature = CARD.temperature, top_p: TopP = CARD.top_p, max_tokens: MaxTokens = 32768,
    seed: Seed = None,
    system: Annotated[Optional[str], typer.Option(help="A system prompt for the model.")] = None,
    hide_reasoning: Annotated[bool, typer.Option("--hide-reasoning", help="Do not show the model's reasoning while it "
                                                                  "streams.")] = False,
    samples: Annotated[Optional[int], typer.Option(min=1, help="Model samples generated together, their answers "
                                                              "compared (default: 4 when SymPy cannot check the "
                                                              "problem, else 1).")] = None,
    think_budget: Annotated[Optional[int], typer.Option("--think-budget", min=0, help="Most reasoning tokens: "
                                                        "then the model is made to answer (0: no reasoning).")]
    = None,
    speculate: Annotated[Optional[bool], typer.Option("--speculate/--no-speculate",
                                                      help="Draft tokens from the text so far and verify several "
                                                           "per model call: the same output, faster where the "
                                                           "text repeats (default: on; several samples decode "
                                                           "together instead, and the record says so).")] = None,
    early_stop: Annotated[bool, typer.Option("--early-stop/--no-early-stop", help="Stop the other samples once "
                                                                              "the result is settled.")] = True,
    as_json: AsJson = False, quantize: Quantize = None, threads: Threads = None, no_log: NoLog = False,
):
    """Solve a problem and check the answer. Exit status 0 answered, 1 not (the error says why).

    [bold]Examples[/bold]

      phiflash solve "3x^2+4x+5=1"
      phiflash solve "integrate x^2 from 0 to 1" --engine symbolic
      echo "solve the system x+y=3, x-y=1" | phiflash solve --json
      phiflash solve "What is the sum of the first 100 odd numbers?" --model ./phi4flash --temperature 0
    """

    text = _read_problem(problem)
    eng = _engine(ctx, engine, model, quantize, threads)
    console = out()
    if eng.name == "symbolic":
        try:
            result = eng.solve(text)
        except Refused as e:
            if not as_json:
                raise
            rec = refused_record("solve", text, str(e))  # under --json a refusal is a result record, exit 1
            print(json.dumps(rec, ensure_ascii=False))
            logdb.record(rec, no_log)
            raise typer.Exit(1) from None
    else:
        # asking for a thinking budget or speculation without --samples asks for one fast answer
        k = samples or (1 if think_budget is not None or speculate else auto_samples(text))
        with ui.ReasoningStream(console, err(), hide=hide_reasoning or as_json) as stream:
            if k > 1:
                result = eng.solve_samples(text, k, _params(temperature, top_p, seed), max_tokens, system,
                                           on_event=None if as_json else stream, on_status=stream.status,
                                           early_stop=early_stop, think_budget=think_budget,
                                           speculate=bool(speculate))
            else:
                result = eng.solve(text, _params(temperature, top_p, seed), max_tokens, system,
                                   on_event=None if as_json else stream, think_budget=think_budget,
                                   speculate=speculate is not False)
    rec = result.to_record("solve")
    if as_json:
        print(json.dumps(rec, ensure_ascii=False))
    else:
        ui.show_result(console, result)
    logdb.record(rec, no_log)
    if result.finish_reason == "cancelled":
        raise typer.Exit(130)


# ---- check ----------------------------------------------------------------------------------------------------


@app.command(cls=Command, context_settings=ARGS_MAY_START_WITH_DASH)
@user_errors
def check(
    problem: Annotated[str, typer.Argument(help="The problem the answer is for.")],
    answer: Annotated[str, typer.Argument(help="The answer to check (plain math or LaTeX).")],
    expected: Annotated[Optional[str], typer.Option(help="Compare with this answer instead of solving the "
                                                         "problem.")] = None,
    as_json: AsJson = False, no_log: NoLog = False,
):
    """Check an answer: exit status 0 verified, 1 wrong, 2 unverifiable.

    [bold]Examples[/bold]

      phiflash check "3x^2+4x+5=1" "x = -2/3 ± 2√2 i/3"
      phiflash check "2x-1 > 3" "x > 2"
      phiflash check "MATH problem 7" "\\frac{1}{2}" --expected "0.5"
    """

    if not problem.strip():
        raise typer.BadParameter("the problem is empty", param_hint="PROBLEM")
    if not answer.strip():
        raise typer.BadParameter("the answer is empty", param_hint="ANSWER")
    start = time.perf_counter()
    v = check_answer(answer, problem, expected)  # never raises: a failure is an unverifiable verdict
    rec = record.make("check", problem=problem, engine="symbolic", answer=answer,
                      answer_latex=latex_answer(answer), verdict=v.status, reason=v.reason, expected=v.expected,
                      reference=expected, correct=B.correct(v.status) if expected is not None else None,
                      seconds=round(time.perf_counter() - start, 3))
    if as_json:
        print(json.dumps(rec, ensure_ascii=False))
    else:
        console = out()
        console.print(Text(ui.clip(pretty_answer(answer))), soft_wrap=True, overflow="ignore", crop=False)
        console.print(ui.badge(v))
    logdb.record(rec, no_log)
    raise typer.Exit({"verified": 0, "wrong": 1}.get(v.status, 2))


# ---- batch ----------------------------------------------------------------------------------------------------


@app.command(cls=Command)
@user_errors
def batch(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Problems: .txt (one a line), .jsonl or .csv with id, problem, "
                                              "answer.")],
    out_file: Annotated[Optional[Path], typer.Option("--out", "-o", help="Results JSONL (default "
                                                     "FILE.results.jsonl).")] = None,
    engine: Engine = None, model: Model = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Processes for the symbolic engine.")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Prompts generated together by "
                                                                              "the model.")] = 1,
    temperature: Temperature = CARD.temperature, top_p: TopP = CARD.top_p, max_tokens: MaxTokens = 32768,
    seed: Seed = None,
    samples: Annotated[int, typer.Option(min=1, help="Model samples per problem, their answers compared "
                                                    "(consensus / split in the summary).")] = 1,
    quantize: Quantize = None, threads: Threads = None, no_log: NoLog = False,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Solve again the problems whose earlier "
                                                                      "result is an error (others are kept).")]
    = False,
    ray: RayAddress = None, actors: Actors = None, actor_cpus: ActorCpus = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object (scores by subject and "
                                                 "level when the file has those columns).")] = False,
    report: Report = None,
):
    """Solve a file of problems; results are appended as each finishes, and a rerun resumes. Exit status 0, or 3
    when some problems ended in an error (a refused problem is a result, not an error).

    With an `answer` column each result is graded against it with the verdict code of `check --expected`;
    `subject` and `level` columns break the scores down (e.g. MATH-500). A problem that fails becomes an error
    record and the run goes on; `--retry-errors` solves only those again. Rows without an `id` are named
    `line-N` after their line in the file.

    [bold]Examples[/bold]

      phiflash batch examples/problems.jsonl --jobs 2
      phiflash batch math500.jsonl --model ./phi4flash --batch-size 8 --out results.jsonl
      phiflash batch math500.jsonl --model /data/phi4flash --ray auto
    """

    items, warnings = B.read_problems(file)
    console = err()
    _ray_options(ctx, ray, jobs)
    out_path, todo, records = _resume(items, warnings, file, out_file, retry_errors, console)
    params = _params(temperature, top_p, seed)
    job = _ray_job(ctx, engine, model, quantize, params, max_tokens, samples) if ray and todo else None
    eng = _engine(ctx, engine, model, quantize, threads) if todo and not ray else None
    writer = B.ResultWriter(out_path)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        TextColumn("{task.fields[acc]}"), console=console, transient=False)

    def accuracy() -> str:
        s = B.summarize(records)
        return f"accuracy {s['accuracy']:.0%}" if s["accuracy"] is not None else ""

    task = progress.add_task("solving", total=len(items), completed=len(items) - len(todo), acc=accuracy())

    def on_record(rec: dict) -> None:
        writer.write(rec)
        records.append(rec)
        logdb.record(rec, no_log)
        progress.update(task, advance=1, acc=accuracy())

    interrupted = False
    try:
        with _ray_cluster(ray if job else None), progress:
            if job is not None:
                from .cluster import chunked
                tasks_for = (lambda n: chunked(todo, n)) if job.actor_cpus else \
                    (lambda n: [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)])
                _on_ray(job, tasks_for, actors, actor_cpus, on_record, console)
            elif eng is not None and eng.name == "symbolic":
                B.run_symbolic(todo, jobs, on_record)
            elif eng is not None:
                B.run_phi(eng, todo, batch_size, params, max_tokens, on_record, samples)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        writer.close()
    summary = B.summarize(records)
    if as_json:
        print(json.dumps({"summary": summary, "results": str(out_path)}, ensure_ascii=False))
    else:
        _summary_table(out(), summary, out_path)
    if report is not None:
        write_report(records, report, f"phiflash batch: {file.name}", str(file))
        err().print(Text(f"report: {report}"), soft_wrap=True)
    if summary["errors"] and not interrupted:
        err().print(f"{summary['errors']} problem(s) ended in an error; `--retry-errors` solves them again")
    if interrupted:
        err().print(f"interrupted: {len(records)} of {len(items)} done; rerun the same command to resume")
        raise typer.Exit(130)
    if summary["errors"]:
        raise typer.Exit(EXIT_ROW_ERRORS)


def _resume(items: list, warnings: list[str], file: Path, out_file: Optional[Path], retry_errors: bool,
            console: Console) -> tuple[Path, list, list[dict]]:
    """batch and grade: the results path (checked), the rows still to do, and the records already there, in file
    order; the file's warnings and "resuming: …" are said on the way."""
    out_path = out_file or B.default_out(file)
    B.check_out_path(out_path, file)
    for w in warnings:
        console.print(Text(f"warning: {w}", style="yellow"), soft_wrap=True)
    done = B.load_done(out_path, drop_errors=retry_errors)
    todo = [it for it in items if it.id not in done]
    if done:
        console.print(Text(f"resuming: {len(items) - len(todo)} of {len(items)} already in {out_path}", style="dim"))
    return out_path, todo, [done[it.id] for it in items if it.id in done]


def _counts(title: str, rows: list[tuple[str, object]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left", min_width=len(title) + 4)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, value in rows:
        table.add_row(key, str(value))
    return table


def _summary_table(console: Console, s: dict, out_path: Path) -> None:
    """Two meanings kept apart: what SymPy's check of each answer said, and the grade against the answer key."""
    console.print(_counts("batch summary", [("problems", s["problems"]), ("solved", s["solved"]),
                                            ("refused", s["refused"]), ("errors", s["errors"]),
                                            ("mean time", "—" if s["mean_seconds"] is None
                                             else f"{s['mean_seconds']:.2f} s")]))
    checked = [(k, s[k]) for k in ("verified", "wrong", "unverifiable")]
    checked += [(k, s[k]) for k in ("consensus", "split") if s[k]]
    console.print(_counts("checked by SymPy", checked))
    if s["graded"] or s["not graded"]:
        console.print(_counts("against the answer key", [
            ("correct", s["correct"]), ("incorrect", s["incorrect"]), ("not graded", s["not graded"]),
            ("accuracy", "—" if s["accuracy"] is None else f"{s['accuracy']:.1%} of {s['graded']}")]))
    _breakdowns(console, s, ("subject", "level"), "against the answer key, by {key}",
                ("problems", "attempted", "correct", "incorrect", "not graded"),
                "accuracy", lambda v: "—" if v["accuracy"] is None else f"{v['accuracy']:.1%}")
    console.print(Text(f"results: {out_path}"), soft_wrap=True)


def _breakdowns(console: Console, s: dict, keys: tuple[str, ...], title: str, counts: tuple[str, ...],
                share: str, shown: Callable[[dict], str]) -> None:
    """A table per `by_<key>` breakdown of a summary (record.by_column): a row per value, its counts, then its
    share column as `shown` writes it."""
    for key in keys:
        groups = s.get(f"by_{key}")
        if not groups:
            continue
        t = Table(title=title.format(key=key), title_justify="left")
        for col in (key, *counts, share):
            t.add_column(col, justify="left" if col == key else "right")
        for g, v in groups.items():
            t.add_row(g, *(str(v[c]) for c in counts), shown(v))
        console.print(t)


# ---- grade ----------------------------------------------------------------------------------------------------


@app.command(cls=Command)
@user_errors
def grade(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Answers: .csv or .jsonl with problem, answer, and optionally id, "
                                              "student, expected, subject, level.")],
    out_file: Annotated[Optional[Path], typer.Option("--out", "-o", help="Results JSONL (default "
                                                     "FILE.results.jsonl).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Processes.")] = 1,
    report: Report = None, no_log: NoLog = False,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Grade again the rows whose earlier result "
                                                                      "is an error (others are kept).")] = False,
    ray: RayAddress = None, actors: Actors = None, actor_cpus: ActorCpus = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
):
    """Grade given answers (a class's answer sheet, a model's outputs): each is checked against `expected` when
    the row has it, else against the problem solved by SymPy, and a wrong one gets its likely mistake.

    One JSON line per row is appended as each finishes (a rerun resumes); `--report` writes a page a teacher can
    open. A ragged CSV row or an unterminated quote is an error record naming its line, and the rows after it are
    still read. Exit status 0 when every row was graded, 3 when some ended in an error.

    [bold]Examples[/bold]

      phiflash grade class.csv --report class.html
      phiflash grade answers.jsonl --jobs 2 --out graded.jsonl
    """

    from . import grading as G

    items, warnings = G.read_answers(file)
    console = err()
    _ray_options(ctx, ray, jobs)
    out_path, todo, records = _resume(items, warnings, file, out_file, retry_errors, console)
    writer = B.ResultWriter(out_path)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, transient=False)
    task = progress.add_task("grading", total=len(items), completed=len(items) - len(todo))

    def on_record(rec: dict) -> None:
        writer.write(rec)
        records.append(rec)
        logdb.record(rec, no_log)
        progress.update(task, advance=1)

    interrupted = False
    try:
        with _ray_cluster(ray if ray and todo else None), progress:
            if ray:
                from .cluster import GradeJob
                _on_ray(GradeJob(), lambda n: G.chunks(todo), actors, actor_cpus, on_record, console)
            else:
                G.run_grading(todo, jobs, on_record)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        writer.close()
    order = {it.id: k for k, it in enumerate(items)}  # records in file order, whatever order the workers finished
    records.sort(key=lambda r: order.get(str(r.get("id")), len(order)))
    summary = G.summarize(records)
    if as_json:
        print(json.dumps({"summary": summary, "results": str(out_path)}, ensure_ascii=False))
    else:
        _grade_tables(out(), summary, out_path)
    if report is not None and records:
        write_report(records, report, f"phiflash grade: {file.name}", str(file))
        err().print(Text(f"report: {report}"), soft_wrap=True)
    if interrupted:
        err().print(f"interrupted: {len(records)} of {len(items)} graded; rerun the same command to resume")
        raise typer.Exit(130)
    if summary["errors"]:
        err().print(f"{summary['errors']} row(s) ended in an error (their records name the line); "
                    "`--retry-errors` grades them again")
        raise typer.Exit(EXIT_ROW_ERRORS)


def _grade_tables(console: Console, s: dict, out_path: Path) -> None:
    console.print(Text(f"graded {s['graded']}, errors {s['errors']}", style="bold"))
    console.print(_counts("checked by SymPy", list(s["checked"].items())))
    if s["answer_key"] is not None:
        console.print(_counts("against the answer key", list(s["answer_key"].items())))
    _breakdowns(console, s, ("student", "subject", "level"), "by {key}",
                ("rows", "graded", "verified", "wrong", "unverifiable"),
                "share verified", lambda v: "—" if v["share_verified"] is None else f"{v['share_verified']:.0%}")
    console.print(Text(f"results: {out_path}"), soft_wrap=True)


# ---- tutor ----------------------------------------------------------------------------------------------------


@app.command(cls=Command)
@user_errors
def tutor(
    ctx: typer.Context,
    engine: Engine = None, model: Model = None,
    temperature: Temperature = CARD.temperature, top_p: TopP = CARD.top_p,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens per reply.")] = 8192,
    seed: Seed = None, quantize: Quantize = None, threads: Threads = None, no_log: NoLog = False,
    samples: Annotated[int, typer.Option(min=1, help="With the model, samples that check the /steps answer when "
                                                    "SymPy cannot (1: none).")] = 4,
):
    """An interactive tutoring session: hints step by step, your working checked line by line, and a wrong
    answer's likely error named.

    Type a problem, then /hint, a line of your working (2x = 8), your answer, /steps, /new, /save FILE(.md),
    /load FILE, /help or /quit. The model's reasoning is never shown here. Ctrl-C stops the current reply; Ctrl-D
    leaves.

    [bold]Examples[/bold]

      phiflash tutor
      phiflash tutor --engine symbolic
    """

    eng = _engine(ctx, engine, model, quantize, threads)
    console = out()
    view = ui.RichTutorView(console, err())
    session = TutorSession(eng, view, _params(temperature, top_p, seed), max_tokens,
                           log=lambda **kw: logdb.record(record.make("tutor", engine=eng.name, **kw), no_log),
                           samples=samples)
    console.print(Text(f"phiflash tutor · {eng.name} engine · /help for commands", style="bold"))
    for line in _lines():
        if not session.handle(line):
            break


def _lines():
    """Lines typed at a prompt with editing and history, or read from a pipe."""
    if sys.stdin is not None and sys.stdin.isatty():
        logdb.data_dir().mkdir(parents=True, exist_ok=True)
        from prompt_toolkit import PromptSession  # the tutor's line editor: not loaded by other commands
        from prompt_toolkit.history import FileHistory

        prompt = PromptSession(history=FileHistory(str(logdb.data_dir() / "tutor_history")))
        while True:
            try:
                yield prompt.prompt("› ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                return
    else:
        stream = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else None
        for raw in stream if stream is not None else sys.stdin:
            if isinstance(raw, str):
                yield raw
                continue
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                err().print(Text("that line is not UTF-8 text: skipped", style="red"))


# ---- download, info, log --------------------------------------------------------------------------------------


@app.command(cls=Command)
@user_errors
def serve(
    ctx: typer.Context,
    engine: Engine = None, model: Model = None,
    host: Annotated[str, typer.Option(help="Address to listen on (another machine can reach it only if you say "
                                           "0.0.0.0 or its address).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="PHIFLASH_API_KEY",
                                                   help="Require 'Authorization: Bearer KEY'.")] = None,
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="Rows decoding at once (n samples of a "
                                                                    "request are n rows).")] = 8,
    max_queue: Annotated[int, typer.Option("--max-queue", min=0, help="Requests waiting for a row; past that "
                                                                      "the server answers 429.")] = 32,
    model_name: Annotated[str, typer.Option("--model-name", help="The model id clients name.")] = "",
    quantize: Quantize = None, threads: Threads = None,
):
    """Serve the OpenAI chat completions API (with SymPy's verdict on each answer) until Ctrl-C.

    [bold]Examples[/bold]

      phiflash serve --model ./phi4flash
      curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
        -d '{"messages": [{"role": "user", "content": "Solve 3x^2+4x+5=1"}]}'
    """
    import socket

    from .server import MODEL_ID, Scheduler, Served

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise PhiflashError(f"cannot listen on {host}:{port} ({e.strerror}): choose another --port") from None
    eng = _engine(ctx, engine, model, quantize, threads)
    sched = Scheduler(eng.model, eng.tokenizer, max_rows, max_queue) if eng.name == "phi" else None
    served = Served(eng, model_name or MODEL_ID, api_key, scheduler=sched)
    run_server(served, host, port)


def run_server(served, host: str, port: int) -> None:
    """uvicorn until Ctrl-C or SIGTERM, which stop new connections and let requests in flight finish."""
    import uvicorn

    from .server import build_app

    if served.scheduler is not None:
        served.scheduler.start()
    err().print(Text(f"phiflash serve · {served.engine.name} engine · model {served.model_id} · "
                     f"http://{host}:{port}/v1 · Ctrl-C stops", style="dim"), soft_wrap=True)
    try:
        uvicorn.run(build_app(served), host=host, port=port, log_level="warning", timeout_graceful_shutdown=60)
    finally:
        if served.scheduler is not None:
            served.scheduler.stop()


@app.command(cls=Command)
@user_errors
def download(dir: Annotated[Optional[Path], typer.Option("--dir", help="Where to put the files (default: the "
                                                         "Hugging Face cache, where phiflash finds them).")] = None):
    """Fetch the official checkpoint (config, safetensors shards, tokenizer), resumably.

    [bold]Example[/bold]

      phiflash download --dir ~/models/phi4flash
    """
    err().print(f"downloading {hub.REPO_ID} (about 7.7 GB)…")
    path = hub.download(dir)
    out().print(Text(f"model files in {path}"), soft_wrap=True)  # a path is copied whole: never wrapped


@app.command("quantize", cls=Command)
@user_errors
def quantize_(
    src: Annotated[Path, typer.Argument(help="The checkpoint directory to quantize (bf16, official layout).")],
    dst: Annotated[Path, typer.Argument(help="A new directory for the quantized checkpoint.")],
    to: Annotated[str, typer.Option("--to", help="int4 (about 2.5 GB read per token) or int8 (about 3.9 GB).")]
    = "int4",
    head: Annotated[Optional[str], typer.Option(help="The lm_head's mode (default: the same as --to).")] = None,
):
    """Write a quantized copy of a checkpoint that loads in seconds (the tokenizer files come along).

    It reads one shard at a time, so memory stays near one shard's size. `--model DST` then uses it as it is.

    [bold]Example[/bold]

      phiflash quantize ~/models/phi4flash ~/models/phi4flash-int4 --to int4
    """
    from ..lm.quantize import MODES
    from ..lm.weights import quantize_checkpoint

    for name, value in (("--to", to), ("--head", head)):
        if value is not None and value not in MODES:
            raise PhiflashError(f"{name} must be int8 or int4, not {value!r}")
    start = time.perf_counter()
    with _Bar("quantizing") as bar:
        path = quantize_checkpoint(src, dst, to, head=head, progress=bar)
    size = sum(f.stat().st_size for f in path.glob("*.safetensors"))
    out().print(Text(f"{to} checkpoint in {path} ({size / 1e9:.2f} GB, {time.perf_counter() - start:.0f} s); use it "
                     f"with --model {path}"), soft_wrap=True)


@app.command(cls=Command)
@user_errors
def info(model: Model = None,
         speed: Annotated[bool, typer.Option("--speed", help="Measure this machine's memory bandwidth for each "
                                                             "weight format and show the tokens/s it allows.")]
         = False):
    """The model's configuration, layer layout, parameter count and memory, and which engine solve uses.

    [bold]Example[/bold]

      phiflash info --model ./phi4flash
    """
    import torch

    from ..lm.cache import cache_bytes
    from ..lm.config import PhiFlashConfig
    from ..lm.sambay import PhiFlashForCausalLM

    path = hub.find_model(model)
    cfg = PhiFlashConfig.from_json(path) if path else PhiFlashConfig()
    console = out()
    console.print(Text(f"model: {path}" if path else "no weights on this machine: showing the official "
                       "configuration; solve uses the symbolic engine", style="bold"), soft_wrap=bool(path))
    with torch.device("meta"):
        m = PhiFlashForCausalLM(cfg)
    n_params = sum(p.numel() for p in {id(p): p for p in m.parameters()}.values())
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[cfg.torch_dtype]
    item = torch.empty((), dtype=dtype).element_size()
    fixed, per_token = cache_bytes(cfg, cfg.max_context, dtype)
    summary = Table(show_header=False, title="configuration", title_justify="left")
    for k, v in [("hidden size / layers", f"{cfg.hidden_size} / {cfg.num_hidden_layers}"),
                 ("heads (query / key-value / dim)", f"{cfg.num_attention_heads} / {cfg.num_key_value_heads} / "
                                                     f"{cfg.head_dim}"),
                 ("Mamba inner / state / conv / dt rank", f"{cfg.d_inner} / {cfg.mamba_d_state} / "
                                                          f"{cfg.mamba_d_conv} / {cfg.dt_rank}"),
                 ("sliding window", str(cfg.window(1))), ("vocabulary", f"{cfg.vocab_size:,}"),
                 ("parameters", f"{n_params:,}"), ("weights", _weights_line(path, n_params * item, cfg.torch_dtype)),
                 ("cache", f"{fixed / 1e6:.1f} MB fixed + {per_token:,} bytes per token"),
                 ("cache at 32K tokens", f"{(fixed + 32768 * per_token) / 1e6:.0f} MB"),
                 ("solve engine", "phi" if path else "symbolic")]:
        summary.add_row(k, v)
    console.print(summary)
    layers = Table(title="layers", title_justify="left")
    for col in ("layers", "kind", "state kept while decoding"):
        layers.add_column(col)
    state = {"mamba": "conv + SSM state", "swa": f"ring of {cfg.window(1)} keys/values",
             "full_attn": "K,V of every token (shared)", "gmu": f"none (reads layer {cfg.memory_layer}'s memory)",
             "cross_attn": f"none (reads layer {cfg.kv_layer}'s K,V)"}
    L, half = cfg.num_hidden_layers, cfg.memory_layer

    def span(a: int, b: int) -> str:  # every other layer from a to b
        return str(a) if a == b else f"{a}, {a + 2}, …, {b}" if b - a > 2 else f"{a}, {b}"

    rows = [(0, half - 2, "mamba"), (1, half - 1, "swa"), (half, half, "mamba"), (half + 1, half + 1, "full_attn"),
            (half + 2, L - 2, "gmu"), (half + 3, L - 1, "cross_attn")]
    for a, b, kind in rows:
        if a <= b:
            note = " (emits the GMU memory)" if a == half and kind == "mamba" else ""
            layers.add_row(span(a, b), kind + note, state[kind])
    console.print(layers)
    _speed_table(console, cfg, path, speed)


def _speed_table(console: Console, cfg, path: Optional[Path], measure: bool) -> None:
    """Bytes a decode step reads in each weight format, and with --speed the tokens/s this machine allows."""
    from ..lm.throughput import matvec_bandwidth, read_bytes
    from ..lm.weights import quantization
    from .engines import DEFAULT_QUANTIZE

    stored = quantization(path) if path else None
    t = Table(title="decode speed (batch 1): bytes read per token" + (" and the bound this machine's measured "
                                                                        "bandwidth gives" if measure else ""),
              title_justify="left")
    for col in ("weights", "GB read per token") + (("kernel", "GB/s measured", "tok/s bound") if measure else ()):
        t.add_column(col, justify="left" if col in ("weights", "kernel") else "right")
    for mode in ("bf16", "int8", "int4"):
        label = mode + (" (this checkpoint)" if stored and stored["mode"] == mode else
                        " (default on CPU)" if mode == DEFAULT_QUANTIZE and not stored else "")
        nbytes = read_bytes(cfg, mode)
        row = [label, f"{nbytes / 1e9:.2f}" if nbytes >= 1e8 else f"{nbytes / 1e9:.5f}"]
        if measure:
            from ..lm import kernels
            kernel = kernels.describe(mode)
            bw = matvec_bandwidth(mode)
            row += [kernel, f"{bw:.1f}", f"{bw * 1e9 / nbytes:.1f}"]
        t.add_row(*row)
    console.print(t)
    if not measure:
        console.print(Text("`phiflash info --speed` measures the bandwidth and the tokens/s it allows", style="dim"))


def _weights_line(path, float_bytes: int, dtype: str) -> str:
    """How big the weights are as this checkpoint stores them: a quantized one by its mode and its files' size."""
    from ..lm.weights import quantization

    stored = quantization(path) if path else None
    if not stored:
        return f"{float_bytes / 1e9:.2f} GB in {dtype}"
    on_disk = sum(f.stat().st_size for f in Path(path).glob("*.safetensors"))
    return f"{on_disk / 1e9:.2f} GB in {stored['mode']} (quantized; {float_bytes / 1e9:.2f} GB in {dtype})"


@app.command("log", cls=Command)
@user_errors
def log_(limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="How many recent entries; 0 for "
                                                                         "all.")] = 20,
         as_json: Annotated[bool, typer.Option("--json", help="Dump the entries as JSON lines, one result record "
                                                      "each.")] = False):
    """Recent solves, checks, grades, tutor turns and batch results from the local log.

    [bold]Examples[/bold]

      phiflash log -n 5
      phiflash log --json > history.jsonl
    """

    rows = logdb.recent(limit or None)
    if as_json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return
    if not rows:
        out().print(Text(f"no entries in {logdb.log_path()}"), soft_wrap=True)
        return
    table = Table(title=f"phiflash log ({logdb.log_path()})", title_justify="left", expand=True)
    fixed = {"time": 16, "command": 7, "engine": 8, "verdict": 12}
    for col in ("time", "command", "engine", "problem", "answer", "verdict"):  # cut with …, never mid-word wraps
        table.add_column(col, no_wrap=True, overflow="ellipsis", width=fixed.get(col),
                         ratio=None if col in fixed else 3 if col == "problem" else 2)
    for r in rows:
        when = dt.datetime.fromisoformat(r["time"]).astimezone().strftime("%Y-%m-%d %H:%M") if r["time"] else ""
        table.add_row(when, r["command"], r["engine"] or "", (r["problem"] or "")[:60], (r["answer"] or "")[:40],
                      r["verdict"] or ("error" if r["error"] else ""))
    out().print(table)


def main(argv: list[str] | None = None) -> None:
    """The console script (argv: the arguments after the program name, default sys.argv[1:]). Usage errors exit
    64, apart from check's 1 (wrong) and 2 (unverifiable)."""
    try:
        code = app(args=argv, standalone_mode=False)
    except click_errors.UsageError as e:
        e.show()
        sys.exit(EXIT_USAGE)
    except click_errors.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except typer.Abort:
        err().print("interrupted")
        sys.exit(130)

    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
