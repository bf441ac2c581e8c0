"""The language model: SambaY in pure PyTorch, its cache, weights, quantization, tokenizer and generation.

Nothing here imports phiflash.symbolic or phiflash.app. `hub` alone imports no torch (the CLI uses it to find
weights without paying for torch).
"""
