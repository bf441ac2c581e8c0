"""`batch --ray` and `grade --ray`: the rows of a file spread over the actors of a Ray cluster, each actor holding an
engine loaded once. Records come back to the driver, which writes the results file exactly as a local run does
(one line per id, flushed and synced; resume; --retry-errors; the summary), so a driver killed at any moment
resumes with no duplicate and no lost line.

Faults: an actor that dies is replaced by a fresh one; the task it was running runs again, its rows one per task,
and a row that killed TRIES actors becomes an error record naming the cause (tasks only queued on it run again,
uncharged). A task once charged runs alone on an idle actor from then on, so a task wrongly charged (it finished
just before the death, its result not yet delivered) is charged at most once. Ray is optional
(`pip install 'phiflash[ray]'`) and imported only here, only when --ray is given.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import PhiflashError, one_line

TRIES = 3            # actors a row may kill before it becomes an error record
IN_FLIGHT = 2        # tasks queued on each actor, so it never waits for the driver between tasks
LOCAL_STORE = 128 << 20  # object store of a cluster started here: records are small, models never travel


class NoRay(PhiflashError):
    pass


def need_ray():
    try:
        import ray
    except ImportError:
        raise NoRay("--ray needs Ray, which is not installed: pip install 'phiflash[ray]'") from None
    return ray


# ---- what an actor does -------------------------------------------------------------------------------------------
# A job is picklable: it travels to each actor, which calls setup(cpus) once and run(state, task) per task. A task is
# a list of rows; died(task, why) makes their error records.


@dataclass(frozen=True)
class SolveJob:
    """batch with the symbolic engine: a task is a few items (one each would spend more on Ray than on most
    problems: MATH-500's median solve or refusal takes 2 ms)."""
    actor_cpus = 1   # CPUs an actor needs (None: a whole node's)

    def setup(self, cpus: int):
        return None

    def run(self, state, items: list) -> list[dict]:
        from .batch import solve_symbolic
        return [solve_symbolic(it) for it in items]

    def died(self, items: list, why: str) -> list[dict]:
        from .batch import record_for
        return [record_for(it, error=why) for it in items]


@dataclass(frozen=True)
class GradeJob:
    """grade: a task is rows of one problem (grading.chunks), graded together so the problem is solved once."""
    actor_cpus = 1

    def setup(self, cpus: int):
        return None

    def run(self, state, rows: list) -> list[dict]:
        from .grading import grade_chunk
        return grade_chunk(rows)

    def died(self, rows: list, why: str) -> list[dict]:
        from .grading import failed
        return [failed(it, why) for it in rows]


@dataclass(frozen=True)
class ModelJob(SolveJob):
    """batch with the model: each actor loads it once (quantized once per node, into that node's data directory)
    with the CPUs Ray gave it as threads; a task is up to --batch-size items, decoded together."""
    model: str
    quantize: str | None
    params: object
    max_tokens: int
    samples: int
    actor_cpus = None   # one actor per node by default: a model's threads share its memory bandwidth

    def setup(self, cpus: int):
        from .engines import make_engine
        return make_engine("phi", self.model, self.quantize, threads=max(1, cpus))

    def run(self, engine, items: list) -> list[dict]:
        from .batch import run_phi
        out: list[dict] = []
        run_phi(engine, items, len(items), self.params, self.max_tokens, out.append, self.samples)
        return out


def chunked(rows: list, actors: int, most: int = 16) -> list[list]:
    """Rows in tasks of up to `most`, at least ~8 tasks per actor so that the last ones still balance."""
    size = max(1, min(most, len(rows) // max(1, 8 * actors)))
    return [rows[i:i + size] for i in range(0, len(rows), size)]


class Worker:
    """The actor: a job's state, set up once. ray.remote() makes it an actor class at run time (Ray is optional)."""

    def __init__(self, job):
        import ray

        os.environ["PHIFLASH_NO_LOG"] = "1"   # the driver logs each record once, on its own machine
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        self.job, self.state = job, job.setup(max(1, int(cpus)))

    def ready(self) -> bool:
        return True

    def run(self, task):
        return self.job.run(self.state, task)


# ---- the driver -------------------------------------------------------------------------------------------------


def connect(address: str) -> bool:
    """Join the cluster at `address` (auto: the running one; ray://…: through Ray Client; local: a new one on this
    machine, stopped at the end). True when this call started Ray (the caller shuts it down)."""
    ray = need_ray()
    if ray.is_initialized():
        return False
    global _local_dir
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    _quiet_raylet()
    try:
        if address == "local":
            # a short path: Ray's sockets live in its temp directory, and a socket path has ~100 bytes at most
            _local_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp" if os.path.isdir("/tmp") else None)
            ray.init(address="local", include_dashboard=False, object_store_memory=LOCAL_STORE,
                     _temp_dir=_local_dir, **quiet)
        else:
            _listening(address)
            ray.init(address=address, **quiet)
    except Exception as e:  # noqa: BLE001 - a cluster that is not there is the user's to fix, in one line
        raise PhiflashError(f"cannot reach a Ray cluster at {address!r}: {_first_line(e)}; start one with "
                            "`ray start --head`, or use --ray local") from None
    return True


_local_dir: str | None = None   # the session directory of a cluster started here (its logs, sockets)


def _quiet_raylet() -> None:
    """Ray prints the raylet's error messages (a dead worker's, a paragraph each) to the driver's stdout, where they
    would break --json and the progress bar; phiflash says what happened itself, in one line. PHIFLASH_DEBUG keeps
    them."""
    if os.environ.get("PHIFLASH_DEBUG"):
        return
    try:
        from ray._private import worker
    except ImportError:
        return
    if hasattr(worker, "print_to_stdstream"):
        worker.print_to_stdstream = lambda *args, **kwargs: None


def _listening(address: str, seconds: float = 5.0) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that nothing answers on fails now: Ray itself would retry for minutes."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return   # auto, or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=seconds).close()
    except OSError as e:
        raise PhiflashError(f"nothing answers there ({e.strerror or e})") from None


def disconnect() -> None:
    """Leave the cluster; one started here stops, and its directory goes unless PHIFLASH_DEBUG keeps the logs."""
    global _local_dir
    need_ray().shutdown()
    if _local_dir and not os.environ.get("PHIFLASH_DEBUG"):
        shutil.rmtree(_local_dir, ignore_errors=True)
    _local_dir = None


def cluster_cpus() -> int:
    return max(1, int(need_ray().cluster_resources().get("CPU", 1)))


def node_cpus() -> int:
    """The CPUs of the smallest live node: an actor asking for them fits on every node."""
    cpus = [n["Resources"].get("CPU", 0) for n in need_ray().nodes() if n.get("Alive")]
    return max(1, int(min((c for c in cpus if c), default=1)))


def describe() -> str:
    nodes = [n for n in need_ray().nodes() if n.get("Alive")]
    return f"{len(nodes)} node(s), {cluster_cpus()} CPU(s)"


class Pool:
    """Actors of one job, `cpus` CPUs each. A dead one is replaced (at most TRIES times per actor asked for);
    stop() kills every actor this pool started."""

    def __init__(self, job, size: int, cpus: int):
        ray = need_ray()
        self.ray, self.job = ray, job
        self.remote = ray.remote(num_cpus=cpus, max_restarts=0, max_task_retries=0)(Worker)
        self.started: list = []
        self.spares = TRIES * size
        self.load: dict = {}            # live actor -> tasks queued on it
        self.alone: set = set()         # actors running a suspect (a task charged with a death) with nothing behind
        for _ in range(size):
            self._spawn()
        try:   # a job that cannot start (weights missing on a node…) is the user's error, said once
            ray.get([a.ready.remote() for a in self.load])
        except Exception as e:  # noqa: BLE001
            self.stop()
            raise PhiflashError(f"a Ray actor could not start: {_cause(e)}") from None

    def _spawn(self) -> None:
        actor = self.remote.remote(self.job)
        self.started.append(actor)
        self.load[actor] = 0

    def free(self, alone: bool = False):
        """An actor with room for another task (alone: an idle one), or None. An actor running a suspect takes
        nothing more until it is done."""
        room = 1 if alone else IN_FLIGHT
        return next((a for a, n in self.load.items() if n < room and a not in self.alone), None)

    def submit(self, actor, task, alone: bool = False):
        self.load[actor] += 1
        if alone:
            self.alone.add(actor)
        return actor.run.remote(task)

    def finished(self, actor) -> None:
        if actor in self.load:
            self.load[actor] -= 1
            if not self.load[actor]:
                self.alone.discard(actor)

    def lost(self, actor) -> None:
        """An actor died: replace it if spares remain."""
        if actor in self.load:
            del self.load[actor]
            self.alone.discard(actor)
            self.ray.kill(actor, no_restart=True)
            if self.spares > 0:
                self.spares -= 1
                self._spawn()

    def stop(self) -> None:
        for actor in self.started:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass


def run_on_ray(tasks: list, job, on_record: Callable[[dict], None], actors: int, cpus: int = 1,
               notice: Callable[[str], None] | None = None) -> None:
    """on_record(r) for every record of every task, run on `actors` actors of `cpus` CPUs each, whichever is free
    taking the next task. The actors are stopped at the end, on Ctrl-C and on any error."""
    if not tasks:
        return
    ray = need_ray()
    from ray.exceptions import RayActorError

    pool = Pool(job, max(1, min(actors, len(tasks))), cpus)
    todo = deque((t, 0) for t in tasks)        # (task, times an actor died running it)
    flying: dict = {}                           # ObjectRef -> (actor, task, deaths), in submission order
    try:
        while todo or flying:
            if not pool.load:   # every actor died, none to spare (_lost took their tasks): the rest cannot run
                for task, _ in todo:
                    for r in job.died(task, "every Ray actor died (see the records before this one)"):
                        on_record(r)
                break
            # A task already charged with a death runs alone on an idle actor: if its actor dies again it was the
            # one running, and if another task kills an actor later, this one has surely finished (Ray may not
            # have its result yet when the actor dies just after; a task queued behind it was charged so).
            while todo and (actor := pool.free(alone=todo[0][1] > 0)) is not None:
                task, deaths = todo.popleft()
                flying[pool.submit(actor, task, alone=deaths > 0)] = (actor, task, deaths)
            (ref,), _ = ray.wait(list(flying), num_returns=1)
            actor, task, _ = flying[ref]
            try:
                records = ray.get(ref)
                pool.finished(actor)
            except RayActorError as e:
                _lost(e, actor, flying, pool, todo, job, on_record, notice)
                continue
            except Exception as e:  # noqa: BLE001 - a task that raised (a bug): its rows are errors, the run goes on
                pool.finished(actor)
                records = job.died(task, _first_line(e))
            del flying[ref]
            for r in records:
                on_record(r)
    finally:
        pool.stop()


def _lost(e: Exception, actor, flying: dict, pool: Pool, todo: deque, job, on_record, notice) -> None:
    """An actor died. Its tasks that had finished are kept; of the others, the oldest was running (an actor runs its
    tasks in order): its rows run again one per task, or a single row counts a death; the rest only waited. A row
    that killed TRIES actors becomes an error record."""
    ray = pool.ray
    why = _cause(e)
    if notice:
        notice(f"a Ray actor died ({why}); its tasks run again elsewhere")
    mine = [r for r in flying if flying[r][0] is actor]
    # the results of tasks that finished just before the death may still be on their way: wait for each ref to
    # settle (a result, or the actor's error) rather than read it at once
    ray.wait(mine, num_returns=len(mine), timeout=5)
    unfinished = []
    for ref in mine:
        _, task, deaths = flying.pop(ref)
        try:
            for r in ray.get(ref, timeout=0):
                on_record(r)
        except Exception:  # noqa: BLE001 - it did not finish before the actor died
            unfinished.append((task, deaths))
    pool.lost(actor)
    for k, (task, deaths) in reversed(list(enumerate(unfinished))):
        if k == 0 and len(task) > 1:   # which of its rows killed it is unknown: each runs again alone
            todo.extendleft(([row], deaths) for row in reversed(task))
            continue
        deaths += k == 0
        if deaths < TRIES:
            todo.appendleft((task, deaths))   # with no actor left, the run loop makes them error records
        else:
            for r in job.died(task, f"the Ray actor running it died ({deaths} time(s)): {why}"):
                on_record(r)


def _first_line(e: BaseException) -> str:
    cause = getattr(e, "cause", None)   # a task's own exception inside Ray's wrapper
    text = one_line(cause if isinstance(cause, Exception) else e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def _cause(e: BaseException) -> str:
    """Why an actor died, in one line (Ray's message runs to many): its creation task's error, or the exit detail."""
    text = str(e)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if "creation task" in text:
        errors = [ln for ln in lines if "Error:" in ln or "Exception:" in ln]
        if errors:
            return errors[-1][:300]
    if "Worker exit detail:" in text:   # its first sentence; then Ray lists common causes at length
        return text.split("Worker exit detail:", 1)[1].strip().splitlines()[0].split(". ")[0].strip()[:300]
    return lines[0][:300] if lines else type(e).__name__
