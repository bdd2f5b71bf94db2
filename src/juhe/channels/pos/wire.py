"""ISO 8583:1987 messages of the acquirer link and of the terminals, and the settlement file.

Both links speak the same dialect: pyiso8583's ASCII encodings of the 1987 fields, no header,
a MAC (signing.py) in field 64 or 128. The fields we use, and what they carry here:

  2 PAN · 3 processing code (000000 goods and services, 200000 refund) · 4 amount in fen ·
  7 transmission time MMDDhhmmss UTC · 11 STAN · 12/13 local time hhmmss / date MMDD (Beijing) ·
  22 POS entry mode · 35 track 2 · 37 retrieval reference number · 38 authorisation code ·
  39 response code · 41 terminal id · 42 card acceptor (merchant) id · 44 a refusal's reason
  (at most 25 characters, never quoting a value) or an inquiry's result ·
  48 private data: tag(2) length(2) value — 01 our order number, 02 the original's ·
  49 currency 156 · 70 network management code · 90 original data elements · 64/128 MAC

0600/0610 is our acquirer's private transaction status inquiry: 48 names the order, the answer's
39 is 00 (found) or 25 (not found) and 44 is the state letter (A approved, D declined,
R reversed) followed by the original's response code.

Answers never carry fields 2 and 35: card data travels only toward the acquirer.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import iso8583
from iso8583.specs import default_ascii

from juhe.channels.base import (ChannelError, ChargeSucceeded, Declined, Dispute, PaymentStatus, RefundStatus,
                                StatementLine)
from juhe.channels.pos import signing
from juhe.money import Money

Fields = dict[str, str]

CURRENCY = "CNY"
CURRENCY_NUMERIC = "156"
BEIJING = timezone(timedelta(hours=8))
GOODS_AND_SERVICES, REFUND_CODE = "000000", "200000"
SIGN_ON, SIGN_OFF, ECHO = "001", "002", "301"
ENTRY_MODES = {"021": "magnetic stripe", "051": "chip", "071": "contactless chip"}  # + PIN capable
ORDER_NO_TAG, ORIGINAL_ORDER_NO_TAG = "01", "02"
# Card installments (信用卡分期) in field 48: the number of periods, and who bears the fee
INSTALLMENT_PERIODS_TAG, INSTALLMENT_BEARER_TAG = "03", "04"
INSTALLMENT_PERIODS = frozenset({3, 6, 12, 24})
INSTALLMENT_BEARERS = {"payer": "P", "merchant": "M"}  # M: the merchant subsidises it (商户贴息, 免息 to the payer)
ZERO_INSTITUTION = "0" * 11  # 90's acquiring and forwarding institution ids: a direct link has none

APPROVED, NOT_FOUND, FORMAT_ERROR, TIMED_OUT, MALFUNCTION = "00", "25", "30", "91", "96"
RESPONSE_TEXT = {
    "00": "approved",
    "03": "invalid merchant",
    "05": "do not honour",
    "12": "invalid transaction",
    "13": "invalid amount",
    "14": "invalid card number",
    "25": "unable to locate original transaction",
    "30": "format error",
    "51": "insufficient funds",
    "54": "expired card",
    "58": "transaction not permitted to terminal",
    "64": "original amount incorrect",
    "77": "sign on again",  # China UnionPay's code for a terminal that must sign on
    "91": "issuer or switch inoperative",
    "94": "duplicate transmission",
    "96": "system malfunction",
    "97": "terminal not registered",  # China UnionPay: 终端未登记
    "A0": "MAC verification failed",  # China UnionPay: MAC校验错
}
CARD_DECLINES = frozenset({"05", "14", "51", "54"})  # the card or its issuer said no; anything else is the system
NOT_ACKNOWLEDGED = frozenset({TIMED_OUT, MALFUNCTION})  # a 0410 saying this must be repeated
UNAUTHENTICATED_REFUSALS = frozenset({"97", "A0"})  # answered without a MAC the sender could check

USED_FIELDS = "2 3 4 7 11 12 13 22 35 37 38 39 41 42 44 48 49 64 70 90 128".split()
SPEC = {key: dict(default_ascii[key]) for key in ("h", "t", "p", "1", *USED_FIELDS)}

FORMATS = {
    "2": r"\d{12,19}", "3": r"\d{6}", "4": r"\d{12}", "7": r"\d{10}", "11": r"\d{6}", "12": r"\d{6}",
    "13": r"\d{4}", "22": r"\d{3}", "35": r"\d{12,19}=\d{7}\d*", "38": r"[0-9A-Z]{6}", "41": r"[0-9A-Za-z]{8}",
    "42": r"[0-9A-Za-z]{15}", "49": r"\d{3}", "70": r"\d{3}", "90": r"\d{42}",
}  # fmt: skip
ORDER_NO = re.compile(r"[0-9A-Za-z_]{1,32}")


class MessageError(ValueError):
    """Bytes that are not one of our messages. Its text never quotes field values."""


@dataclass(frozen=True)
class Kind:
    name: str
    mtis: frozenset[str]
    processing_code: str | None  # None: any (a reversal carries its original's)
    required: frozenset[str]
    optional: frozenset[str]


def _kind(name: str, mtis: str, code: str | None, required: str, optional: str = "48") -> Kind:
    return Kind(name, frozenset(mtis.split()), code, frozenset(required.split()), frozenset(optional.split()))


CARD_FIELDS = "2 3 4 7 11 12 13 22 35 41 42 49"
NETWORK = _kind("network", "0800", None, "7 11 41 42 70")
PURCHASE = _kind("purchase", "0200", GOODS_AND_SERVICES, CARD_FIELDS)
AUTHORISATION = _kind("authorisation", "0100", GOODS_AND_SERVICES, CARD_FIELDS)
# A completion names its authorisation (38, 90) and carries no card data, so an advice can be queued.
COMPLETION = _kind("completion", "0220 0221", GOODS_AND_SERVICES, "3 4 7 11 12 13 38 41 42 49 90")
REFUND = _kind("refund", "0200", REFUND_CODE, "3 4 7 11 12 13 41 42 48 49")
REVERSAL = _kind("reversal", "0400 0401", None, "3 4 7 11 41 42 49 90")
INQUIRY = _kind("inquiry", "0600", None, "7 11 41 42 48")
KINDS = (NETWORK, PURCHASE, AUTHORISATION, COMPLETION, REFUND, REVERSAL, INQUIRY)


def is_request(fields: Fields) -> bool:
    """A request, advice or notification by its MTI's function digit: it deserves an answer."""
    mti = fields.get("t", "")
    return len(mti) == 4 and mti.isdigit() and mti[2] in "024"


