"""Write a tiny random checkpoint in the official layout, for trying the CLI without the real weights.

    python examples/make_tiny_checkpoint.py /tmp/tiny
    phiflash solve "1+1" --model /tmp/tiny --max-tokens 40
"""

import sys

from phiflash.lm.testing import write_tiny_checkpoint

print(write_tiny_checkpoint(sys.argv[1] if len(sys.argv) > 1 else "tiny-checkpoint"))
