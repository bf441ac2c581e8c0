"""The two models compared: SambaY (phiflash) and the transformer it replaces (Phi-4-mini's Phi3ForCausalLM),
scaled down alike: the same width (256) and depth (32), the same K,V width per attention layer (256 values per
token), and about the same parameter count (the baseline's MLP is sized to match). Random weights, bf16.
"""

from __future__ import annotations

import torch

from phiflash.lm.config import PhiFlashConfig
from phiflash.lm.testing import random_model

VOCAB = 32064
SMALL = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=32, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=VOCAB, sliding_window=512, torch_dtype="bfloat16",
             bos_token_id=0, eos_token_id=0, pad_token_id=0)


def phiflash_small(dtype=torch.bfloat16):
    return random_model(PhiFlashConfig.tiny(**SMALL), seed=0, dtype=dtype)


def n_params(model) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def baseline_config(target_params: int):
    """Phi-4-mini's architecture (head dim 128, GQA, partial RoPE 0.75, tied embeddings) at width 256 and depth
    32, with the MLP width chosen so the parameter count matches target_params."""
    from transformers import Phi3Config

    H, L, D = 2, 32, 256
    kv = 1
    attn = D * (H * 128) + 2 * D * kv * 128 + (H * 128) * D     # qkv + o
    per_ff = 3 * D                                              # gate_up (2F·D) + down (F·D) per unit of F
    norms = 2 * D
    F = round((target_params - VOCAB * D - D - L * (attn + norms)) / (L * per_ff))
    return Phi3Config(vocab_size=VOCAB, hidden_size=D, intermediate_size=F, num_hidden_layers=L,
                      num_attention_heads=H, num_key_value_heads=kv, partial_rotary_factor=0.75,
                      tie_word_embeddings=True, max_position_embeddings=65536, attn_implementation="sdpa",
                      pad_token_id=0, bos_token_id=0, eos_token_id=0)


def baseline_small(target_params: int, dtype=torch.bfloat16):
    from transformers import Phi3ForCausalLM

    torch.manual_seed(0)
    model = Phi3ForCausalLM(baseline_config(target_params)).to(dtype).eval().requires_grad_(False)
    return model


def official_phi4_mini_kv_bytes_per_token() -> int:
    """Phi-4-mini (the same-size transformer): 32 layers × 8 KV heads × 128 dims × K and V × bf16."""
    return 32 * 8 * 128 * 2 * 2
