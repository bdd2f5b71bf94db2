"""SHA256withRSA (PKCS#1 v1.5) primitives shared by the channels whose protocols sign with it
over newline-joined messages (WeChat Pay v3 and the face-pay service modelled on it)."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


def load_private_key(path: Path) -> RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return key


def load_public_key(path: Path) -> RSAPublicKey:
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, RSAPublicKey):
        raise ValueError(f"{path} is not an RSA public key")
    return key


def new_nonce() -> str:
    return secrets.token_hex(16).upper()


def sign(private_key: RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def signature_ok(public_key: RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def lines(*parts: str | bytes) -> bytes:
    """The message to sign: every part followed by a newline, the body included."""
    return b"".join((p.encode() if isinstance(p, str) else p) + b"\n" for p in parts)
