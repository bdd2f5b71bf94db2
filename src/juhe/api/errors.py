"""One error type for every failure, rendered as RFC 9457 problem+json with a stable `code`."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
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
# A database that cannot take the request now: (words in the driver's message, code, detail, Retry-After s).
# The transaction rolled back, so nothing was written; the same request (same Idempotency-Key) may be sent again.
DATABASE_FAILURES = (
    (("database or disk is full", "no space left on device", "could not extend file"), "storage_full",
     "the database's disk is full: nothing was written; retry once space is freed", 30),
    (("readonly database", "read-only", "read only"), "database_read_only",
     "the database is read-only: nothing was written; retry once it takes writes again", 30),
    (("database is locked", "could not serialize", "deadlock detected"), "database_busy",
     "the database was busy: nothing was written; retry", 1),
)
UNAVAILABLE = ("database_unavailable", "the database is not reachable (restarting or down): nothing was written; retry", 1)


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
    if status in (429, 503) and "retry_after_s" in extra:
        headers = {"Retry-After": str(extra["retry_after_s"])}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def database_failure(exc: BaseException) -> tuple[str, str, int] | None:
    """(code, detail, retry after s) when `exc` is the database refusing or unreachable, else None.
    Only errors of the connection or the server's state count: a broken query stays a 500."""
    if not isinstance(exc, DBAPIError):
        return None
    message = str(exc.orig).lower()
    for words, code, detail, retry_after_s in DATABASE_FAILURES:
        if any(w in message for w in words):
            return code, detail, retry_after_s
    if exc.connection_invalidated or type(exc).__name__ in ("OperationalError", "InterfaceError"):
        return UNAVAILABLE
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(DBAPIError)
    async def on_database_error(request: Request, exc: DBAPIError):
        return _database_problem(request, exc)

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
        if isinstance(exc, DBAPIError):  # raised in a middleware (audit trail, measuring), past the handler above
            return _database_problem(request, exc)
        # Log the trace for operators; the client only learns that it was our fault.
        log.exception("unhandled error", path=request.url.path)
        return problem(500, "internal_error", "an internal error occurred; it has been logged", request)


def _database_problem(request: Request, exc: DBAPIError) -> JSONResponse:
    failure = database_failure(exc)
    if failure is None:
        log.exception("unhandled database error", path=request.url.path, exc_info=exc)
        return problem(500, "internal_error", "an internal error occurred; it has been logged", request)
    code, detail, retry_after_s = failure
    log.warning("database.unavailable", code=code, path=request.url.path, error=str(exc.orig)[:200])
    return problem(503, code, detail, request, retry_after_s=retry_after_s)
