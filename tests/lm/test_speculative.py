"""Speculative decoding (issue 14): multi-token verify against single steps, rollback to every accepted length
(across the sliding window's edge), and lossless output against plain generation."""

import pytest
import torch

from phiflash.lm.generate import GREEDY, SpeculationStats, generate, ngram_draft, speculative_generate


def test_ngram_draft_continues_the_latest_earlier_match():
    h = [1, 2, 3, 4, 5, 9, 2, 3]
    assert ngram_draft(h, 2) == [4, 5]               # "2 3" was followed by "4 5"
    assert ngram_draft([7, 8, 9], 3) == []           # nothing repeats
    assert ngram_draft(h, 0) == []


@pytest.mark.parametrize("T", [1, 2, 5])
def test_extend_equals_single_decode_steps(tiny_model, T):
    ids = torch.randint(0, tiny_model.config.vocab_size, (2, 7 + T))
    a, b = tiny_model.new_cache(2, 32), tiny_model.new_cache(2, 32)
    tiny_model.prefill(ids[:, :7], a)
    tiny_model.prefill(ids[:, :7], b)
    many = tiny_model.extend(ids[:, 7:], a)                                   # (2, T, V)
    one = torch.stack([tiny_model.decode(ids[:, 7 + t], b) for t in range(T)], dim=1)
    torch.testing.assert_close(many, one, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("keep", range(0, 6))
def test_rollback_to_any_accepted_length_equals_decoding_only_those(tiny_model, keep):
    """Prompt 6 tokens, 5 drafted: positions 6..10 cross the sliding window (8) of the tiny config."""
    assert tiny_model.config.window(1) == 8
    ids = torch.randint(0, tiny_model.config.vocab_size, (1, 16))
    spec, plain = tiny_model.new_cache(1, 32), tiny_model.new_cache(1, 32)
    tiny_model.prefill(ids[:, :6], spec)
    tiny_model.prefill(ids[:, :6], plain)
    snap = spec.snapshot()
    tiny_model.extend(ids[:, 6:11], spec)                                      # verify 5
    spec.restore(snap)
    if keep:
        tiny_model.extend(ids[:, 6:6 + keep], spec)                            # replay the accepted ones
        for t in range(6, 6 + keep):
            tiny_model.decode(ids[:, t], plain)
    for t in range(6 + keep, 16):                                              # then both go on alike
        torch.testing.assert_close(tiny_model.decode(ids[:, t], spec), tiny_model.decode(ids[:, t], plain),
                                   rtol=1e-4, atol=1e-4)


def test_speculative_greedy_is_token_identical_and_drafts_get_accepted(tiny_model):
    prompt = [3, 4, 5, 6, 3, 4, 5, 6, 3, 4, 5, 6, 3, 4]                       # repetition to draft from
    stats = SpeculationStats()
    fast = list(speculative_generate(tiny_model, prompt, 40, GREEDY, stats=stats))
    assert fast == list(generate(tiny_model, prompt, 40, GREEDY))
    assert stats.drafted > 0 and stats.accepted > 0


def test_speculative_sampling_keeps_each_token_a_sample(tiny_model):
    from phiflash.lm.generate import SamplingParams
    params = SamplingParams(temperature=0.8, top_p=1.0, seed=5)
    out = list(speculative_generate(tiny_model, [3, 4, 5, 3, 4, 5, 3, 4], 30, params))
    assert len(out) == 30 and all(0 <= t < tiny_model.config.vocab_size for t in out)


def test_stop_ids_end_speculative_generation(tiny_model):
    greedy = list(generate(tiny_model, [3, 4, 5, 3, 4], 20, GREEDY))
    stop = greedy[7]
    out = list(speculative_generate(tiny_model, [3, 4, 5, 3, 4], 20, GREEDY, stop_ids=(stop,)))
    assert out == greedy[: greedy.index(stop) + 1]
