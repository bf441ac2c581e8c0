"""Checkpoints in the official layout: config.json plus model.safetensors or shards with an index.

Loading builds the model on the meta device and assigns each tensor as it is read (safetensors only, never
pickle), so no random initialisation happens and peak memory stays near the size of the weights. It is strict:
every missing, unexpected or mis-shaped tensor and every unreadable file is one error naming it.

A quantized checkpoint (`quantize_checkpoint`, `phiflash quantize`) is the same layout with the big projections
stored quantized and a "quantization" entry in config.json naming each layer's mode:
    <layer>.weight int8 (out, in) in 16-row tiles (quantize.to_tiles8)
        + <layer>.scales float32 (out,)                                                       int8
    <layer>.weight uint8 (out, in/2), two nibbles a byte in 16-row tiles (quantize.to_tiles)
        + <layer>.scales_and_zeros float32 (in/g, out, 2)                                     int4
config.json's "int4_layout" versions the int4 layout: "tiles16" now; "blocks64" (quantize.to_blocks, written
before phiflash had its own kernel) still loads, converted at load time (not mapped). "int8_layout" likewise:
"tiles16" now (layers whose shape does not fit tiles keep rows); absent, rows (checkpoints written before).
The tied lm_head is stored as its own quantized copy; the embedding keeps its rows for the lookup.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import CheckpointError
from . import quantize as Q
from .config import PhiFlashConfig
from .sambay import PhiFlashForCausalLM

INDEX_NAME, SINGLE_NAME = "model.safetensors.index.json", "model.safetensors"
INT4_LAYOUT = "tiles16"  # quantize.to_tiles: the format version of int4 weights in quantized checkpoints
INT4_LAYOUTS = ("tiles16", "blocks64")  # what loads: the current layout and the one before it
INT8_LAYOUT = "tiles16"  # quantize.to_tiles8; checkpoints without an "int8_layout" entry hold rows
# Kept in float32 whatever the model dtype: the SSM parameters (the scan is float32) and the λ vectors, which the
# official files store in float32 (docs/sambay-spec.md §3.4).
FLOAT32_KEYS = re.compile(r"\.(A_log|D|dt_proj\.bias|lambda_[qk][12])$")
# Stored in float32 in the official files (docs/sambay-spec.md §3.4); the rest in the checkpoint dtype.
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
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
            entries = None
        if not isinstance(entries, dict):
            raise CheckpointError(f"{index}: not a valid safetensors index (needs a 'weight_map' object)")
        files = {name: path / fname for name, fname in entries.items()}
        for f in sorted(set(files.values())):
            if not f.is_file():
                raise CheckpointError(f"{index} names {f.name}, which is missing from {path}")
        return files
    single = path / SINGLE_NAME
    if not single.is_file():
        raise CheckpointError(f"no {SINGLE_NAME} or {INDEX_NAME} in {path}")
    with _open(single) as f:
        return {name: single for name in f.keys() if not name.startswith(PAD)}


def _open(file: Path):
    try:
        return safe_open(str(file), framework="pt", device="cpu")
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{file}: corrupt or truncated safetensors file ({e})") from None


_ST_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
              "I8": torch.int8, "U8": torch.uint8, "I16": torch.int16, "I32": torch.int32, "I64": torch.int64,
              "BOOL": torch.bool}


_ST_NAMES = {dtype: name for name, dtype in _ST_DTYPES.items()}
PAD = "__pad__"   # filler tensors between aligned ones: safetensors allows no gaps in its data
ALIGN = 64        # bytes: the int8 kernel's vector loads need weights at 64-byte boundaries


def save_aligned(tensors: dict[str, torch.Tensor], file: Path, metadata: dict[str, str] | None = None,
                 align: int = ALIGN) -> None:
    """A safetensors file in which every tensor's data starts at a multiple of `align` bytes from the file's
    start, so a memory mapping (page aligned) hands out tensors the kernels can use as they are. The header is
    padded with spaces (the format allows it) and a small uint8 `__pad__N` tensor fills each gap; loaders go by
    the index, which never names them."""
    entries: dict = {"__metadata__": metadata} if metadata else {}
    parts, offset = [], 0
    for i, (name, t) in enumerate(tensors.items()):
        gap = -offset % align
        if gap:
            entries[f"{PAD}{i}"] = {"dtype": "U8", "shape": [gap], "data_offsets": [offset, offset + gap]}
            parts.append(torch.zeros(gap, dtype=torch.uint8))
            offset += gap
        t = t.detach().contiguous().cpu()
        n = t.numel() * t.element_size()
        entries[name] = {"dtype": _ST_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        parts.append(t)
        offset += n
    header = json.dumps(entries, separators=(",", ":")).encode()
    header += b" " * (-(8 + len(header)) % align)
    with open(file, "wb") as f:
        f.write(len(header).to_bytes(8, "little"))
        f.write(header)
        for t in parts:
            if t.numel():
                f.write(memoryview(t.reshape(-1).view(torch.uint8).numpy()))


class _Copying:
    """A safetensors file read with plain reads into fresh (64-byte aligned) memory instead of memory-mapped.
    For quantized checkpoints, whose tensors are repacked or kept whole anyway: mapped pages of a file stay in
    the process's memory while any tensor of it lives, which put peak memory at 1.5x the file."""

    def __init__(self, file: Path):
        self.file = file
        try:
            self.fh = open(file, "rb")
            size = int.from_bytes(self.fh.read(8), "little")
            if size <= 0 or size > 100_000_000:
                raise ValueError("bad header size")
            self.header = json.loads(self.fh.read(size))
            self.header.pop("__metadata__", None)
            self.base, self.length = 8 + size, file.stat().st_size
            for name, info in self.header.items():
                begin, end = info["data_offsets"]
                n = _ST_DTYPES[info["dtype"]].itemsize
                for d in info["shape"]:
                    n *= d
                if not 0 <= begin <= end <= self.length - self.base or end - begin != n:
                    raise ValueError(f"{name} lies outside the file or has the wrong size")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{file}: corrupt or truncated safetensors file ({e})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def keys(self):
        return list(self.header)

    def get_tensor(self, name: str) -> torch.Tensor:
        info = self.header[name]
        begin, end = info["data_offsets"]
        buf = torch.empty(end - begin, dtype=torch.uint8)
        self.fh.seek(self.base + begin)
        if self.fh.readinto(memoryview(buf.numpy())) != end - begin:
            raise OSError(f"{self.file} ends inside {name}")
        return buf.view(_ST_DTYPES[info["dtype"]]).reshape(info["shape"])


