"""python -m phiflash.symbolic.tasks: print the README's list of the tasks the engine reads."""

from . import catalogue

print(catalogue())
