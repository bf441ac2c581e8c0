import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
OFFICIAL = SHARED / "reference" / "phi-4-mini-flash-reasoning"
MATH500 = SHARED / "data" / "math500" / "test.jsonl"

# ---- determinism -------------------------------------------------------------------------------------------------
# Every run draws the same examples and keeps no example database (it would be written into the repository).
# HYPOTHESIS_PROFILE=explore draws new ones, for a developer hunting bugs; CI never sets it.
settings.register_profile("fixed", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", database=None, deadline=None, print_blob=True, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

# ---- isolation ---------------------------------------------------------------------------------------------------
# Where phiflash and the libraries it uses would write for a user: its data directory (log, quantized copies,
# the rebuilt tokenizer), the Hugging Face cache, the XDG directories, HOME itself.
_HOME_VARS = ("HOME", "PHIFLASH_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "HF_HOME",
              "HF_HUB_CACHE", "MPLCONFIGDIR", "TORCHINDUCTOR_CACHE_DIR")
_USER_VARS = ("PHIFLASH_MODEL", "PHIFLASH_NO_LOG", "PHIFLASH_DEBUG", "PHIFLASH_INLINE")
# pytest-xdist's workers inherit the controller's environment, private home included: the real one is passed on.
REAL_HOME = Path(os.environ.get("PHIFLASH_TESTS_REAL_HOME") or os.environ.get("HOME") or Path.home())
WATCHED = [REAL_HOME / ".local" / "share", REAL_HOME / ".cache", REAL_HOME / ".config"]


def point_home_at(root: Path, setenv) -> None:
    """Every place a user's files live, inside `root`; no network (tests never reach the hub)."""
    for var in _HOME_VARS:
        setenv(var, str(root / var.lower()))
    setenv("HF_HUB_OFFLINE", "1")


def snapshot_outside() -> dict:
    """What a test could write outside its directory: the real home's data, cache and config trees, its top
    level, and the repository's files that git does not track (ignored build outputs aside)."""
    seen = {}
    for top in WATCHED:
        for dirpath, _, files in os.walk(top):
            for name in files:
                p = os.path.join(dirpath, name)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                seen[p] = (st.st_size, st.st_mtime_ns)
    if REAL_HOME.is_dir():
        seen.update({str(p): "entry" for p in REAL_HOME.iterdir()})
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--ignored=matching", "--untracked-files=all"],
                                cwd=REPO, capture_output=True, text=True, timeout=30).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        status = []
    seen.update({line: "repo" for line in status if not any(
        part in line for part in ("__pycache__", ".pytest_cache", ".venv", ".egg-info", ".bench-cache",
                                  ".kernel-cache"))})
    return seen


def changed_outside(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        # pytest-xdist runs one worker per core: a worker whose torch pool took every core would put two threads
        # on each (measured here: the fast tier took 57-61 s so, 47-51 s with one thread per worker).
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Session fixtures and imports at collection also run with a private home, not only the tests.
    os.environ["PHIFLASH_TESTS_REAL_HOME"] = str(REAL_HOME)
    config._phiflash_outside = snapshot_outside()
    config._phiflash_home = Path(tempfile.mkdtemp(prefix="phiflash-tests-"))
    point_home_at(config._phiflash_home, os.environ.__setitem__)
    for var in _USER_VARS:
        os.environ.pop(var, None)
    # phiflash's C++ kernel is built once per source version into the repository's ignored .kernel-cache/, not
    # once per run into the private home (a build takes ~20 s); a fresh clone builds it in its first run.
    os.environ.setdefault("PHIFLASH_KERNEL_CACHE", str(REPO / ".kernel-cache"))
    (config._phiflash_home / "tmp").mkdir()
    # Hypothesis keeps caches (its Unicode tables) in .hypothesis/ of the working directory: not in the repository
    from hypothesis.configuration import set_hypothesis_home_dir
    set_hypothesis_home_dir(config._phiflash_home / "hypothesis")
    os.environ["TMPDIR"] = tempfile.tempdir = str(config._phiflash_home / "tmp")


def pytest_report_header(config):
    """Which kernel paths this run exercises, as the running torch reports them (ATEN_CPU_CAPABILITY forces one)."""
    try:
        import torch

        from phiflash.lm import kernels, ops
    except ImportError:
        return None
    fused = "fused" if ops.fused_attention_works(torch.bfloat16) else "math kernel (fused does not run here)"
    return (f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}"
            f" (ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', 'unset')}); int8 and int4 kernels: "
            f"{kernels.describe()} (this CPU runs {', '.join(kernels.supported_paths())}); bf16 prefill attention: "
            f"{fused}")