def expected_keys(model: PhiFlashForCausalLM) -> dict[str, torch.Size]:
    shapes = {k: v.shape for k, v in model.state_dict(keep_vars=True).items()}
    if model.config.tie_word_embeddings:
        shapes.pop("lm_head.weight")
    return shapes


def load_model(path: str | Path, dtype: torch.dtype | str | None = None, device: str | torch.device = "cpu",
               quantize: str | None = None, scan: str = "loop") -> PhiFlashForCausalLM:
    """Load a checkpoint directory. dtype None = the config's torch_dtype; quantize "int8" or "int4" = quantize
    the big projections while loading (a checkpoint already quantized loads as it is stored); scan: the prefill
    scan (PhiFlashForCausalLM)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint directory at {path}")
    config = PhiFlashConfig.from_json(path)
    stored = quantization(path)
    if stored and quantize not in (None, stored["mode"]):
        raise CheckpointError(f"{path} is already quantized to {stored['mode']}: load it without quantize, or "
                              f"quantize the original checkpoint to {quantize}")
    dtype = resolve_dtype(dtype, config)
    files = weight_map(path)
    with torch.device("meta"):
        model = PhiFlashForCausalLM(config, scan=scan)
    shapes = expected_keys(model)
    layers = stored["layers"] if stored else {}
    for layer, mode in layers.items():
        shapes.update(_quantized_shapes(layer, mode, shapes.pop(f"{layer}.weight", None) or
                                        model.get_submodule(layer).weight.shape, stored["group_size"]))
    tied_head = config.tie_word_embeddings and "lm_head.weight" in files and "lm_head" not in layers
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
    # A quantized checkpoint the kernels can use as stored is used as mapped: nothing is copied, so it "loads"
    # at once and pages in on first use, as bf16 does. That needs the weights in the layout their kernel reads:
    # tiles for phiflash's kernels (on every CPU); for torch's, int4 in the old blocks (its AVX-512 layout) and
    # int8 rows at 64-byte boundaries (written so since the "alignment" entry). Anything converted or copied is
    # read with plain reads, so the mapping never sits beside its copies.
    as_mapped = stored and torch.device(device).type == "cpu" and _used_as_stored(stored, model)
    opener = _Copying if stored and not as_mapped else _open
    for file, names in by_file.items():
        with opener(file) as f:
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
                if _layer_of(name, layers) is not None:
                    state[name] = t.to(device)  # quantized numbers keep their dtype
                    continue
                target = torch.float32 if FLOAT32_KEYS.search(name) else dtype
                state[name] = t.to(device=device, dtype=target)
            # quantized layers are built from their stored numbers (never re-quantized) while this file is
            # open, so the memory-mapped parts are dropped before the next file is read
            for layer in [lay for lay in layers if f"{lay}.weight" in state]:
                _build_quantized(model, layer, layers[layer], state, dtype, stored["group_size"],
                                 stored["int4_layout"], stored.get("int8_layout", "rows"))
    model.load_state_dict(state, strict=False, assign=True)
    del state  # the model holds the only references now, so quantizing can free each float weight as it goes
    if config.tie_word_embeddings and "lm_head" not in layers:
        model.lm_head.weight = model.model.embed_tokens.weight
    if quantize is not None and not stored:
        Q.quantize_model(model, quantize)
    return model.eval().requires_grad_(False)


def _build_quantized(model, layer: str, mode: str, state: dict, dtype: torch.dtype, group_size: int,
                     stored_layout: str, stored_int8_layout: str) -> None:
    parent_name, _, child = layer.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    bias = state.pop(f"{layer}.bias", None)
    if mode == "int8":
        weight = state.pop(f"{layer}.weight")
        new = Q.Int8Linear(weight, state.pop(f"{layer}.scales"), bias, dtype,
                           layout=_int8_layout(stored_int8_layout, *weight.shape))
    else:
        new = Q.Int4Linear(state.pop(f"{layer}.weight"), state.pop(f"{layer}.scales_and_zeros"), bias, dtype,
                           group_size, layout=stored_layout)
    setattr(parent, child, new)


def _int8_layout(stored: str, n: int, k: int) -> str:
    """The layout one int8 layer is stored in: the checkpoint's, where the shape fits tiles."""
    return stored if stored == "rows" or Q.int8_tiles_fit(n, k) else "rows"


