"""Aggregated QR codes end to end: a store's code, scanned in each wallet (told by its
User-Agent), paid through that wallet's channel sandbox to `succeeded`; dynamic till codes pay
one order once; bad inputs get problem+json with stable codes and change nothing."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from juhe.db.types import utcnow
from juhe.ledger import verify_ledger
from juhe.payments.models import Payment
from juhe.qrcodes.models import QrCode

ALIPAY_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 AlipayClient/10.5.90.8000"
WECHAT_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI"
UNIONPAY_UA = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Mobile Safari/537.36 (com.unionpay.uppay) UnionPay/1.0 CloudPay"
SAFARI_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1"


def store_id(stack, merchant=0) -> str:
    return stack.api.get("/v1/stores", headers=stack.key("business", merchant)).json()["data"][0]["id"]


def new_code(stack, body=None, merchant=0, key=None, store=None):
    headers = {**stack.key("business", merchant), **({"Idempotency-Key": key} if key else {})}
    return stack.api.post(f"/v1/stores/{store or store_id(stack, merchant)}/qr-codes", json=body or {"label": "Till 1"},
                          headers=headers)


def browser(user_agent: str) -> httpx.Client:
    return httpx.Client(headers={"User-Agent": user_agent}, timeout=30, follow_redirects=False)


def hidden(page: str, name: str) -> str:
    return html.unescape(re.search(rf'name="{name}" value="([^"]*)"', page).group(1))


def scan_and_confirm(stack, url: str, user_agent: str, amount: str | None, wallet: str) -> tuple[httpx.Client, httpx.Response, str]:
    """What the payer does: scan (open the URL in the wallet), then confirm the amount."""
    payer = browser(user_agent)
    page = payer.get(url)
    if wallet == "wechat":  # WeChat's web authorisation first: the openid of whoever scanned
        assert page.status_code == 302 and "/connect/oauth2/authorize?" in page.headers["location"]
        back = payer.get(page.headers["location"])
        assert back.status_code == 302
        page = payer.get(back.headers["location"])
    assert page.status_code == 200, page.text
    nonce = hidden(page.text, "nonce")
    form = {"wallet": hidden(page.text, "wallet"), "nonce": nonce, **({"amount": amount} if amount else {})}
    if wallet == "wechat":
        form["openid"] = hidden(page.text, "openid")
    return payer, payer.post(url, data=form), nonce


def open_cashier(answer: httpx.Response, wallet: str) -> None:
    """The wallet's cashier: Alipay's WAP gateway URL, UnionPay's self-posting form, WeChat's JSAPI."""
    if wallet == "alipay":
        assert answer.status_code == 303
        assert httpx.get(answer.headers["location"]).status_code == 200
    elif wallet == "unionpay":
        target = re.search(r'action="([^"]+)"', answer.text).group(1)
        fields = dict(re.findall(r'name="([^"]+)"\s+value="([^"]*)"', answer.text))
        httpx.post(html.unescape(target), data={k: html.unescape(v) for k, v in fields.items()})
    else:
        assert answer.status_code == 200 and "getBrandWCPayRequest" in answer.text
        assert '"package": "prepay_id=' in answer.text or '"package":"prepay_id=' in answer.text


def only_payment(stack) -> Payment:
    with stack.db.reader() as session:
        return session.scalars(select(Payment)).one()


def paid_at_sandbox(stack, payment: Payment) -> dict:
    running = stack.sandbox(payment.channel)
    assert httpx.post(f"{running.server.base_url}/sandbox/pay/{payment.channel_order_no}", json={}).status_code == 200
    return stack.wait_for(str(payment.id), {"succeeded", "failed"})


@pytest.mark.parametrize(("wallet", "user_agent", "channel", "scenario"), [
    ("alipay", ALIPAY_UA, "alipay", "wap"), ("wechat", WECHAT_UA, "wechatpay", "jsapi"),
    ("unionpay", UNIONPAY_UA, "unionpay", "wap"),
])
def test_a_static_code_scanned_in_each_wallet_pays_the_store_on_that_wallets_channel(stack, wallet, user_agent, channel, scenario):
    created = new_code(stack)
    assert created.status_code == 201, created.text
    code = created.json()
    assert code["kind"] == "static" and code["amount"] is None and code["url"].startswith(stack.api.base_url.__str__().rstrip("/"))
    payer, answer, nonce = scan_and_confirm(stack, code["url"], user_agent, "12.34", wallet)
    open_cashier(answer, wallet)
    payment = only_payment(stack)
    assert (payment.channel, payment.scenario, payment.amount_minor) == (channel, scenario, 1234)
    assert str(payment.store_id) == code["store_id"] and payment.meta["qr_code_id"] == code["id"]
    assert payment.routing["order"] == [channel]  # the wallet decides: no failover to another wallet's channel
    done = paid_at_sandbox(stack, payment)
    assert done["status"] == "succeeded"
    assert 'data-status="succeeded"' in payer.get(f"{code['url']}/r/{nonce}").text
    with stack.db.engine.connect() as conn, conn.begin():
        assert verify_ledger(conn).ok


def test_a_browser_that_is_no_wallet_gets_the_choice_of_wallets(stack):
    code = new_code(stack).json()
    page = browser(SAFARI_UA).get(code["url"])
    assert page.status_code == 200
    assert re.findall(r'href="[^"]*\?wallet=(\w+)"', page.text) == ["alipay", "wechat", "unionpay"]
    chosen = browser(SAFARI_UA).get(f"{code['url']}?wallet=alipay")
    assert chosen.status_code == 200 and hidden(chosen.text, "wallet") == "alipay"


def test_a_fixed_amount_code_charges_its_amount_whatever_the_form_says(stack):
    code = new_code(stack, {"label": "Coffee", "amount_minor": 1800}).json()
    assert code["amount"]["amount"] == "18.00"
    _, answer, _ = scan_and_confirm(stack, code["url"], ALIPAY_UA, "0.01", "alipay")
    open_cashier(answer, "alipay")
    assert only_payment(stack).amount_minor == 1800


def test_the_printable_files_are_a_png_an_svg_and_a_pdf(stack):
    code = new_code(stack, {"label": "Till 1", "amount_minor": 990}).json()
    reader = stack.key("finance")
    png = stack.api.get(code["png_url"], headers=reader)
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    svg = stack.api.get(code["svg_url"], headers=reader)
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    pdf = stack.api.get(code["pdf_url"], headers=reader)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert stack.api.get(code["pdf_url"], headers=stack.key("business", 1)).json()["code"] == "qr_code_not_found"


@pytest.mark.parametrize("stack", ["sqlite_url", "pg_url"], indirect=True)
def test_a_dynamic_code_pays_exactly_its_order_once(stack):
    created = new_code(stack, {"kind": "dynamic", "label": "Till 2", "amount_minor": 4321}, key="till-2-order-1")
    assert created.status_code == 201, created.text
    code = created.json()
    again = new_code(stack, {"kind": "dynamic", "label": "Till 2", "amount_minor": 4321}, key="till-2-order-1")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == code["id"]
    # The payer first opens it in WeChat and walks away; then pays it in Alipay: one order, one payment paid.
    _, first, _ = scan_and_confirm(stack, code["url"], WECHAT_UA, None, "wechat")
    open_cashier(first, "wechat")
    _, answer, _ = scan_and_confirm(stack, code["url"], ALIPAY_UA, "1.00", "alipay")
    open_cashier(answer, "alipay")
    with stack.db.reader() as session:
        payments = {p.channel: p for p in session.scalars(select(Payment))}
    assert payments["wechatpay"].status == "canceled" and payments["alipay"].amount_minor == 4321
    assert paid_at_sandbox(stack, payments["alipay"])["status"] == "succeeded"
    assert stack.api.get(f"/v1/qr-codes/{code['id']}", headers=stack.key("business")).json()["status"] == "used"
    used = browser(UNIONPAY_UA).post(code["url"], data={"wallet": "unionpay", "nonce": "n1"})
    assert used.status_code == 409 and used.json()["code"] == "qr_code_used"
    assert used.headers["content-type"].startswith("application/problem+json")
    with stack.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 2


def test_an_expired_dynamic_code_starts_nothing(stack):
    code = new_code(stack, {"kind": "dynamic", "amount_minor": 500, "expires_in_s": 60}, key="till-exp").json()
    with stack.db.session() as session, session.begin():
        session.execute(update(QrCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = browser(ALIPAY_UA).post(code["url"], data={"wallet": "alipay", "nonce": "n1"})
    assert expired.status_code == 410 and expired.json()["code"] == "qr_code_expired"
    page = browser(ALIPAY_UA).post(code["url"], data={"wallet": "alipay", "nonce": "n1"}, headers={"Accept": "text/html"})
    assert page.status_code == 410 and 'data-code="qr_code_expired"' in page.text
    with stack.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0


def test_bad_inputs_are_refused_with_codes_and_change_nothing(stack):
    other_store = stack.api.post("/v1/stores", json={"code": "sz-01", "name": "Shenzhen"}, headers=stack.key("business", 1)).json()
    assert new_code(stack, store=other_store["id"]).json()["code"] == "store_not_found"
    assert new_code(stack, store=str(uuid.uuid4())).json()["code"] == "store_not_found"
    assert new_code(stack, {"amount_minor": 0}).json()["code"] == "validation_error"
    assert new_code(stack, {"currency": "XXX"}).json()["code"] == "invalid_money"
    assert new_code(stack, {"kind": "dynamic"}, key="d1").json()["code"] == "amount_required"
    assert new_code(stack, {"kind": "dynamic", "amount_minor": 100}).json()["code"] == "idempotency_key_required"
    assert new_code(stack, {"kind": "dynamic", "amount_minor": 100, "expires_in_s": 5}, key="d2").json()["code"] == "invalid_expiry"
    assert new_code(stack, {"expires_in_s": 600}).json()["code"] == "invalid_expiry"
    forbidden = stack.api.post(f"/v1/stores/{store_id(stack)}/qr-codes", json={}, headers=stack.key("finance"))
    assert forbidden.status_code == 403
    code = new_code(stack).json()
    for amount in ("", "0", "-5", "12.345", "abc", "1e9999"):
        refused = browser(ALIPAY_UA).post(code["url"], data={"wallet": "alipay", "nonce": "n", "amount": amount})
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_amount", (amount, refused.text)
    unknown = browser(ALIPAY_UA).get(code["url"].rsplit("/", 1)[0] + "/not-a-code")
    assert unknown.status_code == 404 and unknown.json()["code"] == "qr_code_not_found"
    bad_wallet = browser(ALIPAY_UA).post(code["url"], data={"wallet": "paypal", "nonce": "n", "amount": "1"})
    assert bad_wallet.json()["code"] == "unknown_wallet"
    no_openid = browser(WECHAT_UA).post(code["url"], data={"wallet": "wechat", "nonce": "n", "amount": "1"})
    assert no_openid.json()["code"] == "payer_unknown"
    bad_oauth = browser(WECHAT_UA).get(f"{code['url']}?wallet=wechat&code=forged")
    assert bad_oauth.status_code == 502 and bad_oauth.json()["code"] == "payer_identity_failed"
    with stack.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0
        assert session.scalar(select(func.count()).select_from(QrCode)) == 1


def test_a_wallet_whose_channel_is_not_connected_is_refused_and_left_off_the_choice(stack):
    """A live deployment connects only the channels it holds a contract for (here no UnionPay)."""
    code = new_code(stack).json()
    unionpay = stack.runtime.payments.channels.pop("unionpay")
    try:
        page = browser(SAFARI_UA).get(code["url"])
        assert re.findall(r'href="[^"]*\?wallet=(\w+)"', page.text) == ["alipay", "wechat"]
        scanned = browser(UNIONPAY_UA).get(code["url"])
        assert scanned.status_code == 422 and scanned.json()["code"] == "wallet_not_available"
        confirmed = browser(SAFARI_UA).post(code["url"], data={"wallet": "unionpay", "nonce": "n", "amount": "1"})
        assert confirmed.status_code == 422 and confirmed.json()["code"] == "wallet_not_available"
    finally:
        stack.runtime.payments.channels["unionpay"] = unionpay
    with stack.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0
