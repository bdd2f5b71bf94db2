"""A report document with reportlab's platypus: headings, paragraphs, tables and chart images,
set in the receipts' CJK font (juhe.receipts.pdf registers it: STSong-Light, a CID font every
PDF reader has, nothing embedded), so Chinese and English sit in one line. Reports flow over
pages with tables, which the receipts' one-canvas writer does not do. Invariant output: the same
figures give the same bytes."""

from __future__ import annotations

import io
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from juhe.receipts.pdf import FONT

TITLE = ParagraphStyle("title", fontName=FONT, fontSize=17, leading=22, spaceAfter=6)
HEADING = ParagraphStyle("heading", fontName=FONT, fontSize=12.5, leading=16, spaceBefore=10, spaceAfter=4)
BODY = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12.5)
CELL = ParagraphStyle("cell", fontName=FONT, fontSize=7.5, leading=9.5)
FIGURE = ParagraphStyle("figure", parent=CELL, alignment=TA_RIGHT)
CHART_WIDTH = 170 * mm
TABLE_WIDTH = 174 * mm  # A4 less the margins
ROWS_MAX = 200  # a table longer than this is cut, and says so: a report is read, not searched


class Report:
    def __init__(self, title: str):
        self.title = title
        self.flow: list = []

    def heading(self, text: str, level: int = 2) -> None:
        self.flow.append(Paragraph(escape(text), TITLE if level == 1 else HEADING))

    def text(self, text: str) -> None:
        self.flow.append(Paragraph(escape(text), BODY))

    def table(self, header: list[str], rows: list[list], empty: str = "none 无", figures_from: int = 1) -> None:
        """Columns from `figures_from` on are figures, set right-aligned."""
        if not rows:
            self.text(empty)
            return
        shown = rows[:ROWS_MAX]

        def cell(n: int, value) -> Paragraph:
            return Paragraph(escape(str(value)), FIGURE if n >= figures_from else CELL)

        data = [[cell(n, c) for n, c in enumerate(header)]] + [[cell(n, c) for n, c in enumerate(row)] for row in shown]
        # The first column names the row and gets twice a figure's width.
        unit = TABLE_WIDTH / (len(header) + 1)
        table = Table(data, colWidths=[2 * unit] + [unit] * (len(header) - 1), repeatRows=1, hAlign="LEFT")
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#c9ced6")),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f5")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]))
        self.flow.append(table)
        if len(rows) > ROWS_MAX:
            self.text(f"… {len(rows) - ROWS_MAX} more rows not shown 另有 {len(rows) - ROWS_MAX} 行未列出")
        self.flow.append(Spacer(1, 4))

    def chart(self, png: bytes) -> None:
        image = Image(io.BytesIO(png))
        ratio = image.imageHeight / image.imageWidth
        image.drawWidth, image.drawHeight = CHART_WIDTH, CHART_WIDTH * ratio
        self.flow.append(image)

    def render(self, generated_at: datetime) -> bytes:
        out = io.BytesIO()
        document = SimpleDocTemplate(out, pagesize=A4, title=self.title, author="Juhe", invariant=True,
                                     leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm)
        footer = f"{self.title} · generated {generated_at.strftime('%Y-%m-%d %H:%M UTC')} · Juhe"

        def page_footer(canvas, doc):
            canvas.setFont(FONT, 7)
            canvas.drawString(18 * mm, 9 * mm, f"{footer} · page {doc.page}")

        document.build(self.flow, onFirstPage=page_footer, onLaterPages=page_footer)
        return out.getvalue()