def _used_as_stored(stored: dict, model) -> bool:
    """Whether every quantized layer's kernel reads its stored weight as it lies (so the file can stay mapped):
    tiles for phiflash's kernels; for torch's, int4 in the old blocks where that is its layout on this CPU, and
    int8 rows at 64-byte boundaries (the "alignment" entry)."""
    for layer, mode in stored["layers"].items():
        n, k = model.get_submodule(layer).weight.shape
        if mode == "int8":
            layout, kernel = _int8_layout(stored.get("int8_layout", "rows"), n, k), Q.int8_kernel(n, k)
            torch_reads_it = layout == "rows" and stored.get("alignment") == ALIGN
        else:
            layout, kernel = stored["int4_layout"], Q.int4_kernel(n, k, stored["group_size"])
            torch_reads_it = layout == "blocks64" and Q.blocks_are_kernel_layout()
        reads_it = layout == "tiles16" if kernel == "phiflash" else (kernel == "torch" and torch_reads_it)
        if not reads_it:
            return False
    return True


def quantization(path: str | Path) -> dict | None:
    """The "quantization" entry of a checkpoint's config.json (None for an ordinary checkpoint), checked."""
    try:
        raw = json.loads((Path(path) / "config.json").read_text()).get("quantization")
    except (OSError, ValueError, AttributeError):
        return None
    if raw is None:
        return None
    ok = (isinstance(raw, dict) and raw.get("mode") in Q.MODES and isinstance(raw.get("group_size"), int)
          and isinstance(raw.get("layers"), dict) and all(m in Q.MODES for m in raw["layers"].values())
          and raw.get("int4_layout") in INT4_LAYOUTS and raw.get("int8_layout", "rows") in ("rows", INT8_LAYOUT))
    if not ok:
        raise CheckpointError(f"{path}/config.json: the 'quantization' entry is not valid")
    return raw


def _layer_of(name: str, layers: dict) -> str | None:
    prefix, _, leaf = name.rpartition(".")
    return prefix if prefix in layers and leaf in ("weight", "scales", "scales_and_zeros") else None


