"""`python -m phiflash` is the `phiflash` command."""

from phiflash.app.cli import main

main()
