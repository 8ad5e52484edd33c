"""Numbers for tables and panes: a fixed significant width that never needs to wrap.

At most ``digits`` significant digits; an exponent only where plain digits would grow past
about ten characters; a compact exponent (``3.368e9``, not ``3.36826e+09``): the text
stays short enough for its column, and the exact value goes in the tooltip instead.
"""

from __future__ import annotations

import math

DIGITS = 5


def format_number(x: float, digits: int = DIGITS) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    magnitude = abs(x)
    if 1e-4 <= magnitude < 10**digits:
        return f"{x:.{digits}g}".replace("e+0", "e").replace("e-0", "e-")
    mantissa, exponent = f"{x:.{max(digits - 2, 1)}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    return f"{mantissa}e{int(exponent)}"


def format_value(text: str, digits: int = DIGITS) -> str:
    """A param's text: a long float ("0.00031622776601683794") shortened, else as is."""
    if len(text) <= digits + 4:
        return text
    try:
        x = float(text)
    except ValueError:
        return text
    if x.is_integer() and "e" not in text.lower() and "." not in text:
        return text  # an integer id or seed stays exact
    return format_number(x, digits)
