"""Alipay OpenAPI RSA2 signatures (SHA256withRSA, PKCS#1 v1.5, base64), as pure functions.

- Requests: every parameter except `sign`, empty values left out, sorted by key, joined as
  `k=v` with `&` (raw values, not URL-encoded). `sign_type` is part of the signed string.
- Async notifications: the same, but `sign_type` is left out too.
- Synchronous answers: the signature covers the exact raw text of the `<method>_response`
  object as sent, so it must be cut out of the body, never re-serialised.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

REQUEST_UNSIGNED = frozenset({"sign"})
NOTIFY_UNSIGNED = frozenset({"sign", "sign_type"})


def signed_content(params: Mapping[str, str], unsigned: frozenset[str] = REQUEST_UNSIGNED) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in unsigned and params[k] != "")


def sign(content: str, private_key: rsa.RSAPrivateKey) -> str:
    signature = private_key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify(content: str, signature: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def response_object_text(raw: str, response_key: str) -> str | None:
    """The exact text of the JSON object under `"<response_key>":` in `raw`, braces included."""
    marker = raw.find(f'"{response_key}"')
    start = raw.find("{", marker + len(response_key) + 2) if marker >= 0 else -1
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(raw)):
        c = raw[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return raw[start : i + 1]
    return None


def _key_bytes(path: Path | str) -> tuple[bytes, bool]:
    """The key as PEM, or as DER when the file holds the bare base64 that Alipay's key tool and
    open platform hand out (PKCS#8 or PKCS#1 for private keys)."""
    text = Path(path).read_text().strip()
    if text.startswith("-----BEGIN"):
        return text.encode("ascii"), True
    return base64.b64decode("".join(text.split())), False


def load_private_key(path: Path | str) -> rsa.RSAPrivateKey:
    data, is_pem = _key_bytes(path)
    load = serialization.load_pem_private_key if is_pem else serialization.load_der_private_key
    key = load(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


def load_public_key(path: Path | str) -> rsa.RSAPublicKey:
    data, is_pem = _key_bytes(path)
    key = (serialization.load_pem_public_key if is_pem else serialization.load_der_public_key)(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path}: not an RSA public key")
    return key
