"""Generated answers of every kind (issue 22, item 9): notations equal to the answer are never "wrong", near misses
(one root, a flipped end, another unknown, an unfinished equation, the problem copied back) are never "verified".
The generators live in benchmarks/notations.py, which also reports the share of "unverifiable" per kind. Fixed
seeds; a few problems per kind in `make test`, thousands of cases in `make test-all`."""

import pytest

from benchmarks.notations import FAMILIES, run

FAST = {"interval": 2}  # solving inequalities is the slow part of the checker: fewer in the fast tier


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_generated_notations_fast(kind):
    equal, near, broken = run(kind, FAST.get(kind, 4), seed=1)
    assert not broken, broken
    assert sum(equal.values()) >= 8 and sum(near.values()) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("seed", [22, 23])
@pytest.mark.parametrize("kind", list(FAMILIES))
def test_generated_notations_never_misjudged(kind, seed):
    equal, near, broken = run(kind, 15, seed)
    assert not broken, broken
    assert equal["verified"] >= 0.8 * sum(equal.values()), equal   # honest, and useful: mostly verified
