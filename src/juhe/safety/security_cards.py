"""Card data at rest: full card numbers (13–19 digits of a card brand's range that pass Luhn), track
data (track 1 `%B…^NAME^YYMM`, track 2 `PAN=YYMM…`, also with ISO 8583's `D` separator) and
card verification values next to their name, searched in every row of every table and in every
file given (logs, exports, statements). What Juhe may keep is a token, the BIN and the last four."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select

from juhe.db.models import Base, load_all_models

# Plain, or in groups of four as printed (4111 1111 1111 1111); a masked one (411111******1111)
# breaks the run. Brands' ranges start with 2–6, which leaves out millisecond timestamps.
# Digits inside a longer token (an order number such as 2026120710171499cb47…) are no card number.
PAN = re.compile(r"(?<![0-9A-Za-z])(?:[2-6][0-9]{12,18}|[2-6][0-9]{3}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{1,7})(?![0-9A-Za-z])")
TRACK1 = re.compile(r"%?B([0-9]{13,19})\^[^^]{2,26}\^[0-9]{4}")
TRACK2 = re.compile(r"(?<![0-9A-Za-z])([0-9]{13,19})[=D][0-9]{4}[0-9]{3}")
CVV = re.compile(r"(?i)\b(?:cvv2?|cvc2?|cvn|cid|csc|security[_ ]?code)[\"']?\s*[:=]\s*[\"']?[0-9]{3,4}(?![0-9])")
FILE_BYTES_MAX = 256 * 1024 * 1024  # a log bigger than this is read in its first part only
FOUND_SHOWN_MAX = 20


@dataclass
class CardScan:
    rows: int = 0
    files: int = 0
    card_numbers: int = 0
    track_data: int = 0
    cvvs: int = 0
    found: list[str] = field(default_factory=list)  # where, never the number itself

    @property
    def figures(self) -> dict:
        return {"rows_scanned": self.rows, "files_scanned": self.files, "card_numbers": self.card_numbers,
                "track_data": self.track_data, "cvvs": self.cvvs}


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def scan_text(text: str) -> tuple[int, int, int]:
    """(card numbers, track data, CVVs) in `text`."""
    tracks = sum(luhn_valid(m[1]) for m in TRACK1.finditer(text)) + sum(luhn_valid(m[1]) for m in TRACK2.finditer(text))
    pans = sum(luhn_valid(re.sub(r"[ -]", "", m[0])) for m in PAN.finditer(text))
    return pans, tracks, len(CVV.findall(text))


def scan(engine: Engine | None = None, paths: list[Path] = ()) -> CardScan:
    result = CardScan()
    if engine is not None:
        _scan_database(engine, result)
    for path in paths:
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                with file.open("rb") as f:
                    _add(result, scan_text(f.read(FILE_BYTES_MAX).decode("utf-8", errors="replace")), str(file))
                result.files += 1
    return result


def _scan_database(engine: Engine, result: CardScan) -> None:
    load_all_models()
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                result.rows += 1
                _add(result, scan_text(" | ".join(_text(v) for v in row)), f"table {table.name}")


def _text(value) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _add(result: CardScan, counts: tuple[int, int, int], where: str) -> None:
    pans, tracks, cvvs = counts
    result.card_numbers += pans
    result.track_data += tracks
    result.cvvs += cvvs
    if (pans or tracks or cvvs) and len(result.found) < FOUND_SHOWN_MAX:
        result.found.append(f"{where}: {pans} card numbers, {tracks} track data, {cvvs} CVVs")
