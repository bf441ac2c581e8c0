import dataclasses
import json

import pytest

from phiflash.lm.config import CROSS_ATTN, FULL_ATTN, GMU, MAMBA, SWA, ConfigError, PhiFlashConfig


def test_official_config_reads_every_key_and_derives_sizes(official_dir):
    cfg = PhiFlashConfig.from_json(official_dir / "config.json")
    raw = json.loads((official_dir / "config.json").read_text())
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "vocab_size", "sliding_window", "layer_norm_eps", "torch_dtype"):
        assert getattr(cfg, key) == raw[key]
    assert (cfg.head_dim, cfg.d_inner, cfg.dt_rank) == (64, 5120, 160)
    assert (cfg.mamba_d_state, cfg.mamba_d_conv, cfg.mamba_expand) == (16, 4, 2)
    assert (cfg.memory_layer, cfg.kv_layer) == (16, 17)


def test_official_layer_layout(official_dir):
    cfg = PhiFlashConfig.from_json(official_dir)
    kinds = cfg.layer_kinds
    assert [i for i, k in enumerate(kinds) if k == MAMBA] == list(range(0, 17, 2))
    assert [i for i, k in enumerate(kinds) if k == SWA] == list(range(1, 16, 2))
    assert [i for i, k in enumerate(kinds) if k == FULL_ATTN] == [17]
    assert [i for i, k in enumerate(kinds) if k == GMU] == list(range(18, 31, 2))
    assert [i for i, k in enumerate(kinds) if k == CROSS_ATTN] == list(range(19, 32, 2))
    assert [cfg.window(i) for i in range(32)] == [512 if (i % 2 and i < 16) else None for i in range(32)]


@pytest.mark.parametrize("layer,expected", [(1, 0.355509), (3, 0.556058), (9, 0.759677), (17, 0.796342),
                                            (31, 0.799945)])
def test_lambda_init_table(layer, expected):
    assert PhiFlashConfig.lambda_init(layer) == pytest.approx(expected, abs=1e-6)


def test_sliding_window_as_per_layer_list():
    sw = [512 if (i % 2 and i < 16) else None for i in range(32)]
    cfg = PhiFlashConfig(sliding_window=sw)
    assert cfg.window(3) == 512 and cfg.window(17) is None and cfg.window(4) is None
    assert cfg.to_dict()["sliding_window"] == sw


def test_dt_rank_explicit_and_frozen():
    cfg = PhiFlashConfig.tiny(mamba_dt_rank=7)
    assert cfg.dt_rank == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hidden_size = 1  # type: ignore[misc]


def _raw(official_dir, **changes):
    raw = json.loads((official_dir / "config.json").read_text())
    raw.update(changes)
    return raw


@pytest.mark.parametrize("changes,needle", [
    ({"model_type": "llama"}, "model_type"),
    ({"num_hidden_layers": 30}, "num_hidden_layers"),
    ({"num_attention_heads": 48}, "hidden_size"),
    ({"num_key_value_heads": 7}, "num_key_value_heads"),
    ({"sliding_window": [512, 512]}, "sliding_window"),
    ({"hidden_size": "big"}, "hidden_size"),
    ({"mamba_dt_rank": -3}, "mamba_dt_rank"),
])
def test_bad_config_names_the_key(official_dir, changes, needle):
    with pytest.raises(ConfigError, match=needle):
        PhiFlashConfig.from_dict(_raw(official_dir, **changes))


def test_missing_required_key(official_dir):
    raw = _raw(official_dir)
    del raw["vocab_size"]
    with pytest.raises(ConfigError, match="vocab_size"):
        PhiFlashConfig.from_dict(raw)


def test_unknown_key_warns(official_dir):
    with pytest.warns(UserWarning, match="surprise"):
        PhiFlashConfig.from_dict(_raw(official_dir, surprise=1))


def test_invalid_json(tmp_path):
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        PhiFlashConfig.from_json(tmp_path)
