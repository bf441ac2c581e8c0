"""Sampling parameters, importable without torch (the CLI takes its defaults from here)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PhiflashError


@dataclass(frozen=True)
class SamplingParams:
    """The model card's settings are the defaults: temperature 0.6, top_p 0.95. temperature 0 = greedy."""
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0
    seed: int | None = None

    def __post_init__(self):
        if self.temperature < 0:
            raise PhiflashError(f"temperature must be ≥ 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise PhiflashError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise PhiflashError(f"top_k must be ≥ 0, got {self.top_k}")


GREEDY = SamplingParams(temperature=0.0)
