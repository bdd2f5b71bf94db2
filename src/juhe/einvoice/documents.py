"""An invoice as XML in the layout of the fully digitalised e-invoice's file (EInvoice: header,
seller, buyer, basic totals with the amount in words, item lines, tax supervision data) and as
a PDF drawn from the same fields."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from juhe.einvoice.models import Invoice
from juhe.einvoice.platform import yuan
from juhe.einvoice.tax import Line
from juhe.einvoice.words import capital_cny
from juhe.receipts.pdf import Page, beijing, render

ITEM_COLUMNS = [0, 150, -340, 360, -483]  # points from the margin; negative: right-aligned there
KIND_TITLE = {"blue": ("电子发票（普通发票）", "E-invoice"), "red": ("电子发票（普通发票）红字", "Red-letter e-invoice")}


def _rate(bps: int) -> str:
    return f"{Decimal(bps) / 100:g}%" if bps else "免税"


def invoice_xml(invoice: Invoice, original_number: str | None = None) -> bytes:
    root = etree.Element("EInvoice")
    header = etree.SubElement(root, "Header")
    _text(header, "EIid", invoice.number)
    _text(header, "EInvoiceTag", "SWEI3100")  # a fully digitalised e-invoice
    _text(header, "Version", "0.1")
    data = etree.SubElement(root, "EInvoiceData")
    seller = etree.SubElement(data, "SellerInformation")
    _text(seller, "SellerIdNum", invoice.seller_tax_id)
    _text(seller, "SellerName", invoice.seller_name)
    buyer = etree.SubElement(data, "BuyerInformation")
    _text(buyer, "BuyerIdNum", invoice.buyer_tax_id or "")
    _text(buyer, "BuyerName", invoice.buyer_name)
    basic = etree.SubElement(data, "BasicInformation")
    _text(basic, "TotalAmWithoutTax", yuan(invoice.amount_minor))
    _text(basic, "TotalTaxAm", yuan(invoice.tax_minor))
    _text(basic, "TotalTax-includedAmount", yuan(invoice.total_minor))
    _text(basic, "TotalTax-includedAmountInChinese", capital_cny(invoice.total_minor))
    _text(basic, "RequestTime", invoice.created_at.isoformat())
    if original_number:
        _text(basic, "RedInvoiceOriginalNumber", original_number)
    items = etree.SubElement(data, "IssuItemInformation")
    for line in map(Line.from_json, invoice.lines):
        item = etree.SubElement(items, "Item")
        _text(item, "ItemName", line.name)
        _text(item, "TaxClassificationCode", line.tax_category_code)
        _text(item, "Amount", yuan(line.amount_minor))
        _text(item, "TaxRate", str(Decimal(line.tax_rate_bps) / 10_000))
        _text(item, "ComTaxAm", yuan(line.tax_minor))
    supervision = etree.SubElement(root, "TaxSupervisionInfo")
    _text(supervision, "InvoiceNumber", invoice.number)
    _text(supervision, "IssueTime", invoice.issued_at.isoformat())
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _text(parent, tag: str, value: str | None) -> None:
    etree.SubElement(parent, tag).text = value or ""


def invoice_pdf(invoice: Invoice, original_number: str | None = None) -> bytes:
    zh, en = KIND_TITLE[invoice.kind]

    def draw(page: Page) -> None:
        page.title(f"{zh} {en}")
        page.row("发票号码 Number", invoice.number)
        page.row("开票日期 Issued", beijing(invoice.issued_at))
        if original_number:
            page.row("对应蓝字发票 Original", original_number)
        page.rule()
        page.row("购买方 Buyer", invoice.buyer_name)
        page.row("统一社会信用代码 Buyer id", invoice.buyer_tax_id or "—")
        page.row("销售方 Seller", invoice.seller_name)
        page.row("统一社会信用代码 Seller id", invoice.seller_tax_id)
        page.rule()
        page.columns(["项目名称 Item", "税收分类编码 Tax category", "金额 Amount", "税率 Rate", "税额 Tax"], ITEM_COLUMNS)
        for line in map(Line.from_json, invoice.lines):
            page.columns([line.name, line.tax_category_code, f"¥{yuan(line.amount_minor)}", _rate(line.tax_rate_bps),
                          f"¥{yuan(line.tax_minor)}"], ITEM_COLUMNS)
        page.rule()
        page.row("合计 Total", f"¥{yuan(invoice.amount_minor)}   税额 Tax ¥{yuan(invoice.tax_minor)}")
        page.row("价税合计（大写）In words", capital_cny(invoice.total_minor))
        page.row("价税合计（小写）Total with tax", f"¥{yuan(invoice.total_minor)}")

    return render(f"{en} {invoice.number}", draw)
