"""phiflash: Phi-4-mini-flash-reasoning (SambaY) in pure PyTorch, with a SymPy-checked math tutor.

Three parts that never need each other's insides:
    phiflash.lm        the language model: SambaY, its cache, weights, quantization, tokenizer, generation (torch)
    phiflash.symbolic  the math engine: parser, problem reader, solver, answers, verdicts (SymPy, never torch)
    phiflash.app       the application: CLI, tutor, batch, log, rendering (uses both)

The public API is the names below. Importing the package is cheap: each is imported when first used (the
imports under TYPE_CHECKING declare them to editors and type checkers), so the math engine never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .lm.config import PhiFlashConfig
    from .lm.generate import Completion, Event, Generation, generate
    from .lm.hub import download
    from .lm.params import GREEDY, SamplingParams
    from .lm.quantize import quantize_model
    from .lm.sambay import PhiFlashForCausalLM
    from .lm.tokenizer import Tokenizer
    from .lm.weights import load_model, save_checkpoint
    from .symbolic.answers import extract_answer
    from .symbolic.reader import parse_problem
    from .symbolic.solver import solve
    from .symbolic.verify import check_answer

_HOME = {
    # the language model (torch)
    "PhiFlashConfig": "phiflash.lm.config",
    "PhiFlashForCausalLM": "phiflash.lm.sambay",
    "load_model": "phiflash.lm.weights",
    "save_checkpoint": "phiflash.lm.weights",
    "quantize_model": "phiflash.lm.quantize",
    "download": "phiflash.lm.hub",
    "Tokenizer": "phiflash.lm.tokenizer",
    "SamplingParams": "phiflash.lm.params",
    "GREEDY": "phiflash.lm.params",
    "generate": "phiflash.lm.generate",
    "Generation": "phiflash.lm.generate",
    "Event": "phiflash.lm.generate",
    "Completion": "phiflash.lm.generate",
    # the math engine (no torch)
    "parse_problem": "phiflash.symbolic.reader",
    "solve": "phiflash.symbolic.solver",
    "extract_answer": "phiflash.symbolic.answers",
    "check_answer": "phiflash.symbolic.verify",
}

__all__ = [  # written out for tools that read it statically; the same names as _HOME (tests/test_api.py)
    "__version__", "PhiFlashConfig", "PhiFlashForCausalLM", "load_model", "save_checkpoint", "quantize_model",
    "download", "Tokenizer", "SamplingParams", "GREEDY", "generate", "Generation", "Event", "Completion",
    "parse_problem", "solve", "extract_answer", "check_answer",
]


def __getattr__(name: str):
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'phiflash' has no attribute {name!r}")
