"""Checkpoints in the official layout: config.json plus model.safetensors or shards with an index.

Loading builds the model on the meta device and assigns each tensor as it is read (safetensors only, never
pickle), so no random initialisation happens and peak memory stays near the size of the weights. It is strict:
every missing, unexpected or mis-shaped tensor and every unreadable file is one error naming it.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import PhiFlashConfig
from .errors import CheckpointError
from .model import PhiFlashForCausalLM

INDEX_NAME, SINGLE_NAME = "model.safetensors.index.json", "model.safetensors"
# Kept in float32 whatever the model dtype: the SSM parameters (the scan is float32) and the λ vectors, which the
# official files store in float32 (sambay-spec §3.4).
FLOAT32_KEYS = re.compile(r"\.(A_log|D|dt_proj\.bias|lambda_[qk][12])$")
# Stored in float32 in the official files (sambay-spec §3.4); the rest in the checkpoint dtype.
STORED_FLOAT32 = re.compile(r"\.(A_log|lambda_[qk][12])$")
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def resolve_dtype(dtype: torch.dtype | str | None, config: PhiFlashConfig) -> torch.dtype:
    if dtype is None:
        dtype = config.torch_dtype
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise CheckpointError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
        dtype = DTYPES[dtype]
    return dtype


def weight_map(path: Path) -> dict[str, Path]:
    """Tensor name -> the file holding it, from the index or the single file's header."""
    index = path / INDEX_NAME
    if index.exists():
        try:
            entries = json.loads(index.read_text())["weight_map"]
            assert isinstance(entries, dict)
        except (json.JSONDecodeError, KeyError, AssertionError, UnicodeDecodeError):
            raise CheckpointError(f"{index}: not a valid safetensors index (needs a 'weight_map' object)") from None
        files = {name: path / fname for name, fname in entries.items()}
        for f in sorted(set(files.values())):
            if not f.is_file():
                raise CheckpointError(f"{index} names {f.name}, which is missing from {path}")
        return files
    single = path / SINGLE_NAME
    if not single.is_file():
        raise CheckpointError(f"no {SINGLE_NAME} or {INDEX_NAME} in {path}")
    with _open(single) as f:
        return {name: single for name in f.keys()}


def _open(file: Path):
    try:
        return safe_open(str(file), framework="pt", device="cpu")
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{file}: corrupt or truncated safetensors file ({e})") from None


def expected_keys(model: PhiFlashForCausalLM) -> dict[str, torch.Size]:
    shapes = {k: v.shape for k, v in model.state_dict(keep_vars=True).items()}
    if model.config.tie_word_embeddings:
        shapes.pop("lm_head.weight")
    return shapes


