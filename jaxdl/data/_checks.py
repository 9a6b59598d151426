"""Small argument checks shared by the data modules."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_int(value: Any, *, min_value: int) -> bool:
    """True for a Python/NumPy integer (not a bool) that is ``>= min_value``."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            and value >= min_value)
