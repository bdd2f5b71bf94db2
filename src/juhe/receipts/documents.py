"""A receipt as a PDF and as the payer's HTML page, both from the record in the log and its
inclusion proof (leaf index, tree size, audit path, signed tree head)."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from juhe.einvoice.words import capital_cny
from juhe.money import Money
from juhe.receipts.pdf import Page, beijing, render

PROOF_FILE = "proof.json"
VERIFY_HINT = "juhe trace verify proof.json --public-key log.pub"
TITLES = {"payment": ("交易凭证", "Payment receipt"), "refund": ("退款凭证", "Refund receipt")}
templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())


def amount_text(record: dict) -> str:
    return str(Money(record["amount_minor"], record["currency"]))


def fields(record: dict) -> list[tuple[str, str]]:
    """(label, value) rows, Chinese and English, in the order a payer reads them."""
    rows = [("商户 Merchant", record["merchant_name"]), ("金额 Amount", amount_text(record))]
    if record["currency"] == "CNY":
        rows.append(("大写 In words", capital_cny(record["amount_minor"])))
    rows += [("商品 Subject", record["subject"]), ("支付单号 Payment", record["payment_id"]),
             ("支付渠道 Channel", record["channel"] or "—"), ("渠道订单号 Channel order", record["channel_order_no"] or "—"),
             ("支付时间 Paid at", beijing(record["paid_at"]))]
    if record["refund_id"]:
        rows += [("退款单号 Refund", record["refund_id"]), ("退款时间 Refunded at", beijing(record["refunded_at"]))]
    rows.append(("凭证编号 Receipt no.", record["object_id"]))
    return rows


def proof_rows(document: dict) -> list[tuple[str, str]]:
    root = document["tree_head"].split("\n")[2]
    return [("叶子序号 Leaf index", str(document["leaf_index"])), ("树大小 Tree size", str(document["tree_size"])),
            ("树根 Root (base64)", root)]


def receipt_pdf(record: dict, document: dict) -> bytes:
    zh, en = TITLES[record["event"]]

    def draw(page: Page) -> None:
        page.title(f"{zh} {en}")
        page.rule()
        for label, value in fields(record):
            page.row(label, value)
        page.gap()
        page.title("上链证明 Inclusion proof (RFC 9162)", 13)
        for label, value in proof_rows(document):
            page.row(label, value, 9)
        page.small("审计路径 Audit path:")
        for n, node in enumerate(document["path"]):
            page.small(f"  {n:>2}  {node}")
        page.small("签名树头 Signed tree head:")
        for line in document["tree_head"].rstrip("\n").split("\n"):
            page.small(f"  {line}")
        page.gap()
        page.small(f"核验 Verify: save the attached {PROOF_FILE} and run: {VERIFY_HINT}", 8.5)

    return render(f"{en} {record['object_id']}", draw, {PROOF_FILE: json.dumps(document, ensure_ascii=False, indent=1).encode()})


def receipt_html(record: dict, document: dict, links: dict, invoice: dict | None, rating: dict | None = None) -> str:
    zh, en = TITLES[record["event"]]
    return templates.get_template("receipt.html").render(
        title_zh=zh, title_en=en, fields=fields(record), proof=proof_rows(document), document=document,
        links=links, invoice=invoice, rating=rating, verify_hint=VERIFY_HINT)
