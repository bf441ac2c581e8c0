"""Generation (phiflash.lm.generate): the one function from prompts to events, against naive twins (a full
recompute per token, one prompt at a time), in every mode: plain, batched, joining a running batch, samples,
stop ids and strings, thinking budget, Ctrl-C."""

import pytest
import torch
from reference import reference_generate
from scripted import tokens

from phiflash.lm.generate import GREEDY, ContextLengthError, Generation, SamplingParams, generate, sample


def test_greedy_equals_full_recompute(tiny_model):
    prompt = [5, 17, 300, 42, 9, 11, 2, 250, 100, 7]
    assert tokens(tiny_model, prompt, 16) == reference_generate(tiny_model, prompt, 16)


def test_stop_id_ends_generation_and_is_yielded(tiny_model):
    prompt = [1, 2, 3]
    free = reference_generate(tiny_model, prompt, 12)
    stop = free[4]
    first = free.index(stop)
    c = generate(tiny_model, [prompt], GREEDY, max_new_tokens=12, stop_ids=(stop,)).run()[0]
    assert c.token_ids == free[: first + 1] and c.finish_reason == "stop"


def _rows(g) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for e in g:
        if e.kind == "token":
            out.setdefault(e.request, []).append(e.token)
    return out


def test_batched_equals_one_at_a_time(tiny_model):
    prompts = [[4, 8, 15], [16, 23, 42, 7, 7, 9, 1, 2, 3, 4, 5], [99]]
    stop = tokens(tiny_model, prompts[1], 10)[3]
    singles = [tokens(tiny_model, p, 10, stop_ids=(stop,)) for p in prompts]
    rows = _rows(generate(tiny_model, prompts, GREEDY, max_new_tokens=10, stop_ids=(stop,)))
    assert [rows[i] for i in range(3)] == singles
    assert len(rows[1]) < 10  # the stop really fired in one row while the others went on


def test_requests_join_a_running_batch_and_leave_it_with_their_own_settings(tiny_model):
    """Requests added between steps, with different budgets, stop ids and sampling, each get exactly what they
    get alone; rows that finish leave (the batch shrinks) and the cache grows when a longer request joins."""
    a, b, c = [4, 8, 15, 16], [23, 42, 1], list(range(30, 52))
    stop_b = tokens(tiny_model, b, 12)[5]
    sampled = SamplingParams(temperature=1.0, top_p=0.9, seed=11)
    want = {0: tokens(tiny_model, a, 6), 1: tokens(tiny_model, b, 12, stop_ids=(stop_b,)),
            2: tokens(tiny_model, c, 25, sampled)}
    g = Generation(tiny_model)
    got: dict[int, list[int]] = {}
    sizes = []
    g.add(a, GREEDY, max_new_tokens=6)
    for step in range(60):
        if step == 2:
            g.add(b, GREEDY, max_new_tokens=12, stop_ids=(stop_b,))
        if step == 4:
            g.add(c, sampled, max_new_tokens=25)              # longer than the cache was made for
        if not g.busy:
            break
        for e in g.step():
            if e.kind == "token":
                got.setdefault(e.request, []).append(e.token)
        sizes.append(len(g.rows))
    assert got == want
    assert max(sizes) == 3 and sizes[-1] == 0 and g.cache.max_length >= len(c) + 25


def test_seeded_sampling_is_reproducible(tiny_model):
    p = SamplingParams(temperature=1.5, top_p=1.0, seed=123)
    a = tokens(tiny_model, [1, 2, 3], 12, p)
    assert a == tokens(tiny_model, [1, 2, 3], 12, p)
    assert a != tokens(tiny_model, [1, 2, 3], 12, SamplingParams(temperature=1.5, top_p=1.0, seed=7))


def test_sample_rules():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    assert sample(logits, GREEDY).item() == 0
    one = SamplingParams(temperature=1.0, top_p=1.0, top_k=1)
    assert {sample(logits, one, g).item() for _ in range(50)} == {0}
    draws = torch.cat([sample(logits, SamplingParams(temperature=1.0, top_p=0.7), g) for _ in range(2000)])
    assert set(draws.tolist()) == {0, 1}          # nucleus of 0.5 + 0.3 reaches 0.7
    draws = torch.cat([sample(logits, SamplingParams(temperature=1.0, top_p=1.0, top_k=3), g) for _ in range(2000)])
    assert set(draws.tolist()) == {0, 1, 2}
    freq = (draws == 0).float().mean().item()
    assert abs(freq - 0.5 / 0.95) < 0.05          # renormalised over the top 3


def test_defaults_are_the_model_cards():
    from phiflash.app import cli
    p = SamplingParams()
    assert (p.temperature, p.top_p) == (0.6, 0.95)
    assert (cli.CARD.temperature, cli.CARD.top_p) == (0.6, 0.95)


def test_bad_sampling_params():
    with pytest.raises(Exception, match="top_p"):
        SamplingParams(top_p=0)
    with pytest.raises(Exception, match="temperature"):
        SamplingParams(temperature=-1)


def test_context_guard(tiny_model):
    with pytest.raises(ContextLengthError, match="exceeds the context of 20 tokens"):
        generate(tiny_model, [list(range(15))], max_new_tokens=10, max_context=20)


MSGS = [{"role": "user", "content": "Solve 3x^2+4x+5=1"}]


def _chat(model, tok, n=30, **kw):
    events = []
    c = generate(model, [MSGS], GREEDY, max_new_tokens=n, tokenizer=tok, **kw).run(events.append)[0]
    return c, events


