"""The checkpoint's tokenizer, chat template and stop ids.

tokenizer.json is read with the `tokenizers` library (no transformers import on this path). Conversations are
rendered with the checkpoint's `chat_template` in a sandboxed Jinja environment when tokenizer_config.json has
one, else with the built-in Phi format `<|system|>…<|end|><|user|>…<|end|><|assistant|>`.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CheckpointError

# Official ids (added_tokens.json); used when a checkpoint has no generation_config.json.
END, ENDOFTEXT = 200020, 199999
DEFAULT_STOP_IDS = (END, ENDOFTEXT)


def render_phi(messages: list[dict], add_generation_prompt: bool = True, eos_token: str = "<|endoftext|>") -> str:
    """The built-in Phi chat format: each message `<|role|>content<|end|>`, no newlines."""
    text = "".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in messages)
    return text + ("<|assistant|>" if add_generation_prompt else eos_token)


class Tokenizer:
    def __init__(self, tokenizer, chat_template: str | None = None, eos_token: str = "<|endoftext|>",
                 stop_ids: tuple[int, ...] = DEFAULT_STOP_IDS, model_max_length: int | None = None):
        self._tok = tokenizer
        self.chat_template, self.eos_token, self.stop_ids = chat_template, eos_token, stop_ids
        self.model_max_length = model_max_length
        self._template = None

    @classmethod
    def from_dir(cls, path: str | Path, cache_dir: str | Path | None = None) -> Tokenizer:
        """The checkpoint's tokenizer.json; where it has none but has vocab.json (the mirror's case), the
        tokenizer rebuilt from vocab.json (o200k.py), kept under cache_dir when given."""
        from tokenizers import Tokenizer as HFTokenizer

        path = Path(path)
        tj = path / "tokenizer.json"
        if not tj.is_file() and (path / "vocab.json").is_file():
            tj = rebuilt_tokenizer(path, cache_dir)
        if not tj.is_file():
            raise CheckpointError(f"no tokenizer.json in {path} (run `phiflash download` to fetch the model files)")
        try:
            tok = HFTokenizer.from_file(str(tj))
        except Exception as e:  # the tokenizers library raises plain Exceptions for malformed files
            raise CheckpointError(f"{tj}: cannot be read ({e})") from None
        tc = _read_json(path / "tokenizer_config.json")
        gc = _read_json(path / "generation_config.json")
        eos = gc.get("eos_token_id")
        stop_ids = DEFAULT_STOP_IDS if eos is None else tuple(eos) if isinstance(eos, list) else (eos,)
        eos_token = tc.get("eos_token", "<|endoftext|>")
        if isinstance(eos_token, dict):
            eos_token = eos_token.get("content", "<|endoftext|>")
        return cls(tok, tc.get("chat_template"), eos_token, stop_ids, tc.get("model_max_length"))

    # ---- text <-> ids ---------------------------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """No BOS is added (add_bos_token is false upstream); special tokens in the text become their ids."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self._tok.decode(ids, skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)

    # ---- chat -----------------------------------------------------------------------------------------------------

    def render(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        if not self.chat_template:
            return render_phi(messages, add_generation_prompt, self.eos_token)
        if self._template is None:
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            self._template = env.from_string(self.chat_template)
        return self._template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                     eos_token=self.eos_token, bos_token=self.eos_token)

    def encode_chat(self, messages: list[dict], add_generation_prompt: bool = True) -> list[int]:
        return self.encode(self.render(messages, add_generation_prompt))


def rebuilt_tokenizer(path: Path, cache_dir: str | Path | None) -> Path:
    """tokenizer.json rebuilt from path's vocab.json and tokenizer_config.json, under cache_dir (else a temporary
    directory) in a folder named by the two files' hash, so it is built once per vocabulary."""
    import hashlib
    import tempfile

    from .o200k import write_tokenizer_json

    vocab, config = path / "vocab.json", path / "tokenizer_config.json"
    digest = hashlib.sha256(vocab.read_bytes() + (config.read_bytes() if config.is_file() else b"")).hexdigest()
    root = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "phiflash-tokenizers"
    dest = root / digest[:16] / "tokenizer.json"
    if not dest.is_file():
        write_tokenizer_json(vocab, config, dest)
    return dest


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    return data if isinstance(data, dict) else {}