def pytest_sessionfinish(session, exitstatus):
    """The whole run fails if any test wrote outside its temporary directory (the real home, the repository)."""
    config = session.config
    if hasattr(config, "_phiflash_home"):
        shutil.rmtree(config._phiflash_home, ignore_errors=True)
    if not hasattr(config, "_phiflash_outside") or hasattr(config, "workerinput"):
        return
    changed = changed_outside(config._phiflash_outside, snapshot_outside())
    if changed:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line("tests wrote outside their temporary directories: " + ", ".join(changed[:10]),
                                red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Each test gets its own PHIFLASH_HOME, HOME, XDG directories, Hugging Face cache and temporary directory
    (tempfile's, and TMPDIR for the processes it starts), inside tmp_path."""
    point_home_at(tmp_path / "user", monkeypatch.setenv)
    for var in _USER_VARS:
        monkeypatch.delenv(var, raising=False)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # gettempdir() caches its first answer
    return tmp_path / "user"


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same random state, whatever ran before it on its worker: an unseeded
    torch.randint otherwise depends on the order pytest-xdist happens to give the tests."""
    import random
    random.seed(0)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)


class _ParsedOnce:
    """tokenizers.Tokenizer with from_file remembered per (path, size, mtime). The test checkpoints carry the real
    13 MB tokenizer.json, which takes about a second to parse, and dozens of in-process command-line runs load it.
    Everything else (the constructor, the other class methods) is the library's own; phiflash never changes a
    tokenizer after loading it, so sharing the parsed object is safe."""

    def __init__(self, real):
        self._real, self._parsed = real, {}

    def from_file(self, path):
        st = os.stat(path)
        key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
        if key not in self._parsed:
            self._parsed[key] = self._real.from_file(path)
        return self._parsed[key]

    def __call__(self, *args, **kwargs):
        return self._real(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture(scope="session", autouse=True)
def tokenizer_files_parsed_once():
    import tokenizers
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tokenizers, "Tokenizer", _ParsedOnce(tokenizers.Tokenizer))
        yield


@pytest.fixture(scope="session")
def official_dir() -> Path:
    if not OFFICIAL.is_dir():
        pytest.fail(f"the official reference files are expected at {OFFICIAL}")
    return OFFICIAL


@pytest.fixture(scope="session")
def math500_rows() -> list[dict]:
    if not MATH500.is_file():
        pytest.fail(f"MATH-500 is expected at {MATH500}")
    return [json.loads(line) for line in MATH500.read_text().splitlines()]


@pytest.fixture(scope="session")
def math500_verdicts(math500_rows) -> dict:
    """The checker's verdicts on MATH-500's reference answers, computed once for every test that needs them:
    'self' (each reference against itself), 'next' (row i's answer against row i+1's reference) and 'prev' (row
    i+1's answer against row i's reference), each a list of Verdicts in row order. In-process: the time limit is
    not what these tests test."""
    from phiflash.symbolic.verify import _check
    refs = [r["answer"] for r in math500_rows]
    pairs = list(zip(refs, refs[1:] + refs[:1]))
    return {"references": refs,
            "self": [_check(a, None, a) for a in refs],
            "next": [_check(a, None, b) for a, b in pairs],
            "prev": [_check(b, None, a) for a, b in pairs]}


@pytest.fixture(scope="session")
def official_index(official_dir) -> dict:
    return json.loads((official_dir / "model.safetensors.index.json").read_text())


@pytest.fixture(scope="session")
def tiny_config():
    from phiflash.lm.config import PhiFlashConfig
    return PhiFlashConfig.tiny()


@pytest.fixture(scope="session")
def tiny_model(tiny_config):
    from phiflash.lm.testing import random_model
    return random_model(tiny_config, seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_model) -> Path:
    """A two-shard float32 checkpoint of tiny_model in the official layout."""
    from phiflash.lm.weights import save_checkpoint
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("tiny") / "ckpt", shards=2)


@pytest.fixture(scope="session")
def tokenizer_cache(request, tmp_path_factory) -> Path:
    """Where the official tokenizer, rebuilt from vocab.json (4 s), is kept: pytest's own cache between runs
    (.pytest_cache/d/, ignored by git; one folder per version of the builder, o200k.py), else this session's
    temporary directory."""
    import hashlib

    from phiflash.lm import o200k
    builder = hashlib.sha256(Path(o200k.__file__).read_bytes()).hexdigest()[:12]   # new code, new cache
    cache = getattr(request.config, "cache", None)
    return (cache.mkdir(f"phiflash-tokenizers-{builder}") if cache is not None
            else tmp_path_factory.mktemp("tokenizers"))


@pytest.fixture(scope="session")
def chat_checkpoint(tmp_path_factory, tokenizer_cache) -> Path:
    """A tiny random checkpoint with the official vocabulary size and a tokenizer with the official special ids."""
    from phiflash.lm.testing import write_tiny_checkpoint
    return write_tiny_checkpoint(tmp_path_factory.mktemp("chat") / "ckpt", tokenizer_cache=tokenizer_cache)


@pytest.fixture(scope="session")
def chat_model(chat_checkpoint):
    from phiflash.lm.weights import load_model
    return load_model(chat_checkpoint)


@pytest.fixture(scope="session")
def chat_tokenizer(chat_checkpoint):
    from phiflash.lm.tokenizer import Tokenizer
    return Tokenizer.from_dir(chat_checkpoint)


class ListView:
    """A tutor view that records what the session shows, as (method, args) pairs."""

    def __init__(self):
        self.lines = []

    def __getattr__(self, name):
        return lambda *a, **k: self.lines.append((name, a))

    def stream(self):
        from contextlib import nullcontext
        return nullcontext(lambda kind, text: None)

    def said(self, kind=None) -> str:
        return "\n".join(str(a[0]) if len(a) == 1 else " ".join(str(x) for x in a if x is not None)
                         for k, a in self.lines if kind is None or k == kind)