def load_model(path: str | Path, dtype: torch.dtype | str | None = None, device: str | torch.device = "cpu",
               quantize: str | None = None) -> PhiFlashForCausalLM:
    """Load a checkpoint directory. dtype None = the config's torch_dtype; quantize "int8" = weight-only int8."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint directory at {path}")
    config = PhiFlashConfig.from_json(path)
    dtype = resolve_dtype(dtype, config)
    files = weight_map(path)
    with torch.device("meta"):
        model = PhiFlashForCausalLM(config)
    shapes = expected_keys(model)
    tied_head = config.tie_word_embeddings and "lm_head.weight" in files
    missing = sorted(set(shapes) - set(files))
    unexpected = sorted(set(files) - set(shapes) - ({"lm_head.weight"} if tied_head else set()))
    if missing:
        raise CheckpointError(f"{path}: missing tensor {missing[0]}" + (f" (and {len(missing) - 1} more)"
                                                                         if len(missing) > 1 else ""))
    if unexpected:
        raise CheckpointError(f"{path}: unexpected tensor {unexpected[0]}" + (f" (and {len(unexpected) - 1} more)"
                                                                               if len(unexpected) > 1 else ""))
    by_file: dict[Path, list[str]] = defaultdict(list)
    for name in shapes:
        by_file[files[name]].append(name)
    if tied_head:  # a present lm_head copy is checked, then the head stays tied as config.json says
        by_file[files["lm_head.weight"]].append("lm_head.weight")
    state = {}
    for file, names in by_file.items():
        with _open(file) as f:
            present = set(f.keys())
            for name in names:
                if name not in present:
                    raise CheckpointError(f"{file.name}: the index places {name} here but the file lacks it")
                try:
                    t = f.get_tensor(name)
                except (SafetensorError, OSError, RuntimeError) as e:
                    raise CheckpointError(f"{file}: cannot read {name} ({e})") from None
                want = shapes.get(name, shapes["model.embed_tokens.weight"])
                if t.shape != want:
                    raise CheckpointError(f"{name}: shape {list(t.shape)} in {file.name}, "
                                          f"expected {list(want)} from config.json")
                if name == "lm_head.weight" and tied_head:
                    continue
                target = torch.float32 if FLOAT32_KEYS.search(name) else dtype
                state[name] = t.to(device=device, dtype=target)
    model.load_state_dict(state, strict=not config.tie_word_embeddings, assign=True)
    del state  # the model holds the only references now, so quantizing can free each bf16 weight as it goes
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    if quantize is not None:
        from .quantize import quantize_model
        quantize_model(model, quantize)
    return model.eval().requires_grad_(False)


# ---- writing checkpoints (tests, demos, benchmarks) -------------------------------------------------------------


def random_tensor(name: str, shape: torch.Size, config: PhiFlashConfig, g: torch.Generator) -> torch.Tensor:
    """A float32 tensor for checkpoint key `name`, in the ranges a trained model has (S4D-real A, dt in
    [1e-3, 1e-1], unit-ish norms, small λ, 1/√fan_in projections). For tests, demos and benchmarks."""
    if name.endswith("A_log"):
        return torch.log(torch.arange(1, config.mamba_d_state + 1, dtype=torch.float32)).expand(shape).clone()
    if name.endswith(".D"):
        return torch.ones(shape)
    if name.endswith("dt_proj.bias"):
        dt = torch.exp(torch.rand(shape, generator=g) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        return dt + torch.log(-torch.expm1(-dt))  # inverse softplus
    if "norm" in name or "subln" in name:
        return (1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(shape, generator=g)
    if "lambda" in name:
        return 0.1 * torch.randn(shape, generator=g)
    return torch.randn(shape, generator=g) * (0.5 / math.sqrt(shape[-1]))


def init_random_(model: PhiFlashForCausalLM, seed: int = 0) -> PhiFlashForCausalLM:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(random_tensor(name, p.shape, model.config, g))
    return model


def random_model(config: PhiFlashConfig, seed: int = 0, dtype: torch.dtype = torch.float32) -> PhiFlashForCausalLM:
    model = init_random_(PhiFlashForCausalLM(config), seed)
    for name, p in model.named_parameters():
        if not FLOAT32_KEYS.search("." + name):
            p.data = p.data.to(dtype)
    return model.eval().requires_grad_(False)


def save_checkpoint(model: PhiFlashForCausalLM, path: str | Path, shards: int = 1,
                    dtype: torch.dtype | None = None) -> Path:
    """Write config.json and the weights in the official layout: tied head omitted, A_log and λ in float32.

    With shards=2 the embedding and layers 0..L/2+1 go to the first file, the rest to the second, as upstream.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    dtype = dtype or model.dtype
    _write_config(path, cfg, dtype)
    state = {}
    for name, t in model.state_dict().items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        state[name] = t.detach().to("cpu", _storage_dtype(name, dtype)).contiguous()
    if shards == 1:
        save_file(state, str(path / SINGLE_NAME), metadata={"format": "pt"})
        return path
    if shards != 2:
        raise ValueError("shards must be 1 or 2")

    names = [f"model-0000{i}-of-00002.safetensors" for i in (1, 2)]
    parts = [{k: v for k, v in state.items() if _first_shard(k, cfg)},
             {k: v for k, v in state.items() if not _first_shard(k, cfg)}]
    for fname, part in zip(names, parts):
        save_file(part, str(path / fname), metadata={"format": "pt"})
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total},
             "weight_map": {k: names[0] if _first_shard(k, cfg) else names[1] for k in sorted(state)}}
    (path / INDEX_NAME).write_text(json.dumps(index, indent=2))
    return path


def write_random_checkpoint(path: str | Path, config: PhiFlashConfig, dtype: torch.dtype = torch.bfloat16,
                            seed: int = 0) -> Path:
    """A random checkpoint in the official two-shard layout, written one shard at a time so a full-size (7.7 GB)
    model never needs a float32 copy in memory."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with torch.device("meta"):
        model = PhiFlashForCausalLM(config)
    shapes = expected_keys(model)
    _write_config(path, config, dtype)
    names = [f"model-0000{i}-of-00002.safetensors" for i in (1, 2)]
    g = torch.Generator().manual_seed(seed)
    weight_map, total = {}, 0
    for shard, fname in enumerate(names):
        part = {}
        for name, shape in shapes.items():
            if (_first_shard(name, config) != (shard == 0)):
                continue
            part[name] = random_tensor(name, shape, config, g).to(_storage_dtype(name, dtype))
            weight_map[name] = fname
            total += part[name].numel() * part[name].element_size()
        save_file(part, str(path / fname), metadata={"format": "pt"})
        del part
    (path / INDEX_NAME).write_text(json.dumps({"metadata": {"total_size": total},
                                               "weight_map": dict(sorted(weight_map.items()))}, indent=2))
    return path


def _storage_dtype(name: str, dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if STORED_FLOAT32.search(name) else dtype


def _write_config(path: Path, config: PhiFlashConfig, dtype: torch.dtype) -> None:
    data = config.to_dict() | {"torch_dtype": str(dtype).removeprefix("torch."),
                               "architectures": ["Phi4FlashForCausalLM"]}
    (path / "config.json").write_text(json.dumps(data, indent=2))


def _first_shard(name: str, config: PhiFlashConfig) -> bool:
    """Upstream's split: the embedding and layers 0..L/2+1 in the first file."""
    m = re.match(r"model\.layers\.(\d+)\.", name)
    return name.startswith("model.embed_tokens") or (m is not None and int(m.group(1)) <= config.kv_layer)
