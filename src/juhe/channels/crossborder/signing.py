"""HTTP Message Signatures (RFC 9421) with `rsa-v1_5-sha256`, over a Content-Digest (RFC 9530).

Correspondent banks' host-to-host APIs each sign differently and publish nothing common; RFC 9421
is the IETF standard such APIs converge on (FAPI 2.0 message signing uses it), so both sides sign
every request, answer and notification with it. One signature label, `sig1`, is produced and
accepted. Pure functions: keys in, headers or a verdict out.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Mapping, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ALGORITHM = "rsa-v1_5-sha256"
LABEL = "sig1"
SIGNATURE_AGE_MAX_S = 300  # older signatures are replays, not messages
CLOCK_SKEW_MAX_S = 60

REQUEST_COMPONENTS = ("@method", "@path", "@query", "content-digest")
CALLBACK = "callback-url"  # covered too when a request names where the bank is to push what follows
ANSWER_COMPONENTS = ("@status", "content-digest")
# A notification reaches our URL through proxies that may rewrite the path: sign what survives.
NOTIFICATION_COMPONENTS = ("@method", "content-digest")

_INPUT = re.compile(r'^sig1=\(((?:"[a-z@-]+" ?)*)\);created=(\d{1,12});keyid="([^"]{1,128})";alg="([a-z0-9_-]+)"$')
_SIGNATURE = re.compile(r"^sig1=:([A-Za-z0-9+/=]{1,1024}):$")


class SignatureError(Exception):
    """A signature that is missing, malformed, stale, for another key, or wrong."""


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return key


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path} is not an RSA public key")
    return key


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def sign(
    key: rsa.RSAPrivateKey,
    key_id: str,
    components: Sequence[str],
    values: Mapping[str, str],
    body: bytes,
    created_s: int,
) -> dict[str, str]:
    """Headers to add to a message: Content-Digest, Signature-Input and Signature."""
    values = {**values, "content-digest": content_digest(body)}
    params = _params(components, created_s, key_id)
    signature = rsa_sign(key, _base(components, values, params))
    return {
        "Content-Digest": values["content-digest"],
        "Signature-Input": f"{LABEL}={params}",
        "Signature": f"{LABEL}=:{signature}:",
    }


def verify(
    key: rsa.RSAPublicKey, key_id: str, components: Sequence[str], values: Mapping[str, str],
    headers: Mapping[str, str], body: bytes, now_s: int,
) -> None:  # fmt: skip
    """Check a message's signature covers exactly `components`, is fresh, by `key_id`, and matches."""
    signature_input = _header(headers, "signature-input")
    found = _INPUT.match(signature_input)
    if found is None:
        raise SignatureError(f"Signature-Input not understood: {signature_input[:120]!r}")
    covered, created, found_key_id, algorithm = found.groups()
    if tuple(covered.replace('"', " ").split()) != tuple(components):
        raise SignatureError(f"signature covers ({covered}), expected {components}")
    if found_key_id != key_id or algorithm != ALGORITHM:
        raise SignatureError(f"signed with key {found_key_id!r} ({algorithm}), expected {key_id!r} ({ALGORITHM})")
    age_s = now_s - int(created)
    if age_s > SIGNATURE_AGE_MAX_S or age_s < -CLOCK_SKEW_MAX_S:
        raise SignatureError(f"signature created {age_s} s ago")
    digest = _header(headers, "content-digest")
    if digest != content_digest(body):
        raise SignatureError("Content-Digest does not match the body")
    signature = _SIGNATURE.match(_header(headers, "signature"))
    if signature is None:
        raise SignatureError("Signature header not understood")
    params = _params(components, int(created), key_id)
    if not rsa_verify(key, _base(components, {**values, "content-digest": digest}, params), signature.group(1)):
        raise SignatureError("signature does not verify")


def request_values(method: str, path: str, query: str) -> dict[str, str]:
    # RFC 9421 §2.2.7: @query is the query with its leading "?", or "?" alone when there is none.
    return {"@method": method.upper(), "@path": path or "/", "@query": "?" + query}


def _params(components: Sequence[str], created_s: int, key_id: str) -> str:
    covered = " ".join(f'"{c}"' for c in components)
    return f'({covered});created={created_s};keyid="{key_id}";alg="{ALGORITHM}"'


def _base(components: Sequence[str], values: Mapping[str, str], params: str) -> bytes:
    lines = [f'"{c}": {values[c]}' for c in components]
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.title())
    if not value:
        raise SignatureError(f"{name} header missing")
    return value
