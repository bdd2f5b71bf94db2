"""Signatures, each scheme the same trial: a genuine message verifies, also 299 s early or late;
301 s either side, a changed body and a foreign key are refused. Juhe's webhooks (HMAC-SHA256 of
"t.body"), and the channels' own schemes on what they send us: WeChat Pay API v3 and face pay
(SHA256-RSA over timestamp, nonce, body), the corporate bank (RFC 9421 with Content-Digest), and
Alipay (RSA2 over the sorted parameters; it carries no signed time, so no skew case)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from juhe.channels.alipay import signing as alipay
from juhe.channels.bank import signing as bank
from juhe.channels.facepay import signing as facepay
from juhe.channels.wechatpay import signing as wechatpay
from juhe.webhooks import signing as webhooks

BODY = b'{"id":"evt_1","type":"payment.succeeded","amount_minor":1288}'
TAMPERED = b'{"id":"evt_1","type":"payment.succeeded","amount_minor":9288}'
ACCEPTED_SKEWS_S = (0, -299, 299)
REFUSED_SKEWS_S = (-301, 301)
KEY_ID = "k1"


@dataclass
class SignatureTrial:
    cases: int = 0
    wrong_verdicts: list[str] = field(default_factory=list)

    @property
    def figures(self) -> dict:
        return {"signature_cases": self.cases, "wrong_verdicts": len(self.wrong_verdicts)}


# A scheme: sign(key, body, t) → message; verify(key, message, body, now) → bool.
Scheme = tuple[Callable, Callable, bool]  # (sign, verify, carries a signed time)


def trial() -> SignatureTrial:
    result = SignatureTrial()
    for name, (make_keys, (sign, verify, timed)) in _schemes().items():
        ours, theirs = make_keys(), make_keys()
        now = int(time.time())
        cases = [(f"skew {s:+d} s", ours, BODY, now + s, True) for s in (ACCEPTED_SKEWS_S if timed else (0,))]
        cases += [(f"skew {s:+d} s", ours, BODY, now + s, False) for s in (REFUSED_SKEWS_S if timed else ())]
        cases += [("tampered body", ours, TAMPERED, now, False), ("wrong key", theirs, BODY, now, False)]
        message = sign(ours, BODY, now)
        for label, key, body, verify_at, expected in cases:
            result.cases += 1
            if verify(key, message, body, verify_at) is not expected:
                result.wrong_verdicts.append(f"{name}: {label} was {'refused' if expected else 'accepted'}")
    return result


def _schemes() -> dict[str, tuple[Callable, Scheme]]:
    rsa_key = lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)  # noqa: E731
    secret = iter(f"whsec_{i}" for i in range(1_000)).__next__
    return {
        "juhe webhooks": (secret, (lambda k, b, t: webhooks.sign(k, b, t),
                                   lambda k, h, b, now: webhooks.verify(k, h, b, now=now), True)),
        "wechatpay notify": (rsa_key, (lambda k, b, t: wechatpay.wechatpay_headers(k, KEY_ID, b, t, "n1"),
                                       _raising(wechatpay.verify_wechatpay_headers, wechatpay.SignatureError), True)),
        "facepay notify": (rsa_key, (lambda k, b, t: facepay.service_headers(k, KEY_ID, b, t, "n1"),
                                     _raising(facepay.verify_service_headers, facepay.SignatureError), True)),
        "bank (RFC 9421)": (rsa_key, (_bank_sign, _bank_verify, True)),
        "alipay notify": (rsa_key, (_alipay_sign, _alipay_verify, False)),
    }


def _raising(verify, error) -> Callable:
    def verdict(key, headers, body, now) -> bool:
        try:
            verify(headers, body, public_key=key.public_key(), key_id=KEY_ID, now_s=now)
        except error:
            return False
        return True

    return verdict


def _bank_sign(key, body: bytes, t: int) -> dict:
    return bank.sign_request(key, key_id=KEY_ID, method="POST", path="/notify", query="", body=body, created=t, nonce="n1")


def _bank_verify(key, headers: dict, body: bytes, now: int) -> bool:
    try:
        bank.verify_request(headers, public_key=key.public_key(), key_id=KEY_ID, method="POST", path="/notify",
                            query="", body=body, now_s=now)
    except bank.SignatureError:
        return False
    return True


def _alipay_params(body: bytes) -> dict:
    return {"notify_id": "n1", "trade_status": "TRADE_SUCCESS", "total_amount": body.decode()}


def _alipay_sign(key, body: bytes, _t: int) -> str:
    return alipay.sign(alipay.signed_content(_alipay_params(body)), key)


def _alipay_verify(key, signature: str, body: bytes, _now: int) -> bool:
    return alipay.verify(alipay.signed_content(_alipay_params(body)), signature, key.public_key())
