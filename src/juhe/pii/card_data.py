"""Full card numbers and card security codes are never stored (PCI DSS 3.3, 3.4): the POS gateway
tokenises the PAN at once (juhe.channels.pos.signing), and a request that carries a PAN or a CVV
in its free-form fields (payer, metadata) is refused before anything is written."""

from __future__ import annotations

import re

# 13 to 19 digits, as cards are written: in one run or in groups split by spaces or dashes.
_PAN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
SECRET_KEYS = frozenset({"cvv", "cvv2", "cvc", "cvc2", "cid", "csc", "security_code", "card_security_code",
                         "track2", "track_2", "track_data", "pin", "pin_block"})
PAN_KEYS = frozenset({"pan", "card_number", "card_no", "cardnumber", "primary_account_number"})


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def card_data_in(fields: dict[str, str], where: str) -> list[str]:
    """Where the fields hold card data: a CVV/PIN/track key, a card-number key, or a Luhn-valid
    13–19 digit number in any other value. Fields named as accounts are a payee's bank account,
    which in China is often a debit card's number: a transfer needs it, and it is not card data."""
    found = []
    for key, value in fields.items():
        name = key.strip().lower().replace("-", "_")
        if name in SECRET_KEYS or name in PAN_KEYS:
            found.append(f"{where}.{key}")
        elif not name.endswith("account") and any(luhn_valid(re.sub(r"\D", "", m)) for m in _PAN.findall(str(value))):
            found.append(f"{where}.{key}")
    return found
