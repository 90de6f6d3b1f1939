"""Parsing the small lists users type: filter and index lists like ``0-5``, ``1,4,7``, ``all``."""

from __future__ import annotations

from .errors import UserError


def parse_int_list(text: str, what: str, upper: int | None = None) -> list[int]:
    """'0-5' / '1,4,7' / 'all' -> a list of ints (``all`` needs ``upper``)."""
    text = text.strip()
    if text == "all" and upper is not None:
        return list(range(upper))
    out: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                a, b = part.split("-", 1)
                out += list(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise UserError(f"{what} {text!r} is not a list like 0-5, 1,4,7 or all") from None
    bad = [i for i in out if i < 0 or (upper is not None and i >= upper)]
    if bad or not out:
        rng = f" (valid: 0-{upper - 1})" if upper is not None else ""
        raise UserError(f"{what} {text!r} selects nothing valid{rng}")
    return out
