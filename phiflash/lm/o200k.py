"""The official tokenizer rebuilt offline from a checkpoint's vocab.json: a tokenizer.json for `tokenizers`.

Phi-4-mini's tokenizer is o200k (the GPT-4o encoding): byte-level BPE whose vocab.json keys are the bytes of each
token in GPT-2's printable byte alphabet and whose values are the BPE ranks. tiktoken encodes a piece of text by
splitting it with the o200k pattern, then, in each piece, merging the adjacent pair whose concatenation has the
lowest rank until none is in the vocabulary (a piece that is itself a token is taken whole). The same result in
`tokenizers`' terms: a Split pre-tokenizer with that pattern, byte-level mapping, BPE with `ignore_merges` (the
whole-piece rule) and merges ordered by the rank of the token they make; the tie between two splits of one token
goes to the split of the lower-ranked left part, then right part.

tokenizer_config.json's added tokens give the special ids: vocab.json also lists the role tokens, shifted by one
(docs/sambay-spec.md §9 item 12), so its entries past the BPE range are not used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import CheckpointError

# tiktoken's o200k_base split pattern (tiktoken_ext/openai_public.py): words with their leading non-letter and
# an optional contraction, numbers of up to three digits, punctuation runs with a leading space and trailing
# newlines or slashes, newline runs, and other whitespace.
O200K_PATTERN = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"\s*[\r\n]+",
    r"\s+(?!\S)",
    r"\s+",
])
BPE_TOKENS = 199998  # ids 0..199997 are BPE tokens; 199999 and 200018.. are added tokens (spec §6)


def byte_alphabet() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character: printable Latin-1 bytes stand for themselves, the
    rest take the code points from 256 up, in byte order."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def ranks_from_vocab(vocab: dict[str, int]) -> dict[bytes, int]:
    """vocab.json's BPE entries as token bytes → rank."""
    unbyte = {c: b for b, c in byte_alphabet().items()}
    ranks = {}
    for text, rank in vocab.items():
        if rank < BPE_TOKENS:
            try:
                ranks[bytes(unbyte[c] for c in text)] = rank
            except KeyError:
                raise CheckpointError(f"vocab.json: {text!r} is not a byte-level token") from None
    return ranks


def merge_ranks(ranks: dict[bytes, int]) -> list[tuple[int, int]]:
    """Every split of a token into two tokens, as the two parts' ranks, in the order the rank rule applies them:
    by the rank of what they make, then the left part's, then the right's (integers only: sorting 450K of them
    is the cost of the rebuild)."""
    keyed = []
    get = ranks.get
    for token, rank in ranks.items():
        for i in range(1, len(token)):
            a = get(token[:i])
            if a is not None and (b := get(token[i:])) is not None:
                keyed.append((rank, a, b))
    keyed.sort()
    return [(a, b) for _, a, b in keyed]


def merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """merge_ranks as the parts' bytes."""
    token = {r: t for t, r in ranks.items()}
    return [(token[a], token[b]) for a, b in merge_ranks(ranks)]


def added_tokens(tokenizer_config: dict) -> list[dict]:
    """tokenizer_config.json's `added_tokens_decoder` as tokenizer.json's `added_tokens` list."""
    decoder = tokenizer_config.get("added_tokens_decoder") or {}
    out = []
    for i, t in sorted(decoder.items(), key=lambda kv: int(kv[0])):
        out.append({"id": int(i), "content": t["content"], "single_word": t.get("single_word", False),
                    "lstrip": t.get("lstrip", False), "rstrip": t.get("rstrip", False),
                    "normalized": t.get("normalized", False), "special": t.get("special", True)})
    return out


def tokenizer_json(vocab: dict[str, int], tokenizer_config: dict) -> dict:
    """The tokenizer.json document for a byte-level o200k vocab.json and its tokenizer_config.json."""
    ranks = ranks_from_vocab(vocab)
    if not ranks:
        raise CheckpointError("vocab.json has no BPE tokens")
    spelled = {r: t for t, r in vocab.items() if r < BPE_TOKENS}   # vocab.json's own byte-level spelling, by rank
    added = added_tokens(tokenizer_config)
    model_vocab = {spelled[r]: r for r in ranks.values()} | {t["content"]: t["id"] for t in added}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": O200K_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": model_vocab, "merges": [[spelled[a], spelled[b]] for a, b in merge_ranks(ranks)]},
    }


def write_tokenizer_json(vocab_path: str | Path, tokenizer_config_path: str | Path, dest: str | Path) -> Path:
    """Build tokenizer.json from vocab.json and tokenizer_config.json and write it to dest (via a temporary
    file, so a reader never sees half of it)."""
    try:
        vocab = json.loads(Path(vocab_path).read_text(encoding="utf-8"))
        config = json.loads(Path(tokenizer_config_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot rebuild the tokenizer: {e}") from None
    if not isinstance(vocab, dict) or not isinstance(config, dict):
        raise CheckpointError(f"cannot rebuild the tokenizer: {vocab_path} or {tokenizer_config_path} is not a "
                              "JSON object")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")  # two processes building at once never share one
    tmp.write_text(json.dumps(tokenizer_json(vocab, config), ensure_ascii=False), encoding="utf-8")
    tmp.replace(dest)
    return dest
