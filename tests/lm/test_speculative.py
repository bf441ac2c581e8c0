"""Speculative decoding (issue 14): multi-token verify against single steps, rollback to every accepted length
(across the sliding window's edge), and lossless output against plain generation."""

import pytest
import torch
from reference import ngram_draft, ngram_match
from scripted import Scripted, tokens

from phiflash.lm.cache import Trail
from phiflash.lm.generate import GREEDY, generate


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
    one = torch.stack([tiny_model.decode(ids[:, 7 + t:8 + t], b) for t in range(T)], dim=1)
    torch.testing.assert_close(many, one, rtol=1e-4, atol=1e-4)


def _same_state(a, b, rows=slice(None)):
    """Two caches hold the same decode state: lengths, conv and SSM states, the ring slots in use."""
    assert torch.equal(a.lengths[rows], b.lengths[rows])
    for i in a.conv:
        torch.testing.assert_close(a.conv[i][rows], b.conv[i][rows], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a.ssm[i][rows], b.ssm[i][rows], rtol=1e-5, atol=1e-5)
    for i in a.ring_k:
        torch.testing.assert_close(a.ring_k[i][:, rows], b.ring_k[i][:, rows], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a.ring_v[i][rows], b.ring_v[i][rows], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("keep", range(0, 7))
def test_keep_any_accepted_length_equals_decoding_only_those(tiny_model, keep):
    """Prompt 5 tokens, 6 verified at once: positions 5..10 cross the sliding window (8) of the tiny config, so
    the call overwrites ring slots that must come back. No replay: Cache.keep alone."""
    assert tiny_model.config.window(1) == 8
    ids = torch.randint(0, tiny_model.config.vocab_size, (1, 16))
    spec, plain = tiny_model.new_cache(1, 32), tiny_model.new_cache(1, 32)
    tiny_model.prefill(ids[:, :5], spec)
    tiny_model.prefill(ids[:, :5], plain)
    trail = Trail()
    many = tiny_model.extend(ids[:, 5:11], spec, trail)                      # verify 6
    spec.keep(trail, keep)
    for t in range(5, 5 + keep):
        torch.testing.assert_close(many[:, t - 5], tiny_model.decode(ids[:, t:t + 1], plain), rtol=1e-4, atol=1e-4)
    _same_state(spec, plain)
    for t in range(5 + keep, 16):                                              # then both go on alike
        torch.testing.assert_close(tiny_model.decode(ids[:, t:t + 1], spec), tiny_model.decode(ids[:, t:t + 1], plain),
                                   rtol=1e-4, atol=1e-4)


def test_rows_keep_different_lengths(tiny_model):
    """Three rows of unequal prompts verify 5 tokens each and keep 0, 3 and 5 of them; each row then decodes on
    exactly as its own step-by-step twin."""
    V = tiny_model.config.vocab_size
    prompts = [torch.randint(0, V, (n,)) for n in (4, 7, 6)]
    drafts, after = torch.randint(0, V, (3, 5)), torch.randint(0, V, (3, 6))
    keep = torch.tensor([0, 3, 5])
    spec = tiny_model.new_cache(3, 40)
    for r, p in enumerate(prompts):
        tiny_model.prefill(p[None], spec.rows(r, r + 1))
    trail = Trail()
    tiny_model.extend(drafts, spec, trail)
    spec.keep(trail, keep)
    assert spec.lengths.tolist() == [len(p) + int(k) for p, k in zip(prompts, keep)]
    plains = []
    for r, p in enumerate(prompts):
        plain = tiny_model.new_cache(1, 40)
        tiny_model.prefill(torch.cat([p, drafts[r, :int(keep[r])]])[None], plain)
        _same_state(spec.rows(r, r + 1), plain)
        plains.append(plain)
    together = tiny_model.decode(after[:, :1], spec)                           # all rows in one call
    for r, plain in enumerate(plains):
        torch.testing.assert_close(together[r], tiny_model.decode(after[r:r + 1, :1], plain)[0], rtol=1e-4, atol=1e-4)
        for t in range(1, 6):
            torch.testing.assert_close(tiny_model.decode(after[r:r + 1, t:t + 1], spec.rows(r, r + 1))[0],
                                       tiny_model.decode(after[r:r + 1, t:t + 1], plain)[0], rtol=1e-4, atol=1e-4)


def test_keep_all_or_one_token_and_bounds(tiny_model):
    ids = torch.randint(0, tiny_model.config.vocab_size, (1, 12))
    a, b = tiny_model.new_cache(1, 32), tiny_model.new_cache(1, 32)
    tiny_model.prefill(ids[:, :4], a)
    tiny_model.prefill(ids[:, :4], b)
    trail = Trail()
    tiny_model.extend(ids[:, 4:5], a, trail)                                  # T = 1 goes through the scan too
    a.keep(trail, 1)
    tiny_model.decode(ids[:, 4:5], b)
    _same_state(a, b)
    trail = Trail()
    tiny_model.extend(ids[:, 5:9], a, trail)
    with pytest.raises(ValueError, match="0..4"):
        a.keep(trail, 5)
    with pytest.raises(ValueError, match="window"):
        tiny_model.extend(ids[:, :9].expand(1, 9), a, Trail())                # 9 > the window of 8


def test_speculative_greedy_is_token_identical_and_drafts_get_accepted(tiny_model):
    prompt = [3, 4, 5, 6, 3, 4, 5, 6, 3, 4, 5, 6, 3, 4]                       # repetition to draft from
    g = generate(tiny_model, [prompt], GREEDY, max_new_tokens=40, speculate=True)
    fast = g.run()[0]
    assert fast.token_ids == tokens(tiny_model, prompt, 40)
    assert fast.draft_acceptance is not None and fast.draft_acceptance > 0


def test_speculative_sampling_keeps_each_token_a_sample(tiny_model):
    from phiflash.lm.generate import SamplingParams
    params = SamplingParams(temperature=0.8, top_p=1.0, seed=5)
    out = tokens(tiny_model, [3, 4, 5, 3, 4, 5, 3, 4], 30, params, speculate=True)
    assert len(out) == 30 and all(0 <= t < tiny_model.config.vocab_size for t in out)


def test_stop_ids_end_speculative_generation(tiny_model):
    greedy = tokens(tiny_model, [3, 4, 5, 3, 4], 20)
    stop = greedy[7]
    out = tokens(tiny_model, [3, 4, 5, 3, 4], 20, speculate=True, stop_ids=(stop,))
    assert out == greedy[: greedy.index(stop) + 1]


def test_keep_with_the_chunked_scan(tiny_model):
    """The per-token SSM states come from whichever scan the model was built with."""
    from phiflash.lm.sambay import PhiFlashForCausalLM
    chunked = PhiFlashForCausalLM(tiny_model.config, scan="chunked")
    chunked.load_state_dict(tiny_model.state_dict())
    ids = torch.randint(0, tiny_model.config.vocab_size, (1, 12))
    a, b = tiny_model.new_cache(1, 32), tiny_model.new_cache(1, 32)
    chunked.prefill(ids[:, :4], a)
    trail = Trail()
    chunked.extend(ids[:, 4:10], a, trail)
    a.keep(trail, 3)
    tiny_model.prefill(ids[:, :7], b)
    _same_state(a, b)
    with pytest.raises(ValueError, match="unknown scan"):
        PhiFlashForCausalLM(tiny_model.config, scan="fast")


def test_ngram_match_reports_the_order_it_matched():
    h = [1, 2, 3, 4, 5, 9, 2, 3, 4]
    assert ngram_match(h, 2) == ([5, 9], 3)          # "2 3 4" occurred before
    assert ngram_match([5, 1, 7, 5], 2) == ([1, 7], 1)
    assert ngram_match([1, 2, 3], 2) == ([], 0)


def test_draft_policy_drafts_long_when_drafts_pay_and_not_at_all_when_they_miss():
    from phiflash.lm.generate import DraftPolicy
    good = DraftPolicy(costs={1: 1.0, **{T: 1.0 + 0.05 * (T - 1) for T in range(2, 9)}})
    for _ in range(20):
        good.observe(3, 7, 7)
    assert good.choose(7, 3) == 7
    assert good.choose(3, 3) == 3                     # never more than was found
    bad = DraftPolicy(costs={1: 1.0, 2: 1.4, 3: 1.8}, retry_after=4)
    for _ in range(20):
        bad.observe(1, 2, 0)
    chosen = [bad.choose(2, 1) for _ in range(8)]
    assert chosen == [0, 0, 0, 1, 0, 0, 0, 1]         # only a one-token probe now and then
    assert bad.accept_prob(3) == 0.5 and bad.accept_prob(1) < 0.15  # orders are estimated apart


def test_draft_policy_learns_costs_from_timings():
    from phiflash.lm.generate import DraftPolicy
    p = DraftPolicy(prior_slope=0.1)
    assert p.cost(5) == pytest.approx(1.4)
    p.timed(1, 0.10)
    p.timed(5, 0.30)
    assert p.cost(5) == pytest.approx(3.0)            # measured, not the prior
    for _ in range(10):
        p.observe(2, 4, 2)                            # about half the tokens accepted
    assert p.choose(4, 2) < 4


@pytest.mark.parametrize("budget", [2, 6, 11])
def test_thinking_budget_cuts_verified_drafts(chat_model, chat_tokenizer, budget):
    """The thinking budget forces tokens mid-stream: speculative output then equals plain output, whether the cut
    falls on a drafted token or a sampled one (a scripted model writing repetitive reasoning, so drafts are
    verified and accepted)."""
    tok = chat_tokenizer
    script = tok.encode("<think>" + " a b c d" * 6 + "</think>done") + [tok.stop_ids[0]]
    msgs = [{"role": "user", "content": "hi"}]

    def run(speculate):
        return generate(Scripted(chat_model, script), [msgs], GREEDY, max_new_tokens=80, tokenizer=tok,
                        think_budget=budget, speculate=speculate).run()[0]
    plain, spec = run(False), run(True)
    assert spec.token_ids == plain.token_ids and spec.think_budget_hit
    assert spec.draft_acceptance and spec.draft_acceptance > 0.2     # drafts were verified and kept
    close = tok.encode("\n</think>\n\n")
    i = spec.token_ids.index(close[0])
    assert spec.token_ids[i:i + len(close)] == close and i == len(tok.encode("<think>")) + budget


@pytest.mark.parametrize("alphabet", [2, 5, 50])
def test_ngram_index_equals_the_scan(alphabet):
    """The incremental index (what generation uses) against ngram_match's scan, on every prefix of texts that
    repeat a lot (2 symbols) or little (50), for draft lengths 1..7."""
    import random

    from phiflash.lm.generate import NgramIndex
    rng = random.Random(alphabet)
    text = [rng.randrange(alphabet) for _ in range(300)]
    index = NgramIndex(text[:1])
    for end in range(2, len(text) + 1):
        index.append(text[end - 1])
        for k in (1, 3, 7):
            assert index.match(k) == ngram_match(text[:end], k)
