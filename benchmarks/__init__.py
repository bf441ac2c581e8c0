"""`make bench`: measured numbers, side by side with a baseline in the same run (never part of make test)."""
