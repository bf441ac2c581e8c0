"""The math engine: a safe parser, the problem reader, a SymPy solver with steps, answer reading and verdicts.

Nothing here imports torch, phiflash.lm or phiflash.app.
"""
