"""Accounts, balances and ledger transactions of the calling merchant."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from juhe.api.deps import ReadSessionDep, SessionDep, require
from juhe.api.errors import ApiError
from juhe.api.idempotency import run_idempotent
from juhe.db.types import utcnow
from juhe.ledger import Capture, Entry, LedgerError, Post, Reverse, Void, open_account, post
from juhe.ledger import queries
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal

router = APIRouter(prefix="/v1", tags=["ledger"])
Reader = Annotated[Principal, Depends(require("finance", "risk"))]
Writer = Annotated[Principal, Depends(require("finance"))]
HOLD_EXPIRY_MAX_S = 30 * 24 * 3600
PageLimit = Annotated[int, Query(ge=1, le=queries.PAGE_MAX)]
MERCHANT_ACCOUNT_HEADS = ("payable", "receivable", "bank", "expense", "revenue")


class AccountIn(BaseModel):
    code: str = Field(min_length=3, max_length=200, examples=["payable:petty-cash"])
    currency: str = Field(min_length=3, max_length=3, examples=["CNY"])
    no_overdraft: bool = False
    metadata: dict = Field(default_factory=dict)


class EntryIn(BaseModel):
    account_id: uuid.UUID
    amount_minor: int = Field(ge=-AMOUNT_MAX, le=AMOUNT_MAX, description="debit positive, credit negative, in minor units")


class TransactionIn(BaseModel):
    entries: list[EntryIn] = Field(min_length=2, max_length=64)
    description: str = Field("", max_length=500)
    metadata: dict = Field(default_factory=dict)


class HoldIn(BaseModel):
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount_minor: int = Field(gt=0, le=AMOUNT_MAX)
    expires_in_s: int = Field(3600, gt=0, le=HOLD_EXPIRY_MAX_S)
    description: str = Field("", max_length=500)


class CaptureIn(BaseModel):
    amount_minor: int | None = Field(None, gt=0, le=AMOUNT_MAX, description="omit to capture the whole hold")


class ReasonIn(BaseModel):
    description: str = Field("", max_length=500)


@router.post("/accounts", status_code=201)
def create_account(body: AccountIn, principal: Writer, session: SessionDep) -> dict:
    head, _, name = body.code.partition(":")
    # Reserve, clearing and FX accounts are the platform's; merchants open theirs in their own namespace.
    if head not in MERCHANT_ACCOUNT_HEADS or not name:
        raise ApiError(422, "invalid_account_code", f"code is '<{'|'.join(MERCHANT_ACCOUNT_HEADS)}>:<name>'")
    code = f"{head}:{principal.merchant_id}:{name}"
    conn = session.connection()
    if queries.account_exists(conn, code, body.currency):
        raise ApiError(409, "account_exists", f"account {code} in {body.currency} already exists")
    account_id = open_account(
        conn, code, body.currency, merchant_id=principal.merchant_id, no_overdraft=body.no_overdraft,
        owner_type="merchant", owner_id=principal.merchant_id, metadata=body.metadata,
    )
    return queries.get_account(conn, principal.merchant_id, account_id)


@router.get("/accounts")
def list_accounts(
    principal: Reader, session: ReadSessionDep, limit: PageLimit = 50, cursor: uuid.UUID | None = None,
    currency: str | None = None,
) -> dict:
    page = queries.list_accounts(session.connection(), principal.merchant_id, limit=limit, cursor=cursor, currency=currency)
    return page.as_json()


@router.get("/accounts/{account_id}")
def get_account(account_id: uuid.UUID, principal: Reader, session: ReadSessionDep) -> dict:
    return _found(queries.get_account(session.connection(), principal.merchant_id, account_id), "account")


@router.get("/accounts/{account_id}/balance")
def get_balance(account_id: uuid.UUID, principal: Reader, session: ReadSessionDep) -> dict:
    account = _found(queries.get_account(session.connection(), principal.merchant_id, account_id), "account")
    return {"account_id": account["id"], "currency": account["currency"], **account["balance"]}


@router.get("/ledger/transactions")
def list_transactions(
    principal: Reader, session: ReadSessionDep, limit: PageLimit = 50, cursor: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    kind: Literal["posting", "hold", "capture", "void", "reversal"] | None = None,
    created_from: AwareDatetime | None = None, created_to: AwareDatetime | None = None,
) -> dict:
    page = queries.list_transactions(
        session.connection(), principal.merchant_id, limit=limit, cursor=cursor, account_id=account_id, kind=kind,
        created_from=created_from, created_to=created_to,
    )
    return page.as_json()


@router.get("/ledger/transactions/{txn_id}")
def get_transaction(txn_id: uuid.UUID, principal: Reader, session: ReadSessionDep) -> dict:
    return _found(queries.get_transaction(session.connection(), principal.merchant_id, txn_id), "transaction")


@router.post("/ledger/transactions", status_code=201)
def create_transaction(body: TransactionIn, request: Request, principal: Writer, session: SessionDep):
    entries = tuple(Entry(e.account_id, e.amount_minor) for e in body.entries)

    def effect(key: str):
        _own_accounts(session, principal, {e.account_id for e in entries})
        command = Post(_ledger_key(principal, key), entries, principal.merchant_id, body.description, body.metadata or None)
        return 201, _posted(session, principal, command)

    return run_idempotent(request, session, principal, body, effect)


@router.post("/ledger/holds", status_code=201)
def create_hold(body: HoldIn, request: Request, principal: Writer, session: SessionDep):
    def effect(key: str):
        _own_accounts(session, principal, {body.debit_account_id, body.credit_account_id})
        entries = (Entry(body.debit_account_id, body.amount_minor), Entry(body.credit_account_id, -body.amount_minor))
        expires_at = utcnow() + timedelta(seconds=body.expires_in_s)
        command = Post(_ledger_key(principal, key), entries, principal.merchant_id, body.description,
                       pending=True, expires_at=expires_at)
        return 201, _posted(session, principal, command)

    return run_idempotent(request, session, principal, body, effect)


@router.post("/ledger/holds/{hold_id}/capture", status_code=201)
def capture_hold(hold_id: uuid.UUID, body: CaptureIn, request: Request, principal: Writer, session: SessionDep):
    def effect(key: str):
        _own_transaction(session, principal, hold_id)
        return 201, _posted(session, principal, Capture(_ledger_key(principal, key), hold_id, body.amount_minor))

    return run_idempotent(request, session, principal, body, effect)


@router.post("/ledger/holds/{hold_id}/void", status_code=201)
def void_hold(hold_id: uuid.UUID, request: Request, principal: Writer, session: SessionDep):
    def effect(key: str):
        _own_transaction(session, principal, hold_id)
        return 201, _posted(session, principal, Void(_ledger_key(principal, key), hold_id))

    return run_idempotent(request, session, principal, None, effect)


@router.post("/ledger/transactions/{txn_id}/reverse", status_code=201)
def reverse_transaction(txn_id: uuid.UUID, body: ReasonIn, request: Request, principal: Writer, session: SessionDep):
    def effect(key: str):
        _own_transaction(session, principal, txn_id)
        return 201, _posted(session, principal, Reverse(_ledger_key(principal, key), txn_id, body.description))

    return run_idempotent(request, session, principal, body, effect)


def _ledger_key(principal: Principal, scope: str) -> str:
    # Idempotency keys are per merchant; the ledger's keys are global.
    return f"api:{principal.merchant_id}:{scope}"


def _posted(session, principal: Principal, command) -> dict:
    conn = session.connection()
    try:
        txn_id = post(conn, command).id
    except LedgerError as error:
        # The ledger key hashes Idempotency-Key and body, so a reused key there is this very
        # request again, differing only in what time decides (a hold's absolute expiry).
        txn_id = queries.transaction_id_by_key(conn, principal.merchant_id, command.key)
        if error.code != "idempotency_key_reused" or txn_id is None:
            raise
    return queries.get_transaction(conn, principal.merchant_id, txn_id)


def _own_accounts(session, principal: Principal, ids: set[uuid.UUID]) -> None:
    missing = ids - queries.owned_account_ids(session.connection(), principal.merchant_id, ids)
    if missing:
        raise ApiError(404, "account_not_found", f"no account {sorted(map(str, missing))[0]}")


def _own_transaction(session, principal: Principal, txn_id: uuid.UUID) -> None:
    if queries.get_transaction(session.connection(), principal.merchant_id, txn_id) is None:
        raise ApiError(404, "transaction_not_found", f"no ledger transaction {txn_id}")


def _found(item: dict | None, label: str) -> dict:
    if item is None:
        raise ApiError(404, "not_found", f"no such {label}")
    return item
