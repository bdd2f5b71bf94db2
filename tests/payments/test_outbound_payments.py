"""Payments out through POST /v1/payments: B2B by the corporate bank, cross-border by SWIFT
(converted at an FX quote) and by e-CNY. Funds are held at acceptance, captured when the
channel pays, released when it does not; every currency balances on its own."""

from __future__ import annotations

import uuid

import pytest

from sqlalchemy import func, select

from juhe.ledger import verify_ledger
from juhe.db.models import Account
from juhe.payments.models import Payment

SUPPLIER = {"creditor_name": "Shanghai Steel Co", "creditor_account": "6222020200998877665", "creditor_bank": "102290024433"}
CLOSED_ACCOUNT = SUPPLIER | {"creditor_account": "6222000000000000404"}  # the bank sandbox answers AC04
US_SUPPLIER = {"rail": "swift", "creditor_bic": "CHASUS33", "creditor_account": "987654321", "creditor_name": "Acme Corp",
               "debtor_name": "Lotus Mart", "charge_bearer": "SHA"}


def pay_out(stack, key: str, amount_minor: int, scenario: str, payer: dict, currency: str = "CNY"):
    body = {"amount_minor": amount_minor, "currency": currency, "scenario": scenario, "subject": "invoice INV-7781",
            "payer": payer}
    return stack.api.post("/v1/payments", json=body, headers=stack.key("business") | {"Idempotency-Key": key})


def balances(stack) -> dict[tuple[str, str], dict]:
    accounts = stack.api.get("/v1/accounts", headers=stack.key("finance")).json()["data"]
    return {(a["code"].split(":")[0], a["currency"]): a["balance"] for a in accounts}


def platform_balance(stack, code: str, currency: str) -> int:
    """Debits minus credits of a platform account (merchant keys do not see these)."""
    with stack.db.reader() as session:
        row = session.execute(select(Account.debits_posted, Account.credits_posted).where(Account.code == code, Account.currency == currency)).one()
    return row[0] - row[1]


def payments(stack) -> int:
    with stack.db.reader() as session:
        return session.scalar(select(func.count()).select_from(Payment))


def ledger_ok(stack) -> bool:
    with stack.db.engine.connect() as conn:
        return verify_ledger(conn).ok


def test_b2b_payment_holds_the_funds_then_the_bank_pays_it(stack, fund):
    fund(1_000_000)
    created = pay_out(stack, "b2b-1", 300_000, "b2b", SUPPLIER)
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["channel"] == "bank" and payment["fee_minor"] == 150  # 5 bps
    assert balances(stack)[("payable", "CNY")]["available_minor"] == 1_000_000 - 300_150  # held at once
    paid = stack.wait_for(payment["id"], {"succeeded", "failed"})
    assert paid["status"] == "succeeded", paid
    assert balances(stack)[("payable", "CNY")]["posted_minor"] == 1_000_000 - 300_150
    assert ledger_ok(stack)


def test_a_b2b_payment_the_bank_rejects_gives_the_funds_back(stack, fund):
    fund(500_000)
    payment = pay_out(stack, "b2b-2", 200_000, "b2b", CLOSED_ACCOUNT).json()
    failed = stack.wait_for(payment["id"], {"succeeded", "failed"})
    assert failed["status"] == "failed" and failed["failure_code"] == "AC04"
    payable = balances(stack)[("payable", "CNY")]
    assert payable["posted_minor"] == payable["available_minor"] == 500_000
    assert ledger_ok(stack)


def test_paying_out_more_than_the_balance_is_refused_and_creates_nothing(stack, fund):
    fund(10_000)
    refused = pay_out(stack, "b2b-3", 200_000, "b2b", SUPPLIER)
    assert refused.status_code == 422 and refused.json()["code"] == "insufficient_funds"
    assert payments(stack) == 0


