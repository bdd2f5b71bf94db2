"""Amounts in capital Chinese numerals (大写金额), as invoices and cheques write them:
¥1,288.00 → 壹仟贰佰捌拾捌元整, ¥10.05 → 壹拾元零伍分."""

from __future__ import annotations

DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACES = ((1000, "仟"), (100, "佰"), (10, "拾"), (1, ""))
SECTIONS = ("", "万", "亿", "万亿")


def _group(n: int) -> str:
    """0 < n < 10 000; a run of zeros inside is one 零, zeros at the end are silent."""
    out, zero = "", False
    for power, place in PLACES:
        digit = n // power % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out, zero = out + "零", False
        out += DIGITS[digit] + place
    return out


def _integer(n: int) -> str:
    groups = []
    while n:
        n, group = divmod(n, 10_000)
        groups.append(group)
    assert len(groups) <= len(SECTIONS), "amount too large for capital numerals"
    text, gap = "", False
    for section in reversed(range(len(groups))):
        group = groups[section]
        if group == 0:
            gap = bool(text)
            continue
        if text and (gap or group < 1000):  # a missing higher place is read as 零
            text += "零"
        text += _group(group) + SECTIONS[section]
        gap = False
    return text


def capital_cny(amount_minor: int) -> str:
    """Fen → 大写; a negative amount (a red-letter invoice) is written 负…"""
    if amount_minor < 0:
        return "负" + capital_cny(-amount_minor)
    yuan, jiao, fen = amount_minor // 100, amount_minor // 10 % 10, amount_minor % 10
    text = _integer(yuan) + "元" if yuan else ""
    if jiao == 0 and fen == 0:
        return (text or "零元") + "整"
    if jiao:
        text += DIGITS[jiao] + "角"
    elif yuan:
        text += "零"
    return text + (DIGITS[fen] + "分" if fen else "整")
