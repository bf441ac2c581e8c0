"""phiflash: Phi-4-mini-flash-reasoning (SambaY) in pure PyTorch, with a SymPy-checked math tutor.

Importing the package is cheap: torch is imported only when a model-side name is first used, and the math
engine (parse_problem, solve, extract_answer, check_answer) never imports it.
"""

__version__ = "0.1.0"

_LAZY = {
    "PhiFlashConfig": "phiflash.config",
    "load_model": "phiflash.weights",
    "save_checkpoint": "phiflash.weights",
    "random_model": "phiflash.weights",
    "PhiFlashForCausalLM": "phiflash.model",
    "Cache": "phiflash.cache",
    "cache_bytes": "phiflash.cache",
    "Tokenizer": "phiflash.tokenizer",
    "SamplingParams": "phiflash.generate",
    "generate": "phiflash.generate",
    "generate_batch": "phiflash.generate",
    "complete": "phiflash.generate",
    # the math engine (no torch)
    "parse_problem": "phiflash.problem",
    "solve": "phiflash.solver",
    "extract_answer": "phiflash.answers",
    "check_answer": "phiflash.verify",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'phiflash' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