def kind_of(fields: Fields) -> Kind | None:
    for kind in KINDS:
        if fields.get("t") in kind.mtis and kind.processing_code in (None, fields.get("3")):
            return kind
    return None


# --- bytes


def pack(fields: Fields, mac_key: bytes) -> bytes:
    """Encode and MAC. The MAC field is the last one, so the MAC covers every byte before it."""
    doc = {k: v for k, v in fields.items() if k not in ("64", "128")}
    doc[mac_field(doc)] = "0" * signing.MAC_HEX_DIGITS
    try:
        raw, _ = iso8583.encode(doc, SPEC)
    except (iso8583.EncodeError, KeyError) as e:
        raise MessageError(f"cannot encode: {_reason(e)}") from None
    body = bytes(raw[: -signing.MAC_HEX_DIGITS])
    return body + signing.mac(mac_key, body).encode()


def unpack(raw: bytes) -> Fields:
    try:
        fields, _ = iso8583.decode(raw, SPEC)
    except (iso8583.DecodeError, KeyError, ValueError) as e:
        raise MessageError(f"cannot decode: {_reason(e)}") from None
    return {k: v for k, v in fields.items() if k not in ("p", "1")}


def mac_field(fields: Fields) -> str:
    return "128" if any(k.isdigit() and 64 < int(k) < 128 for k in fields) else "64"


