"""Face-pay service simulator: the API, signatures, face matching and notifications, on localhost.

It checks every merchant request's FACEPAY-SHA256-RSA2048 authorization (401 SIGN_ERROR
otherwise, a replayed nonce included) and signs every answer and notification with its own
key. Devices must be registered and users enrolled (a synthetic face template, never an
image). A payment's face token is matched 1:N against the enrolled templates by cosine
similarity; with a live face that matches exactly one user, it is authorised at once up to
the user's daily limit. Refunds settle asynchronously and are notified; unacknowledged
notifications are retried. The day's statement is a signed CSV.

Beside the shared `/sandbox/*` controls, not part of the merchant's protocol:
- `POST /sandbox/devices` registers a store device (the wallet's merchant platform does this);
- `POST /sandbox/enroll` enrols a user's face template and daily limit;
- `POST /sandbox/face/tokens` is the device's face SDK asking for a token (see device.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from juhe.channels.facepay import faces, signing, wire
from juhe.channels.facepay.adapter import FacePayConfig
from juhe.channels.simkit import (
    Faults,
    PlantedDiscrepancy,
    SimOrder,
    SimRefund,
    Simulator,
    plant_discrepancies,
    write_rsa_keypair,
)

MCHID = "1600000101"
APPID = "fpa8a1e2c3d4f5a6b7"
DEVICE_ID = "FPD-0001"  # registered from the start, so the demo has a device to pay at
STORE_ID = "STORE-001"
FEE_RATE_BPS = 38  # 0.38 %, a common rate for face payments at offline stores
FACE_TOKEN_TTL_S = 120  # a capture is for the payment at hand, not for later
REFUND_SETTLE_S = 0.05  # refunds answer PROCESSING first, as the real ones do
REVERSE_WINDOW = timedelta(hours=24)
TOKENS_KEPT_MAX = 10_000
NONCES_KEPT_MAX = 100_000
DEVICES_MAX = 10_000
ENROLMENTS_MAX = 100_000
TRADE_STATE = {"succeeded": "SUCCESS", "failed": "PAYERROR", "closed": "REVOKED"}
TRADE_STATE_DESC = {"SUCCESS": "paid", "REVOKED": "reversed; any money taken was given back"}
DECLINES = {
    "LIVENESS_FAILED": "liveness check failed: not a live face",
    "FACE_NOT_MATCHED": "the face matches no enrolled user",
    "FACE_AMBIGUOUS": "the face matches more than one enrolled user",
    "EXCEED_LIMIT": "above the user's daily face-payment limit",
    "NOTENOUGH": "the user's balance is not enough",
}

Answer = tuple[int, dict | bytes]


class Refusal(Exception):
    """An error answer: HTTP status plus {"code", "message"}. Nothing was changed."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class EnrolledFace:
    template: tuple[float, ...]  # unit vector; the only biometric data kept
    daily_limit_minor: int


@dataclass(frozen=True)
class IssuedToken:
    device_id: str
    probe: tuple[float, ...]
    liveness: float
    expires_at_s: float  # time.monotonic()


