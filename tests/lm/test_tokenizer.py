import json

import pytest

from phiflash.lm.tokenizer import Tokenizer, render_phi

CONVERSATIONS = [
    [{"role": "user", "content": "How to solve 3*x^2+4*x+5=1?"}],
    [{"role": "system", "content": "You are a math tutor."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "2+2?"}],
]


@pytest.fixture(scope="module")
def official_template(official_dir):
    return json.loads((official_dir / "tokenizer_config.json").read_text())["chat_template"]


def test_official_template_renders_the_card_example(official_template):
    tok = Tokenizer(None, chat_template=official_template)
    assert tok.render(CONVERSATIONS[0]) == "<|user|>How to solve 3*x^2+4*x+5=1?<|end|><|assistant|>"
    assert tok.render(CONVERSATIONS[0], add_generation_prompt=False).endswith("<|end|><|endoftext|>")


@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("gen", [True, False])
def test_builtin_format_equals_official_template(official_template, messages, gen):
    assert render_phi(messages, gen) == Tokenizer(None, chat_template=official_template).render(messages, gen)


def test_tiny_tokenizer_has_the_official_special_ids(chat_tokenizer, official_dir):
    added = json.loads((official_dir / "added_tokens.json").read_text())
    for token, i in added.items():
        assert chat_tokenizer.token_to_id(token) == i
    assert chat_tokenizer.token_to_id("<|endoftext|>") == 199999


def test_stop_ids_from_generation_config(chat_tokenizer, official_dir):
    gen = json.loads((official_dir / "generation_config.json").read_text())
    assert chat_tokenizer.stop_ids == tuple(gen["eos_token_id"]) == (200020, 199999)


def test_chat_encoding_is_framed_by_role_ids(chat_tokenizer):
    ids = chat_tokenizer.encode_chat(CONVERSATIONS[0])
    assert ids[0] == 200021 and ids[-2:] == [200020, 200019]
    assert chat_tokenizer.decode(ids[1:-2]) == CONVERSATIONS[0][0]["content"]


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    from phiflash.errors import CheckpointError
    with pytest.raises(CheckpointError, match="no tokenizer.json"):
        Tokenizer.from_dir(tmp_path)
