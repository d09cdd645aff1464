"""Argument checks shared across lqgx (one wording for one mistake)."""

from __future__ import annotations

import numpy as np


def positive_int(value, arg: str) -> int:
    """``int(value)`` if ``value`` is an integer >= 1 (Python or NumPy; not a bool), else a
    ``ValueError`` naming ``arg``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{arg} must be an integer >= 1, got {value!r}")
    return int(value)
