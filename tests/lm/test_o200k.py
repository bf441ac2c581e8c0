"""The official tokenizer rebuilt from vocab.json (phiflash/lm/o200k.py), against a naive twin of tiktoken's
encoder: the o200k split pattern, then, per piece, the piece itself if it is a token, else repeated merging of the
adjacent pair whose concatenation has the lowest rank."""

import json
import shutil

import pytest
import regex

from phiflash.lm import o200k
from phiflash.lm.tokenizer import Tokenizer

TEXTS = [
    "naïve café 日本語のテキスト 🙂 x² ∫₀¹ — don't I'LL WE'VE they'd",
    "def f(x):\n    return x**2  # ok\n\n\n",
    "  leading\ttabs\r\n\r\nend   ",
    "$\\frac{1}{2}+\\sqrt{3}$ and \\boxed{12{,}345} or 1234567.89/2/3",
    "Ünïcödé, العربية, русский, ελληνικά, हिन्दी, 한국어",
]


@pytest.fixture(scope="module")
def built(official_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    shutil.copyfile(official_dir / "vocab.json", d / "vocab.json")
    shutil.copyfile(official_dir / "tokenizer_config.json", d / "tokenizer_config.json")
    shutil.copyfile(official_dir / "generation_config.json", d / "generation_config.json")
    return d


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def tok(built, tokenizer_cache):
    """Loaded the way a checkpoint without tokenizer.json is: rebuilt into a cache directory (the suite's, kept
    between runs and keyed by o200k.py's source, so a change to the builder builds anew)."""
    return Tokenizer.from_dir(built, cache_dir=tokenizer_cache)


@pytest.fixture(scope="module")
def naive(official_dir):
    ranks = o200k.ranks_from_vocab(json.loads((official_dir / "vocab.json").read_text()))
    pattern = regex.compile(o200k.O200K_PATTERN)

    def bpe(piece: bytes) -> list[int]:
        if piece in ranks:
            return [ranks[piece]]
        parts = [bytes([b]) for b in piece]
        while True:
            found = [(ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1)
                     if parts[i] + parts[i + 1] in ranks]
            if not found:
                return [ranks[p] for p in parts]
            _, i = min(found)
            parts[i:i + 2] = [parts[i] + parts[i + 1]]

    return lambda text: [t for piece in pattern.findall(text) for t in bpe(piece.encode())]


def test_byte_alphabet_is_gpt2s(official_dir):
    table = o200k.byte_alphabet()
    assert len(set(table.values())) == 256 and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"
    vocab = json.loads((official_dir / "vocab.json").read_text())
    assert vocab["Ġ"] == 220 and vocab["!"] == 0  # the first 256 ranks are the single bytes


@pytest.mark.slow
def test_encoding_equals_the_rank_rule_on_math500(built, cache, naive, math500_rows):
    """Built afresh here (the fast tier's tests share one kept between runs)."""
    tok = Tokenizer.from_dir(built, cache_dir=cache)
    texts = [r["problem"] for r in math500_rows] + [r["solution"] for r in math500_rows] + TEXTS
    tokens = 0
    for text in texts:
        ids = tok.encode(text)
        assert ids == naive(text), text[:80]
        tokens += len(ids)
    assert tokens > 100_000  # the comparison covered real LaTeX at scale


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_special_ids_are_the_added_tokens_not_vocab_jsons_shifted_copy(tok, official_dir):
    added = json.loads((official_dir / "added_tokens.json").read_text())
    for token, i in added.items():
        assert tok.token_to_id(token) == i and tok.encode(token) == [i]
    assert tok.encode("<|endoftext|>") == [199999]
    assert tok.token_to_id("<|user|>") == 200021  # vocab.json alone says 200022
    assert tok.decode([200021, 200020]) == ""  # special tokens are skipped in text


def test_chat_template_ids_and_rstrip(tok):
    ids = tok.encode_chat([{"role": "user", "content": "How to solve 3*x^2+4*x+5=1?"}])
    assert ids[0] == 200021 and ids[-2:] == [200020, 200019]
    assert tok.decode(ids[1:-2]) == "How to solve 3*x^2+4*x+5=1?"
    assert tok.encode("<|end|>  \n next") == [200020] + tok.encode("next")  # rstrip eats the whitespace
    assert tok.stop_ids == (200020, 199999)


def small_vocab(words: list[str]) -> dict[str, int]:
    """A byte-level vocab.json: the 256 bytes, then each word's prefixes as merged tokens, in order."""
    char = o200k.byte_alphabet()
    spell = lambda b: "".join(char[x] for x in b)  # noqa: E731
    vocab = {spell(bytes([b])): b for b in range(256)}
    for word in words:
        raw = word.encode()
        for n in range(2, len(raw) + 1):
            vocab.setdefault(spell(raw[:n]), len(vocab))
    return vocab


def test_rebuilt_once_per_vocabulary(tmp_path, naive):
    """Built into the cache on first use, read from it after, and a different vocabulary gets its own build; the
    encoding follows the rank rule (the official vocabulary's build is compared at scale in the slow tier)."""
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "tokenizer_config.json").write_text("{}")
    (ckpt / "vocab.json").write_text(json.dumps(small_vocab([" the", " theorem", "x+1", "=0"])))
    cache = tmp_path / "cache"
    first = Tokenizer.from_dir(ckpt, cache_dir=cache)
    [made] = list(cache.glob("*/tokenizer.json"))
    stamp = made.stat().st_mtime_ns
    again = Tokenizer.from_dir(ckpt, cache_dir=cache)
    assert made.stat().st_mtime_ns == stamp and again.encode(" the theorem") == first.encode(" the theorem")
    # a piece that is a token is taken whole (" theorem" is 262, " theo" 259); the split pattern keeps x, +, 1 apart
    assert first.encode(" theorem x+1=0") == [262, 32, 120, 43, 49, 61, 48] and first.encode(" theo") == [259]
    assert not (ckpt / "tokenizer.json").exists()  # the checkpoint directory is left as it was
    (ckpt / "vocab.json").write_text(json.dumps(small_vocab([" theorem"])))
    Tokenizer.from_dir(ckpt, cache_dir=cache)
    assert len(list(cache.glob("*/tokenizer.json"))) == 2


def test_not_a_byte_level_vocab_is_a_clear_error(tmp_path):
    from phiflash.errors import CheckpointError
    (tmp_path / "vocab.json").write_text(json.dumps({"hello world": 0}))
    (tmp_path / "tokenizer_config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a byte-level token"):
        Tokenizer.from_dir(tmp_path, cache_dir=tmp_path / "c")


def test_tiny_checkpoints_carry_the_real_tokenizer(chat_tokenizer, tok):
    text = "Let $x^2 - 5x + 6 = 0$. Then (x-2)(x-3)=0, so x ∈ {2, 3}."
    assert chat_tokenizer.encode(text) == tok.encode(text)