def mac_verifies(raw: bytes, fields: Fields, mac_key: bytes) -> bool:
    given = fields.get(mac_field(fields), "")
    body, tail = raw[: -signing.MAC_HEX_DIGITS], raw[-signing.MAC_HEX_DIGITS :]
    return given.encode() == tail and signing.mac_matches(mac_key, body, given)


def _reason(error: Exception) -> str:
    # pyiso8583's errors carry the message being parsed; keep only their text, which names the field.
    if isinstance(error, KeyError):
        return f"field {error.args[0]} is not in our specification"
    return str(error).splitlines()[0]


# --- checks


def problems(fields: Fields, kind: Kind) -> list[str]:
    """Every way a request breaks our field rules; empty when it follows them."""
    present = set(fields) - {"t", "64", "128"}
    found = [f"field {f} missing" for f in sorted(kind.required - present, key=int)]
    found += [f"field {f} not allowed" for f in sorted(present - kind.required - kind.optional, key=int)]
    for key in sorted(present & FORMATS.keys(), key=int):
        if not re.fullmatch(FORMATS[key], fields[key]):
            found.append(f"field {key} malformed")
    return found or _meaning_problems(fields, kind)


def _meaning_problems(fields: Fields, kind: Kind) -> list[str]:
    found = []
    if "4" in fields and int(fields["4"]) == 0:
        found.append("field 4 is zero")
    if fields.get("49", CURRENCY_NUMERIC) != CURRENCY_NUMERIC:
        found.append("field 49 is not 156 (CNY)")
    if kind is NETWORK and fields["70"] not in (SIGN_ON, SIGN_OFF, ECHO):
        found.append("field 70 unknown")
    if "35" in fields and fields["35"].split("=")[0] != fields.get("2"):
        found.append("fields 2 and 35 differ")
    for key, layout in (("7", "%m%d%H%M%S"), ("12", "%H%M%S"), ("13", "%m%d")):
        if key in fields and not _valid_time(fields[key], layout):
            found.append(f"field {key} is no valid time")
    if "48" in fields:
        try:
            parse_private(fields["48"])
        except MessageError as e:
            found.append(str(e))
    return found


def _valid_time(text: str, layout: str) -> bool:
    try:
        datetime.strptime(f"2000{text}", f"%Y{layout}")  # a leap year, so that 0229 is a date
        return True
    except ValueError:
        return False


def luhn_valid(pan: str) -> bool:
    total = 0
    for i, digit in enumerate(reversed(pan)):
        n = int(digit) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


# --- answers


def answer_mti(mti: str) -> str:
    """0200 → 0210; repeats are answered as their originals: 0221 → 0230, 0401 → 0410."""
    return f"{mti[:2]}{int(mti[2]) + 1}0"


ECHOED = ("3", "4", "7", "11", "12", "13", "41", "42", "48", "49", "70", "90")


def answer_to(request: Fields, code: str, extra: Fields | None = None) -> Fields:
    answer = {"t": answer_mti(request["t"])} | {k: request[k] for k in ECHOED if k in request}
    return answer | {"39": code} | (extra or {})


def refusal(request: Fields, code: str, reason: str) -> Fields:
    """An answer with the reason spelled out in field 44 (at most 25 characters)."""
    return answer_to(request, code, {"44": reason[:25]})


def is_answer_to(answer: Fields, request: Fields) -> bool:
    return (
        answer.get("t") == answer_mti(request["t"])
        and answer.get("11") == request["11"]
        and answer.get("41") == request["41"]
        and "39" in answer
    )


# --- field 48 and 90


