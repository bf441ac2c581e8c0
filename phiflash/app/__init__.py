"""The application: the command line, the tutor, batch solving, the local log and terminal rendering.

It uses phiflash.symbolic directly and imports phiflash.lm only where a model is needed, so commands that
need none never import torch.
"""
