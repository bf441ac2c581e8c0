"""PhiFlashConfig: a frozen mirror of a Phi-4-mini-flash checkpoint's config.json.

Field names are the config.json keys. Keys the official file omits take the defaults of the official
configuration class (docs/sambay-spec.md §1.2). Derived sizes and the per-layer layout are properties, so the
object never changes after it is built.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PhiflashError


class ConfigError(PhiflashError, ValueError):
    """A config.json that cannot describe a SambaY model; the message names the key."""


# Layer kinds, in the vocabulary of docs/sambay-spec.md §2.
MAMBA, SWA, FULL_ATTN, GMU, CROSS_ATTN = "mamba", "swa", "full_attn", "gmu", "cross_attn"

_REQUIRED = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
             "num_key_value_heads", "vocab_size")
# Keys of the official file that change nothing at inference; read so they are not reported as unknown.
_IGNORED = frozenset({"architectures", "auto_map", "attention_dropout", "embd_pdrop", "resid_pdrop",
                      "initializer_range", "use_cache", "_attn_implementation", "transformers_version",
                      "rope_theta", "_name_or_path", "layer_types", "dtype",
                      "quantization"})  # phiflash's quantized checkpoints: read by lm.weights


@dataclass(frozen=True)
class PhiFlashConfig:
    hidden_size: int = 2560
    intermediate_size: int = 10240
    num_hidden_layers: int = 32
    num_attention_heads: int = 40
    num_key_value_heads: int = 20
    vocab_size: int = 200064
    sliding_window: int | tuple[int | None, ...] = 512
    mb_per_layer: int = 2
    hidden_act: str = "silu"
    layer_norm_eps: float = 1e-5
    tie_word_embeddings: bool = True
    torch_dtype: str = "bfloat16"
    max_position_embeddings: int = 262144
    bos_token_id: int | None = 199999
    eos_token_id: int | list[int] | None = 199999
    pad_token_id: int | None = 199999
    mlp_bias: bool = False
    lm_head_bias: bool = False
    mamba_d_state: int = 16
    mamba_d_conv: int = 4
    mamba_expand: int = 2
    mamba_dt_rank: int | str = "auto"
    mamba_conv_bias: bool = True
    mamba_proj_bias: bool = False
    model_type: str = "phi4flash"
    # The context the model card promises (64K); max_position_embeddings is never read by the official code.
    max_context: int = field(default=65536, metadata={"not_in_json": True})

    def __post_init__(self) -> None:
        if isinstance(self.sliding_window, list):
            object.__setattr__(self, "sliding_window", tuple(self.sliding_window))
        self._validate()

    # ---- construction -------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PhiFlashConfig:
        if raw.get("model_type") != "phi4flash":
            raise ConfigError(f"config.json: model_type is {raw.get('model_type')!r}, expected 'phi4flash'")
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise ConfigError(f"config.json: missing required key {missing[0]!r}")
        names = {f.name for f in dataclasses.fields(cls) if not f.metadata.get("not_in_json")}
        unknown = sorted(set(raw) - names - _IGNORED)
        if unknown:
            warnings.warn(f"config.json: ignoring unknown keys {unknown}", stacklevel=2)
        kwargs = {k: v for k, v in raw.items() if k in names}
        for key, typ in (("hidden_size", int), ("intermediate_size", int), ("num_hidden_layers", int),
                         ("num_attention_heads", int), ("num_key_value_heads", int), ("vocab_size", int)):
            if not isinstance(kwargs[key], typ) or isinstance(kwargs[key], bool) or kwargs[key] <= 0:
                raise ConfigError(f"config.json: {key} must be a positive integer, got {kwargs[key]!r}")
        return cls(**kwargs)

    @classmethod
    def from_json(cls, path: str | Path) -> PhiFlashConfig:
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"no config.json at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.metadata.get("not_in_json")}
        if isinstance(d["sliding_window"], tuple):
            d["sliding_window"] = list(d["sliding_window"])
        return d

    @classmethod
    def tiny(cls, **overrides: Any) -> PhiFlashConfig:
        """A small config with the official layout rules, for tests and demos."""
        base = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=8, num_attention_heads=8,
                    num_key_value_heads=4, vocab_size=512, sliding_window=8, torch_dtype="float32",
                    bos_token_id=0, eos_token_id=0, pad_token_id=0)
        base.update(overrides)
        return cls(**base)

    def _validate(self) -> None:
        L, H, Hkv = self.num_hidden_layers, self.num_attention_heads, self.num_key_value_heads
        if L % 4:
            raise ConfigError(f"config.json: num_hidden_layers must be a multiple of 4, got {L}")
        if self.mb_per_layer != 2:
            raise ConfigError(f"config.json: mb_per_layer must be 2 (Mamba on even layers), got {self.mb_per_layer}")
        if self.hidden_size % H:
            raise ConfigError(f"config.json: hidden_size {self.hidden_size} is not divisible by "
                              f"num_attention_heads {H}")
        if H % Hkv or Hkv % 2 or H % 2:
            raise ConfigError(f"config.json: num_attention_heads {H} and num_key_value_heads {Hkv} must be even, "
                              "with the first a multiple of the second (differential attention pairs heads)")
        if self.hidden_act != "silu":
            raise ConfigError(f"config.json: hidden_act {self.hidden_act!r} is not supported (only 'silu')")
        if self.torch_dtype not in ("bfloat16", "float16", "float32"):
            raise ConfigError(f"config.json: torch_dtype {self.torch_dtype!r} is not supported")
        sw = self.sliding_window
        if isinstance(sw, tuple):
            if len(sw) != L:
                raise ConfigError(f"config.json: sliding_window list has {len(sw)} entries, expected {L}")
            if any(w is not None and (not isinstance(w, int) or w <= 0) for w in sw):
                raise ConfigError("config.json: sliding_window entries must be positive integers or null")
        elif not isinstance(sw, int) or isinstance(sw, bool) or sw <= 0:
            raise ConfigError(f"config.json: sliding_window must be a positive integer, got {sw!r}")
        if any(self.window(i) is None for i in range(1, L // 2, 2)):
            raise ConfigError("config.json: sliding_window must give a window for every odd layer below L/2")
        if not isinstance(self.dt_rank, int) or self.dt_rank <= 0:
            raise ConfigError(f"config.json: mamba_dt_rank must be 'auto' or a positive integer, "
                              f"got {self.mamba_dt_rank!r}")
        for key in ("mamba_d_state", "mamba_d_conv", "mamba_expand"):
            v = getattr(self, key)
            if not isinstance(v, int) or v <= 0:
                raise ConfigError(f"config.json: {key} must be a positive integer, got {v!r}")

    # ---- derived sizes ------------------------------------------------------------------------------------------

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def d_inner(self) -> int:
        return self.mamba_expand * self.hidden_size

    @property
    def dt_rank(self) -> int:
        r = self.mamba_dt_rank
        return math.ceil(self.hidden_size / 16) if r == "auto" else r  # type: ignore[return-value]

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        e = self.eos_token_id
        return () if e is None else (e,) if isinstance(e, int) else tuple(e)

    # ---- layer layout (docs/sambay-spec.md §2) -----------------------------------------------------------

    @property
    def memory_layer(self) -> int:
        """The Mamba layer whose ungated SSM output is the GMU memory (L/2)."""
        return self.num_hidden_layers // 2

    @property
    def kv_layer(self) -> int:
        """The one full-attention layer whose K,V the cross-attention layers share (L/2+1)."""
        return self.num_hidden_layers // 2 + 1

    def layer_kind(self, i: int) -> str:
        if i <= self.memory_layer:
            return MAMBA if i % 2 == 0 else SWA
        if i == self.kv_layer:
            return FULL_ATTN
        return GMU if i % 2 == 0 else CROSS_ATTN

    @property
    def layer_kinds(self) -> tuple[str, ...]:
        return tuple(self.layer_kind(i) for i in range(self.num_hidden_layers))

    def window(self, i: int) -> int | None:
        """Keys a query of layer i sees, itself included; None = all earlier keys. Odd layers below L/2 have one."""
        if i >= self.memory_layer or i % 2 == 0:
            return None
        sw = self.sliding_window
        return sw[i] if isinstance(sw, tuple) else sw

    @staticmethod
    def lambda_init(layer_idx: int) -> float:
        """Differential-attention λ_init from the absolute 0-based layer index (docs/sambay-spec.md §4.9)."""
        return 0.8 - 0.6 * math.exp(-0.3 * layer_idx)
