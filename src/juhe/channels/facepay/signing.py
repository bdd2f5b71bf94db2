"""Face-pay API signatures: FACEPAY-SHA256-RSA2048, both ways.

Pure functions: the caller passes in keys, the clock and the nonces, so the adapter and the
sandbox run the very same code for each side of the exchange.

RSA rather than a shared HMAC key, as WeChat Pay moved to in API v3: a face payment debits a
wallet without a password, so in a dispute the service must be able to show that the merchant
asked for it. With an HMAC key both sides hold the secret and either could have made the
signature; with RSA only the merchant's private key could, and a leak on the service's side
cannot be used to forge merchant charges. Each key is named by a key id so that it can be rotated.

- A merchant request is signed over "METHOD\\nPATH_WITH_QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n" and sent as
  `Authorization: FACEPAY-SHA256-RSA2048 mchid="…",key_id="…",nonce="…",timestamp="…",signature="…"`.
- Answers (errors and statements included) and notifications are signed by the service over
  "TIMESTAMP\\nNONCE\\nBODY\\n", sent in the Facepay-Key-Id / -Timestamp / -Nonce / -Signature headers.
"""

from __future__ import annotations

import hashlib
import re
from typing import Mapping

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from juhe.channels.rsa_sha256 import lines, load_private_key, load_public_key, new_nonce, sign, signature_ok  # noqa: F401

SCHEME = "FACEPAY-SHA256-RSA2048"
MAX_CLOCK_SKEW_S = 300  # an older message may be a replay
AUTH_FIELDS = ("mchid", "key_id", "nonce", "timestamp", "signature")
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


class SignatureError(ValueError):
    """A signature, timestamp or key id that does not verify; the text says which."""




def key_id(prefix: str, public_key_pem: bytes) -> str:
    """A key's id fixed by the key itself, so every process that reads the same file agrees on it."""
    return prefix + hashlib.sha256(public_key_pem).hexdigest()[:24].upper()






def check_fresh(timestamp: str, now_s: int) -> None:
    if not timestamp.isdigit() or abs(now_s - int(timestamp)) > MAX_CLOCK_SKEW_S:
        raise SignatureError(f"timestamp {timestamp!r} is more than {MAX_CLOCK_SKEW_S} s away")


def authorization(
    *, private_key: RSAPrivateKey, mchid: str, key_id: str, method: str, url_path: str, body: bytes,
    timestamp: int, nonce: str,
) -> str:
    signature = sign(private_key, lines(method, url_path, str(timestamp), nonce, body))
    return (
        f'{SCHEME} mchid="{mchid}",key_id="{key_id}",nonce="{nonce}",'
        f'timestamp="{timestamp}",signature="{signature}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    scheme, _, params = header.partition(" ")
    if scheme != SCHEME:
        raise SignatureError(f"authorization scheme is not {SCHEME}")
    fields = dict(_AUTH_PARAM.findall(params))
    missing = [name for name in AUTH_FIELDS if not fields.get(name)]
    if missing:
        raise SignatureError(f"authorization lacks {', '.join(missing)}")
    return fields


def verify_authorization(
    header: str, *, public_key: RSAPublicKey, key_id: str, method: str, url_path: str, body: bytes, now_s: int
) -> dict[str, str]:
    """What the service checks on every merchant request; returns the authorization's fields."""
    fields = parse_authorization(header)
    if fields["key_id"] != key_id:
        raise SignatureError(f"unknown merchant key_id {fields['key_id']!r}")
    check_fresh(fields["timestamp"], now_s)
    message = lines(method, url_path, fields["timestamp"], fields["nonce"], body)
    if not signature_ok(public_key, message, fields["signature"]):
        raise SignatureError("signature does not match")
    return fields


def service_headers(private_key: RSAPrivateKey, key_id: str, body: bytes, timestamp: int, nonce: str) -> dict[str, str]:
    """The headers with which the service signs an answer or a notification."""
    return {
        "Facepay-Key-Id": key_id,
        "Facepay-Timestamp": str(timestamp),
        "Facepay-Nonce": nonce,
        "Facepay-Signature": sign(private_key, lines(str(timestamp), nonce, body)),
    }


def verify_service_headers(
    headers: Mapping[str, str], body: bytes, *, public_key: RSAPublicKey, key_id: str, now_s: int
) -> None:
    found = {k.lower(): v for k, v in headers.items()}
    signed_by = found.get("facepay-key-id", "")
    if signed_by != key_id:
        raise SignatureError(f"signed with unknown key {signed_by!r}")
    timestamp = found.get("facepay-timestamp", "")
    check_fresh(timestamp, now_s)
    message = lines(timestamp, found.get("facepay-nonce", ""), body)
    if not signature_ok(public_key, message, found.get("facepay-signature", "")):
        raise SignatureError("Facepay-Signature does not match")
