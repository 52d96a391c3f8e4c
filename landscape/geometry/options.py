"""How random directions are drawn (`DirectionOptions`) and the named choices it offers.

Stage: directions. Plain data, no torch: the CLI builds its help from it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from landscape.errors import require_choice

Normalization = Literal["filter", "layer", "weight", "none"]


DirectionType = Literal["weights", "states"]


NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)


DIRECTION_TYPES: tuple[str, ...] = get_args(DirectionType)


@dataclass(frozen=True)
class DirectionOptions:
    """How random directions are drawn. Defaults are Li et al.'s method."""

    norm: Normalization = "filter"
    ignore_biasbn: bool = True
    dir_type: DirectionType = "weights"
    seed: int = 0
    orthogonalize: bool = False

    def __post_init__(self):
        require_choice("normalisation", self.norm, NORMALIZATIONS)
        require_choice("direction type", self.dir_type, DIRECTION_TYPES)