def private_data(**tags: str) -> str:
    return "".join(f"{tag}{len(value):02d}{value}" for tag, value in tags.items())


def parse_private(text: str) -> dict[str, str]:
    found, i = {}, 0
    while i < len(text):
        tag, size = text[i : i + 2], text[i + 2 : i + 4]
        if not size.isdigit() or i + 4 + int(size) > len(text):
            raise MessageError("field 48 not TLV")
        found[tag] = text[i + 4 : i + 4 + int(size)]
        i += 4 + int(size)
    for tag in (ORDER_NO_TAG, ORIGINAL_ORDER_NO_TAG):
        if tag in found and not ORDER_NO.fullmatch(found[tag]):
            raise MessageError(f"field 48 tag {tag} malformed")
    return found


def order_no_of(fields: Fields, tag: str = ORDER_NO_TAG) -> str | None:
    return parse_private(fields.get("48", "")).get(tag)


def original_data(request: Fields) -> str:
    return f"{request['t']}{request['11']}{request['7']}{ZERO_INSTITUTION}{ZERO_INSTITUTION}"


def original_trace(field90: str) -> tuple[str, str, str]:
    """(MTI, STAN, transmission time) of the message field 90 points at."""
    return field90[:4], field90[4:10], field90[10:20]


# --- cards and time


@dataclass(frozen=True, repr=False)
class Card:
    """Card data read at the terminal. Its repr shows only the BIN and last four digits."""

    pan: str
    expiry_yymm: str
    track2: str

    def __repr__(self) -> str:
        return f"Card({self.display})"

    @property
    def display(self) -> str:
        return signing.card_display(self.pan)

    def expired(self, now: datetime) -> bool:
        return self.expiry_yymm < f"{now.astimezone(BEIJING):%y%m}"


def card_of(track2: str) -> Card:
    if not re.fullmatch(FORMATS["35"], track2):
        raise MessageError("track 2 malformed")
    pan, rest = track2.split("=")
    return Card(pan=pan, expiry_yymm=rest[:4], track2=track2)


@dataclass(frozen=True)
class Trace:
    stan: str
    transmitted: str  # field 7

    @classmethod
    def new(cls, stan: int, now: datetime) -> Trace:
        return cls(f"{stan:06d}", f"{now.astimezone(timezone.utc):%m%d%H%M%S}")


def local_fields(now: datetime) -> Fields:
    local = now.astimezone(BEIJING)
    return {"12": f"{local:%H%M%S}", "13": f"{local:%m%d}"}


def moment_of(mmddhhmmss: str, tz: timezone, now: datetime) -> datetime:
    """The year is not on the wire: take the latest moment not after tomorrow."""
    year = now.astimezone(tz).year
    for candidate_year in (year + 1, year, year - 1):
        try:
            moment = datetime.strptime(f"{candidate_year}{mmddhhmmss}", "%Y%m%d%H%M%S").replace(tzinfo=tz)
        except ValueError:  # 29 February of a common year
            continue
        if moment <= now + timedelta(days=1):
            return moment
    raise MessageError("no valid date")


def terminal_order_no(fields: Fields, now: datetime) -> str:
    """Our order number for a terminal's transaction, from its own trace: the same terminal
    message (or its reversal, through field 90) always names the same order."""
    sent = moment_of(fields["7"], timezone.utc, now)
    return f"T{fields['41']}{sent:%y%m%d%H%M%S}{fields['11']}"


# --- requests we originate


def header(mti: str, trace: Trace, terminal_id: str, merchant_id: str) -> Fields:
    return {"t": mti, "7": trace.transmitted, "11": trace.stan, "41": terminal_id, "42": merchant_id}


def network(code: str, trace: Trace, terminal_id: str, merchant_id: str) -> Fields:
    return header("0800", trace, terminal_id, merchant_id) | {"70": code}


