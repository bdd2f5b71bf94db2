"""ISO 20022 XML plumbing shared by the message modules: building, safe parsing, reading.

Every message is a `Document` in its own namespace (`urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08`
…). Amounts are written with exactly the currency's minor-unit decimals and read back with
`Money.parse`, which refuses more decimals than the currency has, so no float and no silent
rounding ever happens on the way in or out.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

from lxml import etree

from juhe.money import Money, MoneyError

NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
MESSAGE_BYTES_MAX = 256 * 1024  # one transaction per message here; anything larger is not ours
MAX35 = 35
MAX140 = 140

# Entities, DTDs and network access are how XML parsers get attacked; ISO 20022 needs none of them.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
    remove_blank_text=True,
)  # fmt: skip


class MessageError(ValueError):
    """Not the ISO 20022 message expected: unreadable, another message, or missing what it needs."""


def namespace(message_name: str) -> str:
    return NAMESPACE_PREFIX + message_name


def message_name(raw: bytes) -> str:
    """`pacs.002.001.10` for a pacs.002 document: which message a body is, from its namespace."""
    root = _parse(raw)
    found = etree.QName(root).namespace or ""
    if etree.QName(root).localname != "Document" or not found.startswith(NAMESPACE_PREFIX):
        raise MessageError("not an ISO 20022 Document")
    return found.removeprefix(NAMESPACE_PREFIX)


def new_document(message: str, root_tag: str) -> tuple[etree._Element, etree._Element]:
    document = etree.Element(etree.QName(namespace(message), "Document"), nsmap={None: namespace(message)})
    return document, sub(document, root_tag)


def sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, etree.QName(etree.QName(parent).namespace, tag), attributes)
    if text is not None:
        element.text = text
    return element


def add_amount(parent: etree._Element, tag: str, money: Money) -> etree._Element:
    return sub(parent, tag, money.decimal_text(), Ccy=money.currency)


def add_agent(parent: etree._Element, tag: str, bic: str) -> etree._Element:
    agent = sub(parent, tag)
    sub(sub(agent, "FinInstnId"), "BICFI", bic)
    return agent


def add_account(parent: etree._Element, tag: str, account_id: str) -> etree._Element:
    account = sub(parent, tag)
    sub(sub(sub(account, "Id"), "Othr"), "Id", account_id)
    return account


def serialize(document: etree._Element) -> bytes:
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")


def parse(raw: bytes, message: str, root_tag: str) -> etree._Element:
    """The message element (child of Document) of a `message` document, or MessageError."""
    root = _parse(raw)
    if root.tag != etree.QName(namespace(message), "Document").text:
        raise MessageError(f"expected a {message} Document, got {root.tag[:100]}")
    found = root.find(etree.QName(namespace(message), root_tag).text)
    if found is None:
        raise MessageError(f"{message} Document without {root_tag}")
    return found


def _parse(raw: bytes) -> etree._Element:
    if len(raw) > MESSAGE_BYTES_MAX:
        raise MessageError(f"message of {len(raw)} bytes; at most {MESSAGE_BYTES_MAX}")
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise MessageError("DTDs and entities are not allowed")
    try:
        return etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as e:
        raise MessageError(f"not well-formed XML: {e}") from None


def _qualified(element: etree._Element, path: str) -> str:
    ns = etree.QName(element).namespace
    return "/".join(f"{{{ns}}}{step}" for step in path.split("/"))


def find(element: etree._Element, path: str) -> etree._Element | None:
    return element.find(_qualified(element, path))


def find_all(element: etree._Element, path: str) -> list[etree._Element]:
    return element.findall(_qualified(element, path))


def text(element: etree._Element, path: str) -> str | None:
    found = find(element, path)
    return None if found is None or found.text is None else found.text.strip()


def required(element: etree._Element, path: str) -> str:
    found = text(element, path)
    if not found:
        raise MessageError(f"{etree.QName(element).localname}/{path} missing")
    return found


def read_amount(element: etree._Element, path: str) -> Money:
    found = find(element, path)
    if found is None or not found.text:
        raise MessageError(f"{path} missing")
    try:
        return Money.parse(found.text, found.get("Ccy", ""))
    except MoneyError as e:
        raise MessageError(f"{path}: {e}") from None


def optional_amount(element: etree._Element, path: str) -> Money | None:
    return read_amount(element, path) if find(element, path) is not None else None


def read_decimal(element: etree._Element, path: str) -> Decimal | None:
    found = text(element, path)
    if found is None:
        return None
    try:
        value = Decimal(found)
    except InvalidOperation:
        raise MessageError(f"{path}: {found!r} is not a decimal") from None
    if not value.is_finite():
        raise MessageError(f"{path}: {found!r} is not a decimal")
    return value


def read_datetime(element: etree._Element, path: str) -> datetime:
    found = required(element, path)
    try:
        moment = datetime.fromisoformat(found)
    except ValueError:
        raise MessageError(f"{path}: {found!r} is not an ISO date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def read_date(element: etree._Element, path: str) -> date:
    found = required(element, path)
    try:
        return date.fromisoformat(found)
    except ValueError:
        raise MessageError(f"{path}: {found!r} is not an ISO date") from None


def iso_datetime(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def new_message_id(prefix: str) -> str:
    """A MsgId unique per sender: prefix, UTC time and randomness, within Max35Text."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    return f"{prefix}{stamp}{secrets.token_hex(6)}"[:MAX35]


def uetr_for(payment_id: str) -> str:
    """The UETR of a payment: UUIDv4-shaped, and the same on every retry of the same payment,
    so that the bank recognises a resent pacs.008 instead of paying twice."""
    digest = bytearray(hashlib.sha256(b"juhe-uetr:" + payment_id.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40  # version 4
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(digest)))
