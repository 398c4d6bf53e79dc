"""A task's rows made canonical in bulk: exactly `contract.cache_keys.canonical_values`.

Python's `round(v, 4)` per value is the exact rule, and costs as much as the rest of a large
task's reading. numpy rounds a whole matrix at once (`rint(v * 10**4) / 10**4`) and agrees
with `round` except where `v * 10**4` lies within a rounding error of a half-way point: those
few values, and any too large for the product to be exact, take `round` itself.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from contract.cache_keys import CANONICAL_DECIMALS

FloatMatrix = npt.NDArray[np.float64]

_SCALE = 10.0**CANONICAL_DECIMALS
# Far wider than the product's rounding error (half a unit in the last place, below 1e-10
# for values up to 1e6), far narrower than the gap between two canonical values.
_NEAR_HALF = 1e-6
# From here on every double is an integer: the scaled value no longer tells its fraction.
_EXACT_BELOW = 2.0**52


def canonical_matrix(matrix: FloatMatrix) -> FloatMatrix:
    """Each finite value rounded to CANONICAL_DECIMALS as `round(value, 4)` rounds it."""
    # A value near the largest double overflows when scaled; it is doubtful, taken below.
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = matrix * _SCALE
        rounded: FloatMatrix = np.rint(scaled) / _SCALE
        fraction = scaled - np.floor(scaled)
        doubtful = (np.abs(fraction - 0.5) < _NEAR_HALF) | (np.abs(scaled) >= _EXACT_BELOW)
    if doubtful.any():
        for index in zip(*np.nonzero(doubtful), strict=True):
            rounded[index] = round(float(matrix[index]), CANONICAL_DECIMALS)
    return rounded
