"""Where the model comes from: --model, PHIFLASH_MODEL, or the Hugging Face cache (found without network), and
`phiflash download`. Nothing here imports torch; huggingface_hub is imported only to download.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import PhiflashError

REPO_ID = "microsoft/Phi-4-mini-flash-reasoning"
# Only what phiflash reads: no remote code, no pickles.
ALLOW_PATTERNS = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt", "*.safetensors",
                  "model.safetensors.index.json", "LICENSE"]


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                               / "huggingface"))
    return home / "hub"


def cached_snapshot(repo_id: str = REPO_ID) -> Path | None:
    """The cached snapshot of repo_id's main revision, if one with weights is on disk (no network)."""
    repo = hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    ref = repo / "refs" / "main"
    candidates = []
    if ref.is_file():
        candidates.append(repo / "snapshots" / ref.read_text().strip())
    if (repo / "snapshots").is_dir():
        candidates.extend(sorted((repo / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime, reverse=True))
    for snap in candidates:
        if (snap / "config.json").is_file() and ((snap / "model.safetensors.index.json").is_file()
                                                 or (snap / "model.safetensors").is_file()):
            return snap
    return None


def find_model(model: str | Path | None = None) -> Path | None:
    """--model, else $PHIFLASH_MODEL, else the HF cache entry; None when no weights are on this machine."""
    chosen = model or os.environ.get("PHIFLASH_MODEL")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_dir():
            raise PhiflashError(f"model directory {path} does not exist")
        return path
    return cached_snapshot()


def download(local_dir: str | Path | None = None, repo_id: str = REPO_ID) -> Path:
    """Fetch the checkpoint (config, safetensors, tokenizer files); resumes partial downloads."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise PhiflashError("downloading needs huggingface_hub: pip install huggingface_hub") from None
    try:
        path = snapshot_download(repo_id=repo_id, allow_patterns=ALLOW_PATTERNS,
                                 local_dir=str(local_dir) if local_dir else None)
    except Exception as e:  # network, disk, auth: one line for the user
        raise PhiflashError(f"download of {repo_id} failed: {e}") from None
    return Path(path)
