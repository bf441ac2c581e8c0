"""phiflash: Phi-4-mini-flash-reasoning (SambaY) in pure PyTorch, with a SymPy-checked math tutor.

Three parts that never need each other's insides:
    phiflash.lm        the language model: SambaY, its cache, weights, quantization, tokenizer, generation (torch)
    phiflash.symbolic  the math engine: parser, problem reader, solver, answers, verdicts (SymPy, never torch)
    phiflash.app       the application: CLI, tutor, batch, log, rendering (uses both)

Importing the package is cheap: each public name below is imported when first used.
"""

__version__ = "0.1.0"

_LAZY = {
    "PhiFlashConfig": "phiflash.lm.config",
    "load_model": "phiflash.lm.weights",
    "save_checkpoint": "phiflash.lm.weights",
    "random_model": "phiflash.lm.testing",
    "PhiFlashForCausalLM": "phiflash.lm.sambay",
    "Cache": "phiflash.lm.cache",
    "cache_bytes": "phiflash.lm.cache",
    "Trail": "phiflash.lm.cache",
    "Tokenizer": "phiflash.lm.tokenizer",
    "SamplingParams": "phiflash.lm.generate",
    "generate": "phiflash.lm.generate",
    "generate_batch": "phiflash.lm.generate",
    "complete": "phiflash.lm.generate",
    "speculative_generate": "phiflash.lm.generate",
    # the math engine (no torch)
    "parse_problem": "phiflash.symbolic.problem",
    "solve": "phiflash.symbolic.solver",
    "extract_answer": "phiflash.symbolic.answers",
    "check_answer": "phiflash.symbolic.verify",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'phiflash' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
