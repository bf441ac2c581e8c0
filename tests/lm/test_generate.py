import pytest
import torch
from reference import reference_generate

from phiflash.lm.generate import GREEDY, ContextLengthError, SamplingParams, complete, generate, generate_batch, sample


def test_greedy_equals_full_recompute(tiny_model):
    prompt = [5, 17, 300, 42, 9, 11, 2, 250, 100, 7]
    ours = list(generate(tiny_model, prompt, 16))
    assert ours == reference_generate(tiny_model, prompt, 16)


def test_stop_id_ends_generation_and_is_yielded(tiny_model):
    prompt = [1, 2, 3]
    free = reference_generate(tiny_model, prompt, 12)
    stop = free[4]
    first = free.index(stop)
    assert list(generate(tiny_model, prompt, 12, stop_ids=(stop,))) == free[: first + 1]


def test_batched_equals_one_at_a_time(tiny_model):
    prompts = [[4, 8, 15], [16, 23, 42, 7, 7, 9, 1, 2, 3, 4, 5], [99]]
    singles = [list(generate(tiny_model, p, 10)) for p in prompts]
    stop = singles[1][3]
    singles = [list(generate(tiny_model, p, 10, stop_ids=(stop,))) for p in prompts]
    rows: list[list[int]] = [[] for _ in prompts]
    for step in generate_batch(tiny_model, prompts, 10, stop_ids=(stop,)):
        for r, tok in enumerate(step):
            if tok is not None:
                rows[r].append(tok)
    assert rows == singles
    assert len(rows[1]) < 10  # the stop really fired in one row while the others went on


def test_seeded_sampling_is_reproducible(tiny_model):
    p = SamplingParams(temperature=1.5, top_p=1.0, seed=123)
    a = list(generate(tiny_model, [1, 2, 3], 12, p))
    assert a == list(generate(tiny_model, [1, 2, 3], 12, p))
    assert a != list(generate(tiny_model, [1, 2, 3], 12, SamplingParams(temperature=1.5, top_p=1.0, seed=7)))


def test_sample_rules():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    assert sample(logits, temperature=0).item() == 0
    assert {sample(logits, 1.0, top_k=1, generator=g).item() for _ in range(50)} == {0}
    draws = torch.cat([sample(logits, 1.0, top_p=0.7, generator=g) for _ in range(2000)])
    assert set(draws.tolist()) == {0, 1}          # nucleus of 0.5 + 0.3 reaches 0.7
    draws = torch.cat([sample(logits, 1.0, top_k=3, generator=g) for _ in range(2000)])
    assert set(draws.tolist()) == {0, 1, 2}
    freq = (draws == 0).float().mean().item()
    assert abs(freq - 0.5 / 0.95) < 0.05          # renormalised over the top 3


def test_bad_sampling_params():
    with pytest.raises(Exception, match="top_p"):
        SamplingParams(top_p=0)
    with pytest.raises(Exception, match="temperature"):
        SamplingParams(temperature=-1)


def test_context_guard(tiny_model):
    with pytest.raises(ContextLengthError, match="exceeds the context of 20 tokens"):
        list(generate(tiny_model, list(range(15)), 10, max_context=20))


MSGS = [{"role": "user", "content": "Solve 3x^2+4x+5=1"}]


def test_complete_streams_what_it_returns(chat_model, chat_tokenizer):
    events = []
    c = complete(chat_model, chat_tokenizer, MSGS, 30, GREEDY, on_event=lambda k, t: events.append((k, t)))
    assert c.prompt_tokens == len(chat_tokenizer.encode_chat(MSGS))
    assert "".join(t for _, t in events) == c.text
    assert c.finish_reason in ("stop", "length") and c.ttft is not None and c.seconds >= c.ttft
    ids = list(generate(chat_model, chat_tokenizer.encode_chat(MSGS), 30, stop_ids=chat_tokenizer.stop_ids))
    assert c.token_ids == ids


