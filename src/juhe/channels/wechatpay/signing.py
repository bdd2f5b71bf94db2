"""WeChat Pay API v3 signatures (WECHATPAY2-SHA256-RSA2048) and AEAD_AES_256_GCM resources.

Pure functions: the caller passes in keys, the clock and the nonces, so both the adapter and
the sandbox use the very same code for each side of the exchange.

- A request is signed by the merchant: SHA256withRSA over
  "METHOD\\nURL_PATH_WITH_QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n", sent as
  `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`.
- Answers and notifications are signed by WeChat Pay over "TIMESTAMP\\nNONCE\\nBODY\\n", sent in the
  Wechatpay-Timestamp / -Nonce / -Signature / -Serial headers; the serial names the key
  (a platform certificate serial, or "PUB_KEY_ID_…" in WeChat Pay public key mode).
"""

from __future__ import annotations

import base64
import re
from typing import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from juhe.channels.rsa_sha256 import lines, load_private_key, load_public_key, new_nonce, sign, signature_ok  # noqa: F401

SCHEME = "WECHATPAY2-SHA256-RSA2048"
MAX_CLOCK_SKEW_S = 300  # WeChat Pay's own limit; an older message may be a replay
APIV3_KEY_BYTES = 32
AUTH_FIELDS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


class SignatureError(ValueError):
    """A signature, timestamp or key id that does not verify; the text says which."""








def check_fresh(timestamp: str, now_s: int) -> None:
    if not timestamp.isdigit() or abs(now_s - int(timestamp)) > MAX_CLOCK_SKEW_S:
        raise SignatureError(f"timestamp {timestamp!r} is more than {MAX_CLOCK_SKEW_S} s away")


def authorization(
    *, private_key: RSAPrivateKey, mchid: str, serial_no: str, method: str, url_path: str, body: bytes,
    timestamp: int, nonce: str,
) -> str:
    signature = sign(private_key, lines(method, url_path, str(timestamp), nonce, body))
    return (
        f'{SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
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
    header: str, *, public_key: RSAPublicKey, serial_no: str, method: str, url_path: str, body: bytes, now_s: int
) -> dict[str, str]:
    """What WeChat Pay checks on every merchant request; returns the authorization's fields."""
    fields = parse_authorization(header)
    if fields["serial_no"] != serial_no:
        raise SignatureError("unknown merchant certificate serial_no")
    check_fresh(fields["timestamp"], now_s)
    message = lines(method, url_path, fields["timestamp"], fields["nonce_str"], body)
    if not signature_ok(public_key, message, fields["signature"]):
        raise SignatureError("signature does not match")
    return fields


def wechatpay_headers(
    private_key: RSAPrivateKey, key_id: str, body: bytes, timestamp: int, nonce: str
) -> dict[str, str]:
    """The headers with which WeChat Pay signs an answer or a notification."""
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": key_id,
        "Wechatpay-Signature": sign(private_key, lines(str(timestamp), nonce, body)),
        "Wechatpay-Signature-Type": SCHEME,
    }


def verify_wechatpay_headers(
    headers: Mapping[str, str], body: bytes, *, public_key: RSAPublicKey, key_id: str, now_s: int
) -> None:
    found = {k.lower(): v for k, v in headers.items()}
    serial = found.get("wechatpay-serial", "")
    if serial != key_id:
        raise SignatureError(f"signed with unknown key {serial!r}")
    signature_type = found.get("wechatpay-signature-type", SCHEME)
    if signature_type != SCHEME:
        raise SignatureError(f"unsupported signature type {signature_type!r}")
    timestamp = found.get("wechatpay-timestamp", "")
    check_fresh(timestamp, now_s)
    message = lines(timestamp, found.get("wechatpay-nonce", ""), body)
    if not signature_ok(public_key, message, found.get("wechatpay-signature", "")):
        raise SignatureError("Wechatpay-Signature does not match")


def encrypt_resource(apiv3_key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    ciphertext = AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return base64.b64encode(ciphertext).decode()


def decrypt_resource(apiv3_key: bytes, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    try:
        return AESGCM(apiv3_key).decrypt(nonce.encode(), base64.b64decode(ciphertext), associated_data.encode())
    except (InvalidTag, ValueError) as e:
        raise SignatureError("resource does not decrypt with the APIv3 key") from e


def jsapi_pay_sign(private_key: RSAPrivateKey, appid: str, timestamp: str, nonce: str, package: str) -> str:
    """paySign for wx.requestPayment / WeixinJSBridge: appId, timeStamp, nonceStr, package."""
    return sign(private_key, lines(appid, timestamp, nonce, package))


def app_pay_sign(private_key: RSAPrivateKey, appid: str, timestamp: str, nonce: str, prepay_id: str) -> str:
    """sign for the app SDK's PayReq: appid, timestamp, noncestr, prepayid."""
    return sign(private_key, lines(appid, timestamp, nonce, prepay_id))
