"""Random checkpoints in the official layout: full-size ones for benchmarks, tiny ones with the official tokenizer
(rebuilt from the reference vocab.json) for tests and demos.

For tests, demos (`examples/make_tiny_checkpoint.py`) and benchmarks: the same files a user downloads
(config.json, safetensors shards + index, tokenizer.json, tokenizer_config.json with the chat template,
generation_config.json), only small and random.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import torch

from .config import PhiFlashConfig
from .sambay import PhiFlashForCausalLM
from .weights import FLOAT32_KEYS, save_checkpoint, write_checkpoint


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


def write_random_checkpoint(path: str | Path, config: PhiFlashConfig, dtype: torch.dtype = torch.bfloat16,
                            seed: int = 0) -> Path:
    """A random checkpoint in the official two-shard layout, written one shard at a time so a full-size (7.7 GB)
    model never needs a float32 copy in memory."""
    g = torch.Generator().manual_seed(seed)
    return write_checkpoint(path, config, dtype, lambda name, shape: random_tensor(name, shape, config, g))


# From the official tokenizer_config.json (added_tokens_decoder): id -> (content, special, rstrip).
SPECIAL_TOKENS = {
    199999: ("<|endoftext|>", True, False), 200018: ("<|endofprompt|>", True, False),
    200019: ("<|assistant|>", True, True), 200020: ("<|end|>", True, True), 200021: ("<|user|>", True, True),
    200022: ("<|system|>", True, True), 200023: ("<|tool|>", False, True), 200024: ("<|/tool|>", False, True),
    200025: ("<|tool_call|>", False, True), 200026: ("<|/tool_call|>", False, True),
    200027: ("<|tool_response|>", False, True), 200028: ("<|tag|>", True, True),
}
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and message['tools'] "
    "is not none %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + "
    "'<|/tool|>' + '<|end|>' }}{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)
CORPUS = [
    "Solve 3x^2+4x+5=1. <think> Move every term to one side: 3x^2+4x+4=0. The discriminant is 16-48=-32. "
    "</think> The roots are x = -2/3 ± (2√2/3)i, so the final answer is \\boxed{-\\frac{2}{3} \\pm "
    "\\frac{2\\sqrt{2}}{3}i}.",
    "Please reason step by step, and put your final answer within \\boxed{}. What is 1+1? The answer is 2.",
    "Differentiate sin(x)*x with respect to x. Integrate x^2 from 0 to 1. résumé café naïve ∫ π √ ≤ ≥ × ÷ −",
]


def tiny_config(**overrides) -> PhiFlashConfig:
    """The official vocabulary size (so the real special-token ids exist), everything else small."""
    base = dict(vocab_size=200064, hidden_size=32, intermediate_size=64, num_attention_heads=4,
                num_key_value_heads=2, sliding_window=8, bos_token_id=199999, eos_token_id=199999,
                pad_token_id=199999, torch_dtype="float32")
    return PhiFlashConfig.tiny(**(base | overrides))


# The official tokenizer files, which the repository keeps beside it in shared/ (PHIFLASH_REFERENCE overrides).
REFERENCE = Path(os.environ.get("PHIFLASH_REFERENCE") or
                 Path(__file__).resolve().parents[3] / "shared" / "reference" / "phi-4-mini-flash-reasoning")
TOKENIZER_FILES = ("tokenizer_config.json", "generation_config.json", "added_tokens.json", "special_tokens_map.json")


def write_tokenizer(path: Path, reference: Path | None = None, cache_dir: Path | None = None) -> None:
    """The official tokenizer: tokenizer.json rebuilt from the reference vocab.json (o200k.py; built once into
    cache_dir, default the temporary directory, and copied) and the official tokenizer_config.json,
    generation_config.json and the rest. Where the reference files are missing, a small byte-level BPE trained
    on a few math sentences, with the official special tokens at their official ids, stands in."""
    reference = REFERENCE if reference is None else Path(reference)
    if (reference / "vocab.json").is_file() and (reference / "tokenizer_config.json").is_file():
        from .tokenizer import rebuilt_tokenizer

        shutil.copyfile(rebuilt_tokenizer(reference, cache_dir), path / "tokenizer.json")
        for name in TOKENIZER_FILES:
            if (reference / name).is_file():
                shutil.copyfile(reference / name, path / name)
        return
    write_small_tokenizer(path)


def write_small_tokenizer(path: Path, vocab_size: int = 400) -> None:
    """Byte-level BPE trained on a few math sentences, plus the official special tokens at their official ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    data = json.loads(tok.to_str())
    data["added_tokens"] = []
    for i, (content, special, rstrip) in SPECIAL_TOKENS.items():
        data["model"]["vocab"][content] = i
        data["added_tokens"].append({"id": i, "content": content, "single_word": False, "lstrip": False,
                                     "rstrip": rstrip, "normalized": False, "special": special})
    (path / "tokenizer.json").write_text(json.dumps(data))
    (path / "tokenizer_config.json").write_text(json.dumps({
        "add_bos_token": False, "add_eos_token": False, "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "chat_template": CHAT_TEMPLATE, "model_max_length": 65536, "tokenizer_class": "GPT2Tokenizer",
        "added_tokens_decoder": {str(i): {"content": c, "special": s, "rstrip": r, "lstrip": False,
                                          "normalized": False, "single_word": False}
                                 for i, (c, s, r) in SPECIAL_TOKENS.items()}}, indent=2))
    (path / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": 199999, "eos_token_id": [200020, 199999], "pad_token_id": 199999}, indent=2))


def write_tiny_checkpoint(path: str | Path, config: PhiFlashConfig | None = None, seed: int = 0,
                          shards: int = 2, dtype: torch.dtype = torch.float32,
                          tokenizer_cache: Path | None = None) -> Path:
    """A random checkpoint directory loadable by `phiflash.load_model` and the CLI's `--model`
    (tokenizer_cache: where the rebuilt tokenizer is kept between calls, see write_tokenizer)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = config or tiny_config()
    write_tokenizer(path, cache_dir=tokenizer_cache)
    from tokenizers import Tokenizer

    used = set(Tokenizer.from_file(str(path / "tokenizer.json")).get_vocab().values())
    model = random_model(config, seed=seed)
    # Rows of ids the tokenizer does not have get zero embeddings: their logits stay 0, so a random model
    # mostly samples real tokens and its output reads as text.
    with torch.no_grad():
        unused = torch.ones(config.vocab_size, dtype=torch.bool)
        unused[[i for i in used if i < config.vocab_size]] = False
        model.model.embed_tokens.weight[unused] = 0
    save_checkpoint(model, path, shards=shards, dtype=dtype)
    return path
