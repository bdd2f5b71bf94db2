"""The code as a PNG (screens), an SVG and a PDF card to print (vector, so any size is sharp)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from juhe.qrcodes.wallets import WALLETS

# M (15 % recovery) survives a worn or partly covered sticker at a till and keeps modules large.
ERROR_CORRECTION = ERROR_CORRECT_M
QUIET_ZONE_MODULES = 4  # what the QR standard asks around the symbol
CJK_FONT = "STSong-Light"  # a CID font every PDF reader has: no font file shipped


@dataclass(frozen=True, slots=True)
class Card:
    url: str
    store_name: str
    label: str
    amount_text: str | None  # "¥12.34", or None for an open amount


def _code(url: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=QUIET_ZONE_MODULES, box_size=10)
    code.add_data(url)
    code.make(fit=True)
    return code


def png(url: str) -> bytes:
    out = io.BytesIO()
    _code(url).make_image().save(out)
    return out.getvalue()


def svg(url: str) -> bytes:
    out = io.BytesIO()
    _code(url).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(out)
    return out.getvalue()


def pdf(card: Card) -> bytes:
    """An A6 card: store, checkout, amount, the code drawn module by module, the wallets it takes."""
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A6, pageCompression=1)
    page.setTitle(f"{card.store_name} {card.label}")
    width, height = A6
    _centred(page, width / 2, height - 16 * mm, card.store_name, 15)
    _centred(page, width / 2, height - 23 * mm, f"{card.label} · 扫码付款 Scan to pay", 10)
    side = width - 24 * mm
    _modules(page, _code(card.url).get_matrix(), 12 * mm, height - 27 * mm - side, side)
    below = height - 33 * mm - side
    _centred(page, width / 2, below, card.amount_text or "金额由付款人输入 Enter the amount", 13 if card.amount_text else 9)
    _centred(page, width / 2, below - 7 * mm, " · ".join(w.name for w in WALLETS.values()), 8)
    page.setFont("Helvetica", 5)
    page.drawCentredString(width / 2, 6 * mm, card.url)
    page.showPage()
    page.save()
    return out.getvalue()


def _centred(page: canvas.Canvas, x: float, y: float, text: str, size: float) -> None:
    page.setFont(CJK_FONT, size)
    page.drawCentredString(x, y, text)


def _modules(page: canvas.Canvas, matrix: list[list[bool]], x0: float, y0: float, side: float) -> None:
    module = side / len(matrix)
    page.setFillColorRGB(0, 0, 0)
    for row, cells in enumerate(matrix):
        y = y0 + side - (row + 1) * module
        for col, dark in enumerate(cells):
            if dark:
                page.rect(x0 + col * module, y, module, module, stroke=0, fill=1)
