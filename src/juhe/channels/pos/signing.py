"""Message authentication and card data protection, as pure functions.

- MAC: ISO 9797-1 MAC algorithm 5 (CMAC, NIST SP 800-38B) with an AES-128 MAC key over every
  byte of the packed message before the MAC field; the leftmost 8 bytes, as 16 hex digits, go
  in field 64, or in field 128 when the message has a secondary bitmap. Each terminal and the
  acquirer link hold their own key.
- Card token: HMAC-SHA256 of the PAN under a key only the terminal gateway holds. A keyed hash
  (PCI DSS v4 3.5.1.1), so a token cannot be brute-forced from the BIN and last four digits.
- Card display: first six and last four digits, the most PCI DSS v4 3.4.1 lets anyone see.
- Sealed card: track 2 data under AES-256-GCM, bound to the terminal id, for an integrated
  till that hands card data to Juhe's API rather than to the terminal gateway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.cmac import CMAC

MAC_HEX_DIGITS = 16
MAC_KEY_BYTES = 16
CARD_KEY_BYTES = 32
TOKEN_KEY_BYTES = 32
GCM_NONCE_BYTES = 12
TOKEN_HEX_DIGITS = 32


class SealError(Exception):
    """A sealed card block that does not open: wrong key, wrong terminal, or tampered."""


def mac(key: bytes, data: bytes) -> str:
    cmac = CMAC(algorithms.AES(key))
    cmac.update(data)
    return cmac.finalize()[: MAC_HEX_DIGITS // 2].hex().upper()


def mac_matches(key: bytes, data: bytes, given: str) -> bool:
    return hmac.compare_digest(mac(key, data), given.upper())


def card_token(key: bytes, pan: str) -> str:
    return "tok_" + hmac.new(key, pan.encode(), hashlib.sha256).hexdigest()[:TOKEN_HEX_DIGITS]


def card_display(pan: str) -> str:
    return f"{pan[:6]}{'*' * (len(pan) - 10)}{pan[-4:]}"


def seal_card(key: bytes, track2: str, terminal_id: str) -> str:
    nonce = secrets.token_bytes(GCM_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, track2.encode(), terminal_id.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def open_card(key: bytes, block: str, terminal_id: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(block.encode())
        plain = AESGCM(key).decrypt(raw[:GCM_NONCE_BYTES], raw[GCM_NONCE_BYTES:], terminal_id.encode())
        return plain.decode("ascii")
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError) as e:
        raise SealError(f"card block does not open for terminal {terminal_id}: {type(e).__name__}") from None


def load_key(path: Path, size_bytes: int) -> bytes:
    key = bytes.fromhex(path.read_text().strip())
    if len(key) != size_bytes:
        raise ValueError(f"{path} holds a {len(key)}-byte key; {size_bytes} bytes expected")
    return key


def write_key(path: Path, size_bytes: int) -> Path:
    """Create (once) a random key as hex in `path`, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(size_bytes))
        path.chmod(0o600)
    return path
