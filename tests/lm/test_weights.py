import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from phiflash.errors import CheckpointError
from phiflash.lm.config import ConfigError, PhiFlashConfig
from phiflash.lm.sambay import PhiFlashForCausalLM
from phiflash.lm.testing import random_model
from phiflash.lm.weights import load_model, save_checkpoint


def official_shaped_tiny(layers=32):
    return PhiFlashConfig.tiny(num_hidden_layers=layers, hidden_size=32, intermediate_size=32,
                               num_attention_heads=4, num_key_value_heads=2, vocab_size=64)


def test_32_layer_tiny_checkpoint_has_exactly_the_official_names_and_shards(tmp_path, official_index):
    model = random_model(official_shaped_tiny(), dtype=torch.bfloat16)
    save_checkpoint(model, tmp_path, shards=2)
    ours = json.loads((tmp_path / "model.safetensors.index.json").read_text())["weight_map"]
    assert len(ours) == 434
    assert ours == official_index["weight_map"]


def test_official_config_parameter_count_and_file_size(official_dir, official_index):
    cfg = PhiFlashConfig.from_json(official_dir)
    with torch.device("meta"):
        model = PhiFlashForCausalLM(cfg)
    unique = {id(p): p for p in model.parameters()}
    assert sum(p.numel() for p in unique.values()) == 3_852_562_944
    assert model.lm_head.weight is model.model.embed_tokens.weight
    # bf16 everywhere except float32 A_log and λ vectors reproduces the official total_size exactly
    size = sum(p.numel() * (4 if ("A_log" in n or "lambda" in n) else 2)
               for n, p in model.named_parameters())
    assert size == official_index["metadata"]["total_size"]


@pytest.mark.parametrize("shards", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_round_trip(tmp_path, tiny_model, shards, dtype):
    save_checkpoint(tiny_model, tmp_path, shards=shards, dtype=dtype)
    loaded = load_model(tmp_path)
    assert loaded.dtype == dtype
    sd = loaded.state_dict()
    for name, p in tiny_model.state_dict().items():
        want = torch.float32 if any(s in name for s in ("A_log", ".D", "dt_proj.bias", "lambda")) else dtype
        stored = torch.float32 if any(s in name for s in ("A_log", "lambda")) else dtype
        assert sd[name].dtype == want, name
        assert torch.equal(sd[name], p.to(stored).to(want)), name
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    assert not any(p.is_meta for p in loaded.parameters())


def test_storage_dtypes_follow_the_official_files(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path, dtype=torch.bfloat16)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes["model.layers.0.attn.A_log"] == "F32"
    assert dtypes["model.layers.1.attn.inner_cross_attn.lambda_q1"] == "F32"
    assert dtypes["model.layers.0.attn.D"] == "BF16"
    assert dtypes["model.layers.0.mlp.fc1.weight"] == "BF16"


def test_dtype_override_and_logits(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path, dtype=torch.float32)
    ids = torch.randint(0, tiny_model.config.vocab_size, (1, 12))
    assert torch.equal(load_model(tmp_path)(ids), tiny_model(ids))
    assert load_model(tmp_path, dtype="bfloat16").dtype == torch.bfloat16


def test_present_tied_lm_head_is_accepted(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path)
    sd = load_file(str(tmp_path / "model.safetensors"))
    sd["lm_head.weight"] = sd["model.embed_tokens.weight"].clone()
    save_file(sd, str(tmp_path / "model.safetensors"))
    loaded = load_model(tmp_path)
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight


def _edit_single(tmp_path, tiny_model, edit):
    save_checkpoint(tiny_model, tmp_path)
    sd = load_file(str(tmp_path / "model.safetensors"))
    edit(sd)
    save_file(sd, str(tmp_path / "model.safetensors"))
    return tmp_path


def test_missing_tensor_is_named(tmp_path, tiny_model):
    path = _edit_single(tmp_path, tiny_model, lambda sd: sd.pop("model.layers.3.attn.Wqkv.bias"))
    with pytest.raises(CheckpointError, match=r"missing tensor model\.layers\.3\.attn\.Wqkv\.bias"):
        load_model(path)


def test_unexpected_tensor_is_named(tmp_path, tiny_model):
    path = _edit_single(tmp_path, tiny_model, lambda sd: sd.__setitem__("model.layers.0.attn.extra", torch.ones(2)))
    with pytest.raises(CheckpointError, match=r"unexpected tensor model\.layers\.0\.attn\.extra"):
        load_model(path)


def test_wrong_shape_is_named(tmp_path, tiny_model):
    path = _edit_single(tmp_path, tiny_model,
                        lambda sd: sd.__setitem__("model.layers.2.attn.A_log", torch.zeros(3, 3)))
    with pytest.raises(CheckpointError, match=r"model\.layers\.2\.attn\.A_log: shape \[3, 3\]"):
        load_model(path)


def test_truncated_shard_is_named(tmp_path, tiny_checkpoint):
    shutil.copytree(tiny_checkpoint, tmp_path / "c")
    shard = tmp_path / "c" / "model-00002-of-00002.safetensors"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="model-00002-of-00002.safetensors"):
        load_model(tmp_path / "c")


def test_garbage_file_is_named(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_model(tmp_path)


def test_index_naming_a_missing_file(tmp_path, tiny_checkpoint):
    shutil.copytree(tiny_checkpoint, tmp_path / "c")
    (tmp_path / "c" / "model-00001-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="names model-00001-of-00002.safetensors, which is missing"):
        load_model(tmp_path / "c")


def test_index_pointing_to_wrong_shard(tmp_path, tiny_checkpoint):
    shutil.copytree(tiny_checkpoint, tmp_path / "c")
    index_path = tmp_path / "c" / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["model.final_layernorm.weight"] = "model-00001-of-00002.safetensors"
    index_path.write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="final_layernorm.weight"):
        load_model(tmp_path / "c")


def test_bad_index_json(tmp_path, tiny_checkpoint):
    shutil.copytree(tiny_checkpoint, tmp_path / "c")
    (tmp_path / "c" / "model.safetensors.index.json").write_text("[1, 2")
    with pytest.raises(CheckpointError, match="not a valid safetensors index"):
        load_model(tmp_path / "c")


def test_missing_directory_and_weights(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        load_model(tmp_path / "nope")
    with pytest.raises(ConfigError, match="no config.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(PhiFlashConfig.tiny().to_dict()))
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_model(tmp_path)


def test_pickle_files_are_never_read(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(tiny_model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_model(tmp_path)


def test_streamed_random_checkpoint_has_the_official_layout(tmp_path, official_index):
    from phiflash.lm.testing import write_random_checkpoint
    cfg = official_shaped_tiny()
    write_random_checkpoint(tmp_path, cfg, dtype=torch.bfloat16)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert index["weight_map"] == official_index["weight_map"]
    model = load_model(tmp_path)
    ids = torch.randint(0, cfg.vocab_size, (1, 6))
    assert torch.isfinite(model(ids)).all()