def card_request(
    mti: str, trace: Trace, terminal_id: str, merchant_id: str, amount_minor: int, card: Card, entry_mode: str,
    now: datetime,
) -> Fields:  # fmt: skip
    return header(mti, trace, terminal_id, merchant_id) | local_fields(now) | {
        "2": card.pan, "3": GOODS_AND_SERVICES, "4": f"{amount_minor:012d}", "22": entry_mode,
        "35": card.track2, "49": CURRENCY_NUMERIC,
    }  # fmt: skip


def refund(refund_no: str, order_no: str, trace: Trace, terminal_id: str, merchant_id: str, amount_minor: int,
           now: datetime) -> Fields:  # fmt: skip
    return header("0200", trace, terminal_id, merchant_id) | local_fields(now) | {
        "3": REFUND_CODE, "4": f"{amount_minor:012d}", "49": CURRENCY_NUMERIC,
        "48": private_data(**{ORDER_NO_TAG: refund_no, ORIGINAL_ORDER_NO_TAG: order_no}),
    }  # fmt: skip


def inquiry(order_no: str, trace: Trace, terminal_id: str, merchant_id: str) -> Fields:
    return header("0600", trace, terminal_id, merchant_id) | {"48": private_data(**{ORDER_NO_TAG: order_no})}


def reversal_of(request: Fields, trace: Trace) -> Fields:
    """The 0400 undoing `request`: its own trace, the original's amount and field 90."""
    reversal = header("0400", trace, request["41"], request["42"]) | {
        "3": request["3"], "4": request["4"], "49": request["49"], "90": original_data(request),
    }  # fmt: skip
    if "48" in request:
        reversal["48"] = request["48"]
    return reversal


def repeat_of(message: Fields, now: datetime) -> Fields:
    """0400 → 0401, 0220 → 0221: the same message, sent again at a new transmission time."""
    return message | {"t": message["t"][:3] + "1", "7": f"{now.astimezone(timezone.utc):%m%d%H%M%S}"}


# --- what answers mean, in neutral terms


@dataclass(frozen=True)
class Answer:
    """The answer to a financial request, or what its lack led to."""

    code: str
    rrn: str = ""
    auth_code: str = ""
    reversed: bool = False  # no answer in time: reversed, or its reversal queued to be delivered

    @classmethod
    def of(cls, fields: Fields) -> Answer:
        return cls(code=fields["39"], rrn=fields.get("37", ""), auth_code=fields.get("38", ""))

    @property
    def approved(self) -> bool:
        return self.code == APPROVED

    @property
    def text(self) -> str:
        text = RESPONSE_TEXT.get(self.code, "unknown response code")
        return f"{text}; no valid answer in time, so it was reversed" if self.reversed else text


def charge_result(payment_id: str, amount: Money, answer: Answer, now: datetime) -> ChargeSucceeded | Declined:
    if answer.approved:
        return ChargeSucceeded(PaymentStatus(payment_id, "succeeded", amount, answer.rrn, now))
    if answer.code in CARD_DECLINES:
        return Declined(answer.code, answer.text)
    code = "reversed_after_timeout" if answer.reversed else answer.code
    raise ChannelError(f"acquirer: {answer.code} {answer.text}", outcome_known=True, code=code)


def inquiry_result(fields: Fields) -> tuple[str, str] | None:
    """(state letter, original response code) of an inquiry answer; None when not found."""
    if fields["39"] == NOT_FOUND:
        return None
    result = fields.get("44", "")
    if fields["39"] != APPROVED or len(result) != 3 or result[0] not in "ADR":
        raise ChannelError(f"inquiry answered {fields['39']}", outcome_known=True, code=fields["39"])
    return result[0], result[1:]