def test_complete_stop_string(chat_model, chat_tokenizer):
    free = complete(chat_model, chat_tokenizer, MSGS, 30, GREEDY)
    assert len(free.text) > 6
    stop = free.text[3:6]
    c = complete(chat_model, chat_tokenizer, MSGS, 30, GREEDY, stop_strings=(stop,))
    assert c.finish_reason == "stop"
    assert c.text == free.text[: free.text.index(stop)]


def test_ctrl_c_returns_partial(chat_model, chat_tokenizer):
    seen = []

    def on_event(kind, text):
        seen.append(text)
        if len(seen) == 3:
            raise KeyboardInterrupt

    c = complete(chat_model, chat_tokenizer, MSGS, 30, GREEDY, on_event=on_event)
    assert c.finish_reason == "cancelled"
    assert 0 < len(c.token_ids) < 30 and c.text.startswith("".join(seen[:2]))


def test_samples_share_one_prefill_and_equal_separate_generations(chat_model):
    """k rows from one prefill (the state copied into every row) give what k separate greedy runs give, and a
    row stopped early yields None from then on."""
    from phiflash.lm.generate import GREEDY, generate, generate_samples
    prompt = [5, 6, 7, 8, 9, 10]
    alone = list(generate(chat_model, prompt, 6, GREEDY))
    rows = list(generate_samples(chat_model, prompt, 3, 6, GREEDY))
    for r in range(3):
        assert [step[r] for step in rows] == alone
    stop_after = {"n": 0}

    def stopped():
        stop_after["n"] += 1
        return {1, 2} if stop_after["n"] >= 2 else set()
    rows = list(generate_samples(chat_model, prompt, 3, 6, GREEDY, stopped=stopped))
    assert [step[0] for step in rows] == alone
    assert [step[1] for step in rows][2:] == [None] * (len(rows) - 2)


def test_sampled_rows_differ_but_each_is_a_valid_sample(chat_model):
    from phiflash.lm.generate import SamplingParams, generate_samples
    rows = list(generate_samples(chat_model, [5, 6, 7], 4, 8, SamplingParams(temperature=1.0, top_p=1.0, seed=3)))
    seqs = {tuple(step[r] for step in rows) for r in range(4)}
    assert len(seqs) > 1   # independent draws, not one sequence copied


def test_forced_tokens_replace_sampled_ones(chat_model):
    from phiflash.lm.generate import GREEDY, generate
    force: list[int] = []
    out = []
    for i, tok in enumerate(generate(chat_model, [5, 6, 7], 6, GREEDY, force=force)):
        out.append(tok)
        if i == 1:
            force.extend([101, 102])      # queued between steps: the next two tokens
    assert out[2:4] == [101, 102]


def test_think_budget_closes_the_reasoning_and_zero_skips_it(chat_model, chat_tokenizer, monkeypatch):
    """A scripted 'model' that reasons at length: with a budget the reasoning is cut after that many tokens and
    the chat format's closing tag follows; with 0 the prompt carries an empty reasoning section."""
    import phiflash.lm.generate as G
    tok = chat_tokenizer
    script = tok.encode("<think> one two three four five six seven eight nine ten</think>The answer is 4.")
    seen = {}

    def scripted(model, prompt, max_new_tokens, params, stop_ids, max_context, force):
        seen["prompt"] = prompt
        i = 0
        while i < len(script):
            if force:
                yield force.pop(0)
                continue
            yield script[i]
            i += 1
    monkeypatch.setattr(G, "generate", scripted)
    msgs = [{"role": "user", "content": "hi"}]
    full = G.complete(chat_model, tok, msgs, 200, G.GREEDY)
    cut = G.complete(chat_model, tok, msgs, 200, G.GREEDY, think_budget=3)
    assert not full.think_budget_hit and "ten" in full.reasoning
    assert cut.think_budget_hit and "ten" not in cut.reasoning and len(cut.reasoning) < len(full.reasoning)
    assert "</think>" in tok.decode(cut.token_ids)
    none = G.complete(chat_model, tok, msgs, 200, G.GREEDY, think_budget=0)
    assert none.think_budget_hit and tok.decode(seen["prompt"]).endswith("<think>\n</think>\n\n")