def test_text_events_are_the_completion(chat_model, chat_tokenizer):
    c, events = _chat(chat_model, chat_tokenizer)
    assert c.prompt_tokens == len(chat_tokenizer.encode_chat(MSGS))
    assert "".join(e.text for e in events if e.kind == "text") == c.text
    assert [e.token for e in events if e.kind == "token"] == c.token_ids
    assert [e.kind for e in events].count("finish") == 1 and events[-1].kind == "finish"
    assert c.finish_reason in ("stop", "length") and c.ttft is not None and c.seconds >= c.ttft
    ids = tokens(chat_model, chat_tokenizer.encode_chat(MSGS), 30, stop_ids=chat_tokenizer.stop_ids)
    assert c.token_ids == ids


def test_stop_string(chat_model, chat_tokenizer):
    free, _ = _chat(chat_model, chat_tokenizer)
    assert len(free.text) > 6
    stop = free.text[3:6]
    c, _ = _chat(chat_model, chat_tokenizer, stop=(stop,))
    assert c.finish_reason == "stop"
    assert c.text == free.text[: free.text.index(stop)]


def test_ctrl_c_returns_partial(chat_model, chat_tokenizer):
    seen = []

    def on_event(e):
        if e.kind == "text":
            seen.append(e.text)
            if len(seen) == 3:
                raise KeyboardInterrupt

    g = generate(chat_model, [MSGS], GREEDY, max_new_tokens=30, tokenizer=chat_tokenizer)
    c = g.run(on_event)[0]
    assert c.finish_reason == "cancelled" and g.interrupted
    assert 0 < len(c.token_ids) < 30 and c.text.startswith("".join(seen[:2]))


def test_samples_share_one_prefill_and_equal_separate_generations(chat_model):
    """k rows from one prefill (the state copied into every row) give what k separate greedy runs give; a row
    cancelled early finishes with that reason while the others go on."""
    prompt = [5, 6, 7, 8, 9, 10]
    alone = tokens(chat_model, prompt, 6)
    done = generate(chat_model, [prompt], GREEDY, max_new_tokens=6, samples=3).run()
    assert [c.token_ids for c in done] == [alone] * 3
    g = generate(chat_model, [prompt], GREEDY, max_new_tokens=6, samples=3)
    finished = {}
    for _ in range(2):
        for e in g.step():
            assert e.kind == "token"
    for e in g.cancel(0, 1, reason="early stop") + g.cancel(0, 2, reason="early stop"):
        finished[e.sample] = e.completion
    for e in g:
        if e.kind == "finish":
            finished[e.sample] = e.completion
    assert finished[0].token_ids == alone and finished[0].finish_reason == "length"
    assert [finished[s].token_ids for s in (1, 2)] == [alone[:2]] * 2
    assert finished[1].finish_reason == "early stop"


def test_sampled_rows_differ_and_sample_zero_is_the_single_run(chat_model):
    params = SamplingParams(temperature=1.0, top_p=1.0, seed=3)
    done = generate(chat_model, [[5, 6, 7]], params, max_new_tokens=8, samples=4).run()
    assert len({tuple(c.token_ids) for c in done}) > 1   # independent draws, not one sequence copied
    assert done[0].token_ids == tokens(chat_model, [5, 6, 7], 8, params)


SCRIPT = "<think> one two three four five six seven eight nine ten</think>The answer is 4."


@pytest.mark.parametrize("speculate", [False, True])
def test_think_budget_closes_the_reasoning_and_zero_skips_it(chat_model, chat_tokenizer, speculate):
    """A scripted model that reasons at length: with a budget the reasoning is cut after that many tokens and
    the chat format's closing tag follows; with 0 the prompt carries an empty reasoning section."""
    from scripted import Scripted
    tok = chat_tokenizer
    model = Scripted(chat_model, tok.encode(SCRIPT) + [tok.stop_ids[0]])

    def run(budget):
        return generate(model, [MSGS], GREEDY, max_new_tokens=200, tokenizer=tok, think_budget=budget,
                        speculate=speculate).run()[0]
    full, cut = run(None), run(3)
    assert not full.think_budget_hit and "ten" in full.reasoning and full.answer == "The answer is 4."
    assert cut.think_budget_hit and "ten" not in cut.reasoning and len(cut.reasoning) < len(full.reasoning)
    assert "</think>" in tok.decode(cut.token_ids)
    none = run(0)
    assert none.think_budget_hit and none.prompt_tokens == full.prompt_tokens + len(tok.encode("<think>\n</think>\n\n"))


def test_a_prompt_that_opens_the_reasoning_starts_in_it(chat_model, chat_tokenizer):
    tok = chat_tokenizer
    from scripted import Scripted
    model = Scripted(chat_model, tok.encode(" step one step two</think>42") + [tok.stop_ids[0]])
    c = generate(model, [tok.encode_chat(MSGS) + tok.encode("<think>")], GREEDY, max_new_tokens=50,
                 tokenizer=tok, think_budget=2).run()[0]
    assert c.think_budget_hit and c.reasoning.strip() and "two" not in c.reasoning


def test_speculation_beside_other_rows_is_recorded(chat_model, chat_tokenizer):
    one = generate(chat_model, [MSGS], GREEDY, max_new_tokens=5, tokenizer=chat_tokenizer, speculate=True,
                   samples=2).run()
    assert all("2 samples decode together" in c.speculation for c in one)
    two = generate(chat_model, [MSGS, MSGS[:1]], GREEDY, max_new_tokens=5, tokenizer=chat_tokenizer,
                   speculate=True).run()
    assert all("rows decode together" in c.speculation for c in two)
    alone = generate(chat_model, [MSGS], GREEDY, max_new_tokens=5, tokenizer=chat_tokenizer, speculate=True).run()
    assert alone[0].speculation is None
