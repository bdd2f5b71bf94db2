"""One error type for every failure, rendered as RFC 9457 problem+json with a stable `code`."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from juhe.ledger import LedgerError
from juhe.ledger.accounts import AccountError
from juhe.merchants import MerchantError
from juhe.money import MoneyError
from juhe.payments.service import PaymentError
from juhe.payments.states import IllegalTransition
from juhe.transfers.service import TransferError
from juhe.treasury.fx_quotes import QuoteError

PROBLEM = "application/problem+json"
log = structlog.get_logger()

# Ledger problem codes and the HTTP status each one means to a client.
LEDGER_STATUS = {
    "insufficient_funds": 422,
    "idempotency_key_reused": 409,
    "hold_not_pending": 409,
    "already_reversed": 409,
    "transaction_not_found": 404,
    "account_not_found": 404,
}
HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 409: "conflict"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, **extra):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def problem(status: int, code: str, detail: str, request: Request | None = None, **extra) -> JSONResponse:
    body = {
        "type": f"https://juhe.dev/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    if request is not None:
        body["instance"] = request.url.path
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 429 and "retry_after_s" in extra:
        headers = {"Retry-After": str(extra["retry_after_s"])}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError):
        return problem(exc.status, exc.code, exc.detail, request, **exc.extra)

    @app.exception_handler(LedgerError)
    async def on_ledger_error(request: Request, exc: LedgerError):
        problems = [{"index": p.index, "code": p.code, "detail": p.message} for p in exc.problems]
        return problem(LEDGER_STATUS.get(exc.code, 422), exc.code, exc.problems[0].message, request, problems=problems)

    @app.exception_handler(MoneyError)
    async def on_money_error(request: Request, exc: MoneyError):
        return problem(422, "invalid_money", str(exc), request)

    @app.exception_handler(AccountError)
    async def on_account_error(request: Request, exc: AccountError):
        return problem(422, exc.code, str(exc), request)

    @app.exception_handler(MerchantError)
    async def on_merchant_error(request: Request, exc: MerchantError):
        return problem(exc.status, exc.code, str(exc), request)

    @app.exception_handler(PaymentError)
    async def on_payment_error(request: Request, exc: PaymentError):
        return problem(exc.status, exc.code, str(exc), request)

    @app.exception_handler(TransferError)
    async def on_transfer_error(request: Request, exc: TransferError):
        extra = {"errors": exc.errors} if exc.errors else {}
        return problem(exc.status, exc.code, str(exc), request, **extra)

    @app.exception_handler(QuoteError)
    async def on_quote_error(request: Request, exc: QuoteError):
        return problem(exc.status, exc.code, str(exc), request)

    @app.exception_handler(IllegalTransition)
    async def on_illegal_transition(request: Request, exc: IllegalTransition):
        return problem(409, "illegal_transition", str(exc), request, current_status=exc.current, wanted_status=exc.wanted)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return problem(422, "validation_error", "the request is not valid", request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException):
        response = problem(exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail), request)
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception):
        # Log the trace for operators; the client only learns that it was our fault.
        log.exception("unhandled error", path=request.url.path)
        return problem(500, "internal_error", "an internal error occurred; it has been logged", request)
