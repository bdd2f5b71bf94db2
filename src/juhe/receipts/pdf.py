"""What receipt and invoice PDFs share: reportlab with its built-in CJK font (STSong-Light, a CID
font every PDF reader has, so nothing is embedded), labelled rows in Chinese and English, Beijing
time, and files attached to the PDF (the proof document) with pypdf."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

FONT = "STSong-Light"
BEIJING = ZoneInfo("Asia/Shanghai")
MARGIN = 56
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def beijing(at: datetime | str | None) -> str:
    if at is None:
        return "—"
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") + " (UTC+8)"


class Page:
    """A top-to-bottom writer on one canvas: titles, label/value rows, small monospace-ish lines,
    starting a new page when the bottom is reached."""

    def __init__(self, canvas: Canvas):
        self.canvas = canvas
        self.width, self.height = A4
        self.y = self.height - MARGIN

    def _room(self, needed: float) -> None:
        if self.y - needed < MARGIN:
            self.canvas.showPage()
            self.y = self.height - MARGIN

    def title(self, text: str, size: int = 18) -> None:
        self._room(size + 10)
        self.canvas.setFont(FONT, size)
        self.canvas.drawString(MARGIN, self.y - size, text)
        self.y -= size + 12

    def row(self, label: str, value: str, size: int = 10.5) -> None:
        self._room(size + 6)
        self.canvas.setFont(FONT, size)
        self.canvas.drawString(MARGIN, self.y - size, label)
        self.canvas.drawString(MARGIN + 170, self.y - size, value)
        self.y -= size + 6

    def small(self, text: str, size: float = 7.5) -> None:
        self._room(size + 3)
        self.canvas.setFont(FONT, size)
        self.canvas.drawString(MARGIN, self.y - size, text)
        self.y -= size + 3

    def columns(self, cells: list[str], xs: list[float], size: float = 9) -> None:
        """One row of a table: each cell at its x (points from the left margin); a cell whose x is
        negative is right-aligned at -x, as amounts are."""
        self._room(size + 5)
        self.canvas.setFont(FONT, size)
        for cell, x in zip(cells, xs, strict=True):
            if x < 0:
                self.canvas.drawRightString(MARGIN - x, self.y - size, cell)
            else:
                self.canvas.drawString(MARGIN + x, self.y - size, cell)
        self.y -= size + 5

    def rule(self) -> None:
        self._room(10)
        self.canvas.line(MARGIN, self.y - 4, self.width - MARGIN, self.y - 4)
        self.y -= 12

    def gap(self, points: float = 8) -> None:
        self.y -= points


def render(title: str, draw: Callable[[Page], None], attachments: dict[str, bytes] | None = None) -> bytes:
    """A PDF drawn by `draw`, with `attachments` embedded as files (name → bytes)."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=True)
    canvas.setTitle(title)
    canvas.setAuthor("Juhe")
    draw(Page(canvas))
    canvas.save()
    if not attachments:
        return out.getvalue()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(out.getvalue())))
    for name, data in attachments.items():
        writer.add_attachment(name, data)
    final = io.BytesIO()
    writer.write(final)
    return final.getvalue()