def _quantized_shapes(layer: str, mode: str, shape, group_size: int) -> dict[str, torch.Size]:
    n, k = shape
    if mode == "int8":
        return {f"{layer}.weight": torch.Size([n, k]), f"{layer}.scales": torch.Size([n])}
    return {f"{layer}.weight": torch.Size([n, k // 2]),
            f"{layer}.scales_and_zeros": torch.Size([k // group_size, n, 2])}


def quantize_checkpoint(src: str | Path, dst: str | Path, mode: str, group_size: int = Q.GROUP_SIZE,
                        head: str | None = None, progress=None) -> Path:
    """Write a quantized copy of a checkpoint, one source file at a time (peak memory: one shard's output plus
    the tensor being quantized). Tokenizer and other small files are copied. The copy is made in DST.partial
    and renamed at the end, so an interrupted run never leaves a checkpoint that looks complete.
    `progress(done, total, name)` is called per tensor."""
    import shutil

    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    if mode not in Q.MODES:
        raise CheckpointError(f"unknown quantization {mode!r}: choose {' or '.join(Q.MODES)}")
    if quantization(src):
        raise CheckpointError(f"{src} is already quantized")
    if dst.exists() and any(dst.iterdir()):
        raise CheckpointError(f"{dst} exists and is not empty: choose a new directory")
    config = PhiFlashConfig.from_json(src)
    files = weight_map(src)
    with torch.device("meta"):
        layers = Q.layer_modes(PhiFlashForCausalLM(config), mode, head, group_size)
    tied = config.tie_word_embeddings
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    index, total, done = {}, 0, 0
    n_tensors = len(files)
    for file in sorted(set(files.values())):
        out: dict[str, torch.Tensor] = {}
        with _open(file) as f:
            for name in f.keys():
                done += 1
                if progress:
                    progress(done, n_tensors, name)
                if tied and name == "lm_head.weight":
                    continue  # the head is written from the embedding below
                t = f.get_tensor(name)
                layer = name.removesuffix(".weight") if name.endswith(".weight") else None
                if layer in layers:
                    out.update(_quantized(layer, layers[layer], t, group_size))
                else:
                    out[name] = t
                if tied and name == "model.embed_tokens.weight":
                    out.update(_quantized("lm_head", layers["lm_head"], t, group_size))
                del t
        save_aligned(out, tmp / file.name, metadata={"format": "pt"})
        for name, t in out.items():
            index[name] = file.name
            total += t.numel() * t.element_size()
        del out
    (tmp / INDEX_NAME).write_text(json.dumps({"metadata": {"total_size": total},
                                              "weight_map": dict(sorted(index.items()))}, indent=2))
    raw = json.loads((src / "config.json").read_text())
    raw["quantization"] = {"mode": mode, "group_size": group_size, "head": layers["lm_head"],
                           "int4_layout": INT4_LAYOUT, "int8_layout": INT8_LAYOUT, "alignment": ALIGN,
                           "layers": layers}
    (tmp / "config.json").write_text(json.dumps(raw, indent=2))
    for other in src.iterdir():
        if other.is_file() and other.suffix != ".safetensors" and other.name not in (INDEX_NAME, "config.json"):
            shutil.copy2(other, tmp / other.name)
    if dst.exists():
        dst.rmdir()
    tmp.rename(dst)
    return dst


def _quantized(layer: str, mode: str, w: torch.Tensor, group_size: int) -> dict[str, torch.Tensor]:
    if mode == "int8":
        q, scale = Q.quantize_int8(w)
        tiled = Q.to_tiles8(q) if _int8_layout(INT8_LAYOUT, *q.shape) == "tiles16" else q
        return {f"{layer}.weight": tiled, f"{layer}.scales": scale}
    nibbles, sz = Q.quantize_int4(w, group_size)
    return {f"{layer}.weight": Q.to_tiles(nibbles), f"{layer}.scales_and_zeros": sz}


# ---- writing checkpoints in the official layout ----------------------------------------------------------------


def save_checkpoint(model: PhiFlashForCausalLM, path: str | Path, shards: int = 1,
                    dtype: torch.dtype | None = None) -> Path:
    """Write config.json and the weights in the official layout: tied head omitted, A_log and λ in float32.

    With shards=2 the embedding and layers 0..L/2+1 go to the first file, the rest to the second, as upstream.
    """
    state = model.state_dict()
    return write_checkpoint(path, model.config, dtype or model.dtype,
                            lambda name, shape: state[name].detach().to("cpu"), shards=shards)


def write_checkpoint(path: str | Path, config: PhiFlashConfig, dtype: torch.dtype, tensor, shards: int = 2) -> Path:
    """The one shard writer: config.json plus one file or two shards and an index, every key of the official
    layout, `tensor(name, shape)` called for each key in the order of the file it lands in, so a full-size
    checkpoint is written one shard at a time and never held whole in memory."""
    if shards not in (1, 2):
        raise ValueError("shards must be 1 or 2")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with torch.device("meta"):
        shapes = expected_keys(PhiFlashForCausalLM(config))
    _write_config(path, config, dtype)
    if shards == 1:
        state = {n: tensor(n, s).to(_storage_dtype(n, dtype)).contiguous() for n, s in shapes.items()}
        save_file(state, str(path / SINGLE_NAME), metadata={"format": "pt"})
        return path
    names = [f"model-0000{i}-of-00002.safetensors" for i in (1, 2)]
    weight_map, total = {}, 0
    for shard, fname in enumerate(names):
        part = {}
        for name, shape in shapes.items():
            if _first_shard(name, config) != (shard == 0):
                continue
            part[name] = tensor(name, shape).to(_storage_dtype(name, dtype)).contiguous()
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