def payment_status(payment_id: str, fields: Fields, now: datetime) -> PaymentStatus:
    found = inquiry_result(fields)
    if found is None:
        return PaymentStatus(payment_id, "not_found")
    state = {"A": "succeeded", "D": "failed", "R": "closed"}[found[0]]
    paid_at = moment_of(fields["13"] + fields["12"], BEIJING, now) if state == "succeeded" else None
    return PaymentStatus(
        payment_id, state, Money(int(fields["4"]), CURRENCY), fields.get("37"), paid_at,
        failure_code=found[1] if state == "failed" else None,
    )  # fmt: skip


def refund_status(payment_id: str, refund_id: str, fields: Fields) -> RefundStatus:
    found = inquiry_result(fields)
    if found is None:
        return RefundStatus(refund_id, payment_id, "not_found")
    state = "succeeded" if found[0] == "A" else "failed"
    return RefundStatus(
        refund_id, payment_id, state, Money(int(fields["4"]), CURRENCY), fields.get("37"),
        failure_code=None if state == "succeeded" else found[1],
    )  # fmt: skip


# --- the acquirer's daily settlement file

SETTLEMENT_COLUMNS = (
    "settle_date", "merchant_id", "terminal_id", "txn_type", "order_no", "original_order_no", "rrn",
    "auth_code", "txn_time", "card", "amount_fen", "fee_fen", "currency", "status",
)  # fmt: skip
PAYMENT_TYPES = frozenset({"PURCHASE", "COMPLETION"})


def write_settlement(rows: list[dict[str, str]]) -> bytes:
    return _csv(SETTLEMENT_COLUMNS, rows)


def _csv(columns: tuple[str, ...], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def parse_settlement(raw: bytes) -> list[StatementLine]:
    lines = []
    for row in csv.DictReader(io.StringIO(raw.decode())):
        refund_row = row["txn_type"] == "REFUND"
        if not refund_row and row["txn_type"] not in PAYMENT_TYPES:
            raise ValueError(f"unknown settlement txn_type {row['txn_type']!r}")
        lines.append(StatementLine(
            kind="refund" if refund_row else "payment",
            payment_id=row["original_order_no"] if refund_row else row["order_no"],
            refund_id=row["order_no"] if refund_row else None,
            channel_txn_id=row["rrn"],
            amount=Money(int(row["amount_fen"]), row["currency"]),
            fee=Money(int(row["fee_fen"]), row["currency"]),
            occurred_at=datetime.fromisoformat(row["txn_time"]),
            status=row["status"],  # SETTLED, or REVERSED after settlement
        ))  # fmt: skip
    return lines


# The acquirer's daily chargeback file: one row per case opened that day. Reason codes as this
# acquirer's sandbox uses them (card-scheme style: 45xx), fraud or not by the reason.
CHARGEBACK_COLUMNS = ("case_no", "received_date", "merchant_id", "terminal_id", "order_no", "rrn", "txn_time",
                      "amount_fen", "currency", "reason_code")
CHARGEBACK_REASONS = {
    "4514": ("counterfeit card: the card was skimmed", True),
    "4515": ("the cardholder did not make or authorise the payment", True),
    "4517": ("goods or services not received", False),
    "4530": ("amount differs from the receipt", False),
}


def write_chargebacks(rows: list[dict[str, str]]) -> bytes:
    return _csv(CHARGEBACK_COLUMNS, rows)


def parse_chargebacks(raw: bytes) -> list[Dispute]:
    disputes = []
    for row in csv.DictReader(io.StringIO(raw.decode())):
        if row["reason_code"] not in CHARGEBACK_REASONS:
            raise ValueError(f"unknown chargeback reason code {row['reason_code']!r}")
        reason, fraud = CHARGEBACK_REASONS[row["reason_code"]]
        disputes.append(Dispute(row["case_no"], row["order_no"], "chargeback", row["reason_code"], reason, fraud,
                                Money(int(row["amount_fen"]), row["currency"]),
                                datetime.strptime(row["received_date"], "%Y%m%d").date()))
    return disputes


def settlement_day(moment: datetime) -> date:
    return moment.astimezone(BEIJING).date()
