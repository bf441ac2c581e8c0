import itertools

import pytest

from phiflash.lm.streaming import IncrementalDecoder, ReasoningSplitter, StopStrings, split_reasoning


def test_incremental_decoder_never_emits_half_characters(chat_tokenizer):
    text = "résumé ∫ π √2 ≤ 3 — 日本語 🙂 𝔽 ꙮ done"
    ids = chat_tokenizer.encode(text)
    assert sum("\ufffd" in chat_tokenizer.decode([i]) for i in ids) >= 2  # characters split across tokens
    dec = IncrementalDecoder(chat_tokenizer.decode)
    parts = [dec.push(i) for i in ids] + [dec.flush()]
    assert "".join(parts) == text
    assert not any("\ufffd" in p for p in parts)


def splits(text, n):
    for cuts in itertools.combinations(range(1, len(text)), n):
        bounds = (0, *cuts, len(text))
        yield [text[a:b] for a, b in zip(bounds, bounds[1:])]


@pytest.mark.parametrize("n", [1, 2])
def test_stop_strings_at_every_boundary(n):
    text = "abc<|stop here"
    for pieces in splits(text, n):
        s = StopStrings(["<|stop", "zzz"])
        out = "".join(s.push(p) for p in pieces) + s.flush()
        assert out == "abc" and s.stopped


def test_stop_strings_release_false_starts():
    s = StopStrings(["END"])
    assert s.push("the EN") == "the "
    assert s.push("D") == "" and s.stopped
    s = StopStrings(["END"])
    assert s.push("the EN") + s.push("ding") + s.flush() == "the ENding" and not s.stopped


@pytest.mark.parametrize("n", [1, 2])
def test_reasoning_split_at_every_boundary(n):
    text = "  <think>a < b</thin</think>\\boxed{2}"
    for pieces in splits(text, n):
        sp = ReasoningSplitter()
        events = [e for p in pieces for e in sp.push(p)] + sp.flush()
        assert "".join(t for k, t in events if k == "reasoning") == "a < b</thin"
        assert "".join(t for k, t in events if k == "answer") == "\\boxed{2}"


def test_no_think_tag_is_all_answer():
    sp = ReasoningSplitter()
    events = sp.push("<thi") + sp.push("s is the answer") + sp.flush()
    assert events == [("answer", "<this is the answer")]


def test_split_reasoning_whole_text():
    assert split_reasoning("<think> step 1 </think> x = 2") == ("step 1", "x = 2")
    assert split_reasoning("step 1 </think> x = 2") == ("step 1", "x = 2")   # opening tag was in the prompt
    assert split_reasoning("<think> unfinished") == ("unfinished", "")
    assert split_reasoning("just an answer") == ("", "just an answer")
