"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from a
31-character alphabet (no I, O, Z, S, V), the last a check character over the first 17."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
LENGTH = 18


def check_character(first17: str) -> str:
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: str) -> str | None:
    """Why `code` is not a unified social credit code, or None when it is one."""
    if len(code) != LENGTH:
        return f"a unified social credit code has {LENGTH} characters, not {len(code)}"
    wrong = [c for c in code if c not in ALPHABET]
    if wrong:
        return f"{wrong[0]!r} is not a character of a unified social credit code (digits and A-Y without I, O, S, V, Z)"
    if not code[2:8].isdigit():
        return "characters 3 to 8 of a unified social credit code are the administrative division code (digits)"
    if check_character(code[:17]) != code[17]:
        return f"the check character is {code[17]!r}; the first 17 characters give {check_character(code[:17])!r}"
    return None


def is_valid(code: str) -> bool:
    return problem(code) is None
