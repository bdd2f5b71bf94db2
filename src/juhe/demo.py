"""The demo enterprise: a retail merchant with two stores and two business lines, an
e-commerce merchant, an API key for every role, and the platform's own accounts."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from pathlib import Path

from sqlalchemy import select

from juhe import merchants
from juhe.db.engine import Database
from juhe.db.models import Merchant, Store
from juhe.einvoice.service import save_settings
from juhe.ledger import ensure_account, payable_code, post, transfer
from juhe.ledger.accounts import BANK_RESERVE
from juhe.payments.models import MerchantChannel
from juhe.payments.terminals import register_terminal

PLATFORM_ACCOUNTS = (BANK_RESERVE, "revenue:fees", "expense:channel_fees")
# channel → (merchant fee, channel fee) in basis points: what Juhe charges, what it pays
# The channel fees are what each sandbox charges, as a real contract states the channel's price.
CONTRACTS = {"alipay": (80, 60), "wechatpay": (80, 60), "unionpay": (70, 60), "facepay": (60, 38), "pos": (75, 60),
             "bank": (5, 2), "crossborder": (30, 0)}
CHANNELS = tuple(CONTRACTS)


def seed_demo(db: Database, keys_file: Path) -> dict:
    """Create the demo data once; later runs return the keys saved the first time."""
    with db.session() as session, session.begin():
        if session.scalar(select(Merchant).limit(1)) is not None and keys_file.exists():
            return json.loads(keys_file.read_text())
        conn = session.connection()
        for code in PLATFORM_ACCOUNTS + tuple(f"clearing:{c}" for c in CHANNELS):
            ensure_account(conn, code, "CNY", owner_type="platform")
        retail = _merchant(session, "Lotus Mart 莲花超市", "retail", stores=[("sh-01", "Shanghai Jing'an"), ("bj-01", "Beijing Chaoyang")],
                           lines=[("grocery", "Grocery"), ("electronics", "Electronics")])
        shop = _merchant(session, "Silk Road Online 丝路商城", "ecommerce", stores=[], lines=[("cross-border", "Cross-border")])
        retail["terminals"] = _terminals(session, retail, keys_file.parent / "pos-terminals")
        # The retailer invoices on request: a payer asks on the receipt page (auto_issue would do it for every sale).
        save_settings(session, uuid.UUID(retail["id"]), seller_name="莲花超市有限公司", seller_tax_id="91350100M000100Y43",
                      item_name="*日用杂品*日用百货", tax_category_code="1060512990000000000", tax_rate_bps=1300, auto_issue=False)
        _opening_reserve(conn)
        demo = {"merchants": [retail, shop], "platform_token": secrets.token_urlsafe(32)}
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    keys_file.write_text(json.dumps(demo, indent=2, ensure_ascii=False))
    os.chmod(keys_file, 0o600)  # demo secrets: readable by the operator only
    return demo


def _opening_reserve(conn) -> None:
    """The reserve account (备付金) at the bank holds money before Juhe's first day: book what the
    bank sandbox's account opens with, so that the daily reserve proof can balance to the fen."""
    from juhe.channels.bank.sandbox import OPENING_BALANCE_MINOR

    reserve = ensure_account(conn, BANK_RESERVE, "CNY", owner_type="platform")
    opening = ensure_account(conn, "equity:opening_balances", "CNY", owner_type="platform")
    post(conn, transfer("demo:opening_reserve", reserve, opening, OPENING_BALANCE_MINOR, description="opening balance"))


def _terminals(session, merchant: dict, key_dir: Path) -> list[dict]:
    """One card terminal per store; each MAC key goes to a file for the terminal simulator."""
    key_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for number, store in enumerate(session.scalars(select(Store).where(Store.merchant_id == uuid.UUID(merchant["id"])).order_by(Store.code)), start=1):
        terminal, mac_key = register_terminal(session, uuid.UUID(merchant["id"]), f"POS{number:05d}", store.id)
        key_file = key_dir / f"{terminal.terminal_id}.hex"
        key_file.write_text(mac_key.hex())
        os.chmod(key_file, 0o600)
        made.append({"terminal_id": terminal.terminal_id, "store": store.code, "mac_key_file": str(key_file)})
    return made


def _merchant(session, name: str, industry: str, stores, lines) -> dict:
    merchant = merchants.create_merchant(session, name, industry)
    conn = session.connection()
    ensure_account(conn, payable_code(merchant.id), "CNY", merchant_id=merchant.id, no_overdraft=True,
                   owner_type="merchant", owner_id=merchant.id)
    for code, label in stores:
        store = merchants.add_store(session, merchant.id, code, label)
        ensure_account(conn, payable_code(merchant.id, store_id=store.id), "CNY", merchant_id=merchant.id,
                       no_overdraft=True, owner_type="store", owner_id=store.id)
    for code, label in lines:
        line = merchants.add_business_line(session, merchant.id, code, label)
        ensure_account(conn, payable_code(merchant.id, line_id=line.id), "CNY", merchant_id=merchant.id,
                       no_overdraft=True, owner_type="business_line", owner_id=line.id)
    for channel, (merchant_fee_bps, channel_fee_bps) in CONTRACTS.items():
        session.add(MerchantChannel(merchant_id=merchant.id, channel=channel, enabled=True, priority=100,
                                    merchant_fee_bps=merchant_fee_bps, channel_fee_bps=channel_fee_bps))
    keys = {}
    for role in merchants.ROLES:
        _key, secret = merchants.issue_api_key(session, merchant.id, f"demo {role}", [role])
        keys[role] = secret
    return {"id": str(merchant.id), "name": name, "industry": industry, "api_keys": keys}


def seed_console_logins(db: Database, logins_file: Path, merchant: dict) -> list[dict]:
    """A console login for each role of the demo's retailer, and the platform operator: made
    once (random passwords, kept in `logins_file`, readable by the operator only)."""
    from juhe.console.models import ConsoleUser
    from juhe.console.permissions import MERCHANT_ROLES, PLATFORM_ROLE
    from juhe.console.users import add_user

    if logins_file.exists():
        return json.loads(logins_file.read_text())
    logins = []
    with db.session() as session, session.begin():
        for role in (*MERCHANT_ROLES, PLATFORM_ROLE):
            login = f"{role}@demo"
            if session.scalar(select(ConsoleUser).where(ConsoleUser.login == login)) is not None:
                continue  # made by an earlier seed whose file was removed: its password is gone
            password = secrets.token_urlsafe(9)
            merchant_id = None if role == PLATFORM_ROLE else uuid.UUID(merchant["id"])
            add_user(session, login, f"Demo {role}", role, password, merchant_id)
            logins.append({"login": login, "role": role, "password": password})
    logins_file.write_text(json.dumps(logins, indent=2))
    os.chmod(logins_file, 0o600)
    return logins
