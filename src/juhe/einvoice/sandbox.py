"""A tax platform on localhost: checks the request's signature and content, numbers invoices
as the fully digitalised e-invoice does (20 digits: year, region, channel, serial), keeps the
serial (流水号) → invoice, so a retry gets the same invoice, refuses a red-letter invoice above
what is left of the original, and injects faults (latency, 5xx, timeouts) like the channel
sandboxes (`/sandbox/faults`)."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from juhe.channels.simkit import FaultInjector, Faults, ServerThread
from juhe.einvoice import credit_code, wire
from juhe.einvoice.platform import SIGNATURE_HEADER, TaxPlatform, signature

REGION = "31"  # 上海: the region digits of the numbers this platform gives
CHANNEL_DIGIT = "2"  # issued through a direct connection (not the web app)
CLOCK_SKEW_S = 300


@dataclass
class TaxSandbox:
    app_id: str = "juhe-sandbox"
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    injector: FaultInjector = field(default_factory=FaultInjector)
    issued: dict[str, dict] = field(default_factory=dict)  # serial → invoice as issued
    by_number: dict[str, dict] = field(default_factory=dict)
    # Each process in sandbox mode runs its own: a random start keeps their numbers apart.
    _serial: int = field(default_factory=lambda: secrets.randbelow(10**14) * 10)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, code: str, message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"code": code, "message": message}, status_code=status)

    def _number(self, now: datetime) -> str:
        self._serial += 1
        return f"{now:%y}{REGION}{CHANNEL_DIGIT}{self._serial:015d}"

    def issue(self, request: wire.IssueRequest) -> JSONResponse:
        with self._lock:
            if request.lsh in self.issued:
                return JSONResponse(self.issued[request.lsh]["answer"])
            problem = self._problem(request)
            if problem:
                return self.refuse(*problem)
            now = datetime.now(timezone.utc)
            answer = {"lsh": request.lsh, "fphm": self._number(now), "kprq": now.isoformat()}
            invoice = {"answer": answer, "request": request.model_dump(), "jshj": Decimal(request.jshj), "red_total": Decimal(0)}
            if request.fplx == "red":
                self.by_number[request.yfphm]["red_total"] += -Decimal(request.jshj)
            self.issued[request.lsh] = self.by_number[answer["fphm"]] = invoice
            return JSONResponse(answer)

    def _problem(self, request: wire.IssueRequest) -> tuple[str, str] | None:
        for tax_id in (request.xsfnsrsbh, request.gmfnsrsbh):
            if tax_id is not None and not credit_code.is_valid(tax_id):
                return "invalid_taxpayer_id", f"{tax_id} is not a valid taxpayer id"
        totals = (sum(Decimal(x.je) for x in request.mx), sum(Decimal(x.se) for x in request.mx))
        if totals != (Decimal(request.hjje), Decimal(request.hjse)) or sum(totals) != Decimal(request.jshj):
            return "totals_mismatch", "the totals are not the sum of the lines"
        if request.fplx == "blue":
            return None if Decimal(request.jshj) > 0 else ("invalid_amount", "a blue invoice is for a positive amount")
        original = self.by_number.get(request.yfphm or "")
        if original is None or original["request"]["fplx"] != "blue":
            return "original_not_found", f"no blue invoice {request.yfphm}"
        if Decimal(request.jshj) >= 0 or original["red_total"] - Decimal(request.jshj) > original["jshj"]:
            return "red_exceeds_original", "a red-letter invoice cannot exceed what is left of the original"
        return None

    def app(self) -> FastAPI:
        app = FastAPI(title="Tax platform sandbox")

        @app.middleware("http")
        async def faults(request: Request, call_next):
            if request.url.path.startswith("/sandbox/"):
                return await call_next(request)
            await self.injector.delay()
            if self.injector.should_fail_5xx():
                return self.refuse("system_busy", "系统繁忙", 503)
            response = await call_next(request)
            if self.injector.should_time_out():
                await self.injector.hang()
            return response

        @app.post("/v1/invoices")
        async def issue(request: Request):
            body = await request.body()
            if not self._signed(request, body):
                return self.refuse("bad_signature", "the signature does not verify", 401)
            try:
                parsed = wire.IssueRequest.model_validate_json(body)
            except ValidationError as e:
                return self.refuse("invalid_request", e.errors()[0]["msg"])
            return self.issue(parsed)

        app.include_router(self._control())
        return app

    def _signed(self, request: Request, body: bytes) -> bool:
        timestamp = request.headers.get("x-timestamp", "")
        if request.headers.get("x-app-id") != self.app_id or not timestamp.isdigit():
            return False
        if abs(int(timestamp) - int(datetime.now(timezone.utc).timestamp())) > CLOCK_SKEW_S:
            return False
        expected = signature(self.secret, self.app_id, timestamp, body)
        return secrets.compare_digest(expected, request.headers.get(SIGNATURE_HEADER.lower(), ""))

    def _control(self) -> APIRouter:
        router = APIRouter(prefix="/sandbox")

        @router.get("/faults")
        async def get_faults() -> Faults:
            return self.injector.faults

        @router.put("/faults")
        async def put_faults(faults: Faults) -> Faults:
            self.injector.configure(faults)
            return faults

        @router.get("/invoices/{number}")
        async def get_invoice(number: str):
            found = self.by_number.get(number)
            return JSONResponse(found["request"] | found["answer"]) if found else self.refuse("not_found", number, 404)

        return router


def start(port: int | None = None) -> tuple[TaxSandbox, ServerThread, TaxPlatform]:
    """A sandbox served on localhost and an adapter pointed at it."""
    sandbox = TaxSandbox()
    server = ServerThread(sandbox.app(), port).start()
    return sandbox, server, TaxPlatform(server.base_url, sandbox.app_id, sandbox.secret)
