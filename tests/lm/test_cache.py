"""Cached decoding against the full forward, and the cache's size."""

import pytest
import torch

from phiflash.lm.cache import cache_bytes
from phiflash.lm.config import PhiFlashConfig

ATOL = 2e-5  # float32; logits are O(1)


@pytest.mark.parametrize("prompt_len", [1, 3, 8, 13])   # < K, < W, = W, > W (W = 8)
@pytest.mark.parametrize("batch", [1, 2])
def test_teacher_forced_decode_equals_forward(tiny_model, prompt_len, batch):
    n_decode = 20  # crosses the window boundary more than twice
    ids = torch.randint(0, tiny_model.config.vocab_size, (batch, prompt_len + n_decode),
                        generator=torch.Generator().manual_seed(prompt_len))
    full = tiny_model(ids)
    cache = tiny_model.new_cache(batch, prompt_len + n_decode)
    got = [tiny_model.prefill(ids[:, :prompt_len], cache)]
    for t in range(prompt_len, prompt_len + n_decode - 1):
        got.append(tiny_model.decode(ids[:, t:t + 1], cache))
    torch.testing.assert_close(torch.stack(got, 1), full[:, prompt_len - 1:-1].float(), rtol=0, atol=ATOL)
    assert cache.lengths.tolist() == [prompt_len + n_decode - 1] * batch


@pytest.mark.parametrize("short", [5, 8])   # rings shorter than the window (W = 8) are laid out again
def test_a_cache_grown_mid_sequence_decodes_as_one_made_big(tiny_model, short):
    """Cache.take: rows of unequal lengths moved into a cache with more rows and a longer max_length decode on
    exactly as in a cache that was big from the start (what a running batch does when a longer request joins)."""
    g = torch.Generator().manual_seed(short)
    ids = torch.randint(0, tiny_model.config.vocab_size, (2, 20), generator=g)
    small, big = tiny_model.new_cache(2, short), tiny_model.new_cache(2, 30)
    for cache in (small, big):
        tiny_model.prefill(ids[:1, :3], cache.rows(0, 1))
        tiny_model.prefill(ids[1:, :short - 1], cache.rows(1, 2))
        tiny_model.decode(ids[:, 10:11], cache)                       # row 1 now fills the small cache
    grown = tiny_model.new_cache(3, 30)
    grown.take(small, 2)
    for t in range(11, 20):                                            # past the window, around the rings
        torch.testing.assert_close(tiny_model.decode(ids[:, t:t + 1], grown.rows(0, 2)),
                                   tiny_model.decode(ids[:, t:t + 1], big), rtol=0, atol=ATOL)


def test_chunked_prefill_equals_one_shot(tiny_model):
    ids = torch.randint(0, tiny_model.config.vocab_size, (1, 29))
    one = tiny_model.prefill(ids, tiny_model.new_cache(1, 40))
    cache = tiny_model.new_cache(1, 40)
    chunked = tiny_model.prefill(ids, cache, chunk=4)
    after = tiny_model.decode(ids[:, :1], cache)
    torch.testing.assert_close(chunked, one, rtol=0, atol=ATOL)
    full = tiny_model(torch.cat([ids, ids[:, :1]], 1))
    torch.testing.assert_close(after, full[:, -1].float(), rtol=0, atol=ATOL)


def test_rows_of_different_lengths_decode_together(tiny_model):
    V = tiny_model.config.vocab_size
    a, b = torch.randint(0, V, (1, 5)), torch.randint(0, V, (1, 17))
    nxt = torch.randint(0, V, (2, 6))
    cache = tiny_model.new_cache(2, 30)
    tiny_model.prefill(a, cache.rows(0, 1))
    tiny_model.prefill(b, cache.rows(1, 2))
    for t in range(6):
        logits = tiny_model.decode(nxt[:, t:t + 1], cache)
    ref_a = tiny_model(torch.cat([a, nxt[:1]], 1))[0, -1]
    ref_b = tiny_model(torch.cat([b, nxt[1:]], 1))[0, -1]
    torch.testing.assert_close(logits, torch.stack([ref_a, ref_b]).float(), rtol=0, atol=ATOL)


def test_overflowing_the_cache_is_an_error(tiny_model):
    cache = tiny_model.new_cache(1, 4)
    with pytest.raises(ValueError, match="exceeds the cache's max_length 4"):
        tiny_model.prefill(torch.zeros(1, 5, dtype=torch.long), cache)


def test_reset(tiny_model):
    cache = tiny_model.new_cache(1, 16)
    tiny_model.prefill(torch.arange(10)[None], cache)
    cache.reset()
    assert cache.lengths.item() == 0 and all(t.abs().sum() == 0 for t in cache.ssm.values())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cache_bytes_formula_matches_allocation(tiny_model, dtype):
    from phiflash.lm.cache import Cache
    for max_length in (4, 100):
        fixed, per_token = cache_bytes(tiny_model.config, max_length, dtype, batch_size=3)
        assert Cache.allocate(tiny_model.config, 3, max_length, dtype).nbytes == fixed + per_token * max_length


def test_official_cache_size(official_dir):
    cfg = PhiFlashConfig.from_json(official_dir)
    fixed, per_token = cache_bytes(cfg, 65536, torch.bfloat16)
    assert per_token == 2 * 20 * 64 * 2 == 5120                         # layer 17's K and V, bf16
    swa = 8 * 2 * 20 * 512 * 64 * 2                                     # 20,971,520 B of rings
    mamba = 9 * 5120 * (3 * 2 + 16 * 4)                                  # bf16 conv (K-1 taps) + fp32 SSM
    assert fixed == swa + mamba
