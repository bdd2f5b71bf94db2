"""Seal and open one value in its place, and its blind index, with this process's keyring."""

from __future__ import annotations

import hashlib
import hmac
import re

from juhe.pii import envelope, keyring
from juhe.pii.envelope import Sealed

INDEX_HEX = 32  # 128 bits of the HMAC: collisions are not a concern, the column stays small
_NOT_ACCOUNT = re.compile(r"[\s-]")
_NOT_DIGIT = re.compile(r"\D")


def seal(plain: str | bytes, table: str, column: str, row: object) -> Sealed:
    ring = keyring.active()
    raw = plain.encode() if isinstance(plain, str) else plain
    return envelope.seal(raw, ring.key_id, ring.primary, ring.versions[ring.primary], envelope.context(table, column, str(row)))


def open_bytes(blob: bytes, table: str, column: str, row: object) -> bytes:
    ring = keyring.active()
    header = envelope.read_header(blob)
    if header.key_id != ring.key_id:
        raise envelope.SealError(f"sealed under {header.key_id}, the keyring holds {ring.key_id}")
    return envelope.open_sealed(blob, ring.master(header.version), envelope.context(table, column, str(row)))


def open_text(blob: bytes | None, table: str, column: str, row: object) -> str | None:
    """For the few Core queries that read a sealed column without the ORM."""
    return None if blob is None else open_bytes(blob, table, column, row).decode()


def normalise(value: str, kind: str) -> str:
    """The form two spellings of one thing share: an account without spaces or dashes in capitals,
    a phone number's digits, anything else trimmed and case-folded."""
    if kind == "account":
        return _NOT_ACCOUNT.sub("", value).upper()
    if kind == "phone":
        return _NOT_DIGIT.sub("", value)
    return " ".join(value.split()).casefold()


def blind_index(value: str, column: str, kind: str) -> str:
    """HMAC-SHA256 under the index key, per column (the same account in two columns indexes apart),
    so equal values can be found and grouped without the table holding the value."""
    message = column.encode() + b"\x00" + normalise(value, kind).encode()
    return hmac.new(keyring.active().index_key, message, hashlib.sha256).hexdigest()[:INDEX_HEX]