@pytest.mark.parametrize("stack", ["sqlite_url", "pg_url"], indirect=True)
def test_cross_border_payment_converts_at_its_quote_through_fx_accounts(stack, fund):
    fund(2_000_000)
    ask = {"sell_currency": "CNY", "buy_currency": "USD", "amount_minor": 100_000, "currency": "USD"}
    quote = stack.api.post("/v1/fx/quotes", json=ask, headers=stack.key("business")).json()
    created = pay_out(stack, "xb-1", 100_000, "crossborder", US_SUPPLIER | {"quote_id": quote["id"], "sell_currency": "CNY"}, "USD")
    assert created.status_code == 201, created.text
    paid = stack.wait_for(created.json()["id"], {"succeeded", "failed"})
    assert paid["status"] == "succeeded", paid
    with stack.db.reader() as session:
        meta = session.get(Payment, uuid.UUID(paid["id"])).meta
    sold = meta["fx"]["sold_minor"]
    assert meta["fx"]["rate"] == quote["rate"] and abs(sold - round(100_000 / float(quote["rate"]))) <= 1
    fee = paid["fee_minor"]
    found = balances(stack)
    assert found[("payable", "CNY")]["posted_minor"] == 2_000_000 - sold - fee
    assert platform_balance(stack, "fx:CNY", "CNY") == -sold and platform_balance(stack, "fx:USD", "USD") == 100_000
    assert platform_balance(stack, "clearing:crossborder", "USD") == -100_000  # the correspondent paid it for us
    assert ledger_ok(stack)


def test_cross_border_in_another_currency_needs_a_live_quote_and_changes_nothing_without(stack, fund):
    fund(2_000_000)
    bare = pay_out(stack, "xb-2", 100_000, "crossborder", US_SUPPLIER | {"sell_currency": "CNY"}, "USD")
    assert bare.status_code == 422 and bare.json()["code"] == "fx_quote_required"
    wrong = pay_out(stack, "xb-3", 100_000, "crossborder", US_SUPPLIER | {"quote_id": "nope", "sell_currency": "CNY"}, "USD")
    assert wrong.status_code == 404 and wrong.json()["code"] == "fx_quote_not_found"
    assert payments(stack) == 0


def test_ecny_payout_is_final_at_once(stack, fund):
    fund(100_000)
    created = pay_out(stack, "ecny-1", 8_800, "crossborder",
                      {"rail": "ecny", "payee_wallet_id": "0031000000000042", "payee_name": "李四"})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "succeeded"
    assert balances(stack)[("payable", "CNY")]["posted_minor"] == 100_000 - 8_800 - created.json()["fee_minor"]
    assert ledger_ok(stack)


WATCH_LIST = "name,aliases,type,country,dob,list\nGolden Sea Trading Limited,Jinhai Trading Co. Ltd,entity,CN,,Internal watch list\n"
LISTED = SUPPLIER | {"creditor_name": "GOLDEN SEA TRADING LTD"}


def test_a_payment_to_a_listed_creditor_waits_for_review_then_goes_or_fails(stack, fund):
    fund(1_000_000)
    uploaded = stack.api.post("/v1/aml/lists?name=internal", content=WATCH_LIST.encode(),
                              headers=stack.key("risk") | {"Content-Type": "text/csv"})
    assert uploaded.status_code == 201, uploaded.text
    clean = pay_out(stack, "aml-clean", 10_000, "b2b", SUPPLIER).json()
    assert clean["status"] == "processing"
    held = pay_out(stack, "aml-held", 20_000, "b2b", LISTED).json()
    assert held["status"] == "requires_action" and held["next_action"]["type"] == "aml_review"
    assert held["channel"] is None  # no bank has seen it
    screening = held["next_action"]["screening_id"]
    released = stack.api.post(f"/v1/aml/screenings/{screening}/review", json={"decision": "release", "reason": "same name, other firm"},
                              headers=stack.key("risk"))
    assert released.status_code == 200, released.text
    assert released.json()["payment"]["status"] == "processing" and released.json()["payment"]["channel"] == "bank"
    rejected = pay_out(stack, "aml-rejected", 30_000, "b2b", LISTED).json()
    refused = stack.api.post(f"/v1/aml/screenings/{rejected['next_action']['screening_id']}/review",
                             json={"decision": "reject", "reason": "sanctioned"}, headers=stack.key("risk")).json()
    assert refused["payment"]["status"] == "failed"
    assert stack.wait_for(clean["id"], {"succeeded"})["status"] == "succeeded"
    assert stack.wait_for(held["id"], {"succeeded"})["status"] == "succeeded"
    payable = balances(stack)[("payable", "CNY")]
    assert payable["posted_minor"] == payable["available_minor"] == 1_000_000 - 10_005 - 20_010  # the rejected one's hold is back
    assert ledger_ok(stack)
