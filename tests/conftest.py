import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
OFFICIAL = SHARED / "reference" / "phi-4-mini-flash-reasoning"
MATH500 = SHARED / "data" / "math500" / "test.jsonl"


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
def chat_checkpoint(tmp_path_factory) -> Path:
    """A tiny random checkpoint with the official vocabulary size and a tokenizer with the official special ids."""
    from phiflash.lm.testing import write_tiny_checkpoint
    return write_tiny_checkpoint(tmp_path_factory.mktemp("chat") / "ckpt")


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
