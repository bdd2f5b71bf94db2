"""UnionPay online gateway (全渠道, acpsdk 5.1.0) signatures with signMethod=01, as pure functions.

The string to sign is every field except `signature`, sorted by key and joined as `k=v` with `&`.
Its SHA-256 digest, written as lowercase hex, is what gets signed with SHA256withRSA (so the
message is hashed twice), base64 → `signature`. Our requests carry `certId`, the decimal serial
number of our signing certificate. UnionPay's answers and notifications carry the signing
certificate itself (`signPubKeyCert`), which is believed only if it chains to UnionPay's root
through its middle certificate and names UnionPay as its owner.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

UNIONPAY_ORG = "中国银联股份有限公司"  # third part of the CN "<type>@<id>@<org>@<n>" on UnionPay's certificates


class SignatureError(Exception):
    """A message whose signature, certificate or certificate chain does not verify."""


@dataclass(frozen=True, slots=True)
class SigningCert:
    """Our signing certificate (签名证书) as UnionPay issues it: a PKCS#12 file with its key."""

    private_key: rsa.RSAPrivateKey
    cert_id: str


@dataclass(frozen=True, slots=True)
class TrustAnchors:
    """UnionPay's root and middle certificates (acp_prod_root.cer, acp_prod_middle.cer)."""

    root: x509.Certificate
    middle: x509.Certificate
    signer_org: str = UNIONPAY_ORG


def load_signing_cert(pfx_file: Path, password: str) -> SigningCert:
    key, cert, _ = pkcs12.load_key_and_certificates(pfx_file.read_bytes(), password.encode())
    if not isinstance(key, rsa.RSAPrivateKey) or cert is None:
        raise ValueError(f"{pfx_file} holds no RSA key with its certificate")
    return SigningCert(private_key=key, cert_id=str(cert.serial_number))


def load_trust_anchors(root_file: Path, middle_file: Path, signer_org: str = UNIONPAY_ORG) -> TrustAnchors:
    return TrustAnchors(
        root=x509.load_pem_x509_certificate(root_file.read_bytes()),
        middle=x509.load_pem_x509_certificate(middle_file.read_bytes()),
        signer_org=signer_org,
    )


def signing_string(fields: Mapping[str, str]) -> str:
    return "&".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "signature")


def _digest_hex(fields: Mapping[str, str]) -> bytes:
    return hashlib.sha256(signing_string(fields).encode("utf-8")).hexdigest().encode("ascii")


def sign_with_key(fields: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> str:
    signed = private_key.sign(_digest_hex(fields), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signed).decode("ascii")


def sign(fields: Mapping[str, str], cert: SigningCert) -> dict[str, str]:
    """The fields with `certId` and `signature` added; `certId` is itself covered by the signature."""
    with_cert = {**fields, "certId": cert.cert_id}
    return {**with_cert, "signature": sign_with_key(with_cert, cert.private_key)}


def verify_with_key(fields: Mapping[str, str], public_key: rsa.RSAPublicKey) -> None:
    try:
        signature = base64.b64decode(fields.get("signature", ""), validate=True)
        public_key.verify(signature, _digest_hex(fields), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error) as e:
        raise SignatureError("signature does not verify") from e


def verify(fields: Mapping[str, str], anchors: TrustAnchors, now: datetime | None = None) -> None:
    """Check UnionPay's signing certificate sent in the message, then the signature made with it."""
    if not fields.get("signature") or not fields.get("signPubKeyCert"):
        raise SignatureError("signature or signPubKeyCert missing")
    cert = _trusted_signer(fields["signPubKeyCert"], anchors, now or datetime.now(timezone.utc))
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SignatureError("signing certificate has no RSA key")
    verify_with_key(fields, public_key)


def _trusted_signer(pem: str, anchors: TrustAnchors, now: datetime) -> x509.Certificate:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        cert.verify_directly_issued_by(anchors.middle)
        anchors.middle.verify_directly_issued_by(anchors.root)
    except (ValueError, TypeError, UnicodeEncodeError, InvalidSignature) as e:
        raise SignatureError(f"signPubKeyCert does not chain to the UnionPay root: {e}") from e
    for link in (cert, anchors.middle):
        if not link.not_valid_before_utc <= now <= link.not_valid_after_utc:
            raise SignatureError("a certificate of the chain is expired or not yet valid")
    if cert_owner(cert) != anchors.signer_org:
        raise SignatureError(f"signPubKeyCert does not belong to {anchors.signer_org}")
    return cert


def cert_owner(cert: x509.Certificate) -> str:
    """The organisation part of a UnionPay certificate's CN, `<type>@<id>@<org>@<n>`."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    parts = str(names[0].value).split("@") if names else []
    return parts[2] if len(parts) > 2 else ""