class FacePaySandbox(Simulator):
    txn_prefix = "FP"
    retry_schedule_s = [15, 15, 30, 180, 600, 1200, 1800]

    def __init__(self, key_dir: Path, base_url: str, faults: Faults | None = None):
        super().__init__(faults)
        self.base_url = base_url.rstrip("/")
        self.mchid, self.appid = MCHID, APPID
        self.merchant_private_key_file, merchant_public_file = write_rsa_keypair(key_dir, "facepay_merchant")
        service_private_file, self.facepay_public_key_file = write_rsa_keypair(key_dir, "facepay_service")
        self._merchant_key = signing.load_public_key(merchant_public_file)
        self._service_key = signing.load_private_key(service_private_file)
        self.merchant_key_id = signing.key_id("MK", merchant_public_file.read_bytes())
        self.facepay_key_id = signing.key_id("FPK", self.facepay_public_key_file.read_bytes())
        self.devices: dict[str, str] = {DEVICE_ID: STORE_ID}  # device id → store id
        self.enrolled: dict[str, EnrolledFace] = {}
        self.planted: dict[date, list[PlantedDiscrepancy]] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._nonces: dict[str, float] = {}  # nonce → when seen, to refuse replays
        self._refund_orders: dict[str, str] = {}  # out_refund_no → out_trade_no
        self._refund_notify_urls: dict[str, str] = {}
        self._refund_numbers = itertools.count(1)
        self.app = self._build_app()

    def client_config(self) -> dict:
        return {
            "base_url": self.base_url,
            "app_id": self.appid,
            "app_private_key_file": str(self.merchant_private_key_file),
            "channel_public_key_file": str(self.facepay_public_key_file),
            "mchid": self.mchid,
            "merchant_key_id": self.merchant_key_id,
            "facepay_key_id": self.facepay_key_id,
            "device_id": DEVICE_ID,
        }

    def adapter_config(self) -> FacePayConfig:
        return FacePayConfig(
            base_url=self.base_url, appid=self.appid, mchid=self.mchid, merchant_key_id=self.merchant_key_id,
            merchant_private_key_file=self.merchant_private_key_file, facepay_key_id=self.facepay_key_id,
            facepay_public_key_file=self.facepay_public_key_file,
        )  # fmt: skip

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Face-pay API sandbox")
        app.middleware("http")(self.faults_on(
            lambda path: path.startswith("/v1/"),
            lambda: self._signed(500, {"code": "SYSTEM_ERROR", "message": "system error, try again later"}),
        ))
        app.exception_handler(RequestValidationError)(_refused_without_input)
        app.include_router(self.control_router())
        app.include_router(self._face_router())
        routes: list[tuple[str, Callable, str]] = [
            ("/v1/facepay/transactions", self._pay, "POST"),
            ("/v1/facepay/transactions/out-trade-no/{out_trade_no}", self._query, "GET"),
            ("/v1/facepay/transactions/out-trade-no/{out_trade_no}/reverse", self._reverse, "POST"),
            ("/v1/facepay/refunds", self._refund, "POST"),
            ("/v1/facepay/refunds/out-refund-no/{out_refund_no}", self._refund_query, "GET"),
            ("/v1/face/verifications", self._verify_face, "POST"),
            ("/v1/facepay/statements", self._statement, "GET"),
        ]
        for path, endpoint, method in routes:
            app.add_api_route(path, endpoint, methods=[method])
        return app

    # --- protocol plumbing: faults, authentication, signed answers


    async def _serve(self, request: Request, handle: Callable[[bytes], Answer]) -> Response:
        body = await request.body()
        try:
            self._authenticate(request, body)
            status, answer = handle(body)
        except Refusal as r:
            status, answer = r.status, {"code": r.code, "message": r.message}
        except ValidationError as e:
            status, answer = 400, _param_error(e)
        return self._signed(status, answer)

    def _authenticate(self, request: Request, body: bytes) -> None:
        url_path = request.scope.get("raw_path", request.url.path.encode()).decode()
        if request.scope["query_string"]:
            url_path += "?" + request.scope["query_string"].decode()
        try:
            fields = signing.verify_authorization(
                request.headers.get("authorization", ""), public_key=self._merchant_key, key_id=self.merchant_key_id,
                method=request.method, url_path=url_path, body=body, now_s=int(time.time()),
            )  # fmt: skip
        except signing.SignatureError as e:
            raise Refusal(401, "SIGN_ERROR", f"signature rejected: {e}") from e
        if fields["mchid"] != self.mchid:
            raise Refusal(401, "SIGN_ERROR", "mchid does not match the signing key")
        self._check_replay(fields["nonce"])

    def _check_replay(self, nonce: str) -> None:
        """A captured request sent again verbatim is refused; its timestamp bounds how long to remember."""
        now_s = time.monotonic()
        for seen, at_s in list(self._nonces.items()):  # oldest first
            if now_s - at_s <= 2 * signing.MAX_CLOCK_SKEW_S and len(self._nonces) < NONCES_KEPT_MAX:
                break
            del self._nonces[seen]
        if nonce in self._nonces:
            raise Refusal(401, "SIGN_ERROR", "nonce already used: a replayed request")
        self._nonces[nonce] = now_s

    def _signed(self, status: int, answer: dict | bytes) -> Response:
        is_json = isinstance(answer, dict)
        body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode() if is_json else answer
        headers = self._signature(body) | {"Request-ID": uuid.uuid4().hex}
        media_type = "application/json" if is_json else "text/csv; charset=utf-8"
        return Response(content=body, status_code=status, headers=headers, media_type=media_type)

    def _signature(self, body: bytes) -> dict[str, str]:
        now_s = int(time.time())
        return signing.service_headers(self._service_key, self.facepay_key_id, body, now_s, signing.new_nonce())

    def _check_merchant(self, mchid: str, appid: str | None = None) -> None:
        if mchid != self.mchid:
            raise Refusal(400, "MCH_NOT_EXISTS", f"merchant {mchid!r} does not exist")
        if appid is not None and appid != self.appid:
            raise Refusal(400, "APPID_MCHID_NOT_MATCH", f"appid {appid!r} is not bound to merchant {mchid}")

    def _check_device(self, device_id: str) -> None:
        if device_id not in self.devices:
            message = f"device {device_id!r} is not registered with merchant {self.mchid}"
            raise Refusal(403, "DEVICE_NOT_REGISTERED", message)

    def _take_token(self, face_token: str, device_id: str | None = None) -> IssuedToken:
        """A face token is good once, before it expires, on the device it was issued to."""
        token = self._tokens.get(face_token)
        if token is None or token.expires_at_s < time.monotonic():
            raise Refusal(400, "FACE_TOKEN_INVALID", "face token unknown, expired or used; capture the face again")
        if device_id is not None and token.device_id != device_id:
            raise Refusal(400, "FACE_TOKEN_INVALID", f"face token was issued to another device, not {device_id!r}")
        self._check_device(token.device_id)
        del self._tokens[face_token]  # the probe goes with it: no capture is kept once used
        return token

    # --- payments

    async def _pay(self, request: Request) -> Response:
        return await self._serve(request, self._create_payment)

    def _create_payment(self, body: bytes) -> Answer:
        asked = wire.FacePayRequest.model_validate_json(body)
        self._check_merchant(asked.mchid, asked.appid)
        earlier = self.book.get(asked.out_trade_no)
        if earlier is not None:
            return 200, self._repeat(earlier, asked)
        self._check_device(asked.device_id)
        token = self._take_token(asked.face_token, asked.device_id)
        order = SimOrder(
            order_no=asked.out_trade_no, amount_minor=asked.amount.total, currency=asked.amount.currency,
            subject=asked.description, notify_url=asked.notify_url or "",
            extra={"device_id": asked.device_id, "token_digest": _digest(asked.face_token)},
        )  # fmt: skip
        self._authorise(order, token)
        self.book.add(order)  # not order_created(): nobody is left to pay it later
        if order.state == "succeeded" and order.notify_url:
            self.notify_payment(order)
        return 200, self._transaction(order)

    def _repeat(self, order: SimOrder, asked: wire.FacePayRequest) -> dict:
        """The same out_trade_no again (a retry after a lost answer): the same result, never a second charge."""
        same = (order.amount_minor, order.extra["device_id"], order.extra["token_digest"])
        if same != (asked.amount.total, asked.device_id, _digest(asked.face_token)):
            raise Refusal(409, "OUT_TRADE_NO_USED", "out_trade_no already used for another payment")
        return self._transaction(order)

    def _authorise(self, order: SimOrder, token: IssuedToken) -> None:
        user_id, fail_code = self._identify(token)
        if fail_code is None:
            fail_code = self._check_funds(user_id, order.amount_minor)
        if fail_code is not None:
            order.state, order.extra["fail_code"] = "failed", fail_code
            return
        order.state, order.payer_id, order.paid_at = "succeeded", user_id, datetime.now(timezone.utc)
        order.fee_minor = _fee(order.amount_minor)

    def _identify(self, token: IssuedToken) -> tuple[str, str | None]:
        if token.liveness < faces.LIVENESS_MIN:
            return "", "LIVENESS_FAILED"
        found = faces.matches(token.probe, {user_id: face.template for user_id, face in self.enrolled.items()})
        if not found:
            return "", "FACE_NOT_MATCHED"
        if len(found) > 1:  # look-alikes: charging the wrong one of them is worse than asking to pay otherwise
            return "", "FACE_AMBIGUOUS"
        return found[0][1], None

    def _check_funds(self, user_id: str, amount_minor: int) -> str | None:
        today = datetime.now(wire.CST).date()
        spent = sum(
            o.amount_minor for o in self.book.orders.values()
            if o.payer_id == user_id and o.state == "succeeded" and _on_day(o.paid_at, today)
        )  # fmt: skip
        if spent + amount_minor > self.enrolled[user_id].daily_limit_minor:
            return "EXCEED_LIMIT"
        if self.injector.happens(self.injector.faults.decline_rate):
            return "NOTENOUGH"
        return None

    def _order(self, out_trade_no: str) -> SimOrder:
        order = self.book.get(out_trade_no)
        if order is None:
            raise Refusal(404, "ORDER_NOT_EXIST", f"no order {out_trade_no!r}")
        return order

    async def _query(self, out_trade_no: str, request: Request) -> Response:
        def answer(_: bytes) -> Answer:
            self._check_merchant(request.query_params.get("mchid", ""))
            return 200, self._transaction(self._order(out_trade_no))

        return await self._serve(request, answer)

    async def _reverse(self, out_trade_no: str, request: Request) -> Response:
        def answer(body: bytes) -> Answer:
            self._check_merchant(wire.ReverseRequest.model_validate_json(body).mchid)
            order = self._order(out_trade_no)
            if order.refunds:
                raise Refusal(400, "REVERSE_NOT_ALLOWED", "the payment has refunds; refund the rest instead")
            if order.paid_at is not None and datetime.now(timezone.utc) - order.paid_at > REVERSE_WINDOW:
                raise Refusal(400, "REVERSE_NOT_ALLOWED", "past the 24 h reversal window; refund instead")
            order.state = "closed"  # a paid order's money goes back to the payer with it
            return 200, self._transaction(order)

        return await self._serve(request, answer)

    def _transaction(self, order: SimOrder) -> dict:
        state = TRADE_STATE[order.state]
        fail_code = order.extra.get("fail_code")
        answer = {
            "appid": self.appid, "mchid": self.mchid, "device_id": order.extra["device_id"],
            "out_trade_no": order.order_no, "transaction_id": order.channel_txn_id, "trade_state": state,
            "trade_state_desc": DECLINES[fail_code] if state == "PAYERROR" else TRADE_STATE_DESC[state],
            "amount": {"total": order.amount_minor, "currency": order.currency},
        }  # fmt: skip
        if fail_code:
            answer["fail_code"] = fail_code
        if order.paid_at is not None:  # who paid is told only for a payment that went through
            answer |= {"success_time": wire.beijing(order.paid_at).isoformat(), "payer": {"user_id": order.payer_id}}
        return answer

    # --- refunds

    async def _refund(self, request: Request) -> Response:
        return await self._serve(request, self._create_refund)

    def _create_refund(self, body: bytes) -> Answer:
        asked = wire.CreateRefundRequest.model_validate_json(body)
        order = self._order(asked.out_trade_no)
        earlier = order.refunds.get(asked.out_refund_no)
        if earlier is not None:  # the same out_refund_no refunds once, however often it is sent
            if earlier.amount_minor != asked.amount.refund:
                raise Refusal(400, "OUT_REFUND_NO_USED", "out_refund_no already used with another amount")
            return 200, self._refund_answer(order, earlier)
        self._check_refundable(order, asked)
        refund = SimRefund(asked.out_refund_no, asked.amount.refund, channel_refund_id=self._refund_id())
        order.refunds[refund.refund_id] = refund
        self._refund_orders[refund.refund_id] = order.order_no
        self._refund_notify_urls[refund.refund_id] = asked.notify_url or order.notify_url
        asyncio.get_running_loop().call_later(REFUND_SETTLE_S, self.settle_refund, order, refund)
        return 200, self._refund_answer(order, refund)

    def _refund_id(self) -> str:
        return f"FR{datetime.now(wire.CST):%Y%m%d}{next(self._refund_numbers):012d}"

    def _check_refundable(self, order: SimOrder, asked: wire.CreateRefundRequest) -> None:
        if asked.out_refund_no in self._refund_orders:
            raise Refusal(400, "OUT_REFUND_NO_USED", "out_refund_no already used for another order")
        if order.state != "succeeded":
            raise Refusal(400, "TRADE_STATE_INVALID", f"order is {TRADE_STATE[order.state]}; only SUCCESS refunds")
        if asked.amount.total != order.amount_minor:
            raise Refusal(400, "TOTAL_AMOUNT_MISMATCH", "amount.total is not the order's amount")
        if asked.amount.refund > order.amount_minor - order.refunded_minor:
            raise Refusal(400, "REFUND_AMOUNT_EXCEEDED", "refund above what is left to refund on the order")

    async def _refund_query(self, out_refund_no: str, request: Request) -> Response:
        def answer(_: bytes) -> Answer:
            order = self.book.get(self._refund_orders.get(out_refund_no, ""))
            if order is None:
                raise Refusal(404, "REFUND_NOT_EXIST", f"no refund {out_refund_no!r}")
            return 200, self._refund_answer(order, order.refunds[out_refund_no])

        return await self._serve(request, answer)

    def _refund_answer(self, order: SimOrder, refund: SimRefund) -> dict:
        answer = {
            "refund_id": refund.channel_refund_id, "out_refund_no": refund.refund_id,
            "transaction_id": order.channel_txn_id, "out_trade_no": order.order_no,
            "status": {"pending": "PROCESSING", "succeeded": "SUCCESS", "failed": "CLOSED"}[refund.state],
            "create_time": wire.beijing(refund.created_at).isoformat(),
            "amount": {"total": order.amount_minor, "refund": refund.amount_minor, "currency": order.currency},
        }  # fmt: skip
        if refund.settled_at is not None:
            answer["success_time"] = wire.beijing(refund.settled_at).isoformat()
        return answer

    # --- step-up face verification

    async def _verify_face(self, request: Request) -> Response:
        return await self._serve(request, self._face_verdict)

    def _face_verdict(self, body: bytes) -> Answer:
        asked = wire.FaceVerificationRequest.model_validate_json(body)
        self._check_merchant(asked.mchid, asked.appid)
        face = self.enrolled.get(asked.user_id)
        if face is None:
            raise Refusal(404, "USER_NOT_ENROLLED", f"user {asked.user_id!r} has no enrolled face")
        token = self._take_token(asked.face_token)
        score = max(0.0, faces.cosine(token.probe, face.template))
        fail_code = None
        if token.liveness < faces.LIVENESS_MIN:
            fail_code = "LIVENESS_FAILED"
        elif score < faces.MATCH_THRESHOLD:
            fail_code = "FACE_NOT_MATCHED"
        verdict = {"user_id": asked.user_id, "matched": fail_code is None, "score": round(score, 4)}
        return 200, verdict | ({"fail_code": fail_code} if fail_code else {})

    # --- notifications

    def notify_payment(self, order: SimOrder) -> None:
        self._notify(order.notify_url, "TRANSACTION.SUCCESS", self._transaction(order))

    def notify_refund(self, order: SimOrder, refund: SimRefund) -> None:
        url = self._refund_notify_urls[refund.refund_id]
        if url:
            self._notify(url, "REFUND.SUCCESS", self._refund_answer(order, refund))

    def ack_ok(self, response) -> bool:
        return response.is_success

    def _notify(self, url: str, event_type: str, resource: dict) -> None:
        envelope = {
            "id": f"EV{uuid.uuid4().hex[:24]}", "create_time": wire.beijing(datetime.now(timezone.utc)).isoformat(),
            "event_type": event_type, "resource": resource,
        }  # fmt: skip
        body = json.dumps(envelope, ensure_ascii=False).encode()

        def signed_attempt() -> tuple[dict[str, str], bytes]:
            return self._signature(body) | {"Content-Type": "application/json"}, body

        self.notifier.send(url, signed_attempt)

    # --- the daily statement

    async def _statement(self, request: Request) -> Response:
        bill_date = request.query_params.get("bill_date", "")
        return await self._serve(request, lambda _: (200, self._statement_file(bill_date)))

    def _statement_file(self, bill_date: str) -> bytes:
        try:
            day = date.fromisoformat(bill_date)
        except ValueError:
            raise Refusal(400, "PARAM_ERROR", "bill_date must be YYYY-MM-DD") from None
        orders = list(self.book.orders.values())
        paid = [o for o in orders if _on_day(o.paid_at, day)]  # reversed ones too: the money moved, then back
        shown, self.planted[day] = plant_discrepancies(paid, self.injector, self._phantom_order)
        rows = [self._payment_row(o) for o in shown]
        rows += [
            self._refund_row(o, r) for o in orders for r in o.refunds.values()
            if r.state == "succeeded" and _on_day(r.settled_at, day)
        ]  # fmt: skip
        return wire.write_statement(rows)

    def _phantom_order(self) -> SimOrder:
        amount_minor = self.injector.rng.randint(100, 100_000)
        return SimOrder(
            order_no=f"PH{secrets.token_hex(8)}", amount_minor=amount_minor, currency=wire.CURRENCY, subject="phantom",
            notify_url="", state="succeeded", channel_txn_id=self.book.next_id(), paid_at=datetime.now(timezone.utc),
            fee_minor=_fee(amount_minor), extra={"device_id": DEVICE_ID},
        )  # fmt: skip

    def _payment_row(self, order: SimOrder) -> dict[str, str]:
        paid = order.state == "succeeded"
        return {
            "trade_time": wire.beijing(order.paid_at).isoformat(), "transaction_id": order.channel_txn_id,
            "out_trade_no": order.order_no, "device_id": order.extra["device_id"], "trade_type": "PAYMENT",
            "trade_state": "SUCCESS" if paid else "REVOKED", "currency": order.currency,
            "amount": str(order.amount_minor), "fee": str(order.fee_minor if paid else 0),
        }  # fmt: skip

    def _refund_row(self, order: SimOrder, refund: SimRefund) -> dict[str, str]:
        return {
            "trade_time": wire.beijing(refund.settled_at).isoformat(), "transaction_id": order.channel_txn_id,
            "out_trade_no": order.order_no, "refund_id": refund.channel_refund_id, "out_refund_no": refund.refund_id,
            "device_id": order.extra["device_id"], "trade_type": "REFUND", "trade_state": "SUCCESS",
            "currency": order.currency, "amount": str(refund.amount_minor), "fee": str(-_fee(refund.amount_minor)),
        }  # fmt: skip

    # --- the wallet's side: devices, enrolment, face capture

    def _face_router(self) -> APIRouter:
        router = APIRouter(prefix="/sandbox")

        @router.post("/devices")
        async def register_device(device: wire.DeviceRegistration) -> dict:
            if device.device_id not in self.devices and len(self.devices) >= DEVICES_MAX:
                raise HTTPException(429, f"at most {DEVICES_MAX} devices")
            self.devices[device.device_id] = device.store_id
            return device.model_dump()

        @router.post("/enroll")
        async def enroll(enrolment: wire.Enrolment) -> dict:
            if enrolment.user_id not in self.enrolled and len(self.enrolled) >= ENROLMENTS_MAX:
                raise HTTPException(429, f"at most {ENROLMENTS_MAX} enrolled users")
            self.enrolled[enrolment.user_id] = EnrolledFace(faces.unit(enrolment.template), enrolment.daily_limit_minor)
            return {"user_id": enrolment.user_id, "daily_limit_minor": enrolment.daily_limit_minor}

        @router.post("/face/tokens")
        async def issue_token(capture: wire.Capture) -> wire.FaceToken:
            if capture.device_id not in self.devices:
                raise HTTPException(403, f"device {capture.device_id!r} is not registered; POST /sandbox/devices first")
            return self._issue_token(capture)

        return router

    def _issue_token(self, capture: wire.Capture) -> wire.FaceToken:
        now_s = time.monotonic()
        for stale in [t for t, issued in self._tokens.items() if issued.expires_at_s < now_s]:
            del self._tokens[stale]
        while len(self._tokens) >= TOKENS_KEPT_MAX:
            del self._tokens[next(iter(self._tokens))]
        face_token = "FT" + secrets.token_urlsafe(24)
        self._tokens[face_token] = IssuedToken(
            capture.device_id, faces.unit(capture.probe), capture.liveness, now_s + FACE_TOKEN_TTL_S
        )
        return wire.FaceToken(face_token=face_token, expires_in_s=FACE_TOKEN_TTL_S)


def _digest(face_token: str) -> str:
    return hashlib.sha256(face_token.encode()).hexdigest()


def _fee(amount_minor: int) -> int:
    return (amount_minor * FEE_RATE_BPS + 5_000) // 10_000  # rounded half up to the fen


def _on_day(moment: datetime | None, day: date) -> bool:
    return moment is not None and moment.astimezone(wire.CST).date() == day


async def _refused_without_input(request: Request, error: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes the input: a face vector has no place in an error answer (or a log).
    detail = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in error.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


def _param_error(error: ValidationError) -> dict:
    first = error.errors()[0]
    field = "/".join(str(part) for part in first["loc"])
    return {
        "code": "PARAM_ERROR",
        "message": f"/{field}: {first['msg']}",
        "detail": {"location": "body", "field": f"/{field}", "issue": first["msg"]},
    }
