"""The :86: narrative of an MT940 statement line, in the three shapes banks write it.

- `/KEY/value` fields (SWIFT's structured 'information to account owner', Dutch and Chinese
  banks): `/EREF/…/ORDP//NAME/…/REMI/USTD//…/`; ING puts the counterparty in `/CNTP/account/BIC/
  name/city/`, Rabobank and ING nest `//NAME/` under `/ORDP/` or `/BENM/`.
- numbered sub-fields: a transaction code, then `?00`…`?63` (German DK standard, SEPA keywords
  `EREF+`/`SVWZ+` in the purpose), `>20`… (Triodos), `~20`… or `^20`… (Polish banks). The
  purpose is ?20–?29 and ?60–?63, the counterparty's account ?31 (?38 its IBAN in Poland), its
  name ?32–?33 (?27–?28 in Poland).
- free text, its lines joined by spaces; Dutch banks' labels (`NAAM:`, `IBAN:`, `REK:`,
  `OMSCHRIJVING:`) give the counterparty and the description.
Banks wrap :86: at 65 characters wherever that falls, so structured text is joined without a break.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SLASH_KEYS = ("EREF|MARF|CSID|NAME|REMI|IBAN|ACCT|BIC|TRTP|PURP|RTRN|PREF|ORDP|BENM|CNTP|ISDT|ADDR|ULTC|ULTD"
               "|ULTB|SUM|EXCH|OCMT|CHGS|SVCL|RTYP|BUSP|TRCD")  # fmt: skip
_SLASH_FIELD = re.compile(rf"/({_SLASH_KEYS})/(.*?)(?=/(?:{_SLASH_KEYS})/|$)", re.S)
_SUBFIELDS_START = re.compile(r"\d{3}([?>~^<])\d{2}")  # transaction code, then ?00 posting text …
_LABEL = re.compile(r"\b(IBAN|REK|NAAM|OMSCHRIJVING|KENMERK|BIC):\s*")
_SEPA_KEYWORD = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|PURP|IBAN|BIC)\+")
NOT_PROVIDED = ("NOTPROVIDED", "NONREF")


@dataclass(frozen=True, slots=True)
class _Layout:
    """Which numbered sub-fields hold what; the first name or account found in order wins."""

    purpose: frozenset[str]
    names: tuple[tuple[str, ...], ...]
    accounts: tuple[tuple[str, ...], ...]
    joiner: str = " "  # between purpose lines that are lines of their own; "" where a word runs on
    text_only: bool = False  # purpose sub-fields may hold a BIC or IBAN instead of text: skip those


def _keys(first: int, last: int) -> set[str]:
    return {f"{n:02d}" for n in range(first, last + 1)}


_POLISH = _Layout(frozenset(_keys(20, 26) | _keys(60, 63)), (("27", "28"), ("32", "33")), (("38",), ("31",)))
_LAYOUTS = {
    "?": _Layout(frozenset(_keys(20, 29) | _keys(60, 63)), (("32", "33"),), (("31",),)),  # German DK standard
    # Triodos: >20 BIC and >21 IBAN of a transfer, or text (a card payment); >31 is the own account.
    ">": _Layout(frozenset(_keys(20, 29)), (), (("21",),), joiner="", text_only=True),
    "~": _POLISH, "^": _POLISH, "<": _POLISH,
}  # fmt: skip


@dataclass(slots=True)
class Narrative:
    end_to_end_id: str | None = None
    name: str | None = None
    account: str | None = None
    remittance: str = ""


def read_narrative(text: str) -> Narrative:
    joined = text.replace("\n", "")
    subfields = _SUBFIELDS_START.match(joined)
    if subfields:
        return _subfields(joined, subfields[1])
    if _SLASH_FIELD.match(joined):
        return _slash_fields(joined)
    return _free_text(" ".join(line.strip() for line in text.splitlines() if line.strip()))


def _free_text(text: str) -> Narrative:
    """Free text, with the labels Dutch banks put in it (ABN AMRO, Knab): `IBAN: … NAAM: …
    OMSCHRIJVING: …`, `REK: …/NAAM: …`. The remittance is the description, else the text before the
    labels, else all of it (runs of spaces, the banks' column layout, as one)."""
    plain = " ".join(text.split())
    parts = _LABEL.split(plain)
    found = {parts[i]: parts[i + 1].strip(" /") for i in range(1, len(parts) - 1, 2)}
    return Narrative(name=found.get("NAAM") or None, account=found.get("IBAN") or found.get("REK") or None,
                     remittance=found.get("OMSCHRIJVING") or parts[0].strip() or plain)  # fmt: skip


def _slash_fields(joined: str) -> Narrative:
    found: dict[str, str] = {}
    for key, value in _SLASH_FIELD.findall(joined):
        found.setdefault(key, value.strip())  # the first NAME is the counterparty's; ULTD//NAME/ comes later
    remittance = found.get("REMI", "").removeprefix("USTD//").removeprefix("STRD/").rstrip("/")
    account, name = found.get("IBAN") or found.get("ACCT"), found.get("NAME", "").rstrip("/")
    if "CNTP" in found:  # ING: account/BIC/name/city
        parts = found["CNTP"].split("/") + ["", "", ""]
        account, name = account or parts[0], name or parts[2]
    reference = found.get("EREF", "").rstrip("/")
    return Narrative(
        end_to_end_id=reference if reference and reference not in NOT_PROVIDED else None,
        name=name or None, account=account or None, remittance=remittance.strip(),
    )  # fmt: skip


def _subfields(joined: str, mark: str) -> Narrative:
    layout = _LAYOUTS[mark]
    found = re.findall(rf"{re.escape(mark)}(\d{{2}})([^{re.escape(mark)}]*)", joined)
    purpose = [value for key, value in found if key in layout.purpose and (" " in value or not layout.text_only)]
    name = next(filter(None, ("".join(v for k, v in found if k in keys).strip() for keys in layout.names)), "")
    # An account number has no spaces; Triodos' >21 holds text on card payments.
    accounts = (value.strip() for keys in layout.accounts for key, value in found if key in keys)
    account = next((a for a in accounts if a and " " not in a), None)
    # Keywords run across the 27-character ?2x lines, so they join without a space; plain text does not.
    keywords = _sepa_keywords("".join(purpose))
    reference = keywords.get("EREF")
    plain = layout.joiner.join(p if layout.joiner == "" else p.strip() for p in purpose if p.strip())
    remittance = (keywords.get("SVWZ") or keywords[""]) if keywords else plain
    return Narrative(
        end_to_end_id=reference if reference and reference not in NOT_PROVIDED else None,
        name=name or None, account=account or None, remittance=remittance.strip(),
    )  # fmt: skip


def _sepa_keywords(purpose: str) -> dict[str, str]:
    """{'EREF': …, 'SVWZ': …, '': text before the first keyword}; {} when the purpose has none."""
    parts = _SEPA_KEYWORD.split(purpose)
    if len(parts) == 1:
        return {}
    found = {"": parts[0].strip()}
    found.update((parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2))
    return found
