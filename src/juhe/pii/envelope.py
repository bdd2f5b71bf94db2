"""The sealed value, as Google Tink's KMS envelope AEAD lays it out: a fresh 256-bit data key (DEK)
per value encrypts the data; the master key wraps the DEK; both travel in the one blob.

    0      format (0x01)
    1      n = length of the master key id
    2      key id (n bytes, ASCII)
    2+n    master key version (uint32, big endian)
    6+n    wrap nonce (12) · wrapped DEK (32 + 16 tag)
    66+n   data nonce (12) · ciphertext + tag (16)

The DEK wrap is bound to the header (its associated data is bytes 0 … 6+n), so the version in
the header cannot be edited; the data is bound to its place ("table/column/row"), so a blob
copied into another row or column does not open. Rotation re-wraps the DEK under a newer
master version and leaves the data ciphertext as it is."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = 0x01
NONCE_BYTES = 12
DEK_BYTES = 32
TAG_BYTES = 16
WRAPPED_BYTES = NONCE_BYTES + DEK_BYTES + TAG_BYTES
KEY_ID_MAX = 64


class SealError(Exception):
    """A blob that is not ours, was altered, sits in another place than it was sealed for, or
    names a master key version this keyring does not hold."""


class Sealed(bytes):
    """Ciphertext as stored. The column type accepts nothing else, so plaintext cannot slip into a table."""


@dataclass(frozen=True)
class Header:
    key_id: str
    version: int
    length: int  # bytes of the header, where the wrapped DEK starts


def context(table: str, column: str, row: str) -> bytes:
    """The associated data binding a value to its place."""
    return f"{table}/{column}/{row}".encode()


def seal(plain: bytes, key_id: str, version: int, master: bytes, where: bytes) -> Sealed:
    header = _header(key_id, version)
    dek = AESGCM.generate_key(bit_length=256)
    wrap_nonce, data_nonce = os.urandom(NONCE_BYTES), os.urandom(NONCE_BYTES)
    wrapped = wrap_nonce + AESGCM(master).encrypt(wrap_nonce, dek, header)
    return Sealed(header + wrapped + data_nonce + AESGCM(dek).encrypt(data_nonce, plain, where))


def open_sealed(blob: bytes, master: bytes, where: bytes) -> bytes:
    header = read_header(blob)
    dek = _unwrap(blob, header, master)
    body = blob[header.length + WRAPPED_BYTES:]
    try:
        return AESGCM(dek).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], where)
    except InvalidTag:
        raise SealError(f"the value does not open as {where.decode()}: altered, or copied from another place") from None


def rewrap(blob: bytes, old_master: bytes, version: int, new_master: bytes) -> Sealed:
    """The same data ciphertext with its DEK wrapped under `version`; the place binding is untouched."""
    header = read_header(blob)
    dek = _unwrap(blob, header, old_master)
    new_header = _header(header.key_id, version)
    wrap_nonce = os.urandom(NONCE_BYTES)
    wrapped = wrap_nonce + AESGCM(new_master).encrypt(wrap_nonce, dek, new_header)
    return Sealed(new_header + wrapped + blob[header.length + WRAPPED_BYTES:])


def read_header(blob: bytes) -> Header:
    if len(blob) < 6 or blob[0] != FORMAT:
        raise SealError("not a sealed value")
    n = blob[1]
    length = 2 + n + 4
    if n == 0 or n > KEY_ID_MAX or len(blob) < length + WRAPPED_BYTES + NONCE_BYTES + TAG_BYTES:
        raise SealError("a sealed value with a broken header")
    (version,) = struct.unpack(">I", blob[2 + n:length])
    return Header(blob[2:2 + n].decode("ascii"), version, length)


def _header(key_id: str, version: int) -> bytes:
    raw = key_id.encode("ascii")
    if not 0 < len(raw) <= KEY_ID_MAX:
        raise ValueError(f"a master key id is 1 to {KEY_ID_MAX} ASCII characters")
    return bytes((FORMAT, len(raw))) + raw + struct.pack(">I", version)


def _unwrap(blob: bytes, header: Header, master: bytes) -> bytes:
    wrapped = blob[header.length:header.length + WRAPPED_BYTES]
    try:
        return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], blob[:header.length])
    except InvalidTag:
        raise SealError(f"the data key does not unwrap with {header.key_id} v{header.version}") from None
