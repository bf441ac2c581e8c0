"""Write a tiny random checkpoint in the official layout, for trying the CLI without the real weights.

    python examples/make_tiny_checkpoint.py /tmp/tiny
    phiflash solve "1+1" --model /tmp/tiny --max-tokens 40
"""

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write a tiny random checkpoint in the official layout (config.json, two safetensors shards, "
                    "the official tokenizer files), for trying phiflash's model path without the real weights.",
        epilog='Then: phiflash solve "1+1" --model DIR --max-tokens 40')
    parser.add_argument("dir", nargs="?", default="tiny-checkpoint",
                        help="directory to write (created; default: %(default)s)")
    args = parser.parse_args(argv)
    from phiflash.lm.testing import write_tiny_checkpoint  # after parsing: --help needs no torch

    print(write_tiny_checkpoint(args.dir))


if __name__ == "__main__":
    main()
