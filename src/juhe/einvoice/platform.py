"""The tax-platform adapter: issues blue and red-letter invoices, signed with the app secret
(HMAC-SHA256 over "app id\\ntimestamp\\nbody"), retried under the same serial (流水号) so that a
timeout never issues twice. The sandbox (`einvoice.sandbox`) speaks the same protocol."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import httpx
from pydantic import ValidationError

from juhe.einvoice import wire
from juhe.einvoice.tax import Line

ATTEMPTS_MAX = 3  # a 5xx or a timeout is retried at once, twice, under the same serial
TIMEOUT_S = 5.0
SIGNATURE_HEADER = "X-Signature"


class PlatformError(Exception):
    """`refused`: the platform said no (nothing issued); otherwise it could not be reached and
    the same request may be sent again."""

    def __init__(self, message: str, *, refused: bool, code: str = "tax_platform_unavailable"):
        super().__init__(message)
        self.refused = refused
        self.code = code


@dataclass(frozen=True, slots=True)
class Issue:
    request_no: str
    kind: str
    seller_name: str
    seller_tax_id: str
    buyer_name: str
    buyer_tax_id: str | None
    lines: list[Line]
    original_number: str | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    number: str
    issued_at: datetime


def signature(secret: str, app_id: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{app_id}\n{timestamp}\n".encode() + body, hashlib.sha256).hexdigest()


def yuan(minor: int) -> str:
    return str((Decimal(minor) / 100).quantize(Decimal("0.01")))


def to_wire(issue: Issue) -> wire.IssueRequest:
    amount, tax = sum(x.amount_minor for x in issue.lines), sum(x.tax_minor for x in issue.lines)
    return wire.IssueRequest(
        lsh=issue.request_no, fplx=issue.kind, xsfmc=issue.seller_name, xsfnsrsbh=issue.seller_tax_id,
        gmfmc=issue.buyer_name, gmfnsrsbh=issue.buyer_tax_id, hjje=yuan(amount), hjse=yuan(tax), jshj=yuan(amount + tax),
        yfphm=issue.original_number,
        mx=[wire.WireLine(xmmc=x.name, sphfwssflhbbm=x.tax_category_code, slv=str(Decimal(x.tax_rate_bps) / 10_000),
                          je=yuan(x.amount_minor), se=yuan(x.tax_minor)) for x in issue.lines])


class TaxPlatform:
    def __init__(self, base_url: str, app_id: str, secret: str, http: httpx.Client | None = None):
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.secret = secret
        self.http = http or httpx.Client(timeout=TIMEOUT_S)

    def issue(self, issue: Issue) -> Issued:
        body = to_wire(issue).model_dump_json().encode()
        last = "no attempt"
        for _ in range(ATTEMPTS_MAX):
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-App-Id": self.app_id, "X-Timestamp": timestamp,
                       SIGNATURE_HEADER: signature(self.secret, self.app_id, timestamp, body)}
            try:
                response = self.http.post(f"{self.base_url}/v1/invoices", content=body, headers=headers)
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {e}"
                continue
            if response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                continue
            return self._answer(response)
        raise PlatformError(f"the tax platform did not answer ({last}); the same request can be sent again", refused=False)

    @staticmethod
    def _answer(response: httpx.Response) -> Issued:
        try:
            if response.status_code != 200:
                refusal = wire.Refusal.model_validate_json(response.content)
                raise PlatformError(f"the tax platform refused: {refusal.message} ({refusal.code})", refused=True,
                                    code="tax_platform_refused")
            answer = wire.IssueAnswer.model_validate_json(response.content)
        except ValidationError as e:
            raise PlatformError(f"the tax platform's answer does not parse: {e.errors()[0]['msg']}", refused=False) from None
        if not answer.fphm.isdigit():
            raise PlatformError(f"the tax platform gave a number that is not 20 digits: {answer.fphm!r}", refused=False)
        return Issued(answer.fphm, datetime.fromisoformat(answer.kprq))
