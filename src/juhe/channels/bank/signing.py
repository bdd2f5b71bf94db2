"""HTTP Message Signatures (RFC 9421) with Content-Digest (RFC 9530), RSA PKCS#1 v1.5 SHA-256.

Pure functions, used by both the adapter and the sandbox, so that each side of the exchange
runs the very same code.

- A request is signed by the customer (us) over its method, path, query and body digest:
  `Content-Digest: sha-256=:<base64>:`
  `Signature-Input: sig1=("@method" "@path" "@query" "content-digest");created=…;nonce="…";keyid="…";
  alg="rsa-v1_5-sha256"` (one line), `Signature: sig1=:<base64>:`
- An answer is signed by the bank over its status, body digest and content type, and bound to
  the request it answers by covering that request's signature (`"signature";req;key="sig1"`),
  so an old answer cannot be replayed to a new request.

Both sides reject a signature older or newer than MAX_CLOCK_SKEW_S; the bank also refuses a
nonce it has seen (see the sandbox), which closes the replay window for requests.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from pathlib import Path
from typing import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

ALG = "rsa-v1_5-sha256"
LABEL = "sig1"
MAX_CLOCK_SKEW_S = 300
REQUEST_COMPONENTS = ('"@method"', '"@path"', '"@query"', '"content-digest"')
ANSWER_COMPONENTS = ('"@status"', '"content-digest"', '"content-type"', f'"signature";req;key="{LABEL}"')
_SIGNATURE_INPUT = re.compile(rf'^{LABEL}=\((?P<components>[^)]*)\)(?P<params>(;[a-z]+=("[^"]*"|\d+))+)$')
_PARAM = re.compile(r';([a-z]+)=("([^"]*)"|(\d+))')
_SIGNATURE = re.compile(rf"^{LABEL}=:(?P<value>[A-Za-z0-9+/=]+):$")


class SignatureError(ValueError):
    """A digest, signature, key id or timestamp that does not verify; the text says which."""


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
    return secrets.token_urlsafe(16)


def content_digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def query_component(query: str) -> str:
    """RFC 9421 §2.2.7: the query with its leading '?', and a lone '?' when there is none."""
    return "?" + query


def sign_request(
    private_key: RSAPrivateKey, *, key_id: str, method: str, path: str, query: str, body: bytes, created: int,
    nonce: str,
) -> dict[str, str]:
    digest = content_digest(body)
    values = [method.upper(), path, query_component(query), digest]
    return _signed_headers(private_key, REQUEST_COMPONENTS, values, key_id, created, nonce) | {"Content-Digest": digest}


def verify_request(
    headers: Mapping[str, str], *, public_key: RSAPublicKey, key_id: str, method: str, path: str, query: str,
    body: bytes, now_s: int,
) -> dict[str, str]:
    """What the bank checks on every request; returns the signature's parameters (nonce …)."""
    found = _lower(headers)
    digest = _checked_digest(found, body)
    values = [method.upper(), path, query_component(query), digest]
    return _verify(found, public_key, REQUEST_COMPONENTS, values, key_id, now_s)


def sign_answer(
    private_key: RSAPrivateKey, *, key_id: str, status: int, content_type: str, body: bytes, request_signature: str,
    created: int, nonce: str,
) -> dict[str, str]:
    digest = content_digest(body)
    values = [str(status), digest, content_type, _signature_value(request_signature)]
    return _signed_headers(private_key, ANSWER_COMPONENTS, values, key_id, created, nonce) | {"Content-Digest": digest}


def verify_answer(
    headers: Mapping[str, str], *, public_key: RSAPublicKey, key_id: str, status: int, body: bytes,
    request_signature: str, now_s: int,
) -> None:
    found = _lower(headers)
    digest = _checked_digest(found, body)
    values = [str(status), digest, found.get("content-type", ""), _signature_value(request_signature)]
    _verify(found, public_key, ANSWER_COMPONENTS, values, key_id, now_s)


def _signed_headers(
    private_key: RSAPrivateKey, components: tuple[str, ...], values: list[str], key_id: str, created: int, nonce: str
) -> dict[str, str]:
    params = f'({" ".join(components)});created={created};nonce="{nonce}";keyid="{key_id}";alg="{ALG}"'
    signature = private_key.sign(_base(components, values, params), padding.PKCS1v15(), hashes.SHA256())
    return {"Signature-Input": f"{LABEL}={params}", "Signature": f"{LABEL}=:{base64.b64encode(signature).decode()}:"}


def _verify(
    found: dict[str, str], public_key: RSAPublicKey, components: tuple[str, ...], values: list[str], key_id: str,
    now_s: int,
) -> dict[str, str]:
    match = _SIGNATURE_INPUT.match(found.get("signature-input", ""))
    if match is None:
        raise SignatureError("Signature-Input missing or malformed")
    if tuple(match["components"].split(" ")) != components:
        raise SignatureError(f"signature must cover {' '.join(components)}")
    params = {m[1]: m[3] if m[3] is not None else m[4] for m in _PARAM.finditer(match["params"])}
    if params.get("keyid") != key_id:
        raise SignatureError(f"signed with unknown key {params.get('keyid')!r}")
    if params.get("alg", ALG) != ALG:
        raise SignatureError(f"unsupported algorithm {params['alg']!r}")
    created = params.get("created", "")
    if not created.isdigit() or abs(now_s - int(created)) > MAX_CLOCK_SKEW_S:
        raise SignatureError(f"created {created!r} is more than {MAX_CLOCK_SKEW_S} s away")
    if not params.get("nonce"):
        raise SignatureError("signature has no nonce")
    base = _base(components, values, found["signature-input"][len(LABEL) + 1 :])
    try:
        public_key.verify(_signature_bytes(found.get("signature", "")), base, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureError("signature does not match") from None
    return params


def _base(components: tuple[str, ...], values: list[str], params: str) -> bytes:
    lines = [f"{component}: {value}" for component, value in zip(components, values, strict=True)]
    return "\n".join([*lines, f'"@signature-params": {params}']).encode()


def _checked_digest(found: dict[str, str], body: bytes) -> str:
    digest = content_digest(body)
    if found.get("content-digest") != digest:
        raise SignatureError("Content-Digest does not match the body")
    return digest


def _signature_value(signature_header: str) -> str:
    """The `sig1` member of a Signature field, serialised as RFC 8941 bytes (`:<base64>:`)."""
    return f":{base64.b64encode(_signature_bytes(signature_header)).decode()}:"


def _signature_bytes(signature_header: str) -> bytes:
    match = _SIGNATURE.match(signature_header.strip())
    if match is None:
        raise SignatureError("Signature missing or malformed")
    try:
        return base64.b64decode(match["value"], validate=True)
    except ValueError:
        raise SignatureError("Signature is not base64") from None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
