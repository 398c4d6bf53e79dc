"""The cache-key rule: `irisq:pred:{model_version}:{sl}|{sw}|{pl}|{pw}`, one entry per item.

Values are rounded to CANONICAL_DECIMALS (1 µm) before caching AND before prediction, so a
cached answer is exactly what the model gives for the canonical input; the model version in
the key means a new model never answers with an old one's results, and needs no flush.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from contract.keys import KEY_PREFIX

CANONICAL_DECIMALS = 4


def canonical_values(values: Sequence[float]) -> list[float]:
    return [round(value, CANONICAL_DECIMALS) for value in values]


def cache_key_prefix(model_version: str) -> str:
    return f"{KEY_PREFIX}:pred:{model_version}:"


def key_suffix(canonical: Sequence[float]) -> str:
    """The key's values part for values already rounded by `canonical_values`.

    5.1, 5.10 and 5.100004 all become "5.1"; 5.0 and 5 become "5" (a canonical value has a
    plain shortest repr, never "1e-05").
    """
    return "|".join(repr(float(value)).removesuffix(".0") for value in canonical)


def cache_key(values: Sequence[float], model_version: str) -> str:
    return cache_key_prefix(model_version) + key_suffix(canonical_values(values))


# The fast spelling: one "%.4f" pass over every row's text, for the many items of a batch.
# It gives exactly `canonical_values` and `key_suffix` (property tests hold them equal) at a
# fraction of their cost per value: on 100-item requests the gateway's CPU is a fifth lower
# and the worker's a tenth (docs/optimisations.md).
_ROW_FORMAT = "|".join([f"%.{CANONICAL_DECIMALS}f"] * 4)
_TRAILING_ZEROS = re.compile(r"\.?0+(?=[|\n]|\Z)")
# Below this magnitude a canonical value's "%.4f" text, trailing zeros removed, is its
# shortest repr (at most 15 significant digits), which `key_suffix` spells.
FAST_SPELLING_MAX = 1e11


def _rows_text(rows: Iterable[Sequence[float]]) -> str:
    """Every row's values rounded by "%.4f", `|` between values, a newline between rows.

    "%.4f" rounds exactly as `round(v, 4)` does: both are CPython's correctly rounded dtoa.
    """
    return "\n".join([_ROW_FORMAT % tuple(row) for row in rows])


def _suffixes(text: str) -> list[str]:
    return _TRAILING_ZEROS.sub("", text).split("\n") if text else []


def canonical_rows(rows: Iterable[Sequence[float]]) -> tuple[list[list[float]], list[str]]:
    """Each row's `canonical_values` and its `key_suffix`, for values below FAST_SPELLING_MAX
    (requests carry at most 100)."""
    text = _rows_text(rows)
    values = [list(map(float, line.split("|"))) for line in text.split("\n")] if text else []
    return values, _suffixes(text)


def key_suffixes(rows: Iterable[Sequence[float]]) -> list[str]:
    """The `key_suffix` of rows of canonical values below FAST_SPELLING_MAX."""
    return _suffixes(_rows_text(rows))
