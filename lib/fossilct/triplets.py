"""Text cells holding a (plane, row, col) triplet, such as ``"128x96x96"`` or ``"5x2.5x2.5"``.

One codec for every table of the package that stores shapes or spacings (the inventory's
``shape_zyx`` and ``spacing_zyx_um``, the slice table's ``source_shape``).
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

__all__ = ["parse_triplet", "format_triplet"]

_INTEGER = re.compile(r"[+-]?\d+")


def parse_triplet(text: str) -> tuple:
    """Parse ``"128x96x96"`` or ``"2.5x2.5x2.5"`` (as in the inventory CSV) into a tuple.

    Parameters
    ----------
    text : str
        Three numbers joined by ``x``.

    Returns
    -------
    tuple of 3 int, or tuple of 3 float
        ints when all three are written as integers, else floats.

    Raises
    ------
    ValueError
        If `text` is not three finite numbers joined by ``x``.

    Examples
    --------
    >>> parse_triplet("128x96x96")
    (128, 96, 96)
    >>> parse_triplet("5x2.5x2.5")
    (5.0, 2.5, 2.5)
    """
    parts = [part.strip() for part in str(text).lower().split("x")]
    if len(parts) == 3 and all(_INTEGER.fullmatch(part) for part in parts):
        return tuple(int(part) for part in parts)
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(value) for value in values):
        raise ValueError(f"expected three numbers joined by 'x', e.g. '128x96x96' or "
                         f"'2.5x2.5x2.5'; got {text!r}. Check the inventory CSV column.")
    return values


def format_triplet(values: Sequence[float]) -> str:
    """Write three numbers as ``"AxBxC"``, the inverse of `parse_triplet`.

    Floats use the shortest text that reads back to the same value.

    Examples
    --------
    >>> format_triplet((128, 96, 96))
    '128x96x96'
    >>> format_triplet((5.0, 2.5, 1796.875))
    '5x2.5x1796.875'
    """
    return "x".join(str(int(value)) if isinstance(value, (int, np.integer))
                    else np.format_float_positional(float(value), trim="-") for value in values)
