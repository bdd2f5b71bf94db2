"""The bank's host-to-host file API: paths, JSON answers, and the XML plumbing shared by the
ISO 20022 messages (pain.001 out; pain.002 and camt.053 in).

The API, as banks' host-to-host REST gateways offer it beside EBICS and SWIFT FileAct:

- `POST /h2h/v1/payment-files` — body: a pain.001 document (`application/xml`). 202 with a
  receipt; 200 with the first receipt when the same MsgId and the same transfers come again
  (a resend after a lost answer); 409 `DU01` when the MsgId was used for other transfers;
  400 `FF01` when the file does not validate against the ISO 20022 schema.
- `GET /h2h/v1/status-reports?msgId=…` — the latest pain.002 for that file; 404 when the bank
  has no file with that MsgId. (A query parameter, because a MsgId may hold '/'.)
- `GET /h2h/v1/statements?account=…&date=YYYY-MM-DD&format=camt.053|mt940` — the day's statement.

Errors are JSON `{"code", "message"}`, the code an ISO 20022 reason code where one fits.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field

UPLOAD_PATH = "/h2h/v1/payment-files"
STATUS_PATH = "/h2h/v1/status-reports"
STATEMENT_PATH = "/h2h/v1/statements"
XML_MEDIA_TYPE = "application/xml"
MT940_MEDIA_TYPE = "text/plain; charset=us-ascii"  # SWIFT x characters only
JSON_MEDIA_TYPE = "application/json"
FILE_BYTES_MAX = 20 * 1024 * 1024  # a pain.001 of 10 000 transfers is about 10 MB
ISO_NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"


class Receipt(BaseModel):
    """The bank's answer to an upload: the file is in, its transfers are not executed yet."""

    model_config = ConfigDict(populate_by_name=True)

    file_id: str = Field(alias="fileId")
    msg_id: str = Field(alias="msgId")
    status: str  # RCVD: the bank has the file; what it makes of it comes in pain.002
    received_at: datetime = Field(alias="receivedAt")
    duplicate: bool = False


class ErrorAnswer(BaseModel):
    code: str
    message: str = ""


class MessageError(ValueError):
    """An XML message that cannot be read as the ISO 20022 message it claims to be."""


def parse_xml(document: bytes) -> etree._Element:
    """Parse untrusted XML without entities, DTDs or network access (no XXE, no billion laughs)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True)
    try:
        return etree.fromstring(document, parser)
    except etree.XMLSyntaxError as e:
        raise MessageError(f"not well-formed XML: {e}") from None


def message_name(root: etree._Element) -> str:
    """'pain.002.001.10' from the Document's namespace; MessageError for anything else."""
    namespace = etree.QName(root).namespace or ""
    if etree.QName(root).localname != "Document" or not namespace.startswith(ISO_NAMESPACE_PREFIX):
        raise MessageError("not an ISO 20022 Document")
    return namespace.removeprefix(ISO_NAMESPACE_PREFIX)


class Reader:
    """Namespace-blind paths into one message, so that each version of it reads the same."""

    def __init__(self, root: etree._Element):
        self.ns = {"x": etree.QName(root).namespace}

    def _path(self, path: str) -> str:
        return "/".join(f"x:{step}" for step in path.split("/"))

    def all(self, element: etree._Element, path: str) -> list[etree._Element]:
        return element.findall(self._path(path), self.ns)

    def one(self, element: etree._Element, path: str) -> etree._Element | None:
        return element.find(self._path(path), self.ns)

    def text(self, element: etree._Element, path: str) -> str | None:
        found = self.one(element, path)
        return found.text.strip() if found is not None and found.text else None

    def required(self, element: etree._Element, path: str) -> str:
        found = self.text(element, path)
        if found is None:
            raise MessageError(f"{etree.QName(element).localname} lacks {path}")
        return found


def sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{parent.nsmap[None]}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def document(namespace: str, message: str) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{{{namespace}}}Document", nsmap={None: namespace})
    return root, sub(root, message)


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
